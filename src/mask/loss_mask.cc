#include "mask/loss_mask.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <limits>
#include <vector>

#include "mask/morphology.h"

namespace dsb {

namespace {

constexpr int kColors = 3;

// Per-colour means of full cells of the overlap, for both images. Cells are
// S x S blocks: the 2x2 Bayer period, or a 3x3 half period of X-Trans
// (every 3x3 X-Trans window holds all three colours; finer cells see
// finer changes). Where S is less than the period, how many samples of
// each colour a cell holds depends on the cell's parity (i % R, j % R with
// R = period / S) and may differ between the two images.
struct CellGrid {
  int size = 0;    // S, in pixels
  int parity = 1;  // R
  int rows = 0;
  int cols = 0;
  std::array<Plane<float>, kColors> gt;
  std::array<Plane<float>, kColors> noisy;
  // Variance of a cell's d = gt mean - gain * noisy mean, per unit of
  // per-pixel residual variance: (1/n_gt + 1/n_noisy) / 2, per parity and
  // colour; 0 where either image has no sample of the colour in the cell.
  float var_factor[2][2][kColors] = {};
  Plane<std::uint8_t> valid;  // 1 where the GT has no clipped pixel
  // 1 where neither image has a clipped pixel in the cell: the cells the
  // gain and the noise are measured on.
  Plane<std::uint8_t> fit;
  // Per overlap row: 1 where the row holds a clipped pixel.
  std::vector<std::uint8_t> clipped_rows;
  // Sums of all unclipped cells' samples, for the gain.
  double gt_sum = 0;
  double noisy_sum = 0;
};

// The smallest radius >= `radius` whose windows all hold every colour (a
// window as wide as the period always does, if the pattern has them all).
int ClipRadiusForCfa(const CfaPattern& cfa, int radius) {
  const int period = cfa.period();
  const int start = std::max(radius, 0);
  for (int r = start; r < start + period; ++r) {
    bool all = true;
    for (int y0 = 0; y0 < period && all; ++y0) {
      for (int x0 = 0; x0 < period && all; ++x0) {
        bool seen[kColors] = {false, false, false};
        for (int y = y0 - r; y <= y0 + r; ++y) {
          for (int x = x0 - r; x <= x0 + r; ++x) {
            seen[static_cast<int>(cfa.color_at(y, x))] = true;
          }
        }
        all = seen[0] && seen[1] && seen[2];
      }
    }
    if (all) return r;
  }
  return start + period;
}

// One pass over both overlaps: per-colour means per cell, which cells hold
// a clipped pixel, which overlap rows do, and the sums the gain needs. The
// cell size and period are template parameters so the strided loops
// vectorise.
template <int S, int P>
void BuildCells(PlaneView<const float> gt, PlaneView<const float> noisy,
                const CfaPattern& gt_cfa, const CfaPattern& noisy_cfa,
                float gt_lb, float noisy_lb, bool mask_noisy_clipped,
                CellGrid& cells) {
  constexpr int R = P / S;
  static_assert(R == 1 || R == 2);
  const int rows = gt.height / S;
  const int cols = gt.width / S;
  cells.size = S;
  cells.parity = R;
  cells.rows = rows;
  cells.cols = cols;
  for (int c = 0; c < kColors; ++c) {
    cells.gt[c] = Plane<float>(cols, rows);
    cells.noisy[c] = Plane<float>(cols, rows);
  }
  cells.valid = Plane<std::uint8_t>(cols, rows, 1);
  cells.fit = Plane<std::uint8_t>(cols, rows, 1);
  cells.clipped_rows.assign(gt.height, 0);
  int gt_count[2][2][kColors] = {};
  int noisy_count[2][2][kColors] = {};
  float gt_inv[2][2][kColors] = {};
  float noisy_inv[2][2][kColors] = {};
  for (int pi = 0; pi < R; ++pi) {
    for (int pj = 0; pj < R; ++pj) {
      for (int y = pi * S; y < (pi + 1) * S; ++y) {
        for (int x = pj * S; x < (pj + 1) * S; ++x) {
          ++gt_count[pi][pj][static_cast<int>(gt_cfa.color_at(y, x))];
          ++noisy_count[pi][pj][static_cast<int>(noisy_cfa.color_at(y, x))];
        }
      }
      for (int c = 0; c < kColors; ++c) {
        const int ng = gt_count[pi][pj][c];
        const int nn = noisy_count[pi][pj][c];
        gt_inv[pi][pj][c] = ng > 0 ? 1.0f / ng : 0.0f;
        noisy_inv[pi][pj][c] = nn > 0 ? 1.0f / nn : 0.0f;
        cells.var_factor[pi][pj][c] =
            ng > 0 && nn > 0 ? 0.5f * (1.0f / ng + 1.0f / nn) : 0.0f;
      }
    }
  }

  // How many pixels of row y are clipped in the GT and in the noisy
  // capture; counting compares vectorises where a search would not.
  auto clipped_in_row = [&](int y, int* gt_hits, int* noisy_hits) {
    const float* g = gt.row(y);
    const float* n = noisy.row(y);
    int gh = 0;
    int nh = 0;
    for (int x = 0; x < gt.width; ++x) {
      gh += g[x] >= gt_lb;
      nh += n[x] >= noisy_lb;
    }
    *gt_hits = gh;
    *noisy_hits = nh;
  };
  // Rows whose clipping the mask shows (ApplyClipping's input).
  auto mark_row = [&](int y, int gt_hits, int noisy_hits) {
    cells.clipped_rows[y] =
        gt_hits > 0 || (mask_noisy_clipped && noisy_hits > 0);
  };

  std::array<double, kColors> gt_total{};
  std::array<double, kColors> noisy_total{};
  for (int i = 0; i < rows; ++i) {
    std::array<float*, kColors> gm;
    std::array<float*, kColors> nm;
    for (int c = 0; c < kColors; ++c) {
      gm[c] = cells.gt[c].row(i);
      nm[c] = cells.noisy[c].row(i);
    }
    std::uint8_t* valid = cells.valid.row(i);
    std::uint8_t* fit = cells.fit.row(i);
    for (int ky = 0; ky < S; ++ky) {
      const int y = i * S + ky;
      const float* g = gt.row(y);
      const float* n = noisy.row(y);
      for (int q = 0; q < R; ++q) {
        for (int kx = 0; kx < S; ++kx) {
          const int x = q * S + kx;
          float* gd = gm[static_cast<int>(gt_cfa.color_at(y, x))];
          float* nd = nm[static_cast<int>(noisy_cfa.color_at(y, x))];
          for (int j = q; j < cols; j += R) gd[j] += g[j * S + kx];
          for (int j = q; j < cols; j += R) nd[j] += n[j * S + kx];
        }
      }
      int gt_hits = 0;
      int noisy_hits = 0;
      clipped_in_row(y, &gt_hits, &noisy_hits);
      mark_row(y, gt_hits, noisy_hits);
      if (gt_hits + noisy_hits > 0) {
        for (int j = 0; j < cols; ++j) {
          bool gt_clip = false;
          bool noisy_clip = false;
          for (int k = 0; k < S; ++k) {
            gt_clip |= g[j * S + k] >= gt_lb;
            noisy_clip |= n[j * S + k] >= noisy_lb;
          }
          if (gt_clip || (mask_noisy_clipped && noisy_clip)) valid[j] = 0;
          if (gt_clip || noisy_clip) fit[j] = 0;
        }
      }
    }
    for (int c = 0; c < kColors; ++c) {
      double gs = 0;
      double ns = 0;
      for (int j = 0; j < cols; ++j) {
        gs += fit[j] ? gm[c][j] : 0.0f;
        ns += fit[j] ? nm[c][j] : 0.0f;
      }
      gt_total[c] += gs;
      noisy_total[c] += ns;
      for (int q = 0; q < R; ++q) {
        const float gi = gt_inv[i % R][q][c];
        const float ni = noisy_inv[i % R][q][c];
        for (int j = q; j < cols; j += R) {
          gm[c][j] *= gi;
          nm[c][j] *= ni;
        }
      }
    }
  }
  for (int y = rows * S; y < gt.height; ++y) {
    int gt_hits = 0;
    int noisy_hits = 0;
    clipped_in_row(y, &gt_hits, &noisy_hits);
    mark_row(y, gt_hits, noisy_hits);
  }
  cells.gt_sum = gt_total[0] + gt_total[1] + gt_total[2];
  cells.noisy_sum = noisy_total[0] + noisy_total[1] + noisy_total[2];
}

struct NoiseModel {
  double slope = 0;            // per unit of signal
  double offset = 0;           // at zero signal
  double reference_level = 0;  // median GT level of the sampled cells
  // Per parity and colour: the variance of d per unit of squared local
  // step that sampling differences explain (the two images' samples of a
  // colour sit at different places in a cell unless the shift is a
  // multiple of the period), measured on the pair itself. Near 0 when the
  // samples coincide.
  float structure[2][2][kColors] = {};
  double Variance(double s) const { return slope * std::max(s, 0.0) + offset; }
};

double MedianInPlace(std::vector<float>& v) {
  auto mid = v.begin() + v.size() / 2;
  std::nth_element(v.begin(), mid, v.end());
  return *mid;
}

// Robust sigma of `u` around its median (1.4826 * MAD); reorders `u`.
double RobustSigma(std::vector<float>& u) {
  const double median = MedianInPlace(u);
  for (float& v : u) v = std::fabs(v - static_cast<float>(median));
  return 1.4826 * MedianInPlace(u);
}

// The gain that matches the noisy capture to the GT: the ratio of sums over
// unclipped cells, refined twice over the cells that agree with it (within
// 3 robust sigmas of the residual), so that a moved object, whose content
// need not have the scene's brightness, does not bias it. A sample of
// about 2^16 cells and colours is enough for a ratio of sums.
double MatchGain(const CellGrid& cells, double fallback) {
  if (!(cells.gt_sum > 0 && cells.noisy_sum > 0)) {
    if (std::isfinite(fallback) && fallback > 0) return fallback;
    return 1.0;
  }
  double gain = cells.gt_sum / cells.noisy_sum;
  const std::size_t cell_count =
      static_cast<std::size_t>(cells.rows) * cells.cols;
  const std::size_t stride =
      std::max<std::size_t>(1, cell_count * kColors / (1 << 16));
  std::vector<std::array<float, 2>> samples;  // (gt, noisy)
  for (std::size_t index = 0; index < cell_count; index += stride) {
    const int i = static_cast<int>(index / cells.cols);
    const int j = static_cast<int>(index % cells.cols);
    if (!cells.fit.at(i, j)) continue;
    for (int c = 0; c < kColors; ++c) {
      if (cells.var_factor[i % cells.parity][j % cells.parity][c] == 0) {
        continue;
      }
      samples.push_back({cells.gt[c].at(i, j), cells.noisy[c].at(i, j)});
    }
  }
  if (samples.size() < 64) return gain;
  std::vector<float> residuals(samples.size());
  for (int round = 0; round < 2; ++round) {
    for (std::size_t k = 0; k < samples.size(); ++k) {
      residuals[k] = static_cast<float>(samples[k][0] - gain * samples[k][1]);
    }
    const double sigma = RobustSigma(residuals);
    double gt_sum = 0;
    double noisy_sum = 0;
    for (const auto& [g, n] : samples) {
      if (std::fabs(g - gain * n) <= 3 * sigma) {
        gt_sum += g;
        noisy_sum += n;
      }
    }
    if (!(gt_sum > 0 && noisy_sum > 0)) break;
    gain = gt_sum / noisy_sum;
  }
  return gain;
}

// Fits the per-pixel residual variance a*s + b from a deterministic sample
// of cells: per signal bin a robust sigma (MAD), then least squares on the
// bins weighted by their precision (n / sigma^4), with a, b >= 0.
NoiseModel FitNoise(const CellGrid& cells, double gain, float lb) {
  constexpr int kBins = 32;
  constexpr std::size_t kMinPerBin = 48;
  constexpr std::size_t kTargetSamples = 1 << 16;
  const std::size_t cell_count =
      static_cast<std::size_t>(cells.rows) * cells.cols;
  const std::size_t stride =
      std::max<std::size_t>(1, cell_count * kColors / kTargetSamples);
  const double top = lb > 0 ? lb : 1.0;

  std::array<std::vector<float>, kBins> bin_u;
  std::array<double, kBins> bin_s{};
  std::vector<float> levels;
  std::vector<float> all_u;
  for (std::size_t index = 0; index < cell_count; index += stride) {
    const int i = static_cast<int>(index / cells.cols);
    const int j = static_cast<int>(index % cells.cols);
    if (!cells.fit.at(i, j)) continue;
    for (int c = 0; c < kColors; ++c) {
      const float factor =
          cells.var_factor[i % cells.parity][j % cells.parity][c];
      if (factor == 0) continue;
      const double s = cells.gt[c].at(i, j);
      const double d = s - gain * cells.noisy[c].at(i, j);
      // In units of one pixel's residual.
      const float u = static_cast<float>(d / std::sqrt(factor));
      const int bin = std::clamp(
          static_cast<int>(std::sqrt(std::max(s, 0.0) / top) * kBins), 0,
          kBins - 1);
      bin_u[bin].push_back(u);
      bin_s[bin] += s;
      levels.push_back(static_cast<float>(s));
      all_u.push_back(u);
    }
  }
  NoiseModel model;
  if (levels.empty()) {
    model.offset = 1e-12;
    return model;
  }
  model.reference_level = std::max(0.0, MedianInPlace(levels));

  double sw = 0, sws = 0, swss = 0, swv = 0, swsv = 0;
  int used_bins = 0;
  for (int b = 0; b < kBins; ++b) {
    const std::size_t n = bin_u[b].size();
    if (n < kMinPerBin) continue;
    const double s = std::max(0.0, bin_s[b] / n);
    const double sigma = RobustSigma(bin_u[b]);
    const double var = sigma * sigma;
    if (!(var > 0)) continue;
    const double w = n / (var * var);
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
      const double sigma = RobustSigma(all_u);
      offset = sigma * sigma;
    }
  } else if (offset < 0) {
    offset = 0;
    slope = swss > 0 ? swsv / swss : 0;
  }
  model.slope = slope;
  // A floor keeps a noiseless synthetic pair from dividing by zero.
  model.offset = std::max(offset, 1e-12);
  return model;
}

// The largest absolute difference between cell (i, j) of `p` and a
// 4-neighbour.
float StepAt(const Plane<float>& p, int i, int j) {
  const float v = p.at(i, j);
  const float u = p.at(std::max(i - 1, 0), j);
  const float d = p.at(std::min(i + 1, p.height() - 1), j);
  const float l = p.at(i, std::max(j - 1, 0));
  const float r = p.at(i, std::min(j + 1, p.width() - 1));
  return std::max(std::max(std::fabs(u - v), std::fabs(d - v)),
                  std::max(std::fabs(l - v), std::fabs(r - v)));
}

// Measures NoiseModel::structure per class from a deterministic sample of
// cells, so that d^2 matches noise + structure * step^2 on average: the sum
// of d^2 less the noise over the sum of step^2. The z test assumes a mean
// of 1 where the pair agrees; a fixed tolerance overshoots that on some
// content (hiding changes) and undershoots on other. The 10% of cells that
// fit worst (moved objects, changed light) are left out; the pair is
// otherwise static, the same assumption the noise fit makes.
void FitStructure(const CellGrid& cells, double gain, NoiseModel& model) {
  constexpr std::size_t kTargetSamples = 1 << 16;
  const std::size_t cell_count =
      static_cast<std::size_t>(cells.rows) * cells.cols;
  const std::size_t stride =
      std::max<std::size_t>(1, cell_count * kColors / kTargetSamples);
  struct Sample {
    float excess;  // d^2 - noise
    float step2;
    float score;  // d^2 / (noise + step^2): outliers sort last
  };
  std::vector<Sample> samples[2][2][kColors];
  for (std::size_t index = 0; index < cell_count; index += stride) {
    const int i = static_cast<int>(index / cells.cols);
    const int j = static_cast<int>(index % cells.cols);
    if (!cells.fit.at(i, j)) continue;
    const int pi = i % cells.parity;
    const int pj = j % cells.parity;
    for (int c = 0; c < kColors; ++c) {
      const float factor = cells.var_factor[pi][pj][c];
      if (factor == 0) continue;
      const double s = cells.gt[c].at(i, j);
      const double d = s - gain * cells.noisy[c].at(i, j);
      const double noise = model.Variance(s) * factor;
      const double step = StepAt(cells.gt[c], i, j);
      samples[pi][pj][c].push_back(
          {static_cast<float>(d * d - noise), static_cast<float>(step * step),
           static_cast<float>(d * d / (noise + step * step))});
    }
  }
  // Moved objects and other outliers are left out of the sums.
  constexpr double kTrim = 0.1;
  for (int pi = 0; pi < cells.parity; ++pi) {
    for (int pj = 0; pj < cells.parity; ++pj) {
      for (int c = 0; c < kColors; ++c) {
        auto& v = samples[pi][pj][c];
        if (v.size() < 32) continue;
        const std::size_t keep =
            static_cast<std::size_t>(v.size() * (1 - kTrim));
        std::nth_element(
            v.begin(), v.begin() + keep, v.end(),
            [](const Sample& a, const Sample& b) { return a.score < b.score; });
        double excess = 0, step2 = 0;
        for (std::size_t k = 0; k < keep; ++k) {
          excess += v[k].excess;
          step2 += v[k].step2;
        }
        model.structure[pi][pj][c] =
            step2 > 0 ? static_cast<float>(std::max(0.0, excess / step2)) : 0;
      }
    }
  }
}

// The window radius (cells) that finds a relative change of `change` at
// the reference level with the mean of z rising by twice the threshold.
int WindowRadius(const NoiseModel& noise, const CellGrid& cells,
                 const MaskParams& params) {
  const double s = noise.reference_level;
  const double delta = params.detect_change * s;
  int radius = params.min_window_radius;
  if (delta > 0) {
    // The typical variance factor of a cell mean over the colours.
    double factor = 0;
    int present = 0;
    for (int pi = 0; pi < cells.parity; ++pi) {
      for (int pj = 0; pj < cells.parity; ++pj) {
        for (int c = 0; c < kColors; ++c) {
          if (cells.var_factor[pi][pj][c] > 0) {
            factor += cells.var_factor[pi][pj][c];
            ++present;
          }
        }
      }
    }
    factor = present > 0 ? factor / present : 1.0;
    const double q = noise.Variance(s) * factor / (delta * delta);
    const double n = std::pow(2 * params.threshold_sigmas * q, 2) * 2.0 / 3.0;
    const double side = std::sqrt(n);
    radius = static_cast<int>(std::ceil((side - 1) / 2));
  }
  return std::clamp(radius, params.min_window_radius, params.max_window_radius);
}

// One colour's d^2 / var counts at most this much: a cell that differs
// a lot and one that differs hugely are equally changed, and one extreme
// cell must not carry a whole window.
constexpr float kTermCap = 16.0f;

// z per cell: the mean over colours of d^2 / var (see loss_mask.h); 0 for
// clipped cells, which the window sums skip. Written as separate
// element-wise loops over cell rows so that they vectorise.
Plane<float> MismatchScores(const CellGrid& cells, double gain,
                            const NoiseModel& noise, const MaskParams& params) {
  const int rows = cells.rows;
  const int cols = cells.cols;
  Plane<float> z(cols, rows, 0.0f);
  const float k_gain = static_cast<float>(gain);
  const float tau2 = static_cast<float>(params.structure_tolerance *
                                        params.structure_tolerance);
  const float rho2 =
      static_cast<float>(params.relative_tolerance * params.relative_tolerance);
  std::array<std::vector<float>, kColors> g_step;
  for (auto& v : g_step) v.assign(cols, 0.0f);
  std::vector<float> g_any(cols);
  std::vector<float> n_step(cols);
  std::vector<float> factor(cols);
  std::vector<float> structure(cols);
  const float slope = static_cast<float>(noise.slope);
  const float offset = static_cast<float>(noise.offset);
  // The largest absolute difference to a 4-neighbour, along one row.
  std::vector<float> diff(cols);
  auto steps = [cols, &diff](const float* v, const float* up, const float* down,
                             float* out) {
    for (int j = 0; j < cols; ++j) {
      out[j] = std::max(std::fabs(up[j] - v[j]), std::fabs(down[j] - v[j]));
    }
    for (int j = 0; j + 1 < cols; ++j) diff[j] = std::fabs(v[j + 1] - v[j]);
    for (int j = 1; j + 1 < cols; ++j) {
      out[j] = std::max(out[j], std::max(diff[j - 1], diff[j]));
    }
    if (cols > 1) {
      out[0] = std::max(out[0], diff[0]);
      out[cols - 1] = std::max(out[cols - 1], diff[cols - 2]);
    }
  };
  for (int i = 0; i < rows; ++i) {
    const int up = std::max(i - 1, 0);
    const int down = std::min(i + 1, rows - 1);
    std::fill(g_any.begin(), g_any.end(), 0.0f);
    for (int c = 0; c < kColors; ++c) {
      steps(cells.gt[c].row(i), cells.gt[c].row(up), cells.gt[c].row(down),
            g_step[c].data());
      for (int j = 0; j < cols; ++j)
        g_any[j] = std::max(g_any[j], g_step[c][j]);
    }
    float* zr = z.row(i);
    for (int c = 0; c < kColors; ++c) {
      // Variance of a cell's d: the pixel model times the cell's factor.
      for (int q = 0; q < cells.parity; ++q) {
        const float f = cells.var_factor[i % cells.parity][q][c];
        for (int j = q; j < cols; j += cells.parity) factor[j] = f;
      }
      for (int q = 0; q < cells.parity; ++q) {
        const float t = tau2 * noise.structure[i % cells.parity][q][c];
        for (int j = q; j < cols; j += cells.parity) structure[j] = t;
      }
      const float weight = 1.0f / kColors;
      const std::uint8_t* fit = cells.fit.row(i);
      const float* g = cells.gt[c].row(i);
      const float* n = cells.noisy[c].row(i);
      const float* gs = g_step[c].data();
      steps(n, cells.noisy[c].row(up), cells.noisy[c].row(down), n_step.data());
      for (int j = 0; j < cols; ++j) {
        const float s = std::max(g[j], 0.0f);
        const float noise_var = (slope * s + offset) * factor[j];
        // Structure seen only by the noisy capture's samples of this
        // colour (a thin line between the GT's samples) is tolerated too,
        // as far as the GT shows structure there in any colour: the noisy
        // step less what its noise alone would make (3 sigma of a
        // difference of two cell means), capped by the GT's.
        const float n_clean = std::max(
            0.0f, k_gain * n_step[j] - 3.0f * std::sqrt(2.0f * noise_var));
        const float e = std::max(gs[j], std::min(n_clean, g_any[j]));
        // A cell with a clipped noisy pixel (and no clipped GT pixel, or
        // it would not count) under-reads the capture: only a capture
        // brighter than the GT there is evidence of a change.
        const float d_read = g[j] - k_gain * n[j];
        const float d = fit[j] ? d_read : std::min(d_read, 0.0f);
        const float var = noise_var + structure[j] * e * e + rho2 * s * s;
        // A colour the cell lacks counts as agreeing (z's mean under
        // noise alone); only exotic patterns lack any.
        const float term = weight * std::min(d * d / var, kTermCap);
        zr[j] += factor[j] > 0 ? term : weight;
      }
    }
  }
  for (int i = 0; i < rows; ++i) {
    const std::uint8_t* valid = cells.valid.row(i);
    float* zr = z.row(i);
    for (int j = 0; j < cols; ++j) zr[j] = valid[j] ? zr[j] : 0.0f;
  }
  return z;
}

// 1 where the window mean of z is beyond what noise explains. Under noise
// alone each z is a chi-square with 3 degrees of freedom over 3 (mean 1,
// variance 2/3), so the sum of n of them exceeds n + k sqrt(2n/3) rarely.
Plane<std::uint8_t> FlagMismatch(const CellGrid& cells, const Plane<float>& z,
                                 int radius, const MaskParams& params) {
  const int window = (2 * radius + 1) * (2 * radius + 1);
  // Under noise alone each term is about a chi-square with 3 degrees of
  // freedom over 3 (mean 1, variance 2/3). Sampling differences on sharp
  // content make the tail heavier than that; the pair's own window means
  // (median and MAD over the static majority of the frame) say how much.
  // The means are taken over fully observed cells only (a cell that the
  // capture clips reads low and would pull the median down), in windows
  // that are at least half observed.
  // Neighbouring windows overlap almost entirely; a sparse grid of them
  // (about 2^16) gives the same median for a fraction of the sorting.
  const int stride =
      std::max(2, static_cast<int>(std::sqrt(static_cast<double>(cells.rows) *
                                             cells.cols / (1 << 16))));
  std::vector<float> full;
  for (int i = radius; i + radius < cells.rows; i += stride) {
    for (int j = radius; j + radius < cells.cols; j += stride) {
      float sum = 0;
      int n = 0;
      for (int v = i - radius; v <= i + radius; ++v) {
        const float* zr = z.row(v);
        const std::uint8_t* f = cells.fit.row(v);
        for (int u = j - radius; u <= j + radius; ++u) {
          sum += f[u] ? zr[u] : 0.0f;
          n += f[u];
        }
      }
      if (2 * n >= window) full.push_back(sum / n);
    }
  }
  double centre = 1.0;
  double spread = std::sqrt(2.0 / 3.0 / window);
  if (full.size() >= 64) {
    const double median = MedianInPlace(full);
    for (float& v : full) v = std::fabs(v - static_cast<float>(median));
    const double mad = 1.4826 * MedianInPlace(full);
    centre = std::max(centre, median);
    spread = std::max(spread, mad);
  }
  std::vector<float> limit(window + 1);
  for (int n = 1; n <= window; ++n) {
    limit[n] = static_cast<float>(
        n * centre + params.threshold_sigmas * spread * std::sqrt(window * n));
  }
  Plane<std::uint8_t> flags(cells.cols, cells.rows, 0);
  WindowSums(z.view(), cells.valid.view(), radius,
             [&](int i, const float* sums, const float* counts) {
               std::uint8_t* f = flags.row(i);
               for (int j = 0; j < cells.cols; ++j) {
                 const int n = static_cast<int>(counts[j]);
                 f[j] = (n > 0 && sums[j] > limit[n]) ? 1 : 0;
               }
             });
  return flags;
}

// Opening, then closing, restricted to the bounding box of the flags
// grown by what the two can reach (the result is the same as on the whole
// plane: nothing outside the box is set, before or after).
void CleanFlags(Plane<std::uint8_t>& flags, const MaskParams& params) {
  int y0 = flags.height(), y1 = -1, x0 = flags.width(), x1 = -1;
  for (int y = 0; y < flags.height(); ++y) {
    const std::uint8_t* f = flags.row(y);
    int first = -1, last = -1;
    for (int x = 0; x < flags.width(); ++x) {
      if (f[x]) {
        if (first < 0) first = x;
        last = x;
      }
    }
    if (first < 0) continue;
    y0 = std::min(y0, y);
    y1 = y;
    x0 = std::min(x0, first);
    x1 = std::max(x1, last);
  }
  if (y1 < 0) return;
  const int margin =
      std::max(params.opening_radius, 2 * params.closing_radius) + 1;
  y0 = std::max(0, y0 - margin);
  x0 = std::max(0, x0 - margin);
  y1 = std::min(flags.height() - 1, y1 + margin);
  x1 = std::min(flags.width() - 1, x1 + margin);
  const PlaneView<std::uint8_t> box =
      flags.view().crop(y0, x0, y1 - y0 + 1, x1 - x0 + 1);
  OpenBinary(box, params.opening_radius);
  CloseBinary(box, params.closing_radius);
}

// Zeroes the mask wherever a clipped pixel of either image lies within
// `radius`, working only on bands of rows near clipped rows. Returns the
// number of pixels so flagged and, in `already`, how many of them the
// mismatch test had flagged too.
std::int64_t ApplyClipping(PlaneView<const float> gt,
                           PlaneView<const float> noisy, float gt_lb,
                           float noisy_lb, int radius,
                           const std::vector<std::uint8_t>& clipped_rows,
                           Plane<std::uint8_t>& mask, std::int64_t* already) {
  const int h = gt.height;
  const int w = gt.width;
  std::int64_t clipped = 0;
  *already = 0;
  int y = 0;
  while (y < h) {
    if (!clipped_rows[y]) {
      ++y;
      continue;
    }
    // The band: a run of rows with clipping (gaps up to 2r rows joined),
    // plus r rows each side that dilation reaches.
    int last = y;
    for (int v = y + 1; v < h && v <= last + 2 * radius + 1; ++v) {
      if (clipped_rows[v]) last = v;
    }
    const int b0 = std::max(0, y - radius);
    const int b1 = std::min(h, last + radius + 1);
    Plane<std::uint8_t> band(w, b1 - b0, 0);
    for (int v = b0; v < b1; ++v) {
      if (!clipped_rows[v]) continue;
      const float* g = gt.row(v);
      const float* n = noisy.row(v);
      std::uint8_t* out = band.row(v - b0);
      for (int x = 0; x < w; ++x) out[x] = (g[x] >= gt_lb) | (n[x] >= noisy_lb);
    }
    DilateBinary(band.view(), radius);
    for (int v = b0; v < b1; ++v) {
      const std::uint8_t* c = band.row(v - b0);
      std::uint8_t* out = mask.row(v);
      for (int x = 0; x < w; ++x) {
        clipped += c[x];
        *already += c[x] & (out[x] == 0);
        out[x] = c[x] ? 0 : out[x];
      }
    }
    y = last + 1;
  }
  return clipped;
}

Status CheckParams(const MaskParams& p) {
  auto bad = [](const char* what) {
    return Status::InvalidArgument(std::string("mask parameters: ") + what);
  };
  if (p.overexposure_lb && !(*p.overexposure_lb > 0)) {
    return bad("overexposure_lb must be positive");
  }
  if (p.clip_radius < 0 || p.clip_radius > 64) {
    return bad("clip_radius must be in 0..64");
  }
  if (!(p.threshold_sigmas > 0)) return bad("threshold_sigmas must be > 0");
  if (!(p.relative_tolerance >= 0)) {
    return bad("relative_tolerance must be >= 0");
  }
  if (!(p.structure_tolerance >= 0)) {
    return bad("structure_tolerance must be >= 0");
  }
  if (!(p.detect_change > 0)) return bad("detect_change must be > 0");
  if (p.min_window_radius < 0 || p.max_window_radius < p.min_window_radius ||
      p.max_window_radius > 256) {
    return bad("window radii must satisfy 0 <= min <= max <= 256");
  }
  if (p.opening_radius < 0 || p.opening_radius > 256 || p.closing_radius < 0 ||
      p.closing_radius > 256) {
    return bad("opening and closing radii must be in 0..256");
  }
  return Status::Ok();
}

void AppendNumber(std::string& out, std::string_view name, double value) {
  char buffer[64];
  const auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  out += name;
  out += '=';
  out.append(buffer, result.ptr);
  out += ';';
}

}  // namespace

std::string MaskParams::Fingerprint() const {
  // Bump the version when the algorithm changes results for equal fields.
  std::string out = "mask/v3;";
  if (overexposure_lb) {
    AppendNumber(out, "overexposure_lb", *overexposure_lb);
  } else {
    out += "overexposure_lb=gt;";
  }
  AppendNumber(out, "clip_radius", clip_radius);
  AppendNumber(out, "mask_noisy_clipped", mask_noisy_clipped ? 1 : 0);
  AppendNumber(out, "threshold_sigmas", threshold_sigmas);
  AppendNumber(out, "relative_tolerance", relative_tolerance);
  AppendNumber(out, "structure_tolerance", structure_tolerance);
  AppendNumber(out, "detect_change", detect_change);
  AppendNumber(out, "min_window_radius", min_window_radius);
  AppendNumber(out, "max_window_radius", max_window_radius);
  AppendNumber(out, "opening_radius", opening_radius);
  AppendNumber(out, "closing_radius", closing_radius);
  return out;
}

Result<LossMask> MakeLossMask(const RawImage& gt, const RawImage& noisy,
                              const Alignment& alignment,
                              const MaskParams& params) {
  const std::string pair = gt.path + " vs " + noisy.path;
  DSB_RETURN_IF_ERROR(CheckParams(params).WithContext(pair));
  if (gt.width() != noisy.width() || gt.height() != noisy.height()) {
    return Status::InvalidArgument(
        pair + ": images differ in size (" + std::to_string(gt.width()) + "x" +
        std::to_string(gt.height()) + " vs " + std::to_string(noisy.width()) +
        "x" + std::to_string(noisy.height()) + ")");
  }
  if (!(gt.cfa == noisy.cfa)) {
    return Status::InvalidArgument(pair + ": CFA patterns differ (" +
                                   gt.cfa.name() + " vs " + noisy.cfa.name() +
                                   ")");
  }
  const Overlap overlap =
      ComputeOverlap(gt.height(), gt.width(), alignment.dy, alignment.dx);
  if (overlap.empty()) {
    return Status::InvalidArgument(
        pair + ": the shift (" + std::to_string(alignment.dy) + ", " +
        std::to_string(alignment.dx) + ") leaves no overlap");
  }
  const float gt_lb = params.overexposure_lb.value_or(gt.meta.overexposure_lb);
  const float noisy_lb = noisy.meta.overexposure_lb;
  if (!(gt_lb > 0) || !(noisy_lb > 0)) {
    return Status::InvalidArgument(pair + ": overexposure level must be > 0");
  }

  const PlaneView<const float> gt_view = gt.pixels.view().crop(
      overlap.gt_y0, overlap.gt_x0, overlap.height, overlap.width);
  const PlaneView<const float> noisy_view = noisy.pixels.view().crop(
      overlap.noisy_y0, overlap.noisy_x0, overlap.height, overlap.width);
  const CfaPattern gt_cfa = gt.cfa.Cropped(overlap.gt_y0, overlap.gt_x0);
  const CfaPattern noisy_cfa =
      noisy.cfa.Cropped(overlap.noisy_y0, overlap.noisy_x0);
  const int period = gt.cfa.period();

  CellGrid cells;
  if (period == 2) {
    BuildCells<2, 2>(gt_view, noisy_view, gt_cfa, noisy_cfa, gt_lb, noisy_lb,
                     params.mask_noisy_clipped, cells);
  } else if (period == 6) {
    BuildCells<3, 6>(gt_view, noisy_view, gt_cfa, noisy_cfa, gt_lb, noisy_lb,
                     params.mask_noisy_clipped, cells);
  } else {
    return Status::Unsupported(pair + ": CFA period " + std::to_string(period) +
                               " is not 2 or 6");
  }
  const int cell = cells.size;

  LossMask mask;
  mask.cell_size = cell;
  Plane<std::uint8_t> flags;
  if (cells.rows > 0 && cells.cols > 0) {
    mask.gain = MatchGain(cells, alignment.raw_gain);
    NoiseModel noise = FitNoise(cells, mask.gain, gt_lb);
    FitStructure(cells, mask.gain, noise);
    mask.noise_slope = noise.slope;
    mask.noise_offset = noise.offset;
    mask.window_radius = WindowRadius(noise, cells, params);
    const Plane<float> z = MismatchScores(cells, mask.gain, noise, params);
    flags = FlagMismatch(cells, z, mask.window_radius, params);
    CleanFlags(flags, params);
  }

  // Full resolution: the cell decisions (partial cells at the right and
  // bottom edges take their full neighbour's), then clipping on top. The
  // plane starts usable, so only flagged runs are written.
  mask.pixels = Plane<std::uint8_t>(overlap.width, overlap.height, 255);
  std::int64_t mismatch_zeroed = 0;
  for (int i = 0; i < cells.rows; ++i) {
    const std::uint8_t* f = flags.row(i);
    const int y0 = i * cell;
    const int y1 = i + 1 == cells.rows ? overlap.height : y0 + cell;
    int j = 0;
    while (j < cells.cols) {
      if (!f[j]) {
        ++j;
        continue;
      }
      const int start = j;
      while (j < cells.cols && f[j]) ++j;
      const int x0 = start * cell;
      const int x1 = j == cells.cols ? overlap.width : j * cell;
      for (int y = y0; y < y1; ++y) {
        std::fill(mask.pixels.row(y) + x0, mask.pixels.row(y) + x1, 0);
      }
      mismatch_zeroed += static_cast<std::int64_t>(y1 - y0) * (x1 - x0);
    }
  }
  std::int64_t both = 0;
  const int clip_radius = ClipRadiusForCfa(gt.cfa, params.clip_radius);
  mask.clipped_pixels = ApplyClipping(
      gt_view, noisy_view, gt_lb,
      params.mask_noisy_clipped ? noisy_lb
                                : std::numeric_limits<float>::infinity(),
      clip_radius, cells.clipped_rows, mask.pixels, &both);
  mask.mismatch_pixels = mismatch_zeroed - both;
  const std::int64_t total =
      static_cast<std::int64_t>(overlap.height) * overlap.width;
  const std::int64_t usable =
      total - mask.mismatch_pixels - mask.clipped_pixels;
  mask.mean = static_cast<double>(usable) / static_cast<double>(total);
  return mask;
}

}  // namespace dsb
