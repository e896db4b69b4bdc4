// Previews of real camera raws (../shared/data/raw; skipped visibly where
// absent), decoded by the project's decoder: every file gives a thumbnail
// with real content (not flat), and on each real image a capture made by
// shifting it (noisy(y, x) = gt(y + dy, x + dx), known truth) gives a black
// difference at the true shift and a lit one a few pixels off.
#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "raw/decoder.h"
#include "report/preview.h"
#include "test_support.h"

namespace dsb {
namespace {

namespace fs = std::filesystem;

double Variance(const RgbImage& image) {
  double sum = 0, sum2 = 0;
  const std::size_t n = image.rgb.size();
  for (std::uint8_t v : image.rgb) {
    sum += v;
    sum2 += static_cast<double>(v) * v;
  }
  return sum2 / n - (sum / n) * (sum / n);
}

// Blocks of `image` (inside a margin) with any channel above `level`.
int LitBlocks(const RgbImage& image, int margin, int level) {
  int lit = 0;
  for (int r = margin; r < image.height - margin; ++r) {
    for (int c = margin; c < image.width - margin; ++c) {
      const std::uint8_t* p = &image.rgb[(r * image.width + c) * 3];
      lit += std::max({p[0], p[1], p[2]}) > level;
    }
  }
  return lit;
}

TEST(RealRawPreviewTest, ThumbnailsAndDifferencesOfRealCaptures) {
  const std::string dir = testing::RealRawDir();
  if (dir.empty()) {
    GTEST_SKIP() << "no real raws in ../shared/data/raw";
  }
  int files = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() == ".md") continue;
    auto image = DecodeRaw(entry.path().string());
    if (!image.ok()) {
      ADD_FAILURE() << entry.path() << ": " << image.status().ToString();
      continue;
    }
    ++files;
    SCOPED_TRACE(entry.path().filename().string());
    const int block =
        PreviewBlock(image->width(), image->height(), image->cfa.period());
    const BlockMeans means = ComputeBlockMeans(*image, block);
    ASSERT_GT(means.cols, 100);
    EXPECT_LE(std::max(means.cols, means.rows), 512);
    const auto wb = PreviewWhiteBalance(*image, means);
    const RgbImage thumbnail = RenderThumbnail(means, wb);
    EXPECT_GT(Variance(thumbnail), 100.0) << "a flat thumbnail";

    // A capture shifted by (dy, dx), odd so that the colours of the two
    // captures' pixels differ: capture(y, x) = gt(y + dy, x + dx), a crop
    // of the same sensor data.
    const int dy = 7, dx = 5;
    RawImage capture;
    capture.cfa = image->cfa.Cropped(dy, dx);
    capture.pixels = Plane<float>(image->width() - dx, image->height() - dy);
    for (int y = 0; y < capture.height(); ++y) {
      for (int x = 0; x < capture.width(); ++x) {
        capture.pixels.at(y, x) = image->pixels.at(y + dy, x + dx);
      }
    }
    Alignment right;
    right.dy = dy;
    right.dx = dx;
    right.raw_gain = 1;
    Alignment wrong = right;
    wrong.dx = dx - 3;
    wrong.dy = dy - 3;
    auto good = RenderDifference(*image, means, capture, right, wb);
    auto bad = RenderDifference(*image, means, capture, wrong, wb);
    ASSERT_TRUE(good.ok()) << good.status().ToString();
    ASSERT_TRUE(bad.ok());
    // Blocks outside the overlap (grey) lie within the shift of the edge.
    const int margin = (std::max(dy, dx) + block - 1) / block + 1;
    EXPECT_EQ(LitBlocks(*good, margin, 8), 0);
    EXPECT_GT(LitBlocks(*bad, margin, 60), 20);
  }
  EXPECT_GE(files, 5);
}

}  // namespace
}  // namespace dsb
