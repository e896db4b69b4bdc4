#include "mask_scores.h"

#include <algorithm>

#include "core/alignment.h"

namespace dsb::testing {

MaskScores ScoreMask(const SyntheticScene& scene, const RawImage& capture,
                     const CaptureSpec& spec, const LossMask& mask,
                     int margin) {
  const Overlap o =
      ComputeOverlap(capture.height(), capture.width(), spec.dy, spec.dx);
  MaskScores s;
  std::int64_t moved = 0, moved_flagged = 0, statics = 0, statics_kept = 0;
  const int r = 2;  // clipping neighbourhood checked for "static"
  for (int y = 0; y < o.height; ++y) {
    for (int x = 0; x < o.width; ++x) {
      const bool kept = mask.pixels.at(y, x) == 255;
      const int ny = o.noisy_y0 + y, nx = o.noisy_x0 + x;
      const int gy = o.gt_y0 + y, gx = o.gt_x0 + x;
      if (scene.GtClippedAt(gy, gx)) {
        ++s.clipped_total;
        s.clipped_kept += kept;
      }
      if (spec.moved_object) {
        const Box& b = *spec.moved_object;
        if (b.Contains(ny, nx)) {
          ++moved;
          moved_flagged += !kept;
          continue;
        }
        const Box grown{b.y0 - margin, b.x0 - margin, b.height + 2 * margin,
                        b.width + 2 * margin};
        if (grown.Contains(ny, nx)) continue;
      }
      bool clipped = false;
      for (int v = -r; v <= r && !clipped; ++v) {
        for (int u = -r; u <= r && !clipped; ++u) {
          const int cy = std::clamp(gy + v, 0, capture.height() - 1);
          const int cx = std::clamp(gx + u, 0, capture.width() - 1);
          const int qy = std::clamp(ny + v, 0, capture.height() - 1);
          const int qx = std::clamp(nx + u, 0, capture.width() - 1);
          clipped = scene.GtClippedAt(cy, cx) ||
                    capture.pixels.at(qy, qx) >= capture.meta.overexposure_lb;
        }
      }
      if (clipped) continue;
      ++statics;
      statics_kept += kept;
    }
  }
  if (moved > 0) s.moved_flagged = static_cast<double>(moved_flagged) / moved;
  if (statics > 0) s.static_kept = static_cast<double>(statics_kept) / statics;
  return s;
}

bool MeetsMaskTargets(const MaskScores& scores, int noise_level) {
  return scores.moved_flagged >= 0.95 &&
         scores.static_kept >= (noise_level <= 1 ? 0.99 : 0.97) &&
         scores.clipped_kept == 0;
}

SweepScene MakeSweepScene(const CfaPattern& cfa, std::uint64_t seed, int width,
                          int height) {
  SweepScene out;
  out.spec.width = width;
  out.spec.height = height;
  out.spec.cfa = cfa;
  out.spec.seed = seed;
  out.spec.max_shift = 16;
  out.spec.clipped_fraction = 0.03;
  // Per-seed streams that do not overlap (seed k + 1 must not just be
  // seed k one draw later).
  std::uint64_t state = (seed ^ 0x5DEECE66Dull) * 0xD6E8FEB86659FD93ull;
  auto next = [&state](int lo, int hi) {  // uniform in [lo, hi]
    std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return lo + static_cast<int>(z % static_cast<std::uint64_t>(hi - lo + 1));
  };
  for (int level : {0, 2, kNoiseLevelCount - 1}) {
    CaptureSpec capture;
    capture.dy = next(-8, 8);
    capture.dx = next(-8, 8);
    capture.noise_level = level;
    capture.noise_seed = seed * 10 + level;
    const int bh = next(56, 96);
    const int bw = std::min(next(56, 96), width * height / 10 / bh);
    capture.moved_object =
        Box{next(20, height - bh - 20), next(20, width - bw - 20), bh, bw};
    out.captures.push_back(capture);
  }
  return out;
}

int SweepMargin(const CfaPattern& cfa, int noise_level) {
  return (noise_level == kNoiseLevelCount - 1 ? 8 : 3) * cfa.period();
}

}  // namespace dsb::testing
