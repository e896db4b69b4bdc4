#include "mask/cell_rows.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace dsb {
namespace {

Plane<float> RandomPlane(int w, int h, std::uint32_t seed, float clip_level,
                         int clip_percent) {
  Plane<float> p(w, h);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      seed = seed * 1664525u + 1013904223u;
      const int r = static_cast<int>((seed >> 8) % 1000);
      p.at(y, x) = r < clip_percent * 10 ? clip_level + 0.01f
                                         : static_cast<float>(r) / 1000 * 0.8f;
    }
  }
  return p;
}

struct Expected {
  float mean[kCellColors] = {};
  bool has[kCellColors] = {};
  // Per colour (1 << colour): a sample of that colour in the cell at or
  // above the level, in each image (by that image's own pattern).
  std::uint8_t gt_clipped = 0;
  std::uint8_t noisy_clipped = 0;
};

// Brute force over the cell's pixels.
Expected CellByHand(const Plane<float>& gt, const Plane<float>& noisy,
                    const CfaPattern& gt_cfa, const CfaPattern& noisy_cfa,
                    int s, int i, int j, float lb, bool of_gt) {
  Expected e;
  double sum[kCellColors] = {};
  int count[kCellColors] = {};
  for (int y = i * s; y < (i + 1) * s; ++y) {
    for (int x = j * s; x < (j + 1) * s; ++x) {
      const int c =
          static_cast<int>((of_gt ? gt_cfa : noisy_cfa).color_at(y, x));
      sum[c] += (of_gt ? gt : noisy).at(y, x);
      ++count[c];
      const int gc = static_cast<int>(gt_cfa.color_at(y, x));
      const int nc = static_cast<int>(noisy_cfa.color_at(y, x));
      if (gt.at(y, x) >= lb) e.gt_clipped |= 1u << gc;
      if (noisy.at(y, x) >= lb) e.noisy_clipped |= 1u << nc;
    }
  }
  for (int c = 0; c < kCellColors; ++c) {
    e.has[c] = count[c] > 0;
    e.mean[c] = count[c] > 0 ? static_cast<float>(sum[c] / count[c]) : 0.0f;
  }
  return e;
}

// 37 and 40 columns: an even and an odd number of X-Trans cells (the two
// cell parities of a row are built apart), and pixels right of the last
// cell in each; 155: 51 X-Trans cells, three steps of the 16-cell kernel
// and a tail.
const std::vector<std::pair<bool, int>> kWidths = {
    {false, 37}, {true, 37}, {false, 40}, {true, 41}, {false, 155}};

// Widths (and whether the capture's clipping is masked) as kWidths.
void CheckMeansFlagsAndClippedRows(
    const std::vector<std::pair<bool, int>>& widths = kWidths) {
  const float lb = 0.9f;
  int round = 0;
  for (const CfaPattern& base :
       {CfaPattern::Bayer(BayerOrder::kRGGB), CfaPattern::StandardXTrans()}) {
    for (const auto& [oy, ox] :
         std::vector<std::pair<int, int>>{{0, 0}, {1, 0}, {0, 1}, {3, 5}}) {
      for (const auto& [mask_noisy, w] : widths) {
        const int h = 29;
        const Plane<float> gt = RandomPlane(w, h, 11 + round, lb, 2);
        const Plane<float> noisy = RandomPlane(w, h, 97 + round, lb, 2);
        ++round;
        // The two overlaps start at different phases of the same pattern,
        // as a shifted pair's do.
        const CfaPattern gt_cfa = base.Cropped(oy, ox);
        const CfaPattern noisy_cfa = base.Cropped(oy + 1, ox + 3);
        const CellRowBuilder builder(gt.view(), noisy.view(), gt_cfa, noisy_cfa,
                                     lb, lb, mask_noisy);
        const CellLayout& layout = builder.layout();
        const int s = base.period() == 2 ? 2 : 3;
        SCOPED_TRACE(base.name() + " phase " + std::to_string(oy) + "," +
                     std::to_string(ox) + (mask_noisy ? " noisy" : "") +
                     " width " + std::to_string(w));
        ASSERT_EQ(layout.size, s);
        ASSERT_EQ(layout.rows, h / s);
        ASSERT_EQ(layout.cols, w / s);
        std::vector<std::uint8_t> clipped_rows(h, 2);
        CellRow row;
        for (int i = 0; i < layout.rows; ++i) {
          builder.Build(i, row, clipped_rows.data());
          ASSERT_EQ(row.index, i);
          for (int j = 0; j < layout.cols; ++j) {
            const Expected g =
                CellByHand(gt, noisy, gt_cfa, noisy_cfa, s, i, j, lb, true);
            const Expected n =
                CellByHand(gt, noisy, gt_cfa, noisy_cfa, s, i, j, lb, false);
            for (int c = 0; c < kCellColors; ++c) {
              EXPECT_NEAR(row.gt[c][j], g.mean[c], 1e-6) << i << "," << j;
              EXPECT_NEAR(row.noisy[c][j], n.mean[c], 1e-6) << i << "," << j;
              const int pi = i % layout.parity;
              const int pj = j % layout.parity;
              EXPECT_EQ(layout.var_factor[pi][pj][c] > 0, g.has[c] && n.has[c]);
            }
            EXPECT_EQ(row.gt_clipped[j], g.gt_clipped) << i << "," << j;
            EXPECT_EQ(row.noisy_clipped[j], g.noisy_clipped) << i << "," << j;
          }
        }
        builder.MarkRowsWithoutCells(clipped_rows.data());
        // Rows are marked per cell row (every row of a cell row with
        // clipping anywhere, the columns right of the last cell included),
        // and exactly below the last cell row.
        auto row_clipped = [&](int y) {
          bool any = false;
          for (int x = 0; x < w; ++x) {
            any |= gt.at(y, x) >= lb || (mask_noisy && noisy.at(y, x) >= lb);
          }
          return any;
        };
        for (int y = 0; y < h; ++y) {
          bool expected = row_clipped(y);
          if (y < layout.rows * s) {
            const int first = y / s * s;
            expected = false;
            for (int v = first; v < first + s; ++v) expected |= row_clipped(v);
          }
          EXPECT_EQ(clipped_rows[y], expected ? 1 : 0) << "row " << y;
        }
      }
    }
  }
}

TEST(CellRowsTest, CacheHandsOutTheRowAskedFor) {
  const Plane<float> gt = RandomPlane(24, 24, 5, 0.9f, 0);
  const CfaPattern cfa = CfaPattern::Bayer(BayerOrder::kBGGR);
  const CellRowBuilder builder(gt.view(), gt.view(), cfa, cfa, 0.9f, 0.9f,
                               false);
  CellRowCache cache(builder);
  CellRow expected;
  for (int i = 0; i < builder.layout().rows; ++i) {
    for (const int r :
         {std::max(i - 1, 0), i, std::min(i + 1, builder.layout().rows - 1)}) {
      const CellRow& got = cache.Get(r);
      builder.Build(r, expected);
      ASSERT_EQ(got.index, r);
      EXPECT_EQ(got.gt[1], expected.gt[1]);
    }
  }
}

// BuildOne gives each image's cells and clipping bits exactly as Build does
// (the pair model builds only the GT of the rows around a sampled row), for
// both CFAs and a capture shifted against the GT, whatever the row held.
TEST(CellRowsTest, BuildOneGivesBuildsCellsOfOneImage) {
  for (const CfaPattern& base :
       {CfaPattern::Bayer(BayerOrder::kGRBG), CfaPattern::StandardXTrans()}) {
    const Plane<float> gt = RandomPlane(61, 30, 7, 0.7f, 5);
    const Plane<float> noisy = RandomPlane(61, 30, 8, 0.7f, 5);
    const CellRowBuilder builder(gt.view(), noisy.view(), base,
                                 base.Cropped(1, 0), 0.7f, 0.7f, false);
    SCOPED_TRACE(base.name());
    CellRow full;
    CellRow one;
    for (int i = 0; i < builder.layout().rows; ++i) {
      builder.Build(i, full);
      // Built from another row first: every value must be overwritten.
      builder.BuildOne((i + 1) % builder.layout().rows, one, true);
      builder.BuildOne((i + 2) % builder.layout().rows, one, false);
      builder.BuildOne(i, one, true);
      builder.BuildOne(i, one, false);
      for (int c = 0; c < kCellColors; ++c) {
        EXPECT_EQ(one.gt[c], full.gt[c]) << "row " << i << " colour " << c;
        EXPECT_EQ(one.noisy[c], full.noisy[c])
            << "row " << i << " colour " << c;
      }
      EXPECT_EQ(one.gt_clipped, full.gt_clipped) << "row " << i;
      EXPECT_EQ(one.noisy_clipped, full.noisy_clipped) << "row " << i;
      EXPECT_EQ(one.gt_any, full.gt_any) << "row " << i;
      EXPECT_EQ(one.noisy_any, full.noisy_any) << "row " << i;
    }
  }
}

// The means bit for bit: a colour's samples summed in float in reading
// order (row by row, left to right), times 1 / count in float. The masks'
// exactness across speed changes rests on this arithmetic staying the same.
// The default width, 61: 20 X-Trans cells a row, one step of the 16-cell
// kernel and a tail.
void CheckFloatSumsInReadingOrder(int w = 61) {
  int round = 0;
  for (const CfaPattern& base :
       {CfaPattern::Bayer(BayerOrder::kRGGB), CfaPattern::StandardXTrans()}) {
    for (const auto& [oy, ox] : std::vector<std::pair<int, int>>{
             {0, 0}, {1, 0}, {0, 1}, {1, 1}, {3, 5}, {2, 4}}) {
      const int h = 20;
      // Values over many binades, so that the order of the additions
      // shows in the last bits.
      Plane<float> gt(w, h);
      Plane<float> noisy(w, h);
      std::uint32_t seed = 1234 + round++;
      for (int y = 0; y < h; ++y) {
        for (int x = 0; x < w; ++x) {
          seed = seed * 1664525u + 1013904223u;
          gt.at(y, x) = std::ldexp(static_cast<float>(seed >> 8) / (1 << 24),
                                   -static_cast<int>(seed % 20));
          seed = seed * 1664525u + 1013904223u;
          noisy.at(y, x) = std::ldexp(static_cast<float>(seed >> 8) / (1 << 24),
                                      -static_cast<int>(seed % 20));
        }
      }
      const CfaPattern gt_cfa = base.Cropped(oy, ox);
      const CfaPattern noisy_cfa = base.Cropped(oy + 1, ox);
      const CellRowBuilder builder(gt.view(), noisy.view(), gt_cfa, noisy_cfa,
                                   2.0f, 2.0f, false);
      const int s = builder.layout().size;
      SCOPED_TRACE(base.name() + " phase " + std::to_string(oy) + "," +
                   std::to_string(ox));
      CellRow row;
      for (int i = 0; i < builder.layout().rows; ++i) {
        builder.Build(i, row);
        for (int j = 0; j < builder.layout().cols; ++j) {
          for (const bool of_gt : {true, false}) {
            const Plane<float>& image = of_gt ? gt : noisy;
            const CfaPattern& cfa = of_gt ? gt_cfa : noisy_cfa;
            float sum[kCellColors] = {};
            int count[kCellColors] = {};
            for (int y = i * s; y < (i + 1) * s; ++y) {
              for (int x = j * s; x < (j + 1) * s; ++x) {
                const int c = static_cast<int>(cfa.color_at(y, x));
                sum[c] =
                    count[c] == 0 ? image.at(y, x) : sum[c] + image.at(y, x);
                ++count[c];
              }
            }
            for (int c = 0; c < kCellColors; ++c) {
              const float inv = count[c] > 0 ? 1.0f / count[c] : 0.0f;
              const float got = (of_gt ? row.gt : row.noisy)[c][j];
              EXPECT_EQ(got, sum[c] * inv)
                  << (of_gt ? "gt" : "noisy") << " cell " << i << "," << j
                  << " colour " << c;
            }
          }
        }
      }
    }
  }
}

TEST(CellRowsTest, MeansFlagsAndClippedRowsMatchBruteForce) {
  CheckMeansFlagsAndClippedRows();
}

TEST(CellRowsTest, MeansAreFloatSumsInReadingOrderBitForBit) {
  CheckFloatSumsInReadingOrder();
}

// The AVX-512 kernel builds a row's last cols % 16 cells in one step with
// masked loads and stores: every length of that tail (0-15 cells, after
// two full steps), with 0-2 pixels right of the last cell, gives the
// brute-force means, bits and rows, and the sums bit for bit.
TEST(CellRowsTest, XTransRowsWithEveryTailLength) {
  std::vector<std::pair<bool, int>> widths;
  for (int tail = 0; tail < 16; ++tail) {
    widths.push_back({tail % 2 == 1, 3 * (32 + tail) + tail % 3});
  }
  CheckMeansFlagsAndClippedRows(widths);
  for (const auto& [mask_noisy, w] : widths) CheckFloatSumsInReadingOrder(w);
}

// Where the CPU has AVX-512 or AVX2, X-Trans rows are built by a one-pass
// kernel; the portable path must give the same results.
TEST(CellRowsTest, PortableXTransPathToo) {
  UsePortableXTransCellsForTesting(true);
  CheckMeansFlagsAndClippedRows();
  CheckFloatSumsInReadingOrder();
  UsePortableXTransCellsForTesting(false);
}

// The AVX2 kernel (the one a CPU without AVX-512 runs) too, where the CPU
// has AVX2 (held to the same brute-force sums as the other paths).
TEST(CellRowsTest, Avx2XTransPathToo) {
  if (!UseAvx2XTransCellsForTesting(true)) {
    UseAvx2XTransCellsForTesting(false);
    GTEST_SKIP() << "no AVX2 on this CPU (or not an x86-64 GCC build)";
  }
  CheckMeansFlagsAndClippedRows();
  CheckFloatSumsInReadingOrder();
  UseAvx2XTransCellsForTesting(false);
}

}  // namespace
}  // namespace dsb
