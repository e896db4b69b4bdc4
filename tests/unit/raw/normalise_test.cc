// RowNormaliser (raw/normalise.h) against the formula computed one pixel
// at a time in scalar code: every value, tile phase and row width, whichever
// vector clone the CPU picked and whichever stores (ordinary, streaming with
// AVX2 or SSE2, from any alignment of the row), gives the same bits.
#include "raw/normalise.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

namespace dsb {
namespace {

// The formula itself, kept from being vectorised or contracted.
float Scalar(std::uint16_t raw, float black, float white) {
  volatile float value = static_cast<float>(raw);
  volatile float difference = value - black;
  volatile float range = white - black;
  return difference / range;
}

class RowNormaliserTest : public ::testing::TestWithParam<RowStores> {};

TEST_P(RowNormaliserTest, SameBitsAsTheScalarFormula) {
  std::mt19937 random(17);
  BlackLevels levels;
  levels.height = 6;  // an X-Trans-sized tile with a 3-column pattern
  levels.width = 3;
  levels.white = 16383.0f;
  for (int i = 0; i < levels.height * levels.width; ++i) {
    levels.black.push_back(static_cast<float>(500 + random() % 1500) + 0.25f);
  }
  for (int width : {1, 3, 7, 8, 9, 15, 16, 17, 31, 1000}) {
    const RowNormaliser normaliser(levels, width, 13, GetParam());
    std::vector<std::uint16_t> in(width);
    // Room to start the row at every float offset of a 32-byte line, so
    // the streaming paths' unaligned heads and tails are all exercised.
    std::vector<float> buffer(width + 8);
    for (int y = 0; y < 13; ++y) {
      for (std::uint16_t& v : in) v = static_cast<std::uint16_t>(random());
      if (width > 2) in[1] = 0, in[2] = 65535;  // the extremes
      float* out = buffer.data() + y % 8;
      normaliser.Row(y, in.data(), out);
      for (int x = 0; x < width; ++x) {
        const float black = levels.black[(y % 6) * 3 + x % 3];
        const float expected = Scalar(in[x], black, levels.white);
        ASSERT_EQ(std::memcmp(&out[x], &expected, sizeof(float)), 0)
            << "width " << width << " row " << y << " column " << x << ": "
            << out[x] << " vs " << expected;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Stores, RowNormaliserTest,
                         ::testing::Values(RowStores::kAuto, RowStores::kCached,
                                           RowStores::kStreaming,
                                           RowStores::kStreamingBaseline));

TEST(RowNormaliserStoresTest, LargeImagesStream) {
  BlackLevels levels;
  levels.height = levels.width = 2;
  levels.black = {512, 512, 512, 512};
  levels.white = 16383;
  // 60 MP streams; 24 MP (96 MB) too; a 4 MP frame (16 MB) does not.
#if defined(__x86_64__) && defined(__GNUC__)
  EXPECT_TRUE(RowNormaliser(levels, 9504, 6336).streaming());
  EXPECT_TRUE(RowNormaliser(levels, 6000, 4000).streaming());
#endif
  EXPECT_FALSE(RowNormaliser(levels, 2272, 1704).streaming());
  EXPECT_FALSE(
      RowNormaliser(levels, 9504, 6336, RowStores::kCached).streaming());
}

}  // namespace
}  // namespace dsb
