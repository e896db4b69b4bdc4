// Previews from the mosaic: block means per colour on every CFA, the
// difference of a pair (dark when aligned, bright edges when not, a blob
// where something moved) and the mask overlay's tint; JPEG encoding.
#include "report/preview.h"

#include <gtest/gtest.h>

#include <cmath>

#include "report/jpeg_writer.h"

namespace dsb {
namespace {

// A mosaic of a smooth scene with a few sharp edges: per colour c the value
// is level[c] * content(y, x).
float Content(int y, int x) {
  const float base = 0.3f + 0.15f * std::sin(0.05f * x) * std::cos(0.037f * y);
  const bool square = (x / 40 + y / 40) % 2 == 0;
  return base + (square ? 0.25f : 0.0f);
}

RawImage Mosaic(const CfaPattern& cfa, int width, int height, int shift_y = 0,
                int shift_x = 0, float gain = 1.0f) {
  RawImage image;
  image.cfa = cfa;
  image.pixels = Plane<float>(width, height);
  const float level[3] = {0.5f, 1.0f, 0.7f};
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      const int c = static_cast<int>(cfa.color_at(y, x));
      image.pixels.at(y, x) =
          level[c] * Content(y + shift_y, x + shift_x) / gain;
    }
  }
  image.meta.wb_coeffs = {2.0f, 1.0f, 1.4f};
  return image;
}

class PreviewTest : public ::testing::TestWithParam<const char*> {};

TEST_P(PreviewTest, BlockMeansRecoverEachColour) {
  const CfaPattern cfa = *CfaPattern::FromName(GetParam());
  RawImage image;
  image.cfa = cfa;
  image.pixels = Plane<float>(60, 48);
  const float level[3] = {0.2f, 0.5f, 0.8f};
  for (int y = 0; y < 48; ++y) {
    for (int x = 0; x < 60; ++x) {
      image.pixels.at(y, x) = level[static_cast<int>(cfa.color_at(y, x))];
    }
  }
  const int block = PreviewBlock(60, 48, cfa.period(), 8);
  EXPECT_EQ(block % cfa.period(), 0);
  const BlockMeans means = ComputeBlockMeans(image, block);
  EXPECT_LE(means.cols, 8);
  EXPECT_EQ(means.cols, 60 / block);
  for (int r = 0; r < means.rows; ++r) {
    for (int c = 0; c < means.cols; ++c) {
      for (int k = 0; k < 3; ++k) {
        EXPECT_NEAR(means.at(r, c)[k], level[k], 1e-6);
      }
    }
  }
  // No white balance in the file: grey world balances the colours.
  image.meta.wb_coeffs = {1, 1, 1};
  const auto wb = PreviewWhiteBalance(image, means);
  EXPECT_NEAR(wb[0] * level[0], level[1], 1e-5);
  EXPECT_NEAR(wb[2] * level[2], level[1], 1e-5);
  const RgbImage thumb = RenderThumbnail(means, wb);
  // A uniform grey scene: a uniform, neutral thumbnail near 0.9 of white.
  for (std::size_t i = 0; i < thumb.rgb.size(); ++i) {
    EXPECT_NEAR(thumb.rgb[i], thumb.rgb[0], 1) << i;
  }
  EXPECT_GT(thumb.rgb[0], 220);
}

TEST_P(PreviewTest, DifferenceIsDarkWhenAlignedAndShowsMisalignment) {
  const CfaPattern cfa = *CfaPattern::FromName(GetParam());
  const RawImage gt = Mosaic(cfa, 240, 180);
  // noisy(y, x) shows gt(y + dy, x + dx): render the content moved.
  const int dy = 5, dx = -7;
  const RawImage noisy = Mosaic(cfa, 240, 180, dy, dx, 2.0f);
  const int block = PreviewBlock(240, 180, cfa.period(), 40);
  const BlockMeans means = ComputeBlockMeans(gt, block);
  const auto wb = PreviewWhiteBalance(gt, means);
  Alignment right;
  right.dy = dy;
  right.dx = dx;
  right.raw_gain = 2.0;
  Alignment wrong = right;
  wrong.dy = dy + 2;
  auto good = RenderDifference(gt, means, noisy, right, wb);
  auto bad = RenderDifference(gt, means, noisy, wrong, wb);
  ASSERT_TRUE(good.ok()) << good.status().ToString();
  ASSERT_TRUE(bad.ok());
  // Inside the overlap (away from the grey border) the aligned difference
  // is black; the misaligned one lights up at the squares' edges.
  int lit_good = 0, lit_bad = 0;
  for (int r = 2; r < good->height - 2; ++r) {
    for (int c = 2; c < good->width - 2; ++c) {
      const std::uint8_t* g = &good->rgb[(r * good->width + c) * 3];
      const std::uint8_t* b = &bad->rgb[(r * bad->width + c) * 3];
      lit_good += std::max({g[0], g[1], g[2]}) > 60;
      lit_bad += std::max({b[0], b[1], b[2]}) > 60;
    }
  }
  EXPECT_EQ(lit_good, 0);
  EXPECT_GT(lit_bad, 10);
  // Blocks whose noisy block falls outside the image are grey.
  const int top_left = 0;
  EXPECT_EQ(good->rgb[top_left], 48);
}

INSTANTIATE_TEST_SUITE_P(AllCfas, PreviewTest,
                         ::testing::Values("rggb", "bggr", "grbg", "gbrg",
                                           "xtrans"));

TEST(MaskOverlayTest, IgnoredPixelsAreTintedRed) {
  RgbImage thumb;
  thumb.width = 10;
  thumb.height = 8;
  thumb.rgb.assign(10 * 8 * 3, 128);
  const int block = 4, height = 32, width = 40, dy = 0, dx = 0;
  const Overlap overlap = ComputeOverlap(height, width, dy, dx);
  Plane<std::uint8_t> mask(overlap.width, overlap.height, 255);
  for (int y = 0; y < overlap.height; ++y) {
    for (int x = 0; x < overlap.width / 2; ++x) mask.at(y, x) = 0;
  }
  auto overlay =
      RenderMaskOverlay(thumb, block, height, width, dy, dx, mask.view());
  ASSERT_TRUE(overlay.ok()) << overlay.status().ToString();
  const std::uint8_t* left = &overlay->rgb[(3 * 10 + 1) * 3];
  const std::uint8_t* right = &overlay->rgb[(3 * 10 + 8) * 3];
  EXPECT_GT(left[0], 180);
  EXPECT_LT(left[1], 80);
  EXPECT_EQ(right[0], 128);
  EXPECT_EQ(right[1], 128);

  // A shift: the part of the GT outside the overlap is darkened.
  const Overlap shifted = ComputeOverlap(height, width, 8, 0);
  Plane<std::uint8_t> full(shifted.width, shifted.height, 255);
  overlay = RenderMaskOverlay(thumb, block, height, width, 8, 0, full.view());
  ASSERT_TRUE(overlay.ok());
  int dark_rows = 0;
  for (int r = 0; r < 8; ++r) dark_rows += overlay->rgb[(r * 10 + 5) * 3] < 64;
  EXPECT_EQ(dark_rows, 2);  // 8 of 32 rows

  Plane<std::uint8_t> wrong_size(5, 5, 255);
  EXPECT_FALSE(
      RenderMaskOverlay(thumb, block, height, width, 0, 0, wrong_size.view())
          .ok());
}

TEST(JpegTest, EncodesAPreview) {
  RgbImage image;
  image.width = 33;
  image.height = 17;
  image.rgb.resize(33 * 17 * 3);
  for (std::size_t i = 0; i < image.rgb.size(); ++i) image.rgb[i] = i * 7;
  auto jpeg = EncodeJpeg(image, "test");
  ASSERT_TRUE(jpeg.ok()) << jpeg.status().ToString();
  ASSERT_GT(jpeg->size(), 100u);
  EXPECT_EQ((*jpeg)[0], 0xFF);
  EXPECT_EQ((*jpeg)[1], 0xD8);
  EXPECT_EQ((*jpeg)[jpeg->size() - 2], 0xFF);
  EXPECT_EQ((*jpeg)[jpeg->size() - 1], 0xD9);
  EXPECT_FALSE(EncodeJpeg(RgbImage{}, "empty").ok());
}

}  // namespace
}  // namespace dsb
