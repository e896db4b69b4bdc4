#include "align/tile_correlation.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "align/float_lanes.h"
#include "common/vector_clones.h"

namespace dsb {

namespace {

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
  double tails[N];
  for (int n = 0; n < N; ++n) {
    double row = 0;
    for (int k = j; k < w; ++k) row += pa[k] * pb[n + k];
    tails[n] = row;
  }
  // Each offset's row: its tail, then its lanes in order, added in double;
  // four offsets at a time in the lanes of a vector of doubles.
  int n = 0;
  for (; n + 4 <= N; n += 4) {
    const V8 four[4] = {lanes[n], lanes[n + 1], lanes[n + 2], lanes[n + 3]};
    D4 columns[8];
    TransposeToDoubles(four, columns);
    D4 row, sum;
    std::memcpy(&row, tails + n, sizeof(row));
    for (int l = 0; l < 8; ++l) row += columns[l];
    std::memcpy(&sum, sums + n, sizeof(sum));
    sum += row;
    std::memcpy(sums + n, &sum, sizeof(sum));
  }
  for (; n < N; ++n) {
    double row = tails[n];
    for (int l = 0; l < 8; ++l) row += lanes[n][l];
    sums[n] += row;
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

// A masked pixel of a tile (row i, column j).
struct MaskedPixel {
  int i, j;
};

// The pixels where `mask` is 0, row by row, each row's in column order:
// eight at a time past runs with none masked (most of a tile), by one
// vector comparison.
DSB_VECTOR_CLONES void FindMasked(const Plane<float>& mask,
                                  std::vector<MaskedPixel>& masked) {
  using M8 = std::int32_t __attribute__((vector_size(32)));
  const int h = mask.height(), w = mask.width();
  for (int i = 0; i < h; ++i) {
    const float* pm = mask.row(i);
    int j = 0;
    for (; j + 8 <= w; j += 8) {
      const M8 zero = Load8(pm + j) == 0.0f;
      std::uint64_t parts[4];
      std::memcpy(parts, &zero, sizeof(parts));
      if ((parts[0] | parts[1] | parts[2] | parts[3]) == 0) continue;
      for (int l = 0; l < 8; ++l) {
        if (pm[j + l] == 0.0f) masked.push_back({i, j + l});
      }
    }
    for (; j < w; ++j) {
      if (pm[j] == 0.0f) masked.push_back({i, j});
    }
  }
}

// The sums of `n` values and of their squares, in 32 float lanes (each
// lane a chain of at most *terms additions; the tail in double).
DSB_VECTOR_CLONES void LaneSums(const float* v, std::size_t n, double* sum,
                                double* sum_sq, std::size_t* terms) {
  V8 s1[4] = {}, s2[4] = {};
  std::size_t k = 0;
  for (; k + 32 <= n; k += 32) {
    for (int l = 0; l < 4; ++l) {
      const V8 x = Load8(v + k + 8 * l);
      s1[l] += x;
      s2[l] += x * x;
    }
  }
  *terms = k / 32;
  for (; k + 8 <= n; k += 8) {
    const V8 x = Load8(v + k);
    s1[0] += x;
    s2[0] += x * x;
    ++*terms;
  }
  double a = 0, b = 0;
  for (; k < n; ++k) {
    a += v[k];
    b += static_cast<double>(v[k]) * v[k];
  }
  for (int l = 0; l < 4; ++l) {
    for (int e = 0; e < 8; ++e) {
      a += s1[l][e];
      b += s2[l][e];
    }
  }
  *sum = a;
  *sum_sq = b;
}

// AddSparselyMaskedCorrelation's masked terms for one row of W offsets:
// sum_b[ox] -= v and sum_bb[ox] -= v * v, v = b(oy + i, j + ox) in double,
// for each masked pixel (i, j) in order, four offsets to a vector of
// doubles (the same operations on each offset's chain; a loop over a
// runtime window ran one offset at a time, ~9 instructions each, the
// largest part of this function's own count).
template <int W>
[[gnu::always_inline]] inline void TakeOutMaskedTerms(
    const Plane<float>& b, int oy, const std::vector<MaskedPixel>& masked,
    double* sum_b, double* sum_bb) {
  using F4 = float __attribute__((vector_size(16)));
  constexpr int kVectors = W / 4, kTail = W % 4;
  D4 s1[kVectors], s2[kVectors];
  for (int v = 0; v < kVectors; ++v) {
    std::memcpy(&s1[v], sum_b + 4 * v, sizeof(D4));
    std::memcpy(&s2[v], sum_bb + 4 * v, sizeof(D4));
  }
  double t1[kTail + 1], t2[kTail + 1];
  for (int t = 0; t < kTail; ++t) {
    t1[t] = sum_b[4 * kVectors + t];
    t2[t] = sum_bb[4 * kVectors + t];
  }
  for (const MaskedPixel& m : masked) {
    const float* row = b.row(oy + m.i) + m.j;
    for (int v = 0; v < kVectors; ++v) {
      F4 f;
      std::memcpy(&f, row + 4 * v, sizeof(f));
      const D4 d = __builtin_convertvector(f, D4);
      s1[v] -= d;
      s2[v] -= d * d;
    }
    for (int t = 0; t < kTail; ++t) {
      const double d = row[4 * kVectors + t];
      t1[t] -= d;
      t2[t] -= d * d;
    }
  }
  for (int v = 0; v < kVectors; ++v) {
    std::memcpy(sum_b + 4 * v, &s1[v], sizeof(D4));
    std::memcpy(sum_bb + 4 * v, &s2[v], sizeof(D4));
  }
  for (int t = 0; t < kTail; ++t) {
    sum_b[4 * kVectors + t] = t1[t];
    sum_bb[4 * kVectors + t] = t2[t];
  }
}

// TakeOutMaskedTerms for the fine search's windows (FineRadius 2 to 5, as
// Dots), else one offset at a time in the same order; inlined, so each
// clone of AddSparselyMaskedCorrelation has its own.
[[gnu::always_inline]] inline void TakeOutMaskedTerms(
    const Plane<float>& b, int oy, int window,
    const std::vector<MaskedPixel>& masked, double* sum_b, double* sum_bb) {
  switch (window) {
    case 5:
      TakeOutMaskedTerms<5>(b, oy, masked, sum_b, sum_bb);
      return;
    case 7:
      TakeOutMaskedTerms<7>(b, oy, masked, sum_b, sum_bb);
      return;
    case 9:
      TakeOutMaskedTerms<9>(b, oy, masked, sum_b, sum_bb);
      return;
    case 11:
      TakeOutMaskedTerms<11>(b, oy, masked, sum_b, sum_bb);
      return;
    default:
      break;
  }
  for (const MaskedPixel& m : masked) {
    const float* row = b.row(oy + m.i) + m.j;
    for (int ox = 0; ox < window; ++ox) {
      const double v = row[ox];
      sum_b[ox] -= v;
      sum_bb[ox] -= v * v;
    }
  }
}

}  // namespace

double CentredEnergyBound(const Plane<float>& luma) {
  const std::size_t n = luma.pixel_count();
  if (n == 0) return 0;
  double sum = 0, sum_sq = 0;
  std::size_t terms = 0;
  LaneSums(luma.data(), n, &sum, &sum_sq, &terms);
  // A float lane of m terms (squares rounded once more) is within
  // gamma = (m + 1) u / (1 - (m + 1) u) of its exact sum relative to the
  // sum of its terms' magnitudes (u = 2^-24); with |sum| <= sqrt(n sum_sq),
  // the variance below is within 3 gamma sum_sq of the exact one, and the
  // double arithmetic adds far less than the fourth gamma allowed here.
  const double u = 0x1p-24, mu = (static_cast<double>(terms) + 1) * u;
  const double gamma = mu / (1 - mu);
  const double variance = std::max(0.0, sum_sq - sum * sum / n);
  // CentreTile's mean is within (2^-24 + n 2^-53) max|v| < 2^-22 max|v| of
  // the unmasked pixels' exact mean, which adds at most n (2^-22 max|v|)^2
  // <= n 2^-44 sum_sq; each rounded difference squared, and the double
  // sum of at most n of them, at most (1 + 2^-22)(1 + n 2^-53) < 1 + 2^-20.
  const double slack =
      (4 * gamma + static_cast<double>(n) * 0x1p-44) * sum_sq * (1 + 2 * gamma);
  return (variance + slack) * (1 + 0x1p-20);
}

WindowSums::WindowSums(const Plane<float>& b, int h, int w, int window)
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

// sums[ox] = sum(a * b_o) for the windows b_o of `b` with top-left (oy,
// ox), ox in [0, window); each offset adds its rows in order.
DSB_VECTOR_CLONES void Dots(const Plane<float>& a, const Plane<float>& b,
                            int oy, int window, double* sums) {
  const int h = a.height(), w = a.width();
  std::fill_n(sums, window, 0.0);
  // Windows of the fine search's radii (FineRadius, 2 to 4: 5, 7, 9
  // offsets; 11 for radius 5) in one pass over a row: a pass of fewer offsets
  // than the adder's latency needs (the 3 of 8 + 3, the 1 of 4 + 1) was bound
  // by it. Each offset's sums are the same whatever offsets share its pass.
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
DSB_VECTOR_CLONES void AddSparselyMaskedCorrelation(
    const Plane<float>& a, const Plane<float>& mask, double count,
    const Plane<float>& b, int window, double* cross, double* b_var) {
  const int h = a.height(), w = a.width();
  const WindowSums sums(b, h, w, window);
  std::vector<MaskedPixel> masked;
  FindMasked(mask, masked);
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
    TakeOutMaskedTerms(b, oy, window, masked, sum_b.data(), sum_bb.data());
    for (int ox = 0; ox < window; ++ox) {
      cross[oy * window + ox] += dots[ox];
      b_var[oy * window + ox] +=
          std::max(0.0, sum_bb[ox] - sum_b[ox] * sum_b[ox] / count);
    }
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

}  // namespace dsb
