// The row samples of issue 17's fifth round (align/row_sample.h): the
// channel balance, the gain, the refinement and the reported loss read
// about a fixed number of pixels, every row on small images and row pairs
// on large ones. These tests hold each sampled estimate against the exact
// one (every row) with known truth: the sampled gain stays within the
// exact gain's own noise over noise seeds on a real photograph with
// clipping and a moved object, on Bayer and X-Trans; the sample grows as
// the square root of the frame's pixels below 16 MP (issue 17's ninth
// round), and a 3 MP pair's sampled refinement finds the true shift from
// each of its neighbours; the reported loss is
// the refinement's own block sums, within 0.5 % of every row's loss; the
// sampled balance is the mean of a 24 MP frame; every step visits every
// CFA row phase.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "align/colour_match.h"
#include "align/correlator_common.h"
#include "align/mosaic_luma.h"
#include "align/row_sample.h"
#include "align/shift_search.h"
#include "align_pair.h"
#include "photos.h"
#include "synth/photo_reader.h"
#include "synth/render.h"

namespace dsb {
namespace {

using testing::LoadPhoto;

// SampleOf: every row up to samples / 2 pixels, `samples` from 8 x
// samples up, and in between a sample that grows with the frame while its
// share of the frame (what it costs per pixel) falls, without a jump.
TEST(RowSampleTest, SampleGrowsAsTheSquareRootOfThePixels) {
  const double samples = 2e6;
  EXPECT_EQ(RowPairStep(0.99e6, SampleOf(0.99e6, samples)), 1);
  EXPECT_EQ(RowPairStep(0.4e6, SampleOf(0.4e6, samples)), 1);
  EXPECT_EQ(SampleOf(16e6, samples), samples);
  EXPECT_EQ(SampleOf(24e6, samples), samples);
  EXPECT_EQ(SampleOf(60e6, samples), samples);
  // A 3 MP frame (2118 x 1416): row pairs 4 apart.
  EXPECT_EQ(RowPairStep(3e6, SampleOf(3e6, samples)), 4);
  double last_sample = 0, last_share = 2;
  for (double pixels = 1e5; pixels < 16e6; pixels *= 1.1) {
    const double sample = SampleOf(pixels, samples);
    EXPECT_NEAR(sample, std::sqrt(pixels * samples / 8), 1e-6 * sample);
    EXPECT_GT(sample, last_sample) << pixels;
    EXPECT_LT(sample / pixels, last_share) << pixels;
    if (last_sample > 0) {
      EXPECT_LT(sample, 1.1001 * last_sample) << pixels;  // no jump
    }
    last_sample = sample;
    last_share = sample / pixels;
  }
}

TEST(RowSampleTest, StepsVisitEveryRowPhaseAndKeepTheirBudget) {
  for (const double samples : {0.5e6, 1e6, 2e6}) {
    for (double pixels = 1e4; pixels < 3e8; pixels *= 1.37) {
      const int step = RowPairStep(pixels, samples);
      ASSERT_GE(step, 1);
      EXPECT_NE(step % 3, 0) << pixels;
      if (pixels < 2 * samples) {
        EXPECT_EQ(step, 1) << pixels;  // small images: every row
      } else {
        // (p / s rounded down, then up to skip a multiple of 3)
        EXPECT_GE(pixels / step, 0.75 * samples) << pixels;
        EXPECT_LE(pixels / step, 1.5 * samples) << pixels;
      }
      // Rows i with (i / 2) % step == 0 over 4 cycles of the sample: every
      // row phase of X-Trans (6) and so of Bayer (2).
      std::vector<int> phases(6, 0);
      for (int i = 0; i < 8 * step * 3; ++i) {
        if ((i / 2) % step == 0) ++phases[i % 6];
      }
      for (int p = 0; p < 6; ++p) EXPECT_GT(phases[p], 0) << step << " " << p;
    }
  }
}

// A real-photo pair: tungsten-lit motorbike, 3 % clipped, a moved object,
// the most extreme noise, gain 1.3, an odd shift.
struct PhotoPair {
  RawImage gt, noisy;
  Overlap overlap;
};
PhotoPair RenderPhotoPair(std::shared_ptr<const Srgb8Image> photo,
                          const char* cfa, std::uint64_t noise_seed,
                          int width = 1800, int height = 1200) {
  SceneSpec spec;
  spec.width = width;
  spec.height = height;
  spec.cfa = *CfaPattern::FromName(cfa);
  spec.seed = 5;
  spec.clipped_fraction = 0.03;
  spec.photo = std::move(photo);
  SyntheticScene scene(spec);
  CaptureSpec capture;
  capture.dy = 5;
  capture.dx = -3;
  capture.gain = 1.3;
  capture.noise_level = kNoiseLevelCount - 1;
  capture.noise_seed = noise_seed;
  capture.moved_object = Box{300, 900, 300, 400};
  PhotoPair pair{scene.RenderGt(), scene.RenderCapture(capture), {}};
  pair.overlap = ComputeOverlap(spec.height, spec.width, 5, -3);
  return pair;
}

// The refinement's sample (RefineSamplingOf): every row up to 1 MP, as
// SampleOf; half of SampleOf's on thinned overlaps up to 4 MP, rising to
// all of it at 16 MP (issue 17's eleventh round: at 3 MP the refinement's
// rows were a quarter of the pair's alignment), so 24 and 60 MP overlaps
// are sampled as before; a step that does not fall as the frame grows.
TEST(RowSampleTest, RefinementTakesHalfTheSampleOfMidSizeOverlaps) {
  // A 3:2 overlap of about `pixels`.
  auto overlap_of = [](double pixels) {
    const int width = static_cast<int>(std::sqrt(pixels * 1.5));
    return Overlap{0, 0, 0, 0, static_cast<int>(pixels / width), width};
  };
  auto step = [&](double pixels) {
    return RefineSamplingOf(overlap_of(pixels)).row_step;
  };
  auto sample_step = [&](double pixels) {
    const Overlap o = overlap_of(pixels);
    const double area = static_cast<double>(o.height) * o.width;
    return RowPairStep(area, SampleOf(area, 2e6));
  };
  EXPECT_EQ(step(0.4e6), 1);
  EXPECT_EQ(step(0.99e6), 1);
  EXPECT_EQ(step(3e6), 7);  // SampleOf's: 4
  EXPECT_EQ(sample_step(3e6), 4);
  EXPECT_EQ(step(24e6), sample_step(24e6));
  EXPECT_EQ(step(60e6), sample_step(60e6));
  int last = 1;
  for (double pixels = 1.05e6; pixels < 30e6; pixels *= 1.05) {
    const int s = step(pixels);
    EXPECT_NE(s % 3, 0) << pixels;
    EXPECT_GE(s, sample_step(pixels)) << pixels;
    EXPECT_GE(s + 1, last) << pixels;  // +1: the step skips multiples of 3
    last = s;
  }
}

// The gain of a 24 MP pair is measured on every 12th band of 64 rows (6
// bands, ~560 blocks of 64 x 64, 2.3 MP; a 60 MP pair: every 30th, 4
// bands, ~590 blocks). Here every 2nd (what SampleOf gives this pair) and
// 4th band of a 2 MP pair: ~280 and ~140 blocks, fewer than those (so a
// noisier median). Over 4 noise
// seeds, the sampled gain's difference from the exact one (every
// row) stays within 4 sqrt(step) standard deviations of the exact gain
// over the seeds (the median's noise grows as the sample shrinks: what
// sampling costs, and no more) and within 0.1 %, and the sampled gain is
// within 0.2 % of the truth. (The sweeps' exact gains err by up to 3 %
// on small frames.)
TEST(RowSampleTest, SampledGainIsWithinTheExactGainsNoise) {
  const std::string name = testing::SweepPhotoNames()[0];
  const auto photo = LoadPhoto(name);
  if (photo == nullptr) GTEST_SKIP() << testing::PhotoMissing(name);
  for (const char* cfa : {"rggb", "gbrg", "xtrans"}) {
    std::vector<double> exact;
    std::vector<std::vector<double>> sampled(2);
    const int steps[] = {2, 4};
    for (std::uint64_t seed = 1; seed <= 4; ++seed) {
      const PhotoPair pair = RenderPhotoPair(photo, cfa, seed);
      exact.push_back(RawGain(pair.gt, pair.noisy, pair.overlap, 1));
      // The pair's own sample (SampleOf: 0.73 M of its 2.1 M pixels) is
      // every 2nd band.
      EXPECT_EQ(RawGain(pair.gt, pair.noisy, pair.overlap),
                RawGain(pair.gt, pair.noisy, pair.overlap, 2));
      for (int s = 0; s < 2; ++s) {
        sampled[s].push_back(
            RawGain(pair.gt, pair.noisy, pair.overlap, steps[s]));
      }
    }
    double mean = 0;
    for (double g : exact) mean += g / exact.size();
    double var = 0;
    for (double g : exact) var += (g - mean) * (g - mean) / (exact.size() - 1);
    const double sigma = std::sqrt(var);
    for (int s = 0; s < 2; ++s) {
      double worst = 0, worst_truth = 0;
      for (std::size_t k = 0; k < exact.size(); ++k) {
        worst = std::max(worst, std::abs(sampled[s][k] - exact[k]));
        worst_truth = std::max(worst_truth, std::abs(sampled[s][k] - 1.3));
      }
      std::printf(
          "%s step %d: exact gain %.6f (truth 1.3, sd over seeds %.2e), "
          "largest |sampled - exact| %.2e (%.1f sd, %.4f %%), |sampled - "
          "truth| %.4f %%\n",
          cfa, steps[s], mean, sigma, worst, worst / sigma, 100 * worst / mean,
          100 * worst_truth / 1.3);
      EXPECT_LE(worst, 4 * std::sqrt(steps[s]) * sigma) << cfa << steps[s];
      EXPECT_LE(worst, 1e-3 * mean) << cfa << " step " << steps[s];
      EXPECT_LE(worst_truth, 2e-3 * 1.3) << cfa << " step " << steps[s];
    }
  }
}

// The reported loss is PairLoss: the refinement's block sums at the shift
// it keeps, bit for bit, and within 0.5 % of the loss over every row
// (GainMatchedLoss) on an overlap that is sampled (5 MP: row pairs 4
// apart), within rounding on one that is not.
TEST(RowSampleTest, ReportedLossIsTheRefinementsAndNearEveryRows) {
  const std::string name = testing::SweepPhotoNames()[0];
  const auto photo = LoadPhoto(name);
  if (photo == nullptr) GTEST_SKIP() << testing::PhotoMissing(name);
  for (const char* cfa : {"rggb", "xtrans"}) {
    const PhotoPair pair = RenderPhotoPair(photo, cfa, 1, 2880, 1800);
    const double gain = RawGain(pair.gt, pair.noisy, pair.overlap);
    const RefineResult refined =
        RefineShift(pair.gt, pair.noisy, 5, -3, gain, 128, 128);
    ASSERT_EQ(refined.dy, 5);
    ASSERT_EQ(refined.dx, -3);
    const double loss = PairLoss(pair.gt, pair.noisy, pair.overlap, gain);
    EXPECT_EQ(refined.loss, loss) << cfa;
    ASSERT_GT(RefineSamplingOf(pair.overlap).row_step, 1);
    const double every_row =
        GainMatchedLoss(pair.gt, pair.noisy, pair.overlap, gain);
    std::printf("%s: loss %.6f, every row %.6f (%.4f %%)\n", cfa, loss,
                every_row, 100 * (loss / every_row - 1));
    EXPECT_NEAR(loss, every_row, 5e-3 * every_row) << cfa;
    // A small overlap: every row, only the order of the sums differs.
    const Overlap small{0, 0, 0, 0, 300, 400};
    ASSERT_EQ(RefineSamplingOf(small).row_step, 1);
    const double small_loss = PairLoss(pair.gt, pair.noisy, small, gain);
    const double small_every =
        GainMatchedLoss(pair.gt, pair.noisy, small, gain);
    EXPECT_NEAR(small_loss, small_every, 1e-6 * small_every) << cfa;
  }
}

// A 3 MP pair (2118 x 1416, the frame of `align_bench --scene 3`) is
// refined on row pairs 7 apart (half of SampleOf's, since issue 17's
// eleventh round; 4 apart before). Known truth: on a real
// photograph at the most extreme noise, with a moved object and clipping,
// Bayer and X-Trans, the sampled refinement started at the true shift
// keeps it and started at any of its 8 neighbours moves to it, as the
// refinement over every row does; the loss it reports is within 1 % of
// every row's, the gain within 0.2 % of the truth; and the whole search
// finds the true shift.
TEST(RowSampleTest, SampledRefinementOfAThreeMpPairFindsTheTrueShift) {
  const std::string name = testing::SweepPhotoNames()[0];
  const auto photo = LoadPhoto(name);
  if (photo == nullptr) GTEST_SKIP() << testing::PhotoMissing(name);
  for (const char* cfa : {"rggb", "xtrans"}) {
    SCOPED_TRACE(cfa);
    const PhotoPair pair = RenderPhotoPair(photo, cfa, 2, 2118, 1416);
    ASSERT_EQ(RefineSamplingOf(pair.overlap).row_step, 7);
    const double gain = RawGain(pair.gt, pair.noisy, pair.overlap);
    EXPECT_NEAR(gain, 1.3, 2e-3 * 1.3);
    for (int ey = -1; ey <= 1; ++ey) {
      for (int ex = -1; ex <= 1; ++ex) {
        const RefineResult refined =
            RefineShift(pair.gt, pair.noisy, 5 + ey, -3 + ex, gain, 128, 128);
        EXPECT_EQ(refined.dy, 5) << "from " << 5 + ey << "," << -3 + ex;
        EXPECT_EQ(refined.dx, -3) << "from " << 5 + ey << "," << -3 + ex;
      }
    }
    const double loss = PairLoss(pair.gt, pair.noisy, pair.overlap, gain);
    const double every_row =
        GainMatchedLoss(pair.gt, pair.noisy, pair.overlap, gain);
    std::printf(
        "%s 3 MP: gain %.6f (truth 1.3), loss %.6f, every row %.6f "
        "(%.4f %%)\n",
        cfa, gain, loss, every_row, 100 * (loss / every_row - 1));
    EXPECT_NEAR(loss, every_row, 1e-2 * every_row);
    // The whole search on that pair (coarse stride 4 on both CFAs, fine
    // radius 2): the true shift.
    const auto aligned = testing::AlignPair(pair.gt, pair.noisy);
    ASSERT_TRUE(aligned.ok()) << aligned.status().ToString();
    EXPECT_EQ(aligned->dy, 5);
    EXPECT_EQ(aligned->dx, -3);
    EXPECT_NEAR(aligned->raw_gain, 1.3, 2e-3 * 1.3);
  }
}

// On a 24 MP frame (sampled: row pairs 25 apart, a million pixels) the
// balance is 1 / the mean of each colour's unclipped pixels over every
// row, within 0.1 %: a smooth field with colour casts, noise and 1 %
// clipped pixels.
TEST(RowSampleTest, SampledBalanceIsTheWholeFramesMean) {
  for (const char* cfa : {"rggb", "xtrans"}) {
    RawImage image;
    image.cfa = *CfaPattern::FromName(cfa);
    image.meta.overexposure_lb = 0.9f;
    image.pixels = Plane<float>(6000, 4000);
    const float cast[3] = {0.35f, 0.6f, 0.25f};
    double sum[3] = {}, count[3] = {};
    std::uint32_t state = 12345;
    for (int y = 0; y < image.height(); ++y) {
      float* row = image.pixels.row(y);
      for (int x = 0; x < image.width(); ++x) {
        state = state * 1664525u + 1013904223u;
        const float noise = static_cast<float>(state >> 8) / (1 << 24) - 0.5f;
        const int c = static_cast<int>(image.cfa.color_at(y, x));
        float v = cast[c] * (0.6f + 0.4f * std::sin(x * 0.0021f) *
                                        std::cos(y * 0.0017f)) +
                  0.05f * noise;
        if ((state >> 4) % 100 == 0) v = 1.0f;  // clipped
        row[x] = v;
        if (v < image.meta.overexposure_lb) {
          sum[c] += v;
          ++count[c];
        }
      }
    }
    const std::array<float, 3> balance = ChannelBalance(image);
    for (int c = 0; c < 3; ++c) {
      const double want = count[c] / sum[c];
      EXPECT_NEAR(balance[c], want, 1e-3 * want) << cfa << " colour " << c;
    }
  }
}

}  // namespace
}  // namespace dsb
