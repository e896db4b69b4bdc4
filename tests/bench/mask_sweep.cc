// Loss-mask accuracy beyond what the unit tests can afford: for SEEDS seeds
// from FIRST, every CFA and noise levels 0, 2 and the most extreme, one
// generated pair with a random shift and moved object (tests/support/
// mask_scores.h). Prints each case that misses the targets and a
// summary per CFA. Larger images exercise the mask's sampled fits (small
// ones are fitted on every cell).
//
//   mask_sweep [FIRST [SEEDS [WIDTH HEIGHT]]]   (default: 111 40 320 240)
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "mask_scores.h"

int main(int argc, char** argv) {
  const int first = argc > 1 ? std::atoi(argv[1]) : 111;
  const int seeds = argc > 2 ? std::atoi(argv[2]) : 40;
  const int width = argc > 4 ? std::atoi(argv[3]) : 320;
  const int height = argc > 4 ? std::atoi(argv[4]) : 240;
  if (width < 64 || height < 64) {
    std::fprintf(stderr, "mask_sweep: WIDTH and HEIGHT must be >= 64\n");
    return 2;
  }
  const std::vector<dsb::CfaPattern> cfas = {
      dsb::CfaPattern::Bayer(dsb::BayerOrder::kRGGB),
      dsb::CfaPattern::Bayer(dsb::BayerOrder::kBGGR),
      dsb::CfaPattern::Bayer(dsb::BayerOrder::kGRBG),
      dsb::CfaPattern::Bayer(dsb::BayerOrder::kGBRG),
      dsb::CfaPattern::StandardXTrans()};
  int total = 0;
  int missed = 0;
  for (const dsb::CfaPattern& cfa : cfas) {
    int cases = 0;
    int fails = 0;
    double worst_moved = 1;
    double worst_static = 1;
    for (int seed = first; seed < first + seeds; ++seed) {
      const auto sweep = dsb::testing::MakeSweepScene(cfa, seed, width, height);
      const dsb::SyntheticScene scene(sweep.spec);
      const dsb::RawImage gt = scene.RenderGt();
      for (const dsb::CaptureSpec& capture : sweep.captures) {
        const dsb::RawImage noisy = scene.RenderCapture(capture);
        dsb::Alignment alignment;
        alignment.dy = capture.dy;
        alignment.dx = capture.dx;
        alignment.raw_gain = capture.gain;
        const auto mask = dsb::MakeLossMask(gt, noisy, alignment);
        if (!mask.ok()) {
          std::fprintf(stderr, "%s\n", mask.status().ToString().c_str());
          return 1;
        }
        const dsb::testing::MaskScores s = dsb::testing::ScoreMask(
            scene, noisy, capture, *mask,
            dsb::testing::SweepMargin(cfa, capture.noise_level));
        ++cases;
        worst_moved = std::min(worst_moved, s.moved_flagged);
        worst_static = std::min(worst_static, s.static_kept);
        if (!dsb::testing::MeetsMaskTargets(s, capture.noise_level)) {
          ++fails;
          std::printf(
              "  miss: %s seed %d level %d shift (%d,%d): moved %.4f "
              "static %.4f clipped kept %lld\n",
              cfa.name().c_str(), seed, capture.noise_level, capture.dy,
              capture.dx, s.moved_flagged, s.static_kept,
              static_cast<long long>(s.clipped_kept));
        }
      }
    }
    std::printf(
        "%-6s %d/%d cases meet the targets; worst moved %.4f, worst static "
        "%.4f\n",
        cfa.name().c_str(), cases - fails, cases, worst_moved, worst_static);
    std::fflush(stdout);
    total += cases;
    missed += fails;
  }
  std::printf("all    %d/%d cases meet the targets\n", total - missed, total);
  return 0;
}
