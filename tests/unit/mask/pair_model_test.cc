#include "mask/pair_model.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <vector>

#include "core/cfa.h"
#include "core/plane.h"

namespace dsb {
namespace {

// A GT and a gain-1 capture whose residual has the variance a*s + b,
// plus, where `texture` is set, c*s^2 more: what content finer than a cell
// adds on a real photograph after a shift (a convex excess, so a line fitted
// over it extrapolates below b). A `black` x `black` corner is black.
struct Pair {
  Plane<float> gt;
  Plane<float> noisy;
};

constexpr double kSlope = 7e-5;
constexpr double kOffset = 4e-6;
constexpr double kTexture = 2e-2;
constexpr float kBlack = 2e-4f;

Pair MakePair(int width, int height, int black, std::uint32_t seed,
              double texture = kTexture) {
  Pair p{Plane<float>(width, height), Plane<float>(width, height)};
  std::mt19937 rng(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      const bool dark = x >= width - black && y < black;
      // A smooth ramp over 0.02-0.2, slowly varying along y too.
      const double s =
          dark ? kBlack
               : 0.02 + 0.18 * (0.5 * x / width +
                                0.5 * (0.5 + 0.5 * std::sin(y * 0.02)));
      const double var = kSlope * s + kOffset + (dark ? 0.0 : texture * s * s);
      p.gt.at(y, x) = static_cast<float>(s);
      p.noisy.at(y, x) = static_cast<float>(s + std::sqrt(var) * normal(rng));
    }
  }
  return p;
}

PairModel Fit(const Pair& p) {
  const CfaPattern cfa = CfaPattern::Bayer(BayerOrder::kRGGB);
  const CellRowBuilder cells(p.gt.view(), p.noisy.view(), cfa, cfa, 1.0f, 1.0f,
                             false);
  return FitPairModel(cells, 1.0, 1.0f);
}

// The retina case of the real-photo sweep in miniature: a frame of bright
// content whose residual grows faster than the noise, with a black border.
// The line fitted over the frame extrapolates to a fraction of the black's
// variance (which flagged the whole border); the black's own floor holds.
TEST(PairModelTest, BlackLevelsKeepTheVarianceTheyShow) {
  for (const std::uint32_t seed : {7u, 8u, 9u}) {
    SCOPED_TRACE(seed);
    const PairModel model = Fit(MakePair(480, 360, 48, seed));
    const double truth = kSlope * kBlack + kOffset;
    // The premise: the line alone falls well short at black.
    EXPECT_LT(model.slope * kBlack + model.offset, 0.7 * truth);
    EXPECT_NEAR(model.Variance(kBlack), truth, 0.15 * truth);
    EXPECT_NEAR(model.dark_floor, truth, 0.15 * truth);
    // Only at black levels: above them the line alone.
    const double s = 0.05;
    EXPECT_DOUBLE_EQ(model.Variance(s), model.slope * s + model.offset);
  }
}

// How much of a pair the fit samples (PairModelSamples): every cell colour
// of a small overlap, 2^16 from 16.8 MP up, one per 256 pixels between,
// never fewer than 2^15.
TEST(PairModelTest, SampleScalesWithTheFrame) {
  // 320x240 Bayer: 160 x 120 cells, 3 colours each: all of them.
  EXPECT_EQ(PairModelSamples(57'600, 76'800), 57'600);
  EXPECT_EQ(PairModelSamples((1 << 17) - 1, 200'000), (1 << 17) - 1);
  // 2000x1350 and the Canon G2's 2272x1704, Bayer and X-Trans: the floor.
  EXPECT_EQ(PairModelSamples(2'025'000, 2'700'000), 1 << 15);
  EXPECT_EQ(PairModelSamples(2'903'616, 3'871'488), 1 << 15);
  EXPECT_EQ(PairModelSamples(900'000, 2'700'000), 1 << 15);
  // 12 MP: one per 256 pixels.
  EXPECT_EQ(PairModelSamples(9'000'000, 12'000'000), 12'000'000 / 256);
  // 24 and 60 MP, either pattern: 2^16, as before the scaling.
  EXPECT_EQ(PairModelSamples(18'000'000, 24'000'000), 1 << 16);
  EXPECT_EQ(PairModelSamples(8'000'000, 24'000'000), 1 << 16);
  EXPECT_EQ(PairModelSamples(45'000'000, 60'000'000), 1 << 16);
}

// At 2.7 MP the fit samples 2^15 cell colours (half of what it did):
// the noise line and the gain of a pair with known noise are still found
// within the fit's own error (2^16 samples of these pairs: up to 6 % at
// the lowest level, 1.6 % above; 2^15: 5.7 % and 2.6 %).
TEST(PairModelTest, SampledFitFindsTheKnownNoise) {
  for (const std::uint32_t seed : {11u, 12u}) {
    SCOPED_TRACE(seed);
    const PairModel model = Fit(MakePair(2000, 1350, 0, seed, 0.0));
    EXPECT_NEAR(model.gain, 1.0, 2e-3);
    // The variance at the frame's low, middle and high levels.
    for (const double s : {0.03, 0.1, 0.18}) {
      const double tolerance = s < 0.05 ? 0.1 : 0.04;
      const double truth = kSlope * s + kOffset;
      EXPECT_NEAR(model.Variance(s), truth, tolerance * truth) << "level " << s;
    }
  }
}

// X-Trans cells come in two row parities with their own structure
// classes. 1001x767 has 255 cell rows: 64 evenly spaced ones (2^15
// samples) are all odd, and the even rows' classes went unsampled (their
// structure 0, below the floor their samples' displacement sets). Every
// class with a displacement now gets a structure term.
TEST(PairModelTest, XTransSampleHoldsBothRowParities) {
  const Pair p = MakePair(1001, 767, 0, 5);
  const CfaPattern cfa = CfaPattern::StandardXTrans();
  // A one-column shift: the two images' samples of a colour sit apart.
  const CellRowBuilder cells(p.gt.view(), p.noisy.view(), cfa,
                             cfa.Cropped(0, 1), 1.0f, 1.0f, false);
  ASSERT_EQ(cells.layout().rows, 255);
  ASSERT_EQ(cells.layout().parity, 2);
  const PairModel model = FitPairModel(cells, 1.0, 1.0f);
  int displaced = 0;
  for (int pi = 0; pi < 2; ++pi) {
    for (int pj = 0; pj < 2; ++pj) {
      for (int c = 0; c < kCellColors; ++c) {
        if (cells.layout().displacement2[pi][pj][c] <= 0) continue;
        ++displaced;
        EXPECT_GE(model.structure[pi][pj][c],
                  cells.layout().displacement2[pi][pj][c])
            << "parity " << pi << pj << " colour " << c;
      }
    }
  }
  EXPECT_GE(displaced, 8);
}

// No black cells: no floor, the line alone.
TEST(PairModelTest, NoFloorWithoutBlackCells) {
  const PairModel model = Fit(MakePair(480, 360, 0, 7));
  EXPECT_EQ(model.dark_floor, 0.0);
  for (const double s : {0.0, 1e-4, 0.01, 0.3}) {
    EXPECT_DOUBLE_EQ(model.Variance(s), model.slope * s + model.offset);
  }
}

}  // namespace
}  // namespace dsb

namespace dsb {
namespace {

// Runs `body` with each of the selections' kernels the CPU has: its own
// (AVX-512 where present), AVX2's and the portable ones (pair_model.cc
// SelectOutOfPlace), so that each path is held to the same results.
template <typename Body>
void ForEachSelectKernels(Body body) {
  struct Kernels {
    const char* name;
    bool portable;
    bool avx2;
  };
  for (const Kernels kernels :
       {Kernels{"the CPU's", false, false}, Kernels{"AVX2", false, true},
        Kernels{"portable", true, false}}) {
    if (!UseSelectKernelsForTesting(kernels.portable, kernels.avx2)) continue;
    SCOPED_TRACE(kernels.name);
    body();
  }
  UseSelectKernelsForTesting(false, false);
}

// MedianInPlace against a full sort, with each kernel, on sizes that leave
// every count of values to a vector's last step, and on what trips
// selections up: duplicates, one value, negatives, signed zeros, denormals and
// huge magnitudes.
TEST(MedianInPlaceTest, IsTheElementOfRankHalfTheCount) {
  ForEachSelectKernels([] {
    std::mt19937 rng(2024);
    const std::vector<std::function<float()>> draws = {
        [&] { return std::uniform_real_distribution<float>(-1, 1)(rng); },
        [&] { return static_cast<float>(rng() % 7) - 3.0f; },
        [&] { return 0.25f; },
        [&] { return (rng() % 2 ? 1.0f : -1.0f) * 0.0f; },
        [&] {
          return std::ldexp(static_cast<float>(rng() % 1000) - 500.0f,
                            static_cast<int>(rng() % 300) - 150);
        },
        [&] { return std::normal_distribution<float>(3e-4f, 1e-5f)(rng); },
    };
    std::vector<std::size_t> sizes = {511,  512,   513,   4095,  4096,
                                      4097, 16383, 16384, 65536, 100001};
    for (std::size_t n = 1; n <= 50; ++n) sizes.push_back(n);
    for (const std::size_t n : sizes) {
      for (std::size_t d = 0; d < draws.size(); ++d) {
        std::vector<float> v(n);
        for (float& x : v) x = draws[d]();
        std::vector<float> sorted = v;
        std::sort(sorted.begin(), sorted.end());
        EXPECT_EQ(MedianInPlace(v), sorted[n / 2])
            << "n " << n << " draw " << d;
      }
      // A NaN, which no ordering places: the whole is selected as
      // std::nth_element selects it (the counts against a pivot fall short).
      std::vector<float> v(n);
      for (float& x : v) x = static_cast<float>(rng() % 1000);
      v[n / 3] = std::numeric_limits<float>::quiet_NaN();
      std::vector<float> whole = v;
      std::nth_element(whole.begin(), whole.begin() + n / 2, whole.end());
      const double median = MedianInPlace(v);
      const double expected = whole[n / 2];
      EXPECT_EQ(std::memcmp(&median, &expected, sizeof median), 0) << "n " << n;
    }
  });
}

// Ordered inputs and few distinct values are the shapes that strain a
// quickselect's pivots and its handling of values equal to them.
TEST(MedianInPlaceTest, OrderedInputsAndFewDistinctValues) {
  ForEachSelectKernels([] {
    const std::vector<std::function<float(std::size_t, std::size_t)>> shapes = {
        [](std::size_t i, std::size_t) { return static_cast<float>(i); },
        [](std::size_t i, std::size_t n) { return static_cast<float>(n - i); },
        [](std::size_t i, std::size_t n) {
          return static_cast<float>(std::min(i, n - i));
        },
        [](std::size_t i, std::size_t) { return static_cast<float>(i % 3); },
        [](std::size_t i, std::size_t n) { return i < n / 2 ? 1.0f : 2.0f; },
        [](std::size_t i, std::size_t n) { return i == n / 2 ? 5.0f : 1.0f; },
        [](std::size_t i, std::size_t) {
          return static_cast<float>((i * 7919) % 1024) * 0.5f;
        },
    };
    for (const std::size_t n : {std::size_t{600}, std::size_t{5000},
                                std::size_t{20000}, std::size_t{40001}}) {
      for (std::size_t d = 0; d < shapes.size(); ++d) {
        std::vector<float> v(n);
        for (std::size_t i = 0; i < n; ++i) v[i] = shapes[d](i, n);
        std::vector<float> sorted = v;
        std::sort(sorted.begin(), sorted.end());
        EXPECT_EQ(MedianInPlace(v), sorted[n / 2])
            << "n " << n << " shape " << d;
      }
    }
  });
}

}  // namespace
}  // namespace dsb
