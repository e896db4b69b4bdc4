// What the fine search (shift_search.h, step 2) reads of a GT, kept once
// per GT so that the pairs of a scene do not each read it again.
//
// Per pair the fine search counted each colour's clipped share of the GT
// (FineColours), read the GT's rows under every tile it considered for
// clipped pixels (to skip mostly clipped tiles and to mask clipped period
// boxes) and made the GT's period luma under the tiles it kept. On a
// 3 MP pair those were cold reads of GT rows, the same for every pair of a
// scene (issue 17's eleventh round; perf of `align_bench --scene 3`: the
// clipped-pixel test of the tiles worth preparing, 86 % of the fine
// search's own samples, the GT's clipped boxes and shares ~6 % of the
// pair's alignment, the GT's luma a third of PeriodLuma's ~11 %). A
// FineReference keeps:
// - the GT's clipped shares (ClippedShares), made with it;
// - per row, which spans of 64 columns hold a pixel at or above the
//   clipping level (ClippedSpans): a span without one needs no read, a
//   span with one is read as before, so every count and mask is the one
//   the rows themselves give;
// - the GT's period luma in blocks of 64 x 64 samples (ReferenceLuma): a
//   period-luma sample is the same expression wherever the window that
//   holds it sits (PeriodLuma), so a window copied from the blocks is the
//   one PeriodLuma makes, bit for bit.
// Blocks are made the first time a pair asks for them (a scene's first
// pair computes at most ~1.7x the luma it computed before, its later ones
// copy what earlier pairs made); spans too, unless found before any pair
// asks (the CPU correlator finds them as the GT's coarse luma reads its
// rows: FindRows).
//
// Thread safety: ClippedShares is a pure function. A FineReference may be
// read by several threads at once (a batch aligned in parallel): spans are
// found with relaxed atomics (two threads finding the same span store the
// same answer), blocks once each (std::call_once).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>

#include "core/plane.h"
#include "core/raw_image.h"

namespace dsb {

// Per colour, the share of sampled pixels at or above the image's clipping
// level (FineColours' measure: about 64 pairs of rows).
std::array<double, 3> ClippedShares(const RawImage& image);

// Whether any pixel of the window of `image` at (y0, x0), height x width,
// is at or above the image's clipping level (or NaN: !(v < clip), as
// ClearClippedBoxes counts); stops at the first row that holds one.
bool HoldsClipped(const RawImage& image, int y0, int x0, int height, int width);

// Which spans of an image's rows hold a pixel at or above its clipping
// level (or NaN, which compares as clipped where the fine search counts
// `!(v < clip)`), found lazily.
class ClippedSpans {
 public:
  // The columns per span.
  static constexpr int kSpan = 64;

  // Nothing is read here. `image` must outlive this object.
  explicit ClippedSpans(const RawImage& image);

  // False only when no pixel of row y in columns [x0, x1) is at or above
  // the clipping level (or NaN); true when one may be (a span that overlaps
  // [x0, x1) holds one), and the caller reads the row. Reads each span of
  // the row the first time it is asked about.
  bool MayHoldClipped(int y, int x0, int x1) const;
  // Finds every span of rows [y0, y1) now (where something else has just
  // read them, so they are in cache).
  void FindRows(int y0, int y1);
  // The same for rows [y0, y1): false only when none of them holds one.
  bool MayHoldClipped(int y0, int y1, int x0, int x1) const {
    for (int y = y0; y < y1; ++y) {
      if (MayHoldClipped(y, x0, x1)) return true;
    }
    return false;
  }

 private:
  enum : std::uint8_t { kUnknown = 0, kClean = 1, kClipped = 2 };
  const RawImage* image_;
  int spans_per_row_ = 0;
  std::unique_ptr<std::atomic<std::uint8_t>[]> state_;
};

// An image's PeriodLuma (mosaic_luma.h) at one balance, made in blocks of
// kBlock x kBlock samples as windows ask for them.
class ReferenceLuma {
 public:
  static constexpr int kBlock = 64;

  // Nothing is computed here. `image` must outlive this object.
  ReferenceLuma(const RawImage& image, const std::array<float, 3>& balance);

  const std::array<float, 3>& balance() const { return balance_; }

  // PeriodLuma(image, balance(), y0, x0, height, width), bit for bit; every
  // box must lie inside the image.
  Plane<float> Window(int y0, int x0, int height, int width) const;

 private:
  const Plane<float>& Block(int by, int bx) const;

  const RawImage* image_;
  std::array<float, 3> balance_;
  int luma_height_ = 0, luma_width_ = 0;  // samples with a whole box
  int blocks_y_ = 0, blocks_x_ = 0;
  std::unique_ptr<std::once_flag[]> made_;
  std::unique_ptr<Plane<float>[]> blocks_;
};

// A GT as the fine search reads it, made once per GT (a correlator's
// SetReference) and used by every pair of the scene.
struct FineReference {
  FineReference(const RawImage& gt, const std::array<float, 3>& gt_balance)
      : shares(ClippedShares(gt)), spans(gt), luma(gt, gt_balance) {}
  std::array<double, 3> shares;  // ClippedShares(gt)
  ClippedSpans spans;
  ReferenceLuma luma;  // at the GT's ChannelBalance
};

}  // namespace dsb
