#include "mask/cell_rows.h"

#include <algorithm>
#include <limits>

#include "common/vector_clones.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && \
    defined(__ELF__)
#include <immintrin.h>
#define DSB_MASK_XTRANS_AVX512 1
#endif

namespace dsb {

namespace {

int ColorIndex(const CfaPattern& cfa, int y, int x) {
  return static_cast<int>(cfa.color_at(y, x));
}

}  // namespace

CellRowBuilder::CellRowBuilder(PlaneView<const float> gt,
                               PlaneView<const float> noisy,
                               const CfaPattern& gt_cfa,
                               const CfaPattern& noisy_cfa, float gt_lb,
                               float noisy_lb, bool mask_noisy_clipped)
    : gt_(gt),
      noisy_(noisy),
      gt_cfa_(gt_cfa),
      noisy_cfa_(noisy_cfa),
      gt_lb_(gt_lb),
      noisy_lb_(noisy_lb),
      mask_noisy_clipped_(mask_noisy_clipped) {
  const int period = gt_cfa.period();
  if (period != 2 && period != 6) return;  // layout stays empty
  const int s = period == 2 ? 2 : 3;
  layout_.size = s;
  layout_.parity = period / s;
  layout_.rows = gt.height / s;
  layout_.cols = gt.width / s;
  for (int pi = 0; pi < layout_.parity; ++pi) {
    for (int pj = 0; pj < layout_.parity; ++pj) {
      int gt_count[kCellColors] = {};
      int noisy_count[kCellColors] = {};
      for (int y = pi * s; y < (pi + 1) * s; ++y) {
        for (int x = pj * s; x < (pj + 1) * s; ++x) {
          ++gt_count[ColorIndex(gt_cfa, y, x)];
          ++noisy_count[ColorIndex(noisy_cfa, y, x)];
        }
      }
      // Each sample's squared distance to the nearest sample of its colour
      // in the other image, averaged both ways.
      double nearest2[kCellColors] = {};
      double gt_y[kCellColors] = {}, gt_x[kCellColors] = {};
      double noisy_y[kCellColors] = {}, noisy_x[kCellColors] = {};
      for (int y = pi * s; y < (pi + 1) * s; ++y) {
        for (int x = pj * s; x < (pj + 1) * s; ++x) {
          for (int from_gt = 0; from_gt < 2; ++from_gt) {
            const CfaPattern& own = from_gt ? gt_cfa : noisy_cfa;
            const CfaPattern& other = from_gt ? noisy_cfa : gt_cfa;
            const int c = ColorIndex(own, y, x);
            (from_gt ? gt_y : noisy_y)[c] += y;
            (from_gt ? gt_x : noisy_x)[c] += x;
            int best = 1 << 20;
            for (int v = pi * s; v < (pi + 1) * s; ++v) {
              for (int u = pj * s; u < (pj + 1) * s; ++u) {
                if (ColorIndex(other, v, u) != c) continue;
                best = std::min(best, (v - y) * (v - y) + (u - x) * (u - x));
              }
            }
            if (best < (1 << 20)) nearest2[c] += best;
          }
        }
      }
      for (int c = 0; c < kCellColors; ++c) {
        const int ng = gt_count[c];
        const int nn = noisy_count[c];
        layout_.gt_samples[pi][pj][c] = ng;
        layout_.noisy_samples[pi][pj][c] = nn;
        gt_inv_[pi][pj][c] = ng > 0 ? 1.0f / ng : 0.0f;
        noisy_inv_[pi][pj][c] = nn > 0 ? 1.0f / nn : 0.0f;
        layout_.var_factor[pi][pj][c] =
            ng > 0 && nn > 0 ? 0.5f * (1.0f / ng + 1.0f / nn) : 0.0f;
        if (ng > 0 && nn > 0) {
          const double dy = gt_y[c] / ng - noisy_y[c] / nn;
          const double dx = gt_x[c] / ng - noisy_x[c] / nn;
          layout_.displacement2[pi][pj][c] = static_cast<float>(
              0.5 * (nearest2[c] / (ng + nn) + dy * dy + dx * dx) / (s * s));
        }
      }
    }
  }
}

namespace {

// One image's Bayer cells along a cell row: the means of its colours and
// which of them reach `lb`, from the cell row's two pixel rows. The red
// sample sits at `RedPos` of the cell (reading order: 0 and 1 on the first
// row, 2 and 3 on the second), blue diagonally opposite, the two greens at
// the other two positions. The arithmetic is the old per-sample loops',
// element by element: a colour's samples are summed in reading order, the
// sum times 1 / count is the mean, and the largest sample is compared with
// `lb`. Returns the OR of the bits over the row.
template <int RedPos>
DSB_WIDE_VECTOR_CLONES ClipBits
BayerCells(const float* __restrict row0, const float* __restrict row1, int cols,
           float red_inv, float green_inv, float blue_inv, float lb,
           float* __restrict red, float* __restrict green,
           float* __restrict blue, ClipBits* __restrict bits) {
  constexpr int kBlue = 3 - RedPos;
  constexpr int kGreen1 = RedPos == 0 || RedPos == 3 ? 1 : 0;
  constexpr int kGreen2 = RedPos == 0 || RedPos == 3 ? 2 : 3;
  ClipBits any = 0;
  for (int j = 0; j < cols; ++j) {
    const float v[4] = {row0[2 * j], row0[2 * j + 1], row1[2 * j],
                        row1[2 * j + 1]};
    const float r = v[RedPos];
    const float b = v[kBlue];
    const float g_sum = v[kGreen1] + v[kGreen2];
    const float g_peak = std::max(v[kGreen1], v[kGreen2]);
    red[j] = r * red_inv;
    green[j] = g_sum * green_inv;
    blue[j] = b * blue_inv;
    const ClipBits clipped =
        (r >= lb ? 1u : 0u) | (g_peak >= lb ? 2u : 0u) | (b >= lb ? 4u : 0u);
    bits[j] = clipped;
    any |= clipped;
  }
  return any;
}

// out_k[j] = row[3 * j + k] for j < n: the three columns of each 3-wide
// cell, one array each (a stride-3 deinterleave, which vectorises).
DSB_WIDE_VECTOR_CLONES void SplitColumns3(const float* __restrict row, int n,
                                          float* __restrict out0,
                                          float* __restrict out1,
                                          float* __restrict out2) {
  for (int j = 0; j < n; ++j) {
    out0[j] = row[3 * j];
    out1[j] = row[3 * j + 1];
    out2[j] = row[3 * j + 2];
  }
}

// One colour of the X-Trans cells of one parity q: cell j = 2m + q sums
// its L samples src[t][j] in reading order, its mean is the sum times
// `inv`, and the colour's bit goes to `bits` where its largest sample
// reaches `lb`. m < n; results at [m].
template <int L>
DSB_VECTOR_CLONES void XTransColour(const float* const* src, int q, int n,
                                    float inv, float lb, ClipBits bit,
                                    float* __restrict mean,
                                    ClipBits* __restrict bits) {
  if constexpr (L == 0) {
    for (int m = 0; m < n; ++m) mean[m] = 0.0f * inv;
  } else {
    const float* __restrict s[L];
    for (int t = 0; t < L; ++t) s[t] = src[t] + q;
    for (int m = 0; m < n; ++m) {
      float sum = s[0][2 * m];
      float peak = sum;
      for (int t = 1; t < L; ++t) {
        const float v = s[t][2 * m];
        sum += v;
        peak = std::max(peak, v);
      }
      mean[m] = sum * inv;
      bits[m] |= peak >= lb ? bit : 0u;
    }
  }
}

using XTransColourFn = void (*)(const float* const*, int, int, float, float,
                                ClipBits, float*, ClipBits*);
constexpr XTransColourFn kXTransColour[10] = {
    XTransColour<0>, XTransColour<1>, XTransColour<2>, XTransColour<3>,
    XTransColour<4>, XTransColour<5>, XTransColour<6>, XTransColour<7>,
    XTransColour<8>, XTransColour<9>};

// dst[2m + q] = src_q[m]: the two parities' results side by side again.
template <typename T>
DSB_VECTOR_CLONES void Interleave(const T* __restrict even,
                                  const T* __restrict odd, int cols,
                                  T* __restrict dst) {
  const int pairs = cols / 2;
  for (int m = 0; m < pairs; ++m) {
    dst[2 * m] = even[m];
    dst[2 * m + 1] = odd[m];
  }
  if (cols % 2 != 0) dst[cols - 1] = even[pairs];
}

// The X-Trans cells of one cell row in one pass over its three pixel rows,
// without the split columns, the per-parity results and their interleave:
// the pass that waits on memory does the arithmetic too. Each of the cell's
// nine positions p = 3r + k holds colour `colour[q][p]` in cells of parity
// q; a colour's first sample in reading order starts its sum and peak, the
// others are added in reading order (XTransColour's arithmetic, lane by
// lane, so the means are bit for bit the same).
struct XTransProgram {
  int colour[2][9];
  float inv[2][kCellColors];
};

// Cells [from, cols) one at a time.
ClipBits XTransCellsScalar(const float* const* rows, int from, int cols,
                           const XTransProgram& pr, float lb,
                           float* const* means, ClipBits* bits) {
  ClipBits any = 0;
  for (int j = from; j < cols; ++j) {
    const int q = j & 1;
    ClipBits b = 0;
    for (int c = 0; c < kCellColors; ++c) {
      float sum = 0.0f;
      float peak = 0.0f;
      bool seen = false;
      for (int p = 0; p < 9; ++p) {
        if (pr.colour[q][p] != c) continue;
        const float v = rows[p / 3][3 * j + p % 3];
        if (!seen) {
          sum = v;
          peak = v;
          seen = true;
        } else {
          sum += v;
          peak = std::max(peak, v);
        }
      }
      means[c][j] = sum * pr.inv[q][c];
      if (seen && peak >= lb) b |= ClipBits{1u} << c;
    }
    bits[j] = b;
    any |= b;
  }
  return any;
}

#ifdef DSB_MASK_XTRANS_AVX512
// What XTransCellsAvx512's steps share: per position and colour the lanes
// that start the colour's sum and those that add to it, the permutes that
// split three loads into the cells' columns, and the colours' 1 / count.
struct XTransAvx512Program {
  __mmask16 start[9][kCellColors] = {};
  __mmask16 add[9][kCellColors] = {};
  __m512i first[3];
  __m512i second[3];
  __m512 inv[kCellColors];
};

__attribute__((target("avx512f"))) XTransAvx512Program MakeXTransAvx512Program(
    const XTransProgram& pr) {
  XTransAvx512Program v;
  for (int q = 0; q < 2; ++q) {
    const __mmask16 lanes = q == 0 ? 0x5555 : 0xAAAA;
    bool seen[kCellColors] = {};
    for (int p = 0; p < 9; ++p) {
      const int c = pr.colour[q][p];
      (seen[c] ? v.add : v.start)[p][c] |= lanes;
      seen[c] = true;
    }
  }
  for (int k = 0; k < 3; ++k) {
    alignas(64) int a[16];
    alignas(64) int b[16];
    for (int l = 0; l < 16; ++l) {
      const int e = 3 * l + k;
      a[l] = e < 32 ? e : 0;
      b[l] = e < 32 ? l : 16 + (e - 32);
    }
    v.first[k] = _mm512_load_si512(a);
    v.second[k] = _mm512_load_si512(b);
  }
  for (int c = 0; c < kCellColors; ++c) {
    alignas(64) float f[16];
    for (int l = 0; l < 16; ++l) f[l] = pr.inv[l & 1][c];
    v.inv[c] = _mm512_load_ps(f);
  }
  return v;
}

// Cells [j, j + n) of the row, n <= 16: each pixel row's 3n values split
// into the cells' three columns in registers (two permutes a column), then
// per position and colour a masked add and max on the lanes (cells) where
// the position holds the colour: even lanes are parity 0, odd lanes parity
// 1. A row's last n < 16 cells take the same step with masked loads and
// stores (lanes past the row read +0, are not written and hit nothing,
// whatever lb): one cell at a time, looping over the nine positions per
// colour, they cost a quarter of the kernel's time on a 2000-pixel row (10
// of its 666 cells; `perf`).
__attribute__((target("avx512f"), always_inline)) inline void XTransStep(
    const XTransAvx512Program& pr, const float* const* rows, int j, int n,
    __m512 level, float* const* means, ClipBits* bits,
    __mmask16 (&hits)[kCellColors]) {
  const __mmask16 cells = static_cast<__mmask16>((1u << n) - 1);
  const std::uint64_t values = (std::uint64_t{1} << (3 * n)) - 1;
  __m512 v[9];
  for (int r = 0; r < 3; ++r) {
    const float* src = rows[r] + 3 * j;
    const __m512 x0 =
        _mm512_maskz_loadu_ps(static_cast<__mmask16>(values), src);
    const __m512 x1 =
        _mm512_maskz_loadu_ps(static_cast<__mmask16>(values >> 16), src + 16);
    const __m512 x2 =
        _mm512_maskz_loadu_ps(static_cast<__mmask16>(values >> 32), src + 32);
    for (int k = 0; k < 3; ++k) {
      v[3 * r + k] = _mm512_permutex2var_ps(
          _mm512_permutex2var_ps(x0, pr.first[k], x1), pr.second[k], x2);
    }
  }
  const __m512 lowest = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  __m512 sum[kCellColors];
  __m512 peak[kCellColors];
  for (int c = 0; c < kCellColors; ++c) {
    sum[c] = _mm512_setzero_ps();
    peak[c] = lowest;
  }
  // Unrolled, so that the nine columns stay in registers.
#pragma GCC unroll 9
  for (int p = 0; p < 9; ++p) {
#pragma GCC unroll 3
    for (int c = 0; c < kCellColors; ++c) {
      const __mmask16 s = pr.start[p][c];
      if (s != 0) {
        sum[c] = _mm512_mask_mov_ps(sum[c], s, v[p]);
        peak[c] = _mm512_mask_mov_ps(peak[c], s, v[p]);
      }
      const __mmask16 m = pr.add[p][c];
      if (m != 0) {
        sum[c] = _mm512_mask_add_ps(sum[c], m, sum[c], v[p]);
        // v > peak ? v : peak, as std::max(peak, v) (NaN keeps peak).
        peak[c] = _mm512_mask_max_ps(peak[c], m, v[p], peak[c]);
      }
    }
  }
  __m512i b = _mm512_setzero_si512();
  for (int c = 0; c < kCellColors; ++c) {
    _mm512_mask_storeu_ps(means[c] + j, cells,
                          _mm512_mul_ps(sum[c], pr.inv[c]));
    const __mmask16 hit =
        _mm512_mask_cmp_ps_mask(cells, peak[c], level, _CMP_GE_OQ);
    b = _mm512_or_si512(b, _mm512_maskz_set1_epi32(hit, 1 << c));
    hits[c] |= hit;
  }
  _mm512_mask_storeu_epi32(bits + j, cells, b);
}

// 16 cells a step (XTransStep), the row's last cells in one masked step.
__attribute__((target("avx512f"))) ClipBits XTransCellsAvx512(
    const float* const* rows, int cols, const XTransProgram& program, float lb,
    float* const* means, ClipBits* bits) {
  const XTransAvx512Program pr = MakeXTransAvx512Program(program);
  const __m512 level = _mm512_set1_ps(lb);
  __mmask16 hits[kCellColors] = {};
  int j = 0;
  for (; j + 16 <= cols; j += 16) {
    XTransStep(pr, rows, j, 16, level, means, bits, hits);
  }
  if (j < cols) XTransStep(pr, rows, j, cols - j, level, means, bits, hits);
  ClipBits any = 0;
  for (int c = 0; c < kCellColors; ++c) {
    if (hits[c] != 0) any |= ClipBits{1u} << c;
  }
  return any;
}

// All ones in the lanes l of 8 where bit l of `m` is set.
__attribute__((target("avx2"), always_inline)) inline __m256 LaneMask(int m) {
  const __m256i bit = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
  return _mm256_castsi256_ps(
      _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_set1_epi32(m), bit), bit));
}

// Even lanes of the vector at byte `even` of `base`, odd lanes of the one
// at byte `odd`.
__attribute__((target("avx2"), always_inline)) inline __m256 Term(
    const char* base, int even, int odd, __m256 odd_lanes) {
  return _mm256_blendv_ps(*reinterpret_cast<const __m256*>(base + even),
                          *reinterpret_cast<const __m256*>(base + odd),
                          odd_lanes);
}

// The same with AVX2, 8 cells a step, for CPUs without AVX-512 (where the
// portable path split each pixel row into the cells' columns in memory and
// read them back per parity and colour, then interleaved the parities:
// ~18 % of an X-Trans photo pair's samples on such a CPU). Column k of 8
// cells is pixel 3l + k, l < 8, of the 24 values of three loads: the lanes
// each load contributes are disjoint, so two blends and one permute give a
// column. AVX2 has no masked arithmetic, and masking each position and
// colour with blends took more instructions than the portable path and
// no less time; instead a colour's
// samples are its terms in reading order, a term holding in even lanes
// (parity 0) the parity's k-th sample of the colour and in odd lanes
// parity 1's: every lane then adds and maxes the same terms. Where one
// parity has fewer samples of the colour its lanes take -0.0 (x + -0.0 is
// x for every x, NaN included; max(-0.0, peak) differs from peak only
// where peak < 0, so the bit, peak >= lb, is the same for lb > 0, the
// only case this kernel is used for); where it has none, the first term is
// +0.0 (the portable path's sum 0, never clipped).
__attribute__((target("avx2"))) ClipBits XTransCellsAvx2(
    const float* const* rows, int cols, const XTransProgram& pr, float lb,
    float* const* means, ClipBits* bits) {
  constexpr int kZero = 9;      // +0.0: a colour's first term, none there
  constexpr int kNegZero = 10;  // -0.0: its later terms, none left there
  // Each colour's terms, colour after colour: the source of even and odd
  // lanes (a position, kZero or kNegZero).
  int even[2 * 9 + kCellColors];
  int odd[2 * 9 + kCellColors];
  int terms[kCellColors];
  int t = 0;
  for (int c = 0; c < kCellColors; ++c) {
    int at[2][9];
    int n[2] = {0, 0};
    for (int q = 0; q < 2; ++q) {
      for (int p = 0; p < 9; ++p) {
        if (pr.colour[q][p] == c) at[q][n[q]++] = p;
      }
    }
    terms[c] = std::max(1, std::max(n[0], n[1]));
    for (int k = 0; k < terms[c]; ++k, ++t) {
      even[t] = k < n[0] ? at[0][k] : k == 0 ? kZero : kNegZero;
      odd[t] = k < n[1] ? at[1][k] : k == 0 ? kZero : kNegZero;
    }
  }
  // Column k: lanes of the second load where element 3l + k lies in it, of
  // the third likewise, then the lanes into cell order.
  __m256 from1[3];
  __m256 from2[3];
  __m256i order[3];
  for (int k = 0; k < 3; ++k) {
    int m1 = 0;
    int m2 = 0;
    alignas(32) int idx[8];
    for (int l = 0; l < 8; ++l) {
      const int e = 3 * l + k;  // element of the 24
      idx[l] = e % 8;           // its lane in its load
      if (e / 8 == 1) m1 |= 1 << (e % 8);
      if (e / 8 == 2) m2 |= 1 << (e % 8);
    }
    from1[k] = LaneMask(m1);
    from2[k] = LaneMask(m2);
    order[k] = _mm256_load_si256(reinterpret_cast<const __m256i*>(idx));
  }
  const __m256 odd_lanes = LaneMask(0xAA);
  __m256 inv[kCellColors];
  for (int c = 0; c < kCellColors; ++c) {
    alignas(32) float v[8];
    for (int l = 0; l < 8; ++l) v[l] = pr.inv[l & 1][c];
    inv[c] = _mm256_load_ps(v);
  }
  __m256i colour_bit[kCellColors];
  for (int c = 0; c < kCellColors; ++c) {
    colour_bit[c] = _mm256_set1_epi32(1 << c);
  }
  // The terms' sources as byte offsets into v.
  for (int k = 0; k < t; ++k) {
    even[k] *= static_cast<int>(sizeof(__m256));
    odd[k] *= static_cast<int>(sizeof(__m256));
  }
  const __m256 level = _mm256_set1_ps(lb);
  __m256 v[11];
  const char* base = reinterpret_cast<const char*>(v);
  v[kZero] = _mm256_setzero_ps();
  v[kNegZero] = _mm256_set1_ps(-0.0f);
  int hits = 0;
  const int blocks = cols / 8;
  for (int blk = 0; blk < blocks; ++blk) {
    for (int r = 0; r < 3; ++r) {
      const float* src = rows[r] + 24 * blk;
      const __m256 x0 = _mm256_loadu_ps(src);
      const __m256 x1 = _mm256_loadu_ps(src + 8);
      const __m256 x2 = _mm256_loadu_ps(src + 16);
      for (int k = 0; k < 3; ++k) {
        const __m256 mixed =
            _mm256_blendv_ps(_mm256_blendv_ps(x0, x1, from1[k]), x2, from2[k]);
        v[3 * r + k] = _mm256_permutevar8x32_ps(mixed, order[k]);
      }
    }
    __m256i b = _mm256_setzero_si256();
    int u = 0;
#pragma GCC unroll 3
    for (int c = 0; c < kCellColors; ++c) {
      const __m256 first = Term(base, even[u], odd[u], odd_lanes);
      ++u;
      __m256 sum = first;
      __m256 peak = first;
      for (int k = 1; k < terms[c]; ++k, ++u) {
        const __m256 x = Term(base, even[u], odd[u], odd_lanes);
        sum = _mm256_add_ps(sum, x);
        // x > peak ? x : peak, as std::max(peak, x) (NaN keeps peak).
        peak = _mm256_max_ps(x, peak);
      }
      _mm256_storeu_ps(means[c] + 8 * blk, _mm256_mul_ps(sum, inv[c]));
      const __m256 hit = _mm256_cmp_ps(peak, level, _CMP_GE_OQ);
      b = _mm256_or_si256(
          b, _mm256_and_si256(_mm256_castps_si256(hit), colour_bit[c]));
      hits |= _mm256_movemask_ps(hit) << (8 * c);
    }
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(bits + 8 * blk), b);
  }
  ClipBits any = 0;
  for (int c = 0; c < kCellColors; ++c) {
    if ((hits >> (8 * c) & 0xff) != 0) any |= ClipBits{1u} << c;
  }
  return any | XTransCellsScalar(rows, 8 * blocks, cols, pr, lb, means, bits);
}
#endif
bool portable_xtrans_cells = false;
bool avx2_xtrans_cells = false;

#ifdef DSB_MASK_XTRANS_AVX512
using XTransCellsFn = ClipBits (*)(const float* const*, int,
                                   const XTransProgram&, float, float* const*,
                                   ClipBits*);

// The one-pass kernel the CPU can run (AVX-512, else AVX2 where lb > 0),
// or null: the portable path.
XTransCellsFn ChooseXTransCells(float lb) {
  static const bool avx512 = __builtin_cpu_supports("avx512f");
  static const bool avx2 = __builtin_cpu_supports("avx2");
  if (portable_xtrans_cells) return nullptr;
  if (avx512 && !avx2_xtrans_cells) return XTransCellsAvx512;
  if (avx2 && lb > 0.0f) return XTransCellsAvx2;
  return nullptr;
}
#endif

}  // namespace

void UsePortableXTransCellsForTesting(bool portable) {
  portable_xtrans_cells = portable;
}

bool UseAvx2XTransCellsForTesting(bool avx2) {
  avx2_xtrans_cells = avx2;
#ifdef DSB_MASK_XTRANS_AVX512
  return __builtin_cpu_supports("avx2");
#else
  return false;
#endif
}

// One image's cells of row i: means per colour into `means`, clipped
// colours into `bits`; returns whether any sample of the cell row's pixel
// rows (those right of the last cell too) reaches `lb`.
bool CellRowBuilder::BuildImage(PlaneView<const float> image,
                                const CfaPattern& cfa,
                                const float (&inv)[2][2][kCellColors], float lb,
                                int i, CellRow& row, bool of_gt) const {
  const int cols = layout_.cols;
  const int s = layout_.size;
  std::array<std::vector<float>, kCellColors>& means =
      of_gt ? row.gt : row.noisy;
  std::vector<ClipBits>& bits = of_gt ? row.gt_clipped : row.noisy_clipped;
  for (auto& m : means) m.resize(cols);
  bits.resize(cols);
  ClipBits any = 0;
  if (s == 2) {
    int red = 0;
    for (int p = 0; p < 4; ++p) {
      if (cfa.color_at(p / 2, p % 2) == CfaColor::kRed) red = p;
    }
    const float* r0 = image.row(2 * i);
    const float* r1 = image.row(2 * i + 1);
    auto run = [&](auto cells) {
      any =
          cells(r0, r1, cols, inv[0][0][0], inv[0][0][1], inv[0][0][2], lb,
                means[0].data(), means[1].data(), means[2].data(), bits.data());
    };
    switch (red) {
      case 0:
        run(BayerCells<0>);
        break;
      case 1:
        run(BayerCells<1>);
        break;
      case 2:
        run(BayerCells<2>);
        break;
      default:
        run(BayerCells<3>);
        break;
    }
#ifdef DSB_MASK_XTRANS_AVX512
  } else if (const XTransCellsFn kernel = ChooseXTransCells(lb);
             kernel != nullptr) {
    XTransProgram program;
    for (int q = 0; q < 2; ++q) {
      for (int p = 0; p < 9; ++p) {
        program.colour[q][p] =
            static_cast<int>(cfa.color_at(3 * i + p / 3, 3 * q + p % 3));
      }
      for (int c = 0; c < kCellColors; ++c) {
        program.inv[q][c] = inv[i % 2][q][c];
      }
    }
    const float* rows[3] = {image.row(3 * i), image.row(3 * i + 1),
                            image.row(3 * i + 2)};
    float* out[kCellColors] = {means[0].data(), means[1].data(),
                               means[2].data()};
    any = kernel(rows, cols, program, lb, out, bits.data());
#endif
  } else {
    // X-Trans: the three pixel rows split into the cells' three columns
    // (cell j's column k of pixel row r at split[3 * r + k][j]), then per
    // cell parity and colour the samples of that colour in reading order.
    std::vector<float>& split = row.split;
    split.resize(static_cast<std::size_t>(9) * cols);
    auto column = [&](int r, int k) {
      return split.data() + static_cast<std::size_t>(3 * r + k) * cols;
    };
    for (int r = 0; r < 3; ++r) {
      SplitColumns3(image.row(3 * i + r), cols, column(r, 0), column(r, 1),
                    column(r, 2));
    }
    const int half = (cols + 1) / 2;
    row.scratch_means.resize(static_cast<std::size_t>(2) * kCellColors * half);
    row.scratch_bits.assign(static_cast<std::size_t>(2) * half, 0);
    const int pi = i % 2;
    for (int q = 0; q < 2; ++q) {
      const int n = (cols - q + 1) / 2;
      for (int c = 0; c < kCellColors; ++c) {
        const float* src[9];
        int count = 0;
        for (int r = 0; r < 3; ++r) {
          for (int k = 0; k < 3; ++k) {
            if (static_cast<int>(cfa.color_at(3 * i + r, 3 * q + k)) == c) {
              src[count++] = column(r, k);
            }
          }
        }
        kXTransColour[count](
            src, q, n, inv[pi][q][c], lb, ClipBits{1u} << c,
            row.scratch_means.data() +
                static_cast<std::size_t>(q * kCellColors + c) * half,
            row.scratch_bits.data() + static_cast<std::size_t>(q) * half);
      }
    }
    for (int c = 0; c < kCellColors; ++c) {
      Interleave(row.scratch_means.data() + static_cast<std::size_t>(c) * half,
                 row.scratch_means.data() +
                     static_cast<std::size_t>(kCellColors + c) * half,
                 cols, means[c].data());
    }
    Interleave(row.scratch_bits.data(), row.scratch_bits.data() + half, cols,
               bits.data());
    for (int j = 0; j < cols; ++j) any |= bits[j];
  }
  (of_gt ? row.gt_any : row.noisy_any) = any;
  bool clipped = any != 0;
  for (int r = 0; r < s; ++r) {
    const float* v = image.row(s * i + r);
    for (int x = cols * s; x < image.width; ++x) clipped |= v[x] >= lb;
  }
  return clipped;
}

DSB_VECTOR_CLONES std::int64_t WriteClippedRow(const float* __restrict g,
                                               const float* __restrict n, int w,
                                               float gt_lb, float noisy_lb,
                                               bool noisy_shows,
                                               std::uint8_t* __restrict out) {
  int hits = 0;
  if (!noisy_shows) {
    // The GT alone (the default): the capture's row is not read.
    for (int x = 0; x < w; ++x) {
      const int hit = g[x] >= gt_lb;
      hits += hit;
      out[x] = hit ? 0 : 255;
    }
  } else {
    for (int x = 0; x < w; ++x) {
      const int hit = (g[x] >= gt_lb) | (n[x] >= noisy_lb);
      hits += hit;
      out[x] = hit ? 0 : 255;
    }
  }
  return hits;
}

void CellRowBuilder::WriteMaskRow(int y, bool shows, ClipSink& sink) const {
  std::uint8_t* out = sink.mask.row(y);
  if (!shows) {
    std::fill_n(out, gt_.width, 255);
    return;
  }
  sink.clipped += WriteClippedRow(gt_.row(y), noisy_.row(y), gt_.width, gt_lb_,
                                  noisy_lb_, mask_noisy_clipped_, out);
}

void CellRowBuilder::Build(int i, CellRow& row, std::uint8_t* clipped_rows,
                           ClipSink* sink) const {
  const bool gt_clipped =
      BuildImage(gt_, gt_cfa_, gt_inv_, gt_lb_, i, row, true);
  const bool noisy_clipped =
      BuildImage(noisy_, noisy_cfa_, noisy_inv_, noisy_lb_, i, row, false);
  // At cell-row granularity: the rows are then searched pixel by pixel.
  const bool shows = gt_clipped || (mask_noisy_clipped_ && noisy_clipped);
  if (clipped_rows != nullptr) {
    std::fill(clipped_rows + i * layout_.size,
              clipped_rows + (i + 1) * layout_.size, shows);
  }
  if (sink != nullptr) {
    for (int y = i * layout_.size; y < (i + 1) * layout_.size; ++y) {
      WriteMaskRow(y, shows, *sink);
    }
  }
  row.index = i;
}

void CellRowBuilder::BuildOne(int i, CellRow& row, bool of_gt) const {
  if (of_gt) {
    BuildImage(gt_, gt_cfa_, gt_inv_, gt_lb_, i, row, true);
  } else {
    BuildImage(noisy_, noisy_cfa_, noisy_inv_, noisy_lb_, i, row, false);
  }
}

int CellRowBuilder::SourceRows(int i, const float** rows) const {
  const int s = layout_.size;
  for (int r = 0; r < s; ++r) {
    rows[r] = gt_.row(s * i + r);
    rows[s + r] = noisy_.row(s * i + r);
  }
  return 2 * s;
}

void CellRowBuilder::MarkRowsWithoutCells(std::uint8_t* clipped_rows,
                                          ClipSink* sink) const {
  const int first = layout_.empty() ? 0 : layout_.rows * layout_.size;
  for (int y = first; y < gt_.height; ++y) {
    const float* g = gt_.row(y);
    const float* n = noisy_.row(y);
    int gt_hits = 0;
    int noisy_hits = 0;
    for (int x = 0; x < gt_.width; ++x) {
      gt_hits += g[x] >= gt_lb_;
      noisy_hits += n[x] >= noisy_lb_;
    }
    const bool shows = gt_hits > 0 || (mask_noisy_clipped_ && noisy_hits > 0);
    clipped_rows[y] = shows;
    if (sink != nullptr) WriteMaskRow(y, shows, *sink);
  }
}

const CellRow& CellRowCache::Get(int i) {
  CellRow& slot = slots_[i % 3];
  if (slot.index != i) builder_.Build(i, slot, clipped_rows_, sink_);
  return slot;
}

}  // namespace dsb
