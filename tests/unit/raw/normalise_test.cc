// RowNormaliser (raw/normalise.h) against the formula computed one pixel
// at a time in scalar code: every value, tile phase and row width, whichever
// vector clone the CPU picked, gives the same bits.
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

TEST(RowNormaliserTest, SameBitsAsTheScalarFormula) {
  std::mt19937 random(17);
  BlackLevels levels;
  levels.height = 6;  // an X-Trans-sized tile with a 3-column pattern
  levels.width = 3;
  levels.white = 16383.0f;
  for (int i = 0; i < levels.height * levels.width; ++i) {
    levels.black.push_back(static_cast<float>(500 + random() % 1500) + 0.25f);
  }
  for (int width : {1, 7, 8, 31, 1000}) {
    const RowNormaliser normaliser(levels, width);
    std::vector<std::uint16_t> in(width);
    std::vector<float> out(width);
    for (int y = 0; y < 13; ++y) {
      for (std::uint16_t& v : in) v = static_cast<std::uint16_t>(random());
      if (width > 2) in[1] = 0, in[2] = 65535;  // the extremes
      normaliser.Row(y, in.data(), out.data());
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

}  // namespace
}  // namespace dsb
