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

// Sum of the mean of each colour's samples (R, G, B) of an RGGB frame.
double ColourMeanSum(PlaneView<const float> frame) {
  double sums[4] = {0, 0, 0, 0};
  for (int y = 0; y < frame.height; ++y) {
    const float* row = frame.row(y);
    double even = 0, odd = 0;
    for (int x = 0; x + 1 < frame.width; x += 2) {
      even += row[x];
      odd += row[x + 1];
    }
    sums[(y % 2) * 2] += even;
    sums[(y % 2) * 2 + 1] += odd;
  }
  const double cells = static_cast<double>(frame.width / 2) *
                       static_cast<double>(frame.height / 2);
  // R, the two greens together, B.
  return sums[0] / cells + (sums[1] + sums[2]) / (2 * cells) + sums[3] / cells;
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
  const double noisy_sum = ColourMeanSum(n);
  figures.rgb_gain = noisy_sum != 0 ? ColourMeanSum(g) / noisy_sum : 1.0;
  const float gain = static_cast<float>(figures.rgb_gain);

  const DemosaicScale g_scale = DemosaicScaleOf(g),
                      n_scale = DemosaicScaleOf(n);
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
    double band_sum = 0;
    for (std::size_t i = 0; i < g_rgb.size(); ++i) {
      band_sum += std::abs(g_rgb[i] - gain * n_rgb[i]);
    }
    sum += band_sum;
    count += g_rgb.size();
  }
  figures.best_alignment_loss = count ? sum / static_cast<double>(count) : 0;
  return figures;
}

}  // namespace dsb
