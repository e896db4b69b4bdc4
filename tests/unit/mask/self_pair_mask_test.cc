// Self pairs (mask/self_pair_mask.h): on a frame paired with a copy of
// itself, the full algorithm (told nothing of the pair) leaves exactly the
// clipping rule, written here independently; MakeLossMask told the pair is
// identical (PairContent::kIdentical) writes the same pixels and figures.
// Procedural frames of every CFA with and without clipping, under every
// clipping parameter, and degenerate frames (black, flat, all clipped,
// negative, smaller than a cell) where the pair model's residuals are all 0.
#include "mask/self_pair_mask.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "mask/loss_mask.h"
#include "photos.h"
#include "synth/render.h"
#include "test_support.h"

namespace dsb {
namespace {

using testing::AllCfas;
using testing::DifferingPixels;

// The clipping rule (contract §3, loss_mask.h): 0 where the GT's sample
// reaches its level (and with mask_noisy_clipped where the capture's, the
// same sample, reaches its own); with the cell footprint every pixel within
// one of such a sample (3x3 holds every colour of every pattern here).
Plane<std::uint8_t> ClippingRule(const RawImage& frame,
                                 const MaskParams& params) {
  const float gt_lb =
      params.overexposure_lb.value_or(frame.meta.overexposure_lb);
  const float noisy_lb = frame.meta.overexposure_lb;
  const int h = frame.height();
  const int w = frame.width();
  Plane<std::uint8_t> clipped(w, h, 0);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      const float v = frame.pixels.at(y, x);
      clipped.at(y, x) =
          v >= gt_lb || (params.mask_noisy_clipped && v >= noisy_lb);
    }
  }
  const int r = params.clip_footprint == ClipFootprint::kCell ? 1 : 0;
  Plane<std::uint8_t> mask(w, h, 255);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      for (int v = std::max(0, y - r); v <= std::min(h - 1, y + r); ++v) {
        for (int u = std::max(0, x - r); u <= std::min(w - 1, x + r); ++u) {
          if (clipped.at(v, u)) mask.at(y, x) = 0;
        }
      }
    }
  }
  return mask;
}

// The full path on (frame, a copy of it), the shortcut on the same, both
// against the rule: every pixel and every figure a build records.
void CheckSelfPair(const RawImage& frame, const MaskParams& params,
                   const std::string& what) {
  SCOPED_TRACE(what + " footprint " + ClipFootprintName(params.clip_footprint) +
               " noisy_clipped " + std::to_string(params.mask_noisy_clipped) +
               " lb " +
               (params.overexposure_lb ? std::to_string(*params.overexposure_lb)
                                       : std::string("gt")));
  const RawImage copy = frame;
  Alignment alignment;  // what the aligner reports for a self pair
  MaskWorkspace workspace;
  auto full = MakeLossMask(frame, copy, alignment, params, &workspace);
  ASSERT_TRUE(full.ok()) << full.status().ToString();
  const Plane<std::uint8_t> rule = ClippingRule(frame, params);
  ASSERT_EQ(full->pixels.width(), rule.width());
  ASSERT_EQ(full->pixels.height(), rule.height());
  // What the full algorithm makes of a self pair: clipping, nothing else.
  EXPECT_EQ(DifferingPixels(full->pixels.view(), rule.view()), 0);
  EXPECT_EQ(full->mismatch_pixels, 0);
  EXPECT_EQ(full->gain, 1.0);

  auto fast = MakeLossMask(frame, copy, alignment, params, &workspace,
                           PairContent::kIdentical);
  ASSERT_TRUE(fast.ok()) << fast.status().ToString();
  ASSERT_EQ(fast->pixels.width(), full->pixels.width());
  ASSERT_EQ(fast->pixels.height(), full->pixels.height());
  EXPECT_EQ(DifferingPixels(fast->pixels.view(), full->pixels.view()), 0);
  EXPECT_EQ(fast->mean, full->mean);  // mask_mean, bit for bit
  EXPECT_EQ(fast->clipped_pixels, full->clipped_pixels);
  EXPECT_EQ(fast->mismatch_pixels, full->mismatch_pixels);
  EXPECT_EQ(fast->gain, full->gain);
  EXPECT_EQ(fast->cell_size, full->cell_size);
  // The shortcut's mask left no scores in the workspace.
  EXPECT_TRUE(workspace.scores().empty());
  // The same frame as both images (one buffer) takes the same way.
  auto same_buffer = MakeLossMask(frame, frame, alignment, params, nullptr,
                                  PairContent::kIdentical);
  ASSERT_TRUE(same_buffer.ok());
  EXPECT_EQ(DifferingPixels(same_buffer->pixels.view(), full->pixels.view()),
            0);
}

std::vector<MaskParams> ClippingParams() {
  std::vector<MaskParams> all;
  for (ClipFootprint footprint :
       {ClipFootprint::kSample, ClipFootprint::kCell}) {
    for (bool noisy : {false, true}) {
      for (bool override_lb : {false, true}) {
        MaskParams p;
        p.clip_footprint = footprint;
        p.mask_noisy_clipped = noisy;
        if (override_lb) p.overexposure_lb = 0.5f;
        all.push_back(p);
      }
    }
  }
  return all;
}

TEST(SelfPairMaskTest, ProceduralFramesOfEveryCfaAreTheirClippingAlone) {
  for (const CfaPattern& cfa : AllCfas()) {
    for (double clipped : {0.0, 0.02, 0.3}) {
      for (std::uint64_t seed : {1, 2}) {
        SceneSpec spec;
        spec.width = 310;  // not a multiple of the X-Trans cell
        spec.height = 229;
        spec.cfa = cfa;
        spec.seed = seed;
        spec.max_shift = 16;
        spec.clipped_fraction = clipped;
        const SyntheticScene scene(spec);
        // The GT and a noisy capture, each paired with itself.
        CaptureSpec noisy_spec;
        noisy_spec.noise_level = 2;
        noisy_spec.noise_seed = seed + 5;
        const RawImage frames[] = {scene.RenderGt(),
                                   scene.RenderCapture(noisy_spec)};
        for (const RawImage& frame : frames) {
          for (const MaskParams& params : ClippingParams()) {
            CheckSelfPair(frame, params,
                          cfa.name() + " clipped " + std::to_string(clipped) +
                              " seed " + std::to_string(seed));
          }
        }
      }
    }
  }
}

TEST(SelfPairMaskTest, PhotographIsItsClippingAlone) {
  const auto photo = testing::LoadPhoto(testing::SweepPhotoNames()[0]);
  if (photo == nullptr) {
    GTEST_SKIP() << testing::PhotoMissing(testing::SweepPhotoNames()[0]);
  }
  for (const CfaPattern& cfa : AllCfas()) {
    for (double ev : {0.0, 2.0}) {
      SceneSpec spec;
      spec.width = 600;
      spec.height = 400;
      spec.cfa = cfa;
      spec.max_shift = 16;
      spec.photo = photo;
      spec.look.exposure_ev = ev;
      const SyntheticScene scene(spec);
      for (const MaskParams& params : ClippingParams()) {
        CheckSelfPair(scene.RenderGt(), params,
                      cfa.name() + " photo ev " + std::to_string(ev));
      }
    }
  }
}

RawImage Frame(const CfaPattern& cfa, int width, int height, float value) {
  RawImage image;
  image.pixels = Plane<float>(width, height, value);
  image.cfa = cfa;
  image.meta.overexposure_lb = 0.9f;
  image.path = "frame";
  return image;
}

// Where every residual of the pair model is 0 and its fit has nothing to
// go on: black, flat, all clipped, below black, random levels, and frames
// smaller than a cell or without whole cells in a direction.
TEST(SelfPairMaskTest, DegenerateFramesAreTheirClippingAlone) {
  std::mt19937 random(7);
  std::uniform_real_distribution<float> level(-0.05f, 1.2f);
  for (const CfaPattern& cfa : AllCfas()) {
    std::vector<std::pair<std::string, RawImage>> frames;
    frames.emplace_back("black", Frame(cfa, 64, 48, 0.0f));
    frames.emplace_back("flat", Frame(cfa, 64, 48, 0.2f));
    frames.emplace_back("all clipped", Frame(cfa, 64, 48, 1.0f));
    frames.emplace_back("below black", Frame(cfa, 64, 48, -0.01f));
    RawImage random_frame = Frame(cfa, 97, 61, 0.0f);
    for (int y = 0; y < 61; ++y) {
      for (int x = 0; x < 97; ++x) random_frame.pixels.at(y, x) = level(random);
    }
    frames.emplace_back("random levels", random_frame);
    RawImage half = Frame(cfa, 66, 40, 0.3f);
    for (int y = 0; y < 20; ++y) {
      for (int x = 0; x < 66; ++x) half.pixels.at(y, x) = 0.95f;
    }
    frames.emplace_back("half clipped", half);
    for (auto [w, h] : {std::pair{1, 1},
                        {2, 2},
                        {3, 3},
                        {5, 7},
                        {200, 2},
                        {2, 150},
                        {7, 5}}) {
      RawImage tiny = Frame(cfa, w, h, 0.4f);
      tiny.pixels.at(0, 0) = 0.95f;
      frames.emplace_back("tiny " + std::to_string(w) + "x" + std::to_string(h),
                          tiny);
    }
    for (const auto& [name, frame] : frames) {
      for (const MaskParams& params : ClippingParams()) {
        CheckSelfPair(frame, params, cfa.name() + " " + name);
      }
    }
  }
}

// The shortcut is taken only where the full path is known to leave the
// clipping alone: the caller's word that the pixels are the same, shift
// (0, 0), and raw_gain 1 (the pair model's gain where nothing is free of
// clipping). Elsewhere the full algorithm runs, whatever the caller says.
TEST(SelfPairMaskTest, ShortcutOnlyForIdenticalPixelsAtShiftZeroAndGainOne) {
  Alignment at_zero;
  EXPECT_TRUE(TakesSelfPairShortcut(PairContent::kIdentical, at_zero));
  EXPECT_FALSE(TakesSelfPairShortcut(PairContent::kUnknown, at_zero));
  Alignment shifted;
  shifted.dy = 2;
  EXPECT_FALSE(TakesSelfPairShortcut(PairContent::kIdentical, shifted));
  shifted = Alignment{};
  shifted.dx = -1;
  EXPECT_FALSE(TakesSelfPairShortcut(PairContent::kIdentical, shifted));
  Alignment gain;
  gain.raw_gain = 0.5;
  EXPECT_FALSE(TakesSelfPairShortcut(PairContent::kIdentical, gain));

  // A self pair none of whose samples is free of clipping in both images:
  // its reds reach the GT's level (0.9, set by the parameters), its greens
  // and blues only the capture's own (0.4). The full path's gain falls back
  // to raw_gain; at 2 the capture's clipped greens and blues read brighter
  // than the GT (d < 0), which counts, and the frame is flagged. Told the
  // pair is identical, MakeLossMask still gives the full path's mask.
  RawImage frame = Frame(CfaPattern::Bayer(BayerOrder::kRGGB), 64, 48, 0.5f);
  frame.meta.overexposure_lb = 0.4f;
  for (int y = 0; y < 48; y += 2) {
    for (int x = 0; x < 64; x += 2) frame.pixels.at(y, x) = 0.95f;
  }
  MaskParams params;
  params.overexposure_lb = 0.9f;
  for (double raw_gain : {1.0, 2.0}) {
    SCOPED_TRACE(raw_gain);
    gain.raw_gain = raw_gain;
    auto full = MakeLossMask(frame, frame, gain, params);
    auto told = MakeLossMask(frame, frame, gain, params, nullptr,
                             PairContent::kIdentical);
    ASSERT_TRUE(full.ok() && told.ok());
    EXPECT_EQ(DifferingPixels(told->pixels.view(), full->pixels.view()), 0);
    EXPECT_EQ(told->mean, full->mean);
    EXPECT_EQ(full->clipped_pixels, 64 * 48 / 4);
    if (raw_gain == 1.0) {
      EXPECT_EQ(full->mismatch_pixels, 0);
    } else {
      EXPECT_GT(full->mismatch_pixels, 0);
    }
  }
}

// Bad inputs fail the same way, told or not.
TEST(SelfPairMaskTest, ErrorsAsTheFullPath) {
  RawImage gt = Frame(CfaPattern::Bayer(BayerOrder::kRGGB), 16, 16, 0.2f);
  RawImage other = gt;
  other.cfa = CfaPattern::Bayer(BayerOrder::kBGGR);
  EXPECT_FALSE(
      MakeLossMask(gt, other, Alignment{}, {}, nullptr, PairContent::kIdentical)
          .ok());
  MaskParams bad;
  bad.threshold_sigmas = 0;
  EXPECT_FALSE(
      MakeLossMask(gt, gt, Alignment{}, bad, nullptr, PairContent::kIdentical)
          .ok());
  gt.meta.overexposure_lb = 0;
  EXPECT_FALSE(
      MakeLossMask(gt, gt, Alignment{}, {}, nullptr, PairContent::kIdentical)
          .ok());
}

}  // namespace
}  // namespace dsb
