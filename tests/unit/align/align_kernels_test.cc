// The faster forms of align/'s inner steps give what their plain forms
// give (issue 17: alignment speed with unchanged results). Each test holds a
// step against a straightforward reference written here, on random mosaics
// of every CFA with awkward sizes (widths that are not a multiple of the CFA
// period or of the vector width) and clipped pixels:
// - ChannelBalance's side-by-side row chains: bit for bit;
// - CoarseLumaInto + PrepareCoarseInPlace (straight into the FFT buffer):
//   bit for bit against the coarse plane, copied, zero-mean and tapered;
// - CrossPower's vector whitening: within 2 float ulps of std::pow, zero
//   where the magnitude is not above 1e-20, bit for bit the scalar tail's;
// - BlockGainMatchedLosses (nine shifts in one sweep, rows shared between
//   dy - 1 and dy + 1): bit for bit against one shift at a time;
// - BlockGainMatchedLoss (blocks of a row side by side, the sweep over the
//   sampled rows alone, wide X-Trans rows matched in chunks): bit for bit
//   against the plain per-block loop, at row steps 1, 2 and 5;
// - RawGain (no division per pixel in its rough pass, four blocks reduced
//   side by side): bit for bit against its plain two passes, and LeastFailing's
//   bound the division's own;
// - FineColours' clipped counts (24 columns at a time): exact at the
//   quarter that decides;
// - GtInNoisyColours (Bayer's and X-Trans's vector rows, X-Trans's loops
//   compiled per number of offsets): bit for bit against the per-pixel
//   expressions of the matcher's scalar path;
// - the partial inverse FFT (the rows near 0 alone): those rows of the
//   whole inverse, within float rounding, the others left untouched;
// - the fine search's tiles (align/tile_correlation.h): CentreTiles (up to
//   sixteen tiles in vector lanes) bit for bit CentreTile on each;
//   WindowSums (the corners' rows and columns, four rows at a time) bit for
//   bit the whole integral images' window sums; Dots (a row of offsets per
//   pass) bit for bit one offset at a time; AddSparselyMaskedCorrelation
//   (masked terms four offsets to a vector) bit for bit each offset's
//   window sums less its masked terms in order; PeriodLuma (its
//   horizontal sums in a ring of rows) bit for bit the plain two-pass box
//   sums;
//   CentredEnergyBound at least CentreTile's energy under every mask;
// - ClearClippedBoxes (each output row cleared once, from the last clipped
//   row per column): exactly the boxes a plain search finds clipped, with
//   the rest of the mask left as it was, with and without ClippedSpans.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "align/colour_match.h"
#include "align/fftw_plans.h"
#include "align/fine_reference.h"
#include "align/float_threshold.h"
#include "align/mosaic_luma.h"
#include "align/shift_search.h"
#include "align/tile_correlation.h"
#include "core/alignment.h"
#include "core/raw_image.h"

namespace dsb {
namespace {

const char* const kCfas[] = {"rggb", "bggr", "grbg", "gbrg", "xtrans"};

// A random mosaic in [0, 1.2) with the clip level at 1, so about one pixel
// in six is clipped.
RawImage RandomMosaic(const char* cfa, int width, int height,
                      std::uint64_t seed) {
  RawImage image;
  image.cfa = *CfaPattern::FromName(cfa);
  image.meta.overexposure_lb = 1.0f;
  image.path = std::string(cfa) + ".raw";
  image.pixels = Plane<float>(width, height);
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> value(0.0f, 1.2f);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) image.pixels.at(y, x) = value(rng);
  }
  return image;
}

// ChannelBalance as first written: one row and colour phase at a time.
std::array<float, 3> ReferenceBalance(const RawImage& image) {
  std::array<double, 3> sum{}, count{};
  const int period = image.cfa.period();
  const float clip = image.meta.overexposure_lb;
  for (int y = 0; y < image.height(); ++y) {
    if ((y & 7) >= 2) continue;
    const float* row = image.pixels.row(y);
    for (int k = 0; k < period && k < image.width(); ++k) {
      float s = 0;
      int n = 0;
      for (int x = k; x < image.width(); x += period) {
        const bool keep = row[x] < clip;
        s += keep ? row[x] : 0.0f;
        n += keep;
      }
      const int c = static_cast<int>(image.cfa.color_at(y, k));
      sum[c] += s;
      count[c] += n;
    }
  }
  std::array<float, 3> balance{1, 1, 1};
  for (int c = 0; c < 3; ++c) {
    const double mean = count[c] > 0 ? sum[c] / count[c] : 0;
    balance[c] = mean > 1e-6 ? static_cast<float>(1.0 / mean) : 1.0f;
  }
  return balance;
}

TEST(AlignKernelsTest, ChannelBalanceMatchesOneChainAtATime) {
  int cases = 0;
  for (const char* cfa : kCfas) {
    for (int width : {6, 7, 37, 38, 41, 64, 101}) {
      // 17, 26 and 49 rows: two row pairs at a time (AddBalanceRowPairs),
      // then a pair or a row alone.
      for (int height : {1, 2, 9, 17, 26, 49}) {
        const RawImage image =
            RandomMosaic(cfa, width, height, 1000u * width + height);
        const std::array<float, 3> expected = ReferenceBalance(image);
        const std::array<float, 3> got = ChannelBalance(image);
        for (int c = 0; c < 3; ++c) {
          EXPECT_EQ(std::bit_cast<std::uint32_t>(got[c]),
                    std::bit_cast<std::uint32_t>(expected[c]))
              << cfa << " " << width << "x" << height << " colour " << c;
        }
        ++cases;
      }
    }
  }
  EXPECT_EQ(cases, 5 * 7 * 6);
}

// PrepareCoarse as first written: zero the buffer, then the coarse image
// zero-mean and tapered into its top-left; the mean's sum, since issue
// 17's fifth round, each row in eight float lanes (lane l takes columns
// l, l + 8, ...; the tail and then the lanes added to the row's double),
// rows added in double.
std::vector<float> ReferencePrepared(const Plane<float>& coarse,
                                     const CoarseGeometry& g) {
  std::vector<float> padded(
      static_cast<std::size_t>(g.fft_height) * g.fft_width, 0.0f);
  double sum = 0;
  for (int y = 0; y < coarse.height(); ++y) {
    float lanes[8] = {};
    const int whole = coarse.width() / 8 * 8;
    for (int x = 0; x < whole; ++x) lanes[x % 8] += coarse.at(y, x);
    double row = 0;
    for (int x = whole; x < coarse.width(); ++x) row += coarse.at(y, x);
    for (float lane : lanes) row += lane;
    sum += row;
  }
  const float mean = static_cast<float>(sum / coarse.pixel_count());
  auto taper = [](int i, int n, int ramp) {
    if (ramp <= 0) return 1.0f;
    const int d = std::min(i, n - 1 - i);
    if (d >= ramp) return 1.0f;
    return 0.5f - 0.5f * std::cos(3.14159265f * (d + 0.5f) / ramp);
  };
  for (int y = 0; y < coarse.height(); ++y) {
    const float ty = taper(y, coarse.height(), coarse.height() / 8);
    for (int x = 0; x < coarse.width(); ++x) {
      padded[static_cast<std::size_t>(y) * g.fft_width + x] =
          (coarse.at(y, x) - mean) * ty *
          taper(x, coarse.width(), coarse.width() / 8);
    }
  }
  return padded;
}

TEST(AlignKernelsTest, CoarseLumaStraightIntoTheFftBufferIsTheSame) {
  for (const char* cfa : kCfas) {
    // Strides 1-3 keep the box at the period; 8 and 9 (on 12-24 MP frames
    // it is 3-5) make boxes of 8, 10 (Bayer) and 12 (X-Trans).
    for (int stride : {1, 2, 3, 8, 9}) {
      const RawImage image = RandomMosaic(cfa, 203, 131, stride);
      const int period = image.cfa.period();
      CoarseGeometry g =
          PlanCoarse(image.height(), image.width(), period, 20, 20);
      g.stride = stride;
      g.box = std::max(period, (stride + period - 1) / period * period);
      g.height = (image.height() - g.box) / g.stride + 1;
      g.width = (image.width() - g.box) / g.stride + 1;
      g.fft_height = g.height + 7;
      g.fft_width = g.width + 10;
      const std::array<float, 3> balance = ChannelBalance(image);
      const Plane<float> coarse = CoarseLuma(image, balance, g.stride, g.box);
      ASSERT_EQ(coarse.height(), g.height);
      ASSERT_EQ(coarse.width(), g.width);
      const std::vector<float> expected = ReferencePrepared(coarse, g);
      // Stale values everywhere, as a reused buffer has.
      std::vector<float> buffer(expected.size(), 123.0f);
      CoarseLumaInto(
          image, balance, g.stride, g.box,
          PlaneView<float>{buffer.data(), g.width, g.height, g.fft_width});
      PrepareCoarseInPlace(g, g.height, g.width, buffer.data());
      std::size_t mismatches = 0;
      for (std::size_t k = 0; k < expected.size(); ++k) {
        mismatches += std::bit_cast<std::uint32_t>(buffer[k]) !=
                      std::bit_cast<std::uint32_t>(expected[k]);
      }
      EXPECT_EQ(mismatches, 0u) << cfa << " stride " << stride;
    }
  }
}

TEST(AlignKernelsTest, CoarseLumaAddsEachBoxInRowOrder) {
  // The box mean as first written: the box's rows added one at a time per
  // column, then the box's columns (boxes of 2, 4 and 6 take loops
  // unrolled for them, and at strides of 2 and 4 four samples per vector,
  // at a stride of 4 eight first (boxes of 4 and 6);
  // strides as PlanCoarse pairs them, e.g. 6 and 4, 6 and 2).
  for (const char* cfa : {"rggb", "xtrans"}) {
    const RawImage image = RandomMosaic(cfa, 97, 61, 7);
    const std::array<float, 3> balance = ChannelBalance(image);
    for (int box : {2, 4, 6, 8, 10, 12}) {
      if (box % image.cfa.period() != 0) continue;
      for (int stride : {2, box / 2, box - 2, box}) {
        if (stride < 1) continue;
        const Plane<float> got = CoarseLuma(image, balance, stride, box);
        int mismatches = 0;
        for (int by = 0; by < got.height(); ++by) {
          std::vector<float> columns(image.width(), 0.0f);
          for (int k = 0; k < box; ++k) {
            const int y = by * stride + k;
            for (int x = 0; x < image.width(); ++x) {
              columns[x] += image.pixels.at(y, x) *
                            balance[static_cast<int>(image.cfa.color_at(y, x))];
            }
          }
          for (int bx = 0; bx < got.width(); ++bx) {
            float sum = 0;
            for (int k = 0; k < box; ++k) sum += columns[bx * stride + k];
            const float expected = sum * (1.0f / static_cast<float>(box * box));
            mismatches += std::bit_cast<std::uint32_t>(got.at(by, bx)) !=
                          std::bit_cast<std::uint32_t>(expected);
          }
        }
        EXPECT_EQ(mismatches, 0)
            << cfa << " box " << box << " stride " << stride;
      }
    }
  }
}

// `count` complex values of each capture's spectrum (interleaved re, im)
// with magnitudes from below 1e-20 to ~1e36 and random phases; every
// `zero_every`-th noisy value is an exact zero.
struct Spectra {
  std::vector<float> gt, noisy;
};
Spectra RandomSpectra(std::size_t count, std::uint64_t seed,
                      std::size_t zero_every) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> exponent(-11.0f, 18.0f);
  std::uniform_real_distribution<float> angle(0.0f, 6.2831853f);
  Spectra s{std::vector<float>(2 * count), std::vector<float>(2 * count)};
  for (std::size_t k = 0; k < count; ++k) {
    const float g = std::pow(10.0f, exponent(rng));
    const float n = k % zero_every == 0 ? 0.0f : std::pow(10.0f, exponent(rng));
    const float a = angle(rng), b = angle(rng);
    s.gt[2 * k] = g * std::cos(a);
    s.gt[2 * k + 1] = g * std::sin(a);
    s.noisy[2 * k] = n * std::cos(b);
    s.noisy[2 * k + 1] = n * std::sin(b);
  }
  return s;
}

TEST(AlignKernelsTest, CrossPowerWhiteningWithinTwoUlpsOfPow) {
  // Magnitudes |G conj(N)| from below 1e-20 to ~1e36, a few exact zeros; an
  // odd count so the scalar tail runs too.
  constexpr std::size_t kCount = 100003;
  const Spectra spectra = RandomSpectra(kCount, 17, 997);
  const std::vector<float>&gt = spectra.gt, &noisy = spectra.noisy;
  std::vector<float> out(2 * kCount);
  CrossPower(gt.data(), noisy.data(), kCount, out.data());
  int zeros = 0, checked = 0;
  double worst = 0;
  for (std::size_t k = 0; k < kCount; ++k) {
    const float gr = gt[2 * k], gi = gt[2 * k + 1];
    const float nr = noisy[2 * k], ni = noisy[2 * k + 1];
    const float re = gr * nr + gi * ni;
    const float im = gi * nr - gr * ni;
    const float magnitude = std::sqrt(re * re + im * im);
    if (!(magnitude > 1e-20f)) {
      EXPECT_EQ(out[2 * k], 0.0f) << k;
      EXPECT_EQ(out[2 * k + 1], 0.0f) << k;
      ++zeros;
      continue;
    }
    const float scale = std::pow(magnitude, -kWhitening);
    for (int part = 0; part < 2; ++part) {
      const float expected = (part == 0 ? re : im) * scale;
      const float got = out[2 * k + part];
      if (expected == 0.0f) {
        EXPECT_EQ(got, 0.0f);
        continue;
      }
      const double relative = std::abs(double{got} / expected - 1.0);
      worst = std::max(worst, relative);
      // Two ulps of the scale, plus the product's own rounding.
      EXPECT_LT(relative, 3.6e-7) << k << " magnitude " << magnitude;
      ++checked;
    }
  }
  EXPECT_GT(zeros, 50);
  EXPECT_GT(checked, 150000);
  RecordProperty("worst_relative_error", std::to_string(worst));
}

TEST(AlignKernelsTest, NineShiftsInOneSweepMatchOneShiftAtATime) {
  for (const char* cfa : kCfas) {
    const RawImage gt = RandomMosaic(cfa, 157, 143, 3);
    const RawImage noisy = RandomMosaic(cfa, 157, 143, 4);
    for (const auto& [dy, dx] : {std::pair{0, 0}, std::pair{-3, 5},
                                 std::pair{7, -2}, std::pair{-41, 60}}) {
      // Step 1 samples every row, so the rows of dy - 1 and dy + 1 are
      // shared; step 2 leaves some of them to be matched on their own.
      for (const int step : {1, 2}) {
        const int block = 16;
        const int blocks_y = (gt.height() + block - 1) / block;
        const int blocks_x = (gt.width() + block - 1) / block;
        std::vector<Overlap> overlaps;
        for (int ny = dy - 1; ny <= dy + 1; ++ny) {
          for (int nx = dx - 1; nx <= dx + 1; ++nx) {
            overlaps.push_back(ComputeOverlap(gt.height(), gt.width(), ny, nx));
          }
        }
        std::vector<Plane<double>> sums(overlaps.size(),
                                        Plane<double>(blocks_x, blocks_y, 7.0));
        std::vector<Plane<double>> counts = sums;
        BlockGainMatchedLosses(gt, noisy, overlaps, 1.3, step, block, sums,
                               counts);
        for (std::size_t s = 0; s < overlaps.size(); ++s) {
          Plane<double> one_sums(blocks_x, blocks_y, -1.0);
          Plane<double> one_counts(blocks_x, blocks_y, -1.0);
          BlockGainMatchedLoss(gt, noisy, overlaps[s], 1.3, step, block,
                               one_sums, one_counts);
          double total = 0;
          for (std::size_t k = 0; k < one_sums.pixel_count(); ++k) {
            EXPECT_EQ(sums[s].data()[k], one_sums.data()[k])
                << cfa << " shift " << dy << "," << dx << " neighbour " << s;
            EXPECT_EQ(counts[s].data()[k], one_counts.data()[k]);
            total += one_counts.data()[k];
          }
          // Every sampled row pair of the overlap is counted.
          EXPECT_GT(total, 0.3 * overlaps[s].height * overlaps[s].width);
        }
      }
    }
  }
}

// X-Trans rows share a colour-matched row between the refinement's
// dy - 1 and dy + 1 where the GT row and the colours wanted along it are
// the same (the standard pattern's rows 1 and 3, 4 and 0): every centre
// shift modulo 6 in both axes, the standard pattern, one whose rows repeat
// every 2 (so every dy - 1, dy + 1 pair agrees) and random 6x6 patterns,
// each shift's sums bit for bit those of the shift alone.
TEST(AlignKernelsTest, XTransShiftsShareRowsOnlyWhereTheColoursAgree) {
  std::vector<CfaPattern> patterns = {CfaPattern::StandardXTrans()};
  {
    CfaPattern::Grid grid{};
    const CfaPattern standard = CfaPattern::StandardXTrans();
    for (int y = 0; y < 6; ++y) {
      for (int x = 0; x < 6; ++x) grid[y][x] = standard.color_at(y % 2, x);
    }
    patterns.push_back(CfaPattern::XTrans(grid));
  }
  std::mt19937_64 rng(913);
  while (patterns.size() < 5) {
    CfaPattern::Grid grid{};
    for (auto& row : grid) {
      for (CfaColor& c : row) c = static_cast<CfaColor>(rng() % 3);
    }
    patterns.push_back(CfaPattern::XTrans(grid));
  }
  constexpr int kWidth = 71, kHeight = 53, kBlock = 16;
  const int blocks_y = (kHeight + kBlock - 1) / kBlock;
  const int blocks_x = (kWidth + kBlock - 1) / kBlock;
  for (std::size_t p = 0; p < patterns.size(); ++p) {
    RawImage gt = RandomMosaic("xtrans", kWidth, kHeight, 40 + p);
    RawImage noisy = RandomMosaic("xtrans", kWidth, kHeight, 80 + p);
    gt.cfa = noisy.cfa = patterns[p];
    for (int dy = -9; dy <= -4; ++dy) {
      for (int dx = 4; dx <= 9; ++dx) {
        for (const int step : {1, 2}) {
          std::vector<Overlap> overlaps;
          for (int ny = dy - 1; ny <= dy + 1; ++ny) {
            for (int nx = dx - 1; nx <= dx + 1; ++nx) {
              overlaps.push_back(ComputeOverlap(kHeight, kWidth, ny, nx));
            }
          }
          std::vector<Plane<double>> sums(overlaps.size(),
                                          Plane<double>(blocks_x, blocks_y));
          std::vector<Plane<double>> counts = sums;
          BlockGainMatchedLosses(gt, noisy, overlaps, 0.9, step, kBlock, sums,
                                 counts);
          int mismatches = 0;
          for (std::size_t s = 0; s < overlaps.size(); ++s) {
            Plane<double> one_sums(blocks_x, blocks_y);
            Plane<double> one_counts(blocks_x, blocks_y);
            BlockGainMatchedLoss(gt, noisy, overlaps[s], 0.9, step, kBlock,
                                 one_sums, one_counts);
            for (std::size_t k = 0; k < one_sums.pixel_count(); ++k) {
              mismatches += sums[s].data()[k] != one_sums.data()[k] ||
                            counts[s].data()[k] != one_counts.data()[k];
            }
          }
          EXPECT_EQ(mismatches, 0) << "pattern " << p << " shift " << dy << ","
                                   << dx << " step " << step;
        }
      }
    }
  }
}

// BlockGainMatchedLoss (several blocks of a row summed side by side) gives
// bit for bit the plain per-block loop: each block's run of columns in
// eight float lanes, then the run's tail and the lanes added in double.
// Blocks of 8 and 13 columns and an odd width give first, middle and last
// runs of every length against the vector width.
TEST(AlignKernelsTest, BlockLossesMatchThePlainPerBlockLoop) {
  // The wide frame's X-Trans rows are colour-matched in chunks of whole
  // cycles (two of ColourMatcher's kMatchChunk columns and a short one,
  // with the rows ahead fetched between them): the same values as one
  // pass over the row.
  for (const auto& [width, height] :
       {std::pair{211, 97}, std::pair{1631, 29}}) {
    for (const char* cfa : kCfas) {
      const RawImage gt = RandomMosaic(cfa, width, height, 5);
      const RawImage noisy = RandomMosaic(cfa, width, height, 6);
      for (const auto& [dy, dx] : {std::pair{0, 0}, std::pair{-3, 5},
                                   std::pair{7, -11}, std::pair{2, 37}}) {
        const Overlap overlap = ComputeOverlap(gt.height(), gt.width(), dy, dx);
        Plane<float> matched(overlap.width, overlap.height);
        GtInNoisyColours(gt, overlap, matched.view());
        const float gain = 1.3f;
        for (const auto& [block, step] :
             {std::pair{8, 1}, std::pair{13, 1}, std::pair{16, 1},
              std::pair{50, 1}, std::pair{13, 2}, std::pair{8, 5}}) {
          const int blocks_y = (gt.height() + block - 1) / block;
          const int blocks_x = (gt.width() + block - 1) / block;
          Plane<double> sums(blocks_x, blocks_y), counts(blocks_x, blocks_y);
          BlockGainMatchedLoss(gt, noisy, overlap, gain, step, block, sums,
                               counts);
          Plane<double> want_sums(blocks_x, blocks_y, 0.0);
          Plane<double> want_counts(blocks_x, blocks_y, 0.0);
          for (int i = 0; i < overlap.height; ++i) {
            if ((i / 2) % step != 0) continue;  // the sampled row pairs
            const int ny = overlap.noisy_y0 + i;
            const float* g = matched.row(i);
            const float* n = noisy.pixels.row(ny) + overlap.noisy_x0;
            for (int j = 0; j < overlap.width;) {
              const int bx = (overlap.noisy_x0 + j) / block;
              const int end =
                  std::min(overlap.width, (bx + 1) * block - overlap.noisy_x0);
              float lanes[8] = {};
              int k = j;
              for (; k + 8 <= end; k += 8) {
                for (int l = 0; l < 8; ++l) {
                  lanes[l] += std::abs(g[k + l] - gain * n[k + l]);
                }
              }
              double sum = 0;
              for (; k < end; ++k) sum += std::abs(g[k] - gain * n[k]);
              for (float lane : lanes) sum += lane;
              want_sums.at(ny / block, bx) += sum;
              want_counts.at(ny / block, bx) += end - j;
              j = end;
            }
          }
          for (std::size_t k = 0; k < sums.pixel_count(); ++k) {
            EXPECT_EQ(sums.data()[k], want_sums.data()[k])
                << cfa << " shift " << dy << "," << dx << " block " << block
                << " step " << step;
            EXPECT_EQ(counts.data()[k], want_counts.data()[k]);
          }
          // With a neighbour in the same sweep, the noisy row's products
          // with the gain are made once for both (and four blocks' sums
          // reduced side by side), and the sweep visits the rows either
          // samples (its first row a row later or earlier where the
          // neighbour's dy is odd): the same sums for this shift.
          const Overlap overlaps[] = {
              overlap, ComputeOverlap(gt.height(), gt.width(), dy + 1, dx - 1)};
          std::vector<Plane<double>> both_sums(
              2, Plane<double>(blocks_x, blocks_y));
          std::vector<Plane<double>> both_counts(
              2, Plane<double>(blocks_x, blocks_y));
          BlockGainMatchedLosses(gt, noisy, overlaps, gain, step, block,
                                 both_sums, both_counts);
          for (std::size_t k = 0; k < sums.pixel_count(); ++k) {
            EXPECT_EQ(both_sums[0].data()[k], want_sums.data()[k])
                << cfa << " shift " << dy << "," << dx << " block " << block
                << " step " << step << " shared with a neighbour";
            EXPECT_EQ(both_counts[0].data()[k], want_counts.data()[k]);
          }
        }
      }
    }
  }
}

// LeastFailing turns RawGain's g / top * 16 < 15 into g < bound: the same
// answer for every float within 2^20 ulps of the bound on either side and
// for a million random bit patterns (both signs, subnormals, infinities
// and NaNs), for clip levels whose division is exact and inexact.
TEST(AlignKernelsTest, LeastFailingIsTheDivisionsOwnBoundary) {
  std::mt19937 rng(7);
  for (const float top :
       {1.0f, 0.77f, 0.9137f, 2310.385f, 1e-6f, 65535.0f, 16383.0f, 0.1f}) {
    auto holds = [&](float g) { return g / top * 16.0f < 15.0f; };
    const float bound = LeastFailing(holds);
    auto check = [&](std::uint32_t bits) {
      const float g = std::bit_cast<float>(bits);
      ASSERT_EQ(holds(g), g < bound)
          << "top " << top << " g " << g << " bound " << bound;
    };
    const std::uint32_t at = std::bit_cast<std::uint32_t>(bound);
    for (std::uint32_t d = 0; d <= (1u << 20); ++d) {
      check(at + d);
      check(at - d);
    }
    for (int k = 0; k < 1000000; ++k) check(rng());
  }
}

// FineColours counts clipped pixels per colour on sampled rows (24 columns
// at a time, then the row's tail): a colour clipped in exactly a quarter of
// its pixels stays, one pixel more and it is left out. The clipped pixels
// sit at the start of each row or at its end (inside the tail of a width
// that is no multiple of 24), every Bayer order, so a count off by one
// anywhere flips the answer.
TEST(AlignKernelsTest, FineColoursCountClippedPixelsExactly) {
  for (const char* cfa : {"rggb", "bggr", "grbg", "gbrg"}) {
    for (const int width : {104, 112, 40}) {
      // Red pixels per red row: width / 2; a quarter of them exactly.
      const int quarter = width / 2 / 4;
      ASSERT_EQ(quarter * 4, width / 2);
      for (const bool at_end : {false, true}) {
        for (const int extra : {0, 1}) {
          RawImage image = RandomMosaic(cfa, width, 40, 60);
          for (std::size_t k = 0; k < image.pixels.pixel_count(); ++k) {
            image.pixels.data()[k] *= 0.5f;  // nothing clipped
          }
          for (int y = 0; y < image.height(); ++y) {
            int clipped = 0;
            for (int i = 0; i < width; ++i) {
              const int x = at_end ? width - 1 - i : i;
              if (image.cfa.color_at(y, x) != CfaColor::kRed) continue;
              if (clipped == quarter + extra) break;
              image.pixels.at(y, x) = 1.0f;
              ++clipped;
            }
          }
          const std::array<bool, 3> used = FineColours(image, image);
          EXPECT_EQ(used[0], extra == 0)
              << cfa << " width " << width << (at_end ? " end" : " start")
              << " extra " << extra;
          EXPECT_TRUE(used[1] && used[2]);
        }
      }
    }
  }
}

// RawGain as first written, one pixel at a time: pass 1 (the rough gain,
// two rows in 16) tests each GT value as g / top * 16 < 15 with a division,
// pass 2 sums per block; both in eight float lanes per run (a pixel left
// out adds +0.0f, as the vector masks do) added in double, then the
// weighted median of the block ratios; pass 2 on the bands of block rows
// whose index is a multiple of band_step.
double ReferenceRawGain(const RawImage& gt, const RawImage& noisy,
                        const Overlap& overlap, int band_step = 1) {
  if (overlap.empty()) return 1.0;
  const int block = std::clamp(
      static_cast<int>(std::sqrt(static_cast<double>(overlap.height) *
                                 overlap.width / 256.0)),
      16, 64);
  const float top = std::max(gt.meta.overexposure_lb, 1e-6f);
  const float noisy_clip = 0.95f * noisy.meta.overexposure_lb;
  Plane<float> matched(overlap.width, overlap.height);
  GtInNoisyColours(gt, overlap, matched.view());
  auto noisy_row = [&](int i) {
    return noisy.pixels.row(overlap.noisy_y0 + i) + overlap.noisy_x0;
  };
  // Sums of the kept g and n over [begin, end) of row i.
  auto run = [&](int i, int begin, int end, auto keep, double& sum_g,
                 double& sum_n) {
    const float* g = matched.row(i);
    const float* n = noisy_row(i);
    float lanes_g[8] = {}, lanes_n[8] = {};
    int j = begin;
    for (; j + 8 <= end; j += 8) {
      for (int l = 0; l < 8; ++l) {
        const bool k = keep(g[j + l], n[j + l]);
        lanes_g[l] += k ? g[j + l] : 0.0f;
        lanes_n[l] += k ? n[j + l] : 0.0f;
      }
    }
    sum_g = 0;
    sum_n = 0;
    for (; j < end; ++j) {
      if (keep(g[j], n[j])) {
        sum_g += g[j];
        sum_n += n[j];
      }
    }
    for (int l = 0; l < 8; ++l) {
      sum_g += lanes_g[l];
      sum_n += lanes_n[l];
    }
  };
  double rough_gt = 0, rough_noisy = 0;
  for (int i = 0; i < overlap.height; ++i) {
    if ((i & 15) >= 2) continue;
    double sum_g, sum_n;
    run(
        i, 0, overlap.width,
        [&](float g, float n) {
          return n < noisy_clip && g / top * 16.0f < 15.0f;
        },
        sum_g, sum_n);
    rough_gt += sum_g;
    rough_noisy += sum_n;
  }
  const double rough =
      (rough_gt > 0 && rough_noisy > 0) ? rough_gt / rough_noisy : 1.0;
  const double limit =
      std::min(15.0 / 16, rough * 0.85 * noisy.meta.overexposure_lb / top);
  const int levels = std::max(1, static_cast<int>(limit * 16));
  const float threshold = static_cast<float>(levels) / 16 * top;
  const int blocks_y = (overlap.height + block - 1) / block;
  const int blocks_x = (overlap.width + block - 1) / block;
  std::vector<double> gts(static_cast<std::size_t>(blocks_y) * blocks_x);
  std::vector<double> noisies(gts.size());
  for (int i = 0; i < overlap.height; ++i) {
    if ((i / block) % band_step != 0) continue;
    for (int bx = 0; bx < blocks_x; ++bx) {
      double sum_g, sum_n;
      run(
          i, bx * block, std::min(overlap.width, (bx + 1) * block),
          [&](float g, float) { return g < threshold; }, sum_g, sum_n);
      gts[(i / block) * blocks_x + bx] += sum_g;
      noisies[(i / block) * blocks_x + bx] += sum_n;
    }
  }
  std::vector<std::pair<double, double>> ratios;  // value, weight
  double total_gt = 0, total_noisy = 0;
  for (std::size_t k = 0; k < gts.size(); ++k) {
    total_gt += gts[k];
    total_noisy += noisies[k];
    if (gts[k] > 0 && noisies[k] > 0) {
      ratios.emplace_back(gts[k] / noisies[k], noisies[k]);
    }
  }
  if (ratios.empty()) {
    return (total_gt > 0 && total_noisy > 0) ? total_gt / total_noisy : 1.0;
  }
  std::stable_sort(
      ratios.begin(), ratios.end(),
      [](const auto& a, const auto& b) { return a.first < b.first; });
  double half = 0;
  for (const auto& r : ratios) half += r.second;
  half /= 2;
  for (const auto& r : ratios) {
    half -= r.second;
    if (half <= 0) return r.first;
  }
  return ratios.back().first;
}

// RawGain (its rough pass testing GT levels against a bound found once
// instead of dividing every pixel by the clip level; its pass 2 reducing
// four blocks' lanes side by side) bit for bit the plain form, for clip
// levels whose division is inexact and pixel scales of several binades,
// every CFA, odd shifts; on 173 x 131 (blocks of 16) and 701 x 497
// (blocks of 36: each has a tail past its last vector, the last is
// partial); there also on every 2nd and 3rd band, where pass 2 reads some
// of the rows pass 1 matched (kept from pass 1) and others anew.
TEST(AlignKernelsTest, RawGainMatchesThePlainTwoPasses) {
  auto check = [](const char* cfa, int width, int height, float scale,
                  float clip, int band_step = 1) {
    RawImage gt = RandomMosaic(cfa, width, height, 31);
    RawImage noisy = RandomMosaic(cfa, width, height, 32);
    for (RawImage* image : {&gt, &noisy}) {
      image->meta.overexposure_lb = clip * scale;
      for (int y = 0; y < image->height(); ++y) {
        for (int x = 0; x < image->width(); ++x) {
          image->pixels.at(y, x) *= scale;
        }
      }
    }
    for (const auto& [dy, dx] : {std::pair{0, 0}, std::pair{-3, 5},
                                 std::pair{7, -11}, std::pair{1, 1}}) {
      const Overlap overlap = ComputeOverlap(gt.height(), gt.width(), dy, dx);
      const double got = band_step == 1
                             ? RawGain(gt, noisy, overlap)
                             : RawGain(gt, noisy, overlap, band_step);
      const double want = ReferenceRawGain(gt, noisy, overlap, band_step);
      EXPECT_EQ(std::bit_cast<std::uint64_t>(got),
                std::bit_cast<std::uint64_t>(want))
          << cfa << " " << width << "x" << height << " scale " << scale
          << " clip " << clip << " shift " << dy << "," << dx << " bands "
          << band_step << ": " << got << " vs " << want;
    }
  };
  for (const char* cfa : kCfas) {
    for (const float scale : {1.0f, 0.37f, 3000.5f, 1e-5f}) {
      for (const float clip : {1.0f, 0.77f, 0.9137f}) {
        check(cfa, 173, 131, scale, clip);
      }
    }
    for (const int band_step : {1, 2, 3}) {
      check(cfa, 701, 497, 1.0f, 0.9137f, band_step);
    }
  }
}

// The vector loop of CrossPower (8 values at a time; AVX2 in its clone)
// gives bit for bit what its scalar tail gives for each value alone, so
// the vectors round as the one-value expression does, whichever clone runs.
TEST(AlignKernelsTest, CrossPowerVectorsMatchTheScalarTailBitForBit) {
  constexpr std::size_t kCount = 20011;
  const Spectra spectra = RandomSpectra(kCount, 23, 97);
  const std::vector<float>&gt = spectra.gt, &noisy = spectra.noisy;
  std::vector<float> out(2 * kCount);
  CrossPower(gt.data(), noisy.data(), kCount, out.data());
  for (std::size_t k = 0; k < kCount; ++k) {
    float one[2];
    CrossPower(gt.data() + 2 * k, noisy.data() + 2 * k, 1, one);
    ASSERT_EQ(std::bit_cast<std::uint32_t>(out[2 * k]),
              std::bit_cast<std::uint32_t>(one[0]))
        << k;
    ASSERT_EQ(std::bit_cast<std::uint32_t>(out[2 * k + 1]),
              std::bit_cast<std::uint32_t>(one[1]))
        << k;
  }
}

// The colour matcher's documented arithmetic, one pixel at a time: the GT
// pixel where the colours match; else its nearest pixels of the wanted
// colour (radius 1 before 2, direct neighbours before diagonals, in row
// order), those in rows outside the image dropped. Where all of them lie
// inside the image (columns 2 .. width - 3) the mean is a0, (a0 + a1) *
// 0.5f, (a0 + a1 + a2) / 3 or ((a0 + a1) + (a2 + a3)) * 0.25f; nearer the
// edges a running float sum of those inside, divided by their count. NaN
// where none is inside (the matcher then looks further; not compared).
float ReferenceMatch(const RawImage& gt, int gy, int gx, CfaColor wanted) {
  const CfaPattern& cfa = gt.cfa;
  if (cfa.color_at(gy, gx) == wanted) return gt.pixels.at(gy, gx);
  std::vector<std::pair<int, int>> chosen;
  for (int radius = 1; radius <= 2 && chosen.empty(); ++radius) {
    for (const bool straight : {true, false}) {
      if (!chosen.empty()) break;
      for (int dy = -radius; dy <= radius; ++dy) {
        for (int dx = -radius; dx <= radius; ++dx) {
          if ((dy == 0 || dx == 0) != straight) continue;
          if (std::max(std::abs(dy), std::abs(dx)) != radius) continue;
          if (cfa.color_at(gy + dy, gx + dx) == wanted)
            chosen.push_back({dy, dx});
        }
      }
    }
  }
  std::vector<float> v;
  for (const auto& [dy, dx] : chosen) {
    if (gy + dy >= 0 && gy + dy < gt.height()) v.push_back(0.0f);
  }
  const bool inner = gx >= 2 && gx < gt.width() - 2 && chosen.size() <= 4;
  if (inner && !v.empty()) {
    v.clear();
    for (const auto& [dy, dx] : chosen) {
      if (gy + dy < 0 || gy + dy >= gt.height()) continue;
      v.push_back(gt.pixels.at(gy + dy, gx + dx));
    }
    switch (v.size()) {
      case 1:
        return v[0];
      case 2:
        return (v[0] + v[1]) * 0.5f;
      case 3:
        return (v[0] + v[1] + v[2]) / 3.0f;
      default:
        return ((v[0] + v[1]) + (v[2] + v[3])) * 0.25f;
    }
  }
  float sum = 0;
  int used = 0;
  for (const auto& [dy, dx] : chosen) {
    const int y = gy + dy, x = gx + dx;
    if (y < 0 || y >= gt.height() || x < 0 || x >= gt.width()) continue;
    sum += gt.pixels.at(y, x);
    ++used;
  }
  return used > 0 ? sum / static_cast<float>(used)
                  : std::numeric_limits<float>::quiet_NaN();
}

// Every CFA, widths that are no multiple of 8 or 24 (the vector widths of
// the Bayer and X-Trans rows) nor of the period, shifts of both signs and
// parities (multiples of 6 too, where X-Trans rows are copies): every
// output bit for bit the reference's. Fails when a vector row's lane masks,
// divisors or phases are wrong.
TEST(AlignKernelsTest, ColourMatchingIsBitExactOnEveryCfa) {
  for (const char* cfa : kCfas) {
    for (const auto& [w, h] :
         {std::pair{61, 29}, std::pair{100, 31}, std::pair{131, 26}}) {
      const RawImage gt = RandomMosaic(cfa, w, h, 900 + w);
      for (int dy : {-7, -6, -1, 0, 1, 2, 5}) {
        for (int dx : {-13, -6, -5, -1, 0, 1, 3, 6, 8}) {
          const Overlap o = ComputeOverlap(h, w, dy, dx);
          Plane<float> out(o.width, o.height);
          GtInNoisyColours(gt, o, out.view());
          for (int i = 0; i < o.height; ++i) {
            for (int j = 0; j < o.width; ++j) {
              const float want = ReferenceMatch(
                  gt, o.gt_y0 + i, o.gt_x0 + j,
                  gt.cfa.color_at(o.noisy_y0 + i, o.noisy_x0 + j));
              if (std::isnan(want)) continue;
              ASSERT_EQ(std::bit_cast<std::uint32_t>(out.at(i, j)),
                        std::bit_cast<std::uint32_t>(want))
                  << cfa << " " << w << "x" << h << " shift " << dy << "," << dx
                  << " at " << i << "," << j << ": " << out.at(i, j) << " vs "
                  << want;
            }
          }
        }
      }
    }
  }
}

// X-Trans rows take a loop compiled for their slots' numbers of offsets
// where the standard pattern's are (XTransCycles), the general loop
// otherwise: both bit for bit the reference at every shift phase (every
// dy and dx modulo 6, every GT row phase), for the standard pattern and
// for random 6x6 patterns (other neighbour counts, so the general loop and
// the generic path run too).
TEST(AlignKernelsTest, ColourMatchingIsBitExactOnEveryXTransPhase) {
  std::vector<CfaPattern> patterns = {CfaPattern::StandardXTrans()};
  std::mt19937_64 rng(417);
  while (patterns.size() < 5) {
    CfaPattern::Grid grid{};
    std::array<bool, 3> seen{};
    for (auto& row : grid) {
      for (CfaColor& c : row) {
        c = static_cast<CfaColor>(rng() % 3);
        seen[static_cast<int>(c)] = true;
      }
    }
    if (seen[0] && seen[1] && seen[2]) {
      patterns.push_back(CfaPattern::XTrans(grid));
    }
  }
  constexpr int kWidth = 127, kHeight = 38;
  for (std::size_t k = 0; k < patterns.size(); ++k) {
    RawImage gt = RandomMosaic("xtrans", kWidth, kHeight, 950 + k);
    gt.cfa = patterns[k];
    for (int dy = -3; dy <= 2; ++dy) {
      for (int dx = -3; dx <= 2; ++dx) {
        const Overlap o = ComputeOverlap(kHeight, kWidth, dy, dx);
        Plane<float> out(o.width, o.height);
        GtInNoisyColours(gt, o, out.view());
        for (int i = 0; i < o.height; ++i) {
          for (int j = 0; j < o.width; ++j) {
            const float want =
                ReferenceMatch(gt, o.gt_y0 + i, o.gt_x0 + j,
                               gt.cfa.color_at(o.noisy_y0 + i, o.noisy_x0 + j));
            if (std::isnan(want)) continue;
            ASSERT_EQ(std::bit_cast<std::uint32_t>(out.at(i, j)),
                      std::bit_cast<std::uint32_t>(want))
                << "pattern " << k << " shift " << dy << "," << dx << " at "
                << i << "," << j << ": " << out.at(i, j) << " vs " << want;
          }
        }
      }
    }
  }
}

// The column-major forward transform (GetColumnMajorForward) holds the 2-D
// plan's spectrum (FftPlans::forward), transposed, within float rounding
// (FFTW picks its plans; where they use the same codelets, as for the
// estimated sizes of this test, the values are the same bit for bit, which
// align_bench --exact shows on whole alignments); ColumnMajorToRows
// transposes it back exactly. GetPartialInverse + ExecutePartialInverse of
// it give the rows [0, top) and [height - bottom, height) of the whole
// inverse (FftPlans::inverse) of the row-major spectrum, within float
// rounding (the transforms' orders differ); sizes even and odd, a prime
// factor of 7, bottom 0; padding rows of zeros below the first `rows`.
TEST(AlignKernelsTest, ColumnMajorTransformsAreTheWholeTransforms) {
  struct Case {
    int height, width, rows, top, bottom;
  };
  for (const Case& c : {Case{96, 128, 80, 10, 9}, Case{105, 72, 105, 7, 6},
                        Case{64, 98, 50, 5, 0}, Case{120, 160, 101, 30, 29}}) {
    SCOPED_TRACE(::testing::Message() << c.height << "x" << c.width);
    const std::size_t real_count = static_cast<std::size_t>(c.height) * c.width;
    const int half = c.width / 2 + 1;
    const std::size_t complex_count = static_cast<std::size_t>(c.height) * half;
    auto plans = GetFftPlans(c.height, c.width, 1);
    auto forward = GetColumnMajorForward(c.height, c.width, c.rows, 1);
    auto partial = GetPartialInverse(c.height, c.width, c.top, c.bottom, 1);
    ASSERT_TRUE(plans.ok() && forward.ok() && partial.ok());
    auto real = AllocateReal(real_count);
    auto spectrum = AllocateComplex(complex_count);
    auto columns = AllocateComplex(complex_count);
    auto scratch = AllocateComplex(complex_count);
    auto rows = AllocateComplex(complex_count);
    auto whole = AllocateReal(real_count);
    auto part = AllocateReal(ColumnMajorRealCount(c.height, c.width));
    ASSERT_TRUE(real.ok() && spectrum.ok() && columns.ok() && scratch.ok() &&
                rows.ok() && whole.ok() && part.ok());
    std::mt19937 rng(c.height);
    std::uniform_real_distribution<float> value(-1.0f, 1.0f);
    for (std::size_t k = 0; k < real_count; ++k) {
      (*real)[k] =
          k < static_cast<std::size_t>(c.rows) * c.width ? value(rng) : 0.0f;
    }
    fftwf_execute_dft_r2c(plans->forward, real->get(), spectrum->get());
    ExecuteColumnMajorForward(*forward, real->get(), scratch->get(),
                              columns->get());
    float largest_bin = 0;
    for (std::size_t k = 0; k < complex_count; ++k) {
      largest_bin = std::max({largest_bin, std::abs((*spectrum)[k][0]),
                              std::abs((*spectrum)[k][1])});
    }
    for (int y = 0; y < c.height; ++y) {
      for (int x = 0; x < half; ++x) {
        const float* want = (*spectrum)[static_cast<std::size_t>(y) * half + x];
        const float* got =
            (*columns)[static_cast<std::size_t>(x) * c.height + y];
        ASSERT_NEAR(got[0], want[0], 1e-5f * largest_bin) << y << "," << x;
        ASSERT_NEAR(got[1], want[1], 1e-5f * largest_bin) << y << "," << x;
      }
    }
    // The inverses, both from the column-major spectrum's values.
    ColumnMajorToRows(columns->get(), c.height, c.width, rows->get());
    for (int y = 0; y < c.height; ++y) {
      for (int x = 0; x < half; ++x) {
        ASSERT_EQ(
            std::memcmp((*rows)[static_cast<std::size_t>(y) * half + x],
                        (*columns)[static_cast<std::size_t>(x) * c.height + y],
                        sizeof(fftwf_complex)),
            0)
            << y << "," << x;
      }
    }
    fftwf_execute_dft_c2r(plans->inverse, rows->get(), whole->get());
    ExecutePartialInverse(*partial, columns->get(), part->get());
    float largest = 0;
    for (std::size_t k = 0; k < real_count; ++k) {
      largest = std::max(largest, std::abs((*whole)[k]));
    }
    int rows_checked = 0;
    for (int y = 0; y < c.height; ++y) {
      if (y >= c.top && y < c.height - c.bottom) continue;
      ++rows_checked;
      for (int x = 0; x < c.width; ++x) {
        const std::size_t k = static_cast<std::size_t>(y) * c.width + x;
        ASSERT_NEAR((*part)[k], (*whole)[k], 1e-5f * largest) << y << "," << x;
      }
    }
    EXPECT_EQ(rows_checked, c.top + c.bottom);
  }
}

// Random tiles of one size: luma in [-1, 3), mask 1 but for about one pixel
// in `masked_one_in` (none when 0); tile `empty` (if any) wholly masked.
std::vector<LumaTile> RandomTiles(int count, int width, int height,
                                  int masked_one_in, int empty,
                                  std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> value(-1.0f, 3.0f);
  std::vector<LumaTile> tiles(static_cast<std::size_t>(count));
  for (int t = 0; t < count; ++t) {
    LumaTile& tile = tiles[t];
    tile.h = height;
    tile.w = width;
    tile.luma = Plane<float>(width, height);
    tile.mask = Plane<float>(width, height, 1.0f);
    for (std::size_t k = 0; k < tile.luma.pixel_count(); ++k) {
      tile.luma.data()[k] = value(rng);
      if (t == empty || (masked_one_in > 0 && rng() % masked_one_in == 0)) {
        tile.mask.data()[k] = 0.0f;
      }
    }
  }
  return tiles;
}

bool SameBits(const Plane<float>& a, const Plane<float>& b) {
  return a.pixel_count() == b.pixel_count() &&
         std::memcmp(a.data(), b.data(), a.pixel_count() * sizeof(float)) == 0;
}

TEST(AlignKernelsTest, TilesCentredSideBySideAreCentreTilesOwn) {
  struct Case {
    int count, width, height, masked_one_in, empty;
  };
  // Sixteen of the grid's size, runs that leave 1-3 tiles to the plain
  // loop, sizes whose pixel count is not a multiple of 8 (a tail), heavy
  // masking, and a wholly masked tile (the fallback for its group).
  const Case cases[] = {{16, 192, 192, 50, -1}, {16, 37, 29, 5, -1},
                        {13, 40, 24, 0, -1},    {7, 31, 17, 3, -1},
                        {5, 16, 16, 2, -1},     {3, 20, 20, 10, -1},
                        {12, 33, 21, 7, 6},     {16, 24, 24, 4, 0}};
  std::uint64_t seed = 1;
  for (const Case& c : cases) {
    std::vector<LumaTile> tiles =
        RandomTiles(c.count, c.width, c.height, c.masked_one_in, c.empty, seed);
    std::vector<LumaTile> plain =
        RandomTiles(c.count, c.width, c.height, c.masked_one_in, c.empty, seed);
    ++seed;
    CentreTiles(tiles);
    for (LumaTile& tile : plain) CentreTile(tile);
    for (int t = 0; t < c.count; ++t) {
      SCOPED_TRACE(::testing::Message() << c.count << " tiles " << c.width
                                        << "x" << c.height << ", tile " << t);
      EXPECT_EQ(tiles[t].count, plain[t].count);
      EXPECT_EQ(std::bit_cast<std::uint64_t>(tiles[t].energy),
                std::bit_cast<std::uint64_t>(plain[t].energy));
      EXPECT_TRUE(SameBits(tiles[t].luma, plain[t].luma));
    }
  }
}

TEST(AlignKernelsTest, CentredEnergyBoundHoldsForEveryMask) {
  std::mt19937_64 rng(23);
  // Textured tiles (the grid's size, and one whose pixel count leaves
  // every lane tail), and flat ones on a large mean where only rounding
  // separates the values (the float mean's error is then the energy).
  struct Case {
    int width, height;
    float base, spread;
  };
  const Case cases[] = {{192, 192, 40.0f, 30.0f},
                        {37, 29, -1.0f, 4.0f},
                        {192, 192, 4096.0f, 0.01f},
                        {61, 53, 30000.0f, 0.004f},
                        {16, 16, 7.0f, 0.0f}};
  for (const Case& c : cases) {
    std::uniform_real_distribution<float> value(c.base, c.base + c.spread);
    Plane<float> luma(c.width, c.height);
    for (std::size_t k = 0; k < luma.pixel_count(); ++k) {
      luma.data()[k] = value(rng);
    }
    const double bound = CentredEnergyBound(luma);
    // Masks: none, sparse, half, all but one pixel, the largest values
    // only (the mean then furthest from the whole tile's).
    for (int mask_kind = 0; mask_kind < 5; ++mask_kind) {
      LumaTile tile;
      tile.luma = luma;
      tile.mask = Plane<float>(c.width, c.height, 1.0f);
      const std::size_t n = luma.pixel_count();
      const float top = *std::max_element(luma.data(), luma.data() + n);
      for (std::size_t k = 0; k < n; ++k) {
        const bool masked = (mask_kind == 1 && rng() % 7 == 0) ||
                            (mask_kind == 2 && k % 2 == 0) ||
                            (mask_kind == 3 && k != n / 2) ||
                            (mask_kind == 4 && luma.data()[k] < top);
        if (masked) tile.mask.data()[k] = 0.0f;
      }
      CentreTile(tile);
      EXPECT_LE(tile.energy, bound) << c.width << "x" << c.height << " around "
                                    << c.base << ", mask " << mask_kind;
      // Unmasked and textured, the bound is within 2 % of the energy (its
      // slack, ~2.8e-4 of the sum of squares on 192 x 192, is 1.1 % here,
      // where that sum is 41 times the energy): tight enough to rule
      // tiles out.
      if (mask_kind == 0 && c.spread > 1) {
        EXPECT_LE(bound, tile.energy * 1.02);
      }
    }
  }
}

TEST(AlignKernelsTest, WindowSumsAreTheWholeIntegralImagesSums) {
  std::mt19937_64 rng(17);
  std::uniform_real_distribution<float> value(-0.5f, 4.0f);
  // Heights whose rows are not a multiple of 4 (the one-row tail), widths
  // not a multiple of 8 (the scalar columns).
  for (const int window : {1, 3, 5, 9, 11, 13}) {
    for (const auto& [h, w] :
         {std::pair{16, 16}, {37, 29}, {192, 192}, {21, 40}}) {
      const int bh = h + window - 1, bw = w + window - 1;
      Plane<float> b(bw, bh);
      for (std::size_t k = 0; k < b.pixel_count(); ++k) {
        b.data()[k] = value(rng);
      }
      // The whole integral images, as first written.
      const auto at = [&](int y, int x) {
        return static_cast<std::size_t>(y) * (bw + 1) + x;
      };
      std::vector<double> s1(static_cast<std::size_t>(bh + 1) * (bw + 1), 0.0);
      std::vector<double> s2(s1.size(), 0.0);
      for (int y = 0; y < bh; ++y) {
        double row1 = 0, row2 = 0;
        for (int x = 0; x < bw; ++x) {
          row1 += b.at(y, x);
          row2 += static_cast<double>(b.at(y, x)) * b.at(y, x);
          s1[at(y + 1, x + 1)] = s1[at(y, x + 1)] + row1;
          s2[at(y + 1, x + 1)] = s2[at(y, x + 1)] + row2;
        }
      }
      const WindowSums sums(b, h, w, window);
      for (int oy = 0; oy < window; ++oy) {
        for (int ox = 0; ox < window; ++ox) {
          const double want1 = s1[at(oy + h, ox + w)] - s1[at(oy, ox + w)] -
                               s1[at(oy + h, ox)] + s1[at(oy, ox)];
          const double want2 = s2[at(oy + h, ox + w)] - s2[at(oy, ox + w)] -
                               s2[at(oy + h, ox)] + s2[at(oy, ox)];
          double sum = 0, sum_sq = 0;
          sums.Get(oy, ox, &sum, &sum_sq);
          ASSERT_EQ(std::bit_cast<std::uint64_t>(sum),
                    std::bit_cast<std::uint64_t>(want1))
              << "window " << window << ", " << h << "x" << w << " at " << oy
              << "," << ox;
          ASSERT_EQ(std::bit_cast<std::uint64_t>(sum_sq),
                    std::bit_cast<std::uint64_t>(want2))
              << "window " << window << ", " << h << "x" << w << " at " << oy
              << "," << ox;
        }
      }
    }
  }
}

TEST(AlignKernelsTest, DotsOfARowOfOffsetsAreEachOffsetsOwn) {
  std::mt19937_64 rng(29);
  std::uniform_real_distribution<float> value(-2.0f, 2.0f);
  for (int window = 1; window <= 14; ++window) {
    for (const auto& [h, w] : {std::pair{16, 16}, {23, 37}, {40, 64}}) {
      Plane<float> a(w, h), b(w + window - 1, h + window - 1);
      for (std::size_t k = 0; k < a.pixel_count(); ++k) {
        a.data()[k] = value(rng);
      }
      for (std::size_t k = 0; k < b.pixel_count(); ++k) {
        b.data()[k] = value(rng);
      }
      for (int oy = 0; oy < window; ++oy) {
        std::vector<double> sums(static_cast<std::size_t>(window));
        Dots(a, b, oy, window, sums.data());
        for (int ox = 0; ox < window; ++ox) {
          // One offset: eight float lanes over the row, then the tail and
          // the lanes added in double, rows added in order.
          double want = 0;
          for (int i = 0; i < h; ++i) {
            const float* pa = a.row(i);
            const float* pb = b.row(oy + i) + ox;
            float lanes[8] = {};
            int j = 0;
            for (; j + 8 <= w; j += 8) {
              for (int l = 0; l < 8; ++l) lanes[l] += pa[j + l] * pb[j + l];
            }
            double row = 0;
            for (int k = j; k < w; ++k) row += pa[k] * pb[k];
            for (int l = 0; l < 8; ++l) row += lanes[l];
            want += row;
          }
          ASSERT_EQ(std::bit_cast<std::uint64_t>(sums[ox]),
                    std::bit_cast<std::uint64_t>(want))
              << "window " << window << ", " << h << "x" << w << " offset "
              << oy << "," << ox;
        }
      }
    }
  }
}

TEST(AlignKernelsTest, SparselyMaskedCorrelationTakesOutEachOffsetInOrder) {
  std::mt19937_64 rng(31);
  std::uniform_real_distribution<float> value(-2.0f, 6.0f);
  // The fine search's windows (4 offsets to a vector and a tail of 1 or
  // 3) and others (one offset at a time); masked pixels in runs and alone.
  for (const int window : {1, 3, 5, 7, 9, 11, 13}) {
    for (const auto& [h, w] : {std::pair{16, 16}, {23, 37}, {48, 40}}) {
      Plane<float> a(w, h), mask(w, h, 1.0f);
      Plane<float> b(w + window - 1, h + window - 1);
      for (std::size_t k = 0; k < b.pixel_count(); ++k) {
        b.data()[k] = value(rng);
      }
      double count = 0;
      for (std::size_t k = 0; k < a.pixel_count(); ++k) {
        const bool masked = rng() % 11 == 0 || (k % 97 > 90);
        mask.data()[k] = masked ? 0.0f : 1.0f;
        a.data()[k] = masked ? 0.0f : value(rng);
        count += mask.data()[k];
      }
      const std::size_t offsets = static_cast<std::size_t>(window) * window;
      std::vector<double> cross(offsets, 0.0), b_var(offsets, 0.0);
      AddSparselyMaskedCorrelation(a, mask, count, b, window, cross.data(),
                                   b_var.data());
      // The plain form: window sums less each masked pixel's term, one
      // offset at a time, the pixels in row order.
      const WindowSums sums(b, h, w, window);
      for (int oy = 0; oy < window; ++oy) {
        std::vector<double> dots(static_cast<std::size_t>(window));
        Dots(a, b, oy, window, dots.data());
        for (int ox = 0; ox < window; ++ox) {
          double sum = 0, sum_sq = 0;
          sums.Get(oy, ox, &sum, &sum_sq);
          for (int i = 0; i < h; ++i) {
            for (int j = 0; j < w; ++j) {
              if (mask.at(i, j) != 0.0f) continue;
              const double v = b.at(oy + i, ox + j);
              sum -= v;
              sum_sq -= v * v;
            }
          }
          const double want_var =
              0.0 + std::max(0.0, sum_sq - sum * sum / count);
          const std::size_t o = static_cast<std::size_t>(oy) * window + ox;
          ASSERT_EQ(std::bit_cast<std::uint64_t>(cross[o]),
                    std::bit_cast<std::uint64_t>(0.0 + dots[ox]))
              << "window " << window << ", " << h << "x" << w << " offset "
              << oy << "," << ox;
          ASSERT_EQ(std::bit_cast<std::uint64_t>(b_var[o]),
                    std::bit_cast<std::uint64_t>(want_var))
              << "window " << window << ", " << h << "x" << w << " offset "
              << oy << "," << ox;
        }
      }
    }
  }
}

TEST(AlignKernelsTest, PeriodLumaIsThePlainTwoPassBoxSum) {
  const std::array<float, 3> balance = {0.75f, 1.0f, 1.6f};
  for (const char* cfa : kCfas) {
    const RawImage image = RandomMosaic(cfa, 101, 77, 41);
    const int period = image.cfa.period();
    // Widths whose balanced rows (w + period - 1 columns, the first period
    // repeated in doubling blocks) end at every kind of last block: none
    // (w = 1), part of one, a power of two periods and more.
    for (const auto& [y0, x0, h, w] : {std::array{0, 0, 16, 16},
                                       {3, 5, 37, 29},
                                       {7, 2, 60, 90},
                                       {2, 9, 5, 1},
                                       {0, 3, 4, 9},
                                       {5, 1, 3, 2}}) {
      const Plane<float> luma = PeriodLuma(image, balance, y0, x0, h, w);
      // Horizontal period sums of the balanced pixels (each from 0.0f),
      // then vertical ones, as first written.
      Plane<float> horizontal(w, h + period - 1);
      for (int i = 0; i < h + period - 1; ++i) {
        for (int j = 0; j < w; ++j) {
          float sum = 0.0f;
          for (int k = 0; k < period; ++k) {
            const int y = y0 + i, x = x0 + j + k;
            sum += image.pixels.at(y, x) *
                   balance[static_cast<int>(image.cfa.color_at(y, x))];
          }
          horizontal.at(i, j) = sum;
        }
      }
      for (int i = 0; i < h; ++i) {
        for (int j = 0; j < w; ++j) {
          float want = 0.0f;
          for (int k = 0; k < period; ++k) want += horizontal.at(i + k, j);
          ASSERT_EQ(std::bit_cast<std::uint32_t>(luma.at(i, j)),
                    std::bit_cast<std::uint32_t>(want))
              << cfa << " window at " << y0 << "," << x0 << " sample " << i
              << "," << j;
        }
      }
    }
  }
}

// ClearClippedBoxes against a plain search of every box: a mosaic below
// the clip level but for clipped pixels in single rows, runs of rows (a
// run longer than the box, so one output row's box holds several), the
// first and last rows, and rows of one colour only, for every CFA, box
// sizes of the Bayer and X-Trans tiles (2, 6, 10) and an odd non-square
// one, every subset of watched colours, with the image's spans and
// without. What is not cleared keeps its value; UnclippedBoxes' 1s and
// 0s match it, also into a reused plane.
TEST(AlignKernelsTest, ClippedBoxesAreThePlainSearchsBoxes) {
  const std::pair<int, int> boxes[] = {{2, 2}, {6, 6}, {10, 10}, {3, 7}};
  for (const char* cfa : kCfas) {
    RawImage image = RandomMosaic(cfa, 61, 57, 90);
    for (std::size_t k = 0; k < image.pixels.pixel_count(); ++k) {
      image.pixels.data()[k] *= 0.5f;
    }
    std::mt19937_64 rng(91);
    auto clip_some = [&](int y, int count) {
      for (int n = 0; n < count; ++n) {
        image.pixels.at(y, static_cast<int>(rng() % 61)) = 1.0f + 0.01f * n;
      }
    };
    clip_some(0, 2);
    clip_some(56, 1);
    clip_some(9, 3);
    for (int y = 20; y < 34; ++y) clip_some(y, 1 + y % 3);  // a run of 14
    clip_some(41, 1);
    clip_some(44, 1);
    const ClippedSpans spans(image);
    for (const auto& [box_h, box_w] : boxes) {
      for (int watched_bits = 1; watched_bits < 8; ++watched_bits) {
        const std::array<bool, 3> watched = {(watched_bits & 1) != 0,
                                             (watched_bits & 2) != 0,
                                             (watched_bits & 4) != 0};
        const int y0 = 0, x0 = 3;
        const int h = image.height() - box_h + 1 - y0;
        const int w = image.width() - box_w + 1 - x0 - 2;
        for (const ClippedSpans* with :
             {static_cast<const ClippedSpans*>(nullptr), &spans}) {
          Plane<float> mask(w, h);
          for (int i = 0; i < h; ++i) {
            for (int j = 0; j < w; ++j) mask.at(i, j) = 0.25f + (i * w + j) % 7;
          }
          const Plane<float> before = mask;
          ClearClippedBoxes(image, 1.0f, watched, y0, x0, h, w, box_h, box_w,
                            mask, with);
          int cleared = 0;
          for (int i = 0; i < h; ++i) {
            for (int j = 0; j < w; ++j) {
              bool clipped = false;
              for (int a = 0; a < box_h; ++a) {
                for (int b = 0; b < box_w; ++b) {
                  const int y = y0 + i + a, x = x0 + j + b;
                  clipped =
                      clipped ||
                      (image.pixels.at(y, x) >= 1.0f &&
                       watched[static_cast<int>(image.cfa.color_at(y, x))]);
                }
              }
              cleared += clipped;
              ASSERT_EQ(mask.at(i, j), clipped ? 0.0f : before.at(i, j))
                  << cfa << " box " << box_h << "x" << box_w << " watched "
                  << watched_bits << " at " << i << "," << j;
            }
          }
          EXPECT_GT(cleared, 0) << cfa << " watched " << watched_bits;
          const Plane<float> ones =
              UnclippedBoxes(image, 1.0f, watched, y0, x0, h, w, box_h, box_w);
          // Into a plane whose storage it reuses unfilled: every entry is
          // written, none keeps the 7s it held.
          Plane<float> reused(w, h, 7.0f);
          UnclippedBoxes(image, 1.0f, watched, y0, x0, h, w, box_h, box_w,
                         reused);
          for (int i = 0; i < h; ++i) {
            for (int j = 0; j < w; ++j) {
              ASSERT_EQ(ones.at(i, j), mask.at(i, j) == 0.0f ? 0.0f : 1.0f);
              ASSERT_EQ(reused.at(i, j), ones.at(i, j)) << i << "," << j;
            }
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace dsb
