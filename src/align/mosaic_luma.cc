#include "align/mosaic_luma.h"

#include <algorithm>
#include <vector>

namespace dsb {

std::array<float, 3> ChannelBalance(const RawImage& image) {
  std::array<double, 3> sum{};
  std::array<std::int64_t, 3> count{};
  const int period = image.cfa.period();
  const float clip = image.meta.overexposure_lb;
  // Every 3rd row is plenty for a mean and keeps this off the profile.
  for (int y = 0; y < image.height(); y += 3) {
    const float* row = image.pixels.row(y);
    std::array<CfaColor, 6> colours;
    for (int x = 0; x < period; ++x) colours[x] = image.cfa.color_at(y, x);
    for (int x = 0; x < image.width(); ++x) {
      if (row[x] >= clip) continue;
      const int c = static_cast<int>(colours[x % period]);
      sum[c] += row[x];
      ++count[c];
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
  if (out_h <= 0 || out_w <= 0) return Plane<float>();
  Plane<float> out(out_w, out_h, 0.0f);
  const int period = image.cfa.period();
  // Balanced rows are built once per input row and reused by every output
  // row whose box covers it.
  std::vector<float> balanced(static_cast<std::size_t>(image.width()));
  std::vector<float> row_sums(static_cast<std::size_t>(out_w));
  const float scale = 1.0f / static_cast<float>(box * box);
  for (int y = 0; y < (out_h - 1) * stride + box; ++y) {
    const float* row = image.pixels.row(y);
    float w[6];
    for (int k = 0; k < period; ++k) {
      w[k] = balance[static_cast<int>(image.cfa.color_at(y, k))];
    }
    for (int x = 0; x < image.width(); ++x)
      balanced[x] = row[x] * w[x % period];
    for (int bx = 0; bx < out_w; ++bx) {
      const float* p = balanced.data() + bx * stride;
      float sum = 0;
      for (int k = 0; k < box; ++k) sum += p[k];
      row_sums[bx] = sum;
    }
    // Output rows by whose box row y is covered: by*stride <= y <
    // by*stride+box.
    const int first = y - box < 0 ? 0 : (y - box) / stride + 1;
    const int last = std::min(out_h - 1, y / stride);
    for (int by = first; by <= last; ++by) {
      float* out_row = out.row(by);
      for (int bx = 0; bx < out_w; ++bx) out_row[bx] += row_sums[bx];
    }
  }
  for (int by = 0; by < out_h; ++by) {
    float* out_row = out.row(by);
    for (int bx = 0; bx < out_w; ++bx) out_row[bx] *= scale;
  }
  return out;
}

Plane<float> PeriodLuma(const RawImage& image,
                        const std::array<float, 3>& balance, int y0, int x0,
                        int height, int width) {
  const int period = image.cfa.period();
  // Balanced copy of the window grown by period - 1, then separable box sums.
  const int in_h = height + period - 1;
  Plane<float> horizontal(width, in_h, 0.0f);
  for (int i = 0; i < in_h; ++i) {
    const int y = y0 + i;
    const float* row = image.pixels.row(y) + x0;
    float w[6];
    for (int k = 0; k < period; ++k) {
      w[k] = balance[static_cast<int>(image.cfa.color_at(y, x0 + k))];
    }
    float* out = horizontal.row(i);
    for (int j = 0; j < width; ++j) {
      float sum = 0;
      for (int k = 0; k < period; ++k) sum += row[j + k] * w[(j + k) % period];
      out[j] = sum;
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
