// JPEG encoding of the report's previews, in memory: the one adapter
// between libjpeg and dsb::Status. libjpeg reports errors through a
// longjmp from its error handler, so the libjpeg calls run in a function
// whose frame holds no C++ objects with destructors.
//
// JPEG rather than PNG because previews of noisy captures are noise, which
// PNG cannot compress: a 512 px preview is ~30 KB as JPEG, ~400 KB as PNG.
//
// Thread safety: reentrant (libjpeg state is per call).
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "report/preview.h"

namespace dsb {

// Encodes `image` (8-bit RGB) at `quality` (1-100). `name` labels errors.
Result<std::vector<std::uint8_t>> EncodeJpeg(const RgbImage& image,
                                             std::string_view name,
                                             int quality = 85);

}  // namespace dsb
