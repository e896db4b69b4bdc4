// Binary morphology and windowed sums on planes, for loss masks.
//
// Square structuring elements of side 2r+1, done separably. Binary planes
// hold 0 (unset) or 1 (set; any non-zero byte reads as set). At the
// borders of the plane or view, erosion treats the outside as set and
// dilation as unset, so neither invents or removes pixels just because
// they are near the edge. Working on views lets callers restrict the work
// to the bounding box of what is set.
//
// The filters work on bits (BitPlane), 64 pixels to a word: a loss mask's
// mismatch flags span its whole cell grid (3000 x 2000 cells at 24 MP,
// with specks in most rows until the opening drops them), and as bytes
// the opening, growth and closing read and wrote that 6 MB plane a dozen
// times (~6 ms of a 24 MP mask's 60, perf); as bits it is 750 KB, in the
// cache, and a pass costs a few operations per 64 pixels.
//
// Thread safety: pure functions over caller-owned planes, and BitPlane
// objects used by one thread at a time; thread safe.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "core/plane.h"

namespace dsb {

// A binary plane as bits: pixel x of row y at bit x % 64 of word x / 64 of
// the row.
class BitPlane {
 public:
  using Word = std::uint64_t;
  static constexpr int kWordBits = 64;

  // All pixels unset; keeps its memory for the next size.
  void Reset(int width, int height);
  int width() const { return width_; }
  int height() const { return height_; }
  bool empty() const { return width_ <= 0 || height_ <= 0; }

  // Row y from `bytes` (width of them; non-zero is set).
  void PackRow(int y, const std::uint8_t* bytes);
  // The whole view (its size must be this plane's); false where nothing
  // is set. Remembers which rows held a set pixel, for Unpack.
  bool Pack(PlaneView<const std::uint8_t> plane);
  // Writes 0 and 1 into the view Pack read, skipping the rows that were
  // empty there and still are.
  void Unpack(PlaneView<std::uint8_t> plane) const;

  bool Get(int y, int x) const {
    return (Row(y)[x / kWordBits] >> (x % kWordBits)) & 1;
  }
  bool Any() const;
  // Calls fn(x0, x1) for each run [x0, x1) of set pixels of row y, left
  // to right.
  void ForEachRun(int y, const std::function<void(int, int)>& fn) const;

  // Each pixel set if any (Dilate) or every (Erode) pixel within `radius`
  // (Chebyshev) is; Open = Erode then Dilate, Close = Dilate then Erode.
  void Dilate(int radius) { Filter(radius, false); }
  void Erode(int radius) { Filter(radius, true); }
  void Open(int radius);
  void Close(int radius);
  // `steps` times: every unset pixel of `within` 4-connected to a set one
  // is set (a breadth-first growth of the set regions through `within`,
  // `steps` pixels deep). `within` has this plane's size.
  void GrowWithin(const BitPlane& within, int steps);

 private:
  Word* Row(int y) {
    return bits_.data() + static_cast<std::size_t>(y) * words_;
  }
  const Word* Row(int y) const {
    return bits_.data() + static_cast<std::size_t>(y) * words_;
  }
  // The bits past the width in each row's last word.
  Word Padding() const;
  void Filter(int radius, bool erode);
  void RowPass(int radius, bool erode);
  void ColumnPass(int radius, bool erode);

  int width_ = 0;
  int height_ = 0;
  int words_ = 0;  // per row
  std::vector<Word> bits_;
  std::vector<Word> scratch_;
  std::vector<Word> line_;         // a row with guard words, RowPass
  std::vector<std::uint8_t> had_;  // rows Pack saw a set pixel in
};

// Each pixel becomes 1 if any pixel within `radius` (Chebyshev) is set.
void DilateBinary(PlaneView<std::uint8_t> plane, int radius);
// Each pixel becomes 1 only if every pixel within `radius` is set.
void ErodeBinary(PlaneView<std::uint8_t> plane, int radius);
// Opening (erode, then dilate): removes set regions smaller than the
// structuring element.
void OpenBinary(PlaneView<std::uint8_t> plane, int radius);
// Closing (dilate, then erode): fills unset holes and gaps smaller than the
// structuring element.
void CloseBinary(PlaneView<std::uint8_t> plane, int radius);

// For each row y of `values`, the sums over the (2r+1)^2 window around each
// pixel (clipped at the borders) of the `values` whose `weights` entry is
// set, and how many those were,
// handed to `row_out(y, sums, counts)` in row order; the arrays hold
// `values.width` entries and are valid during the call only. Needs
// O(width) memory, no intermediate planes.
void WindowSums(PlaneView<const float> values,
                PlaneView<const std::uint8_t> weights, int radius,
                const std::function<void(int y, const float* sums,
                                         const float* counts)>& row_out);

}  // namespace dsb
