// Alignment accuracy on generated scenes with known truth (contract §2):
// every CFA, odd/even/negative/large shifts, every noise level including the
// extreme one, gains 0.5-2, moved objects and clipped highlights. Integer
// shifts must be exact, every time.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "align/colour_match.h"
#include "align/correlator.h"
#include "synth/render.h"

namespace dsb {
namespace {

struct MatrixCase {
  const char* cfa;
  bool clipped;
};

class AccuracyMatrixTest : public ::testing::TestWithParam<MatrixCase> {};

TEST_P(AccuracyMatrixTest, ExactIntegerShiftsAcrossNoiseGainAndMovedObjects) {
  const MatrixCase param = GetParam();
  SceneSpec spec;
  spec.width = 480;
  spec.height = 360;
  spec.cfa = *CfaPattern::FromName(param.cfa);
  spec.seed = 1000 + static_cast<int>(spec.cfa.period()) * 7 + param.clipped;
  spec.clipped_fraction = param.clipped ? 0.08 : 0.0;
  SyntheticScene scene(spec);
  const RawImage gt = scene.RenderGt();

  AlignParams params;
  params.max_shift = 127;
  auto correlator = MakeCorrelator(Device::kCpu, params);
  ASSERT_TRUE(correlator.ok());
  ASSERT_TRUE((*correlator)->SetReference(gt).ok());

  const int shifts[][2] = {{0, 0},   {1, 0},    {0, -1},   {-1, 1},
                           {3, -2},  {-6, 5},   {13, 36},  {-37, -64},
                           {127, 0}, {0, -127}, {-90, 101}};
  const double gains[] = {0.5, 1.0, 2.0};
  int cases = 0;
  for (int level = 1; level < kNoiseLevelCount; ++level) {
    for (const auto& shift : shifts) {
      for (double gain : gains) {
        CaptureSpec capture;
        capture.dy = shift[0];
        capture.dx = shift[1];
        capture.gain = gain;
        capture.noise_level = level;
        capture.noise_seed = 17 + cases;
        // A moved object of about 10% of the frame in every other capture.
        if (cases % 2 == 0) {
          capture.moved_object = Box{90, 120, 110, 140};
        }
        const RawImage noisy = scene.RenderCapture(capture);
        const RawImage* batch[] = {&noisy};
        auto result = (*correlator)->Align(batch);
        ASSERT_EQ(result.size(), 1u);
        ASSERT_TRUE(result[0].ok()) << result[0].status().ToString();
        SCOPED_TRACE(::testing::Message()
                     << param.cfa << " level " << level << " gain " << gain
                     << " shift (" << shift[0] << "," << shift[1] << ")"
                     << (capture.moved_object ? " moved" : ""));
        EXPECT_EQ(result[0]->dy, shift[0]);
        EXPECT_EQ(result[0]->dx, shift[1]);
        EXPECT_NEAR(result[0]->dy_subpx, shift[0], 0.5);
        EXPECT_NEAR(result[0]->dx_subpx, shift[1], 0.5);
        EXPECT_NEAR(result[0]->raw_gain, gain, 0.05 * gain);
        EXPECT_GT(result[0]->confidence, 0.3);
        EXPECT_TRUE(std::isfinite(result[0]->loss));
        ++cases;
      }
    }
  }
  EXPECT_EQ(cases, 4 * 11 * 3);
}

INSTANTIATE_TEST_SUITE_P(
    AllCfas, AccuracyMatrixTest,
    ::testing::Values(MatrixCase{"rggb", false}, MatrixCase{"bggr", true},
                      MatrixCase{"grbg", false}, MatrixCase{"gbrg", true},
                      MatrixCase{"xtrans", false}, MatrixCase{"xtrans", true}),
    [](const auto& info) {
      return std::string(info.param.cfa) +
             (info.param.clipped ? "_clipped" : "");
    });

// Brute force: the colour-matched, gain-matched mean absolute difference
// over the overlap, evaluated for every shift in a small window, must be
// smallest at the shift the correlator reports.
TEST(BruteForceTest, CorrelatorAgreesWithExhaustiveSearch) {
  for (const char* cfa : {"grbg", "xtrans"}) {
    SceneSpec spec;
    spec.width = 192;
    spec.height = 160;
    spec.cfa = *CfaPattern::FromName(cfa);
    spec.seed = 77;
    SyntheticScene scene(spec);
    const RawImage gt = scene.RenderGt();
    CaptureSpec capture;
    capture.dy = -3;
    capture.dx = 5;
    capture.noise_level = 2;
    capture.gain = 1.3;
    const RawImage noisy = scene.RenderCapture(capture);

    double best_loss = std::numeric_limits<double>::max();
    int best_dy = 0, best_dx = 0;
    for (int dy = -6; dy <= 6; ++dy) {
      for (int dx = -6; dx <= 6; ++dx) {
        const Overlap overlap = ComputeOverlap(gt.height(), gt.width(), dy, dx);
        const double gain = RawGain(gt, noisy, overlap);
        const double loss = GainMatchedLoss(gt, noisy, overlap, gain);
        if (loss < best_loss) {
          best_loss = loss;
          best_dy = dy;
          best_dx = dx;
        }
      }
    }
    AlignParams params;
    params.max_shift = 6;
    auto correlator = MakeCorrelator(Device::kCpu, params);
    ASSERT_TRUE((*correlator)->SetReference(gt).ok());
    const RawImage* batch[] = {&noisy};
    auto result = (*correlator)->Align(batch);
    ASSERT_TRUE(result[0].ok());
    EXPECT_EQ(best_dy, capture.dy) << cfa;
    EXPECT_EQ(best_dx, capture.dx) << cfa;
    EXPECT_EQ(result[0]->dy, best_dy) << cfa;
    EXPECT_EQ(result[0]->dx, best_dx) << cfa;
    EXPECT_NEAR(result[0]->loss, best_loss, 1e-6);
  }
}

TEST(OverlapTest, SizedAsRawnindForEverySignAndParity) {
  const int h = 100, w = 80;
  for (int dy = -5; dy <= 5; ++dy) {
    for (int dx = -5; dx <= 5; ++dx) {
      const Overlap o = ComputeOverlap(h, w, dy, dx);
      EXPECT_EQ(o.height, h - std::abs(dy) - std::abs(dy) % 2);
      EXPECT_EQ(o.width, w - std::abs(dx) - std::abs(dx) % 2);
      EXPECT_EQ(o.height % 2, 0);
      EXPECT_EQ(o.width % 2, 0);
      // The same scene point: gt(y + dy, x + dx) == noisy(y, x).
      EXPECT_EQ(o.gt_y0 - o.noisy_y0, dy);
      EXPECT_EQ(o.gt_x0 - o.noisy_x0, dx);
      EXPECT_GE(o.gt_y0, 0);
      EXPECT_GE(o.noisy_y0, 0);
      EXPECT_LE(o.gt_y0 + o.height, h);
      EXPECT_LE(o.noisy_y0 + o.height, h);
      // Odd shifts drop the last row when positive, the first when negative.
      if (dy > 0 && dy % 2) EXPECT_EQ(o.noisy_y0 + o.height, h - dy - 1);
      if (dy < 0 && -dy % 2) EXPECT_EQ(o.gt_y0, 1);
    }
  }
}

TEST(ColourMatchTest, GtValuesInTheNoisyPixelsColours) {
  // A flat colour scene: R = 0.2, G = 0.5, B = 0.8 on RGGB. Whatever the
  // shift, the GT estimate at each noisy pixel must be that pixel's colour.
  RawImage gt;
  gt.cfa = CfaPattern::Bayer(BayerOrder::kRGGB);
  gt.pixels = Plane<float>(16, 12);
  const float level[] = {0.2f, 0.5f, 0.8f};
  for (int y = 0; y < 12; ++y) {
    for (int x = 0; x < 16; ++x) {
      gt.pixels.at(y, x) = level[static_cast<int>(gt.cfa.color_at(y, x))];
    }
  }
  for (int dy : {-1, 0, 1, 2}) {
    for (int dx : {-3, 0, 1}) {
      const Overlap o = ComputeOverlap(12, 16, dy, dx);
      Plane<float> out(o.width, o.height);
      GtInNoisyColours(gt, o, out.view());
      for (int i = 0; i < o.height; ++i) {
        for (int j = 0; j < o.width; ++j) {
          const CfaColor c = gt.cfa.color_at(o.noisy_y0 + i, o.noisy_x0 + j);
          ASSERT_FLOAT_EQ(out.at(i, j), level[static_cast<int>(c)])
              << dy << "," << dx << " at " << i << "," << j;
        }
      }
    }
  }
}

TEST(CorrelatorErrorsTest, SizeMismatchFailsThatPairOnly) {
  SceneSpec spec;
  spec.width = 256;
  spec.height = 192;
  SyntheticScene scene(spec);
  const RawImage gt = scene.RenderGt();
  RawImage small = gt;
  small.pixels = Plane<float>(200, 192);
  small.path = "small.dng";
  CaptureSpec capture;
  capture.dy = 2;
  const RawImage good = scene.RenderCapture(capture);
  auto correlator = MakeCorrelator(Device::kCpu, AlignParams());
  ASSERT_TRUE((*correlator)->SetReference(gt).ok());
  const RawImage* batch[] = {&small, &good};
  auto results = (*correlator)->Align(batch);
  ASSERT_EQ(results.size(), 2u);
  ASSERT_FALSE(results[0].ok());
  EXPECT_NE(results[0].status().message().find("small.dng"), std::string::npos);
  ASSERT_TRUE(results[1].ok());
  EXPECT_EQ(results[1]->dy, 2);
}

TEST(CorrelatorErrorsTest, TinyImageAndGpuWithoutCuda) {
  RawImage tiny;
  tiny.pixels = Plane<float>(8, 8, 0.5f);
  tiny.path = "tiny.dng";
  auto correlator = MakeCorrelator(Device::kCpu, AlignParams());
  Status status = (*correlator)->SetReference(tiny);
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.message().find("tiny.dng"), std::string::npos);
  if (!CudaCompiledIn()) {
    auto gpu = MakeCorrelator(Device::kGpu, AlignParams());
    ASSERT_FALSE(gpu.ok());
    EXPECT_NE(gpu.status().message().find("without CUDA"), std::string::npos);
  }
}

}  // namespace
}  // namespace dsb
