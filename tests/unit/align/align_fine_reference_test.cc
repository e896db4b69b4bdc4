// The GT as the fine search reads it, kept once per GT (FineReference,
// align/fine_reference.h): its luma windows are PeriodLuma's bit for bit,
// its clipped spans never hide a clipped pixel, and the fine search and a
// whole alignment give the same results, bit for bit, with it as without
// it: for a first pair and for later pairs that reuse what earlier ones
// found, on Bayer and X-Trans, with clipping and with a colour left out,
// and for a batch whose threads share it.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "align/correlator.h"
#include "align/correlator_common.h"
#include "align/fine_reference.h"
#include "align/mosaic_luma.h"
#include "align/shift_search.h"
#include "align_pair.h"
#include "synth/render.h"

namespace dsb {
namespace {

RawImage Gt(const char* cfa, int width, int height, double clipped,
            std::uint64_t seed) {
  SceneSpec spec;
  spec.width = width;
  spec.height = height;
  spec.cfa = *CfaPattern::FromName(cfa);
  spec.seed = seed;
  spec.clipped_fraction = clipped;
  return SyntheticScene(spec).RenderGt();
}

bool SameBits(double a, double b) {
  return std::memcmp(&a, &b, sizeof(a)) == 0;
}

TEST(FineReferenceTest, LumaWindowsArePeriodLumaBitForBit) {
  for (const char* cfa : {"grbg", "xtrans"}) {
    SCOPED_TRACE(cfa);
    // 64-sample blocks, a frame not a multiple of them or of any vector.
    const RawImage gt = Gt(cfa, 403, 307, 0.03, 5);
    const std::array<float, 3> balance = ChannelBalance(gt);
    const ReferenceLuma luma(gt, balance);
    const int period = gt.cfa.period();
    const int luma_h = gt.height() - period + 1;
    const int luma_w = gt.width() - period + 1;
    std::mt19937 rng(11);
    struct Window {
      int y0, x0, h, w;
    };
    std::vector<Window> windows = {
        {0, 0, luma_h, luma_w},               // everything
        {luma_h - 1, luma_w - 1, 1, 1},       // the last sample
        {63, 63, 2, 2},                       // four blocks' corners
        {60, 5, 70, 129},                     // across block rows and columns
        {luma_h - 40, luma_w - 90, 40, 90}};  // the last partial blocks
    for (int k = 0; k < 40; ++k) {
      const int h = 1 + static_cast<int>(rng() % 200);
      const int w = 1 + static_cast<int>(rng() % 200);
      windows.push_back({static_cast<int>(rng() % (luma_h - h + 1)),
                         static_cast<int>(rng() % (luma_w - w + 1)), h, w});
    }
    // Each window twice: made from fresh blocks, then from kept ones.
    for (int pass = 0; pass < 2; ++pass) {
      for (const Window& v : windows) {
        SCOPED_TRACE(::testing::Message() << v.y0 << "," << v.x0 << " " << v.h
                                          << "x" << v.w << " pass " << pass);
        const Plane<float> want = PeriodLuma(gt, balance, v.y0, v.x0, v.h, v.w);
        const Plane<float> got = luma.Window(v.y0, v.x0, v.h, v.w);
        ASSERT_EQ(got.width(), want.width());
        ASSERT_EQ(got.height(), want.height());
        for (int y = 0; y < v.h; ++y) {
          ASSERT_EQ(std::memcmp(got.row(y), want.row(y), sizeof(float) * v.w),
                    0)
              << "row " << y;
        }
      }
    }
  }
}

TEST(FineReferenceTest, ClippedSpansNeverHideAClippedPixel) {
  RawImage gt = Gt("rggb", 403, 120, 0.02, 8);
  const float clip = gt.meta.overexposure_lb;
  // A NaN counts as clipped where the fine search counts !(v < clip).
  gt.pixels.row(50)[200] = std::numeric_limits<float>::quiet_NaN();
  const ClippedSpans spans(gt);
  std::mt19937 rng(3);
  int clean = 0, held = 0;
  for (int k = 0; k < 4000; ++k) {
    const int y = static_cast<int>(rng() % gt.height());
    const int x0 = static_cast<int>(rng() % gt.width());
    const int x1 = x0 + static_cast<int>(rng() % (gt.width() - x0 + 1));
    bool any = false;
    for (int x = x0; x < x1; ++x) any = any || !(gt.pixels.row(y)[x] < clip);
    const bool may = spans.MayHoldClipped(y, x0, x1);
    if (any) {
      EXPECT_TRUE(may) << y << " " << x0 << " " << x1;
    }
    clean += !may;
    held += any;
  }
  EXPECT_TRUE(spans.MayHoldClipped(50, 200, 201));
  // HoldsClipped, for windows: exactly whether one of their pixels is.
  for (int k = 0; k < 400; ++k) {
    const int h = 1 + static_cast<int>(rng() % 40);
    const int w = 1 + static_cast<int>(rng() % 120);
    const int y0 = static_cast<int>(rng() % (gt.height() - h + 1));
    const int x0 = static_cast<int>(rng() % (gt.width() - w + 1));
    bool any = false;
    for (int y = y0; y < y0 + h; ++y) {
      for (int x = x0; x < x0 + w; ++x) {
        any = any || !(gt.pixels.row(y)[x] < clip);
      }
    }
    EXPECT_EQ(HoldsClipped(gt, y0, x0, h, w), any)
        << y0 << "," << x0 << " " << h << "x" << w;
    EXPECT_EQ(spans.MayHoldClipped(y0, y0 + h, x0, x0 + w) || !any, true);
  }
  // Both answers occur, so the check above means something.
  EXPECT_GT(clean, 100);
  EXPECT_GT(held, 100);
  // Kept shares are FineColours' own measure.
  const FineReference reference(gt, ChannelBalance(gt));
  const std::array<double, 3> shares = ClippedShares(gt);
  for (int c = 0; c < 3; ++c)
    EXPECT_TRUE(SameBits(reference.shares[c], shares[c]));
}

// The CPU correlator finds the GT's spans as its coarse luma reads the
// rows (CoarseLumaInto's rows_read): every row that luma reads is handed
// over once, and spans found there are the spans found lazily.
TEST(FineReferenceTest, SpansFoundWithTheCoarseLumaAreTheLazyOnes) {
  for (const char* cfa : {"rggb", "xtrans"}) {
    for (const int stride : {2, 4}) {
      SCOPED_TRACE(::testing::Message() << cfa << " stride " << stride);
      const RawImage gt = Gt(cfa, 403, 307, 0.05, 12);
      const int period = gt.cfa.period();
      const int box = std::max(period, (stride + period - 1) / period * period);
      const int out_h = (gt.height() - box) / stride + 1;
      const int out_w = (gt.width() - box) / stride + 1;
      Plane<float> coarse(out_w, out_h);
      ClippedSpans found(gt);
      std::vector<int> times(static_cast<std::size_t>(gt.height()), 0);
      CoarseLumaInto(gt, ChannelBalance(gt), stride, box, coarse.view(),
                     [&](int y0, int y1) {
                       for (int y = y0; y < y1; ++y) ++times[y];
                       found.FindRows(y0, y1);
                     });
      const int last_read = (out_h - 1) * stride + box;
      for (int y = 0; y < gt.height(); ++y) {
        ASSERT_EQ(times[y], y < last_read ? 1 : 0) << "row " << y;
      }
      const ClippedSpans lazy(gt);
      for (int y = 0; y < gt.height(); ++y) {
        for (int x = 0; x < gt.width(); x += ClippedSpans::kSpan) {
          const int x1 = std::min(gt.width(), x + ClippedSpans::kSpan);
          ASSERT_EQ(found.MayHoldClipped(y, x, x1),
                    lazy.MayHoldClipped(y, x, x1))
              << y << "," << x;
        }
      }
    }
  }
}

// FineSearch with one FineReference for a scene's captures in turn (the
// later ones reuse spans and blocks the earlier ones found) gives what it
// gives without one, bit for bit; without clipping every tile takes the
// shared mask of 1s, with some clipping some do.
TEST(FineReferenceTest, FineSearchIsTheSameWithAndWithoutIt) {
  for (const char* cfa : {"rggb", "gbrg", "xtrans"}) {
    // 0.6: heavily clipped colours left out (FineColours), so the GT's luma
    // at other weights than its balance: made as before, not from blocks.
    for (const double clipped : {0.0, 0.03, 0.6}) {
      SCOPED_TRACE(::testing::Message() << cfa << " clipped " << clipped);
      SceneSpec spec;
      spec.width = 906;  // a grid of tiles, not one tile
      spec.height = 640;
      spec.cfa = *CfaPattern::FromName(cfa);
      spec.seed = 21;
      spec.clipped_fraction = clipped;
      SyntheticScene scene(spec);
      const RawImage gt = scene.RenderGt();
      const std::array<float, 3> gt_balance = ChannelBalance(gt);
      const FineReference reference(gt, gt_balance);
      const int shifts[][2] = {{3, -5}, {-17, 40}, {0, 1}, {3, -4}};
      for (int i = 0; i < 4; ++i) {
        CaptureSpec capture;
        capture.dy = shifts[i][0];
        capture.dx = shifts[i][1];
        capture.gain = 0.8 + 0.2 * i;
        capture.noise_level = i % kNoiseLevelCount;
        capture.noise_seed = 60 + i;
        const RawImage noisy = scene.RenderCapture(capture);
        const std::array<float, 3> noisy_balance = ChannelBalance(noisy);
        // Two candidates one pixel off the truth and another, weaker one.
        const std::vector<CoarsePeak> candidates = {
            {capture.dy + 1.0, capture.dx - 1.0, 1.0f},
            {capture.dy - 2.0, capture.dx + 3.0, 0.5f}};
        const FineResult want = FineSearch(gt, gt_balance, noisy, noisy_balance,
                                           candidates, 3, 128, 128);
        const FineResult got = FineSearch(gt, gt_balance, noisy, noisy_balance,
                                          candidates, 3, 128, 128, &reference);
        EXPECT_EQ(got.dy, want.dy) << "capture " << i;
        EXPECT_EQ(got.dx, want.dx) << "capture " << i;
        EXPECT_TRUE(SameBits(got.score, want.score)) << "capture " << i;
        EXPECT_TRUE(SameBits(got.dy_subpx, want.dy_subpx)) << "capture " << i;
        EXPECT_TRUE(SameBits(got.dx_subpx, want.dx_subpx)) << "capture " << i;
        EXPECT_GE(want.score, 0.0);
      }
    }
  }
}

// A batch aligned in parallel shares the correlator's FineReference: each
// result is what a fresh correlator gives for that capture alone (found
// without a FineReference of its own being warmed by other captures).
TEST(FineReferenceTest, BatchSharingItGivesWhatEachPairAloneGives) {
  for (const char* cfa : {"bggr", "xtrans"}) {
    SCOPED_TRACE(cfa);
    SceneSpec spec;
    spec.width = 1206;
    spec.height = 804;
    spec.cfa = *CfaPattern::FromName(cfa);
    spec.seed = 33;
    spec.clipped_fraction = 0.03;
    SyntheticScene scene(spec);
    const RawImage gt = scene.RenderGt();
    std::vector<RawImage> captures;
    for (int i = 0; i < 6; ++i) {
      CaptureSpec capture;
      capture.dy = 9 * i - 20;
      capture.dx = 13 - 5 * i;
      capture.noise_level = (i + 2) % kNoiseLevelCount;
      capture.noise_seed = 90 + i;
      captures.push_back(scene.RenderCapture(capture));
    }
    auto correlator = MakeCorrelator(Device::kCpu, AlignParams());
    ASSERT_TRUE(correlator.ok());
    ASSERT_TRUE((*correlator)->SetReference(gt).ok());
    std::vector<const RawImage*> batch;
    for (const RawImage& c : captures) batch.push_back(&c);
    const std::vector<Result<Alignment>> together = (*correlator)->Align(batch);
    for (std::size_t i = 0; i < captures.size(); ++i) {
      SCOPED_TRACE(::testing::Message() << "capture " << i);
      const Result<Alignment> alone = testing::AlignPair(gt, captures[i]);
      ASSERT_TRUE(together[i].ok() && alone.ok());
      EXPECT_EQ(together[i]->dy, alone->dy);
      EXPECT_EQ(together[i]->dx, alone->dx);
      EXPECT_TRUE(SameBits(together[i]->confidence, alone->confidence));
      EXPECT_TRUE(SameBits(together[i]->dy_subpx, alone->dy_subpx));
      EXPECT_TRUE(SameBits(together[i]->dx_subpx, alone->dx_subpx));
      EXPECT_TRUE(SameBits(together[i]->raw_gain, alone->raw_gain));
      EXPECT_TRUE(SameBits(together[i]->loss, alone->loss));
    }
  }
}

}  // namespace
}  // namespace dsb
