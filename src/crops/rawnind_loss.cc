#include "crops/rawnind_loss.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace dsb {

namespace {

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

// A cell's tile offset (even, in [0, cell - tile]), drawn from the cell's
// index so the sample does not line up with rows or columns of the scene.
int TileOffset(std::uint32_t cy, std::uint32_t cx, std::uint32_t salt, int cell,
               int tile) {
  const int choices = (cell - tile) / 2 + 1;
  std::uint32_t h = cy * 0x9E3779B1u ^ (cx + 0x7F4A7C15u) * 0x85EBCA77u ^ salt;
  h ^= h >> 15;
  h *= 0x2C1B3C6Du;
  h ^= h >> 12;
  return static_cast<int>(h % static_cast<std::uint32_t>(choices)) * 2;
}

// The control variate: sum over GT pixels [x0, x1) of row y of
// |box(gt) - gain x box(noisy)|, box being the 2x2 sum starting at the
// pixel (any 2x2 window of a Bayer mosaic holds R, G, G and B, so it is
// colour-balanced at every shift) and the noisy pixel (y + oy, x + ox).
double ProxyRow(PlaneView<const float> g, PlaneView<const float> n, int y,
                int x0, int x1, int oy, int ox, float gain) {
  const float* g0 = g.row(y);
  const float* g1 = g.row(y + 1);
  const float* n0 = n.row(y + oy) + ox;
  const float* n1 = n.row(y + oy + 1) + ox;
  float lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int x = x0;
  for (; x + 8 <= x1; x += 8) {
    for (int k = 0; k < 8; ++k) {
      const int i = x + k;
      const float gb = g0[i] + g0[i + 1] + g1[i] + g1[i + 1];
      const float nb = n0[i] + n0[i + 1] + n1[i] + n1[i + 1];
      lanes[k] += std::abs(gb - gain * nb);
    }
  }
  double sum = 0;
  for (; x < x1; ++x) {
    const float gb = g0[x] + g0[x + 1] + g1[x] + g1[x + 1];
    const float nb = n0[x] + n0[x + 1] + n1[x] + n1[x + 1];
    sum += std::abs(gb - gain * nb);
  }
  for (float lane : lanes) sum += lane;
  return sum;
}

PlaneView<const float> FrameView(const RawImage& image,
                                 const CropFrame& frame) {
  return PlaneView<const float>(image.pixels.view().crop(
      frame.top, frame.left, frame.height, frame.width));
}

}  // namespace

Result<RawnindReference> RawnindReference::Make(
    const RawImage& gt, const RawnindSampling& sampling) {
  if (gt.cfa.is_xtrans()) {
    return Status::InvalidArgument(
        "RawNIND's demosaiced figures need two Bayer frames of one sensor");
  }
  RawnindReference ref;
  ref.cfa_ = gt.cfa;
  ref.width_ = gt.width();
  ref.height_ = gt.height();
  ref.frame_ = RawnindFrame(gt.cfa, gt.width(), gt.height());
  ref.sampling_ = sampling;
  const PlaneView<const float> g = FrameView(gt, ref.frame_);
  ref.frame_view_ = g;
  const FrameStats stats = Stats(g);
  ref.colour_mean_sum_ = stats.colour_mean_sum;
  const RawnindSampling& s = sampling;
  std::vector<float> rgb;
  std::vector<std::uint16_t> mono, colour;
  for (int cy = 0; cy * s.cell_rows < ref.frame_.height; ++cy) {
    for (int cx = 0; cx * s.cell_cols < ref.frame_.width; ++cx) {
      Tile tile;
      tile.y =
          cy * s.cell_rows + TileOffset(cy, cx, 1, s.cell_rows, s.tile_rows);
      tile.x =
          cx * s.cell_cols + TileOffset(cy, cx, 2, s.cell_cols, s.tile_cols);
      tile.h = std::min(s.tile_rows, ref.frame_.height - tile.y);
      tile.w = std::min(s.tile_cols, ref.frame_.width - tile.x);
      if (tile.h <= 0 || tile.w <= 0) continue;  // a cell cut by the edge
      DemosaicTile(g, stats.scale, tile.y, tile.x, tile.h, tile.w, rgb, mono,
                   colour);
      tile.offset = ref.rgb_.size();
      ref.rgb_.insert(ref.rgb_.end(), rgb.begin(), rgb.end());
      ref.tiles_.push_back(tile);
    }
  }
  return ref;
}

Result<RawnindPairFigures> RawnindFigures(const RawnindReference& gt,
                                          const RawImage& noisy, int dy,
                                          int dx) {
  if (noisy.cfa.is_xtrans() || !(gt.cfa_ == noisy.cfa) ||
      gt.width_ != noisy.width() || gt.height_ != noisy.height()) {
    return Status::InvalidArgument(
        "RawNIND's demosaiced figures need two Bayer frames of one sensor");
  }
  const CropFrame& frame = gt.frame_;
  const PlaneView<const float> n = FrameView(noisy, frame);
  int gy0, ny0, rows, gx0, nx0, cols;
  Overlap(frame.height, dy, gy0, ny0, rows);
  Overlap(frame.width, dx, gx0, nx0, cols);
  if (rows <= 0 || cols <= 0) {
    return Status::InvalidArgument("the pair does not overlap at its shift");
  }
  RawnindPairFigures figures;
  const FrameStats n_stats = Stats(n);
  figures.rgb_gain = n_stats.colour_mean_sum != 0
                         ? gt.colour_mean_sum_ / n_stats.colour_mean_sum
                         : 1.0;
  const float gain = static_cast<float>(figures.rgb_gain);

  std::vector<float> n_rgb;
  std::vector<std::uint16_t> mono, colour;
  // The control variate's domain: overlap pixels whose 2x2 box is inside.
  const int py0 = gy0, py1 = gy0 + rows - 1, px0 = gx0, px1 = gx0 + cols - 1;
  const int oy = ny0 - gy0, ox = nx0 - gx0;
  double proxy_full = 0, proxy_sample = 0;
  std::size_t proxy_full_count = 0, proxy_sample_count = 0;
  if (py1 > py0 && px1 > px0) {
    for (int y = py0; y < py1; ++y) {
      proxy_full += ProxyRow(gt.frame_view_, n, y, px0, px1, oy, ox, gain);
    }
    proxy_full_count = static_cast<std::size_t>(py1 - py0) * (px1 - px0);
  }
  double sum = 0;
  std::size_t count = 0;
  for (const RawnindReference::Tile& tile : gt.tiles_) {
    // The tile's part inside the overlap, in GT coordinates.
    const int y0 = std::max(tile.y, gy0);
    const int y1 = std::min(tile.y + tile.h, gy0 + rows);
    const int x0 = std::max(tile.x, gx0);
    const int x1 = std::min(tile.x + tile.w, gx0 + cols);
    if (y0 >= y1 || x0 >= x1) continue;
    const int h = y1 - y0, w = x1 - x0;
    DemosaicTile(n, n_stats.scale, y0 - gy0 + ny0, x0 - gx0 + nx0, h, w, n_rgb,
                 mono, colour);
    double tile_sum = 0;
    for (int r = 0; r < h; ++r) {
      const float* g =
          gt.rgb_.data() + tile.offset +
          (static_cast<std::size_t>(y0 - tile.y + r) * tile.w + (x0 - tile.x)) *
              3;
      const float* q = n_rgb.data() + static_cast<std::size_t>(r) * w * 3;
      // Float partial sums in 8 lanes (vectorised), double per row.
      float lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      int i = 0;
      for (; i + 8 <= w * 3; i += 8) {
        for (int k = 0; k < 8; ++k)
          lanes[k] += std::abs(g[i + k] - gain * q[i + k]);
      }
      for (; i < w * 3; ++i) tile_sum += std::abs(g[i] - gain * q[i]);
      for (float lane : lanes) tile_sum += lane;
    }
    sum += tile_sum;
    count += static_cast<std::size_t>(h) * w * 3;
    // The control variate on the same pixels.
    const int qy0 = std::max(y0, py0), qy1 = std::min(y1, py1);
    const int qx0 = std::max(x0, px0), qx1 = std::min(x1, px1);
    if (qy0 < qy1 && qx0 < qx1) {
      for (int y = qy0; y < qy1; ++y) {
        proxy_sample += ProxyRow(gt.frame_view_, n, y, qx0, qx1, oy, ox, gain);
      }
      proxy_sample_count += static_cast<std::size_t>(qy1 - qy0) * (qx1 - qx0);
    }
  }
  double loss = count ? sum / static_cast<double>(count) : 0;
  // Ratio estimator: the sample's loss scaled by how the control variate
  // over the whole overlap compares to its value on the sample (1 when the
  // sample is the whole overlap).
  if (proxy_sample > 0 && proxy_full_count > 0 && proxy_sample_count > 0) {
    loss *= (proxy_full / static_cast<double>(proxy_full_count)) /
            (proxy_sample / static_cast<double>(proxy_sample_count));
  }
  figures.best_alignment_loss = loss;
  return figures;
}

Result<RawnindPairFigures> RawnindFigures(const RawImage& gt,
                                          const RawImage& noisy, int dy, int dx,
                                          const RawnindSampling& sampling) {
  DSB_ASSIGN_OR_RETURN(RawnindReference reference,
                       RawnindReference::Make(gt, sampling));
  return RawnindFigures(reference, noisy, dy, dx);
}

}  // namespace dsb
