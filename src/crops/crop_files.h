// The two file formats of RawNIND's training crops, encoded in memory so
// they can be written atomically (FileSystem::WriteFileAtomically):
//
// - NumPy .npy (format 1.0), little-endian float16, C order, shape
//   (channels, height, width): the 4-channel RGGB crop, which RawNIND's
//   loaders read with np.load.
// - TIFF, 3 samples per pixel, contiguous, 16-bit IEEE float ("half", what
//   OpenImageIO writes with tiff:half), one uncompressed strip per 64 rows,
//   with Rec. 2020 primaries and D65 white point tags: the lin_rec2020
//   crop, which RawNIND reads with OpenImageIO.
//
// Half floats come from OpenCV's conversion (round to nearest even, as
// NumPy's astype(float16) rounds).
//
// Thread safety: reentrant (libtiff's error text is kept per thread).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/result.h"

namespace dsb {

// `halves` holds channels * height * width values in (c, y, x) order.
std::vector<std::uint8_t> EncodeNpyHalf(std::span<const std::uint16_t> halves,
                                        int channels, int height, int width);

// `halves` holds height * width * 3 values in (y, x, c) order. `name` is for
// error messages.
Result<std::vector<std::uint8_t>> EncodeHalfTiff(
    std::span<const std::uint16_t> halves, int height, int width,
    const std::string& name);

}  // namespace dsb
