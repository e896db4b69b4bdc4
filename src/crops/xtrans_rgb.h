// LibRaw's X-Trans demosaic of a raw file into camera RGB, for the X-Trans
// lin_rec2020 crops (RawNIND itself uses darktable here).
//
// No white balance (all multipliers 1), linear, camera colour space, no
// automatic brightening: each channel is (raw - black) / (white - black)
// x 65535, clipped to [0, 65535] by LibRaw, then demosaiced with LibRaw's
// X-Trans interpolation (Markesteijn, 1 pass, darktable's default). The
// frame is the visible area, as the decoder's.
//
// LibRaw runs in this process here; the crop stage only calls this for a
// file that the isolated decoder (raw/isolated_decoder.h) has just decoded
// without trouble.
//
// Thread safety: reentrant (one LibRaw object per call).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"

namespace dsb {

struct XTransRgb {
  int width = 0, height = 0;
  // height x width x 4 (R, G, B, -): LibRaw's own buffer, kept alive by
  // `owner` (no copy of a 8-bytes-per-pixel image).
  const std::uint16_t* image4 = nullptr;
  std::shared_ptr<void> owner;
};

Result<XTransRgb> DemosaicXTrans(const std::string& path);

}  // namespace dsb
