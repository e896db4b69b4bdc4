#include "synth/render.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>

namespace dsb {
namespace {

SceneSpec SmallSpec(const CfaPattern& cfa, double clipped = 0.0) {
  SceneSpec spec;
  spec.width = 240;
  spec.height = 180;
  spec.cfa = cfa;
  spec.seed = 7;
  spec.max_shift = 40;
  spec.clipped_fraction = clipped;
  return spec;
}

double Mean(const RawImage& image) {
  double sum = 0;
  for (int y = 0; y < image.height(); ++y) {
    for (int x = 0; x < image.width(); ++x) sum += image.pixels.at(y, x);
  }
  return sum / image.pixels.pixel_count();
}

bool SamePixels(const RawImage& a, const RawImage& b) {
  return a.width() == b.width() && a.height() == b.height() &&
         std::memcmp(a.pixels.data(), b.pixels.data(), a.pixels.byte_size()) ==
             0;
}

class RenderCfaTest : public ::testing::TestWithParam<const char*> {};

TEST_P(RenderCfaTest, ShiftConventionHoldsExactlyOnNoiselessRenders) {
  const CfaPattern cfa = *CfaPattern::FromName(GetParam());
  SyntheticScene scene(SmallSpec(cfa));
  const RawImage gt = scene.RenderGt(kNoiseless);
  // Shifts that keep the CFA phase compare pixel to pixel with the GT;
  // the others are checked against the content sampling.
  const int p = cfa.period();
  const std::vector<std::pair<int, int>> shifts = {
      {0, 0}, {p, -2 * p}, {-3 * p, p}, {1, 0}, {0, -1}, {-7, 5}, {13, -40}};
  for (auto [dy, dx] : shifts) {
    CaptureSpec spec;
    spec.dy = dy;
    spec.dx = dx;
    spec.noise_level = kNoiseless;
    const RawImage noisy = scene.RenderCapture(spec);
    ASSERT_EQ(noisy.cfa, cfa);
    int compared = 0;
    for (int y = 0; y < noisy.height(); ++y) {
      for (int x = 0; x < noisy.width(); ++x) {
        const CfaColor c = cfa.color_at(y, x);
        const float expected =
            std::min(scene.ContentAt(y + dy, x + dx, c), 1.0f);
        ASSERT_EQ(noisy.pixels.at(y, x), expected)
            << "dy=" << dy << " dx=" << dx << " at " << y << "," << x;
        const int gy = y + dy, gx = x + dx;
        if (gy >= 0 && gy < gt.height() && gx >= 0 && gx < gt.width() &&
            cfa.color_at(gy, gx) == c) {
          ASSERT_EQ(gt.pixels.at(gy, gx), noisy.pixels.at(y, x))
              << "dy=" << dy << " dx=" << dx << " at " << y << "," << x;
          ++compared;
        }
      }
    }
    if (dy % p == 0 && dx % p == 0) {
      EXPECT_GT(
          compared,
          (noisy.height() - std::abs(dy)) * (noisy.width() - std::abs(dx)) - 1);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllPatterns, RenderCfaTest,
                         ::testing::Values("rggb", "bggr", "grbg", "gbrg",
                                           "xtrans"));

TEST(RenderTest, ContentLooksLikeAnExposedPhoto) {
  SyntheticScene scene(SmallSpec(CfaPattern()));
  const RawImage gt = scene.RenderGt(kNoiseless);
  const double mean = Mean(gt);
  EXPECT_GT(mean, 0.1);
  EXPECT_LT(mean, 0.35);
  // Not flat, not white noise: neighbours correlate strongly, and the
  // three colours differ.
  double sum[3] = {0, 0, 0};
  int count[3] = {0, 0, 0};
  double var = 0, diff = 0;
  for (int y = 0; y + 2 < gt.height(); ++y) {
    for (int x = 0; x + 2 < gt.width(); ++x) {
      const float v = gt.pixels.at(y, x);
      const int c = static_cast<int>(gt.cfa.color_at(y, x));
      sum[c] += v;
      ++count[c];
      var += (v - mean) * (v - mean);
      const float d = v - gt.pixels.at(y, x + 2);  // same colour
      diff += d * d;
    }
  }
  std::printf("mean %.3f, lag-2 correlation %.3f\n", mean,
              1 - diff / (2 * var));
  EXPECT_LT(diff, 0.8 * var) << "neighbours should be correlated";
  EXPECT_GT(diff, 0.0);
  const double r = sum[0] / count[0], g = sum[1] / count[1],
               b = sum[2] / count[2];
  // Raw data is not white balanced: green reads highest.
  EXPECT_GT(g, 1.2 * r);
  EXPECT_GT(g, 1.1 * b);
  EXPECT_EQ(scene.spec().max_shift, 40);
  EXPECT_EQ(gt.meta.overexposure_lb, 1.0f);
}

TEST(RenderTest, GainScalesTheMean) {
  SyntheticScene scene(SmallSpec(CfaPattern()));
  const RawImage gt = scene.RenderGt(kNoiseless);
  for (double gain : {0.5, 1.0, 2.0}) {
    CaptureSpec spec;
    spec.gain = gain;
    spec.noise_level = 2;
    const RawImage capture = scene.RenderCapture(spec);
    // Gains below 1 brighten towards saturation, which caps some pixels:
    // compare where neither is saturated.
    double sum_gt = 0, sum_capture = 0;
    for (int y = 0; y < gt.height(); ++y) {
      for (int x = 0; x < gt.width(); ++x) {
        if (gt.pixels.at(y, x) >= 0.9f || capture.pixels.at(y, x) >= 0.9f) {
          continue;
        }
        sum_gt += gt.pixels.at(y, x);
        sum_capture += capture.pixels.at(y, x);
      }
    }
    EXPECT_NEAR(sum_gt / sum_capture, gain, 0.02 * gain) << "gain " << gain;
  }
}

TEST(RenderTest, NoiseMatchesTheSnrTable) {
  SyntheticScene scene(SmallSpec(CfaPattern()));
  CaptureSpec clean_spec;
  clean_spec.noise_level = kNoiseless;
  const RawImage clean = scene.RenderCapture(clean_spec);
  EXPECT_EQ(IsoForNoiseLevel(0), 100);
  EXPECT_EQ(IsoForNoiseLevel(4), 51200);
  EXPECT_GE(SnrAtMidGrey(0), 100);
  EXPECT_GE(SnrAtMidGrey(4), 2);
  EXPECT_LE(SnrAtMidGrey(4), 3);
  for (int level = 0; level < kNoiseLevelCount; ++level) {
    EXPECT_NEAR(kMidGrey / NoiseSigma(level, kMidGrey), SnrAtMidGrey(level),
                1e-9);
    if (level > 0) {
      EXPECT_LT(SnrAtMidGrey(level), SnrAtMidGrey(level - 1));
    }
    CaptureSpec spec;
    spec.noise_level = level;
    const RawImage noisy = scene.RenderCapture(spec);
    // Normalised residuals: unit variance, zero mean, where not clipped.
    double sum = 0, sum2 = 0;
    int n = 0;
    for (int y = 0; y < noisy.height(); ++y) {
      for (int x = 0; x < noisy.width(); ++x) {
        const float s = clean.pixels.at(y, x);
        const float v = noisy.pixels.at(y, x);
        if (s > 0.9f || v >= 1.0f) continue;
        const double z = (v - s) / NoiseSigma(level, s);
        sum += z;
        sum2 += z * z;
        ++n;
      }
    }
    const double mean = sum / n;
    const double sd = std::sqrt(sum2 / n - mean * mean);
    EXPECT_NEAR(mean, 0.0, 0.03) << "level " << level;
    EXPECT_NEAR(sd, 1.0, 0.05) << "level " << level;
  }
}

TEST(RenderTest, DeterministicPerSeed) {
  SyntheticScene a(SmallSpec(CfaPattern()));
  SyntheticScene b(SmallSpec(CfaPattern()));
  CaptureSpec spec;
  spec.dy = 3;
  spec.dx = -5;
  spec.noise_level = 3;
  spec.noise_seed = 11;
  EXPECT_TRUE(SamePixels(a.RenderCapture(spec), b.RenderCapture(spec)));
  EXPECT_TRUE(SamePixels(a.RenderGt(0), b.RenderGt(0)));
  CaptureSpec other = spec;
  other.noise_seed = 12;
  EXPECT_FALSE(SamePixels(a.RenderCapture(spec), a.RenderCapture(other)));
  SceneSpec different = SmallSpec(CfaPattern());
  different.seed = 8;
  SyntheticScene c(different);
  EXPECT_FALSE(SamePixels(a.RenderGt(kNoiseless), c.RenderGt(kNoiseless)));
  // A GT and an unshifted capture with the same seed do not share noise.
  CaptureSpec same;
  same.noise_level = 0;
  EXPECT_FALSE(SamePixels(a.RenderGt(0), a.RenderCapture(same)));
}

TEST(RenderTest, MovedObjectDiffersButKeepsBrightness) {
  SyntheticScene scene(SmallSpec(CfaPattern()));
  CaptureSpec spec;
  spec.noise_level = kNoiseless;
  spec.dy = 2;
  spec.dx = -3;
  const RawImage plain = scene.RenderCapture(spec);
  spec.moved_object = Box{40, 60, 50, 70};
  const RawImage moved = scene.RenderCapture(spec);
  double in_plain = 0, in_moved = 0, abs_diff = 0;
  int n = 0;
  for (int y = 0; y < plain.height(); ++y) {
    for (int x = 0; x < plain.width(); ++x) {
      const float a = plain.pixels.at(y, x), b = moved.pixels.at(y, x);
      if (!spec.moved_object->Contains(y, x)) {
        ASSERT_EQ(a, b) << "outside the box at " << y << "," << x;
        continue;
      }
      in_plain += a;
      in_moved += b;
      abs_diff += std::abs(a - b);
      ++n;
    }
  }
  in_plain /= n;
  in_moved /= n;
  EXPECT_NEAR(in_moved / in_plain, 1.0, 0.2);
  EXPECT_GT(abs_diff / n, 0.3 * in_plain) << "content should differ";
}

TEST(RenderTest, ClippedFractionIsAsRequested) {
  for (double fraction : {0.0, 0.02, 0.1}) {
    SyntheticScene scene(SmallSpec(CfaPattern(), fraction));
    const RawImage gt = scene.RenderGt(0);
    int clipped = 0, at_white = 0;
    for (int y = 0; y < gt.height(); ++y) {
      for (int x = 0; x < gt.width(); ++x) {
        clipped += scene.GtClippedAt(y, x);
        if (gt.pixels.at(y, x) >= gt.meta.overexposure_lb) {
          ++at_white;
          EXPECT_TRUE(scene.GtClippedAt(y, x)) << y << "," << x;
        }
      }
    }
    const double area = static_cast<double>(gt.width()) * gt.height();
    EXPECT_NEAR(clipped / area, fraction, 0.002 + 0.02 * fraction);
    EXPECT_EQ(at_white, clipped);
    // A darker capture (gain 2) saturates only where the light is twice
    // the white level.
    CaptureSpec darker;
    darker.gain = 2.0;
    const RawImage capture = scene.RenderCapture(darker);
    int capture_clipped = 0;
    for (int y = 0; y < gt.height(); ++y) {
      for (int x = 0; x < gt.width(); ++x) {
        capture_clipped += capture.pixels.at(y, x) >= 1.0f;
      }
    }
    EXPECT_LE(capture_clipped, clipped);
  }
}

TEST(RenderTest, ShiftsBeyondTheMarginRepeatTheEdge) {
  SyntheticScene scene(SmallSpec(CfaPattern()));
  CaptureSpec spec;
  spec.dy = 500;
  spec.dx = -500;
  spec.noise_level = kNoiseless;
  const RawImage capture = scene.RenderCapture(spec);
  EXPECT_EQ(capture.width(), 240);
  EXPECT_EQ(scene.ContentAt(1000, 0, CfaColor::kRed),
            scene.ContentAt(180 + 39, 0, CfaColor::kRed));
}

}  // namespace
}  // namespace dsb
