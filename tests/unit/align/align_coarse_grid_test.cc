// The coarse grid of mid-size frames (2.4-10 MP, the real compressed raws'
// size): a stride of 4 as 24 MP frames have, not 2 (issue 17's seventh
// round, kAlignRevision 5; X-Trans's 3 made 4 in the ninth, revision 6,
// with the fine radius stride / 2 + 2; stride / 2 + 1 from stride 4 up in
// the tenth, revision 7; stride / 2 there in the eleventh, revision 8).
// The grid only proposes candidates,
// which the fine search verifies at full resolution; these tests check the
// geometry and that integer shifts stay exact with known truth on
// generated mid-size pairs at the most extreme noise and on pairs cut from
// the real Canon G2 CRW; and that a CPU correlator that keeps its threads'
// buffers between batches and references gives what fresh ones give.
#include <gtest/gtest.h>

#include <array>
#include <filesystem>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "align/correlator.h"
#include "align/correlator_common.h"
#include "align/fftw_plans.h"
#include "align/mosaic_luma.h"
#include "align/shift_search.h"
#include "align_pair.h"
#include "photos.h"
#include "raw/decoder.h"
#include "synth/render.h"
#include "test_support.h"

namespace dsb {
namespace {

CoarseGeometry Geometry(int height, int width, int period) {
  int max_dy = 0, max_dx = 0;
  EffectiveSearch(AlignParams(), height, width, &max_dy, &max_dx);
  return PlanCoarse(height, width, period, max_dy, max_dx);
}

TEST(CoarseGridTest, MidSizeFramesTakeStrideFourLargeOnesAsBefore) {
  // Under 0.6 MP every sample (the sweeps' and tests' small frames).
  EXPECT_EQ(Geometry(480, 640, 2).stride, 1);
  EXPECT_EQ(Geometry(384, 512, 6).stride, 1);
  // 0.6-2.4 MP: stride 2.
  EXPECT_EQ(Geometry(1200, 1600, 2).stride, 2);
  // The real raws: NEF 2012x1324, D30 CRW 2176x1448, G2 CRW 2312x1720.
  for (const auto& [h, w] :
       {std::pair{1324, 2012}, std::pair{1448, 2176}, std::pair{1720, 2312}}) {
    const CoarseGeometry g = Geometry(h, w, 2);
    EXPECT_EQ(g.stride, 4) << w << "x" << h;
    EXPECT_EQ(g.box, 4) << w << "x" << h;
    // A quarter of the stride-2 grid's samples.
    EXPECT_LT(static_cast<double>(g.fft_height) * g.fft_width, 0.35e6);
  }
  // X-Trans (period 6): the box stays one period; the stride is 4 as
  // Bayer's (3 until issue 17's ninth round: twice the samples).
  const CoarseGeometry xtrans = Geometry(1720, 2312, 6);
  EXPECT_EQ(xtrans.stride, 4);
  EXPECT_EQ(xtrans.box, 6);
  EXPECT_EQ(Geometry(1416, 2118, 6).stride, 4);
  EXPECT_EQ(Geometry(1200, 1600, 6).stride, 2);
  EXPECT_EQ(Geometry(384, 512, 6).stride, 1);
  // Camera-sized frames keep the strides kCoarseSamples gives them.
  EXPECT_EQ(Geometry(4000, 6000, 2).stride, 4);
  EXPECT_EQ(Geometry(4000, 6000, 6).stride, 4);
  EXPECT_EQ(Geometry(6336, 9504, 2).stride, 6);
  // The fine search's radius: half a coarse sample and 2 px on grids of
  // stride 1-2 (issue 17's ninth round), half a sample alone from stride
  // 4 up (the eleventh; 1 px more in the tenth; the shifts of the tests
  // below and of align_24mp's pairs are found within it).
  EXPECT_EQ(FineRadius(Geometry(480, 640, 2)), 2);
  EXPECT_EQ(FineRadius(Geometry(1200, 1600, 2)), 3);
  EXPECT_EQ(FineRadius(Geometry(1720, 2312, 6)), 2);
  EXPECT_EQ(FineRadius(Geometry(1720, 2312, 2)), 2);
  EXPECT_EQ(FineRadius(Geometry(4000, 6000, 2)), 2);
  EXPECT_EQ(FineRadius(Geometry(6336, 9504, 2)), 3);
}

using testing::AlignPair;

// 2.5 MP generated pairs on a stride-4 grid, every CFA kind, the most
// extreme noise level, odd, negative and near-limit shifts, gains 0.5-2,
// a moved object and clipping: every integer shift exact.
TEST(CoarseGridTest, MidSizePairsAtExtremeNoiseKeepExactShifts) {
  struct Case {
    const char* cfa;
    int dy, dx;
    double gain;
    bool moved;
  };
  const Case cases[] = {{"rggb", -37, 91, 1.4, false},
                        {"gbrg", 127, -126, 0.5, true},
                        {"bggr", 1, -1, 2.0, false},
                        {"xtrans", -61, 3, 0.8, true},
                        {"xtrans", 0, 0, 1.0, false}};
  for (const Case& c : cases) {
    SCOPED_TRACE(::testing::Message() << c.cfa << " " << c.dy << "," << c.dx);
    SceneSpec spec;
    spec.width = 1944;
    spec.height = 1296;
    spec.cfa = *CfaPattern::FromName(c.cfa);
    spec.seed = 17;
    spec.clipped_fraction = 0.05;
    SyntheticScene scene(spec);
    const RawImage gt = scene.RenderGt();
    CaptureSpec capture;
    capture.dy = c.dy;
    capture.dx = c.dx;
    capture.gain = c.gain;
    capture.noise_level = kNoiseLevelCount - 1;
    // About 8 % of the frame.
    if (c.moved) capture.moved_object = Box{300, 500, 360, 540};
    capture.noise_seed = 5;
    const RawImage noisy = scene.RenderCapture(capture);
    EXPECT_GE(Geometry(gt.height(), gt.width(), gt.cfa.period()).stride, 3);
    auto a = AlignPair(gt, noisy);
    ASSERT_TRUE(a.ok()) << a.status().ToString();
    EXPECT_EQ(a->dy, c.dy);
    EXPECT_EQ(a->dx, c.dx);
    EXPECT_NEAR(a->raw_gain, c.gain, 0.05 * c.gain);
  }
}

// Pairs cut from the real Canon G2 CRW (3.0 MP crops, stride 4) with
// known shifts (multiples of the period: the only ones one mosaic can
// fake), gains and added noise: every integer shift exact, the gain within
// 1 % of the truth.
TEST(CoarseGridTest, RealCrwCropsKeepExactShifts) {
  const std::string dir = testing::RealRawDir();
  const std::string path = dir + "/rawson.js__RAW_CANON_G2.CRW";
  if (dir.empty() || !std::filesystem::exists(path)) {
    GTEST_SKIP()
        << "rawson.js__RAW_CANON_G2.CRW not found (../shared/data/raw)";
  }
  auto image = DecodeRaw(path);
  ASSERT_TRUE(image.ok()) << image.status().ToString();
  constexpr int kMargin = 126;
  const int h = image->height() - 2 * kMargin;
  const int w = image->width() - 2 * kMargin;
  ASSERT_GE(Geometry(h, w, image->cfa.period()).stride, 4);
  struct Case {
    int dy, dx;
    float gain;
    float sigma;
  };
  const Case cases[] = {
      {-126, 84, 0.5f, 0.03f}, {6, -6, 2.0f, 0.01f}, {0, 120, 1.3f, 0.03f}};
  std::mt19937_64 rng(3);
  for (const Case& c : cases) {
    SCOPED_TRACE(::testing::Message() << c.dy << "," << c.dx);
    std::normal_distribution<float> noise(0.0f, c.sigma);
    RawImage gt, noisy;
    for (RawImage* out : {&gt, &noisy}) {
      out->cfa = image->cfa;
      out->meta = image->meta;
      out->path = path;
      out->pixels = Plane<float>(w, h);
    }
    for (int y = 0; y < h; ++y) {
      const float* g = image->pixels.row(kMargin + y) + kMargin;
      const float* n = image->pixels.row(kMargin + y + c.dy) + kMargin + c.dx;
      for (int x = 0; x < w; ++x) {
        gt.pixels.row(y)[x] = g[x];
        noisy.pixels.row(y)[x] = n[x] / c.gain + noise(rng);
      }
    }
    auto a = AlignPair(gt, noisy);
    ASSERT_TRUE(a.ok()) << a.status().ToString();
    EXPECT_EQ(a->dy, c.dy);
    EXPECT_EQ(a->dx, c.dx);
    EXPECT_NEAR(a->raw_gain, c.gain, 0.01 * c.gain);
  }
}

// The strongest coarse peak of a stride-4 grid, from the CPU correlator's
// steps (balance, coarse luma, transforms, cross-power).
CoarsePeak StrongestCoarsePeak(const RawImage& gt, const RawImage& noisy,
                               const CoarseGeometry& g) {
  auto plans = GetFftPlans(g.fft_height, g.fft_width, 1);
  EXPECT_TRUE(plans.ok());
  const std::size_t real_count =
      static_cast<std::size_t>(g.fft_height) * g.fft_width;
  const std::size_t complex_count =
      static_cast<std::size_t>(g.fft_height) * (g.fft_width / 2 + 1);
  auto real = AllocateReal(real_count);
  auto gt_spectrum = AllocateComplex(complex_count);
  auto spectrum = AllocateComplex(complex_count);
  EXPECT_TRUE(real.ok() && gt_spectrum.ok() && spectrum.ok());
  for (const auto& [image, out] : {std::pair{&gt, gt_spectrum->get()},
                                   std::pair{&noisy, spectrum->get()}}) {
    PrepareCoarse(CoarseLuma(*image, ChannelBalance(*image), g.stride, g.box),
                  g, real->get());
    fftwf_execute_dft_r2c(plans->forward, real->get(), out);
  }
  CrossPower(reinterpret_cast<const float*>(gt_spectrum->get()),
             reinterpret_cast<const float*>(spectrum->get()), complex_count,
             reinterpret_cast<float*>(spectrum->get()));
  fftwf_execute_dft_c2r(plans->inverse, spectrum->get(), real->get());
  return FindCoarsePeaks(real->get(), g, 1).at(0);
}

// The fine search's window and tiles on 3 MP pairs. Known truth: 3 MP
// pairs of each sweep photograph (2118 x 1416, the frame of `align_bench
// --scene 3`), Bayer and X-Trans, at the most extreme noise with a moved
// object and clipping. The strongest coarse peak (stride 4) is within
// 0.5 px of the truth in each axis: FineRadius's premise (radius 2 from
// stride 4 up, issue 17's eleventh round, 3 in the tenth, keeps the shift
// inside the window's interior for errors under 1.5 px). The fine search
// alone (no refinement after it), from a coarse candidate up to 1 px off
// the truth in each axis (2 px up to the tenth round), returns the true
// shift: its 8 grid tiles of up to 192 px decide the
// integer shift on their own. (Also in the tenth round: tiles of up to
// 128 px, 0.8x the pair's alignment time, put the X-Trans rocket pair 1 px
// off here, and the whole search with the refinement after it too; 160 px
// put another noise seed 1 px off: the tiles' pixels are the fine
// search's margin at this noise.)
TEST(CoarseGridTest, GridTilesAloneFindTheTrueShiftOfThreeMpPhotoPairs) {
  const std::vector<std::string> names = testing::SweepPhotoNames();
  int photos = 0;
  for (const std::string& name : names) {
    const auto photo = testing::LoadPhoto(name);
    if (photo == nullptr) continue;
    ++photos;
    for (const char* cfa : {"rggb", "xtrans"}) {
      SCOPED_TRACE(::testing::Message() << name << " " << cfa);
      SceneSpec spec;
      spec.width = 2118;
      spec.height = 1416;
      spec.cfa = *CfaPattern::FromName(cfa);
      spec.seed = 5;
      spec.clipped_fraction = 0.03;
      spec.photo = photo;
      SyntheticScene scene(spec);
      const RawImage gt = scene.RenderGt();
      CaptureSpec capture;
      capture.dy = -37;
      capture.dx = 91;
      capture.gain = 1.3;
      capture.noise_level = kNoiseLevelCount - 1;
      capture.noise_seed = 2;
      capture.moved_object = Box{300, 900, 300, 400};
      const RawImage noisy = scene.RenderCapture(capture);
      const CoarseGeometry g =
          Geometry(gt.height(), gt.width(), gt.cfa.period());
      ASSERT_EQ(g.stride, 4);
      ASSERT_EQ(FineRadius(g), 2);
      const CoarsePeak peak = StrongestCoarsePeak(gt, noisy, g);
      EXPECT_NEAR(peak.dy, capture.dy, 0.5);
      EXPECT_NEAR(peak.dx, capture.dx, 0.5);
      const std::array<float, 3> gt_balance = ChannelBalance(gt);
      const std::array<float, 3> noisy_balance = ChannelBalance(noisy);
      // Any candidate whose window holds the truth inside its edge.
      const int off = FineRadius(g) - 1;
      for (int ey = -off; ey <= off; ++ey) {
        for (int ex = -off; ex <= off; ++ex) {
          const std::vector<CoarsePeak> candidate = {
              {static_cast<double>(capture.dy + ey),
               static_cast<double>(capture.dx + ex), 1.0f}};
          const FineResult fine =
              FineSearch(gt, gt_balance, noisy, noisy_balance, candidate,
                         FineRadius(g), 128, 128);
          EXPECT_EQ(fine.dy, capture.dy) << "from " << ey << "," << ex;
          EXPECT_EQ(fine.dx, capture.dx) << "from " << ey << "," << ex;
        }
      }
    }
  }
  if (photos == 0) GTEST_SKIP() << testing::PhotoMissing(names.front());
}

// One CPU correlator aligning batches against one reference, then another
// of another size, then the first again (its threads' buffers are kept
// and refitted between calls): every result is what a fresh correlator
// gives for that capture alone.
TEST(CoarseGridTest, KeptBatchBuffersGiveWhatFreshCorrelatorsGive) {
  struct Scene {
    RawImage gt;
    std::vector<RawImage> captures;
  };
  auto make = [](int width, int height, const char* cfa) {
    SceneSpec spec;
    spec.width = width;
    spec.height = height;
    spec.cfa = *CfaPattern::FromName(cfa);
    spec.seed = 9;
    SyntheticScene scene(spec);
    Scene s{scene.RenderGt(), {}};
    for (int i = 0; i < 3; ++i) {
      CaptureSpec capture;
      capture.dy = 5 * i - 3;
      capture.dx = 7 - 3 * i;
      capture.noise_level = i + 1;
      capture.noise_seed = 40 + i;
      s.captures.push_back(scene.RenderCapture(capture));
    }
    return s;
  };
  const Scene scenes[] = {make(420, 312, "rggb"), make(600, 432, "xtrans")};
  auto kept = MakeCorrelator(Device::kCpu, AlignParams());
  ASSERT_TRUE(kept.ok());
  for (const int s : {0, 1, 0}) {
    SCOPED_TRACE(::testing::Message() << "scene " << s);
    const Scene& scene = scenes[s];
    ASSERT_TRUE((*kept)->SetReference(scene.gt).ok());
    std::vector<const RawImage*> batch;
    for (const RawImage& c : scene.captures) batch.push_back(&c);
    const auto together = (*kept)->Align(batch);
    ASSERT_EQ(together.size(), scene.captures.size());
    for (std::size_t i = 0; i < scene.captures.size(); ++i) {
      auto alone = AlignPair(scene.gt, scene.captures[i]);
      ASSERT_TRUE(together[i].ok() && alone.ok());
      EXPECT_EQ(together[i]->dy, 5 * static_cast<int>(i) - 3);
      EXPECT_EQ(together[i]->dx, 7 - 3 * static_cast<int>(i));
      EXPECT_EQ(together[i]->dy, alone->dy);
      EXPECT_EQ(together[i]->dx, alone->dx);
      EXPECT_EQ(together[i]->dy_subpx, alone->dy_subpx);
      EXPECT_EQ(together[i]->dx_subpx, alone->dx_subpx);
      EXPECT_EQ(together[i]->confidence, alone->confidence);
      EXPECT_EQ(together[i]->raw_gain, alone->raw_gain);
      EXPECT_EQ(together[i]->loss, alone->loss);
    }
  }
}

}  // namespace
}  // namespace dsb
