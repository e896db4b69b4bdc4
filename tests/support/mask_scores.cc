#include "mask_scores.h"

#include <algorithm>
#include <cstdio>

#include "core/alignment.h"

namespace dsb::testing {

MaskScores ScoreMask(const RawImage& gt, const RawImage& capture,
                     const CaptureSpec& spec, const LossMask& mask,
                     int margin) {
  const Overlap o =
      ComputeOverlap(capture.height(), capture.width(), spec.dy, spec.dx);
  const float lb = gt.meta.overexposure_lb;
  MaskScores s;
  std::int64_t moved_flagged = 0, moved_unclipped_flagged = 0;
  std::int64_t statics_kept = 0;
  std::int64_t colour_total[3] = {0, 0, 0}, colour_clipped[3] = {0, 0, 0};
  for (int y = 0; y < o.height; ++y) {
    for (int x = 0; x < o.width; ++x) {
      const bool kept = mask.pixels.at(y, x) == 255;
      const int ny = o.noisy_y0 + y, nx = o.noisy_x0 + x;
      const int gy = o.gt_y0 + y, gx = o.gt_x0 + x;
      const bool clipped = gt.pixels.at(gy, gx) >= lb;
      const int colour = static_cast<int>(gt.cfa.color_at(gy, gx));
      ++colour_total[colour];
      colour_clipped[colour] += clipped;
      if (clipped) {
        ++s.clipped_total;
        s.clipped_kept += kept;
      }
      if (spec.moved_object) {
        const Box& b = *spec.moved_object;
        if (b.Contains(ny, nx)) {
          ++s.moved_total;
          moved_flagged += !kept;
          s.moved_clipped += clipped;
          moved_unclipped_flagged += !kept && !clipped;
          continue;
        }
        const Box grown{b.y0 - margin, b.x0 - margin, b.height + 2 * margin,
                        b.width + 2 * margin};
        if (grown.Contains(ny, nx)) continue;
      }
      if (clipped) continue;
      ++s.static_total;
      statics_kept += kept;
    }
  }
  if (s.moved_total > 0) {
    s.moved_flagged = static_cast<double>(moved_flagged) / s.moved_total;
  }
  if (s.moved_total > s.moved_clipped) {
    s.moved_unclipped_flagged = static_cast<double>(moved_unclipped_flagged) /
                                (s.moved_total - s.moved_clipped);
  }
  if (s.static_total > 0) {
    s.static_kept = static_cast<double>(statics_kept) / s.static_total;
  }
  for (int c = 0; c < 3; ++c) {
    if (colour_total[c] > 0) {
      s.clipped_share[c] =
          static_cast<double>(colour_clipped[c]) / colour_total[c];
    }
  }
  return s;
}

bool MeetsMaskTargets(const MaskScores& scores, int noise_level) {
  return scores.moved_flagged >= 0.95 &&
         scores.static_kept >= (noise_level <= 1 ? 0.99 : 0.97) &&
         scores.clipped_kept == 0;
}

namespace {

// A per-seed stream of integers (seed k + 1 must not just be seed k one
// draw later).
class SeedStream {
 public:
  explicit SeedStream(std::uint64_t seed)
      : state_((seed ^ 0x5DEECE66Dull) * 0xD6E8FEB86659FD93ull) {}
  int Next(int lo, int hi) {  // uniform in [lo, hi]
    std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return lo + static_cast<int>(z % static_cast<std::uint64_t>(hi - lo + 1));
  }

 private:
  std::uint64_t state_;
};

}  // namespace

SweepScene MakeSweepScene(const CfaPattern& cfa, std::uint64_t seed, int width,
                          int height) {
  SweepScene out;
  out.spec.width = width;
  out.spec.height = height;
  out.spec.cfa = cfa;
  out.spec.seed = seed;
  out.spec.max_shift = 16;
  out.spec.clipped_fraction = 0.03;
  SeedStream stream(seed);
  auto next = [&stream](int lo, int hi) { return stream.Next(lo, hi); };
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

namespace dsb::testing {

PhotoSweepScene MakePhotoSweepScene(
    const std::shared_ptr<const Srgb8Image>& photo, const PhotoLook& look,
    const CfaPattern& cfa, std::uint64_t seed, int width, int height) {
  SeedStream stream(seed ^ 0x50484f54ull);
  SceneSpec spec;
  spec.width = width;
  spec.height = height;
  spec.cfa = cfa;
  spec.seed = seed;
  spec.max_shift = 16;
  spec.photo = photo;
  spec.look = look;
  spec.look.zoom = 1.0 + stream.Next(0, 30) / 100.0;
  spec.look.offset_y = stream.Next(0, 100) / 100.0;
  spec.look.offset_x = stream.Next(0, 100) / 100.0;
  PhotoSweepScene out;
  out.scene = std::make_unique<SyntheticScene>(spec);
  const SyntheticScene& scene = *out.scene;
  // (noise level, gain, object in a bright region). Bright-region objects
  // come with captures no brighter than the GT (gain >= 1): where a
  // brighter capture saturates over a bright object, nothing of it is left
  // to compare.
  struct Plan {
    int level;
    double gain;
    bool bright;
  };
  constexpr Plan kPlans[6] = {{0, 1.0, true},
                              {2, 0.5, false},
                              {kNoiseLevelCount - 1, 2.0, true},
                              {1, 0.7, false},
                              {kNoiseLevelCount - 1, 1.4, false},
                              {2, 1.8, true}};
  for (int k = 0; k < 6; ++k) {
    CaptureSpec capture;
    capture.noise_level = kPlans[k].level;
    capture.noise_seed = seed * 10 + k;
    capture.gain = kPlans[k].gain;
    // Odd components in turn: (odd, even), (even, odd), (odd, odd), ...
    capture.dy = 2 * stream.Next(-4, 3) + (k % 3 != 1 ? 1 : 0);
    capture.dx = 2 * stream.Next(-4, 3) + (k % 3 != 0 ? 1 : 0);
    const int bh = stream.Next(56, 96);
    const int bw = std::min(stream.Next(56, 96), width * height / 10 / bh);
    const bool bright = kPlans[k].bright;
    // Placements on a grid, by the mean content the capture shows there
    // (green, the metered channel, plus red, the one that clips under
    // warm light): the brightest, or the one at the first quartile (the
    // darkest is black in some photographs, where no change shows above
    // the most extreme noise).
    std::vector<std::pair<double, Box>> placements;
    for (int y0 = 20; y0 + bh + 20 <= height; y0 += 8) {
      for (int x0 = 20; x0 + bw + 20 <= width; x0 += 8) {
        double sum = 0;
        for (int y = y0; y < y0 + bh; y += 4) {
          for (int x = x0; x < x0 + bw; x += 4) {
            sum +=
                scene.ContentAt(y + capture.dy, x + capture.dx,
                                CfaColor::kGreen) +
                scene.ContentAt(y + capture.dy, x + capture.dx, CfaColor::kRed);
          }
        }
        placements.push_back({sum, Box{y0, x0, bh, bw}});
      }
    }
    std::sort(placements.begin(), placements.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    const Box best = bright ? placements.back().second
                            : placements[placements.size() / 4].second;
    capture.moved_object = best;
    out.captures.push_back(capture);
    out.bright.push_back(bright);
  }
  return out;
}

std::vector<PhotoLook> SweepLooks() {
  PhotoLook daylight;
  PhotoLook warm1;
  warm1.light = PhotoLight::kWarm;
  warm1.exposure_ev = 1.0;
  PhotoLook warm2 = warm1;
  warm2.exposure_ev = 2.0;
  return {daylight, warm1, warm2};
}

std::string DescribeLook(const PhotoLook& look) {
  char text[64];
  std::snprintf(text, sizeof text, "%s %+.1f EV", PhotoLightName(look.light),
                look.exposure_ev);
  return text;
}

}  // namespace dsb::testing
