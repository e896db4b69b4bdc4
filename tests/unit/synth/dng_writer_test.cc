#include "synth/dng_writer.h"

#include <gtest/gtest.h>

#include <cmath>

#include "raw/decoder.h"
#include "synth/render.h"
#include "test_support.h"

namespace dsb {
namespace {

struct Case {
  const char* cfa;
  int bits;
  int masked_top, masked_left;
};

class DngRoundTripTest : public ::testing::TestWithParam<Case> {};

TEST_P(DngRoundTripTest, LibRawReadsBackPixelsCfaAndLevels) {
  const Case& c = GetParam();
  SceneSpec spec;
  spec.width = 96;
  spec.height = 72;
  spec.cfa = *CfaPattern::FromName(c.cfa);
  spec.max_shift = 8;
  spec.clipped_fraction = 0.05;
  SyntheticScene scene(spec);
  const RawImage image = scene.RenderGt(2);
  DngWriteOptions options;
  options.bits = c.bits;
  options.black = {500, 510, 520, 530};
  options.masked_top = c.masked_top;
  options.masked_left = c.masked_left;
  options.masked_bottom = 2;
  options.masked_right = 4;
  testing::TempDir dir;
  const std::string path = dir.Join("x.dng");
  ASSERT_TRUE(WriteCfaDng(path, image, options).ok());
  Result<RawImage> back = DecodeRaw(path);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  // LibRaw 0.20 rounds a Bayer ActiveArea to even offsets, so the visible
  // area may start up to a pixel later than written; the CFA must then be
  // the written one cropped there.
  const int oy = back->meta.visible_top - c.masked_top;
  const int ox = back->meta.visible_left - c.masked_left;
  ASSERT_GE(oy, 0);
  ASSERT_LE(oy, 1);
  ASSERT_GE(ox, 0);
  ASSERT_LE(ox, 1);
  EXPECT_EQ(back->cfa, image.cfa.Cropped(oy, ox)) << back->cfa.name();
  ASSERT_LE(back->width(), image.width() - ox);
  ASSERT_GE(back->width(), image.width() - ox - 1);
  ASSERT_LE(back->height(), image.height() - oy);
  ASSERT_GE(back->height(), image.height() - oy - 1);
  EXPECT_EQ(back->meta.white, (1 << c.bits) - 1);
  EXPECT_EQ(back->meta.make, "dataset-build");
  // Per-channel black: the average over the 2x2 positions of each colour.
  if (!image.cfa.is_xtrans()) {
    for (int y = 0; y < 2; ++y) {
      for (int x = 0; x < 2; ++x) {
        const int col = static_cast<int>(image.cfa.color_at(y, x));
        if (col != 1) {
          EXPECT_EQ(back->meta.black[col], options.black[y * 2 + x]);
        }
      }
    }
  }
  const float lsb = 1.0f / ((1 << c.bits) - 1 - 530);
  for (int y = 0; y < image.height(); ++y) {
    for (int x = 0; x < image.width(); ++x) {
      const float want =
          std::max(image.pixels.at(y, x), -500.0f / ((1 << c.bits) - 1 - 530));
      ASSERT_NEAR(back->pixels.at(y, x), want, lsb)
          << c.cfa << " at " << y << "," << x;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    AllPatterns, DngRoundTripTest,
    ::testing::Values(Case{"rggb", 14, 0, 0}, Case{"bggr", 12, 0, 0},
                      Case{"grbg", 14, 2, 4}, Case{"gbrg", 12, 2, 2},
                      Case{"xtrans", 14, 0, 0}, Case{"xtrans", 14, 1, 5}));

}  // namespace
}  // namespace dsb
