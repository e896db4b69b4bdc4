// A full-size case: 24 MP (6000 x 4000), odd negative shift, the most
// extreme noise level, a gain difference and clipped highlights.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>

#include "align/correlator.h"
#include "synth/render.h"

namespace dsb {
namespace {

TEST(Align24MpTest, ExactAtTheMostExtremeNoise) {
  for (const char* cfa : {"gbrg", "xtrans"}) {
    SceneSpec spec;
    spec.width = 6000;
    spec.height = 4000;
    spec.cfa = *CfaPattern::FromName(cfa);
    spec.seed = 24;
    spec.clipped_fraction = 0.05;
    SyntheticScene scene(spec);
    const RawImage gt = scene.RenderGt();
    CaptureSpec capture;
    capture.dy = -77;
    capture.dx = -121;
    capture.gain = 1.7;
    capture.noise_level = kNoiseLevelCount - 1;
    capture.moved_object = Box{1200, 2000, 900, 1300};
    const RawImage noisy = scene.RenderCapture(capture);
    auto correlator = MakeCorrelator(Device::kCpu, AlignParams());
    ASSERT_TRUE(correlator.ok());
    const auto start = std::chrono::steady_clock::now();
    ASSERT_TRUE((*correlator)->SetReference(gt).ok());
    const RawImage* batch[] = {&noisy};
    auto result = (*correlator)->Align(batch);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
            .count();
    ASSERT_TRUE(result[0].ok()) << result[0].status().ToString();
    EXPECT_EQ(result[0]->dy, capture.dy) << cfa;
    EXPECT_EQ(result[0]->dx, capture.dx) << cfa;
    EXPECT_NEAR(result[0]->raw_gain, capture.gain, 0.05 * capture.gain);
    EXPECT_NEAR(result[0]->dy_subpx, capture.dy, 0.5);
    EXPECT_NEAR(result[0]->dx_subpx, capture.dx, 0.5);
    EXPECT_GT(result[0]->confidence, 0.5);
    EXPECT_TRUE(std::isfinite(result[0]->loss));
    std::printf("%s 24 MP: reference + one pair aligned in %.2f s\n", cfa,
                seconds);
  }
}

}  // namespace
}  // namespace dsb
