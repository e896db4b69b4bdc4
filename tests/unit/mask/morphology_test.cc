#include "mask/morphology.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

namespace dsb {
namespace {

Plane<std::uint8_t> RandomBinary(int w, int h, std::uint32_t seed,
                                 int percent) {
  Plane<std::uint8_t> p(w, h);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      seed = seed * 1664525u + 1013904223u;
      p.at(y, x) = static_cast<int>((seed >> 16) % 100) < percent ? 1 : 0;
    }
  }
  return p;
}

// Brute force: erosion treats the outside as set, dilation as unset.
Plane<std::uint8_t> Reference(const Plane<std::uint8_t>& in, int r,
                              bool erode) {
  Plane<std::uint8_t> out(in.width(), in.height());
  for (int y = 0; y < in.height(); ++y) {
    for (int x = 0; x < in.width(); ++x) {
      bool all = true, any = false;
      for (int v = y - r; v <= y + r; ++v) {
        for (int u = x - r; u <= x + r; ++u) {
          const bool inside =
              v >= 0 && v < in.height() && u >= 0 && u < in.width();
          const bool set = inside ? in.at(v, u) != 0 : erode;
          all &= set;
          any |= set;
        }
      }
      out.at(y, x) = erode ? all : any;
    }
  }
  return out;
}

void ExpectSame(const Plane<std::uint8_t>& a, const Plane<std::uint8_t>& b) {
  for (int y = 0; y < a.height(); ++y) {
    for (int x = 0; x < a.width(); ++x) {
      ASSERT_EQ(a.at(y, x), b.at(y, x)) << y << "," << x;
    }
  }
}

TEST(MorphologyTest, MatchesBruteForce) {
  for (const auto& [w, h] : std::vector<std::pair<int, int>>{
           {1, 1}, {3, 2}, {17, 13}, {40, 5}, {45, 41}, {90, 50}}) {
    // Radii up to 16 are reduced directly, larger ones by running counts.
    for (int r : {0, 1, 2, 5, 16, 17, 20}) {
      // 1%: many empty rows (skipped by the direct column pass).
      for (int percent : {1, 10, 50, 90}) {
        SCOPED_TRACE(testing::Message()
                     << w << "x" << h << " r=" << r << " p=" << percent);
        const Plane<std::uint8_t> in = RandomBinary(w, h, w * 31 + r, percent);
        Plane<std::uint8_t> dilated = in;
        DilateBinary(dilated.view(), r);
        ExpectSame(dilated, Reference(in, r, false));
        Plane<std::uint8_t> eroded = in;
        ErodeBinary(eroded.view(), r);
        ExpectSame(eroded, Reference(in, r, true));
        Plane<std::uint8_t> opened = in;
        OpenBinary(opened.view(), r);
        ExpectSame(opened, Reference(Reference(in, r, true), r, false));
        Plane<std::uint8_t> closed = in;
        CloseBinary(closed.view(), r);
        ExpectSame(closed, Reference(Reference(in, r, false), r, true));
      }
    }
  }
}

TEST(MorphologyTest, OpeningDropsSpecksClosingFillsHoles) {
  Plane<std::uint8_t> p(20, 20, 0);
  p.at(3, 3) = 1;  // a speck
  for (int y = 8; y < 16; ++y) {
    for (int x = 8; x < 16; ++x) p.at(y, x) = 1;
  }
  p.at(11, 11) = 0;  // a hole
  OpenBinary(p.view(), 1);
  CloseBinary(p.view(), 1);
  EXPECT_EQ(p.at(3, 3), 0);
  EXPECT_EQ(p.at(11, 11), 1);
  EXPECT_EQ(p.at(8, 8), 1);
  EXPECT_EQ(p.at(15, 15), 1);
  EXPECT_EQ(p.at(7, 7), 0);
}

TEST(MorphologyTest, WindowSumsMatchBruteForce) {
  const int w = 23, h = 17;
  Plane<float> values(w, h);
  const Plane<std::uint8_t> weights = RandomBinary(w, h, 7, 70);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) values.at(y, x) = (y * 7 + x * 3) % 11;
  }
  for (int r : {0, 1, 3, 16, 17, 30}) {
    int rows_seen = 0;
    WindowSums(values.view(), weights.view(), r,
               [&](int y, const float* sums, const float* counts) {
                 EXPECT_EQ(y, rows_seen++);
                 for (int x = 0; x < w; ++x) {
                   double s = 0;
                   int n = 0;
                   for (int v = std::max(0, y - r); v <= std::min(h - 1, y + r);
                        ++v) {
                     for (int u = std::max(0, x - r);
                          u <= std::min(w - 1, x + r); ++u) {
                       if (weights.at(v, u)) s += values.at(v, u), ++n;
                     }
                   }
                   ASSERT_FLOAT_EQ(counts[x], n);
                   ASSERT_NEAR(sums[x], s, 1e-3);
                 }
               });
    EXPECT_EQ(rows_seen, h);
  }
}

TEST(MorphologyTest, WorksOnCroppedViews) {
  Plane<std::uint8_t> p(12, 10, 0);
  p.at(5, 5) = 1;
  PlaneView<std::uint8_t> crop = p.view().crop(2, 3, 6, 6);
  DilateBinary(crop, 1);
  EXPECT_EQ(p.at(4, 4), 1);
  EXPECT_EQ(p.at(6, 6), 1);
  EXPECT_EQ(p.at(3, 3), 0);
  EXPECT_EQ(p.at(1, 5), 0);  // outside the crop: untouched
}

}  // namespace
}  // namespace dsb
