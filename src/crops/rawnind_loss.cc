#include "crops/rawnind_loss.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "crops/camera_rgb.h"
#include "crops/crop_grid.h"

namespace dsb {

namespace {

constexpr int kBandRows = 8;     // rows used per band
constexpr int kBandPeriod = 32;  // one band every this many rows

struct FrameStats {
  double colour_mean_sum = 0;  // mean R + mean G + mean B of the samples
  DemosaicScale scale;         // raw.demosaic's, from the minimum and maximum
};

// One pass over an RGGB frame.
FrameStats Stats(PlaneView<const float> frame) {
  double sums[4] = {0, 0, 0, 0};
  float lo = frame.empty() ? 0.0f : frame.row(0)[0], hi = lo;
  for (int y = 0; y < frame.height; ++y) {
    const float* row = frame.row(y);
    for (int x = 0; x < frame.width; ++x) {
      lo = row[x] < lo ? row[x] : lo;
      hi = row[x] > hi ? row[x] : hi;
    }
    // Float partial sums in 8 lanes (vectorised; even lanes are one colour,
    // odd lanes the other), double per row.
    float lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int x = 0;
    for (; x + 8 <= frame.width; x += 8) {
      for (int k = 0; k < 8; ++k) lanes[k] += row[x + k];
    }
    double even = lanes[0] + lanes[2] + lanes[4] + lanes[6];
    double odd = lanes[1] + lanes[3] + lanes[5] + lanes[7];
    for (; x + 1 < frame.width; x += 2) {
      even += row[x];
      odd += row[x + 1];
    }
    sums[(y % 2) * 2] += even;
    sums[(y % 2) * 2 + 1] += odd;
  }
  const double cells = static_cast<double>(frame.width / 2) *
                       static_cast<double>(frame.height / 2);
  FrameStats stats;
  // R, the two greens together, B.
  stats.colour_mean_sum =
      sums[0] / cells + (sums[1] + sums[2]) / (2 * cells) + sums[3] / cells;
  // raw.demosaic's scaling (as DemosaicScaleOf), from the same pass.
  stats.scale.black_offset = lo >= 0.0f ? 0.0f : -lo;
  const float shifted_max = hi + stats.scale.black_offset;
  stats.scale.max_value = shifted_max <= 1.0f ? 1.0f : shifted_max;
  return stats;
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

}  // namespace

Result<RawnindPairFigures> RawnindFigures(const RawImage& gt,
                                          const RawImage& noisy, int dy,
                                          int dx) {
  if (gt.cfa.is_xtrans() || !(gt.cfa == noisy.cfa) ||
      gt.width() != noisy.width() || gt.height() != noisy.height()) {
    return Status::InvalidArgument(
        "RawNIND's demosaiced figures need two Bayer frames of one sensor");
  }
  const CropFrame frame = RawnindFrame(gt.cfa, gt.width(), gt.height());
  const auto view = [&](const RawImage& image) {
    return PlaneView<const float>(image.pixels.view().crop(
        frame.top, frame.left, frame.height, frame.width));
  };
  const PlaneView<const float> g = view(gt), n = view(noisy);
  int gy0, ny0, rows, gx0, nx0, cols;
  Overlap(frame.height, dy, gy0, ny0, rows);
  Overlap(frame.width, dx, gx0, nx0, cols);
  if (rows <= 0 || cols <= 0) {
    return Status::InvalidArgument("the pair does not overlap at its shift");
  }
  RawnindPairFigures figures;
  const FrameStats g_stats = Stats(g), n_stats = Stats(n);
  figures.rgb_gain = n_stats.colour_mean_sum != 0
                         ? g_stats.colour_mean_sum / n_stats.colour_mean_sum
                         : 1.0;
  const float gain = static_cast<float>(figures.rgb_gain);

  const DemosaicScale& g_scale = g_stats.scale;
  const DemosaicScale& n_scale = n_stats.scale;
  CameraRgbBand g_band, n_band;
  std::vector<float> g_rgb, n_rgb;
  double sum = 0;
  std::size_t count = 0;
  // Bands centred in each period, so short overlaps still get one.
  for (int b = (kBandPeriod - kBandRows) / 2 % std::max(1, rows); b < rows;
       b += kBandPeriod) {
    const int h = std::min(kBandRows, rows - b);
    g_band.Demosaic(g, g_scale, gy0 + b, gy0 + b + h);
    n_band.Demosaic(n, n_scale, ny0 + b, ny0 + b + h);
    g_band.Read(gy0 + b, gx0, h, cols, g_rgb);
    n_band.Read(ny0 + b, nx0, h, cols, n_rgb);
    float lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    std::size_t i = 0;
    for (; i + 8 <= g_rgb.size(); i += 8) {
      for (int k = 0; k < 8; ++k) {
        lanes[k] += std::abs(g_rgb[i + k] - gain * n_rgb[i + k]);
      }
    }
    double band_sum = 0;
    for (; i < g_rgb.size(); ++i) {
      band_sum += std::abs(g_rgb[i] - gain * n_rgb[i]);
    }
    for (float lane : lanes) band_sum += lane;
    sum += band_sum;
    count += g_rgb.size();
  }
  figures.best_alignment_loss = count ? sum / static_cast<double>(count) : 0;
  return figures;
}

}  // namespace dsb
