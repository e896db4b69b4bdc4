#include "align/colour_match.h"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <vector>

namespace dsb {

namespace {

struct Offset {
  int dy, dx;
};

// For a pixel at CFA phase (py, px) and a wanted colour: the offsets of the
// nearest pixels of that colour (the pixel itself when it has it). Bayer
// always finds them in the 3x3 neighbourhood; X-Trans may need 5x5.
class NeighbourTable {
 public:
  explicit NeighbourTable(const CfaPattern& cfa) : period_(cfa.period()) {
    for (int py = 0; py < period_; ++py) {
      for (int px = 0; px < period_; ++px) {
        for (int c = 0; c < 3; ++c) {
          std::vector<Offset>& list = offsets_[Index(py, px, c)];
          const CfaColor colour = static_cast<CfaColor>(c);
          if (cfa.color_at(py, px) == colour) {
            list.push_back({0, 0});
            continue;
          }
          for (int radius = 1; radius <= 2 && list.empty(); ++radius) {
            // Prefer the four direct neighbours, then the diagonals: the
            // bilinear demosaic's choice.
            for (int pass = 0; pass < 2 && list.empty(); ++pass) {
              for (int dy = -radius; dy <= radius; ++dy) {
                for (int dx = -radius; dx <= radius; ++dx) {
                  const bool straight = dy == 0 || dx == 0;
                  if ((pass == 0) != straight) continue;
                  if (std::max(std::abs(dy), std::abs(dx)) != radius) continue;
                  if (cfa.color_at(py + dy, px + dx) == colour) {
                    list.push_back({dy, dx});
                  }
                }
              }
            }
          }
        }
      }
    }
  }
  const std::vector<Offset>& Get(int y, int x, CfaColor colour) const {
    return offsets_[Index(Mod(y), Mod(x), static_cast<int>(colour))];
  }

 private:
  int Mod(int v) const {
    const int m = v % period_;
    return m < 0 ? m + period_ : m;
  }
  static int Index(int py, int px, int c) { return (py * 6 + px) * 3 + c; }
  int period_;
  std::array<std::vector<Offset>, 6 * 6 * 3> offsets_;
};

}  // namespace

void GtInNoisyColours(const RawImage& gt, const Overlap& overlap,
                      PlaneView<float> out) {
  const NeighbourTable table(gt.cfa);
  const int period = gt.cfa.period();
  const int height = gt.height();
  const int width = gt.width();
  for (int i = 0; i < overlap.height; ++i) {
    const int ny = overlap.noisy_y0 + i;
    const int gy = overlap.gt_y0 + i;
    float* out_row = out.row(i);
    const float* gt_row = gt.pixels.row(gy);
    // The neighbour lists repeat with the CFA period along a row, so look
    // them up once per phase rather than once per pixel.
    const std::vector<Offset>* phase[6];
    bool same[6];
    for (int k = 0; k < period; ++k) {
      const CfaColor wanted = gt.cfa.color_at(ny, overlap.noisy_x0 + k);
      phase[k] = &table.Get(gy, overlap.gt_x0 + k, wanted);
      same[k] = phase[k]->size() == 1 && (*phase[k])[0].dy == 0 &&
                (*phase[k])[0].dx == 0;
    }
    const bool inner_row = gy >= 2 && gy < height - 2;
    for (int j = 0, k = 0; j < overlap.width;
         ++j, k = (k + 1 == period ? 0 : k + 1)) {
      const int gx = overlap.gt_x0 + j;
      if (same[k]) {
        out_row[j] = gt_row[gx];
        continue;
      }
      float sum = 0;
      int count = 0;
      if (inner_row && gx >= 2 && gx < width - 2) {
        for (const Offset& offset : *phase[k]) {
          sum += gt.pixels.row(gy + offset.dy)[gx + offset.dx];
        }
        count = static_cast<int>(phase[k]->size());
      } else {
        for (const Offset& offset : *phase[k]) {
          const int y = gy + offset.dy;
          const int x = gx + offset.dx;
          if (y < 0 || y >= height || x < 0 || x >= width) continue;
          sum += gt.pixels.row(y)[x];
          ++count;
        }
      }
      out_row[j] = count > 0 ? sum / static_cast<float>(count) : gt_row[gx];
    }
  }
}

namespace {

// Calls fn(matched_row, noisy_row) for every overlap row, where matched_row
// is GtInNoisyColours for that row: row by row, so no overlap-sized plane
// is ever needed.
template <typename Fn>
void ForEachMatchedRow(const RawImage& gt, const RawImage& noisy,
                       const Overlap& overlap, Fn fn) {
  std::vector<float> row(static_cast<std::size_t>(overlap.width));
  for (int i = 0; i < overlap.height; ++i) {
    Overlap line = overlap;
    line.gt_y0 += i;
    line.noisy_y0 += i;
    line.height = 1;
    GtInNoisyColours(gt, line, {row.data(), overlap.width, 1, overlap.width});
    fn(row.data(), noisy.pixels.row(overlap.noisy_y0 + i) + overlap.noisy_x0);
  }
}

}  // namespace

double RawGain(const RawImage& gt, const RawImage& noisy,
               const Overlap& overlap) {
  // Compared colour for colour (GT values in the noisy pixels' colours).
  // Two things would bias a plain ratio of means:
  // - pixels near clipping: noise decides which of them reach the white
  //   level. So pixels are chosen by their clean GT level alone, kept where
  //   the noisy counterpart stays below its clipping level at the measured
  //   gain (a rough gain from a global histogram sets that limit);
  // - moved objects and changed light: the gain is the median of per-block
  //   ratios (weighted by signal), which ignores a changed minority.
  // Sums are binned by GT level per block, so one pass serves both.
  constexpr int kLevels = 16;
  constexpr int kBlock = 64;
  const float top = std::max(gt.meta.overexposure_lb, 1e-6f);
  const float noisy_clip = 0.95f * noisy.meta.overexposure_lb;
  const int blocks_y = (overlap.height + kBlock - 1) / kBlock;
  const int blocks_x = (overlap.width + kBlock - 1) / kBlock;
  struct Sums {
    double gt = 0, noisy = 0;
  };
  std::vector<Sums> per_block(static_cast<std::size_t>(blocks_y) * blocks_x *
                              kLevels);
  std::vector<Sums> unclipped(kLevels);
  int row_index = 0;
  ForEachMatchedRow(gt, noisy, overlap, [&](const float* g, const float* n) {
    Sums* block_row = &per_block[static_cast<std::size_t>(row_index / kBlock) *
                                 blocks_x * kLevels];
    for (int j = 0; j < overlap.width; ++j) {
      const int level =
          std::clamp(static_cast<int>(g[j] / top * kLevels), 0, kLevels - 1);
      Sums& sums = block_row[(j / kBlock) * kLevels + level];
      sums.gt += g[j];
      sums.noisy += n[j];
      if (n[j] < noisy_clip) {
        unclipped[level].gt += g[j];
        unclipped[level].noisy += n[j];
      }
    }
    ++row_index;
  });
  // Rough gain: GT levels below 15/16 of clipping, noisy pixels unclipped.
  Sums rough_sums;
  for (int k = 0; k < kLevels - 1; ++k) {
    rough_sums.gt += unclipped[k].gt;
    rough_sums.noisy += unclipped[k].noisy;
  }
  const double rough = (rough_sums.gt > 0 && rough_sums.noisy > 0)
                           ? rough_sums.gt / rough_sums.noisy
                           : 1.0;
  // noisy ~ gt / gain, so GT levels below gain * 0.85 * clip are safe.
  const double limit =
      std::min(15.0 / 16, rough * 0.85 * noisy.meta.overexposure_lb / top);
  const int levels = std::max(1, static_cast<int>(limit * kLevels));
  struct Ratio {
    double value, weight;
  };
  std::vector<Ratio> ratios;
  double total_gt = 0, total_noisy = 0;
  for (std::size_t b = 0; b < per_block.size() / kLevels; ++b) {
    Sums sums;
    for (int k = 0; k < levels; ++k) {
      sums.gt += per_block[b * kLevels + k].gt;
      sums.noisy += per_block[b * kLevels + k].noisy;
    }
    total_gt += sums.gt;
    total_noisy += sums.noisy;
    if (sums.gt > 0 && sums.noisy > 0) {
      ratios.push_back({sums.gt / sums.noisy, sums.noisy});
    }
  }
  if (ratios.empty()) {
    return (total_gt > 0 && total_noisy > 0) ? total_gt / total_noisy : 1.0;
  }
  std::sort(ratios.begin(), ratios.end(),
            [](const Ratio& a, const Ratio& b) { return a.value < b.value; });
  double half = 0;
  for (const Ratio& r : ratios) half += r.weight;
  half /= 2;
  for (const Ratio& r : ratios) {
    half -= r.weight;
    if (half <= 0) return r.value;
  }
  return ratios.back().value;
}

double GainMatchedLoss(const RawImage& gt, const RawImage& noisy,
                       const Overlap& overlap, double raw_gain) {
  if (overlap.empty()) return 0;
  double total = 0;
  const float gain = static_cast<float>(raw_gain);
  ForEachMatchedRow(gt, noisy, overlap, [&](const float* g, const float* n) {
    double sum = 0;
    for (int j = 0; j < overlap.width; ++j) sum += std::abs(g[j] - gain * n[j]);
    total += sum;
  });
  return total / (static_cast<double>(overlap.height) * overlap.width);
}

}  // namespace dsb
