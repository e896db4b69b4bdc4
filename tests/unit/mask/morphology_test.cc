#include "mask/morphology.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
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

// Each of the four filters of `in` at radius r against the brute force;
// returns the opening (the crop test compares with it).
Plane<std::uint8_t> ExpectFiltersMatchBruteForce(const Plane<std::uint8_t>& in,
                                                 int r) {
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
  return opened;
}

TEST(MorphologyTest, MatchesBruteForce) {
  for (const auto& [w, h] : std::vector<std::pair<int, int>>{
           {1, 1}, {3, 2}, {17, 13}, {40, 5}, {45, 41}, {90, 50}}) {
    for (int r : {0, 1, 2, 5, 16, 17, 20}) {
      // 1%: many empty rows (skipped by the direct column pass).
      for (int percent : {1, 10, 50, 90}) {
        SCOPED_TRACE(testing::Message()
                     << w << "x" << h << " r=" << r << " p=" << percent);
        const Plane<std::uint8_t> in = RandomBinary(w, h, w * 31 + r, percent);
        ExpectFiltersMatchBruteForce(in, r);
      }
    }
  }
}

// Planes are filtered as bits, 64 pixels to a word: widths around and
// across word boundaries, radii that reach past a word, and cropped views
// (rows with a stride) against the brute force.
TEST(MorphologyTest, MatchesBruteForceAcrossWords) {
  struct Case {
    int w, h;
    std::vector<int> radii;
  };
  for (const Case& c : std::vector<Case>{{63, 9, {1, 3, 8}},
                                         {64, 8, {1, 3, 63}},
                                         {65, 7, {1, 2, 64, 65}},
                                         {128, 6, {1, 3, 70}},
                                         {191, 12, {1, 3, 5}},
                                         {300, 20, {1, 3}},
                                         {300, 3, {1, 3, 90}}}) {
    for (int r : c.radii) {
      for (int percent : {1, 30, 97}) {
        SCOPED_TRACE(testing::Message()
                     << c.w << "x" << c.h << " r=" << r << " p=" << percent);
        const Plane<std::uint8_t> in =
            RandomBinary(c.w, c.h, c.w * 7 + r + percent, percent);
        const Plane<std::uint8_t> opened = ExpectFiltersMatchBruteForce(in, r);
        // A crop of a wider plane: only the crop changes, as on its own.
        Plane<std::uint8_t> wide(c.w + 70, c.h + 2, 1);
        for (int y = 0; y < c.h; ++y) {
          std::memcpy(wide.row(y + 1) + 5, in.row(y), c.w);
        }
        OpenBinary(wide.view().crop(1, 5, c.h, c.w), r);
        for (int y = 0; y < c.h + 2; ++y) {
          for (int x = 0; x < c.w + 70; ++x) {
            const bool inside = y >= 1 && y <= c.h && x >= 5 && x < c.w + 5;
            ASSERT_EQ(wide.at(y, x), inside ? opened.at(y - 1, x - 5) : 1)
                << y << "," << x;
          }
        }
      }
    }
  }
}

// BitPlane's runs of set pixels, row by row, against the bytes it packed,
// at widths around word boundaries.
TEST(MorphologyTest, BitPlaneRunsMatchTheBytes) {
  for (const int w : {1, 2, 63, 64, 65, 127, 128, 129, 200}) {
    for (int percent : {0, 3, 50, 90, 100}) {
      SCOPED_TRACE(testing::Message() << "w=" << w << " p=" << percent);
      const Plane<std::uint8_t> in = RandomBinary(w, 6, w + percent, percent);
      BitPlane bits;
      bits.Reset(w, 6);
      const bool any = bits.Pack(in.view());
      EXPECT_EQ(any, bits.Any());
      for (int y = 0; y < 6; ++y) {
        std::vector<std::uint8_t> runs(w, 0);
        int last_end = -1;
        bits.ForEachRun(y, [&](int x0, int x1) {
          ASSERT_LT(last_end, x0);  // left to right, not touching
          ASSERT_LT(x0, x1);
          ASSERT_LE(x1, w);
          for (int x = x0; x < x1; ++x) runs[x] = 1;
          last_end = x1;
        });
        for (int x = 0; x < w; ++x) {
          ASSERT_EQ(runs[x], in.at(y, x)) << y << "," << x;
          ASSERT_EQ(bits.Get(y, x), in.at(y, x) != 0) << y << "," << x;
        }
      }
    }
  }
}

// GrowWithin against a breadth-first growth from every set pixel through
// the 4-connected pixels of `within`, `steps` deep.
TEST(MorphologyTest, GrowWithinMatchesBreadthFirstGrowth) {
  for (const auto& [w, h] : std::vector<std::pair<int, int>>{
           {1, 1}, {5, 70}, {64, 9}, {70, 40}, {130, 20}}) {
    for (int steps : {0, 1, 2, 7, 100}) {
      SCOPED_TRACE(testing::Message() << w << "x" << h << " steps=" << steps);
      const Plane<std::uint8_t> seeds = RandomBinary(w, h, w * h + steps, 2);
      const Plane<std::uint8_t> within = RandomBinary(w, h, w + h, 65);
      Plane<std::uint8_t> expected = seeds;
      std::vector<std::pair<int, int>> front, next;
      for (int y = 0; y < h; ++y) {
        for (int x = 0; x < w; ++x) {
          if (seeds.at(y, x)) front.emplace_back(y, x);
        }
      }
      for (int s = 0; s < steps && !front.empty(); ++s) {
        next.clear();
        for (const auto& [y, x] : front) {
          for (const auto& [v, u] : std::vector<std::pair<int, int>>{
                   {y - 1, x}, {y + 1, x}, {y, x - 1}, {y, x + 1}}) {
            if (v < 0 || v >= h || u < 0 || u >= w) continue;
            if (expected.at(v, u) || !within.at(v, u)) continue;
            expected.at(v, u) = 1;
            next.emplace_back(v, u);
          }
        }
        front.swap(next);
      }
      BitPlane bits;
      bits.Reset(w, h);
      bits.Pack(seeds.view());
      BitPlane allowed;
      allowed.Reset(w, h);
      allowed.Pack(within.view());
      bits.GrowWithin(allowed, steps);
      Plane<std::uint8_t> grown = seeds;
      bits.Unpack(grown.view());
      ExpectSame(grown, expected);
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
