// RowNormaliser (raw/normalise.h) against the formula computed one pixel
// at a time in scalar code: every value, tile phase and row width, whichever
// vector clone the CPU picked and whichever stores (ordinary, streaming with
// AVX2 or SSE2, from any alignment of the row), gives the same bits.
#include "raw/normalise.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "core/plane.h"

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

// A large plane, fresh (pages the kernel has yet to fault in) and then
// reused: PrepareDestination populates the fresh one and keeps streaming
// (it may fall back to ordinary stores only where the kernel cannot
// populate), and every value is the formula's, both times.
TEST(RowNormaliserStoresTest, FreshAndReusedPlanesGetEveryValue) {
  BlackLevels levels;
  levels.height = levels.width = 2;
  levels.black = {512, 511.5f, 513, 512.25f};
  levels.white = 16383;
  const int width = 4100, height = 4100;  // 67 MB of floats: streamed
  Plane<float> plane;
  plane.Resize(width, height);  // fresh pages, not written
  const std::size_t bytes = std::size_t{width} * height * sizeof(float);
  std::vector<std::uint16_t> in(width);
  std::mt19937 random(3);
  for (int pass = 0; pass < 2; ++pass) {
    RowNormaliser normaliser(levels, width, height);
    ASSERT_TRUE(normaliser.streaming());
    normaliser.PrepareDestination(plane.data(), bytes);
#if defined(__x86_64__) && defined(__GNUC__) && defined(MADV_POPULATE_WRITE)
    if (!normaliser.streaming()) {
      // Only where the kernel refuses to populate (before Linux 5.14).
      void* probe = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      ASSERT_NE(probe, MAP_FAILED);
      EXPECT_NE(::madvise(probe, 4096, MADV_POPULATE_WRITE), 0);
      ::munmap(probe, 4096);
    }
#endif
    for (int y = 0; y < height; ++y) {
      for (std::uint16_t& v : in) v = static_cast<std::uint16_t>(random());
      normaliser.Row(y, in.data(), plane.row(y));
      // Every row's first and last values, and one in between.
      for (int x : {0, 1, width / 2 + y % 7, width - 2, width - 1}) {
        const float black = levels.black[(y % 2) * 2 + x % 2];
        const float expected = Scalar(in[x], black, levels.white);
        ASSERT_EQ(std::memcmp(&plane.row(y)[x], &expected, sizeof(float)), 0)
            << "pass " << pass << " row " << y << " column " << x;
      }
    }
  }
}

}  // namespace
}  // namespace dsb
