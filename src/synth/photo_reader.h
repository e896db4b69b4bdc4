// Reading photographs (PNG and JPEG) for real-photo synthetic content
// (synth/photo_content.h).
//
// The one adapter between libpng's simplified read API and libjpeg(-turbo)
// on one side and dsb::Status on the other: library errors come back as a
// Status naming the file and keeping the library's message. Any PNG
// (palette, grey, 16-bit, alpha composited on black) and any 8-bit
// greyscale or colour JPEG comes back as 8-bit sRGB-encoded RGB, as the
// files store it; the format is told by the file's signature, not its name.
//
// Thread safety: reentrant (library state is per call).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"

namespace dsb {

struct Srgb8Image {
  int width = 0;
  int height = 0;
  std::vector<std::uint8_t> rgb;  // row-major, 3 bytes per pixel
};

// Reads the PNG or JPEG at `path`. kNotFound / kIoError for files that
// cannot be read, kUnsupported for other formats, kCorrupt for damaged
// data.
Result<Srgb8Image> ReadPhoto(const std::string& path);

}  // namespace dsb
