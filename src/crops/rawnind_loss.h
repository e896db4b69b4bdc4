// RawNIND's own alignment figures for a Bayer pair, so the exported
// best_alignment_loss and rgb_gain keep RawNIND's meaning.
//
// RawNIND (rawproc.get_best_alignment_compute_gain_and_make_loss_mask)
// demosaics both RGGB frames (raw.demosaic: OpenCV's edge-aware demosaic),
// scales the noisy one by rgb_gain = mean(gt_rgb) / mean(noisy_rgb) (whole
// frames), cuts both to their overlap at the shift (rawproc.shift_images)
// and takes the mean |gt - gain x noisy| over it; its loader drops pairs
// above 0.035.
//
// We compute the same quantity with two economies that keep it within 5 %
// (tested against the snapshot's rawproc on generated and photographed
// pairs, tests/integration/crops/rawnind_loss_agreement.py):
// - the gain comes from the mosaic's colour means (the demosaic keeps each
//   colour's mean), taken on the same row pairs of both frames: one of
//   every RawnindSampling::row_stride (4; the GT's over those rows too, so
//   what the sample misses it misses alike in both and the ratio keeps);
// - the mean |difference| is taken over a stratified sample of the
//   overlap: the GT frame is cut into cells (RawnindSampling) and each cell
//   contributes one tile at a position drawn from its own index, so the
//   sample is spread over rows and columns alike (a moved object's edge
//   meets tiles at every phase). Each tile is demosaicked exactly as a
//   whole-frame demosaic gives it (crops/camera_rgb.h, DemosaicTile);
// - the sample's mean is scaled by a control variate, computed in the same
//   pass over the noisy frame's row pairs as its colour sums: the mean of
//   |box(gt) - g x box(noisy)| (box: the 2x2 sum of the mosaic at each
//   pixel, colour-balanced at any shift; g: RawNIND's gain estimated from
//   every 16th row pair) over the overlap's rows of those row pairs
//   divided by its mean over the tiles. It is 1 when the sample is the
//   whole overlap (and row_stride 1), and it takes out most of the
//   sample's error (a sample of 1/4 of the overlap without it missed 5 %).
//   The row pairs move the figures 0.1 % (median; at most 1 %) from every
//   row's, against 0.5-1.5 % for the tiles (crops_bench rawnind-sampling;
//   RowSampledFiguresStayNearEveryRows).
// The demosaic's scaling (RawNIND's: from the frame's minimum and maximum)
// takes each frame's range on those row pairs too (values outside it are
// held at the uint16 ends), so a frame with itself is demosaicked alike.
//
// The GT side (its colour means, its demosaic scaling and its demosaicked
// tiles) is prepared once per GT (RawnindReference) and shared by every
// pair of that GT; a pair then demosaics only the noisy capture's tiles.
//
// Thread safety: reentrant; a RawnindReference is read-only once made.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "common/result.h"
#include "core/raw_image.h"
#include "crops/camera_rgb.h"
#include "crops/crop_grid.h"

namespace dsb {

// Bumped when these figures change (part of every scene's key through
// AlgorithmVersion, executor/build_options.h).
inline constexpr int kRawnindFiguresRevision = 3;

// Which part of the overlap the loss is averaged over: one tile of
// tile_rows x tile_cols per cell of cell_rows x cell_cols (all even), in
// full-resolution pixels of RawNIND's frame. A frame with fewer than
// min_tiles such cells gets smaller cells (down to the tile: every pixel),
// so small frames are not judged on a handful of tiles.
//
// The full-frame figures (the noisy capture's colour means and range, the
// control variate's mean over the overlap) are taken on one row pair of
// every row_stride (1: every row). A frame of fewer than
// min_stride_row_pairs x row_stride row pairs gets a smaller stride, so a
// small frame keeps at least that many.
struct RawnindSampling {
  int cell_rows = 64, cell_cols = 64;
  int tile_rows = 16, tile_cols = 32;
  int min_tiles = 512;
  int row_stride = 4;
  int min_stride_row_pairs = 256;
};

struct RawnindPairFigures {
  double rgb_gain = 1;             // mean(gt_rgb) / mean(noisy_rgb)
  double best_alignment_loss = 0;  // at (dy, dx)
};

class RawnindReference;
namespace internal {
// How many times RawnindFigures compared a pair's frames itself in this
// process (tests check a build hands it its answer instead).
std::int64_t RawnindFrameComparisons();
// RawnindFigures without its self-pair shortcut (for its test).
Result<RawnindPairFigures> RawnindFiguresFull(const RawnindReference& gt,
                                              const RawImage& noisy, int dy,
                                              int dx);
}  // namespace internal

// The GT's share of RawnindFigures, made once per GT. It refers to the GT's
// pixels, so `gt` must outlive it.
class RawnindReference {
 public:
  // Fails when `gt` is not Bayer.
  static Result<RawnindReference> Make(
      const RawImage& gt, const RawnindSampling& sampling = RawnindSampling());

  // Bytes held (the demosaicked tiles and their 2x2 boxes).
  std::size_t bytes() const { return rgb_size_ * sizeof(float) * 4 / 3; }

 private:
  friend Result<RawnindPairFigures> RawnindFigures(const RawnindReference&,
                                                   const RawImage&, int, int,
                                                   std::optional<bool>);
  friend Result<RawnindPairFigures> internal::RawnindFiguresFull(
      const RawnindReference&, const RawImage&, int, int);
  struct Tile {
    int y = 0, x = 0;            // in RawNIND's frame
    int h = 0, w = 0;            // cut at the frame's edge
    std::size_t offset = 0;      // into rgb_, h x w x 3 floats
    std::size_t box_offset = 0;  // into box_, h x w floats
  };
  CfaPattern cfa_;
  int width_ = 0, height_ = 0;  // the visible area
  // The GT's RawNIND frame (a view: the GT image outlives the reference).
  PlaneView<const float> frame_view_;
  CropFrame frame_;
  RawnindSampling sampling_;
  double colour_mean_sum_ = 0;  // mean R + mean G + mean B of the samples
  // The same on the row pairs a pair's passes take (sampling_.row_stride).
  double strided_colour_mean_sum_ = 0;
  bool self_pair_exact_ = false;  // see RawnindFigures' self-pair shortcut
  std::vector<Tile> tiles_;
  std::unique_ptr<float[]> rgb_;  // every tile's pixels, not zero-filled
  std::size_t rgb_size_ = 0;
  // Every tile's control variate box of the GT's mosaic (the 2x2 sum
  // starting at each pixel, as RawnindProxyRows adds it), so a pair's
  // variate on the tiles reads no GT mosaic; 0 where the box leaves the
  // frame (the variate's range never reaches there).
  std::unique_ptr<float[]> box_;
};

// `noisy` is a Bayer capture of the reference's sensor (same pattern and
// size); (dy, dx) follows the contract's sign convention, which is
// RawNIND's. Fails when the overlap is empty or the frames differ. A GT
// with itself (or a bit-identical copy) at (0, 0) gives rgb_gain 1 and
// loss 0 without the passes: exactly what they give.
//
// same_pixels: whether `noisy` holds the GT's pixels bit for bit over the
// whole image, where the caller decided it already (a build decides it once
// per pair for alignment and these figures: SamePixels); nullopt: the
// frames are compared here. Either way the figures are the same: true
// implies equal frames, and where false meets equal frames (a difference
// outside RawNIND's frame only) the passes give the shortcut's values.
Result<RawnindPairFigures> RawnindFigures(
    const RawnindReference& gt, const RawImage& noisy, int dy, int dx,
    std::optional<bool> same_pixels = std::nullopt);

// The same, preparing the GT's reference for this one pair.
Result<RawnindPairFigures> RawnindFigures(
    const RawImage& gt, const RawImage& noisy, int dy, int dx,
    const RawnindSampling& sampling = RawnindSampling());

namespace internal {

// The vector kernels of RawnindFigures, exposed for their tests (each gives
// the bits of the scalar formula it documents).
//
// Rows a pass over a frame's colour sums takes at once.
inline constexpr int kRawnindStatsRows = 4;
// For each of rows[0 .. count) (count in [1, kRawnindStatsRows]), of width
// `width`: even[r] and odd[r], the sums of its even and odd columns: the
// columns in 8 float lanes (column x in lane x % 8) over the whole groups
// of 8, lanes 0 + 2 + 4 + 6 (1 + 3 + 5 + 7) added in float and widened,
// then the columns past them, whole pairs only, added in double. lo and hi
// become the minimum and maximum of themselves and every value (the same
// whichever order they are taken in).
void RawnindStatsRows(const float* const* rows, int count, int width, float& lo,
                      float& hi, double* even, double* odd);
// Rows a pass over the control variate takes at once.
inline constexpr int kRawnindProxyRows = 4;
// For r in [0, count) (count in [1, kRawnindProxyRows]): sums[r], the sum
// over x in [x0, x1) of |box_r(g) - gain x box_r(n)|, box_r(p) = p[r][x] +
// p[r][x + 1] + p[r + 1][x] + p[r + 1][x + 1] added left to right in float
// (g and n hold count + 1 rows), the absolute values added in float in 8
// lanes (x0 + k, x0 + 8 + k, ... in lane k) over the whole groups of 8,
// then in double: the columns past them in order, then lanes 0 to 7.
void RawnindProxyRows(const float* const* g, const float* const* n, int count,
                      int x0, int x1, float gain, double* sums);
// RawnindProxyRows with box_r(g) given: gbox[r][x] for x in [x0, x1), the
// same bits (tested).
void RawnindProxyBoxRows(const float* const* gbox, const float* const* n,
                         int count, int x0, int x1, float gain, double* sums);
// `sum` plus the sum over i in [0, count) of |g[i] - gain x q[i]|, in the
// same lane order as RawnindProxyRows.
double RawnindAddLossRow(double sum, const float* g, const float* q, int count,
                         float gain);
// RawnindAddLossRow of `rows` rows in turn (row r: g + r x g_stride,
// q + r x q_stride), each added to the sum the rows before it left: the
// same bits as a call per row (tested), a whole tile in one call.
double RawnindAddLossRows(double sum, const float* g, std::ptrdiff_t g_stride,
                          const float* q, std::ptrdiff_t q_stride, int rows,
                          int count, float gain);

}  // namespace internal

}  // namespace dsb
