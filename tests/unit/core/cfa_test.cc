// The CFA arithmetic (core/cfa.h) over every pattern: what a crop or a
// shift does to the pattern, periodicity, names, and the colour counts per
// period window that the CFA-invariant luminance (align/mosaic_luma.h)
// relies on.
#include "core/cfa.h"

#include <gtest/gtest.h>

#include <array>
#include <string>

namespace dsb {
namespace {

constexpr CfaColor R = CfaColor::kRed;
constexpr CfaColor G = CfaColor::kGreen;
constexpr CfaColor B = CfaColor::kBlue;

class CfaArithmeticTest : public ::testing::TestWithParam<const char*> {
 protected:
  CfaPattern cfa_ = *CfaPattern::FromName(GetParam());
};

TEST_P(CfaArithmeticTest, PeriodicInBothDirectionsIncludingNegative) {
  const int p = cfa_.period();
  for (int y = -2 * p; y < 2 * p; ++y) {
    for (int x = -2 * p; x < 2 * p; ++x) {
      EXPECT_EQ(cfa_.color_at(y, x), cfa_.color_at(y + p, x)) << y << "," << x;
      EXPECT_EQ(cfa_.color_at(y, x), cfa_.color_at(y, x - 3 * p));
    }
  }
}

TEST_P(CfaArithmeticTest, CropSeesTheColoursOfTheOriginalAtItsOffset) {
  for (int y0 = -7; y0 <= 7; ++y0) {
    for (int x0 = -7; x0 <= 7; ++x0) {
      const CfaPattern crop = cfa_.Cropped(y0, x0);
      EXPECT_EQ(crop.period(), cfa_.period());
      for (int y = 0; y < 12; ++y) {
        for (int x = 0; x < 12; ++x) {
          ASSERT_EQ(crop.color_at(y, x), cfa_.color_at(y + y0, x + x0))
              << GetParam() << " crop (" << y0 << "," << x0 << ") at (" << y
              << "," << x << ")";
        }
      }
    }
  }
}

TEST_P(CfaArithmeticTest, CropsComposeAndAWholePeriodIsTheIdentity) {
  const int p = cfa_.period();
  EXPECT_EQ(cfa_.Cropped(p, -p), cfa_);
  EXPECT_EQ(cfa_.Cropped(0, 0), cfa_);
  for (int a = 0; a < p; ++a) {
    for (int b = 0; b < p; ++b) {
      EXPECT_EQ(cfa_.Cropped(a, b).Cropped(1, 2), cfa_.Cropped(a + 1, b + 2));
      // Undoing a crop gives the pattern back.
      EXPECT_EQ(cfa_.Cropped(a, b).Cropped(-a, -b), cfa_);
    }
  }
}

TEST_P(CfaArithmeticTest, EveryPeriodWindowHoldsTheSameColourCounts) {
  // The mosaic luminance sums period x period windows: wherever a window
  // sits, it must hold the same number of each colour (Bayer 1/2/1,
  // X-Trans 8/20/8 of 36).
  const int p = cfa_.period();
  const std::array<int, 3> expected =
      p == 2 ? std::array<int, 3>{1, 2, 1} : std::array<int, 3>{8, 20, 8};
  for (int y0 = 0; y0 < p; ++y0) {
    for (int x0 = 0; x0 < p; ++x0) {
      std::array<int, 3> counts{};
      for (int y = 0; y < p; ++y) {
        for (int x = 0; x < p; ++x) {
          ++counts[static_cast<int>(cfa_.color_at(y0 + y, x0 + x))];
        }
      }
      EXPECT_EQ(counts, expected) << GetParam() << " at " << y0 << "," << x0;
    }
  }
}

TEST_P(CfaArithmeticTest, NameRoundTripsAndKindIsTheContractWord) {
  EXPECT_EQ(CfaPattern::FromName(cfa_.name()), cfa_);
  EXPECT_EQ(cfa_.kind(), cfa_.is_xtrans() ? "xtrans" : "bayer");
  EXPECT_EQ(cfa_.bayer_order().has_value(), !cfa_.is_xtrans());
}

INSTANTIATE_TEST_SUITE_P(AllPatterns, CfaArithmeticTest,
                         ::testing::Values("rggb", "bggr", "grbg", "gbrg",
                                           "xtrans"));

TEST(CfaBayerTest, OddShiftsPermuteTheFourOrders) {
  // Truth written out by hand: one row down turns RGGB into GBRG, one
  // column right into GRBG, both into BGGR; and likewise from every order.
  struct Case {
    BayerOrder from;
    int y0, x0;
    BayerOrder to;
  };
  const Case cases[] = {
      {BayerOrder::kRGGB, 0, 1, BayerOrder::kGRBG},
      {BayerOrder::kRGGB, 1, 0, BayerOrder::kGBRG},
      {BayerOrder::kRGGB, 1, 1, BayerOrder::kBGGR},
      {BayerOrder::kBGGR, 0, 1, BayerOrder::kGBRG},
      {BayerOrder::kBGGR, 1, 0, BayerOrder::kGRBG},
      {BayerOrder::kBGGR, -1, -1, BayerOrder::kRGGB},
      {BayerOrder::kGRBG, 0, 1, BayerOrder::kRGGB},
      {BayerOrder::kGRBG, 1, 0, BayerOrder::kBGGR},
      {BayerOrder::kGBRG, 0, -1, BayerOrder::kBGGR},
      {BayerOrder::kGBRG, 1, 0, BayerOrder::kRGGB},
      {BayerOrder::kGBRG, 2, 4, BayerOrder::kGBRG},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(CfaPattern::Bayer(c.from).Cropped(c.y0, c.x0).bayer_order(), c.to)
        << BayerOrderName(c.from) << " crop " << c.y0 << "," << c.x0;
  }
}

TEST(CfaBayerTest, ColoursOfRggb) {
  const CfaPattern rggb = CfaPattern::Bayer(BayerOrder::kRGGB);
  EXPECT_EQ(rggb.color_at(0, 0), R);
  EXPECT_EQ(rggb.color_at(0, 1), G);
  EXPECT_EQ(rggb.color_at(1, 0), G);
  EXPECT_EQ(rggb.color_at(1, 1), B);
  EXPECT_EQ(rggb.color_at(-1, -1), B);
  EXPECT_EQ(rggb.color_at(-2, 3), G);
}

TEST(CfaXTransTest, OnlyTheDiagonalHalfPeriodShiftKeepsThePattern) {
  const CfaPattern xtrans = CfaPattern::StandardXTrans();
  // The 6x6 layout is two 3x3 blocks and their red/blue swaps, placed
  // diagonally: shifting by (3, 3) maps it onto itself, shifting by (3, 0)
  // or (0, 3) swaps red and blue, and no other shift within a period keeps
  // it.
  for (int y0 = 0; y0 < 6; ++y0) {
    for (int x0 = 0; x0 < 6; ++x0) {
      const bool same = xtrans.Cropped(y0, x0) == xtrans;
      EXPECT_EQ(same, (y0 == 0 && x0 == 0) || (y0 == 3 && x0 == 3))
          << y0 << "," << x0;
    }
  }
  const CfaPattern swapped = xtrans.Cropped(3, 0);
  for (int y = 0; y < 6; ++y) {
    for (int x = 0; x < 6; ++x) {
      const CfaColor c = xtrans.color_at(y, x);
      EXPECT_EQ(swapped.color_at(y, x), c == R ? B : c == B ? R : G);
    }
  }
  EXPECT_EQ(xtrans.Cropped(3, 3).color_at(0, 0), xtrans.color_at(3, 3));
  EXPECT_FALSE(CfaPattern::FromName("rgbg").has_value());
  EXPECT_FALSE(CfaPattern::FromName("").has_value());
  EXPECT_EQ(CfaPattern::FromName("X-Trans"), xtrans);
}

}  // namespace
}  // namespace dsb
