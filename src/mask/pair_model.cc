#include "mask/pair_model.h"

#include <array>
#include <cmath>
#include <cstdint>
#include <memory>
#include <span>

#include "common/vector_clones.h"

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && \
    defined(__ELF__)
#include <immintrin.h>
#define DSB_MASK_SELECT_X86 1
#endif

namespace dsb {

namespace {

// An array of n values left uninitialised (every one is written before it
// is read): the fit's arrays, zeroed as vectors, cost a memset of ~1 MB a
// pair model.
template <typename T>
std::unique_ptr<T[]> Uninitialized(std::size_t n) {
  return std::unique_ptr<T[]>(new T[n]);
}

// The sample's bounds, in cell colours (PairModelSamples).
constexpr std::int64_t kMaxSamples = 1 << 16;
constexpr std::int64_t kMinSamples = 1 << 15;
// Between them, one per this many pixels of the overlap: 2^16 from
// 16.8 MP up.
constexpr std::int64_t kPixelsPerSample = 256;

// How many of a range's values lie below, at and above a pivot.
struct PivotCounts {
  std::size_t below = 0;
  std::size_t equal = 0;
  std::size_t above = 0;
};

// SelectOutOfPlace's two passes, one value at a time (and for the values a
// vector leaves): the counts of [v, v + n) against p, and its values below
// p (kBelow) or above it, in their order, to `out`, which has room for
// their count + 16 (every value is written there, and the index moves past
// those kept: no branch on the values). Returns the count kept.
struct ScalarKernels {
  static PivotCounts Count(const float* v, std::size_t n, float p,
                           PivotCounts c = {}) {
    for (std::size_t i = 0; i < n; ++i) {
      c.below += v[i] < p;
      c.equal += v[i] == p;
      c.above += v[i] > p;
    }
    return c;
  }
  template <bool kBelow>
  static std::size_t Keep(const float* v, std::size_t n, float p, float* out) {
    std::size_t m = 0;
    for (std::size_t i = 0; i < n; ++i) {
      out[m] = v[i];
      m += kBelow ? v[i] < p : v[i] > p;
    }
    return m;
  }
};

#ifdef DSB_MASK_SELECT_X86
// The same with AVX-512: 16 values a step, kept by a compress instruction.
struct Avx512Kernels {
  __attribute__((target("avx512f,popcnt"))) static PivotCounts Count(
      const float* v, std::size_t n, float p) {
    const __m512 pivot = _mm512_set1_ps(p);
    PivotCounts c;
    std::size_t i = 0;
    for (; i + 16 <= n; i += 16) {
      const __m512 x = _mm512_loadu_ps(v + i);
      c.below += static_cast<std::size_t>(
          __builtin_popcount(_mm512_cmp_ps_mask(x, pivot, _CMP_LT_OQ)));
      c.equal += static_cast<std::size_t>(
          __builtin_popcount(_mm512_cmp_ps_mask(x, pivot, _CMP_EQ_OQ)));
      c.above += static_cast<std::size_t>(
          __builtin_popcount(_mm512_cmp_ps_mask(x, pivot, _CMP_GT_OQ)));
    }
    return ScalarKernels::Count(v + i, n - i, p, c);
  }
  template <bool kBelow>
  __attribute__((target("avx512f,popcnt"))) static std::size_t Keep(
      const float* v, std::size_t n, float p, float* out) {
    const __m512 pivot = _mm512_set1_ps(p);
    std::size_t m = 0;
    std::size_t i = 0;
    for (; i + 16 <= n; i += 16) {
      const __m512 x = _mm512_loadu_ps(v + i);
      const __mmask16 keep =
          _mm512_cmp_ps_mask(x, pivot, kBelow ? _CMP_LT_OQ : _CMP_GT_OQ);
      _mm512_storeu_ps(out + m, _mm512_maskz_compress_ps(keep, x));
      m += static_cast<std::size_t>(__builtin_popcount(keep));
    }
    return m + ScalarKernels::Keep<kBelow>(v + i, n - i, p, out + m);
  }
};

// Per 8-bit mask, the lanes of its set bits in their order, then zeros:
// AVX2's stand-in for a compress instruction (a permute by this row).
struct CompressLanes {
  alignas(32) std::int32_t lanes[256][8];
  constexpr CompressLanes() : lanes() {
    for (int mask = 0; mask < 256; ++mask) {
      int m = 0;
      for (int lane = 0; lane < 8; ++lane) {
        if ((mask >> lane) & 1) lanes[mask][m++] = lane;
      }
    }
  }
};
constexpr CompressLanes kCompressLanes;

// The same with AVX2: 8 values a step.
struct Avx2Kernels {
  __attribute__((target("avx2,popcnt"))) static PivotCounts Count(
      const float* v, std::size_t n, float p) {
    const __m256 pivot = _mm256_set1_ps(p);
    PivotCounts c;
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8) {
      const __m256 x = _mm256_loadu_ps(v + i);
      c.below += static_cast<std::size_t>(__builtin_popcount(
          _mm256_movemask_ps(_mm256_cmp_ps(x, pivot, _CMP_LT_OQ))));
      c.equal += static_cast<std::size_t>(__builtin_popcount(
          _mm256_movemask_ps(_mm256_cmp_ps(x, pivot, _CMP_EQ_OQ))));
      c.above += static_cast<std::size_t>(__builtin_popcount(
          _mm256_movemask_ps(_mm256_cmp_ps(x, pivot, _CMP_GT_OQ))));
    }
    return ScalarKernels::Count(v + i, n - i, p, c);
  }
  template <bool kBelow>
  __attribute__((target("avx2,popcnt"))) static std::size_t Keep(const float* v,
                                                                 std::size_t n,
                                                                 float p,
                                                                 float* out) {
    const __m256 pivot = _mm256_set1_ps(p);
    std::size_t m = 0;
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8) {
      const __m256 x = _mm256_loadu_ps(v + i);
      const int keep = _mm256_movemask_ps(
          _mm256_cmp_ps(x, pivot, kBelow ? _CMP_LT_OQ : _CMP_GT_OQ));
      const __m256i lanes = _mm256_load_si256(
          reinterpret_cast<const __m256i*>(kCompressLanes.lanes[keep]));
      _mm256_storeu_ps(out + m, _mm256_permutevar8x32_ps(x, lanes));
      m += static_cast<std::size_t>(__builtin_popcount(keep));
    }
    return m + ScalarKernels::Keep<kBelow>(v + i, n - i, p, out + m);
  }
};
#endif

// The element of rank k of [v, v + n) into `value`, v left as it is: each
// round counts the values below, at and above a pivot (the median of three)
// and copies only the side that holds rank k into the other of two buffers
// (returning the pivot where rank k is among the values equal to it, so
// that many equal values, a frame paired with itself, end at once). With
// vectors, a compress keeps 8 or 16 values a step, where the quickselect
// before this one moved every value one at a time, and its brackets (a
// sample's two ranks selected, then a count and a copy of the values between
// them, selected from again) cost more than the whole selected directly
// (callgrind, AVX2 kernels: 14.1 M -> 11.4 M instructions a 2.7 MP RGGB pair
// model).
// Returns false, with nothing found, where no order exists (a NaN: the
// counts fall short of the range), 64 rounds did not finish or there were
// 16 values or fewer.
template <typename Kernels>
bool SelectOutOfPlace(const float* v, std::size_t n, std::size_t k,
                      float& value) {
  const std::unique_ptr<float[]> room = Uninitialized<float>(2 * (n + 16));
  const float* src = v;
  float* dst = room.get();
  float* spare = room.get() + n + 16;
  for (int round = 0; n > 16; ++round) {
    if (round == 64) return false;
    const float a = src[0];
    const float b = src[n / 2];
    const float c = src[n - 1];
    const float p = std::max(std::min(a, b), std::min(std::max(a, b), c));
    const PivotCounts counts = Kernels::Count(src, n, p);
    if (counts.below + counts.equal + counts.above != n) return false;
    if (k < counts.below) {
      n = Kernels::template Keep<true>(src, n, p, dst);
    } else if (k < counts.below + counts.equal) {
      value = p;
      return true;
    } else {
      k -= counts.below + counts.equal;
      n = Kernels::template Keep<false>(src, n, p, dst);
    }
    src = dst;
    std::swap(dst, spare);
  }
  // 16 values or fewer from the start: std::nth_element on `v` itself.
  if (src == v) return false;
  std::copy(src, src + n, dst);
  std::nth_element(dst, dst + k, dst + n);
  value = dst[k];
  return true;
}

// UseSelectKernelsForTesting's choices.
bool portable_select = false;
bool avx2_select = false;

// The element of rank k of [v, v + n). Where no order exists (a NaN), the
// selection's rounds ran out or there are 16 values or fewer,
// std::nth_element selects it from `v` as it came (reordering it), as
// before the out-of-place selection. Of values that compare equal (+0 and
// -0) either may come back, as from any selection: the callers compare the
// value or take differences' magnitudes. (A radix select on the floats'
// bits was slower on real pairs: their concentrated values made its counting
// passes a chain of increments of one bin.)
double SelectRank(float* v, std::size_t n, std::size_t k) {
  float value = 0;
  bool found = false;
#ifdef DSB_MASK_SELECT_X86
  static const bool has_avx512 = __builtin_cpu_supports("avx512f");
  static const bool has_avx2 = __builtin_cpu_supports("avx2");
  const bool avx512 = has_avx512 && !portable_select && !avx2_select;
  const bool avx2 = has_avx2 && !portable_select;
  if (avx512) {
    found = SelectOutOfPlace<Avx512Kernels>(v, n, k, value);
  } else if (avx2) {
    found = SelectOutOfPlace<Avx2Kernels>(v, n, k, value);
  } else {
    found = SelectOutOfPlace<ScalarKernels>(v, n, k, value);
  }
#else
  found = SelectOutOfPlace<ScalarKernels>(v, n, k, value);
#endif
  if (found) return value;
  std::nth_element(v, v + k, v + n);
  return v[k];
}

double MedianOf(float* v, std::size_t n) { return SelectRank(v, n, n / 2); }

struct CellSample {
  float gt;
  float noisy;
  float gt_step;  // largest difference to a 4-neighbour in the GT
  std::uint8_t parity_i;
  std::uint8_t parity_j;
  std::uint8_t color;
};

struct Sample {
  // The samples, in `storage` (left uninitialised past them).
  std::unique_ptr<CellSample[]> storage;
  std::span<const CellSample> cells;
  // Raw sums of all samples of the sampled rows' cell colours that neither
  // image clips: the gain's starting point.
  double gt_sum = 0;
  double noisy_sum = 0;
};

// The GT's largest difference of cell j to its 4-neighbours in one colour,
// from that colour's cell means in the row (`m`) and the rows above and
// below.
float Step(const float* up, const float* m, const float* down, int j,
           int cols) {
  const float v = m[j];
  const float l = m[std::max(j - 1, 0)];
  const float r = m[std::min(j + 1, cols - 1)];
  return std::max(std::max(std::fabs(up[j] - v), std::fabs(down[j] - v)),
                  std::max(std::fabs(l - v), std::fabs(r - v)));
}

// The colours clipped in the GT in cell j of a row or in one of its four
// neighbours, from the GT's clipping bits (CellRow::gt_clipped) of the row
// (`mid`) and the rows above and below: there the GT's step to the
// neighbours says nothing about how sharp the content is.
ClipBits GtClippedNear(const ClipBits* up, const ClipBits* mid,
                       const ClipBits* down, int j, int cols) {
  return mid[j] | up[j] | down[j] | mid[std::max(j - 1, 0)] |
         mid[std::min(j + 1, cols - 1)];
}

// The last three cell rows SampleCells read, each image's cells built only
// when asked for: of the rows above and below a sampled row only the GT is
// read (its steps and clipping), so their captures' cells are not built
// (a third of the rows the model built at 2-16 MP, where sampled rows lie
// apart). Where every row is sampled, each image of a row is built once.
class SampledRows {
 public:
  explicit SampledRows(const CellRowBuilder& builder) : builder_(builder) {}

  // Cell row i with its GT's cells, and the capture's with `noisy`.
  const CellRow& Get(int i, bool noisy) {
    Slot& slot = slots_[i % 3];
    if (slot.gt != i) {
      builder_.BuildOne(i, slot.row, true);
      slot.gt = i;
      slot.noisy = -1;
    }
    if (noisy && slot.noisy != i) {
      builder_.BuildOne(i, slot.row, false);
      slot.noisy = i;
    }
    return slot.row;
  }

 private:
  struct Slot {
    CellRow row;
    int gt = -1;     // the row whose GT cells `row` holds
    int noisy = -1;  // the row whose capture's cells it holds
  };
  const CellRowBuilder& builder_;
  std::array<Slot, 3> slots_;
};

// The pixel rows the next sampled row's cells will be built from: fetched
// into the cache a few cells at a time while a row is summed, so that the
// build of the next row (sampled rows lie apart: each started from
// memory) finds them there.
struct Ahead {
  // The GT's pixel rows of the cell rows above, at and below (the row
  // itself at the frame's edges) and the capture's of the row itself.
  const float* rows[4 * 3] = {};
  int count = 0;
  int bytes_per_cell = 0;

  // The lines of cells from j on.
  void Fetch(int j) const {
    for (int r = 0; r < count; ++r) {
      __builtin_prefetch(
          reinterpret_cast<const char*>(rows[r]) + j * bytes_per_cell, 0, 2);
    }
  }
};

// Adds to the sample's raw sums (Sample::gt_sum, noisy_sum) every colour
// of cell row `mid` (row parity `pi`) that neither image clips: each
// cell's mean times its sample count (a float product), added as a double
// to a sum per colour in the columns' order, and those sums to the totals
// colour after colour. Summed one colour after the other, each colour's
// sum was one chain of dependent additions with a branch per cell
// (mispredicted on photographs' clipping): 0.42 ms of a 2.7 MP pair's
// model, timed per phase (0.25 now). Here the three colours' sums (each
// [GT, capture] in one register) advance side by side over four columns
// at a time, and a colour a cell clips adds +0, which leaves a sum as it
// is (a sum that starts at +0 never becomes -0): the same sums, bit for
// bit. These rows span the frame's width whatever its size: at 2.7 MP
// they cost as much per pair as the whole sample.
#ifdef __SSE2__
// `sum` plus the [GT, capture] pair of the low two floats of `pair`,
// widened to doubles.
__m128d AddColumn(__m128d sum, __m128 pair) {
  return _mm_add_pd(sum, _mm_cvtps_pd(pair));
}
#endif

void AddUnclippedSums(const CellRow& mid, const CellLayout& layout, int pi,
                      int cols, const Ahead& ahead, Sample& sample) {
  const int parity_mask = layout.parity - 1;
  // The sample counts as floats (what float * int converts them to) by
  // colour and column parity (j & (parity - 1); parity is 1 or 2).
  float gt_n[kCellColors][2];
  float noisy_n[kCellColors][2];
  for (int c = 0; c < kCellColors; ++c) {
    for (int pj = 0; pj < 2; ++pj) {
      gt_n[c][pj] =
          static_cast<float>(layout.gt_samples[pi][pj & parity_mask][c]);
      noisy_n[c][pj] =
          static_cast<float>(layout.noisy_samples[pi][pj & parity_mask][c]);
    }
  }
  const ClipBits* gt_clipped = mid.gt_clipped.data();
  const ClipBits* noisy_clipped = mid.noisy_clipped.data();
  int j = 0;
#ifdef __SSE2__
  static_assert(sizeof(ClipBits) == 4);
  __m128d sums[kCellColors];
  __m128 gt_counts[kCellColors];
  __m128 noisy_counts[kCellColors];
  for (int c = 0; c < kCellColors; ++c) {
    sums[c] = _mm_setzero_pd();
    // Columns j to j + 3 from an even j: parities 0, 1, 0, 1.
    gt_counts[c] = _mm_setr_ps(gt_n[c][0], gt_n[c][1], gt_n[c][0], gt_n[c][1]);
    noisy_counts[c] =
        _mm_setr_ps(noisy_n[c][0], noisy_n[c][1], noisy_n[c][0], noisy_n[c][1]);
  }
  const __m128i zero = _mm_setzero_si128();
  for (; j + 4 <= cols; j += 4) {
    ahead.Fetch(j + 4);
    const __m128i clipped = _mm_or_si128(
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(gt_clipped + j)),
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(noisy_clipped + j)));
    for (int c = 0; c < kCellColors; ++c) {
      // All ones in column k's lane where neither image clips colour c.
      // The products of a clipped column made +0 before they are widened
      // (one mask for four columns, where each column's doubles were
      // masked after: the same +0).
      const __m128 keep = _mm_castsi128_ps(_mm_cmpeq_epi32(
          _mm_and_si128(clipped, _mm_set1_epi32(1 << c)), zero));
      const __m128 g = _mm_and_ps(
          _mm_mul_ps(_mm_loadu_ps(mid.gt[c].data() + j), gt_counts[c]), keep);
      const __m128 n = _mm_and_ps(
          _mm_mul_ps(_mm_loadu_ps(mid.noisy[c].data() + j), noisy_counts[c]),
          keep);
      const __m128 low = _mm_unpacklo_ps(g, n);   // g0 n0 g1 n1
      const __m128 high = _mm_unpackhi_ps(g, n);  // g2 n2 g3 n3
      // Columns j to j + 3 in order, as the scalar loop adds them.
      __m128d sum = sums[c];
      sum = AddColumn(sum, low);
      sum = AddColumn(sum, _mm_movehl_ps(low, low));
      sum = AddColumn(sum, high);
      sum = AddColumn(sum, _mm_movehl_ps(high, high));
      sums[c] = sum;
    }
  }
  double gt_sum[kCellColors];
  double noisy_sum[kCellColors];
  for (int c = 0; c < kCellColors; ++c) {
    gt_sum[c] = _mm_cvtsd_f64(sums[c]);
    noisy_sum[c] = _mm_cvtsd_f64(_mm_unpackhi_pd(sums[c], sums[c]));
  }
#else
  double gt_sum[kCellColors] = {};
  double noisy_sum[kCellColors] = {};
#endif
  // The columns left (all of them without SSE2), one at a time.
  for (int c = 0; c < kCellColors; ++c) {
    const ClipBits bit = ClipBits{1} << c;
    const float* gt = mid.gt[c].data();
    const float* noisy = mid.noisy[c].data();
    double gs = gt_sum[c];
    double ns = noisy_sum[c];
    for (int k = j; k < cols; ++k) {
      if ((gt_clipped[k] | noisy_clipped[k]) & bit) continue;
      const int pj = k & parity_mask;
      gs += gt[k] * gt_n[c][pj];
      ns += noisy[k] * noisy_n[c][pj];
    }
    sample.gt_sum += gs;
    sample.noisy_sum += ns;
  }
}

// Every cell of a small overlap; of a large one, evenly spaced cell rows
// (at least 64, so the sample spans the frame) and evenly spaced columns
// in each, staggered from row to row.
Sample SampleCells(const CellRowBuilder& builder) {
  const CellLayout& layout = builder.layout();
  const std::int64_t rows = layout.rows;
  const std::int64_t cols = layout.cols;
  int sample_rows = static_cast<int>(rows);
  std::int64_t col_stride = 1;
  const std::int64_t target = PairModelSamples(
      rows * cols * kCellColors, rows * cols * layout.size * layout.size);
  if (target < rows * cols * kCellColors) {
    const std::int64_t target_cells = target / kCellColors;
    sample_rows = static_cast<int>(std::min<std::int64_t>(
        rows, std::max<std::int64_t>(64, (target_cells + cols - 1) / cols)));
    col_stride = std::max<std::int64_t>(1, sample_rows * cols / target_cells);
  }
  Sample sample;
  // Room for every sampled cell colour; the samples are written as they
  // are found (below).
  const std::size_t room = static_cast<std::size_t>(
      sample_rows * ((cols + col_stride - 1) / col_stride) * kCellColors);
  sample.storage = Uninitialized<CellSample>(room);
  CellSample* const out = sample.storage.get();
  std::size_t count = 0;
  // The rows, evenly spaced. At a spacing near an even number they all
  // share one parity, and X-Trans cells (two row parities, each with its
  // own structure classes) then left a parity unsampled: its structure
  // stayed 0, its cells scored high everywhere, and the frame's window
  // limits rose over moved objects (1001x767 X-Trans frames with 2^14
  // or 2^15 samples missed 10 of 60). Where a parity gets under a quarter of
  // the rows, rows alternate parities (each moved by one row at most) and the
  // columns' stagger moves every second row, so that every parity pair
  // of row and column is sampled whatever the column stride.
  std::vector<int> sample_row(sample_rows);
  int odd_rows = 0;
  for (int k = 0; k < sample_rows; ++k) {
    sample_row[k] = static_cast<int>((2 * k + 1) * rows / (2 * sample_rows));
    odd_rows += sample_row[k] & 1;
  }
  const bool alternate = layout.parity == 2 && rows >= 2 &&
                         (4 * odd_rows < sample_rows ||
                          4 * (sample_rows - odd_rows) < sample_rows);
  if (alternate) {
    for (int k = 0; k < sample_rows; ++k) {
      int& i = sample_row[k];
      if ((i & 1) != (k & 1)) i += i + 1 < rows ? 1 : -1;
    }
  }
  SampledRows cache(builder);
  for (int k = 0; k < sample_rows; ++k) {
    const int i = sample_row[k];
    const CellRow& up = cache.Get(std::max(i - 1, 0), false);
    const CellRow& mid = cache.Get(i, true);
    const CellRow& down = cache.Get(
        static_cast<int>(std::min<std::int64_t>(i + 1, rows - 1)), false);
    const int pi = i % layout.parity;
    const int parity_mask = layout.parity - 1;
    Ahead ahead;
    if (k + 1 < sample_rows) {
      const int next = sample_row[k + 1];
      const int s = layout.size;
      const float* both[2 * 3];
      ahead.bytes_per_cell = builder.SourceBytesPerCell();
      const int around[3] = {
          std::max(next - 1, 0), next,
          static_cast<int>(std::min<std::int64_t>(next + 1, rows - 1))};
      for (int t = 0; t < 3; ++t) {
        builder.SourceRows(around[t], both);
        // The GT's rows, and the capture's of the sampled row itself.
        for (int r = 0; r < (t == 1 ? 2 * s : s); ++r) {
          ahead.rows[ahead.count++] = both[r];
        }
      }
    }
    AddUnclippedSums(mid, layout, pi, static_cast<int>(cols), ahead, sample);
    // Every present colour of each sampled cell is written at the end of
    // the samples, and kept (the count moved past it) where no clipping
    // is near: no branch on the clipping, which mispredicted on photographs.
    // The rows' pointers are held here: the samples' byte fields may alias
    // anything, so that the rows' vectors were read again after every
    // sample written (with push_back's end and capacity). Timed per phase
    // at 2.7 MP: 0.31-0.37 ms, now 0.23-0.25.
    const float* gt_up[kCellColors];
    const float* gt_mid[kCellColors];
    const float* gt_down[kCellColors];
    const float* noisy_mid[kCellColors];
    bool present[2][kCellColors];
    const ClipBits* const gt_clipped_up = up.gt_clipped.data();
    const ClipBits* const gt_clipped_mid = mid.gt_clipped.data();
    const ClipBits* const gt_clipped_down = down.gt_clipped.data();
    const ClipBits* const noisy_clipped_mid = mid.noisy_clipped.data();
    for (int c = 0; c < kCellColors; ++c) {
      gt_up[c] = up.gt[c].data();
      gt_mid[c] = mid.gt[c].data();
      gt_down[c] = down.gt[c].data();
      noisy_mid[c] = mid.noisy[c].data();
      for (int pj = 0; pj < 2; ++pj) {
        present[pj][c] = layout.var_factor[pi][pj & parity_mask][c] != 0;
      }
    }
    for (std::int64_t j = (alternate ? k / 2 : k) % col_stride; j < cols;
         j += col_stride) {
      const int jj = static_cast<int>(j);
      const ClipBits clipped =
          GtClippedNear(gt_clipped_up, gt_clipped_mid, gt_clipped_down, jj,
                        static_cast<int>(cols)) |
          noisy_clipped_mid[j];
      const int pj = jj & parity_mask;
      for (int c = 0; c < kCellColors; ++c) {
        if (!present[pj][c]) continue;
        out[count] = {
            gt_mid[c][j],
            noisy_mid[c][j],
            Step(gt_up[c], gt_mid[c], gt_down[c], jj, static_cast<int>(cols)),
            static_cast<std::uint8_t>(pi),
            static_cast<std::uint8_t>(pj),
            static_cast<std::uint8_t>(c)};
        count += ((clipped >> c) & 1u) ^ 1u;
      }
    }
  }
  sample.cells = std::span<const CellSample>(out, count);
  return sample;
}

// Robust sigma of `u` around its median (1.4826 * MAD); reorders `u`.
double RobustSigma(float* u, std::size_t n) {
  const double median = MedianOf(u, n);
  for (std::size_t i = 0; i < n; ++i) {
    u[i] = std::fabs(u[i] - static_cast<float>(median));
  }
  return 1.4826 * MedianOf(u, n);
}

// The ratio of sums over unclipped cells, refined twice over the cells
// that agree with it (within 3 robust sigmas of the residual), so that a
// moved object, whose content need not have the scene's brightness, does
// not bias it.
double MatchGain(const Sample& sample, double fallback) {
  if (!(sample.gt_sum > 0 && sample.noisy_sum > 0)) {
    if (std::isfinite(fallback) && fallback > 0) return fallback;
    return 1.0;
  }
  double gain = sample.gt_sum / sample.noisy_sum;
  if (sample.cells.size() < 64) return gain;
  const std::unique_ptr<float[]> residuals =
      Uninitialized<float>(sample.cells.size());
  for (int round = 0; round < 2; ++round) {
    for (std::size_t k = 0; k < sample.cells.size(); ++k) {
      const CellSample& s = sample.cells[k];
      residuals[k] = static_cast<float>(s.gt - gain * s.noisy);
    }
    const double sigma = RobustSigma(residuals.get(), sample.cells.size());
    // Both sums in one register's two lanes, each in the samples' order;
    // a cell that disagrees adds +0 (its values masked off), which leaves
    // a sum as it is: the same sums as with a branch, which mispredicted on
    // those cells (a third of the pair model's own time was this loop; the
    // compiler turns a select or a multiply by 0/1 back into the branch).
    const double limit = 3 * sigma;
#ifdef __SSE2__
    __m128d sums = _mm_setzero_pd();
    const __m128d abs_mask =
        _mm_castsi128_pd(_mm_set1_epi64x(0x7fffffffffffffffLL));
    const __m128d limits = _mm_set1_pd(limit);
    const __m128d gains = _mm_set1_pd(gain);
    for (const CellSample& s : sample.cells) {
      // [gt, noisy] as doubles.
      const __m128d v = _mm_cvtps_pd(_mm_castsi128_ps(
          _mm_loadl_epi64(reinterpret_cast<const __m128i*>(&s.gt))));
      const __m128d d = _mm_sub_pd(v, _mm_mul_pd(gains, _mm_unpackhi_pd(v, v)));
      const __m128d agrees = _mm_cmple_pd(_mm_and_pd(d, abs_mask), limits);
      sums = _mm_add_pd(sums, _mm_and_pd(_mm_unpacklo_pd(agrees, agrees), v));
    }
    const double gt_sum = _mm_cvtsd_f64(sums);
    const double noisy_sum = _mm_cvtsd_f64(_mm_unpackhi_pd(sums, sums));
#else
    double gt_sum = 0;
    double noisy_sum = 0;
    for (const CellSample& s : sample.cells) {
      if (std::fabs(s.gt - gain * s.noisy) <= limit) {
        gt_sum += s.gt;
        noisy_sum += s.noisy;
      }
    }
#endif
    if (!(gt_sum > 0 && noisy_sum > 0)) break;
    gain = gt_sum / noisy_sum;
  }
  return gain;
}

// The black levels' own variance (PairModel::dark_floor) is measured in
// FitNoise's first signal bin (below 1/1024 of the overexposure level), and
// holds below the top of its first kDarkFloorBins. The line a*s + b is fitted
// over the whole frame, and where the frame is mostly bright, textured content
// (a red- clipped retina under warm light, whose green and blue carry texture
// the cells cannot resolve) its offset, extrapolated from that content, was a
// third to a half of the variance its black border shows: the black was flagged
// as a whole. The floor only ever raises the variance, and only at black levels
// ((2/32)^2 of the range: 0.4 % of the overexposure level), so a change at any
// other level is judged as before; on the procedural sweep (seeds 111-150,
// 200-239, 300-339, 400-439) no case changed its result, on the real-photo
// sweep the 2 + 3 misses of seeds 111-113 and 500-502 were all of this kind and
// are gone.
constexpr int kDarkFloorBins = 2;

// Each sample's residual in units of one pixel's (u), signal bin (of
// `bins` over the square root of the signal up to `top`) and level, in a
// loop of its own: it vectorises (a division and a square root per sample
// were most of FitNoise's own time), the bins' sums, which add in the
// samples' order, staying in FitNoise. `root_factor` is indexed
// [parity_i][parity_j][colour], as CellLayout::var_factor.
DSB_VECTOR_CLONES void NoiseTerms(const CellSample* __restrict cells,
                                  std::size_t n, double gain,
                                  const float* __restrict root_factor,
                                  double top, int bins, float* __restrict u,
                                  std::uint8_t* __restrict bin_of,
                                  float* __restrict levels) {
  for (std::size_t k = 0; k < n; ++k) {
    const CellSample& c = cells[k];
    const double s = c.gt;
    const double d = s - gain * c.noisy;
    u[k] = static_cast<float>(
        d / root_factor[(c.parity_i * 2 + c.parity_j) * kCellColors + c.color]);
    bin_of[k] = static_cast<std::uint8_t>(
        std::clamp(static_cast<int>(std::sqrt(std::max(s, 0.0) / top) * bins),
                   0, bins - 1));
    levels[k] = c.gt;
  }
}

// The per-pixel residual variance a*s + b: per signal bin a robust sigma
// (MAD), then least squares on the bins weighted by their precision
// (n / sigma^4), with a, b >= 0; and the black levels' floor.
void FitNoise(const Sample& sample, const CellLayout& layout, float lb,
              PairModel& model) {
  constexpr int kBins = 32;
  constexpr std::size_t kMinPerBin = 48;
  const double top = lb > 0 ? lb : 1.0;
  // Each sample's u and bin in one pass (the bins' signal sums in the
  // samples' order), then the u's gathered bin by bin into one array.
  const std::size_t n = sample.cells.size();
  float root_factor[2][2][kCellColors];
  for (int pi = 0; pi < 2; ++pi) {
    for (int pj = 0; pj < 2; ++pj) {
      for (int c = 0; c < kCellColors; ++c) {
        root_factor[pi][pj][c] = std::sqrt(layout.var_factor[pi][pj][c]);
      }
    }
  }
  const std::unique_ptr<float[]> all_u = Uninitialized<float>(n);
  const std::unique_ptr<std::uint8_t[]> bin_of = Uninitialized<std::uint8_t>(n);
  const std::unique_ptr<float[]> levels = Uninitialized<float>(n);
  NoiseTerms(sample.cells.data(), n, model.gain, &root_factor[0][0][0], top,
             kBins, all_u.get(), bin_of.get(), levels.get());
  std::array<double, kBins> bin_s{};
  std::array<std::size_t, kBins + 1> bin_start{};
  for (std::size_t k = 0; k < n; ++k) {
    const int bin = bin_of[k];
    bin_s[bin] += sample.cells[k].gt;
    ++bin_start[bin + 1];
  }
  if (n == 0) {
    model.slope = 0;
    model.offset = 1e-12;
    return;
  }
  for (int b = 0; b < kBins; ++b) bin_start[b + 1] += bin_start[b];
  const std::unique_ptr<float[]> binned = Uninitialized<float>(n);
  {
    std::array<std::size_t, kBins> at;
    std::copy(bin_start.begin(), bin_start.end() - 1, at.begin());
    for (std::size_t k = 0; k < n; ++k) binned[at[bin_of[k]]++] = all_u[k];
  }
  model.reference_level = std::max(0.0, MedianOf(levels.get(), n));

  double sw = 0, sws = 0, swss = 0, swv = 0, swsv = 0;
  int used_bins = 0;
  for (int b = 0; b < kBins; ++b) {
    const std::size_t count = bin_start[b + 1] - bin_start[b];
    if (count < kMinPerBin) continue;
    const double s = std::max(0.0, bin_s[b] / count);
    const double sigma = RobustSigma(binned.get() + bin_start[b], count);
    const double var = sigma * sigma;
    if (!(var > 0)) continue;
    const double w = count / (var * var);
    if (b == 0) {
      model.dark_floor = var;
      model.dark_top = top * kDarkFloorBins * kDarkFloorBins / (kBins * kBins);
    }
    sw += w;
    sws += w * s;
    swss += w * s * s;
    swv += w * var;
    swsv += w * s * var;
    ++used_bins;
  }
  double slope = 0;
  double offset = 0;
  const double det = sw * swss - sws * sws;
  if (used_bins >= 2 && det > 0) {
    slope = (sw * swsv - sws * swv) / det;
    offset = (swv - slope * sws) / sw;
  }
  if (used_bins < 2 || !(det > 0) || slope < 0) {
    // Too few levels for a slope, or noise not growing with signal:
    // constant variance.
    slope = 0;
    if (sw > 0) {
      offset = swv / sw;
    } else {
      const double sigma = RobustSigma(all_u.get(), n);
      offset = sigma * sigma;
    }
  } else if (offset < 0) {
    offset = 0;
    slope = swss > 0 ? swsv / swss : 0;
  }
  model.slope = slope;
  // A floor keeps a noiseless synthetic pair from dividing by zero.
  model.offset = std::max(offset, 1e-12);
}

// PairModel::structure per class, so that d^2 matches noise +
// structure * step^2 on average: the sum of d^2 less the noise over the
// sum of step^2. The z test assumes a mean of 1 where the pair agrees; a
// fixed tolerance overshoots that on some content (hiding changes) and
// undershoots on other. The 10% of cells that fit worst (moved objects,
// changed light) are left out; the pair is otherwise static, the same
// assumption the noise fit makes.
// The share of the squared sample displacement (CellLayout::displacement2)
// that `structure` never falls below, for Bayer's 2x2 cells and X-Trans's
// 3x3 ones. Chosen on mask_sweep (real photographs, seeds 111-113, and
// procedural content, seeds 111-150): without a floor 68 of 1080 photo
// cases missed (sharp edges of smooth photographs flagged); a floor on
// the nearest-sample distance alone, which ignores that a colour's
// samples average out on a slope, cost 7 of 1800 procedural cases; this
// one misses 5 photo cases and 1 procedural case, as before it.
constexpr double kStructureFloorBayer = 0.5;
constexpr double kStructureFloorXTrans = 1.0;

// FitStructure's terms of each sample, in the samples' order: d^2 less the
// noise, step^2, and the score d^2 / (noise + step^2). `var_factor` is
// indexed as CellLayout::var_factor.
DSB_VECTOR_CLONES void StructureTerms(const CellSample* __restrict cells,
                                      std::size_t n, const PairModel& model,
                                      const float* __restrict var_factor,
                                      float* __restrict excess,
                                      float* __restrict step2,
                                      float* __restrict score) {
  // Local copies: the loop then vectorises (PairModel::Variance's terms in
  // registers).
  const PairModel m = model;
  for (std::size_t k = 0; k < n; ++k) {
    const CellSample& c = cells[k];
    const float factor =
        var_factor[(c.parity_i * 2 + c.parity_j) * kCellColors + c.color];
    const double d = c.gt - m.gain * c.noisy;
    const double noise = m.Variance(c.gt) * factor;
    const double step = c.gt_step;
    excess[k] = static_cast<float>(d * d - noise);
    step2[k] = static_cast<float>(step * step);
    score[k] = static_cast<float>(d * d / (noise + step * step));
  }
}

void FitStructure(const Sample& sample, const CellLayout& layout,
                  PairModel& model) {
  // The terms of each class (parity and colour) in the samples' order,
  // class after class in three float arrays (a counting pass first: no
  // vector per class grown cell by cell).
  constexpr int kClasses = 2 * 2 * kCellColors;
  const auto class_of = [](const CellSample& c) {
    return (c.parity_i * 2 + c.parity_j) * kCellColors + c.color;
  };
  std::array<std::size_t, kClasses + 1> start{};
  for (const CellSample& c : sample.cells) ++start[class_of(c) + 1];
  for (int k = 0; k < kClasses; ++k) start[k + 1] += start[k];
  const std::size_t n = sample.cells.size();
  const std::unique_ptr<float[]> excess =
      Uninitialized<float>(n);  // d^2 - noise
  const std::unique_ptr<float[]> step2 = Uninitialized<float>(n);
  // d^2 / (noise + step^2): outliers last
  const std::unique_ptr<float[]> score = Uninitialized<float>(n);
  {
    // The terms in the samples' order first (a loop that vectorises: the
    // division per sample), then moved to their classes.
    const std::unique_ptr<float[]> terms = Uninitialized<float>(3 * n);
    StructureTerms(sample.cells.data(), n, model, &layout.var_factor[0][0][0],
                   terms.get(), terms.get() + n, terms.get() + 2 * n);
    std::array<std::size_t, kClasses> at;
    std::copy(start.begin(), start.end() - 1, at.begin());
    for (std::size_t i = 0; i < n; ++i) {
      const std::size_t k = at[class_of(sample.cells[i])]++;
      excess[k] = terms[i];
      step2[k] = terms[n + i];
      score[k] = terms[2 * n + i];
    }
  }
  std::vector<float> scratch;
  constexpr double kTrim = 0.1;
  for (int pi = 0; pi < layout.parity; ++pi) {
    for (int pj = 0; pj < layout.parity; ++pj) {
      for (int c = 0; c < kCellColors; ++c) {
        const int cls = (pi * 2 + pj) * kCellColors + c;
        const std::size_t from = start[cls];
        const std::size_t count = start[cls + 1] - from;
        if (count < 32) continue;
        const std::size_t keep = static_cast<std::size_t>(count * (1 - kTrim));
        // The `keep` best-fitting terms: every score below the one of rank
        // `keep`, and as many equal to it as make up the count (in the
        // samples' order), summed in the samples' order. The scores are
        // selected, not the terms sorted (was: std::nth_element on the
        // terms, a third of the pair model's own time).
        scratch.assign(score.get() + from, score.get() + from + count);
        const float limit =
            static_cast<float>(SelectRank(scratch.data(), count, keep));
        std::size_t below = 0;
        for (std::size_t k = from; k < from + count; ++k) {
          below += score[k] < limit;
        }
        std::size_t ties = keep - below;
        double excess_sum = 0, step2_sum = 0;
        for (std::size_t k = from; k < from + count; ++k) {
          bool take = score[k] < limit;
          if (score[k] == limit && ties > 0) {
            take = true;
            --ties;
          }
          // Adding 0 leaves a sum as it is: the same sums, no branch.
          excess_sum += take ? excess[k] : 0.0f;
          step2_sum += take ? step2[k] : 0.0f;
        }
        model.structure[pi][pj][c] =
            step2_sum > 0
                ? static_cast<float>(std::max(0.0, excess_sum / step2_sum))
                : 0;
        // Never below what the samples' displacement alone explains on a
        // slope: on smooth content the fit sees mostly noise in the steps
        // and would leave the few sharp edges (a bright disc on black)
        // without tolerance.
        model.structure[pi][pj][c] = std::max(
            model.structure[pi][pj][c],
            static_cast<float>(layout.parity == 1 ? kStructureFloorBayer
                                                  : kStructureFloorXTrans) *
                layout.displacement2[pi][pj][c]);
      }
    }
  }
}

}  // namespace

std::int64_t PairModelSamples(std::int64_t cell_colours, std::int64_t pixels) {
  if (cell_colours < 2 * kMaxSamples) return cell_colours;
  return std::clamp(pixels / kPixelsPerSample, kMinSamples, kMaxSamples);
}

double MedianInPlace(std::vector<float>& v) {
  return MedianOf(v.data(), v.size());
}

bool UseSelectKernelsForTesting(bool portable, bool avx2) {
  portable_select = portable;
  avx2_select = avx2;
  if (portable) return true;
#ifdef DSB_MASK_SELECT_X86
  return !avx2 || __builtin_cpu_supports("avx2");
#else
  return !avx2;
#endif
}

PairModel FitPairModel(const CellRowBuilder& cells, double fallback_gain,
                       float gt_lb) {
  PairModel model;
  if (cells.layout().empty()) return model;
  const Sample sample = SampleCells(cells);
  model.gain = MatchGain(sample, fallback_gain);
  FitNoise(sample, cells.layout(), gt_lb, model);
  FitStructure(sample, cells.layout(), model);
  return model;
}

}  // namespace dsb
