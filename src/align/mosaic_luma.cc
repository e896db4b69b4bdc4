#include "align/mosaic_luma.h"

#include <algorithm>
#include <vector>

namespace dsb {

std::array<float, 3> ChannelBalance(const RawImage& image) {
  std::array<double, 3> sum{};
  std::array<double, 3> count{};
  const int period = image.cfa.period();
  const float clip = image.meta.overexposure_lb;
  // Two rows in every eight (a quarter of the image) are plenty for three
  // means; rows 8k and 8k+1 visit every row phase of Bayer and X-Trans.
  for (int y = 0; y < image.height(); ++y) {
    if ((y & 7) >= 2) continue;
    const float* row = image.pixels.row(y);
    for (int k = 0; k < period && k < image.width(); ++k) {
      // One colour per column phase: float partial sums per row, double
      // across rows.
      float s = 0;
      int n = 0;
      for (int x = k; x < image.width(); x += period) {
        const bool keep = row[x] < clip;
        s += keep ? row[x] : 0.0f;
        n += keep;
      }
      const int c = static_cast<int>(image.cfa.color_at(y, k));
      sum[c] += s;
      count[c] += n;
    }
  }
  std::array<float, 3> balance{1, 1, 1};
  for (int c = 0; c < 3; ++c) {
    const double mean = count[c] > 0 ? sum[c] / count[c] : 0;
    balance[c] = mean > 1e-6 ? static_cast<float>(1.0 / mean) : 1.0f;
  }
  return balance;
}

Plane<float> CoarseLuma(const RawImage& image,
                        const std::array<float, 3>& balance, int stride,
                        int box) {
  const int out_h = (image.height() - box) / stride + 1;
  const int out_w = (image.width() - box) / stride + 1;
  if (out_h <= 0 || out_w <= 0 || box <= 0 || stride <= 0) {
    return Plane<float>();
  }
  Plane<float> out(out_w, out_h, 0.0f);
  const int period = image.cfa.period();
  const int width = image.width();
  // The balance of every pixel of one row phase, as a full row, so the
  // vertical pass is a plain multiply-add the compiler vectorises.
  std::vector<float> weights(static_cast<std::size_t>(period) * width);
  for (int p = 0; p < period; ++p) {
    for (int x = 0; x < width; ++x) {
      weights[static_cast<std::size_t>(p) * width + x] =
          balance[static_cast<int>(image.cfa.color_at(p, x))];
    }
  }
  // Per output row: the box rows summed column by column (each input row
  // read box / stride times), then box-wide horizontal sums every stride
  // columns.
  std::vector<float> columns(static_cast<std::size_t>(width));
  const float scale = 1.0f / static_cast<float>(box * box);
  for (int by = 0; by < out_h; ++by) {
    std::fill(columns.begin(), columns.end(), 0.0f);
    for (int k = 0; k < box; ++k) {
      const int y = by * stride + k;
      const float* row = image.pixels.row(y);
      const float* w = &weights[static_cast<std::size_t>(y % period) * width];
      for (int x = 0; x < width; ++x) columns[x] += row[x] * w[x];
    }
    float* out_row = out.row(by);
    for (int bx = 0; bx < out_w; ++bx) {
      const float* c = columns.data() + bx * stride;
      float sum = 0;
      for (int k = 0; k < box; ++k) sum += c[k];
      out_row[bx] = sum * scale;
    }
  }
  return out;
}

Plane<float> PeriodLuma(const RawImage& image,
                        const std::array<float, 3>& balance, int y0, int x0,
                        int height, int width) {
  const int period = image.cfa.period();
  // Horizontal period sums of the balanced window grown by period - 1 rows,
  // then vertical period sums. Sums are recomputed per output sample
  // (period adds) rather than kept running, so every sample is the same
  // expression wherever it sits and rounding does not drift along a row.
  const int in_h = height + period - 1;
  const int in_w = width + period - 1;
  Plane<float> horizontal(width, in_h, 0.0f);
  std::vector<float> balanced(static_cast<std::size_t>(in_w));
  for (int i = 0; i < in_h; ++i) {
    const int y = y0 + i;
    const float* row = image.pixels.row(y) + x0;
    float w[6];
    for (int k = 0; k < period; ++k) {
      w[k] = balance[static_cast<int>(image.cfa.color_at(y, x0 + k))];
    }
    for (int j = 0, k = 0; j < in_w; ++j, k = (k + 1 == period ? 0 : k + 1)) {
      balanced[j] = row[j] * w[k];
    }
    float* out = horizontal.row(i);
    for (int k = 0; k < period; ++k) {
      const float* in = balanced.data() + k;
      for (int j = 0; j < width; ++j) out[j] += in[j];
    }
  }
  Plane<float> luma(width, height, 0.0f);
  for (int i = 0; i < height; ++i) {
    float* out = luma.row(i);
    for (int k = 0; k < period; ++k) {
      const float* in = horizontal.row(i + k);
      for (int j = 0; j < width; ++j) out[j] += in[j];
    }
  }
  return luma;
}

}  // namespace dsb
