// Quick colour previews rendered from the sensor mosaic for the report: a
// thumbnail per raw file, the aligned, gain-matched difference of a pair,
// and a pair's loss mask as a tint over its GT's thumbnail.
//
// No demosaicing: the image is cut into square blocks whose side is a
// multiple of the CFA period (2 Bayer, 6 X-Trans), so every block holds
// each colour in the same proportion wherever it sits, and each block
// becomes one preview pixel from its per-colour means. Thumbnails apply the
// file's as-shot white balance (grey world when the file has none), an
// exposure that puts the 99th percentile of brightness at 0.9 and the sRGB
// curve. The difference of a pair is drawn on the GT's block grid: for the
// GT block at (Y, X) the noisy block at (Y - dy, X - dx), per colour
// gt - raw_gain * noisy, so a misalignment shows as coloured edges and a
// moved object as a blob (orange where the GT is brighter, blue where the
// noisy capture is; full colour at 25 % of the GT's bright level, square
// root response); blocks outside the overlap are dark grey. The mask
// overlay tints each block of the GT's thumbnail red by the fraction of its
// pixels the mask ignores and darkens what lies outside the overlap.
//
// Memory: only the decoded images the caller holds and the small block
// arrays (one float triple per block) are used.
//
// Thread safety: pure functions.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "common/result.h"
#include "core/alignment.h"
#include "core/plane.h"
#include "core/raw_image.h"

namespace dsb {

struct RgbImage {
  int width = 0;
  int height = 0;
  std::vector<std::uint8_t> rgb;  // width * height * 3, row-major
};

// The block side for an image: the smallest multiple of `period` that makes
// the preview at most `max_side` blocks wide and high (at least `period`).
int PreviewBlock(int width, int height, int period, int max_side = 512);

// Per-block, per-colour means of the whole blocks of `image` on the grid
// anchored at (0, 0) with side `block`.
struct BlockMeans {
  int block = 0;
  int cols = 0;
  int rows = 0;
  std::vector<float> rgb;  // cols * rows * 3, linear
  const float* at(int row, int col) const {
    return &rgb[(static_cast<std::size_t>(row) * cols + col) * 3];
  }
};
BlockMeans ComputeBlockMeans(const RawImage& image, int block);

// White balance weights (R, G, B) for previews: the file's as-shot
// multipliers, or grey world from `means` when the file has none.
std::array<float, 3> PreviewWhiteBalance(const RawImage& image,
                                         const BlockMeans& means);

RgbImage RenderThumbnail(const BlockMeans& means,
                         const std::array<float, 3>& white_balance);

// `gt_means` are the GT's block means (ComputeBlockMeans(gt, block)).
// kInvalidArgument when the images' patterns or sizes make no pair.
Result<RgbImage> RenderDifference(const RawImage& gt,
                                  const BlockMeans& gt_means,
                                  const RawImage& noisy,
                                  const Alignment& alignment,
                                  const std::array<float, 3>& white_balance);

// `gt_thumbnail` is RenderThumbnail of the GT (block `block`) whose full
// size is gt_height x gt_width; `mask` is the pair's mask, which must be
// the overlap's size (align/alignment.h ComputeOverlap).
Result<RgbImage> RenderMaskOverlay(const RgbImage& gt_thumbnail, int block,
                                   int gt_height, int gt_width, int dy, int dx,
                                   PlaneView<const std::uint8_t> mask);

}  // namespace dsb
