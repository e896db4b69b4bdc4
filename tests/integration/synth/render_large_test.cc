// A full-size (24 MP) synthetic scene: building it and rendering a capture
// must stay fast enough for the generator to make datasets in seconds.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>

#include "synth/render.h"

namespace dsb {
namespace {

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
      .count();
}

TEST(RenderLargeTest, TwentyFourMegapixelCapture) {
  SceneSpec spec;
  spec.width = 6000;
  spec.height = 4000;
  spec.cfa = CfaPattern::Bayer(BayerOrder::kGRBG);
  spec.seed = 3;
  spec.max_shift = 128;
  spec.clipped_fraction = 0.02;
  auto start = std::chrono::steady_clock::now();
  SyntheticScene scene(spec);
  const double build_s = SecondsSince(start);
  start = std::chrono::steady_clock::now();
  CaptureSpec capture;
  capture.dy = -101;
  capture.dx = 77;
  capture.gain = 1.5;
  capture.noise_level = 4;
  capture.moved_object = Box{1000, 1000, 500, 700};
  const RawImage image = scene.RenderCapture(capture);
  const double render_s = SecondsSince(start);
  double sum = 0;
  for (int y = 0; y < image.height(); y += 7) {
    for (int x = 0; x < image.width(); x += 7) sum += image.pixels.at(y, x);
  }
  const double mean =
      sum / ((image.height() / 7 + 1) * (image.width() / 7 + 1));
  std::printf("24 MP scene: build %.2f s, noisy capture %.2f s, mean %.3f\n",
              build_s, render_s, mean);
  EXPECT_EQ(image.width(), 6000);
  EXPECT_EQ(image.height(), 4000);
  EXPECT_GT(mean, 0.05);
  EXPECT_LT(render_s, 20.0);  // generous: shared machines
}

}  // namespace
}  // namespace dsb
