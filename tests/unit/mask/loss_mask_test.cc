#include "mask/loss_mask.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "mask_scores.h"
#include "photos.h"
#include "synth/photo_reader.h"
#include "synth/render.h"
#include "test_support.h"

namespace dsb {
namespace {

using testing::AllCfas;

SceneSpec Spec(const CfaPattern& cfa, std::uint64_t seed,
               double clipped_fraction = 0.0) {
  SceneSpec spec;
  spec.width = 512;
  spec.height = 384;
  spec.cfa = cfa;
  spec.seed = seed;
  spec.max_shift = 16;
  spec.clipped_fraction = clipped_fraction;
  return spec;
}

using testing::MaskScores;

struct Case {
  CaptureSpec capture;
  LossMask mask;
  MaskScores scores;
};

Case MaskAndScore(const SyntheticScene& scene, const CaptureSpec& capture_spec,
                  const RawImage& gt, int margin_cells = 3) {
  Case c;
  c.capture = capture_spec;
  const RawImage noisy = scene.RenderCapture(capture_spec);
  Alignment alignment;
  alignment.dy = capture_spec.dy;
  alignment.dx = capture_spec.dx;
  alignment.raw_gain = capture_spec.gain;
  auto mask = MakeLossMask(gt, noisy, alignment);
  EXPECT_TRUE(mask.ok()) << mask.status().ToString();
  if (!mask.ok()) return c;
  c.mask = std::move(mask).value();
  c.scores = testing::ScoreMask(gt, noisy, capture_spec, c.mask,
                                margin_cells * scene.spec().cfa.period());
  return c;
}

std::string Describe(const Case& c) {
  char text[256];
  std::snprintf(text, sizeof(text),
                "shift (%d,%d) gain %.2f level %d: moved %.4f static %.4f "
                "mean %.4f window %d noise %.3g*s+%.3g",
                c.capture.dy, c.capture.dx, c.capture.gain,
                c.capture.noise_level, c.scores.moved_flagged,
                c.scores.static_kept, c.mask.mean, c.mask.window_radius,
                c.mask.noise_slope, c.mask.noise_offset);
  return text;
}

TEST(LossMaskTest, SizeIsExactlyTheOverlapForAllShiftsAndCfas) {
  for (const CfaPattern& cfa : AllCfas()) {
    SceneSpec spec = Spec(cfa, 3);
    spec.width = 96;
    spec.height = 78;
    const SyntheticScene scene(spec);
    const RawImage gt = scene.RenderGt();
    for (int dy : {-7, -6, -3, -2, -1, 0, 1, 2, 5, 6}) {
      for (int dx : {-9, -4, -1, 0, 1, 3, 6, 7}) {
        SCOPED_TRACE(cfa.name() + " dy=" + std::to_string(dy) +
                     " dx=" + std::to_string(dx));
        CaptureSpec capture;
        capture.dy = dy;
        capture.dx = dx;
        const RawImage noisy = scene.RenderCapture(capture);
        Alignment alignment;
        alignment.dy = dy;
        alignment.dx = dx;
        auto mask = MakeLossMask(gt, noisy, alignment);
        ASSERT_TRUE(mask.ok()) << mask.status().ToString();
        EXPECT_EQ(mask->pixels.height(),
                  spec.height - std::abs(dy) - (std::abs(dy) % 2));
        EXPECT_EQ(mask->pixels.width(),
                  spec.width - std::abs(dx) - (std::abs(dx) % 2));
        // Static, unclipped, low noise: nearly everything kept.
        EXPECT_GT(mask->mean, 0.97);
      }
    }
  }
}

TEST(LossMaskTest, MovedObjectFlaggedStaticKept) {
  for (const CfaPattern& cfa : AllCfas()) {
    const SyntheticScene scene(Spec(cfa, 11));
    const RawImage gt = scene.RenderGt();
    for (int level : {0, 2}) {
      CaptureSpec capture;
      capture.dy = 3;
      capture.dx = -5;
      capture.noise_level = level;
      capture.noise_seed = 7 + level;
      capture.moved_object = Box{120, 200, 90, 110};
      const Case c = MaskAndScore(scene, capture, gt);
      SCOPED_TRACE(cfa.name() + " " + Describe(c));
      EXPECT_GE(c.scores.moved_flagged, 0.95);
      EXPECT_GE(c.scores.static_kept, 0.99);
    }
  }
}

TEST(LossMaskTest, MovedObjectFlaggedAtExtremeNoise) {
  for (const CfaPattern& cfa :
       {CfaPattern::Bayer(BayerOrder::kGRBG), CfaPattern::StandardXTrans()}) {
    const SyntheticScene scene(Spec(cfa, 12));
    const RawImage gt = scene.RenderGt();
    CaptureSpec capture;
    capture.dy = -4;
    capture.dx = 7;
    capture.noise_level = kNoiseLevelCount - 1;
    capture.moved_object = Box{60, 100, 120, 140};
    const Case c = MaskAndScore(scene, capture, gt, /*margin_cells=*/8);
    SCOPED_TRACE(cfa.name() + " " + Describe(c));
    EXPECT_GE(c.scores.moved_flagged, 0.95);
    EXPECT_GE(c.scores.static_kept, 0.97);
  }
}

// Detection must not depend on the scene: many seeds per CFA, the moved
// object (at most 10% of the frame) placed, sized and shifted per seed, on
// small frames so that the sweep stays fast. Set DSB_MASK_SWEEP_TABLE=1 to
// print every case. (With a fixed structure tolerance, X-Trans missed up
// to ~15% of the object here and Bayer up to ~8% on odd shifts.)
// Masks every capture of one sweep scene (tests/support/mask_scores.h)
// and checks the targets, the gain and that the scene clips.
void ExpectSweepSceneMeetsTargets(const CfaPattern& cfa, std::uint64_t seed,
                                  int width, int height, bool print) {
  const testing::SweepScene sweep =
      testing::MakeSweepScene(cfa, seed, width, height);
  const SyntheticScene scene(sweep.spec);
  const RawImage gt = scene.RenderGt();
  for (const CaptureSpec& capture : sweep.captures) {
    const Case c = MaskAndScore(
        scene, capture, gt,
        testing::SweepMargin(cfa, capture.noise_level) / cfa.period());
    SCOPED_TRACE(cfa.name() + " seed " + std::to_string(seed) + " " +
                 Describe(c));
    if (print) std::printf("%s\n", Describe(c).c_str());
    EXPECT_TRUE(testing::MeetsMaskTargets(c.scores, capture.noise_level));
    EXPECT_NEAR(c.mask.gain, capture.gain, 0.05 * capture.gain);
    EXPECT_GT(c.scores.clipped_total, 0);
  }
}

TEST(LossMaskTest, MovedObjectDetectionIsRobustAcrossSeeds) {
  const bool table = std::getenv("DSB_MASK_SWEEP_TABLE") != nullptr;
  for (const CfaPattern& cfa : AllCfas()) {
    for (std::uint64_t seed = 111; seed < 121; ++seed) {
      ExpectSweepSceneMeetsTargets(cfa, seed, 320, 240, table);
    }
  }
}

// The tests' photograph (tests/support/photos.h), or null where it is
// absent.
std::shared_ptr<const Srgb8Image> TestPhoto() {
  return testing::LoadPhoto("motorcycle_left.png");
}

#define SKIP_WITHOUT_PHOTO(photo) \
  if (photo == nullptr)           \
  GTEST_SKIP() << testing::PhotoMissing("motorcycle_left.png")

// The real-photo sweep (tests/support/mask_scores.h) on the tests'
// photograph: daylight, warm +1 EV and warm +2 EV (red clipped over wide
// areas), all five CFAs, six captures each (noise 0 to the most extreme,
// gains 0.5 to 2, odd and even shifts, moved objects in bright and dark
// regions). Every case meets the issue's targets. Set
// DSB_MASK_SWEEP_TABLE=1 to print every case.
TEST(LossMaskTest, RealPhotoSweepMeetsTargets) {
  const auto photo = TestPhoto();
  SKIP_WITHOUT_PHOTO(photo);
  const bool table = std::getenv("DSB_MASK_SWEEP_TABLE") != nullptr;
  for (const PhotoLook& look : testing::SweepLooks()) {
    for (const CfaPattern& cfa : AllCfas()) {
      const auto sweep =
          testing::MakePhotoSweepScene(photo, look, cfa, 111, 320, 240);
      const RawImage gt = sweep.scene->RenderGt();
      for (std::size_t k = 0; k < sweep.captures.size(); ++k) {
        const CaptureSpec& capture = sweep.captures[k];
        const Case c = MaskAndScore(
            *sweep.scene, capture, gt,
            testing::SweepMargin(cfa, capture.noise_level) / cfa.period());
        const std::string what =
            testing::DescribeLook(look) + " " + cfa.name() +
            (sweep.bright[k] ? " bright " : " dark ") + Describe(c);
        SCOPED_TRACE(what);
        if (table) std::printf("%s\n", what.c_str());
        EXPECT_TRUE(testing::MeetsMaskTargets(c.scores, capture.noise_level));
        EXPECT_GT(c.scores.moved_total, 0);
        EXPECT_NEAR(c.mask.gain, capture.gain, 0.05 * capture.gain);
        if (look.exposure_ev >= 2) {
          // Wide single-channel clipping: red far more than blue.
          EXPECT_GT(c.scores.clipped_share[0], 0.3);
          EXPECT_LT(c.scores.clipped_share[2], 0.05);
        }
      }
    }
  }
}

// The real-photo sweep's former misses: a retina under warm light, red
// clipped over almost the whole disc, on X-Trans. The noise line fitted
// on the disc's green and blue extrapolated to a third of the variance of
// the black border, which was flagged as a whole (static kept 97.1 % and
// 98.0 % at noise level 1, seeds 112 and 113). The black's own measured
// variance (mask/pair_model.h dark_floor) keeps it.
TEST(LossMaskTest, BlackBorderOfAWarmRetinaIsKept) {
  const std::string path = testing::FindPhoto("retina.jpg");
  if (path.empty()) {
    GTEST_SKIP() << testing::PhotoMissing("retina.jpg");
  }
  auto read = ReadPhoto(path);
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  const auto photo =
      std::make_shared<const Srgb8Image>(std::move(read).value());
  PhotoLook look;
  look.light = PhotoLight::kWarm;
  look.exposure_ev = 1.0;
  const CfaPattern cfa = CfaPattern::StandardXTrans();
  for (const std::uint64_t seed : {112u, 113u}) {
    const auto sweep =
        testing::MakePhotoSweepScene(photo, look, cfa, seed, 320, 240);
    const RawImage gt = sweep.scene->RenderGt();
    for (const CaptureSpec& capture : sweep.captures) {
      const Case c = MaskAndScore(
          *sweep.scene, capture, gt,
          testing::SweepMargin(cfa, capture.noise_level) / cfa.period());
      SCOPED_TRACE("seed " + std::to_string(seed) + " " + Describe(c));
      EXPECT_TRUE(testing::MeetsMaskTargets(c.scores, capture.noise_level));
      // Most of the frame is red-clipped disc.
      EXPECT_GT(c.scores.clipped_share[0], 0.9);
    }
  }
}

// The original failure: static, aligned pairs (no shift, gain 1,
// ISO 3200-like noise) of warm content whose red clips over wide areas.
// A 3x3 footprint per clipped sample took most unclipped samples with it
// and mask_mean fell under RawNIND's 0.8; per sample, every unclipped
// sample is kept.
TEST(LossMaskTest, WarmRedClippingKeepsEveryUnclippedSample) {
  const auto photo = TestPhoto();
  SKIP_WITHOUT_PHOTO(photo);
  for (const CfaPattern& cfa :
       {CfaPattern::Bayer(BayerOrder::kRGGB), CfaPattern::StandardXTrans()}) {
    SceneSpec spec = Spec(cfa, 7);
    spec.photo = photo;
    spec.look.light = PhotoLight::kWarm;
    spec.look.exposure_ev = 1.0;
    const SyntheticScene scene(spec);
    const RawImage gt = scene.RenderGt();
    CaptureSpec capture;
    capture.noise_level = 2;
    const Case c = MaskAndScore(scene, capture, gt);
    SCOPED_TRACE(cfa.name() + " " + Describe(c));
    EXPECT_GT(c.scores.clipped_share[0], 0.25);  // red clips widely
    EXPECT_LT(c.scores.clipped_share[1], c.scores.clipped_share[0] / 1.5);
    EXPECT_GE(c.scores.static_kept, 0.999);
    EXPECT_EQ(c.scores.clipped_kept, 0);
    const double unclipped =
        1.0 - static_cast<double>(c.scores.clipped_total) /
                  (c.mask.pixels.width() * c.mask.pixels.height());
    EXPECT_NEAR(c.mask.mean, unclipped, 0.002);
    // The conservative footprint still exists, and costs what it did.
    MaskParams cell;
    cell.clip_footprint = ClipFootprint::kCell;
    auto wide =
        MakeLossMask(gt, scene.RenderCapture(capture), Alignment{}, cell);
    ASSERT_TRUE(wide.ok());
    EXPECT_LT(wide->mean, c.mask.mean - 0.1);
  }
}

// A moved object in a bright region that the GT partly clips is still
// flagged on its unclipped samples, at the most extreme noise with a
// darker capture (gain 1.8), on procedural content: the box is put where
// the GT clips most.
TEST(LossMaskTest, MovedObjectInAPartlyClippedRegionIsFlagged) {
  for (const CfaPattern& cfa : AllCfas()) {
    const SyntheticScene scene(Spec(cfa, 51, /*clipped_fraction=*/0.12));
    const RawImage gt = scene.RenderGt();
    // The placement whose share of clipped samples is closest to 30%.
    Box best{0, 0, 90, 110};
    double closest = 1;
    for (int y0 = 20; y0 + 90 + 20 <= 384; y0 += 10) {
      for (int x0 = 20; x0 + 110 + 20 <= 512; x0 += 10) {
        int n = 0;
        for (int y = y0; y < y0 + 90; ++y) {
          for (int x = x0; x < x0 + 110; ++x) n += scene.GtClippedAt(y, x);
        }
        const double share = n / (90.0 * 110.0);
        if (std::abs(share - 0.3) < closest) {
          closest = std::abs(share - 0.3);
          best = Box{y0, x0, 90, 110};
        }
      }
    }
    CaptureSpec capture;
    capture.dy = 3;
    capture.dx = -2;
    capture.gain = 1.8;
    capture.noise_level = kNoiseLevelCount - 1;
    capture.moved_object = best;
    const Case c = MaskAndScore(scene, capture, gt, /*margin_cells=*/8);
    SCOPED_TRACE(cfa.name() + " " + Describe(c));
    // The box holds clipped samples and more unclipped ones; those are
    // flagged by the mismatch test alone.
    EXPECT_GT(c.scores.moved_clipped, c.scores.moved_total / 10);
    EXPECT_LT(c.scores.moved_clipped, c.scores.moved_total / 2);
    EXPECT_GE(c.scores.moved_flagged, 0.95);
    EXPECT_GE(c.scores.moved_unclipped_flagged, 0.95);
    EXPECT_GE(c.scores.static_kept, 0.97);
    EXPECT_EQ(c.scores.clipped_kept, 0);
  }
}

// High gain (a capture brighter than its GT, gain 0.5): the capture
// clips where the GT does not. Those samples are not masked (contract §3
// and RawNIND mask the GT's overexposure only), and the mismatch test,
// which sees them read low, does not take them for a change either.
TEST(LossMaskTest, CaptureClippingAloneIsNotMasked) {
  for (const CfaPattern& cfa :
       {CfaPattern::Bayer(BayerOrder::kBGGR), CfaPattern::StandardXTrans()}) {
    const SyntheticScene scene(Spec(cfa, 61, /*clipped_fraction=*/0.03));
    const RawImage gt = scene.RenderGt();
    for (int level : {0, 2}) {
      CaptureSpec capture;
      capture.dy = -3;
      capture.dx = 4;
      capture.gain = 0.5;
      capture.noise_level = level;
      const RawImage noisy = scene.RenderCapture(capture);
      const Overlap o = ComputeOverlap(gt.height(), gt.width(), -3, 4);
      std::int64_t capture_only = 0;
      for (int y = 0; y < o.height; ++y) {
        for (int x = 0; x < o.width; ++x) {
          capture_only +=
              noisy.pixels.at(o.noisy_y0 + y, o.noisy_x0 + x) >= 1.0f &&
              gt.pixels.at(o.gt_y0 + y, o.gt_x0 + x) < 1.0f;
        }
      }
      const Case c = MaskAndScore(scene, capture, gt);
      SCOPED_TRACE(cfa.name() + " " + Describe(c));
      EXPECT_GT(capture_only, o.height * o.width / 100);  // >1% to lose
      EXPECT_EQ(c.mask.clipped_pixels, c.scores.clipped_total);
      EXPECT_GE(c.scores.static_kept, level == 0 ? 0.99 : 0.97);
      EXPECT_NEAR(c.mask.gain, 0.5, 0.025);
    }
  }
}

// Frames of more than about 2^16 cell colours are fitted from evenly
// spaced cell rows, not from every cell (mask/pair_model.h); the sweep
// above runs on frames small enough to use every cell. 1600 x 1200 takes
// the sampled path for every CFA.
TEST(LossMaskTest, LargeFramesAreFittedFromASampleOfRows) {
  for (const CfaPattern& cfa : AllCfas()) {
    ExpectSweepSceneMeetsTargets(cfa, 111, 1600, 1200, false);
  }
}

// A workspace only lends memory: masks of pairs of different sizes and
// patterns made one after another through one workspace (recycling each
// mask's pixels) equal masks made with fresh buffers.
TEST(LossMaskTest, WorkspaceReuseGivesTheSameMasks) {
  MaskWorkspace workspace;
  int index = 0;
  for (const CfaPattern& cfa :
       {CfaPattern::Bayer(BayerOrder::kGRBG), CfaPattern::StandardXTrans(),
        CfaPattern::Bayer(BayerOrder::kRGGB)}) {
    for (const auto& [width, height] :
         std::vector<std::pair<int, int>>{{320, 240}, {200, 330}, {320, 240}}) {
      SceneSpec spec = Spec(cfa, 40 + index++, 0.02);
      spec.width = width;
      spec.height = height;
      const SyntheticScene scene(spec);
      const RawImage gt = scene.RenderGt();
      CaptureSpec capture;
      capture.dy = index % 2 ? 3 : -2;
      capture.dx = index % 3 ? -5 : 4;
      capture.noise_level = 2;
      capture.moved_object = Box{height / 3, width / 3, height / 5, width / 5};
      const RawImage noisy = scene.RenderCapture(capture);
      Alignment alignment;
      alignment.dy = capture.dy;
      alignment.dx = capture.dx;
      SCOPED_TRACE(cfa.name() + " " + std::to_string(width) + "x" +
                   std::to_string(height));
      auto fresh = MakeLossMask(gt, noisy, alignment);
      auto reused = MakeLossMask(gt, noisy, alignment, {}, &workspace);
      ASSERT_TRUE(fresh.ok() && reused.ok());
      ASSERT_EQ(reused->pixels.width(), fresh->pixels.width());
      ASSERT_EQ(reused->pixels.height(), fresh->pixels.height());
      EXPECT_TRUE(std::equal(fresh->pixels.data(),
                             fresh->pixels.data() + fresh->pixels.pixel_count(),
                             reused->pixels.data()));
      EXPECT_EQ(reused->mean, fresh->mean);
      EXPECT_EQ(reused->gain, fresh->gain);
      EXPECT_LT(fresh->mean, 1.0);  // something to get wrong
      workspace.Recycle(std::move(reused->pixels));
    }
  }
}

// A workspace's buffers outlive it in a pool, and the next workspace takes
// them (mask/loss_mask.h MaskWorkspace): a workspace that takes the
// planes of one that served a larger frame (frame-sized, larger than the
// next overlaps) makes the same masks, scores and weights as fresh
// buffers, through overlaps that grow and shrink with the shift, and
// shows no scores before its first mask.
TEST(LossMaskTest, PooledBuffersGiveTheSameMasks) {
  // The most sets the pool keeps (loss_mask.h).
  const std::size_t pooled =
      std::max<std::size_t>(2, std::thread::hardware_concurrency());
  for (const CfaPattern& cfa :
       {CfaPattern::Bayer(BayerOrder::kRGGB), CfaPattern::StandardXTrans()}) {
    SCOPED_TRACE(cfa.name());
    {
      // Every set the pool holds served this larger frame last.
      SceneSpec spec = Spec(cfa, 60, 0.02);
      spec.width = 400;
      spec.height = 300;
      const SyntheticScene scene(spec);
      const RawImage gt = scene.RenderGt();
      std::vector<MaskWorkspace> workspaces(pooled + 1);
      for (MaskWorkspace& workspace : workspaces) {
        auto mask = MakeLossMask(gt, gt, Alignment{}, {}, &workspace);
        ASSERT_TRUE(mask.ok());
        workspace.Recycle(std::move(mask->pixels));
      }
    }
    MaskWorkspace workspace;  // a pooled set
    EXPECT_TRUE(workspace.scores().empty());
    EXPECT_TRUE(workspace.weights().empty());
    // The pool emptied: what follows gets fresh buffers.
    const std::vector<MaskWorkspace> drained(pooled);
    std::vector<MaskWorkspace> fresh(5);
    const SyntheticScene scene(Spec(cfa, 61, 0.02));
    const RawImage gt = scene.RenderGt();
    const std::vector<std::pair<int, int>> shifts = {
        {4, -7}, {0, 1}, {-9, 12}, {0, 0}, {3, 3}};
    for (std::size_t k = 0; k < shifts.size(); ++k) {
      const auto [dy, dx] = shifts[k];
      SCOPED_TRACE(std::to_string(dy) + "," + std::to_string(dx));
      CaptureSpec capture;
      capture.dy = dy;
      capture.dx = dx;
      capture.noise_level = 2;
      capture.moved_object = Box{60, 80, 50, 60};
      const RawImage noisy = scene.RenderCapture(capture);
      Alignment alignment;
      alignment.dy = dy;
      alignment.dx = dx;
      auto reference = MakeLossMask(gt, noisy, alignment, {}, &fresh[k]);
      auto mask = MakeLossMask(gt, noisy, alignment, {}, &workspace);
      ASSERT_TRUE(reference.ok() && mask.ok());
      ASSERT_EQ(mask->pixels.width(), reference->pixels.width());
      ASSERT_EQ(mask->pixels.height(), reference->pixels.height());
      EXPECT_TRUE(
          std::equal(reference->pixels.data(),
                     reference->pixels.data() + reference->pixels.pixel_count(),
                     mask->pixels.data()));
      EXPECT_EQ(mask->mean, reference->mean);
      EXPECT_LT(reference->mean, 1.0);  // something to get wrong
      const PlaneView<const std::uint16_t> z = workspace.scores();
      const PlaneView<const std::uint16_t> z_ref = fresh[k].scores();
      const PlaneView<const std::uint8_t> w = workspace.weights();
      const PlaneView<const std::uint8_t> w_ref = fresh[k].weights();
      ASSERT_FALSE(z_ref.empty());
      ASSERT_EQ(z.width, z_ref.width);
      ASSERT_EQ(z.height, z_ref.height);
      ASSERT_EQ(w.width, w_ref.width);
      ASSERT_EQ(w.height, w_ref.height);
      for (int i = 0; i < z.height; ++i) {
        EXPECT_TRUE(std::equal(z.row(i), z.row(i) + z.width, z_ref.row(i)));
        EXPECT_TRUE(std::equal(w.row(i), w.row(i) + w.width, w_ref.row(i)));
      }
      workspace.Recycle(std::move(mask->pixels));
    }
  }
}

// Where the CPU has AVX-512, the window test picks the limits of windows
// holding clipped cells from registers (radius 0-1) or gathers them (wider
// windows); the portable lookup must give the same masks. Scenes with 12 %
// clipped lights and a moved object, so that rows with many partial windows
// (the lookup pass) and flags both occur.
TEST(LossMaskTest, PortableWindowTestGivesTheSameMasks) {
  for (const CfaPattern& cfa : AllCfas()) {
    const SyntheticScene scene(Spec(cfa, 52, /*clipped_fraction=*/0.12));
    const RawImage gt = scene.RenderGt();
    CaptureSpec capture;
    capture.dy = -3;
    capture.dx = 5;
    capture.noise_level = 2;
    capture.moved_object = Box{100, 150, 90, 110};
    const RawImage noisy = scene.RenderCapture(capture);
    Alignment alignment;
    alignment.dy = capture.dy;
    alignment.dx = capture.dx;
    SCOPED_TRACE(cfa.name());
    // 0 and 1: limits picked from registers; 2 and 5: gathered.
    for (int radius : {0, 1, 2, 5}) {
      MaskParams params;
      params.min_window_radius = radius;
      params.max_window_radius = radius;
      auto fast = MakeLossMask(gt, noisy, alignment, params);
      UsePortableWindowTestForTesting(true);
      auto portable = MakeLossMask(gt, noisy, alignment, params);
      UsePortableWindowTestForTesting(false);
      ASSERT_TRUE(fast.ok() && portable.ok());
      ASSERT_EQ(fast->pixels.pixel_count(), portable->pixels.pixel_count());
      EXPECT_TRUE(std::equal(fast->pixels.data(),
                             fast->pixels.data() + fast->pixels.pixel_count(),
                             portable->pixels.data()));
      EXPECT_EQ(fast->mean, portable->mean);
      EXPECT_LT(fast->mean, 0.97);  // clipping and the object flagged
    }
  }
}

TEST(LossMaskTest, StaticPixelsKeptAtEveryNoiseLevel) {
  for (const CfaPattern& cfa : AllCfas()) {
    const SyntheticScene scene(Spec(cfa, 21));
    const RawImage gt = scene.RenderGt();
    for (int level = 0; level < kNoiseLevelCount; ++level) {
      CaptureSpec capture;
      capture.dy = -2 - level;
      capture.dx = 1 + 2 * level;
      capture.noise_level = level;
      capture.noise_seed = 100 + level;
      const Case c = MaskAndScore(scene, capture, gt);
      SCOPED_TRACE(cfa.name() + " " + Describe(c));
      EXPECT_GE(c.scores.static_kept, level <= 1 ? 0.99 : 0.97);
    }
  }
}

TEST(LossMaskTest, GainIsMatched) {
  for (const CfaPattern& cfa :
       {CfaPattern::Bayer(BayerOrder::kRGGB), CfaPattern::StandardXTrans()}) {
    const SyntheticScene scene(Spec(cfa, 31));
    const RawImage gt = scene.RenderGt();
    for (double gain : {0.5, 2.0}) {
      for (int level : {0, kNoiseLevelCount - 1}) {
        CaptureSpec capture;
        capture.dy = 1;
        capture.dx = -1;
        capture.gain = gain;
        capture.noise_level = level;
        const Case c = MaskAndScore(scene, capture, gt);
        SCOPED_TRACE(cfa.name() + " " + Describe(c));
        EXPECT_NEAR(c.mask.gain, gain, 0.05 * gain);
        EXPECT_GE(c.scores.static_kept, level == 0 ? 0.99 : 0.97);
      }
    }
  }
}

TEST(LossMaskTest, ClippedGtPixelsAreAlwaysFlagged) {
  for (const CfaPattern& cfa : AllCfas()) {
    const SyntheticScene scene(Spec(cfa, 41, /*clipped_fraction=*/0.08));
    const RawImage gt = scene.RenderGt();
    for (int level : {0, kNoiseLevelCount - 1}) {
      CaptureSpec capture;
      capture.dy = 5;
      capture.dx = 2;
      capture.noise_level = level;
      const Case c = MaskAndScore(scene, capture, gt);
      SCOPED_TRACE(cfa.name() + " " + Describe(c));
      ASSERT_GT(c.scores.clipped_total, 0);
      EXPECT_EQ(c.scores.clipped_kept, 0);
      EXPECT_GE(c.scores.static_kept, level == 0 ? 0.99 : 0.97);
      EXPECT_GT(c.mask.clipped_pixels, 0);
    }
  }
}

// Overexposure is per sample by default (contract §3, RawNIND's rule): a
// clipped red takes only itself out of the mask, not its green and blue
// neighbours; the cell footprint takes its whole 3x3 neighbourhood.
TEST(LossMaskTest, ClippedRedMasksItselfOrItsNeighbourhoodByFootprint) {
  // Hand-made: flat grey, one clipped red pixel of an RGGB mosaic.
  RawImage gt;
  gt.pixels = Plane<float>(16, 16, 0.2f);
  gt.cfa = CfaPattern::Bayer(BayerOrder::kRGGB);
  gt.path = "gt.dng";
  RawImage noisy = gt;
  noisy.path = "noisy.dng";
  gt.pixels.at(8, 8) = 1.0f;  // red (even row, even column)
  noisy.pixels.at(8, 8) = 1.0f;
  auto sample = MakeLossMask(gt, noisy, Alignment{});
  ASSERT_TRUE(sample.ok()) << sample.status().ToString();
  for (int y = 7; y <= 9; ++y) {
    for (int x = 7; x <= 9; ++x) {
      EXPECT_EQ(sample->pixels.at(y, x), y == 8 && x == 8 ? 0 : 255)
          << y << "," << x;
    }
  }
  EXPECT_EQ(sample->clipped_pixels, 1);
  EXPECT_EQ(sample->mismatch_pixels, 0);

  MaskParams cell;
  cell.clip_footprint = ClipFootprint::kCell;
  auto wide = MakeLossMask(gt, noisy, Alignment{}, cell);
  ASSERT_TRUE(wide.ok()) << wide.status().ToString();
  for (int y = 7; y <= 9; ++y) {
    for (int x = 7; x <= 9; ++x) EXPECT_EQ(wide->pixels.at(y, x), 0);
  }
  EXPECT_EQ(wide->pixels.at(5, 5), 255);
  EXPECT_EQ(wide->clipped_pixels, 9);
}

// Clipped pixels are searched for only in cells that hold one and in the
// columns and rows no full cell covers: pixels there, in either image
// (with mask_noisy_clipped), must still mask their neighbourhood.
TEST(LossMaskTest, ClippingOutsideFullCellsAndInTheCaptureIsFound) {
  for (const CfaPattern& cfa :
       {CfaPattern::Bayer(BayerOrder::kGBRG), CfaPattern::StandardXTrans()}) {
    SCOPED_TRACE(cfa.name());
    // Neither side a multiple of the cell (2 or 3): a last column and a
    // last row belong to no full cell.
    const int w = cfa.period() == 2 ? 17 : 19;
    const int h = cfa.period() == 2 ? 15 : 16;
    RawImage gt;
    gt.pixels = Plane<float>(w, h, 0.2f);
    gt.cfa = cfa;
    gt.path = "gt.dng";
    RawImage noisy = gt;
    noisy.path = "noisy.dng";
    gt.pixels.at(2, w - 1) = 1.0f;      // last column, GT
    gt.pixels.at(h - 1, 4) = 1.0f;      // last row, GT
    noisy.pixels.at(8, w - 1) = 1.0f;   // last column, capture
    noisy.pixels.at(h - 1, 12) = 1.0f;  // last row, capture
    MaskParams params;
    params.mask_noisy_clipped = true;
    params.clip_footprint = ClipFootprint::kCell;
    auto mask = MakeLossMask(gt, noisy, Alignment{}, params);
    ASSERT_TRUE(mask.ok()) << mask.status().ToString();
    for (const auto& [y, x] : std::vector<std::pair<int, int>>{
             {2, w - 1}, {h - 1, 4}, {8, w - 1}, {h - 1, 12}}) {
      EXPECT_EQ(mask->pixels.at(y, x), 0) << y << "," << x;
      EXPECT_EQ(mask->pixels.at(y - 1, x - 1), 0) << y << "," << x;
    }
    EXPECT_EQ(mask->pixels.at(5, 5), 255);
    EXPECT_GT(mask->clipped_pixels, 0);
    // Per sample: the clipped pixels alone.
    params.clip_footprint = ClipFootprint::kSample;
    auto own = MakeLossMask(gt, noisy, Alignment{}, params);
    ASSERT_TRUE(own.ok()) << own.status().ToString();
    for (const auto& [y, x] : std::vector<std::pair<int, int>>{
             {2, w - 1}, {h - 1, 4}, {8, w - 1}, {h - 1, 12}}) {
      EXPECT_EQ(own->pixels.at(y, x), 0) << y << "," << x;
      EXPECT_EQ(own->pixels.at(y - 1, x - 1), 255) << y << "," << x;
    }
    EXPECT_EQ(own->clipped_pixels, 4);
    // Without mask_noisy_clipped, the capture's clipping alone is not
    // masked for clipping.
    auto gt_only = MakeLossMask(gt, noisy, Alignment{});
    ASSERT_TRUE(gt_only.ok());
    EXPECT_LT(gt_only->clipped_pixels, mask->clipped_pixels);
  }
}

TEST(LossMaskTest, OverexposureLevelCanBeOverridden) {
  RawImage gt;
  gt.pixels = Plane<float>(16, 16, 0.5f);
  gt.cfa = CfaPattern::Bayer(BayerOrder::kRGGB);
  RawImage noisy = gt;
  MaskParams params;
  params.overexposure_lb = 0.4f;
  params.mask_noisy_clipped = false;
  auto mask = MakeLossMask(gt, noisy, Alignment{}, params);
  ASSERT_TRUE(mask.ok());
  EXPECT_EQ(mask->mean, 0.0);
  params.overexposure_lb = 0.6f;
  mask = MakeLossMask(gt, noisy, Alignment{}, params);
  ASSERT_TRUE(mask.ok());
  EXPECT_EQ(mask->mean, 1.0);
}

TEST(LossMaskTest, IdenticalPairKeepsEverything) {
  const SyntheticScene scene(Spec(CfaPattern::StandardXTrans(), 5));
  const RawImage gt = scene.RenderGt();
  auto mask = MakeLossMask(gt, gt, Alignment{});
  ASSERT_TRUE(mask.ok());
  EXPECT_EQ(mask->mean, 1.0);
}

TEST(LossMaskTest, BadInputsAreErrorsNamingTheFiles) {
  RawImage gt;
  gt.pixels = Plane<float>(16, 16, 0.2f);
  gt.path = "a/gt.arw";
  RawImage noisy;
  noisy.pixels = Plane<float>(16, 14, 0.2f);
  noisy.path = "a/noisy.arw";
  auto size = MakeLossMask(gt, noisy, Alignment{});
  ASSERT_FALSE(size.ok());
  EXPECT_EQ(size.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(size.status().message().find("a/gt.arw"), std::string::npos);
  EXPECT_NE(size.status().message().find("a/noisy.arw"), std::string::npos);

  noisy.pixels = Plane<float>(16, 16, 0.2f);
  noisy.cfa = CfaPattern::Bayer(BayerOrder::kBGGR);
  EXPECT_FALSE(MakeLossMask(gt, noisy, Alignment{}).ok());

  noisy.cfa = gt.cfa;
  Alignment far;
  far.dy = 15;
  EXPECT_FALSE(MakeLossMask(gt, noisy, far).ok());
  far.dy = 16;
  EXPECT_FALSE(MakeLossMask(gt, noisy, far).ok());

  MaskParams bad;
  bad.opening_radius = -1;
  EXPECT_FALSE(MakeLossMask(gt, noisy, Alignment{}, bad).ok());
}

TEST(LossMaskTest, FingerprintNamesEveryField) {
  const MaskParams base;
  std::set<std::string> seen = {base.Fingerprint()};
  auto differs = [&](MaskParams p) {
    EXPECT_TRUE(seen.insert(p.Fingerprint()).second) << p.Fingerprint();
  };
  MaskParams p;
  p = base, p.overexposure_lb = 0.9f, differs(p);
  p = base, p.clip_footprint = ClipFootprint::kCell, differs(p);
  p = base, p.mask_noisy_clipped = true, differs(p);
  p = base, p.threshold_sigmas = 5, differs(p);
  p = base, p.relative_tolerance = 0.05, differs(p);
  p = base, p.structure_tolerance = 0.4, differs(p);
  p = base, p.detect_change = 0.2, differs(p);
  p = base, p.min_window_radius = 2, differs(p);
  p = base, p.max_window_radius = 5, differs(p);
  p = base, p.opening_radius = 2, differs(p);
  p = base, p.closing_radius = 5, differs(p);
  EXPECT_EQ(base.Fingerprint(), MaskParams{}.Fingerprint());
}

}  // namespace
}  // namespace dsb
