#include "crops/rawnind_loss.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "common/prefetch.h"
#include "common/vector_clones.h"

namespace dsb {

namespace {

struct FrameStats {
  double colour_mean_sum = 0;  // mean R + mean G + mean B of the samples
  DemosaicScale scale;         // raw.demosaic's, from the minimum and maximum
  float lo = 0, hi = 0;        // the minimum and maximum (NaNs aside)
};

// Eight floats and eight lane masks as GCC vectors (two SSE2 registers in
// the baseline build, one AVX2 register in the DSB_VECTOR_CLONES clones).
// Each lane does the scalar loop's float arithmetic for its own column, in
// the same order (the library builds with -ffp-contract=off), so the
// vector loops give the scalar loops' bits (tested in crops_test against
// the scalar formulas).
using V8 = float __attribute__((vector_size(32)));
using M8 = std::int32_t __attribute__((vector_size(32)));

// Always inlined: an 8-float vector passed by value has another ABI in the
// AVX2 clones (-Wpsabi), so no out-of-line copy may be shared by both.
[[gnu::always_inline]] inline V8 Load8(const float* p) {
  V8 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// std::abs of each lane: the sign bit cleared.
[[gnu::always_inline]] inline V8 Abs8(V8 v) {
  return reinterpret_cast<V8>(reinterpret_cast<M8>(v) & 0x7fffffff);
}

// RawnindStatsRows for N rows at once: N independent chains of additions
// (one row's 8 lanes form one chain, which a single row runs at the
// latency of an addition).
template <int N>
[[gnu::always_inline]] inline void StatsRowsN(const float* const* rows,
                                              int width, float& lo, float& hi,
                                              double* even, double* odd) {
  V8 lanes[N], lo8[N], hi8[N];
  for (int r = 0; r < N; ++r) {
    lanes[r] = V8{};
    lo8[r] = V8{} + lo;
    hi8[r] = V8{} + hi;
  }
  int x = 0;
  for (; x + 8 <= width; x += 8) {
    for (int r = 0; r < N; ++r) {
      const V8 v = Load8(rows[r] + x);
      lanes[r] += v;
      lo8[r] = v < lo8[r] ? v : lo8[r];
      hi8[r] = v > hi8[r] ? v : hi8[r];
    }
  }
  for (int r = 0; r < N; ++r) {
    const float* row = rows[r];
    for (int k = 0; k < 8; ++k) {
      lo = lo8[r][k] < lo ? lo8[r][k] : lo;
      hi = hi8[r][k] > hi ? hi8[r][k] : hi;
    }
    for (int t = x; t < width; ++t) {
      lo = row[t] < lo ? row[t] : lo;
      hi = row[t] > hi ? row[t] : hi;
    }
    // Float sums of four lanes, widened, then the whole colour pairs past
    // the last 8 columns.
    double e = lanes[r][0] + lanes[r][2] + lanes[r][4] + lanes[r][6];
    double o = lanes[r][1] + lanes[r][3] + lanes[r][5] + lanes[r][7];
    for (int t = x; t + 1 < width; t += 2) {
      e += row[t];
      o += row[t + 1];
    }
    even[r] = e;
    odd[r] = o;
  }
}

// RawnindProxyRows for N rows at once: rows r and r + 1 of the box share
// their loads, and the N sums are independent chains of additions.
template <int N>
[[gnu::always_inline]] inline void ProxyRowsN(const float* const* g,
                                              const float* const* n, int x0,
                                              int x1, float gain,
                                              double* sums) {
  const V8 gain8 = V8{} + gain;
  V8 lanes[N];
  for (int r = 0; r < N; ++r) lanes[r] = V8{};
  int x = x0;
  for (; x + 8 <= x1; x += 8) {
    V8 ga = Load8(g[0] + x), gb = Load8(g[0] + x + 1);
    V8 na = Load8(n[0] + x), nb = Load8(n[0] + x + 1);
    for (int r = 0; r < N; ++r) {
      const V8 ga1 = Load8(g[r + 1] + x), gb1 = Load8(g[r + 1] + x + 1);
      const V8 na1 = Load8(n[r + 1] + x), nb1 = Load8(n[r + 1] + x + 1);
      const V8 gbox = ga + gb + ga1 + gb1;
      const V8 nbox = na + nb + na1 + nb1;
      lanes[r] += Abs8(gbox - gain8 * nbox);
      ga = ga1;
      gb = gb1;
      na = na1;
      nb = nb1;
    }
  }
  for (int r = 0; r < N; ++r) {
    const float *g0 = g[r], *g1 = g[r + 1], *n0 = n[r], *n1 = n[r + 1];
    double sum = 0;
    for (int t = x; t < x1; ++t) {
      const float gbox = g0[t] + g0[t + 1] + g1[t] + g1[t + 1];
      const float nbox = n0[t] + n0[t + 1] + n1[t] + n1[t + 1];
      sum += std::abs(gbox - gain * nbox);
    }
    for (int k = 0; k < 8; ++k) sum += lanes[r][k];
    sums[r] = sum;
  }
}

// ProxyRowsN with the GT's boxes given: gbox[r][x] is box_r(g) at x.
template <int N>
[[gnu::always_inline]] inline void ProxyBoxRowsN(const float* const* gbox,
                                                 const float* const* n, int x0,
                                                 int x1, float gain,
                                                 double* sums) {
  const V8 gain8 = V8{} + gain;
  V8 lanes[N];
  for (int r = 0; r < N; ++r) lanes[r] = V8{};
  int x = x0;
  for (; x + 8 <= x1; x += 8) {
    V8 na = Load8(n[0] + x), nb = Load8(n[0] + x + 1);
    for (int r = 0; r < N; ++r) {
      const V8 na1 = Load8(n[r + 1] + x), nb1 = Load8(n[r + 1] + x + 1);
      const V8 nbox = na + nb + na1 + nb1;
      lanes[r] += Abs8(Load8(gbox[r] + x) - gain8 * nbox);
      na = na1;
      nb = nb1;
    }
  }
  for (int r = 0; r < N; ++r) {
    const float *n0 = n[r], *n1 = n[r + 1];
    double sum = 0;
    for (int t = x; t < x1; ++t) {
      const float nbox = n0[t] + n0[t + 1] + n1[t] + n1[t + 1];
      sum += std::abs(gbox[r][t] - gain * nbox);
    }
    for (int k = 0; k < 8; ++k) sum += lanes[r][k];
    sums[r] = sum;
  }
}

// out[i] = g0[i] + g0[i + 1] + g1[i] + g1[i + 1] for i in [0, count),
// added left to right as ProxyRowsN adds a box (each vector lane does the
// same additions in the same order).
DSB_VECTOR_CLONES void BoxRow(const float* __restrict g0,
                              const float* __restrict g1, int count,
                              float* __restrict out) {
  for (int i = 0; i < count; ++i) {
    out[i] = g0[i] + g0[i + 1] + g1[i] + g1[i + 1];
  }
}

// The colour sums, minimum and maximum of an RGGB frame, row by row (so a
// pass can do other work on each row while it is in cache).
class StatsPass {
 public:
  // Rows y0, y0 + 1, ... (count of them, at most kRawnindStatsRows).
  void AddRows(const float* const* rows, int count, int width, int y0) {
    if (first_) {
      lo_ = hi_ = rows[0][0];
      first_ = false;
    }
    double even[internal::kRawnindStatsRows], odd[internal::kRawnindStatsRows];
    internal::RawnindStatsRows(rows, count, width, lo_, hi_, even, odd);
    for (int r = 0; r < count; ++r) {
      const int y = y0 + r;
      sums_[(y % 2) * 2] += even[r];
      sums_[(y % 2) * 2 + 1] += odd[r];
    }
  }

  FrameStats Finish(int width, int height) const {
    const double cells =
        static_cast<double>(width / 2) * static_cast<double>(height / 2);
    FrameStats stats;
    // R, the two greens together, B.
    stats.colour_mean_sum = sums_[0] / cells +
                            (sums_[1] + sums_[2]) / (2 * cells) +
                            sums_[3] / cells;
    // raw.demosaic's scaling (as DemosaicScaleOf).
    stats.lo = lo_;
    stats.hi = hi_;
    stats.scale.black_offset = lo_ >= 0.0f ? 0.0f : -lo_;
    const float shifted_max = hi_ + stats.scale.black_offset;
    stats.scale.max_value = shifted_max <= 1.0f ? 1.0f : shifted_max;
    return stats;
  }

 private:
  double sums_[4] = {0, 0, 0, 0};
  float lo_ = 0, hi_ = 0;
  bool first_ = true;
};

// The frame's statistics from every row, and `strided`, those of the row
// pairs 2 x row_stride x i, 2 x row_stride x i + 1 (those a pair's pass
// over the noisy frame takes; the GT's tiles are demosaicked with their
// range, as the noisy capture's are with its own on the same rows, so a
// frame paired with itself is demosaicked alike on both sides).
FrameStats Stats(PlaneView<const float> frame, int row_stride,
                 FrameStats& strided) {
  StatsPass pass, strided_pass;
  int strided_rows = 0;
  for (int yb = 0; yb < frame.height; yb += internal::kRawnindStatsRows) {
    const int count = std::min(internal::kRawnindStatsRows, frame.height - yb);
    const float* rows[internal::kRawnindStatsRows];
    for (int r = 0; r < count; ++r) rows[r] = frame.row(yb + r);
    pass.AddRows(rows, count, frame.width, yb);
    // The block's strided rows in one call (the block starts at a multiple
    // of 4, so it holds two row pairs and its strided rows are the first,
    // the second, both or neither: one run of consecutive rows); its rows'
    // sums and the range are those of a call per row (independent chains
    // of additions).
    int first = -1, run = 0;
    for (int r = 0; r < count; ++r) {
      if (((yb + r) / 2) % row_stride != 0) continue;
      if (first < 0) first = r;
      ++run;
    }
    if (run > 0) {
      strided_pass.AddRows(rows + first, run, frame.width, yb + first);
      strided_rows += run;
    }
  }
  strided = strided_pass.Finish(frame.width, strided_rows);
  return pass.Finish(frame.width, frame.height);
}

// rawproc.shift_images along one axis: where the anchor (GT) and target
// (noisy) overlaps start, and its length.
void Overlap(int size, int shift, int& anchor0, int& target0, int& length) {
  length = size - std::abs(shift) - (shift % 2 != 0 ? 1 : 0);
  if (shift >= 0) {
    anchor0 = shift;
    target0 = 0;
  } else {
    const int odd = shift % 2 != 0 ? 1 : 0;
    anchor0 = odd;
    target0 = -shift + odd;
  }
}

// A cell's tile offset (even, in [0, cell - tile]), drawn from the cell's
// index so the sample does not line up with rows or columns of the scene.
int TileOffset(std::uint32_t cy, std::uint32_t cx, std::uint32_t salt, int cell,
               int tile) {
  const int choices = (cell - tile) / 2 + 1;
  std::uint32_t h = cy * 0x9E3779B1u ^ (cx + 0x7F4A7C15u) * 0x85EBCA77u ^ salt;
  h ^= h >> 15;
  h *= 0x2C1B3C6Du;
  h ^= h >> 12;
  return static_cast<int>(h % static_cast<std::uint32_t>(choices)) * 2;
}

// The control variate: adds to `total`, row after row, the sum over GT
// pixels [x0, x1) of rows [y0, y1) of |box(gt) - gain x box(noisy)|, box
// being the 2x2 sum starting at the pixel (any 2x2 window of a Bayer mosaic
// holds R, G, G and B, so it is colour-balanced at every shift) and the
// noisy pixel (y + oy, x + ox).
void AddProxyRows(PlaneView<const float> g, PlaneView<const float> n, int y0,
                  int y1, int x0, int x1, int oy, int ox, float gain,
                  double& total) {
  constexpr int kRows = internal::kRawnindProxyRows;
  for (int y = y0; y < y1; y += kRows) {
    const int count = std::min(kRows, y1 - y);
    const float* g_rows[kRows + 1];
    const float* n_rows[kRows + 1];
    for (int r = 0; r <= count; ++r) {
      g_rows[r] = g.row(y + r);
      n_rows[r] = n.row(y + oy + r) + ox;
    }
    double sums[kRows];
    internal::RawnindProxyRows(g_rows, n_rows, count, x0, x1, gain, sums);
    for (int r = 0; r < count; ++r) total += sums[r];
  }
}

// Queues rows [y0, y1) x columns [x0, x1) of `p` (clamped to it), one
// span a row, to be fetched while the tile before is worked on: a tile's
// rows lie a frame's row apart, so without it every row of a tile waits on
// memory in turn. Paced over the tile's steps (PrefetchQueue), not fetched
// in one burst: the burst gained nothing measurable over no prefetch
// (thirty-fourth round), the paced form took a fifth off a pair from
// memory (thirty-seventh round, docs/performance.md).
void QueueRect(PlaneView<const float> p, int y0, int y1, int x0, int x1,
               PrefetchQueue& ahead) {
  y0 = std::max(0, y0);
  y1 = std::min(p.height, y1);
  x0 = std::max(0, x0);
  x1 = std::min(p.width, x1);
  if (x0 >= x1) return;
  for (int y = y0; y < y1; ++y) ahead.Add(p.row(y) + x0, p.row(y) + x1);
}

// Whether two frames of one size hold the same values, bit for bit
// (stops at the first difference, which two real captures show within
// their first row).
std::atomic<std::int64_t> frame_comparisons{0};

bool SameFrame(PlaneView<const float> a, PlaneView<const float> b) {
  frame_comparisons.fetch_add(1, std::memory_order_relaxed);
  if (a.data == b.data && a.stride == b.stride) return true;
  const std::size_t row_bytes = sizeof(float) * a.width;
  for (int y = 0; y < a.height; ++y) {
    if (std::memcmp(a.row(y), b.row(y), row_bytes) != 0) return false;
  }
  return true;
}

PlaneView<const float> FrameView(const RawImage& image,
                                 const CropFrame& frame) {
  return PlaneView<const float>(image.pixels.view().crop(
      frame.top, frame.left, frame.height, frame.width));
}

}  // namespace

namespace internal {

std::int64_t RawnindFrameComparisons() {
  return frame_comparisons.load(std::memory_order_relaxed);
}

DSB_VECTOR_CLONES void RawnindStatsRows(const float* const* rows, int count,
                                        int width, float& lo, float& hi,
                                        double* even, double* odd) {
  switch (count) {
    case 4:
      StatsRowsN<4>(rows, width, lo, hi, even, odd);
      break;
    case 3:
      StatsRowsN<3>(rows, width, lo, hi, even, odd);
      break;
    case 2:
      StatsRowsN<2>(rows, width, lo, hi, even, odd);
      break;
    default:
      StatsRowsN<1>(rows, width, lo, hi, even, odd);
  }
}

DSB_VECTOR_CLONES void RawnindProxyRows(const float* const* g,
                                        const float* const* n, int count,
                                        int x0, int x1, float gain,
                                        double* sums) {
  switch (count) {
    case 4:
      ProxyRowsN<4>(g, n, x0, x1, gain, sums);
      break;
    case 3:
      ProxyRowsN<3>(g, n, x0, x1, gain, sums);
      break;
    case 2:
      ProxyRowsN<2>(g, n, x0, x1, gain, sums);
      break;
    default:
      ProxyRowsN<1>(g, n, x0, x1, gain, sums);
  }
}

DSB_VECTOR_CLONES void RawnindProxyBoxRows(const float* const* gbox,
                                           const float* const* n, int count,
                                           int x0, int x1, float gain,
                                           double* sums) {
  switch (count) {
    case 4:
      ProxyBoxRowsN<4>(gbox, n, x0, x1, gain, sums);
      break;
    case 3:
      ProxyBoxRowsN<3>(gbox, n, x0, x1, gain, sums);
      break;
    case 2:
      ProxyBoxRowsN<2>(gbox, n, x0, x1, gain, sums);
      break;
    default:
      ProxyBoxRowsN<1>(gbox, n, x0, x1, gain, sums);
  }
}

double RawnindAddLossRow(double sum, const float* g, const float* q, int count,
                         float gain) {
  return RawnindAddLossRows(sum, g, 0, q, 0, 1, count, gain);
}

DSB_VECTOR_CLONES double RawnindAddLossRows(double sum, const float* g,
                                            std::ptrdiff_t g_stride,
                                            const float* q,
                                            std::ptrdiff_t q_stride, int rows,
                                            int count, float gain) {
  const V8 gain8 = V8{} + gain;
  for (int r = 0; r < rows; ++r, g += g_stride, q += q_stride) {
    V8 lanes = {};
    int i = 0;
    for (; i + 8 <= count; i += 8) {
      lanes += Abs8(Load8(g + i) - gain8 * Load8(q + i));
    }
    for (; i < count; ++i) sum += std::abs(g[i] - gain * q[i]);
    for (int k = 0; k < 8; ++k) sum += lanes[k];
  }
  return sum;
}

}  // namespace internal

Result<RawnindReference> RawnindReference::Make(
    const RawImage& gt, const RawnindSampling& sampling) {
  if (gt.cfa.is_xtrans()) {
    return Status::InvalidArgument(
        "RawNIND's demosaiced figures need two Bayer frames of one sensor");
  }
  RawnindReference ref;
  ref.cfa_ = gt.cfa;
  ref.width_ = gt.width();
  ref.height_ = gt.height();
  ref.frame_ = RawnindFrame(gt.cfa, gt.width(), gt.height());
  const PlaneView<const float> g = FrameView(gt, ref.frame_);
  ref.frame_view_ = g;
  RawnindSampling s = sampling;
  // The passes' row stride: at least min_stride_row_pairs row pairs.
  s.row_stride =
      std::clamp((ref.frame_.height / 2) / std::max(1, s.min_stride_row_pairs),
                 1, std::max(1, s.row_stride));
  FrameStats strided;
  const FrameStats stats = Stats(g, s.row_stride, strided);
  ref.colour_mean_sum_ = stats.colour_mean_sum;
  ref.strided_colour_mean_sum_ = strided.colour_mean_sum;
  // Finite colour sums (so no NaN or infinity anywhere) and values of
  // moderate size (so no sum of the pair's figures overflows): what makes
  // a self pair's figures exactly 1 and 0 (RawnindFigures).
  ref.self_pair_exact_ = std::isfinite(stats.colour_mean_sum) &&
                         stats.lo >= -1e6f && stats.hi <= 1e6f;
  const double cells = static_cast<double>(ref.frame_.height) *
                       ref.frame_.width / (s.cell_rows * s.cell_cols);
  if (cells < s.min_tiles) {
    const double scale = std::sqrt(cells / std::max(1, s.min_tiles));
    s.cell_rows =
        std::max(s.tile_rows, static_cast<int>(s.cell_rows * scale) & ~1);
    s.cell_cols =
        std::max(s.tile_cols, static_cast<int>(s.cell_cols * scale) & ~1);
  }
  ref.sampling_ = s;
  // The tiles first, then every tile's pixels into one buffer, allocated
  // once and not zero-filled (each value is written once, by its tile's
  // demosaic, which writes there directly).
  std::size_t floats = 0;
  for (int cy = 0; cy * s.cell_rows < ref.frame_.height; ++cy) {
    for (int cx = 0; cx * s.cell_cols < ref.frame_.width; ++cx) {
      Tile tile;
      tile.y =
          cy * s.cell_rows + TileOffset(cy, cx, 1, s.cell_rows, s.tile_rows);
      tile.x =
          cx * s.cell_cols + TileOffset(cy, cx, 2, s.cell_cols, s.tile_cols);
      tile.h = std::min(s.tile_rows, ref.frame_.height - tile.y);
      tile.w = std::min(s.tile_cols, ref.frame_.width - tile.x);
      if (tile.h <= 0 || tile.w <= 0) continue;  // a cell cut by the edge
      tile.offset = floats;
      tile.box_offset = floats / 3;
      floats += static_cast<std::size_t>(tile.h) * tile.w * 3;
      ref.tiles_.push_back(tile);
    }
  }
  ref.rgb_.reset(new float[floats]);
  ref.box_.reset(new float[floats / 3]);
  ref.rgb_size_ = floats;
  TileScratch scratch;
  // The next tile's pixels and the margin its demosaic reads, fetched over
  // this tile's two steps (its demosaic and its boxes).
  PrefetchQueue ahead;
  for (std::size_t t = 0; t < ref.tiles_.size(); ++t) {
    const Tile& tile = ref.tiles_[t];
    if (t + 1 < ref.tiles_.size()) {
      const Tile& next = ref.tiles_[t + 1];
      QueueRect(g, next.y - 1, next.y + next.h + 1, next.x - 1,
                next.x + next.w + 1, ahead);
    }
    ahead.Pace(2);
    ahead.Step();
    DemosaicTile(g, strided.scale, tile.y, tile.x, tile.h, tile.w,
                 ref.rgb_.get() + tile.offset, scratch);
    ahead.Step();
    // Its boxes, in ProxyRowsN's order of additions (0 past the frame's
    // last row and column, which the variate never reaches).
    for (int r = 0; r < tile.h; ++r) {
      float* out = ref.box_.get() + tile.box_offset +
                   static_cast<std::size_t>(r) * tile.w;
      const int y = tile.y + r;
      const int inside =
          y + 1 < g.height ? std::min(tile.w, g.width - 1 - tile.x) : 0;
      if (inside > 0) {
        BoxRow(g.row(y) + tile.x, g.row(y + 1) + tile.x, inside, out);
      }
      std::fill(out + std::max(inside, 0), out + tile.w, 0.0f);
    }
  }
  return ref;
}

Result<RawnindPairFigures> RawnindFigures(const RawnindReference& gt,
                                          const RawImage& noisy, int dy, int dx,
                                          std::optional<bool> same_pixels) {
  // The caller's answer when it has one: comparing the frames again read
  // both images in full a second time on identical copies.
  if (dy == 0 && dx == 0 && gt.self_pair_exact_ && gt.cfa_ == noisy.cfa &&
      gt.width_ == noisy.width() && gt.height_ == noisy.height() &&
      (same_pixels.has_value()
           ? *same_pixels
           : SameFrame(gt.frame_view_, FrameView(noisy, gt.frame_)))) {
    // A GT with itself (or a bit-identical copy) at no shift: the full
    // computation below sees the same pixels on both sides, so its colour
    // sums are equal (gain x / x = 1, or 1 for a zero sum), both frames
    // demosaic alike and every |g - 1 x q| is 0, so the loss is 0 (the
    // control variate's factor is finite for finite, moderate values);
    // the shortcut returns those values without the passes
    // (SelfPairShortcutIsTheFullComputation).
    return RawnindPairFigures{1.0, 0.0};
  }
  return internal::RawnindFiguresFull(gt, noisy, dy, dx);
}

namespace internal {

Result<RawnindPairFigures> RawnindFiguresFull(const RawnindReference& gt,
                                              const RawImage& noisy, int dy,
                                              int dx) {
  if (noisy.cfa.is_xtrans() || !(gt.cfa_ == noisy.cfa) ||
      gt.width_ != noisy.width() || gt.height_ != noisy.height()) {
    return Status::InvalidArgument(
        "RawNIND's demosaiced figures need two Bayer frames of one sensor");
  }
  const CropFrame& frame = gt.frame_;
  const PlaneView<const float> n = FrameView(noisy, frame);
  int gy0, ny0, rows, gx0, nx0, cols;
  Overlap(frame.height, dy, gy0, ny0, rows);
  Overlap(frame.width, dx, gx0, nx0, cols);
  if (rows <= 0 || cols <= 0) {
    return Status::InvalidArgument("the pair does not overlap at its shift");
  }
  // One pass over row pairs of the noisy frame (one of every row_stride,
  // all of them at stride 1): its colour sums and range, and, while its
  // rows are in cache, the control variate over the overlap's GT rows whose
  // 2x2 box ends on them (overlap pixels whose box is inside; GT row y
  // needs noisy rows y + oy and y + oy + 1).
  const int py0 = gy0, py1 = gy0 + rows - 1, px0 = gx0, px1 = gx0 + cols - 1;
  const int oy = ny0 - gy0, ox = nx0 - gx0;
  const int row_stride = gt.sampling_.row_stride;
  // The control variate's gain: RawNIND's, estimated from every 16th row
  // pair (the variate needs one near it; the pair's own needs this pass).
  float proxy_gain = 1.0f;
  {
    StatsPass sparse;
    int sampled_rows = 0;
    for (int yn = 0; yn + 1 < frame.height; yn += 32) {
      // Both rows in one call: two independent chains of additions, each
      // row's sums and the range as two calls give them.
      const float* pair_rows[2] = {n.row(yn), n.row(yn + 1)};
      sparse.AddRows(pair_rows, 2, frame.width, 0);
      sampled_rows += 2;
    }
    const double sum = sparse.Finish(frame.width, sampled_rows).colour_mean_sum;
    if (sum > 0) proxy_gain = static_cast<float>(gt.colour_mean_sum_ / sum);
  }
  double proxy_full = 0, proxy_sample = 0;
  std::size_t proxy_full_count = 0, proxy_sample_count = 0;
  StatsPass pass;
  int pass_rows = 0;
  for (int yb = 0; yb + 1 < frame.height; yb += 2 * row_stride) {
    const float* rows_of_pair[2] = {n.row(yb), n.row(yb + 1)};
    pass.AddRows(rows_of_pair, 2, frame.width, yb);
    pass_rows += 2;
    // GT rows whose box's last noisy row is yb or yb + 1.
    const int y0 = std::max(py0, yb - 1 - oy);
    const int y1 = std::min(py1, yb + 1 - oy);
    if (y0 < y1 && px1 > px0) {
      AddProxyRows(gt.frame_view_, n, y0, y1, px0, px1, oy, ox, proxy_gain,
                   proxy_full);
      proxy_full_count += static_cast<std::size_t>(y1 - y0) * (px1 - px0);
    }
  }
  const FrameStats n_stats = pass.Finish(frame.width, pass_rows);
  RawnindPairFigures figures;
  // The GT's colour means on the same row pairs: where the sample's rows
  // differ from the whole frame's, both frames' do alike.
  figures.rgb_gain = n_stats.colour_mean_sum != 0
                         ? gt.strided_colour_mean_sum_ / n_stats.colour_mean_sum
                         : 1.0;
  const float gain = static_cast<float>(figures.rgb_gain);

  std::vector<float> n_rgb;
  TileScratch scratch;
  double sum = 0;
  std::size_t count = 0;
  // What the next tile reads (the noisy pixels and the margin its demosaic
  // reads, the GT's demosaicked pixels and boxes), fetched over this
  // tile's three steps (its demosaic, its loss, its control variate). A
  // default tile's spans (its rows and 3 of margin, then the GT's pixels
  // and boxes) fit the queue; a taller tile's spans past it would be
  // dropped, those lines read by the tile's own work as without a queue.
  static_assert(RawnindSampling{}.tile_rows + 3 + 2 <= PrefetchQueue::kSpans);
  PrefetchQueue ahead;
  for (std::size_t t = 0; t < gt.tiles_.size(); ++t) {
    const RawnindReference::Tile& tile = gt.tiles_[t];
    if (t + 1 < gt.tiles_.size()) {
      const RawnindReference::Tile& next = gt.tiles_[t + 1];
      QueueRect(n, next.y + oy - 1, next.y + oy + next.h + 2, next.x + ox - 1,
                next.x + ox + next.w + 2, ahead);
      const std::size_t pixels = static_cast<std::size_t>(next.h) * next.w;
      ahead.Add(gt.rgb_.get() + next.offset,
                gt.rgb_.get() + next.offset + pixels * 3);
      ahead.Add(gt.box_.get() + next.box_offset,
                gt.box_.get() + next.box_offset + pixels);
    }
    ahead.Pace(3);
    ahead.Step();
    // The tile's part inside the overlap, in GT coordinates.
    const int y0 = std::max(tile.y, gy0);
    const int y1 = std::min(tile.y + tile.h, gy0 + rows);
    const int x0 = std::max(tile.x, gx0);
    const int x1 = std::min(tile.x + tile.w, gx0 + cols);
    if (y0 >= y1 || x0 >= x1) {
      ahead.Fetch(ahead.Lines());  // no steps here: the next tile's at once
      continue;
    }
    const int h = y1 - y0, w = x1 - x0;
    DemosaicTile(n, n_stats.scale, y0 - gy0 + ny0, x0 - gx0 + nx0, h, w, n_rgb,
                 scratch);
    ahead.Step();
    const float* g =
        gt.rgb_.get() + tile.offset +
        (static_cast<std::size_t>(y0 - tile.y) * tile.w + (x0 - tile.x)) * 3;
    sum += internal::RawnindAddLossRows(0.0, g, tile.w * 3, n_rgb.data(), w * 3,
                                        h, w * 3, gain);
    count += static_cast<std::size_t>(h) * w * 3;
    ahead.Step();
    // The control variate on the same pixels.
    const int qy0 = std::max(y0, py0), qy1 = std::min(y1, py1);
    const int qx0 = std::max(x0, px0), qx1 = std::min(x1, px1);
    if (qy0 < qy1 && qx0 < qx1) {
      // The GT's boxes from the reference; the noisy rows are in cache
      // from the demosaic.
      constexpr int kRows = internal::kRawnindProxyRows;
      for (int y = qy0; y < qy1; y += kRows) {
        const int rows_here = std::min(kRows, qy1 - y);
        const float* box_rows[kRows];
        const float* n_rows[kRows + 1];
        for (int r = 0; r < rows_here; ++r) {
          box_rows[r] = gt.box_.get() + tile.box_offset +
                        static_cast<std::size_t>(y + r - tile.y) * tile.w -
                        tile.x;
        }
        for (int r = 0; r <= rows_here; ++r) n_rows[r] = n.row(y + oy + r) + ox;
        double sums[kRows];
        internal::RawnindProxyBoxRows(box_rows, n_rows, rows_here, qx0, qx1,
                                      proxy_gain, sums);
        for (int r = 0; r < rows_here; ++r) proxy_sample += sums[r];
      }
      proxy_sample_count += static_cast<std::size_t>(qy1 - qy0) * (qx1 - qx0);
    }
  }
  double loss = count ? sum / static_cast<double>(count) : 0;
  // Ratio estimator: the sample's loss scaled by how the control variate
  // over the whole overlap compares to its value on the sample (1 when the
  // sample is the whole overlap).
  if (proxy_sample > 0 && proxy_full_count > 0 && proxy_sample_count > 0) {
    loss *= (proxy_full / static_cast<double>(proxy_full_count)) /
            (proxy_sample / static_cast<double>(proxy_sample_count));
  }
  figures.best_alignment_loss = loss;
  return figures;
}

}  // namespace internal

Result<RawnindPairFigures> RawnindFigures(const RawImage& gt,
                                          const RawImage& noisy, int dy, int dx,
                                          const RawnindSampling& sampling) {
  DSB_ASSIGN_OR_RETURN(RawnindReference reference,
                       RawnindReference::Make(gt, sampling));
  return RawnindFigures(reference, noisy, dy, dx);
}

}  // namespace dsb
