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

// The colour sums, minimum and maximum of an RGGB frame, row by row (so a
// pass can do other work on each row while it is in cache).
class StatsPass {
 public:
  void AddRow(const float* row, int width, int y) {
    if (first_) {
      lo_ = hi_ = row[0];
      first_ = false;
    }
    // Sums, minima and maxima in 8 lanes (vectorised; for the sums, even
    // lanes are one colour, odd lanes the other), double sums per row.
    float lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    float lo8[8], hi8[8];
    for (int k = 0; k < 8; ++k) lo8[k] = hi8[k] = lo_;
    int x = 0;
    for (; x + 8 <= width; x += 8) {
      for (int k = 0; k < 8; ++k) {
        const float v = row[x + k];
        lanes[k] += v;
        lo8[k] = v < lo8[k] ? v : lo8[k];
        hi8[k] = v > hi8[k] ? v : hi8[k];
      }
    }
    for (int k = 0; k < 8; ++k) {
      lo_ = lo8[k] < lo_ ? lo8[k] : lo_;
      hi_ = hi8[k] > hi_ ? hi8[k] : hi_;
    }
    for (int t = x; t < width; ++t) {
      lo_ = row[t] < lo_ ? row[t] : lo_;
      hi_ = row[t] > hi_ ? row[t] : hi_;
    }
    double even = lanes[0] + lanes[2] + lanes[4] + lanes[6];
    double odd = lanes[1] + lanes[3] + lanes[5] + lanes[7];
    for (; x + 1 < width; x += 2) {
      even += row[x];
      odd += row[x + 1];
    }
    sums_[(y % 2) * 2] += even;
    sums_[(y % 2) * 2 + 1] += odd;
  }

  FrameStats Finish(int width, int height) const {
    const double cells =
        static_cast<double>(width / 2) * static_cast<double>(height / 2);
    FrameStats stats;
    // R, the two greens together, B.
    stats.colour_mean_sum = sums_[0] / cells +
                            (sums_[1] + sums_[2]) / (2 * cells) +
                            sums_[3] / cells;
    // raw.demosaic's scaling (as DemosaicScaleOf).
    stats.scale.black_offset = lo_ >= 0.0f ? 0.0f : -lo_;
    const float shifted_max = hi_ + stats.scale.black_offset;
    stats.scale.max_value = shifted_max <= 1.0f ? 1.0f : shifted_max;
    return stats;
  }

 private:
  double sums_[4] = {0, 0, 0, 0};
  float lo_ = 0, hi_ = 0;
  bool first_ = true;
};

FrameStats Stats(PlaneView<const float> frame) {
  StatsPass pass;
  for (int y = 0; y < frame.height; ++y) {
    pass.AddRow(frame.row(y), frame.width, y);
  }
  return pass.Finish(frame.width, frame.height);
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
  const PlaneView<const float> g = FrameView(gt, ref.frame_);
  ref.frame_view_ = g;
  const FrameStats stats = Stats(g);
  ref.colour_mean_sum_ = stats.colour_mean_sum;
  RawnindSampling s = sampling;
  const double cells = static_cast<double>(ref.frame_.height) *
                       ref.frame_.width / (s.cell_rows * s.cell_cols);
  if (cells < s.min_tiles) {
    const double scale = std::sqrt(cells / std::max(1, s.min_tiles));
    s.cell_rows =
        std::max(s.tile_rows, static_cast<int>(s.cell_rows * scale) & ~1);
    s.cell_cols =
        std::max(s.tile_cols, static_cast<int>(s.cell_cols * scale) & ~1);
  }
  ref.sampling_ = s;
  std::vector<float> rgb;
  std::vector<std::uint16_t> mono, colour;
  // Every tile's pixels in one buffer, sized once (no growth copies).
  const std::size_t cell_count =
      static_cast<std::size_t>((ref.frame_.height + s.cell_rows - 1) /
                               s.cell_rows) *
      ((ref.frame_.width + s.cell_cols - 1) / s.cell_cols);
  ref.rgb_.reserve(cell_count * s.tile_rows * s.tile_cols * 3);
  ref.tiles_.reserve(cell_count);
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
  // One pass over the noisy frame: its colour sums and range, and, while
  // its rows are in cache, the control variate over the whole overlap
  // (overlap pixels whose 2x2 box is inside; GT row y needs noisy rows
  // y + oy and y + oy + 1).
  const int py0 = gy0, py1 = gy0 + rows - 1, px0 = gx0, px1 = gx0 + cols - 1;
  const int oy = ny0 - gy0, ox = nx0 - gx0;
  // The control variate's gain: RawNIND's, estimated from every 16th row
  // pair (the variate needs one near it; the exact one needs this pass).
  float proxy_gain = 1.0f;
  {
    StatsPass sparse;
    int sampled_rows = 0;
    for (int yn = 0; yn + 1 < frame.height; yn += 32) {
      sparse.AddRow(n.row(yn), frame.width, 0);
      sparse.AddRow(n.row(yn + 1), frame.width, 1);
      sampled_rows += 2;
    }
    const double sum = sparse.Finish(frame.width, sampled_rows).colour_mean_sum;
    if (sum > 0) proxy_gain = static_cast<float>(gt.colour_mean_sum_ / sum);
  }
  double proxy_full = 0, proxy_sample = 0;
  std::size_t proxy_full_count = 0, proxy_sample_count = 0;
  StatsPass pass;
  for (int yn = 0; yn < frame.height; ++yn) {
    pass.AddRow(n.row(yn), frame.width, yn);
    const int y = yn - 1 - oy;
    if (y >= py0 && y < py1 && px1 > px0) {
      proxy_full +=
          ProxyRow(gt.frame_view_, n, y, px0, px1, oy, ox, proxy_gain);
    }
  }
  if (py1 > py0 && px1 > px0) {
    proxy_full_count = static_cast<std::size_t>(py1 - py0) * (px1 - px0);
  }
  const FrameStats n_stats = pass.Finish(frame.width, frame.height);
  RawnindPairFigures figures;
  figures.rgb_gain = n_stats.colour_mean_sum != 0
                         ? gt.colour_mean_sum_ / n_stats.colour_mean_sum
                         : 1.0;
  const float gain = static_cast<float>(figures.rgb_gain);

  std::vector<float> n_rgb;
  std::vector<std::uint16_t> mono, colour;
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
        proxy_sample +=
            ProxyRow(gt.frame_view_, n, y, qx0, qx1, oy, ox, proxy_gain);
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
