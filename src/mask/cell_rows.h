// Cells of a pair's overlap, built one row of cells at a time, so that a
// loss mask never holds more than a few rows of them (mask/loss_mask.h).
//
// A cell is an S x S block of the overlap anchored at its origin: the 2x2
// Bayer period, or a 3x3 half period of X-Trans (every 3x3 X-Trans window
// holds all three colours; finer cells see finer changes). For each cell
// and colour, the mean of that colour's samples in the GT and in the noisy
// capture. Where S is less than the period, how many samples of a colour a
// cell holds depends on the cell's parity (i % R, j % R with R = period / S)
// and may differ between the two images.
//
// Thread safety: CellRowBuilder is immutable after construction and Build
// may be called from several threads with distinct outputs; CellRowCache is
// not thread safe.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "core/cfa.h"
#include "core/plane.h"

namespace dsb {

inline constexpr int kCellColors = 3;

// A cell's clipped colours, one bit per colour (1 << colour). As wide as a
// float, so that the loops that mix them with the cells' means vectorise
// at the floats' width (with bytes, 64 cells to a vector of bits make 4
// float vectors of each value, more than the registers hold).
using ClipBits = std::uint32_t;

struct CellLayout {
  int size = 0;    // S, in pixels
  int parity = 1;  // R
  int rows = 0;    // full cells only; partial ones at the edges are left out
  int cols = 0;
  // Variance of a cell's d = gt mean - gain * noisy mean, per unit of
  // per-pixel residual variance: (1/n_gt + 1/n_noisy) / 2, per parity and
  // colour; 0 where either image has no sample of the colour in the cell.
  float var_factor[2][2][kCellColors] = {};
  // How many samples of each colour a cell of each parity holds.
  int gt_samples[2][2][kCellColors] = {};
  int noisy_samples[2][2][kCellColors] = {};
  // How far apart the two images' samples of a colour sit in a cell of
  // each parity, in units of the cell size squared (0 when the shift is a
  // multiple of the period): the mean of the squared distance between the
  // two images' centroids of the colour (what a slope sees: a colour's
  // samples average out on it) and each sample's squared distance to the
  // nearest sample of its colour in the other image (what an edge sees).
  // d^2 is about this times the step^2 to a neighbouring cell.
  float displacement2[2][2][kCellColors] = {};

  bool empty() const { return rows <= 0 || cols <= 0; }
};

// One row of cells.
struct CellRow {
  int index = -1;  // the cell row held, -1 for none
  std::array<std::vector<float>, kCellColors> gt;
  std::array<std::vector<float>, kCellColors> noisy;
  // Per cell, one bit per colour (1 << colour): the colours of which the
  // GT, or the capture, has a sample in the cell at or above its
  // overexposure level. Clipping is judged per sample and colour, so a
  // cell whose red clips is still compared on its green and blue.
  std::vector<ClipBits> gt_clipped;
  std::vector<ClipBits> noisy_clipped;
  // The OR of each over the row.
  ClipBits gt_any = 0;
  ClipBits noisy_any = 0;
  // Scratch for X-Trans where the CPU lacks AVX-512 (which builds a row in
  // one pass, cell_rows.cc): the pixel rows split into the cells' columns,
  // and each cell parity's results before they are interleaved.
  std::vector<float> split;
  std::vector<float> scratch_means;
  std::vector<ClipBits> scratch_bits;
};

// The loss mask's pixels with each sample it shows as clipped (the GT's at
// or above its level, and the capture's with mask_noisy_clipped) at 0 and
// every other at 255, written while the cells are built: the pixel rows
// are then still in the cache, where a pass of their own would read both
// images again.
struct ClipSink {
  PlaneView<std::uint8_t> mask;  // overlap-sized
  std::int64_t clipped = 0;      // pixels written 0 so far
};

// One pixel row of such a mask, `w` samples: 0 where the GT's sample `g[x]`
// reaches `gt_lb` (or, with `noisy_shows`, the capture's `n[x]` reaches
// `noisy_lb`), 255 elsewhere; returns how many are 0. The rule the mask
// shows clipping by, in one place (ClipSink's rows, mask/self_pair_mask.h).
std::int64_t WriteClippedRow(const float* g, const float* n, int w, float gt_lb,
                             float noisy_lb, bool noisy_shows,
                             std::uint8_t* out);

class CellRowBuilder {
 public:
  // `gt` and `noisy` are the two overlaps (same size) with the CFA patterns
  // cropped to them; the period must be 2 or 6. A GT sample at or above
  // `gt_lb` is clipped, a capture sample at or above `noisy_lb` too; the
  // mask shows the capture's clipping only with `mask_noisy_clipped`.
  CellRowBuilder(PlaneView<const float> gt, PlaneView<const float> noisy,
                 const CfaPattern& gt_cfa, const CfaPattern& noisy_cfa,
                 float gt_lb, float noisy_lb, bool mask_noisy_clipped);

  const CellLayout& layout() const { return layout_; }

  // Fills `row` with cell row `i`. When `clipped_rows` is given (one entry
  // per overlap row), sets the entries of the pixel rows the cell row
  // covers: 1 for all of them where any holds a pixel the mask must show
  // as clipped (a superset of the rows that do; ApplyClipping looks at
  // every pixel of the rows marked). When `sink` is given, writes those
  // pixel rows of the mask (see ClipSink).
  void Build(int i, CellRow& row, std::uint8_t* clipped_rows = nullptr,
             ClipSink* sink = nullptr) const;
  // One image's cells of row i only (the GT's with `of_gt`, else the
  // capture's): the same values Build writes for it, nothing marked or
  // written elsewhere, `row.index` left as it is. The pair model reads
  // only the GT of the rows around each sampled row (PairModel's sample).
  void BuildOne(int i, CellRow& row, bool of_gt) const;
  // The pixel rows Build(i) reads, both images' (2 * size pointers, into
  // `rows`), and how many bytes of each a cell covers: for prefetching.
  int SourceRows(int i, const float** rows) const;
  int SourceBytesPerCell() const {
    return layout_.size * static_cast<int>(sizeof(float));
  }
  // The same for the pixel rows no cell covers (below the last full cell
  // row, or all of them when the layout is empty).
  void MarkRowsWithoutCells(std::uint8_t* clipped_rows,
                            ClipSink* sink = nullptr) const;

 private:
  // Writes pixel row y of the mask; `shows`: whether the row may hold
  // clipping the mask shows (else the row is all 255).
  void WriteMaskRow(int y, bool shows, ClipSink& sink) const;
  bool BuildImage(PlaneView<const float> image, const CfaPattern& cfa,
                  const float (&inv)[2][2][kCellColors], float lb, int i,
                  CellRow& row, bool of_gt) const;

  PlaneView<const float> gt_;
  PlaneView<const float> noisy_;
  CfaPattern gt_cfa_;
  CfaPattern noisy_cfa_;
  float gt_lb_;
  float noisy_lb_;
  bool mask_noisy_clipped_;
  CellLayout layout_;
  // 1 / sample count per parity and colour, 0 where there is no sample.
  float gt_inv_[2][2][kCellColors] = {};
  float noisy_inv_[2][2][kCellColors] = {};
};

// Tests only: builds X-Trans rows with the portable code even where the
// CPU has AVX-512 or AVX2, so that both paths are held to the same results on
// one machine. Not thread safe with Build running.
void UsePortableXTransCellsForTesting(bool portable);

// Tests only: builds X-Trans rows with the AVX2 kernel even where the CPU
// has AVX-512 (the portable flag above still wins). Returns whether the
// CPU (and the build) has that kernel. Not thread safe with Build running.
bool UseAvx2XTransCellsForTesting(bool avx2);

// The three consecutive cell rows a row's scores need (its neighbours
// above and below, clamped at the edges), built at most once each while
// rows are requested in increasing order.
class CellRowCache {
 public:
  explicit CellRowCache(const CellRowBuilder& builder,
                        std::uint8_t* clipped_rows = nullptr,
                        ClipSink* sink = nullptr)
      : builder_(builder), clipped_rows_(clipped_rows), sink_(sink) {}

  // Cell row i, which must be in [0, layout().rows). With a sink, rows
  // must be asked for so that each is built once (in increasing order).
  const CellRow& Get(int i);

 private:
  const CellRowBuilder& builder_;
  std::uint8_t* clipped_rows_;
  ClipSink* sink_;
  std::array<CellRow, 3> slots_;
};

}  // namespace dsb
