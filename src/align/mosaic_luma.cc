#include "align/mosaic_luma.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "align/row_sample.h"
#include "common/prefetch.h"
#include "common/vector_clones.h"

namespace dsb {

namespace {

// The per-colour sums ChannelBalance adds: for each row and column phase, a
// float sum (and count) of the unclipped pixels of that phase in column
// order, added in double.
struct BalanceSums {
  std::array<double, 3> sum{};
  std::array<double, 3> count{};
};

// One row's chains, one after the other (the reference order).
void AddBalanceRow(const RawImage& image, int y, float clip,
                   BalanceSums& sums) {
  const int period = image.cfa.period();
  const float* row = image.pixels.row(y);
  for (int k = 0; k < period && k < image.width(); ++k) {
    float s = 0;
    int n = 0;
    for (int x = k; x < image.width(); x += period) {
      const bool keep = row[x] < clip;
      s += keep ? row[x] : 0.0f;
      n += keep;
    }
    const int c = static_cast<int>(image.cfa.color_at(y, k));
    sums.sum[c] += s;
    sums.count[c] += n;
  }
}

// A row pair's 2 * P chains (P = period) once its vectors stopped: the
// columns of an incomplete last period from `x` on, each chain continued,
// then every chain added to its colour's sums, row y's phases before row
// y + 1's (AddBalanceRow's order).
template <int P>
[[gnu::always_inline]] inline void FinishRowPair(const RawImage& image, int y,
                                                 int x, float clip,
                                                 float (&sum)[2 * P],
                                                 int (&count)[2 * P],
                                                 BalanceSums& sums) {
  const int width = image.width();
  const float* rows[2] = {image.pixels.row(y), image.pixels.row(y + 1)};
  for (int k = 0; x + k < width; ++k) {
    for (int r = 0; r < 2; ++r) {
      const float v = rows[r][x + k];
      const bool keep = v < clip;
      sum[r * P + k] += keep ? v : 0.0f;
      count[r * P + k] += keep;
    }
  }
  for (int r = 0; r < 2; ++r) {
    for (int k = 0; k < P && k < width; ++k) {
      const int c = static_cast<int>(image.cfa.color_at(y + r, k));
      sums.sum[c] += sum[r * P + k];
      sums.count[c] += count[r * P + k];
    }
  }
}

// The same for rows y and y + 1 together: their 2 * P chains (P = period,
// 2 or 6) side by side in vector lanes, each chain still adding its pixels
// one by one in column order, so every sum is the one AddBalanceRow gives
// (a single chain is a serial dependency the CPU waits on; 2P of them in
// vectors are not).
template <int P>
requires(P == 2 || P == 6)
    [[gnu::always_inline]] inline void AddBalanceRowPair(const RawImage& image,
                                                         int y, float clip,
                                                         BalanceSums& sums) {
  using V4 = float __attribute__((vector_size(16)));
  using M4 = std::int32_t __attribute__((vector_size(16)));
  constexpr int kVectors = 2 * P / 4;
  static_assert(2 * P % 4 == 0);
  const float* a = image.pixels.row(y);
  const float* b = image.pixels.row(y + 1);
  const int width = image.width();
  V4 s[kVectors] = {};
  M4 n[kVectors] = {};
  auto add = [&](int v, V4 values) {
    const M4 keep = values < clip;
    s[v] += reinterpret_cast<V4>(reinterpret_cast<M4>(values) & keep);
    n[v] -= keep;
  };
  auto load = [](const float* p) {
    V4 v;
    std::memcpy(&v, p, sizeof(v));
    return v;
  };
  // Lane order: row a's phases 0..P-1, then row b's.
  int x = 0;
  if constexpr (P == 2) {
    // Two periods per step: both rows' 4 columns loaded once, their first
    // period's lanes added before their second's.
    for (; x + 4 <= width; x += 4) {
      const V4 va = load(a + x), vb = load(b + x);
      add(0, __builtin_shufflevector(va, vb, 0, 1, 4, 5));
      add(0, __builtin_shufflevector(va, vb, 2, 3, 6, 7));
    }
  }
  for (; x + P <= width; x += P) {
    if constexpr (P == 2) {
      add(0, V4{a[x], a[x + 1], b[x], b[x + 1]});
    } else {
      add(0, load(a + x));
      add(1, V4{a[x + 4], a[x + 5], b[x], b[x + 1]});
      add(2, load(b + x + 2));
    }
  }
  float sum[2 * P];
  int count[2 * P];
  for (int l = 0; l < 2 * P; ++l) {
    sum[l] = s[l / 4][l % 4];
    count[l] = n[l / 4][l % 4];
  }
  FinishRowPair<P>(image, y, x, clip, sum, count, sums);
}

// Two row pairs, y0 and y1 (y0's added first), in the two halves of
// 8-float vectors: each half holds what AddBalanceRowPair's 4-float
// vectors hold for its pair, so every chain adds the same pixels in the
// same order (AddBalanceRowPair's sums, bit for bit), at twice the lanes
// per instruction (issue 17: ChannelBalance was ~1.5 M instructions of a
// 3 MP pair, about 2 per sampled pixel).
template <int P>
requires(P == 2 || P == 6)
    [[gnu::always_inline]] inline void AddBalanceRowPairs(const RawImage& image,
                                                          int y0, int y1,
                                                          float clip,
                                                          BalanceSums& sums) {
  using V4 = float __attribute__((vector_size(16)));
  using V8 = float __attribute__((vector_size(32)));
  using M8 = std::int32_t __attribute__((vector_size(32)));
  constexpr int kVectors = 2 * P / 4;
  // Rows a, b (pair y0) in the low halves, c, d (pair y1) in the high.
  const float* a = image.pixels.row(y0);
  const float* b = image.pixels.row(y0 + 1);
  const float* c = image.pixels.row(y1);
  const float* d = image.pixels.row(y1 + 1);
  const int width = image.width();
  V8 s[kVectors] = {};
  M8 n[kVectors] = {};
  auto add = [&](int v, V8 values) {
    const M8 keep = values < clip;
    s[v] += reinterpret_cast<V8>(reinterpret_cast<M8>(values) & keep);
    n[v] -= keep;
  };
  auto load = [](const float* p) {
    V4 v;
    std::memcpy(&v, p, sizeof(v));
    return v;
  };
  auto halves = [](V4 low, V4 high) {
    return __builtin_shufflevector(low, high, 0, 1, 2, 3, 4, 5, 6, 7);
  };
  int x = 0;
  if constexpr (P == 2) {
    for (; x + 4 <= width; x += 4) {
      const V8 ac = halves(load(a + x), load(c + x));
      const V8 bd = halves(load(b + x), load(d + x));
      add(0, __builtin_shufflevector(ac, bd, 0, 1, 8, 9, 4, 5, 12, 13));
      add(0, __builtin_shufflevector(ac, bd, 2, 3, 10, 11, 6, 7, 14, 15));
    }
  }
  for (; x + P <= width; x += P) {
    if constexpr (P == 2) {
      add(0,
          V8{a[x], a[x + 1], b[x], b[x + 1], c[x], c[x + 1], d[x], d[x + 1]});
    } else {
      add(0, halves(load(a + x), load(c + x)));
      add(1, V8{a[x + 4], a[x + 5], b[x], b[x + 1], c[x + 4], c[x + 5], d[x],
                d[x + 1]});
      add(2, halves(load(b + x + 2), load(d + x + 2)));
    }
  }
  for (int pair = 0; pair < 2; ++pair) {
    float sum[2 * P];
    int count[2 * P];
    for (int l = 0; l < 2 * P; ++l) {
      sum[l] = s[l / 4][pair * 4 + l % 4];
      count[l] = n[l / 4][pair * 4 + l % 4];
    }
    FinishRowPair<P>(image, pair == 0 ? y0 : y1, x, clip, sum, count, sums);
  }
}

// CoarseLumaInto's horizontal pass for a box of B columns: out[bx] is the
// sum of columns[bx * stride + k] for k = 0 .. B - 1, added in that order
// from 0, times `scale`. B known to the compiler: the adds unrolled, no
// loop over k per sample (that loop was a quarter of CoarseLumaInto's
// time).
template <int B>
[[gnu::always_inline]] inline void BoxSums(const float* columns, int stride,
                                           int out_w, float scale, float* out) {
  for (int bx = 0; bx < out_w; ++bx) {
    const float* c = columns + static_cast<std::ptrdiff_t>(bx) * stride;
    float sum = 0;
    for (int k = 0; k < B; ++k) sum += c[k];
    out[bx] = sum * scale;
  }
}

// StridedBoxSums at a stride of 4 (the coarse grid of every frame from
// 2.4 MP up) for boxes of 4 and 6, eight samples per step: each 128-bit
// half of an 8-float vector holds what one 4-float step of StridedBoxSums
// holds, samples bx..bx+3 in the low half and bx+4..bx+7 in the high,
// transposed with shuffles that stay within the halves (one instruction
// each on AVX2; crossing them costs more). The same terms added in the
// same order: the same floats. Returns the first sample not written
// (issue 17: the 4-float steps were ~40 % of CoarseLumaInto's
// instructions at X-Trans's box 6).
template <int B>
requires(B == 4 || B == 6) [[gnu::always_inline]] inline int StrideFourBoxSums8(
    const float* columns, int width, int out_w, float scale, float* out) {
  using V4 = float __attribute__((vector_size(16)));
  using V8 = float __attribute__((vector_size(32)));
  // Columns c + k and c + 16 + k as the two halves of one vector.
  auto halves = [](const float* c) {
    V4 low, high;
    std::memcpy(&low, c, sizeof(low));
    std::memcpy(&high, c + 16, sizeof(high));
    return __builtin_shufflevector(low, high, 0, 1, 2, 3, 4, 5, 6, 7);
  };
  // Per half, the first two rows of the 4 x 4 transpose of (g0 g1 g2 g3)
  // (g_r = columns 4r .. 4r + 3): columns 4l and 4l + 1 for lanes l.
  auto first_two = [](V8 g0, V8 g1, V8 g2, V8 g3, V8& t0, V8& t1) {
    const V8 u0 = __builtin_shufflevector(g0, g1, 0, 8, 1, 9, 4, 12, 5, 13);
    const V8 u1 = __builtin_shufflevector(g2, g3, 0, 8, 1, 9, 4, 12, 5, 13);
    t0 = __builtin_shufflevector(u0, u1, 0, 1, 8, 9, 4, 5, 12, 13);
    t1 = __builtin_shufflevector(u0, u1, 2, 3, 10, 11, 6, 7, 14, 15);
  };
  // A step reads columns [bx * 4, bx * 4 + 32), and 4 more for a box of 6.
  constexpr int kReach = B == 6 ? 36 : 32;
  int bx = 0;
  for (; bx * 4 + kReach <= width && bx + 8 <= out_w; bx += 8) {
    const float* c = columns + static_cast<std::ptrdiff_t>(bx) * 4;
    const V8 g0 = halves(c), g1 = halves(c + 4), g2 = halves(c + 8),
             g3 = halves(c + 12);
    V8 terms[B];
    first_two(g0, g1, g2, g3, terms[0], terms[1]);
    const V8 u2 = __builtin_shufflevector(g0, g1, 2, 10, 3, 11, 6, 14, 7, 15);
    const V8 u3 = __builtin_shufflevector(g2, g3, 2, 10, 3, 11, 6, 14, 7, 15);
    terms[2] = __builtin_shufflevector(u2, u3, 0, 1, 8, 9, 4, 5, 12, 13);
    terms[3] = __builtin_shufflevector(u2, u3, 2, 3, 10, 11, 6, 7, 14, 15);
    if constexpr (B == 6) {
      // Columns 4l + 4 and 4l + 5: the first two rows from column 4 on.
      first_two(g1, g2, g3, halves(c + 16), terms[4], terms[5]);
    }
    V8 sum = V8{} + terms[0];
    for (int k = 1; k < B; ++k) sum += terms[k];
    sum *= scale;
    std::memcpy(out + bx, &sum, sizeof(sum));
  }
  return bx;
}

// BoxSums for a stride of 2 or 4, four samples per step in the lanes of a
// 4-float vector: lane l of term k is columns[(bx + l) * S + k], and the
// terms are added in the same order from 0 as BoxSums adds them, so every
// sample is the same float (the scalar loop's strided reads left it
// unvectorised, a third of CoarseLumaInto's time at X-Trans's box 6,
// stride 4). The samples the vectors leave over take BoxSums.
template <int B, int S>
requires((S == 2 && B % 2 == 0) || (S == 4 && (B == 2 || B == 4 || B == 6)))
    [[gnu::always_inline]] inline void StridedBoxSums(const float* columns,
                                                      int width, int out_w,
                                                      float scale, float* out) {
  using V4 = float __attribute__((vector_size(16)));
  auto load = [](const float* p) {
    V4 v;
    std::memcpy(&v, p, sizeof(v));
    return v;
  };
  // The columns a step reads from bx * S on.
  constexpr int kReach = S == 4 ? (B == 6 ? 20 : 16) : B + 6;
  int bx = 0;
  if constexpr (S == 4 && B >= 4) {
    bx = StrideFourBoxSums8<B>(columns, width, out_w, scale, out);
  }
  for (; bx * S + kReach <= width && bx + 4 <= out_w; bx += 4) {
    const float* c = columns + static_cast<std::ptrdiff_t>(bx) * S;
    V4 terms[B];
    if constexpr (S == 4) {
      // The 4 x 4 block of columns transposed: terms[k][l] = c[4l + k].
      const V4 g0 = load(c), g1 = load(c + 4), g2 = load(c + 8),
               g3 = load(c + 12);
      const V4 t0 = __builtin_shufflevector(g0, g1, 0, 4, 1, 5);
      const V4 t1 = __builtin_shufflevector(g2, g3, 0, 4, 1, 5);
      const V4 t2 = __builtin_shufflevector(g0, g1, 2, 6, 3, 7);
      const V4 t3 = __builtin_shufflevector(g2, g3, 2, 6, 3, 7);
      terms[0] = __builtin_shufflevector(t0, t1, 0, 1, 4, 5);
      terms[1] = __builtin_shufflevector(t0, t1, 2, 3, 6, 7);
      if constexpr (B >= 4) {
        terms[2] = __builtin_shufflevector(t2, t3, 0, 1, 4, 5);
        terms[3] = __builtin_shufflevector(t2, t3, 2, 3, 6, 7);
      }
      if constexpr (B >= 6) {
        // Columns 4l + 4 and 4l + 5: terms 0 and 1 one sample on.
        const V4 g4 = load(c + 16);
        terms[4] = __builtin_shufflevector(terms[0], g4, 1, 2, 3, 4);
        terms[5] = __builtin_shufflevector(terms[1], g4, 1, 2, 3, 5);
      }
    } else {
      // Stride 2: the even and odd columns of c + k - k % 2.
      for (int k = 0; k < B; k += 2) {
        const V4 a = load(c + k), b = load(c + k + 4);
        terms[k] = __builtin_shufflevector(a, b, 0, 2, 4, 6);
        terms[k + 1] = __builtin_shufflevector(a, b, 1, 3, 5, 7);
      }
    }
    V4 sum = V4{} + terms[0];
    for (int k = 1; k < B; ++k) sum += terms[k];
    sum *= scale;
    std::memcpy(out + bx, &sum, sizeof(sum));
  }
  BoxSums<B>(columns + static_cast<std::ptrdiff_t>(bx) * S, S, out_w - bx,
             scale, out + bx);
}

// The balance of the colour at (y, x0 + j) for j in [0, count): the
// colours of one period looked up, then repeated (a lookup per column,
// two remainders each, was ~6 % of PeriodLuma's instructions on the
// fine search's tiles).
void BalanceRow(const RawImage& image, const std::array<float, 3>& balance,
                int y, int x0, int count, float* out) {
  const int period = image.cfa.period();
  for (int j = 0; j < period && j < count; ++j) {
    out[j] = balance[static_cast<int>(image.cfa.color_at(y, x0 + j))];
  }
  // The rest repeats the first period, copied in doubling blocks (each a
  // whole number of periods): the element-wise out[j] = out[j - period]
  // depends on a store 2 or 6 floats back, which GCC does not vectorise,
  // and copied one float at a time (~5 % of PeriodLuma's instructions on
  // X-Trans).
  for (int done = std::min(period, count); done < count;) {
    const int n = std::min(done, count - done);
    std::memcpy(out + done, out, static_cast<std::size_t>(n) * sizeof(float));
    done += n;
  }
}

// PeriodLuma's horizontal sums for a period of P: out[j] = ((0.0f + in[j])
// + in[j + 1]) + ... + in[j + P - 1], the terms added in the order the
// passes of one column offset each did, in one pass (a pass per offset
// loaded and stored the sums P times: PeriodLuma was the largest single
// function of an X-Trans pair; issue 17, 49.6 M -> 23.4 M instructions per
// six 3 MP X-Trans pairs, 21.8 M -> 14.4 M RGGB). The same floats.
template <int P>
[[gnu::always_inline]] inline void HorizontalPeriodSums(
    const float* __restrict in, int width, float* __restrict out) {
  for (int j = 0; j < width; ++j) {
    float sum = 0.0f + in[j];
    for (int k = 1; k < P; ++k) sum += in[j + k];
    out[j] = sum;
  }
}

// Its vertical sums: out[j] = ((0.0f + terms[0][j]) + terms[1][j]) + ...
// + terms[P - 1][j], in one pass rather than one per term.
template <int P>
[[gnu::always_inline]] inline void VerticalPeriodSums(const float* const* terms,
                                                      int width,
                                                      float* __restrict out) {
  const float* t[P];
  for (int k = 0; k < P; ++k) t[k] = terms[k];
  for (int j = 0; j < width; ++j) {
    float sum = 0.0f + t[0][j];
    for (int k = 1; k < P; ++k) sum += t[k][j];
    out[j] = sum;
  }
}

}  // namespace

// Compiled for AVX2 too: the same four-lane chains, in three-operand
// instructions (issue 17: 10.2 M -> 8.5 M instructions per six 3 MP RGGB
// pairs).
DSB_VECTOR_CLONES std::array<float, 3> ChannelBalance(const RawImage& image) {
  BalanceSums sums;
  const int period = image.cfa.period();
  const float clip = image.meta.overexposure_lb;
  // Two rows in every eight (a quarter of the image) are plenty for three
  // means; rows 8k and 8k+1 visit every row phase of Bayer and X-Trans.
  // Images of more than 4 x kBalanceSamples pixels: row pairs about
  // kBalanceSamples pixels apart (RowPairStep), still over a million
  // pixels.
  const int step = std::max(
      4, RowPairStep(static_cast<double>(image.height()) * image.width(),
                     kBalanceSamples));
  for (int y = 0; y < image.height(); y += 2 * step) {
    // Two row pairs at once where both are whole (the same sums, in the
    // same order: y's pair before the next).
    const int next = y + 2 * step;
    if (next + 1 < image.height() && image.width() >= period &&
        (period == 2 || period == 6)) {
      if (period == 2) {
        AddBalanceRowPairs<2>(image, y, next, clip, sums);
      } else {
        AddBalanceRowPairs<6>(image, y, next, clip, sums);
      }
      y = next;
      continue;
    }
    if (y + 1 >= image.height()) {
      AddBalanceRow(image, y, clip, sums);
    } else if (period == 2 && image.width() >= 2) {
      AddBalanceRowPair<2>(image, y, clip, sums);
    } else if (period == 6 && image.width() >= 6) {
      AddBalanceRowPair<6>(image, y, clip, sums);
    } else {
      AddBalanceRow(image, y, clip, sums);
      AddBalanceRow(image, y + 1, clip, sums);
    }
  }
  std::array<float, 3> balance{1, 1, 1};
  for (int c = 0; c < 3; ++c) {
    const double mean = sums.count[c] > 0 ? sums.sum[c] / sums.count[c] : 0;
    balance[c] = mean > 1e-6 ? static_cast<float>(1.0 / mean) : 1.0f;
  }
  return balance;
}

Plane<float> CoarseLuma(const RawImage& image,
                        const std::array<float, 3>& balance, int stride,
                        int box) {
  if (box <= 0 || stride <= 0) return Plane<float>();
  const int out_h = (image.height() - box) / stride + 1;
  const int out_w = (image.width() - box) / stride + 1;
  if (out_h <= 0 || out_w <= 0) return Plane<float>();
  Plane<float> out(out_w, out_h);
  CoarseLumaInto(image, balance, stride, box, out.view());
  return out;
}

DSB_VECTOR_CLONES void CoarseLumaInto(
    const RawImage& image, const std::array<float, 3>& balance, int stride,
    int box, PlaneView<float> out,
    const std::function<void(int, int)>& rows_read) {
  const int out_h = out.height;
  const int out_w = out.width;
  if (out_h <= 0 || out_w <= 0) return;
  const int period = image.cfa.period();
  const int width = image.width();
  // The balance of every pixel of one row phase, as a full row, so the
  // vertical pass is a plain multiply-add the compiler vectorises.
  std::vector<float> weights(static_cast<std::size_t>(period) * width);
  for (int p = 0; p < period; ++p) {
    BalanceRow(image, balance, p, 0, width,
               &weights[static_cast<std::size_t>(p) * width]);
  }
  // Per output row: the box rows summed column by column (each input row
  // read box / stride times), then box-wide horizontal sums every stride
  // columns. The column sums add the rows in order, up to six per pass
  // over the columns (fewer trips through `columns`, the same sums).
  std::vector<float> columns(static_cast<std::size_t>(width));
  const float scale = 1.0f / static_cast<float>(box * box);
  for (int by = 0; by < out_h; ++by) {
    auto row = [&](int k) { return image.pixels.row(by * stride + k); };
    auto weight = [&](int k) {
      return &weights[static_cast<std::size_t>((by * stride + k) % period) *
                      width];
    };
    float* c = columns.data();
    int k = 0;
    if (box >= 6) {
      // X-Trans's box of 6 (and larger boxes) in one pass.
      const float *r0 = row(0), *r1 = row(1), *r2 = row(2), *r3 = row(3),
                  *r4 = row(4), *r5 = row(5);
      const float *w0 = weight(0), *w1 = weight(1), *w2 = weight(2),
                  *w3 = weight(3), *w4 = weight(4), *w5 = weight(5);
      for (int x = 0; x < width; ++x) {
        c[x] = ((((r0[x] * w0[x] + r1[x] * w1[x]) + r2[x] * w2[x]) +
                 r3[x] * w3[x]) +
                r4[x] * w4[x]) +
               r5[x] * w5[x];
      }
      k = 6;
    } else if (box >= 4) {
      const float *r0 = row(0), *r1 = row(1), *r2 = row(2), *r3 = row(3);
      const float *w0 = weight(0), *w1 = weight(1), *w2 = weight(2),
                  *w3 = weight(3);
      for (int x = 0; x < width; ++x) {
        c[x] =
            ((r0[x] * w0[x] + r1[x] * w1[x]) + r2[x] * w2[x]) + r3[x] * w3[x];
      }
      k = 4;
    } else {
      const float *r0 = row(0), *w0 = weight(0);
      for (int x = 0; x < width; ++x) c[x] = r0[x] * w0[x];
      k = 1;
    }
    for (; k + 2 <= box; k += 2) {
      const float *r0 = row(k), *r1 = row(k + 1);
      const float *w0 = weight(k), *w1 = weight(k + 1);
      for (int x = 0; x < width; ++x) {
        c[x] = (c[x] + r0[x] * w0[x]) + r1[x] * w1[x];
      }
    }
    for (; k < box; ++k) {
      const float *r0 = row(k), *w0 = weight(k);
      for (int x = 0; x < width; ++x) c[x] += r0[x] * w0[x];
    }
    if (rows_read) {
      // The rows no later output row reads: the first `stride` of this
      // box (box >= stride), all of the last box.
      const int y0 = by * stride;
      rows_read(y0, y0 + (by + 1 < out_h ? std::min(stride, box) : box));
    }
    float* out_row = out.row(by);
    switch (box * 16 + stride) {
      case 2 * 16 + 2:
        StridedBoxSums<2, 2>(columns.data(), width, out_w, scale, out_row);
        break;
      case 4 * 16 + 2:
        StridedBoxSums<4, 2>(columns.data(), width, out_w, scale, out_row);
        break;
      case 6 * 16 + 2:
        StridedBoxSums<6, 2>(columns.data(), width, out_w, scale, out_row);
        break;
      case 4 * 16 + 4:
        StridedBoxSums<4, 4>(columns.data(), width, out_w, scale, out_row);
        break;
      case 6 * 16 + 4:
        StridedBoxSums<6, 4>(columns.data(), width, out_w, scale, out_row);
        break;
      default:
        switch (box) {
          case 2:
            BoxSums<2>(columns.data(), stride, out_w, scale, out_row);
            break;
          case 4:
            BoxSums<4>(columns.data(), stride, out_w, scale, out_row);
            break;
          case 6:
            BoxSums<6>(columns.data(), stride, out_w, scale, out_row);
            break;
          default:
            for (int bx = 0; bx < out_w; ++bx) {
              const float* c = columns.data() + bx * stride;
              float sum = 0;
              for (int k = 0; k < box; ++k) sum += c[k];
              out_row[bx] = sum * scale;
            }
            break;
        }
        break;
    }
  }
}

DSB_VECTOR_CLONES Plane<float> PeriodLuma(const RawImage& image,
                                          const std::array<float, 3>& balance,
                                          int y0, int x0, int height,
                                          int width) {
  const int period = image.cfa.period();
  // Horizontal period sums of the balanced window grown by period - 1 rows,
  // then vertical period sums. Sums are recomputed per output sample
  // (period adds) rather than kept running, so every sample is the same
  // expression wherever it sits and rounding does not drift along a row.
  // The horizontal sums live in a ring of `period` rows (in L1), each
  // output row made as soon as its last input row is: a plane of them was
  // written and read back once per call (the fine search makes 24 per
  // candidate).
  const int in_h = height + period - 1;
  const int in_w = width + period - 1;
  // Neither the ring nor the output is filled first: each sum starts from
  // 0.0f + its first term, the very addition the zeroed planes' first +=
  // made. No buffer here is (std::vector zero-fills; every entry read is
  // written first).
  const auto ring = std::make_unique_for_overwrite<float[]>(
      static_cast<std::size_t>(period) * width);
  const auto balanced =
      std::make_unique_for_overwrite<float[]>(static_cast<std::size_t>(in_w));
  // The balance of every column of each row phase, so the product below is
  // a plain vector multiply (the same products as cycling through the
  // period's weights).
  const auto weights = std::make_unique_for_overwrite<float[]>(
      static_cast<std::size_t>(period) * in_w);
  for (int p = 0; p < period && p < in_h; ++p) {
    BalanceRow(image, balance, y0 + p, x0, in_w,
               &weights[static_cast<std::size_t>(p) * in_w]);
  }
  Plane<float> luma;
  luma.Resize(width, height);
  for (int i = 0; i < in_h; ++i) {
    const int y = y0 + i;
    FetchRowsAhead(i, in_h, in_w,
                   [&](int k) { return image.pixels.row(y0 + k) + x0; });
    const float* row = image.pixels.row(y) + x0;
    const float* w = &weights[static_cast<std::size_t>(i % period) * in_w];
    for (int j = 0; j < in_w; ++j) balanced[j] = row[j] * w[j];
    float* horizontal = &ring[static_cast<std::size_t>(i % period) * width];
    switch (period) {
      case 2:
        HorizontalPeriodSums<2>(balanced.get(), width, horizontal);
        break;
      case 6:
        HorizontalPeriodSums<6>(balanced.get(), width, horizontal);
        break;
      default:
        for (int j = 0; j < width; ++j) horizontal[j] = 0.0f + balanced[j];
        for (int k = 1; k < period; ++k) {
          const float* in = balanced.get() + k;
          for (int j = 0; j < width; ++j) horizontal[j] += in[j];
        }
        break;
    }
    // Output row o = i - period + 1: horizontal rows o .. o + period - 1,
    // added in that order.
    const int o = i - period + 1;
    if (o < 0) continue;
    float* out = luma.row(o);
    const float* terms[CfaPattern::kMaxPeriod];
    for (int k = 0; k < period; ++k) {
      terms[k] = &ring[static_cast<std::size_t>((o + k) % period) * width];
    }
    switch (period) {
      case 2:
        VerticalPeriodSums<2>(terms, width, out);
        break;
      case 6:
        VerticalPeriodSums<6>(terms, width, out);
        break;
      default:
        for (int j = 0; j < width; ++j) out[j] = 0.0f + terms[0][j];
        for (int k = 1; k < period; ++k) {
          for (int j = 0; j < width; ++j) out[j] += terms[k][j];
        }
        break;
    }
  }
  return luma;
}

}  // namespace dsb
