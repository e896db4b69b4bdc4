#include "report/preview.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <string>

namespace dsb {

namespace {

// The colour of every pixel of a row of phase `phase` (y mod period).
std::vector<std::uint8_t> ColourRow(const CfaPattern& cfa, int phase,
                                    int width) {
  std::vector<std::uint8_t> row(static_cast<std::size_t>(width));
  for (int x = 0; x < width; ++x) {
    row[x] = static_cast<std::uint8_t>(cfa.color_at(phase, x));
  }
  return row;
}

// How many pixels of each colour a block of side `block` holds (the same
// wherever it sits, as `block` is a multiple of the period).
std::array<float, 3> ColourCounts(const CfaPattern& cfa, int block) {
  std::array<float, 3> counts{};
  for (int y = 0; y < block; ++y) {
    for (int x = 0; x < block; ++x) {
      counts[static_cast<int>(cfa.color_at(y, x))] += 1;
    }
  }
  return counts;
}

// Per-colour sums of the block of side `block` at (y0, x0) of `image`,
// divided into means.
void BlockMean(const RawImage& image, int y0, int x0, int block,
               const std::array<float, 3>& counts, float* out) {
  double sums[3] = {0, 0, 0};
  for (int y = y0; y < y0 + block; ++y) {
    const float* row = image.pixels.row(y);
    for (int x = x0; x < x0 + block; ++x) {
      sums[static_cast<int>(image.cfa.color_at(y, x))] += row[x];
    }
  }
  for (int c = 0; c < 3; ++c) out[c] = static_cast<float>(sums[c] / counts[c]);
}

float Brightness(const float* rgb, const std::array<float, 3>& wb) {
  return (rgb[0] * wb[0] + rgb[1] * wb[1] + rgb[2] * wb[2]) /
         (wb[0] + wb[1] + wb[2]);
}

// The `fraction` quantile of `values` (which it reorders).
float Quantile(std::vector<float>& values, double fraction) {
  if (values.empty()) return 0;
  const auto k = static_cast<std::size_t>(fraction * (values.size() - 1));
  std::nth_element(values.begin(), values.begin() + k, values.end());
  return values[k];
}

std::uint8_t Srgb(float linear) {
  const float v = std::clamp(linear, 0.0f, 1.0f);
  const float encoded =
      v <= 0.0031308f ? 12.92f * v : 1.055f * std::pow(v, 1 / 2.4f) - 0.055f;
  return static_cast<std::uint8_t>(std::lround(encoded * 255));
}

// The GT's bright level (99th percentile of block brightness).
float BrightLevel(const BlockMeans& means, const std::array<float, 3>& wb) {
  std::vector<float> brightness;
  brightness.reserve(static_cast<std::size_t>(means.cols) * means.rows);
  for (int r = 0; r < means.rows; ++r) {
    for (int c = 0; c < means.cols; ++c) {
      brightness.push_back(Brightness(means.at(r, c), wb));
    }
  }
  return std::max(Quantile(brightness, 0.99), 1e-4f);
}

}  // namespace

int PreviewBlock(int width, int height, int period, int max_side) {
  const int side = std::max(width, height);
  const int unit = period * std::max(max_side, 1);
  const int multiple = std::max(1, (side + unit - 1) / unit);
  return period * multiple;
}

BlockMeans ComputeBlockMeans(const RawImage& image, int block) {
  BlockMeans means;
  means.block = block;
  means.cols = image.width() / block;
  means.rows = image.height() / block;
  means.rgb.assign(static_cast<std::size_t>(means.cols) * means.rows * 3, 0);
  if (means.cols == 0 || means.rows == 0) return means;
  const int period = image.cfa.period();
  std::vector<std::vector<std::uint8_t>> colour_rows;
  for (int phase = 0; phase < period; ++phase) {
    colour_rows.push_back(ColourRow(image.cfa, phase, means.cols * block));
  }
  const std::array<float, 3> counts = ColourCounts(image.cfa, block);
  std::vector<double> sums(static_cast<std::size_t>(means.cols) * 3);
  for (int r = 0; r < means.rows; ++r) {
    std::fill(sums.begin(), sums.end(), 0.0);
    for (int y = r * block; y < (r + 1) * block; ++y) {
      const float* row = image.pixels.row(y);
      const std::uint8_t* colours = colour_rows[y % period].data();
      for (int c = 0; c < means.cols; ++c) {
        double* s = &sums[static_cast<std::size_t>(c) * 3];
        for (int x = c * block; x < (c + 1) * block; ++x) {
          s[colours[x]] += row[x];
        }
      }
    }
    for (int c = 0; c < means.cols; ++c) {
      float* out =
          &means.rgb[(static_cast<std::size_t>(r) * means.cols + c) * 3];
      for (int k = 0; k < 3; ++k) {
        out[k] = static_cast<float>(sums[static_cast<std::size_t>(c) * 3 + k] /
                                    counts[k]);
      }
    }
  }
  return means;
}

std::array<float, 3> PreviewWhiteBalance(const RawImage& image,
                                         const BlockMeans& means) {
  const auto& wb = image.meta.wb_coeffs;
  const bool usable = wb[0] > 0 && wb[1] > 0 && wb[2] > 0 &&
                      std::isfinite(wb[0]) && std::isfinite(wb[2]) &&
                      !(wb[0] == 1 && wb[1] == 1 && wb[2] == 1);
  if (usable) return {wb[0] / wb[1], 1.0f, wb[2] / wb[1]};
  double sums[3] = {0, 0, 0};
  for (std::size_t i = 0; i < means.rgb.size(); i += 3) {
    for (int c = 0; c < 3; ++c) sums[c] += means.rgb[i + c];
  }
  if (sums[0] <= 0 || sums[1] <= 0 || sums[2] <= 0) return {1, 1, 1};
  return {static_cast<float>(sums[1] / sums[0]), 1.0f,
          static_cast<float>(sums[1] / sums[2])};
}

RgbImage RenderThumbnail(const BlockMeans& means,
                         const std::array<float, 3>& white_balance) {
  RgbImage image;
  image.width = means.cols;
  image.height = means.rows;
  image.rgb.resize(static_cast<std::size_t>(means.cols) * means.rows * 3);
  const float exposure = 0.9f / BrightLevel(means, white_balance);
  for (int r = 0; r < means.rows; ++r) {
    for (int c = 0; c < means.cols; ++c) {
      const float* m = means.at(r, c);
      std::uint8_t* out =
          &image.rgb[(static_cast<std::size_t>(r) * means.cols + c) * 3];
      for (int k = 0; k < 3; ++k) {
        out[k] = Srgb(m[k] * white_balance[k] * exposure);
      }
    }
  }
  return image;
}

Result<RgbImage> RenderDifference(const RawImage& gt,
                                  const BlockMeans& gt_means,
                                  const RawImage& noisy,
                                  const Alignment& alignment,
                                  const std::array<float, 3>& white_balance) {
  if (gt.cfa.period() != noisy.cfa.period()) {
    return Status::InvalidArgument("'" + gt.path + "' and '" + noisy.path +
                                   "' have different colour filter patterns");
  }
  const int block = gt_means.block;
  const std::array<float, 3> counts = ColourCounts(noisy.cfa, block);
  const float scale = 0.25f * BrightLevel(gt_means, white_balance);
  const float gain = static_cast<float>(alignment.raw_gain);
  const float pixels = static_cast<float>(block) * block;
  const float fractions[3] = {counts[0] / pixels, counts[1] / pixels,
                              counts[2] / pixels};
  RgbImage image;
  image.width = gt_means.cols;
  image.height = gt_means.rows;
  image.rgb.resize(static_cast<std::size_t>(image.width) * image.height * 3);
  float noisy_mean[3];
  for (int r = 0; r < gt_means.rows; ++r) {
    for (int c = 0; c < gt_means.cols; ++c) {
      std::uint8_t* out =
          &image.rgb[(static_cast<std::size_t>(r) * image.width + c) * 3];
      const int ny = r * block - alignment.dy;
      const int nx = c * block - alignment.dx;
      if (ny < 0 || nx < 0 || ny + block > noisy.height() ||
          nx + block > noisy.width()) {
        out[0] = out[1] = out[2] = 48;  // outside the overlap
        continue;
      }
      BlockMean(noisy, ny, nx, block, counts, noisy_mean);
      const float* g = gt_means.at(r, c);
      const float d[3] = {g[0] - gain * noisy_mean[0],
                          g[1] - gain * noisy_mean[1],
                          g[2] - gain * noisy_mean[2]};
      // Over all the block's pixels, each balanced for its colour: every
      // pixel counts once, so the colours' differing sample positions
      // inside a block (X-Trans) add no edges of their own.
      const float signed_diff = fractions[0] * white_balance[0] * d[0] +
                                fractions[1] * white_balance[1] * d[1] +
                                fractions[2] * white_balance[2] * d[2];
      const float t = std::min(1.0f, std::sqrt(std::fabs(signed_diff) / scale));
      if (signed_diff >= 0) {  // the GT is brighter: orange
        out[0] = static_cast<std::uint8_t>(std::lround(255 * t));
        out[1] = static_cast<std::uint8_t>(std::lround(150 * t));
        out[2] = static_cast<std::uint8_t>(std::lround(20 * t));
      } else {  // the noisy capture is brighter: blue
        out[0] = static_cast<std::uint8_t>(std::lround(40 * t));
        out[1] = static_cast<std::uint8_t>(std::lround(150 * t));
        out[2] = static_cast<std::uint8_t>(std::lround(255 * t));
      }
    }
  }
  return image;
}

Result<RgbImage> RenderMaskOverlay(const RgbImage& gt_thumbnail, int block,
                                   int gt_height, int gt_width, int dy, int dx,
                                   PlaneView<const std::uint8_t> mask) {
  const Overlap overlap = ComputeOverlap(gt_height, gt_width, dy, dx);
  if (mask.width != overlap.width || mask.height != overlap.height) {
    return Status::Corrupt(
        "the mask is " + std::to_string(mask.width) + "x" +
        std::to_string(mask.height) + " but the pair's overlap is " +
        std::to_string(overlap.width) + "x" + std::to_string(overlap.height));
  }
  RgbImage image = gt_thumbnail;
  const float block_pixels = static_cast<float>(block) * block;
  for (int r = 0; r < image.height; ++r) {
    // Rows of this block inside the overlap, in mask coordinates.
    const int y_begin = std::max(r * block - overlap.gt_y0, 0);
    const int y_end = std::min((r + 1) * block - overlap.gt_y0, mask.height);
    for (int c = 0; c < image.width; ++c) {
      const int x_begin = std::max(c * block - overlap.gt_x0, 0);
      const int x_end = std::min((c + 1) * block - overlap.gt_x0, mask.width);
      int inside = 0, ignored = 0;
      for (int y = y_begin; y < y_end; ++y) {
        const std::uint8_t* row = mask.row(y);
        for (int x = x_begin; x < x_end; ++x) {
          ++inside;
          ignored += row[x] < 128;
        }
      }
      std::uint8_t* px =
          &image.rgb[(static_cast<std::size_t>(r) * image.width + c) * 3];
      const float outside = 1.0f - inside / block_pixels;
      const float tint = inside > 0 ? 0.7f * ignored / inside : 0.0f;
      const float darken = 1.0f - 0.75f * outside;
      const float red[3] = {255, 30, 30};
      for (int k = 0; k < 3; ++k) {
        const float v = (px[k] * (1 - tint) + red[k] * tint) * darken;
        px[k] =
            static_cast<std::uint8_t>(std::lround(std::clamp(v, 0.f, 255.f)));
      }
    }
  }
  return image;
}

}  // namespace dsb
