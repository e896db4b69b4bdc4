#include "align/shift_search.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <type_traits>

#include "align/colour_match.h"
#include "align/correlator_common.h"
#include "align/mosaic_luma.h"
#include "common/vector_clones.h"

namespace dsb {

namespace {

// About 2.5 million coarse samples: enough detail for a robust peak, small
// enough that the coarse FFT costs a few tens of milliseconds.
constexpr double kCoarseSamples = 2.5e6;
// Frames under 10 MP, which kCoarseSamples alone gives strides of 1 or 2
// (grids of 0.6-2.5 M samples: the transforms then cost 4x as much per
// pixel as a 24 MP frame's), take a stride of up to 4 for about this many
// samples: a 2.4-10 MP frame's grid has the detail of a 24 MP frame's
// stride-4 grid per sample (the fine search, at full resolution, decides
// the shift; issue 17's seventh round). Frames under 0.6 MP keep every
// sample.
constexpr double kSmallCoarseSamples = 0.6e6;
constexpr int kSmallCoarseMaxStride = 4;
// Coarse transforms of at least this many samples (those FFTW plans by
// measuring, fftw_plans.cc) are padded to sizes of 2s and 3s.
constexpr double kLargeCoarseFft = 1 << 19;
// Fine tiles: at most this many, this large.
constexpr int kTileCount = 8;
constexpr int kTileGrid = 4;
constexpr int kMaxTile = 192;
constexpr int kMinTile = 16;
// Tiles with at least this fraction unmasked correct integral-image window
// sums for their masked pixels (one dot product per offset instead of
// three); more heavily masked tiles take the dense path.
constexpr double kSparseMask = 0.9;
// RefineShift: pixels compared per shift, and the fewest blocks it decides
// on.
constexpr double kRefineSamples = 2e6;
constexpr std::size_t kRefineMinBlocks = 8;
// How many standard deviations of a fair coin a neighbour's lead in blocks
// must reach to win the refinement (see RefineShift).
constexpr double kRefineSignificance = 2.0;
// Fine-search maxima of different candidates at most this far apart (in
// each axis) are scored again on common tiles (see FineSearch).
constexpr int kSplitPeak = 6;
// Secondary coarse peaks below this fraction of the strongest are not
// verified (see FineSearch).
constexpr float kCandidateFloor = 0.25f;
// A colour clipped in more than this share of its samples in either capture
// is left out of the fine search (see FineColours).
constexpr double kHeavilyClipped = 0.25;
// FineColours counts clipping on about this many pairs of rows (plenty for
// three shares).
constexpr int kClipCountRowPairs = 64;

double ParabolicOffset(double left, double centre, double right) {
  const double denominator = left - 2 * centre + right;
  if (std::abs(denominator) < 1e-12) return 0;
  return std::clamp(0.5 * (left - right) / denominator, -0.5, 0.5);
}

float Taper(int i, int n, int ramp) {
  if (ramp <= 0) return 1.0f;
  const int d = std::min(i, n - 1 - i);
  if (d >= ramp) return 1.0f;
  return 0.5f - 0.5f * std::cos(3.14159265f * (d + 0.5f) / ramp);
}

// Eight float lanes, one AVX2 register (two SSE2 ones in the baseline
// clone); element l is what a plain lanes[l] array held.
using V8 = float __attribute__((vector_size(32)));

[[gnu::always_inline]] inline V8 Load8(const float* p) {
  V8 v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

// Four rows of eight consecutive floats, transposed into doubles:
// columns[c] holds rows[g][c] in lane g (float to double is exact).
using D4 = double __attribute__((vector_size(32)));
using D8 = double __attribute__((vector_size(64)));
[[gnu::always_inline]] inline void TransposeToDoubles(const V8 (&rows)[4],
                                                      D4 (&columns)[8]) {
  // (a0 b0 a1 b1 | a4 b4 a5 b5), (a2 b2 a3 b3 | a6 b6 a7 b7), the same for
  // c and d, then (a0 b0 c0 d0 | a4 b4 c4 d4) ... (a3 b3 c3 d3 | a7 ...).
  const V8 t0 =
      __builtin_shufflevector(rows[0], rows[1], 0, 8, 1, 9, 4, 12, 5, 13);
  const V8 t1 =
      __builtin_shufflevector(rows[0], rows[1], 2, 10, 3, 11, 6, 14, 7, 15);
  const V8 t2 =
      __builtin_shufflevector(rows[2], rows[3], 0, 8, 1, 9, 4, 12, 5, 13);
  const V8 t3 =
      __builtin_shufflevector(rows[2], rows[3], 2, 10, 3, 11, 6, 14, 7, 15);
  const V8 u[4] = {__builtin_shufflevector(t0, t2, 0, 1, 8, 9, 4, 5, 12, 13),
                   __builtin_shufflevector(t0, t2, 2, 3, 10, 11, 6, 7, 14, 15),
                   __builtin_shufflevector(t1, t3, 0, 1, 8, 9, 4, 5, 12, 13),
                   __builtin_shufflevector(t1, t3, 2, 3, 10, 11, 6, 7, 14, 15)};
  // (Converted as eight: GCC 12 splits a four-float conversion into
  // halves.)
  for (int c = 0; c < 4; ++c) {
    const D8 wide = __builtin_convertvector(u[c], D8);
    columns[c] = __builtin_shufflevector(wide, wide, 0, 1, 2, 3);
    columns[c + 4] = __builtin_shufflevector(wide, wide, 4, 5, 6, 7);
  }
}

// Four rows of `b` from row y, each summed along the row in order in
// double (one chain per row, as a plain running sum), the four chains in
// the lanes of a vector: prefix1[4 * x + r] = b(y + r, 0) + ... +
// b(y + r, x), prefix2 the same of the squares (each float squared in
// double).
DSB_VECTOR_CLONES void RowPrefixesOfFour(const Plane<float>& b, int y,
                                         double* prefix1, double* prefix2) {
  const int w = b.width();
  const float* rows[4] = {b.row(y), b.row(y + 1), b.row(y + 2), b.row(y + 3)};
  D4 row1 = {}, row2 = {};
  int x = 0;
  for (; x + 8 <= w; x += 8) {
    const V8 in[4] = {Load8(rows[0] + x), Load8(rows[1] + x),
                      Load8(rows[2] + x), Load8(rows[3] + x)};
    D4 columns[8];
    TransposeToDoubles(in, columns);
    for (int c = 0; c < 8; ++c) {
      row1 += columns[c];
      row2 += columns[c] * columns[c];
      std::memcpy(prefix1 + 4 * (x + c), &row1, sizeof(row1));
      std::memcpy(prefix2 + 4 * (x + c), &row2, sizeof(row2));
    }
  }
  for (; x < w; ++x) {
    for (int r = 0; r < 4; ++r) {
      row1[r] += rows[r][x];
      row2[r] += static_cast<double>(rows[r][x]) * rows[r][x];
      prefix1[4 * x + r] = row1[r];
      prefix2[4 * x + r] = row2[r];
    }
  }
}

// Window sums of `b` and `b^2` for the h x w windows at (y, x), y and x in
// [0, window) (`b` is (h + window - 1) x (w + window - 1)), from integral
// images in double: s(Y, X) = s(Y - 1, X) + the sum of row Y - 1's first X
// values. Only the rows and columns of s that windows' corners read (Y, X
// in [0, window) and [h or w, + window)) are kept; each is the very sum a
// whole integral image held. The rows' running sums, one chain of
// additions per row, run four rows at a time (RowPrefixesOfFour): one row
// at a time they were bound by the adder's latency.
class WindowSums {
 public:
  WindowSums(const Plane<float>& b, int h, int w, int window)
      : window_(window) {
    const int bh = b.height(), bw = b.width();
    const int n = 2 * window;
    // Column k of the kept ones is X = k (k < window) or w + k - window.
    std::vector<int> columns(static_cast<std::size_t>(n));
    for (int k = 0; k < n; ++k) columns[k] = k < window ? k : w + k - window;
    s1_.assign(static_cast<std::size_t>(n) * n, 0.0);
    s2_.assign(static_cast<std::size_t>(n) * n, 0.0);
    std::vector<double> run1(static_cast<std::size_t>(n), 0.0);
    std::vector<double> run2(static_cast<std::size_t>(n), 0.0);
    std::vector<double> prefix1(static_cast<std::size_t>(4) * bw);
    std::vector<double> prefix2(static_cast<std::size_t>(4) * bw);
    for (int y = 0; y < bh;) {
      int rows = 4;
      if (y + 4 <= bh) {
        RowPrefixesOfFour(b, y, prefix1.data(), prefix2.data());
      } else {
        rows = 1;
        double row1 = 0, row2 = 0;
        const float* pb = b.row(y);
        for (int x = 0; x < bw; ++x) {
          row1 += pb[x];
          row2 += static_cast<double>(pb[x]) * pb[x];
          prefix1[4 * x] = row1;
          prefix2[4 * x] = row2;
        }
      }
      for (int r = 0; r < rows; ++r) {
        // s(Y, 0) stays 0.
        for (int k = 0; k < n; ++k) {
          if (columns[k] == 0) continue;
          const std::size_t at = 4 * static_cast<std::size_t>(columns[k] - 1);
          run1[k] = run1[k] + prefix1[at + r];
          run2[k] = run2[k] + prefix2[at + r];
        }
        const int kept_y = y + r + 1;
        if (kept_y < window) Keep(kept_y, run1, run2);
        if (kept_y >= h && kept_y < h + window) {
          Keep(window + kept_y - h, run1, run2);
        }
      }
      y += rows;
    }
  }
  // Sums over the h x w window with top-left (y, x).
  void Get(int y, int x, double* sum, double* sum_sq) const {
    const std::size_t top = Row(y), bottom = Row(window_ + y);
    const std::size_t left = x, right = window_ + x;
    *sum = s1_[bottom + right] - s1_[top + right] - s1_[bottom + left] +
           s1_[top + left];
    *sum_sq = s2_[bottom + right] - s2_[top + right] - s2_[bottom + left] +
              s2_[top + left];
  }

 private:
  std::size_t Row(int k) const {
    return static_cast<std::size_t>(k) * 2 * window_;
  }
  void Keep(int k, const std::vector<double>& run1,
            const std::vector<double>& run2) {
    std::copy(run1.begin(), run1.end(), s1_.begin() + Row(k));
    std::copy(run2.begin(), run2.end(), s2_.begin() + Row(k));
  }
  int window_;
  std::vector<double> s1_, s2_;  // 2 window x 2 window kept values
};

// sums[ox] += sum(a_i * b_i) over one row of w samples for the N offsets
// ox0 .. ox0 + N - 1 (b points at offset ox0): eight float lanes per
// offset, then the tail and the lanes added in double, exactly as for one
// offset alone. N offsets at once keep N independent chains of additions
// in flight (one offset's lanes are a single chain, bound by the adder's
// latency) and load a's row once for all of them.
template <int N>
[[gnu::always_inline]] inline void DotRows(const float* pa, const float* pb,
                                           int w, double* sums) {
  V8 lanes[N] = {};
  int j = 0;
  for (; j + 8 <= w; j += 8) {
    const V8 va = Load8(pa + j);
    for (int n = 0; n < N; ++n) lanes[n] += va * Load8(pb + n + j);
  }
  for (int n = 0; n < N; ++n) {
    double row = 0;
    for (int k = j; k < w; ++k) row += pa[k] * pb[n + k];
    for (int l = 0; l < 8; ++l) row += lanes[n][l];
    sums[n] += row;
  }
}

// sums[ox] = sum(a * b_o) for the windows b_o of `b` with top-left (oy,
// ox), ox in [0, window); each offset adds its rows in order.
DSB_VECTOR_CLONES void Dots(const Plane<float>& a, const Plane<float>& b,
                            int oy, int window, double* sums) {
  const int h = a.height(), w = a.width();
  std::fill_n(sums, window, 0.0);
  // Windows of the fine search's radii (stride + 1 up to 5: 5, 7, 9, 11
  // offsets) in one pass over a row: a pass of fewer offsets than the
  // adder's latency needs (the 3 of 8 + 3, the 1 of 4 + 1) was bound by it.
  // Each offset's sums are the same whatever offsets share its pass.
  switch (window) {
    case 5:
      for (int i = 0; i < h; ++i) DotRows<5>(a.row(i), b.row(oy + i), w, sums);
      return;
    case 7:
      for (int i = 0; i < h; ++i) DotRows<7>(a.row(i), b.row(oy + i), w, sums);
      return;
    case 9:
      for (int i = 0; i < h; ++i) DotRows<9>(a.row(i), b.row(oy + i), w, sums);
      return;
    case 11:
      for (int i = 0; i < h; ++i) {
        DotRows<11>(a.row(i), b.row(oy + i), w, sums);
      }
      return;
    default:
      break;
  }
  for (int i = 0; i < h; ++i) {
    const float* pa = a.row(i);
    const float* pb = b.row(oy + i);
    int ox = 0;
    for (; ox + 8 <= window; ox += 8) DotRows<8>(pa, pb + ox, w, sums + ox);
    for (; ox + 4 <= window; ox += 4) DotRows<4>(pa, pb + ox, w, sums + ox);
    switch (window - ox) {
      case 3:
        DotRows<3>(pa, pb + ox, w, sums + ox);
        break;
      case 2:
        DotRows<2>(pa, pb + ox, w, sums + ox);
        break;
      case 1:
        DotRows<1>(pa, pb + ox, w, sums + ox);
        break;
      default:
        break;
    }
  }
}

// AddCorrelation for a tile with few masked pixels (or none): the same
// sums, with the window sums of b and b^2 from integral images minus the
// masked pixels' terms, instead of two more dot products per offset (`a`
// is 0 at masked pixels, so the covariance is a plain dot product).
void AddSparselyMaskedCorrelation(const Plane<float>& a,
                                  const Plane<float>& mask, double count,
                                  const Plane<float>& b, int window,
                                  double* cross, double* b_var) {
  const int h = a.height(), w = a.width();
  const WindowSums sums(b, h, w, window);
  struct Masked {
    int i, j;
  };
  std::vector<Masked> masked;
  for (int i = 0; i < h; ++i) {
    const float* pm = mask.row(i);
    int j = 0;
    // Eight at a time past runs with none masked (most of a tile).
    for (; j + 8 <= w; j += 8) {
      bool any = false;
      for (int l = 0; l < 8; ++l) any |= pm[j + l] == 0.0f;
      if (!any) continue;
      for (int l = 0; l < 8; ++l) {
        if (pm[j + l] == 0.0f) masked.push_back({i, j + l});
      }
    }
    for (; j < w; ++j) {
      if (pm[j] == 0.0f) masked.push_back({i, j});
    }
  }
  const std::size_t n = static_cast<std::size_t>(window);
  std::vector<double> dots(n), sum_b(n), sum_bb(n);
  for (int oy = 0; oy < window; ++oy) {
    Dots(a, b, oy, window, dots.data());
    for (int ox = 0; ox < window; ++ox) {
      sums.Get(oy, ox, &sum_b[ox], &sum_bb[ox]);
    }
    // The masked pixels' terms taken out, each offset's in the masked
    // pixels' order, the offsets of a row side by side (one offset's
    // subtractions are a chain bound by the adder's latency).
    for (const Masked& m : masked) {
      const float* row = b.row(oy + m.i) + m.j;
      for (int ox = 0; ox < window; ++ox) {
        const double v = row[ox];
        sum_b[ox] -= v;
        sum_bb[ox] -= v * v;
      }
    }
    for (int ox = 0; ox < window; ++ox) {
      cross[oy * window + ox] += dots[ox];
      b_var[oy * window + ox] +=
          std::max(0.0, sum_bb[ox] - sum_b[ox] * sum_b[ox] / count);
    }
  }
}

// AddCorrelation's sums over one row for the N offsets ox0 .. ox0 + N - 1
// (pb points at offset ox0): per offset, eight float lanes of a * b, m * b
// and m * b * b (so the compiler-free vector code matches the plain lanes
// loop), then the tail and the lanes added in double. N offsets at once
// keep more independent chains of additions in flight.
template <int N>
[[gnu::always_inline]] inline void CorrelationRows(
    const float* pa, const float* pm, const float* pb, int w, double* sum_ab,
    double* sum_b, double* sum_bb) {
  V8 ab[N] = {}, mb[N] = {}, mbb[N] = {};
  int j = 0;
  for (; j + 8 <= w; j += 8) {
    const V8 va = Load8(pa + j);
    const V8 vm = Load8(pm + j);
    for (int n = 0; n < N; ++n) {
      const V8 v = Load8(pb + n + j);
      const V8 m = vm * v;
      ab[n] += va * v;
      mb[n] += m;
      mbb[n] += m * v;
    }
  }
  for (int n = 0; n < N; ++n) {
    const float* b = pb + n;
    double row_ab = 0, row_b = 0, row_bb = 0;
    for (int k = j; k < w; ++k) {
      row_ab += pa[k] * b[k];
      row_b += pm[k] * b[k];
      row_bb += pm[k] * b[k] * b[k];
    }
    for (int l = 0; l < 8; ++l) {
      row_ab += ab[n][l];
      row_b += mb[n][l];
      row_bb += mbb[n][l];
    }
    sum_ab[n] += row_ab;
    sum_b[n] += row_b;
    sum_bb[n] += row_bb;
  }
}

// For one tile: adds to cross[o] the covariance sum(a * b_o) and to
// b_var[o] the variance of b_o, both over the tile's unmasked pixels, where
// b_o is the window of `b` with top-left (oy, ox), o = oy * window + ox, for
// every offset in [0, window)^2. `a` is h x w, zero-mean over the unmasked
// pixels and 0 at masked ones, so the covariance needs no mean of b; `mask`
// is 1 (use) or 0; `b` is (h + window - 1) x (w + window - 1).
DSB_VECTOR_CLONES void AddCorrelation(const Plane<float>& a,
                                      const Plane<float>& mask, double count,
                                      const Plane<float>& b, int window,
                                      double* cross, double* b_var) {
  const int h = a.height(), w = a.width();
  // Row by row, every horizontal offset of a row of offsets in turn: the
  // tile's rows stay in cache across the offsets (one offset at a time
  // streamed the whole tile once per offset). Each offset still adds its
  // own rows in order, so its sums are the same.
  std::vector<double> sum_ab(static_cast<std::size_t>(window)),
      sum_b(static_cast<std::size_t>(window)),
      sum_bb(static_cast<std::size_t>(window));
  for (int oy = 0; oy < window; ++oy) {
    std::fill(sum_ab.begin(), sum_ab.end(), 0.0);
    std::fill(sum_b.begin(), sum_b.end(), 0.0);
    std::fill(sum_bb.begin(), sum_bb.end(), 0.0);
    for (int i = 0; i < h; ++i) {
      const float* pa = a.row(i);
      const float* pm = mask.row(i);
      const float* pb = b.row(oy + i);
      int ox = 0;
      for (; ox + 3 <= window; ox += 3) {
        CorrelationRows<3>(pa, pm, pb + ox, w, &sum_ab[ox], &sum_b[ox],
                           &sum_bb[ox]);
      }
      if (window - ox == 2) {
        CorrelationRows<2>(pa, pm, pb + ox, w, &sum_ab[ox], &sum_b[ox],
                           &sum_bb[ox]);
      } else if (window - ox == 1) {
        CorrelationRows<1>(pa, pm, pb + ox, w, &sum_ab[ox], &sum_b[ox],
                           &sum_bb[ox]);
      }
    }
    for (int ox = 0; ox < window; ++ox) {
      cross[oy * window + ox] += sum_ab[ox];
      b_var[oy * window + ox] +=
          std::max(0.0, sum_bb[ox] - sum_b[ox] * sum_b[ox] / count);
    }
  }
}

// Sets out(i, j) to 0 where a pixel of `image` of a `watched` colour at or
// above `clip` lies in the box of box_h x box_w whose top-left is (y0 + i,
// x0 + j), for i < h, j < w (out is h x w); leaves the rest. On a mask of
// 0s and 1s that is the product with UnclippedBoxes' plane, without making
// that plane (a fill of 1s) and multiplying (a pass) per tile.
DSB_VECTOR_CLONES void ClearClippedBoxes(const RawImage& image, float clip,
                                         const std::array<bool, 3>& watched,
                                         int y0, int x0, int h, int w,
                                         int box_h, int box_w,
                                         Plane<float>& out) {
  const int in_h = h + box_h - 1, in_w = w + box_w - 1;
  // Column counts of clipped pixels over box_h rows, then box_w of those.
  // Most rows hold no clipped pixel: a branch-free count (which vectorises)
  // skips them, and output rows whose counts stayed zero skip the window
  // sums.
  // A row of counts is zeroed when first touched (rows never touched are
  // never read).
  std::unique_ptr<int[]> columns(new int[static_cast<std::size_t>(in_w) * h]);
  std::vector<char> touched(static_cast<std::size_t>(h), 0);
  for (int i = 0; i < in_h; ++i) {
    const float* row = image.pixels.row(y0 + i) + x0;
    int at_clip = 0;
    for (int j = 0; j < in_w; ++j) at_clip += !(row[j] < clip);
    if (at_clip == 0) continue;
    for (int k = std::max(0, i - box_h + 1); k <= std::min(h - 1, i); ++k) {
      if (!touched[k]) {
        std::fill_n(&columns[static_cast<std::size_t>(k) * in_w], in_w, 0);
      }
      touched[k] = 1;
    }
    for (int j = 0; j < in_w; ++j) {
      if (row[j] < clip) continue;
      if (!watched[static_cast<int>(image.cfa.color_at(y0 + i, x0 + j))]) {
        continue;
      }
      for (int k = std::max(0, i - box_h + 1); k <= std::min(h - 1, i); ++k) {
        ++columns[static_cast<std::size_t>(k) * in_w + j];
      }
    }
  }
  for (int i = 0; i < h; ++i) {
    if (!touched[i]) continue;
    const int* c = &columns[static_cast<std::size_t>(i) * in_w];
    int sum = 0;
    for (int j = 0; j < box_w - 1; ++j) sum += c[j];
    for (int j = 0; j < w; ++j) {
      sum += c[j + box_w - 1];
      if (sum > 0) out.at(i, j) = 0.0f;
      sum -= c[j];
    }
  }
}

// 1 where no pixel of `image` of a `watched` colour at or above `clip` lies
// in the box of box_h x box_w whose top-left is (y0 + i, x0 + j), for
// i < h, j < w; 0 elsewhere.
Plane<float> UnclippedBoxes(const RawImage& image, float clip,
                            const std::array<bool, 3>& watched, int y0, int x0,
                            int h, int w, int box_h, int box_w) {
  Plane<float> out(w, h, 1.0f);
  ClearClippedBoxes(image, clip, watched, y0, x0, h, w, box_h, box_w, out);
  return out;
}

// A tile of the noisy capture's period luma, as the fine search and the
// rescoring of close candidates correlate it with the GT.
struct LumaTile {
  int y = 0, x = 0;  // top-left in the noisy image
  int h = 0, w = 0;
  Plane<float> luma;  // zero-mean over the unmasked pixels, 0 elsewhere
  Plane<float> mask;  // 0 where clipping is near in either capture
  double count = 0;   // unmasked pixels
  double energy = 0;  // sum of squares of luma
};

// Makes the tile's luma zero-mean over its unmasked pixels and 0 on the
// others, and fills in its count and energy.
void CentreTile(LumaTile& tile) {
  double sum = 0;
  for (std::size_t k = 0; k < tile.mask.pixel_count(); ++k) {
    sum += tile.mask.data()[k] * tile.luma.data()[k];
    tile.count += tile.mask.data()[k];
  }
  if (tile.count < 1) return;
  const float mean = static_cast<float>(sum / tile.count);
  for (std::size_t k = 0; k < tile.luma.pixel_count(); ++k) {
    float& v = tile.luma.data()[k];
    v = (v - mean) * tile.mask.data()[k];
    tile.energy += static_cast<double>(v) * v;
  }
}

// The unmasked pixels of a tile: its mask's 0s and 1s added eight lanes at
// a time in float (every partial sum an integer under 2^24, so exact, and
// the same in any order as CentreTile's additions in double).
[[gnu::always_inline]] inline double MaskCount(const float* mask,
                                               std::size_t n) {
  V8 lanes[4] = {};
  std::size_t k = 0;
  for (; k + 32 <= n; k += 32) {
    for (int v = 0; v < 4; ++v) lanes[v] += Load8(mask + k + 8 * v);
  }
  for (; k + 8 <= n; k += 8) lanes[0] += Load8(mask + k);
  double count = 0;
  for (; k < n; ++k) count += mask[k];
  for (int v = 0; v < 4; ++v) {
    for (int l = 0; l < 8; ++l) count += lanes[v][l];
  }
  return count;
}

// CentreTile for kGroups groups of four tiles of one size at once: each
// tile's sum and energy are added in CentreTile's order (pixel by pixel, in
// double), one tile per lane of a vector of four doubles and kGroups such
// chains side by side; the per-pixel float values are CentreTile's
// expressions in float vectors. So every value is the same, for a third of
// the instructions of scalar chains (CentreTiles was 11 % of a 2.7 MP self
// pair's samples).
template <int kGroups>
[[gnu::always_inline]] inline void CentreTileGroupsOf(LumaTile* tiles) {
  constexpr int kN = 4 * kGroups;
  const std::size_t n = tiles[0].mask.pixel_count();
  const float* mask[kN];
  float* luma[kN];
  for (int g = 0; g < kN; ++g) {
    mask[g] = tiles[g].mask.data();
    luma[g] = tiles[g].luma.data();
  }
  bool all_counted = true;
  for (int g = 0; g < kN; ++g) {
    tiles[g].count += MaskCount(mask[g], n);  // from 0, as CentreTile's
    all_counted = all_counted && tiles[g].count >= 1;
  }
  if (!all_counted) {
    // Rare (a tile masked out entirely): the plain loop for each.
    for (int g = 0; g < kN; ++g) {
      tiles[g].count = 0;
      CentreTile(tiles[g]);
    }
    return;
  }
  D4 sums[kGroups] = {};
  std::size_t k = 0;
  for (; k + 8 <= n; k += 8) {
    for (int q = 0; q < kGroups; ++q) {
      V8 products[4];
      for (int g = 0; g < 4; ++g) {
        products[g] = Load8(mask[4 * q + g] + k) * Load8(luma[4 * q + g] + k);
      }
      D4 columns[8];
      TransposeToDoubles(products, columns);
      for (int c = 0; c < 8; ++c) sums[q] += columns[c];
    }
  }
  double sum[kN];
  for (int g = 0; g < kN; ++g) sum[g] = sums[g / 4][g % 4];
  for (std::size_t j = k; j < n; ++j) {
    for (int g = 0; g < kN; ++g) sum[g] += mask[g][j] * luma[g][j];
  }
  float mean[kN];
  for (int g = 0; g < kN; ++g) {
    mean[g] = static_cast<float>(sum[g] / tiles[g].count);
  }
  D4 energies[kGroups] = {};
  for (k = 0; k + 8 <= n; k += 8) {
    for (int q = 0; q < kGroups; ++q) {
      V8 values[4];
      for (int g = 0; g < 4; ++g) {
        const int t = 4 * q + g;
        values[g] = (Load8(luma[t] + k) - mean[t]) * Load8(mask[t] + k);
        std::memcpy(luma[t] + k, &values[g], sizeof(V8));
      }
      D4 columns[8];
      TransposeToDoubles(values, columns);
      for (int c = 0; c < 8; ++c) energies[q] += columns[c] * columns[c];
    }
  }
  double energy[kN];
  for (int g = 0; g < kN; ++g) energy[g] = energies[g / 4][g % 4];
  for (std::size_t j = k; j < n; ++j) {
    for (int g = 0; g < kN; ++g) {
      float& v = luma[g][j];
      v = (v - mean[g]) * mask[g][j];
      energy[g] += static_cast<double>(v) * v;
    }
  }
  for (int g = 0; g < kN; ++g) tiles[g].energy += energy[g];
}

DSB_VECTOR_CLONES void CentreTileGroups(LumaTile* tiles, int groups) {
  switch (groups) {
    case 4:
      CentreTileGroupsOf<4>(tiles);
      break;
    case 3:
      CentreTileGroupsOf<3>(tiles);
      break;
    case 2:
      CentreTileGroupsOf<2>(tiles);
      break;
    default:
      CentreTileGroupsOf<1>(tiles);
      break;
  }
}

// CentreTile on every tile, up to sixteen of one size at a time where they
// are (ChooseTiles' grid: all of one size).
void CentreTiles(std::vector<LumaTile>& tiles) {
  std::size_t t = 0;
  while (t + 4 <= tiles.size()) {
    std::size_t run = 1;
    while (t + run < tiles.size() && run < 16 &&
           tiles[t + run].luma.width() == tiles[t].luma.width() &&
           tiles[t + run].luma.height() == tiles[t].luma.height()) {
      ++run;
    }
    if (run < 4) {
      CentreTile(tiles[t]);
      ++t;
      continue;
    }
    CentreTileGroups(&tiles[t], static_cast<int>(run / 4));
    t += run / 4 * 4;
  }
  for (; t < tiles.size(); ++t) CentreTile(tiles[t]);
}

// The tiles a correlation uses inside the room_y x room_x area at (lo_y,
// lo_x): made by make_tile(y, x, h, w), then centred here. A small area is one
// tile: cheap at that size, and it uses every textured pixel there is (small
// tiles of a small image can all be flat). A larger one gets a grid of
// candidate tiles, those worth_preparing(y, x, size) made, and the kTileCount
// most textured (energy of the unmasked luma) kept.
template <typename MakeTile, typename WorthPreparing>
std::vector<LumaTile> ChooseTiles(int lo_y, int lo_x, int room_y, int room_x,
                                  MakeTile make_tile,
                                  WorthPreparing worth_preparing) {
  std::vector<LumaTile> tiles;
  if (static_cast<double>(room_y) * room_x <=
      static_cast<double>(kTileCount) * kMaxTile * kMaxTile) {
    tiles.push_back(make_tile(lo_y, lo_x, room_y, room_x));
    CentreTile(tiles.back());
    return tiles;
  }
  const int size = std::min(kMaxTile, std::min(room_y, room_x) / 3);
  const int span_y = room_y - size;
  const int span_x = room_x - size;
  for (int gy = 0; gy < kTileGrid; ++gy) {
    for (int gx = 0; gx < kTileGrid; ++gx) {
      const int y = lo_y + span_y * (2 * gy + 1) / (2 * kTileGrid);
      const int x = lo_x + span_x * (2 * gx + 1) / (2 * kTileGrid);
      if (!worth_preparing(y, x, size)) continue;
      tiles.push_back(make_tile(y, x, size, size));
    }
  }
  CentreTiles(tiles);
  std::stable_sort(
      tiles.begin(), tiles.end(),
      [](const LumaTile& a, const LumaTile& b) { return a.energy > b.energy; });
  if (tiles.size() > kTileCount) tiles.resize(kTileCount);
  return tiles;
}

}  // namespace

CoarseGeometry PlanCoarse(int height, int width, int period, int max_dy,
                          int max_dx) {
  CoarseGeometry g;
  const double pixels = static_cast<double>(height) * width;
  g.stride = std::max(
      {1, static_cast<int>(std::ceil(std::sqrt(pixels / kCoarseSamples))),
       std::min(kSmallCoarseMaxStride, static_cast<int>(std::ceil(std::sqrt(
                                           pixels / kSmallCoarseSamples))))});
  if (g.stride > period) g.stride = (g.stride + period - 1) / period * period;
  g.box = std::max(period, (g.stride + period - 1) / period * period);
  g.height = (height - g.box) / g.stride + 1;
  g.width = (width - g.box) / g.stride + 1;
  g.search_y = max_dy / g.stride + 1;
  g.search_x = max_dx / g.stride + 1;
  // Pad so a circular shift of up to the search radius never wraps image
  // content onto itself.
  g.fft_height = FastFftSize(g.height + g.search_y + 1);
  g.fft_width = FastFftSize(g.width + g.search_x + 1);
  if (g.fft_width % 2) g.fft_width = FastFftSize(g.fft_width + 1);
  if (static_cast<double>(g.fft_height) * g.fft_width >= kLargeCoarseFft) {
    // Camera-sized grids: sizes of 2s and 3s transform faster (see
    // PowerOfTwoThreeSize); the width stays even (r2c's half spectrum).
    g.fft_height = PowerOfTwoThreeSize(g.height + g.search_y + 1);
    g.fft_width = PowerOfTwoThreeSize(g.width + g.search_x + 1);
    if (g.fft_width % 2) g.fft_width = PowerOfTwoThreeSize(g.fft_width + 1);
  }
  return g;
}

void PrepareCoarse(const Plane<float>& coarse, const CoarseGeometry& geometry,
                   float* padded) {
  for (int y = 0; y < coarse.height(); ++y) {
    std::copy_n(coarse.row(y), coarse.width(),
                padded + static_cast<std::size_t>(y) * geometry.fft_width);
  }
  PrepareCoarseInPlace(geometry, coarse.height(), coarse.width(), padded);
}

void PrepareCoarseInPlace(const CoarseGeometry& geometry, int height, int width,
                          float* padded) {
  const std::size_t pitch = static_cast<std::size_t>(geometry.fft_width);
  // The mean: each row in eight float lanes, rows added in double (one
  // chain of double additions over the whole grid was bound by the
  // adder's latency).
  double sum = 0;
  for (int y = 0; y < height; ++y) {
    const float* row = padded + y * pitch;
    V8 lanes = {};
    int x = 0;
    for (; x + 8 <= width; x += 8) lanes += Load8(row + x);
    double row_sum = 0;
    for (; x < width; ++x) row_sum += row[x];
    for (int l = 0; l < 8; ++l) row_sum += lanes[l];
    sum += row_sum;
  }
  const float mean =
      static_cast<float>(sum / (static_cast<double>(height) * width));
  const int ramp_y = height / 8;
  const int ramp_x = width / 8;
  std::vector<float> taper_x(static_cast<std::size_t>(width));
  for (int x = 0; x < width; ++x) taper_x[x] = Taper(x, width, ramp_x);
  for (int y = 0; y < height; ++y) {
    const float ty = Taper(y, height, ramp_y);
    float* row = padded + y * pitch;
    for (int x = 0; x < width; ++x) {
      row[x] = (row[x] - mean) * ty * taper_x[x];
    }
    std::fill(row + width, row + pitch, 0.0f);
  }
  std::fill(padded + height * pitch,
            padded + static_cast<std::size_t>(geometry.fft_height) * pitch,
            0.0f);
}

namespace {

// magnitude^-kWhitening for a normal float magnitude, in 4 lanes (the same
// expression as a scalar for the tail): magnitude = 2^e * f with f in
// [sqrt(1/2), sqrt(2)); ln f from its atanh series (|t| <= 0.172, to t^9);
// -kWhitening * (e + ln f / ln 2) split into an integer n and a remainder
// of at most 1/2 (kWhitening = kHi + kLo with kHi * e exact), 2^remainder
// from its series to degree 7. Within 2 float ulps of std::pow (measured
// over 2e7 magnitudes from 1e-20 to 1e38), at under half its cost, in
// vectors. The surface only proposes candidates; their integer positions
// do not move by such rounding.
// (Returned through `scale`: a function returning an 8-float vector
// changes its ABI between the clones, -Wpsabi.)
template <typename F, typename I>
[[gnu::always_inline]] inline void WhiteningScale(const F& magnitude,
                                                  F& scale) {
  constexpr float kLn2 = 0.693147180559945309f;
  constexpr float kHi = 0.69921875f;  // 179/256
  constexpr float kLo = kWhitening - kHi;
  const I bits = std::bit_cast<I>(magnitude);
  const I e = (bits - 0x3F3504F3) >> 23;
  const F f = std::bit_cast<F>(bits - e * (1 << 23));
  const F t = (f - 1.0f) / (f + 1.0f);
  const F t2 = t * t;
  const F ln_f =
      2.0f * t *
      (1.0f + t2 * (1.0f / 3 + t2 * (1.0f / 5 + t2 * (1.0f / 7 + t2 / 9))));
  F ef, nf;
  I n;
  if constexpr (std::is_same_v<F, float>) {
    ef = static_cast<float>(e);
  } else {
    ef = __builtin_convertvector(e, F);
  }
  const F a = -kHi * ef;
  const F b = -kLo * ef - (kWhitening / kLn2) * ln_f;
  if constexpr (std::is_same_v<F, float>) {
    n = static_cast<I>(a + b + 128.5f) - 128;
    nf = static_cast<float>(n);
  } else {
    n = __builtin_convertvector(a + b + 128.5f, I) - 128;
    nf = __builtin_convertvector(n, F);
  }
  const F x = ((a - nf) + b) * kLn2;
  const F p =
      1.0f +
      x * (1.0f + x * (0.5f + x * (1.0f / 6 +
                                   x * (1.0f / 24 +
                                        x * (1.0f / 120 +
                                             x * (1.0f / 720 + x / 5040))))));
  scale = p * std::bit_cast<F>((n + 127) * (1 << 23));
}

}  // namespace

DSB_VECTOR_CLONES void CrossPower(const float* gt_spectrum,
                                  const float* noisy_spectrum,
                                  std::size_t complex_count, float* out) {
  std::size_t k = 0;
  // Eight complex values at a time, deinterleaved into real and imaginary
  // vectors (two SSE2 registers each in the baseline build, one AVX2
  // register in its clone); every value is the scalar loop's expression
  // (the square root is correctly rounded either way).
  using V8 = float __attribute__((vector_size(32)));
  using M8 = std::int32_t __attribute__((vector_size(32)));
  for (; k + 8 <= complex_count; k += 8) {
    V8 g0, g1, n0, n1;
    std::memcpy(&g0, gt_spectrum + 2 * k, sizeof(g0));
    std::memcpy(&g1, gt_spectrum + 2 * k + 8, sizeof(g1));
    std::memcpy(&n0, noisy_spectrum + 2 * k, sizeof(n0));
    std::memcpy(&n1, noisy_spectrum + 2 * k + 8, sizeof(n1));
    const V8 gr = __builtin_shufflevector(g0, g1, 0, 2, 4, 6, 8, 10, 12, 14);
    const V8 gi = __builtin_shufflevector(g0, g1, 1, 3, 5, 7, 9, 11, 13, 15);
    const V8 nr = __builtin_shufflevector(n0, n1, 0, 2, 4, 6, 8, 10, 12, 14);
    const V8 ni = __builtin_shufflevector(n0, n1, 1, 3, 5, 7, 9, 11, 13, 15);
    // G * conj(N)
    const V8 re = gr * nr + gi * ni;
    const V8 im = gi * nr - gr * ni;
    const V8 squared = re * re + im * im;
    V8 magnitude;
    for (int l = 0; l < 8; ++l) magnitude[l] = std::sqrt(squared[l]);
    // std::pow gives 0 for an overflowed (infinite) magnitude.
    const M8 keep =
        (magnitude > 1e-20f) & (magnitude <= std::numeric_limits<float>::max());
    V8 whitening;
    WhiteningScale<V8, M8>(magnitude, whitening);
    const V8 scale = std::bit_cast<V8>(std::bit_cast<M8>(whitening) & keep);
    const V8 out_re = re * scale, out_im = im * scale;
    const V8 lo =
        __builtin_shufflevector(out_re, out_im, 0, 8, 1, 9, 2, 10, 3, 11);
    const V8 hi =
        __builtin_shufflevector(out_re, out_im, 4, 12, 5, 13, 6, 14, 7, 15);
    std::memcpy(out + 2 * k, &lo, sizeof(lo));
    std::memcpy(out + 2 * k + 8, &hi, sizeof(hi));
  }
  for (; k < complex_count; ++k) {
    const float gr = gt_spectrum[2 * k], gi = gt_spectrum[2 * k + 1];
    const float nr = noisy_spectrum[2 * k], ni = noisy_spectrum[2 * k + 1];
    // G * conj(N)
    const float re = gr * nr + gi * ni;
    const float im = gi * nr - gr * ni;
    const float magnitude = std::sqrt(re * re + im * im);
    float scale = 0.0f;
    if (magnitude > 1e-20f && magnitude <= std::numeric_limits<float>::max()) {
      WhiteningScale<float, std::int32_t>(magnitude, scale);
    }
    out[2 * k] = re * scale;
    out[2 * k + 1] = im * scale;
  }
}

std::vector<CoarsePeak> FindCoarsePeaks(const float* surface,
                                        const CoarseGeometry& g, int count) {
  const int h = g.fft_height, w = g.fft_width;
  auto at = [&](int dy, int dx) {
    const int y = (dy % h + h) % h;
    const int x = (dx % w + w) % w;
    return surface[static_cast<std::size_t>(y) * w + x];
  };
  struct Local {
    int dy, dx;
    float value;
  };
  std::vector<Local> maxima;
  for (int dy = -g.search_y; dy <= g.search_y; ++dy) {
    for (int dx = -g.search_x; dx <= g.search_x; ++dx) {
      const float v = at(dy, dx);
      bool is_max = true;
      for (int ky = -1; ky <= 1 && is_max; ++ky) {
        for (int kx = -1; kx <= 1; ++kx) {
          if ((ky || kx) && at(dy + ky, dx + kx) > v) {
            is_max = false;
            break;
          }
        }
      }
      if (is_max) maxima.push_back({dy, dx, v});
    }
  }
  std::sort(maxima.begin(), maxima.end(),
            [](const Local& a, const Local& b) { return a.value > b.value; });
  std::vector<CoarsePeak> peaks;
  for (const Local& m : maxima) {
    if (static_cast<int>(peaks.size()) >= count) break;
    CoarsePeak peak;
    const double oy =
        ParabolicOffset(at(m.dy - 1, m.dx), m.value, at(m.dy + 1, m.dx));
    const double ox =
        ParabolicOffset(at(m.dy, m.dx - 1), m.value, at(m.dy, m.dx + 1));
    peak.dy = (m.dy + oy) * g.stride;
    peak.dx = (m.dx + ox) * g.stride;
    peak.value = m.value;
    peaks.push_back(peak);
  }
  return peaks;
}

namespace {

FineResult FineSearchOnce(const RawImage& gt,
                          const std::array<float, 3>& gt_balance,
                          const RawImage& noisy,
                          const std::array<float, 3>& noisy_balance,
                          const std::array<bool, 3>& used,
                          const std::vector<CoarsePeak>& candidates, int radius,
                          int max_dy, int max_dx, bool all_candidates,
                          std::vector<FineResult>* winners = nullptr) {
  const int height = gt.height(), width = gt.width();
  const int period = gt.cfa.period();
  const float clip = gt.meta.overexposure_lb;
  const float strongest = candidates.empty() ? 0.0f : candidates[0].value;
  // The best score that is a local maximum inside its candidate's window,
  // and the best on a window's edge (where the score still rises outward).
  // A candidate next to a stronger peak (a side lobe of the coarse surface)
  // reaches up that peak's flank to its window's edge; on a small, noisy
  // overlap such a flank, scored on its own tiles and mask, can beat the
  // peak scored on the peak's own, so an edge wins only where no window
  // holds a maximum.
  FineResult best, best_edge;
  for (std::size_t c = 0; c < candidates.size(); ++c) {
    const CoarsePeak& candidate = candidates[c];
    // Weak secondary peaks are not worth a fine search: a moved object or
    // a periodic structure strong enough to compete makes a peak of a
    // comparable height, and those are verified.
    if (!all_candidates && c > 0 && strongest > 0 &&
        candidate.value < kCandidateFloor * strongest) {
      continue;
    }
    const int cy = std::clamp(static_cast<int>(std::lround(candidate.dy)),
                              -max_dy, max_dy);
    const int cx = std::clamp(static_cast<int>(std::lround(candidate.dx)),
                              -max_dx, max_dx);
    // Noisy tiles at t must keep t + c + [-radius, radius + size + period)
    // inside the GT and t + [0, size + period) inside the noisy image.
    const int lo_y = std::max(0, radius - cy);
    const int lo_x = std::max(0, radius - cx);
    const int room_y = height - period + 1 - std::max(0, cy + radius) - lo_y;
    const int room_x = width - period + 1 - std::max(0, cx + radius) - lo_x;
    if (room_y < kMinTile || room_x < kMinTile) continue;

    // Clipped highlights are the brightest, flattest parts of a GT and
    // would dominate a correlation they carry no position information for,
    // so they are masked: every luma sample whose period box touches a
    // clipped noisy pixel, or whose GT counterpart at any searched offset
    // does.
    auto make_tile = [&](int y, int x, int h, int w) {
      LumaTile t{y,
                 x,
                 h,
                 w,
                 PeriodLuma(noisy, noisy_balance, y, x, h, w),
                 UnclippedBoxes(noisy, noisy.meta.overexposure_lb, used, y, x,
                                h, w, period, period)};
      ClearClippedBoxes(gt, clip, used, y + cy - radius, x + cx - radius, h, w,
                        period + 2 * radius, period + 2 * radius, t.mask);
      return t;  // ChooseTiles centres it
    };
    // Mostly clipped tiles are not worth preparing; the mask takes care of
    // clipping in the others.
    auto worth_preparing = [&](int y, int x, int size) {
      int clipped = 0;
      for (int i = 0; i < size + period; i += 2) {
        const float* row = gt.pixels.row(y + cy + i) + x + cx;
        for (int j = 0; j < size + period; j += 2) {
          clipped +=
              row[j] >= clip &&
              used[static_cast<int>(gt.cfa.color_at(y + cy + i, x + cx + j))];
        }
      }
      return clipped * 4 <= (size + period) * (size + period) / 2;
    };
    const std::vector<LumaTile> tiles =
        ChooseTiles(lo_y, lo_x, room_y, room_x, make_tile, worth_preparing);
    if (tiles.empty()) continue;

    // One normalised cross-correlation over all tiles together:
    // sum(cov) / sqrt(sum(var_a) * sum(var_b)). Textured tiles weigh more
    // than flat ones, whose correlation is mostly noise.
    const int window = 2 * radius + 1;
    const std::size_t offsets = static_cast<std::size_t>(window) * window;
    std::vector<double> cross(offsets, 0.0), b_var(offsets, 0.0);
    double a_energy = 0;
    for (const LumaTile& t : tiles) {
      const Plane<float> gt_luma =
          PeriodLuma(gt, gt_balance, t.y + cy - radius, t.x + cx - radius,
                     t.h + 2 * radius, t.w + 2 * radius);
      if (t.count < 1) continue;
      if (t.count >= kSparseMask * t.h * t.w) {
        AddSparselyMaskedCorrelation(t.luma, t.mask, t.count, gt_luma, window,
                                     cross.data(), b_var.data());
      } else {
        AddCorrelation(t.luma, t.mask, t.count, gt_luma, window, cross.data(),
                       b_var.data());
      }
      a_energy += t.energy;
    }
    FineResult own;  // this candidate's best interior maximum
    std::vector<double> scores(offsets, 0.0);
    for (std::size_t o = 0; o < offsets; ++o) {
      const double denominator = std::sqrt(a_energy * b_var[o]);
      scores[o] = denominator > 0 ? cross[o] / denominator : 0.0;
    }
    for (int oy = 0; oy < window; ++oy) {
      for (int ox = 0; ox < window; ++ox) {
        const double score = scores[oy * window + ox];
        const int dy = cy + oy - radius, dx = cx + ox - radius;
        if (std::abs(dy) > max_dy || std::abs(dx) > max_dx) continue;
        // On the window's edge with a searchable shift beyond it.
        const bool edge = (oy == 0 && std::abs(dy - 1) <= max_dy) ||
                          (oy == window - 1 && std::abs(dy + 1) <= max_dy) ||
                          (ox == 0 && std::abs(dx - 1) <= max_dx) ||
                          (ox == window - 1 && std::abs(dx + 1) <= max_dx);
        const bool wins_own = !edge && score > own.score;
        FineResult& slot = edge ? best_edge : best;
        if (score <= slot.score && !wins_own) continue;
        FineResult here;
        here.score = score;
        here.dy = dy;
        here.dx = dx;
        auto at = [&](int y, int x) { return scores[y * window + x]; };
        here.dy_subpx =
            dy + ((oy > 0 && oy < window - 1)
                      ? ParabolicOffset(at(oy - 1, ox), score, at(oy + 1, ox))
                      : 0.0);
        here.dx_subpx =
            dx + ((ox > 0 && ox < window - 1)
                      ? ParabolicOffset(at(oy, ox - 1), score, at(oy, ox + 1))
                      : 0.0);
        if (wins_own) own = here;
        if (score > slot.score) slot = here;
      }
    }
    if (winners != nullptr && own.score >= -1) winners->push_back(own);
  }
  return best.score >= -1 ? best : best_edge;
}

}  // namespace

namespace {

// Per colour, the share of sampled pixels at or above the image's clipping
// level.
// The clipped pixels of one row at each column modulo 24 (a multiple of
// both CFA periods), 24 columns at a time in three vectors of counters:
// counts, so any order gives the same.
DSB_VECTOR_CLONES void ClippedByColumn(const float* row, int width, float clip,
                                       std::array<int, 24>& counts) {
  using M8 = std::int32_t __attribute__((vector_size(32)));
  M8 c[3] = {};
  int x = 0;
  for (; x + 24 <= width; x += 24) {
    for (int v = 0; v < 3; ++v) {
      V8 values;
      std::memcpy(&values, row + x + 8 * v, sizeof(values));
      c[v] -= values >= clip;  // -1 where clipped
    }
  }
  for (int l = 0; l < 24; ++l) counts[l] = c[l / 8][l % 8];
  for (; x < width; ++x) counts[x % 24] += row[x] >= clip;
}

std::array<double, 3> ClippedShares(const RawImage& image) {
  const int period = image.cfa.period();
  const float clip = image.meta.overexposure_lb;
  std::array<double, 3> clipped{}, total{};
  auto add_row = [&](int y) {
    const float* row = image.pixels.row(y);
    std::array<int, 24> by_column;
    ClippedByColumn(row, image.width(), clip, by_column);
    for (int k = 0; k < period && k < image.width(); ++k) {
      // The columns k, k + period, ... of the row.
      const int n = (image.width() - k + period - 1) / period;
      int c = 0;
      for (int l = k; l < 24; l += period) c += by_column[l];
      const int colour = static_cast<int>(image.cfa.color_at(y, k));
      clipped[colour] += c;
      total[colour] += n;
    }
  };
  // Rows 2k * step and 2k * step + 1 for about kClipCountRowPairs values
  // of k; an even step that is not a multiple of 3 visits every row phase
  // of Bayer and X-Trans.
  int step = std::max(4, image.height() / kClipCountRowPairs / 2 * 2);
  if (step % 3 == 0) step += 2;
  for (int y = 0; y < image.height(); y += step) {
    add_row(y);
    if (y + 1 < image.height()) add_row(y + 1);
  }
  std::array<double, 3> shares{};
  for (int c = 0; c < 3; ++c) {
    shares[c] = total[c] > 0 ? clipped[c] / total[c] : 0.0;
  }
  return shares;
}

}  // namespace

namespace {

// The pooled score of step 2 at each of `shifts` (a few, close together),
// all on one set of tiles and one clipping mask (the union of the GT's
// clipped period boxes at every one of the shifts), so the scores compare
// the shifts alone. Empty when the shifts leave no room for a tile.
std::vector<double> ScoreOnCommonTiles(
    const RawImage& gt, const std::array<float, 3>& gt_weights,
    const RawImage& noisy, const std::array<float, 3>& noisy_weights,
    const std::array<bool, 3>& used,
    const std::vector<std::pair<int, int>>& shifts) {
  const int height = gt.height(), width = gt.width();
  const int period = gt.cfa.period();
  int lo_y = 0, lo_x = 0, hi_y = 0, hi_x = 0;
  for (const auto& [dy, dx] : shifts) {
    lo_y = std::max(lo_y, -dy);
    lo_x = std::max(lo_x, -dx);
    hi_y = std::max(hi_y, dy);
    hi_x = std::max(hi_x, dx);
  }
  const int room_y = height - period + 1 - hi_y - lo_y;
  const int room_x = width - period + 1 - hi_x - lo_x;
  if (room_y < kMinTile || room_x < kMinTile) return {};
  auto make_tile = [&](int y, int x, int h, int w) {
    LumaTile t{y,
               x,
               h,
               w,
               PeriodLuma(noisy, noisy_weights, y, x, h, w),
               UnclippedBoxes(noisy, noisy.meta.overexposure_lb, used, y, x, h,
                              w, period, period)};
    for (const auto& [dy, dx] : shifts) {
      ClearClippedBoxes(gt, gt.meta.overexposure_lb, used, y + dy, x + dx, h, w,
                        period, period, t.mask);
    }
    return t;  // ChooseTiles centres it
  };
  const std::vector<LumaTile> tiles =
      ChooseTiles(lo_y, lo_x, room_y, room_x, make_tile,
                  [](int, int, int) { return true; });
  std::vector<double> scores;
  for (const auto& [dy, dx] : shifts) {
    double cross = 0, b_var = 0, a_energy = 0;
    for (const LumaTile& t : tiles) {
      if (t.count < 1) continue;
      const Plane<float> gt_luma =
          PeriodLuma(gt, gt_weights, t.y + dy, t.x + dx, t.h, t.w);
      AddCorrelation(t.luma, t.mask, t.count, gt_luma, 1, &cross, &b_var);
      a_energy += t.energy;
    }
    const double denominator = std::sqrt(a_energy * b_var);
    scores.push_back(denominator > 0 ? cross / denominator : 0.0);
  }
  return scores;
}

}  // namespace

std::array<bool, 3> FineColours(const RawImage& gt, const RawImage& noisy) {
  const std::array<double, 3> gt_shares = ClippedShares(gt);
  const std::array<double, 3> noisy_shares = ClippedShares(noisy);
  std::array<bool, 3> used{};
  bool any = false;
  for (int c = 0; c < 3; ++c) {
    used[c] = std::max(gt_shares[c], noisy_shares[c]) <= kHeavilyClipped;
    any = any || used[c];
  }
  // Every colour heavily clipped: keep them all and let the clipping mask
  // take out what it must.
  if (!any) used = {true, true, true};
  return used;
}

FineResult FineSearch(const RawImage& gt,
                      const std::array<float, 3>& gt_balance,
                      const RawImage& noisy,
                      const std::array<float, 3>& noisy_balance,
                      const std::vector<CoarsePeak>& candidates, int radius,
                      int max_dy, int max_dx) {
  const std::array<bool, 3> used = FineColours(gt, noisy);
  std::array<float, 3> gt_weights = gt_balance, noisy_weights = noisy_balance;
  for (int c = 0; c < 3; ++c) {
    if (!used[c]) gt_weights[c] = noisy_weights[c] = 0.0f;
  }
  std::vector<FineResult> winners;
  FineResult best =
      FineSearchOnce(gt, gt_weights, noisy, noisy_weights, used, candidates,
                     radius, max_dy, max_dx, false, &winners);
  // Candidates whose windows found maxima a few pixels apart are one broad
  // peak split between windows, each scored on its own tiles and clipping
  // mask (they depend on the shifts a window spans), which are not
  // comparable to the last digit. Those maxima are scored again on one set
  // of tiles and one mask, and the best of them wins.
  if (best.score >= -1) {
    std::vector<FineResult> near = {best};
    for (const FineResult& w : winners) {
      if (std::abs(w.dy - best.dy) > kSplitPeak ||
          std::abs(w.dx - best.dx) > kSplitPeak ||
          (w.dy == best.dy && w.dx == best.dx)) {
        continue;
      }
      near.push_back(w);
    }
    if (near.size() > 1) {
      std::vector<std::pair<int, int>> shifts;
      for (const FineResult& w : near) shifts.emplace_back(w.dy, w.dx);
      const std::vector<double> scores = ScoreOnCommonTiles(
          gt, gt_weights, noisy, noisy_weights, used, shifts);
      if (!scores.empty()) {
        const std::size_t k =
            std::max_element(scores.begin(), scores.end()) - scores.begin();
        best = near[k];
      }
    }
  }
  if (best.score < -1) {
    // The strong candidates left no room for tiles: try the weak ones.
    best = FineSearchOnce(gt, gt_weights, noisy, noisy_weights, used,
                          candidates, radius, max_dy, max_dx, true);
  }
  return best;
}

RefineSampling RefineSamplingOf(const Overlap& overlap) {
  const double pixels = static_cast<double>(overlap.height) * overlap.width;
  // About 256 blocks, so a moved object of 10% of the frame (a larger
  // share of a small overlap) stays a minority of them.
  return {RowPairStep(pixels, kRefineSamples),
          std::clamp(static_cast<int>(std::sqrt(pixels / 256)), 16, 256)};
}

namespace {

// The mean loss of BlockGainMatchedLoss's sums: the blocks' sums and
// counts added in order.
double MeanOfBlocks(const Plane<double>& sums, const Plane<double>& counts) {
  double total = 0, count = 0;
  for (std::size_t k = 0; k < sums.pixel_count(); ++k) {
    total += sums.data()[k];
    count += counts.data()[k];
  }
  return count > 0 ? total / count : 0.0;
}

}  // namespace

double PairLoss(const RawImage& gt, const RawImage& noisy,
                const Overlap& overlap, double raw_gain) {
  if (overlap.empty()) return 0.0;
  const RefineSampling sampling = RefineSamplingOf(overlap);
  Plane<double> sums((gt.width() + sampling.block - 1) / sampling.block,
                     (gt.height() + sampling.block - 1) / sampling.block);
  Plane<double> counts(sums.width(), sums.height());
  BlockGainMatchedLoss(gt, noisy, overlap, raw_gain, sampling.row_step,
                       sampling.block, sums, counts);
  return MeanOfBlocks(sums, counts);
}

RefineResult RefineShift(const RawImage& gt, const RawImage& noisy, int dy,
                         int dx, double raw_gain, int max_dy, int max_dx) {
  const Overlap centre = ComputeOverlap(gt.height(), gt.width(), dy, dx);
  RefineResult best{dy, dx, 0.0};
  if (centre.empty()) return best;
  // About kRefineSamples pixels per shift, in ~256 blocks.
  const auto [step, block] = RefineSamplingOf(centre);
  const int blocks_y = (gt.height() + block - 1) / block;
  const int blocks_x = (gt.width() + block - 1) / block;
  // The centre and its neighbours within the search range, their block
  // losses in one sweep (BlockGainMatchedLosses).
  std::vector<Overlap> overlaps = {centre};
  std::vector<std::pair<int, int>> shifts = {{dy, dx}};
  for (int ny = dy - 1; ny <= dy + 1; ++ny) {
    for (int nx = dx - 1; nx <= dx + 1; ++nx) {
      if ((ny == dy && nx == dx) || std::abs(ny) > max_dy ||
          std::abs(nx) > max_dx) {
        continue;
      }
      overlaps.push_back(ComputeOverlap(gt.height(), gt.width(), ny, nx));
      shifts.emplace_back(ny, nx);
    }
  }
  std::vector<Plane<double>> sums(overlaps.size(),
                                  Plane<double>(blocks_x, blocks_y));
  std::vector<Plane<double>> counts(overlaps.size(),
                                    Plane<double>(blocks_x, blocks_y));
  BlockGainMatchedLosses(gt, noisy, overlaps, raw_gain, step, block, sums,
                         counts);
  const Plane<double>& centre_sums = sums[0];
  const Plane<double>& centre_counts = counts[0];
  best.loss = MeanOfBlocks(centre_sums, centre_counts);
  double full = 0;
  for (std::size_t k = 0; k < centre_counts.pixel_count(); ++k) {
    full = std::max(full, centre_counts.data()[k]);
  }
  double best_median = 0;
  std::vector<double> differences;
  for (std::size_t s = 1; s < overlaps.size(); ++s) {
    // Blocks (in noisy coordinates) that both shifts cover well.
    differences.clear();
    for (std::size_t k = 0; k < counts[s].pixel_count(); ++k) {
      const double n0 = centre_counts.data()[k], n1 = counts[s].data()[k];
      if (n0 < 0.5 * full || n1 < 0.5 * full) continue;
      differences.push_back(sums[s].data()[k] / n1 -
                            centre_sums.data()[k] / n0);
    }
    if (differences.size() < kRefineMinBlocks) continue;
    // A sign test: the neighbour must be better on clearly more blocks than
    // it is worse on (kRefineSignificance standard deviations of a fair
    // coin), not merely on half of them, so noise alone does not move a
    // shift the fine search resolved.
    double better = 0, worse = 0;
    for (double d : differences) {
      better += d < 0;
      worse += d > 0;
    }
    if (better - worse < kRefineSignificance * std::sqrt(better + worse)) {
      continue;
    }
    auto middle = differences.begin() + differences.size() / 2;
    std::nth_element(differences.begin(), middle, differences.end());
    if (*middle < best_median) {
      best_median = *middle;
      best.dy = shifts[s].first;
      best.dx = shifts[s].second;
    }
  }
  return best;
}

}  // namespace dsb
