// Writes a RawImage as an uncompressed CFA DNG (DNG 1.4) with libtiff, in
// the form LibRaw opens as a CFA raw: Bayer in any phase or X-Trans 6x6,
// per-CFA-channel black levels (BlackLevelRepeatDim), white level, an
// optional masked border (ActiveArea) that puts the visible area at any
// offset, camera names, ColorMatrix1, AsShotNeutral and the ISO (EXIF
// ISOSpeedRatings in an EXIF sub-IFD, which LibRaw reports as iso_speed).
//
// Pixels are quantised as round(v * (white - black) + black) clamped to
// [0, 2^bits - 1] in 16-bit samples; white is 2^bits - 1. The CFA pattern
// and the black pattern are anchored at the visible (active) area, as the
// DNG specification says.
//
// Thread safety: each call uses its own TIFF handle; calls may run
// concurrently for different paths.
#pragma once

#include <array>
#include <string>

#include "common/status.h"
#include "core/raw_image.h"

namespace dsb {

struct DngWriteOptions {
  int bits = 14;  // 12 or 14 (or any 8..16)
  // Black level per position of a 2x2 block anchored at the visible origin
  // (row-major), in raw units. Written with BlackLevelRepeatDim 2x2.
  std::array<int, 4> black = {512, 512, 512, 512};
  // Masked border around the visible area (ActiveArea), in pixels. For
  // Bayer patterns masked_top and masked_left must be even: LibRaw 0.20
  // rounds odd Bayer ActiveArea offsets, so the decoded visible area would
  // not be the written one (refused with kInvalidArgument). X-Trans may use
  // any offset.
  int masked_top = 0, masked_left = 0, masked_bottom = 0, masked_right = 0;
  std::string make = "dataset-build";
  std::string model = "synthetic";
  // Written as EXIF ISOSpeedRatings (clamped to 1..65535); 0 writes no
  // EXIF directory.
  int iso = 100;
};

// Writes `image` (its pixels, CFA and colour metadata) to `path`
// atomically enough for tests: a failed write leaves a partial file and a
// Status naming it.
Status WriteCfaDng(const std::string& path, const RawImage& image,
                   const DngWriteOptions& options = {});

}  // namespace dsb
