#include "align/shift_search.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "align/fftw_plans.h"
#include "align/mosaic_luma.h"

namespace dsb {

namespace {

// About 2.5 million coarse samples: enough detail for a robust peak, small
// enough that the coarse FFT costs a few tens of milliseconds.
constexpr double kCoarseSamples = 2.5e6;
// Fine tiles: at most this many, this large.
constexpr int kTileCount = 8;
constexpr int kTileGrid = 4;
constexpr int kMaxTile = 192;
constexpr int kMinTile = 16;
// Secondary coarse peaks below this fraction of the strongest are not
// verified (see FineSearch).
constexpr float kCandidateFloor = 0.25f;

double ParabolicOffset(double left, double centre, double right) {
  const double denominator = left - 2 * centre + right;
  if (std::abs(denominator) < 1e-12) return 0;
  return std::clamp(0.5 * (left - right) / denominator, -0.5, 0.5);
}

float Taper(int i, int n, int ramp) {
  if (ramp <= 0) return 1.0f;
  const int d = std::min(i, n - 1 - i);
  if (d >= ramp) return 1.0f;
  return 0.5f - 0.5f * std::cos(3.14159265f * (d + 0.5f) / ramp);
}

// Adds to scores[oy * window + ox] the zero-mean normalised
// cross-correlation of the tile `a` (size x size, already zero-mean, with
// norm sqrt(sum a^2) = a_norm) against the window of `b` whose top-left is
// (oy, ox), for every offset in [0, window)^2; `b` is (size + window - 1)^2.
// Because `a` is zero-mean, the covariance is sum(a * b) alone; the window
// sums of b and b^2 that its variance needs come from integral images.
void AddNccScores(const Plane<float>& a, double a_norm, const Plane<float>& b,
                  int size, int window, double* scores) {
  const int bw = b.width(), bh = b.height();
  std::vector<double> s1(static_cast<std::size_t>(bh + 1) * (bw + 1), 0.0);
  std::vector<double> s2(s1.size(), 0.0);
  auto idx = [bw](int y, int x) {
    return static_cast<std::size_t>(y) * (bw + 1) + x;
  };
  for (int y = 0; y < bh; ++y) {
    double row1 = 0, row2 = 0;
    const float* pb = b.row(y);
    for (int x = 0; x < bw; ++x) {
      row1 += pb[x];
      row2 += static_cast<double>(pb[x]) * pb[x];
      s1[idx(y + 1, x + 1)] = s1[idx(y, x + 1)] + row1;
      s2[idx(y + 1, x + 1)] = s2[idx(y, x + 1)] + row2;
    }
  }
  const double n = static_cast<double>(size) * size;
  constexpr int kLanes = 8;
  for (int oy = 0; oy < window; ++oy) {
    for (int ox = 0; ox < window; ++ox) {
      // Eight float partial sums per row so the compiler vectorises the
      // dot product; rows are added in double.
      double cross = 0;
      for (int i = 0; i < size; ++i) {
        const float* pa = a.row(i);
        const float* pb = b.row(oy + i) + ox;
        float lanes[kLanes] = {};
        int j = 0;
        for (; j + kLanes <= size; j += kLanes) {
          for (int l = 0; l < kLanes; ++l) lanes[l] += pa[j + l] * pb[j + l];
        }
        float tail = 0;
        for (; j < size; ++j) tail += pa[j] * pb[j];
        double row = tail;
        for (float lane : lanes) row += lane;
        cross += row;
      }
      const double sum_b = s1[idx(oy + size, ox + size)] -
                           s1[idx(oy, ox + size)] - s1[idx(oy + size, ox)] +
                           s1[idx(oy, ox)];
      const double sum_bb = s2[idx(oy + size, ox + size)] -
                            s2[idx(oy, ox + size)] - s2[idx(oy + size, ox)] +
                            s2[idx(oy, ox)];
      const double b_var = sum_bb - sum_b * sum_b / n;
      if (a_norm > 0 && b_var > 0) {
        scores[oy * window + ox] += cross / (a_norm * std::sqrt(b_var));
      }
    }
  }
}

}  // namespace

CoarseGeometry PlanCoarse(int height, int width, int period, int max_dy,
                          int max_dx) {
  CoarseGeometry g;
  const double pixels = static_cast<double>(height) * width;
  g.stride = std::max(
      1, static_cast<int>(std::ceil(std::sqrt(pixels / kCoarseSamples))));
  if (g.stride > period) g.stride = (g.stride + period - 1) / period * period;
  g.box = std::max(period, (g.stride + period - 1) / period * period);
  g.height = (height - g.box) / g.stride + 1;
  g.width = (width - g.box) / g.stride + 1;
  g.search_y = max_dy / g.stride + 1;
  g.search_x = max_dx / g.stride + 1;
  // Pad so a circular shift of up to the search radius never wraps image
  // content onto itself.
  g.fft_height = FastFftSize(g.height + g.search_y + 1);
  g.fft_width = FastFftSize(g.width + g.search_x + 1);
  if (g.fft_width % 2) g.fft_width = FastFftSize(g.fft_width + 1);
  return g;
}

void PrepareCoarse(const Plane<float>& coarse, const CoarseGeometry& geometry,
                   float* padded) {
  std::fill(padded,
            padded + static_cast<std::size_t>(geometry.fft_height) *
                         geometry.fft_width,
            0.0f);
  double sum = 0;
  for (int y = 0; y < coarse.height(); ++y) {
    for (int x = 0; x < coarse.width(); ++x) sum += coarse.at(y, x);
  }
  const float mean = static_cast<float>(sum / coarse.pixel_count());
  const int ramp_y = coarse.height() / 8;
  const int ramp_x = coarse.width() / 8;
  std::vector<float> taper_x(static_cast<std::size_t>(coarse.width()));
  for (int x = 0; x < coarse.width(); ++x) {
    taper_x[x] = Taper(x, coarse.width(), ramp_x);
  }
  for (int y = 0; y < coarse.height(); ++y) {
    const float ty = Taper(y, coarse.height(), ramp_y);
    const float* in = coarse.row(y);
    float* out = padded + static_cast<std::size_t>(y) * geometry.fft_width;
    for (int x = 0; x < coarse.width(); ++x) {
      out[x] = (in[x] - mean) * ty * taper_x[x];
    }
  }
}

void CrossPower(const float* gt_spectrum, const float* noisy_spectrum,
                std::size_t complex_count, float* out) {
  for (std::size_t k = 0; k < complex_count; ++k) {
    const float gr = gt_spectrum[2 * k], gi = gt_spectrum[2 * k + 1];
    const float nr = noisy_spectrum[2 * k], ni = noisy_spectrum[2 * k + 1];
    // G * conj(N)
    const float re = gr * nr + gi * ni;
    const float im = gi * nr - gr * ni;
    const float magnitude = std::sqrt(re * re + im * im);
    const float scale =
        magnitude > 1e-20f ? std::pow(magnitude, -kWhitening) : 0.0f;
    out[2 * k] = re * scale;
    out[2 * k + 1] = im * scale;
  }
}

std::vector<CoarsePeak> FindCoarsePeaks(const float* surface,
                                        const CoarseGeometry& g, int count) {
  const int h = g.fft_height, w = g.fft_width;
  auto at = [&](int dy, int dx) {
    const int y = (dy % h + h) % h;
    const int x = (dx % w + w) % w;
    return surface[static_cast<std::size_t>(y) * w + x];
  };
  struct Local {
    int dy, dx;
    float value;
  };
  std::vector<Local> maxima;
  for (int dy = -g.search_y; dy <= g.search_y; ++dy) {
    for (int dx = -g.search_x; dx <= g.search_x; ++dx) {
      const float v = at(dy, dx);
      bool is_max = true;
      for (int ky = -1; ky <= 1 && is_max; ++ky) {
        for (int kx = -1; kx <= 1; ++kx) {
          if ((ky || kx) && at(dy + ky, dx + kx) > v) {
            is_max = false;
            break;
          }
        }
      }
      if (is_max) maxima.push_back({dy, dx, v});
    }
  }
  std::sort(maxima.begin(), maxima.end(),
            [](const Local& a, const Local& b) { return a.value > b.value; });
  std::vector<CoarsePeak> peaks;
  for (const Local& m : maxima) {
    if (static_cast<int>(peaks.size()) >= count) break;
    CoarsePeak peak;
    const double oy =
        ParabolicOffset(at(m.dy - 1, m.dx), m.value, at(m.dy + 1, m.dx));
    const double ox =
        ParabolicOffset(at(m.dy, m.dx - 1), m.value, at(m.dy, m.dx + 1));
    peak.dy = (m.dy + oy) * g.stride;
    peak.dx = (m.dx + ox) * g.stride;
    peak.value = m.value;
    peaks.push_back(peak);
  }
  return peaks;
}

FineResult FineSearch(const RawImage& gt,
                      const std::array<float, 3>& gt_balance,
                      const RawImage& noisy,
                      const std::array<float, 3>& noisy_balance,
                      const std::vector<CoarsePeak>& candidates, int radius,
                      int max_dy, int max_dx) {
  const int height = gt.height(), width = gt.width();
  const int period = gt.cfa.period();
  const float clip = gt.meta.overexposure_lb;
  const float strongest = candidates.empty() ? 0.0f : candidates[0].value;
  FineResult best;
  for (std::size_t c = 0; c < candidates.size(); ++c) {
    const CoarsePeak& candidate = candidates[c];
    // Weak secondary peaks are not worth a fine search: a moved object or
    // a periodic structure strong enough to compete makes a peak of a
    // comparable height, and those are verified.
    if (c > 0 && strongest > 0 &&
        candidate.value < kCandidateFloor * strongest) {
      continue;
    }
    const int cy = std::clamp(static_cast<int>(std::lround(candidate.dy)),
                              -max_dy, max_dy);
    const int cx = std::clamp(static_cast<int>(std::lround(candidate.dx)),
                              -max_dx, max_dx);
    // Noisy tiles at t must keep t + c + [-radius, radius + size + period)
    // inside the GT and t + [0, size + period) inside the noisy image.
    const int lo_y = std::max(0, radius - cy);
    const int lo_x = std::max(0, radius - cx);
    const int room_y = height - period + 1 - std::max(0, cy + radius) - lo_y;
    const int room_x = width - period + 1 - std::max(0, cx + radius) - lo_x;
    const int size = std::min(kMaxTile, std::min(room_y, room_x) / 3);
    if (size < kMinTile) continue;
    const int span_y = room_y - size;
    const int span_x = room_x - size;

    // Rank a grid of tile positions by texture, skipping clipped ones.
    struct Scored {
      int y = 0, x = 0;   // top-left in the noisy image
      Plane<float> luma;  // zero-mean
      double norm = 0;
    };
    std::vector<Scored> tiles;
    for (int gy = 0; gy < kTileGrid; ++gy) {
      for (int gx = 0; gx < kTileGrid; ++gx) {
        Scored s;
        s.y = lo_y + span_y * (2 * gy + 1) / (2 * kTileGrid);
        s.x = lo_x + span_x * (2 * gx + 1) / (2 * kTileGrid);
        int clipped = 0;
        for (int i = 0; i < size + period; i += 2) {
          const float* row = gt.pixels.row(s.y + cy + i) + s.x + cx;
          for (int j = 0; j < size + period; j += 2) clipped += row[j] >= clip;
        }
        if (clipped * 4 > (size + period) * (size + period) / 50) continue;
        s.luma = PeriodLuma(noisy, noisy_balance, s.y, s.x, size, size);
        double sum = 0;
        for (int i = 0; i < size; ++i) {
          const float* row = s.luma.row(i);
          for (int j = 0; j < size; ++j) sum += row[j];
        }
        const float mean =
            static_cast<float>(sum / (static_cast<double>(size) * size));
        double sum_sq = 0;
        for (int i = 0; i < size; ++i) {
          float* row = s.luma.row(i);
          for (int j = 0; j < size; ++j) {
            row[j] -= mean;
            sum_sq += static_cast<double>(row[j]) * row[j];
          }
        }
        s.norm = std::sqrt(sum_sq);
        tiles.push_back(std::move(s));
      }
    }
    if (tiles.empty()) continue;
    std::stable_sort(
        tiles.begin(), tiles.end(),
        [](const Scored& a, const Scored& b) { return a.norm > b.norm; });
    // Big images: the most textured tiles are plenty. Small overlaps (small
    // images, large shifts) get small tiles, so every usable one counts.
    const std::size_t keep = size >= kMaxTile ? kTileCount : tiles.size();
    if (tiles.size() > keep) tiles.resize(keep);

    const int window = 2 * radius + 1;
    std::vector<double> scores(static_cast<std::size_t>(window) * window, 0.0);
    for (const Scored& s : tiles) {
      const Plane<float> gt_luma =
          PeriodLuma(gt, gt_balance, s.y + cy - radius, s.x + cx - radius,
                     size + 2 * radius, size + 2 * radius);
      AddNccScores(s.luma, s.norm, gt_luma, size, window, scores.data());
    }
    for (double& score : scores) score /= static_cast<double>(tiles.size());
    for (int oy = 0; oy < window; ++oy) {
      for (int ox = 0; ox < window; ++ox) {
        const double score = scores[oy * window + ox];
        const int dy = cy + oy - radius, dx = cx + ox - radius;
        if (std::abs(dy) > max_dy || std::abs(dx) > max_dx) continue;
        if (score <= best.score) continue;
        best.score = score;
        best.dy = dy;
        best.dx = dx;
        auto at = [&](int y, int x) { return scores[y * window + x]; };
        best.dy_subpx =
            dy + ((oy > 0 && oy < window - 1)
                      ? ParabolicOffset(at(oy - 1, ox), score, at(oy + 1, ox))
                      : 0.0);
        best.dx_subpx =
            dx + ((ox > 0 && ox < window - 1)
                      ? ParabolicOffset(at(oy, ox - 1), score, at(oy, ox + 1))
                      : 0.0);
      }
    }
  }
  return best;
}

}  // namespace dsb
