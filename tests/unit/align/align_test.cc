// Alignment accuracy on generated scenes with known truth (docs/contract.md
// §2): every CFA, odd/even/negative/large shifts, every noise level including
// the extreme one, gains 0.5-2, moved objects and clipped highlights. Integer
// shifts must be exact, every time. Also the overlap geometry, the colour
// matching that loss and masks rely on, a brute-force cross-check and the
// per-pair error slots.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>

#include "align/colour_match.h"
#include "align/correlator.h"
#include "synth/render.h"

namespace dsb {
namespace {

Result<Alignment> AlignOne(SceneCorrelator& correlator, const RawImage& noisy) {
  const RawImage* batch[] = {&noisy};
  std::vector<Result<Alignment>> results = correlator.Align(batch);
  if (results.size() != 1) return Status::Internal("not one result");
  return std::move(results[0]);
}

struct MatrixCase {
  const char* cfa;
  bool clipped;
};

class AccuracyMatrixTest : public ::testing::TestWithParam<MatrixCase> {};

// Per scene: every shift x every noise level (55 pairs); the gain cycles
// with shift + level and the moved object with shift + 2 * level, so every
// shift and every level meets every gain and both moved/static (a pairwise
// design). Over the six scenes every CFA meets every shift, level, gain and
// moved object, and every CFA kind meets clipped highlights.
TEST_P(AccuracyMatrixTest, ExactIntegerShiftsAcrossNoiseGainAndMovedObjects) {
  const MatrixCase param = GetParam();
  SceneSpec spec;
  spec.width = 480;
  spec.height = 360;
  spec.cfa = *CfaPattern::FromName(param.cfa);
  spec.seed = 1000 + static_cast<int>(spec.cfa.period()) * 7 + param.clipped;
  spec.clipped_fraction = param.clipped ? 0.08 : 0.0;
  SyntheticScene scene(spec);
  const RawImage gt = scene.RenderGt();

  AlignParams params;
  params.max_shift = 127;
  auto correlator = MakeCorrelator(Device::kCpu, params);
  ASSERT_TRUE(correlator.ok());
  ASSERT_TRUE((*correlator)->SetReference(gt).ok());

  const int shifts[][2] = {{0, 0},   {1, 0},    {0, -1},   {-1, 1},
                           {3, -2},  {-6, 5},   {13, 36},  {-37, -64},
                           {127, 0}, {0, -127}, {-90, 101}};
  const double gains[] = {0.5, 1.0, 2.0};
  int cases = 0;
  int moved = 0;
  for (int level = 0; level < kNoiseLevelCount; ++level) {
    for (int s = 0; s < static_cast<int>(std::size(shifts)); ++s) {
      CaptureSpec capture;
      capture.dy = shifts[s][0];
      capture.dx = shifts[s][1];
      capture.gain = gains[(s + level) % 3];
      capture.noise_level = level;
      capture.noise_seed = 17 + cases;
      // A moved object of about 9% of the frame.
      if ((s + 2 * level) % 2 == 0) {
        capture.moved_object = Box{90, 120, 110, 140};
        ++moved;
      }
      const RawImage noisy = scene.RenderCapture(capture);
      SCOPED_TRACE(::testing::Message()
                   << param.cfa << " level " << level << " gain "
                   << capture.gain << " shift (" << capture.dy << ","
                   << capture.dx << ")"
                   << (capture.moved_object ? " moved" : ""));
      auto result = AlignOne(**correlator, noisy);
      ASSERT_TRUE(result.ok()) << result.status().ToString();
      EXPECT_EQ(result->dy, capture.dy);
      EXPECT_EQ(result->dx, capture.dx);
      EXPECT_NEAR(result->dy_subpx, capture.dy, 0.5);
      EXPECT_NEAR(result->dx_subpx, capture.dx, 0.5);
      EXPECT_NEAR(result->raw_gain, capture.gain, 0.05 * capture.gain);
      EXPECT_GT(result->confidence, 0.3);
      EXPECT_LE(result->confidence, 1.0 + 1e-9);
      EXPECT_TRUE(std::isfinite(result->loss));
      ++cases;
    }
  }
  EXPECT_EQ(cases, kNoiseLevelCount * 11);
  EXPECT_GT(moved, cases / 3);
}

INSTANTIATE_TEST_SUITE_P(
    AllCfas, AccuracyMatrixTest,
    ::testing::Values(MatrixCase{"rggb", false}, MatrixCase{"bggr", true},
                      MatrixCase{"grbg", false}, MatrixCase{"gbrg", true},
                      MatrixCase{"xtrans", false}, MatrixCase{"xtrans", true}),
    [](const auto& info) {
      return std::string(info.param.cfa) +
             (info.param.clipped ? "_clipped" : "");
    });

// The largest shift the search allows on a small image (half of each side)
// and a capture that is exactly the GT.
TEST(AccuracyTest, ExtremesOfTheSearchRange) {
  for (const char* cfa : {"rggb", "xtrans"}) {
    SceneSpec spec;
    spec.width = 256;
    spec.height = 192;
    spec.cfa = *CfaPattern::FromName(cfa);
    spec.seed = 5;
    SyntheticScene scene(spec);
    const RawImage gt = scene.RenderGt();
    auto correlator = MakeCorrelator(Device::kCpu, AlignParams());
    ASSERT_TRUE((*correlator)->SetReference(gt).ok());
    for (const auto& shift :
         {std::pair{-60, 97}, std::pair{61, -83}, std::pair{0, 0}}) {
      CaptureSpec capture;
      capture.dy = shift.first;
      capture.dx = shift.second;
      capture.noise_level = kNoiseLevelCount - 1;
      const RawImage noisy = scene.RenderCapture(capture);
      auto result = AlignOne(**correlator, noisy);
      ASSERT_TRUE(result.ok()) << result.status().ToString();
      EXPECT_EQ(result->dy, capture.dy) << cfa;
      EXPECT_EQ(result->dx, capture.dx) << cfa;
    }
    // The self-pair (RawNIND trains on it): shift 0, gain 1, loss 0.
    auto self = AlignOne(**correlator, gt);
    ASSERT_TRUE(self.ok());
    EXPECT_EQ(self->dy, 0);
    EXPECT_EQ(self->dx, 0);
    EXPECT_NEAR(self->raw_gain, 1.0, 1e-6);
    EXPECT_NEAR(self->loss, 0.0, 1e-7);
    EXPECT_GT(self->confidence, 0.999);
  }
}

// Noiseless captures of static content: the loss is what is left after
// shift and gain matching, i.e. nothing for shifts that keep the colours
// in place, and only the bilinear colour interpolation error otherwise.
// That error scales with the content's pixel-level detail: the generated
// scenes are far sharper than lens-limited photos (neighbouring pixels of
// one colour differ by ~30% of the mean level), so it is bounded here by
// the detail itself rather than by RawNIND's 0.035.
TEST(LossTest, SmallForStaticNoiselessPairs) {
  for (const char* cfa : {"grbg", "xtrans"}) {
    SceneSpec spec;
    spec.width = 320;
    spec.height = 240;
    spec.cfa = *CfaPattern::FromName(cfa);
    spec.seed = 9;
    SyntheticScene scene(spec);
    const RawImage gt = scene.RenderGt(kNoiseless);
    // Mean |difference| of same-colour pixels one period apart.
    const int period = spec.cfa.period();
    double detail = 0;
    for (int y = 0; y < gt.height(); ++y) {
      for (int x = 0; x + period < gt.width(); ++x) {
        detail += std::abs(gt.pixels.at(y, x) - gt.pixels.at(y, x + period));
      }
    }
    detail /= static_cast<double>(gt.height()) * (gt.width() - period);
    auto correlator = MakeCorrelator(Device::kCpu, AlignParams());
    ASSERT_TRUE((*correlator)->SetReference(gt).ok());
    for (const auto& shift : {std::pair{0, 0}, std::pair{6, -12},
                              std::pair{-3, 7}, std::pair{1, 0}}) {
      CaptureSpec capture;
      capture.dy = shift.first;
      capture.dx = shift.second;
      capture.gain = 1.5;
      capture.noise_level = kNoiseless;
      const RawImage noisy = scene.RenderCapture(capture);
      auto result = AlignOne(**correlator, noisy);
      ASSERT_TRUE(result.ok()) << result.status().ToString();
      SCOPED_TRACE(::testing::Message() << cfa << " shift (" << shift.first
                                        << "," << shift.second << ")");
      EXPECT_EQ(result->dy, capture.dy);
      EXPECT_EQ(result->dx, capture.dx);
      EXPECT_NEAR(result->raw_gain, 1.5, 0.01);
      EXPECT_TRUE(std::isfinite(result->loss));
      EXPECT_LT(result->loss, 0.6 * detail);
      // Colours line up exactly for shifts that are multiples of the
      // period: only float rounding is left.
      if (shift.first % period == 0 && shift.second % period == 0) {
        EXPECT_LT(result->loss, 1e-4);
      }
    }
  }
}

// Brute force: the colour-matched, gain-matched mean absolute difference
// over the overlap, evaluated for every shift in a small window, must be
// smallest at the true shift, and the correlator must report that shift
// and that loss.
TEST(BruteForceTest, CorrelatorAgreesWithExhaustiveSearch) {
  constexpr int kWindow = 6;
  int pair = 0;
  for (const char* cfa : {"rggb", "bggr", "grbg", "gbrg", "xtrans"}) {
    SceneSpec spec;
    spec.width = 192;
    spec.height = 160;
    spec.cfa = *CfaPattern::FromName(cfa);
    spec.seed = 77;
    SyntheticScene scene(spec);
    const RawImage gt = scene.RenderGt();
    AlignParams params;
    params.max_shift = kWindow;
    auto correlator = MakeCorrelator(Device::kCpu, params);
    ASSERT_TRUE((*correlator)->SetReference(gt).ok());
    for (const auto& shift :
         {std::pair{-3, 5}, std::pair{6, -6}, std::pair{1, 2}}) {
      CaptureSpec capture;
      capture.dy = shift.first;
      capture.dx = shift.second;
      capture.noise_level = 1 + pair % (kNoiseLevelCount - 1);
      capture.gain = 1.3;
      capture.noise_seed = 100 + pair++;
      const RawImage noisy = scene.RenderCapture(capture);

      double best_loss = std::numeric_limits<double>::max();
      int best_dy = 0, best_dx = 0;
      for (int dy = -kWindow; dy <= kWindow; ++dy) {
        for (int dx = -kWindow; dx <= kWindow; ++dx) {
          const Overlap overlap =
              ComputeOverlap(gt.height(), gt.width(), dy, dx);
          const double gain = RawGain(gt, noisy, overlap);
          const double loss = GainMatchedLoss(gt, noisy, overlap, gain);
          if (loss < best_loss) {
            best_loss = loss;
            best_dy = dy;
            best_dx = dx;
          }
        }
      }
      SCOPED_TRACE(::testing::Message()
                   << cfa << " level " << capture.noise_level << " shift ("
                   << shift.first << "," << shift.second << ")");
      auto result = AlignOne(**correlator, noisy);
      ASSERT_TRUE(result.ok()) << result.status().ToString();
      EXPECT_EQ(best_dy, capture.dy);
      EXPECT_EQ(best_dx, capture.dx);
      EXPECT_EQ(result->dy, best_dy);
      EXPECT_EQ(result->dx, best_dx);
      EXPECT_NEAR(result->loss, best_loss, 1e-6);
    }
  }
}

TEST(OverlapTest, SizedAsRawnindForEverySignAndParity) {
  const int h = 100, w = 80;
  for (int dy = -5; dy <= 5; ++dy) {
    for (int dx = -5; dx <= 5; ++dx) {
      const Overlap o = ComputeOverlap(h, w, dy, dx);
      EXPECT_EQ(o.height, h - std::abs(dy) - std::abs(dy) % 2);
      EXPECT_EQ(o.width, w - std::abs(dx) - std::abs(dx) % 2);
      EXPECT_EQ(o.height % 2, 0);
      EXPECT_EQ(o.width % 2, 0);
      // The same scene point: gt(y + dy, x + dx) == noisy(y, x).
      EXPECT_EQ(o.gt_y0 - o.noisy_y0, dy);
      EXPECT_EQ(o.gt_x0 - o.noisy_x0, dx);
      EXPECT_GE(o.gt_y0, 0);
      EXPECT_GE(o.noisy_y0, 0);
      EXPECT_GE(o.gt_x0, 0);
      EXPECT_GE(o.noisy_x0, 0);
      EXPECT_LE(o.gt_y0 + o.height, h);
      EXPECT_LE(o.noisy_y0 + o.height, h);
      EXPECT_LE(o.gt_x0 + o.width, w);
      EXPECT_LE(o.noisy_x0 + o.width, w);
      // Odd shifts drop one more row: the last when positive (both images
      // stop one row early), the first when negative (both start one row
      // late).
      if (dy > 0 && dy % 2) {
        EXPECT_EQ(o.noisy_y0, 0);
        EXPECT_EQ(o.gt_y0 + o.height, h - 1);
      }
      if (dy < 0 && -dy % 2) {
        EXPECT_EQ(o.gt_y0, 1);
        EXPECT_EQ(o.noisy_y0 + o.height, h);
      }
      if (dx > 0 && dx % 2) {
        EXPECT_EQ(o.noisy_x0, 0);
        EXPECT_EQ(o.gt_x0 + o.width, w - 1);
      }
      if (dx < 0 && -dx % 2) {
        EXPECT_EQ(o.gt_x0, 1);
        EXPECT_EQ(o.noisy_x0 + o.width, w);
      }
      if (dy % 2 == 0) {
        EXPECT_EQ(o.gt_y0 + o.height == h, dy >= 0);
      }
    }
  }
  // Shifts as large as the image leave nothing.
  EXPECT_TRUE(ComputeOverlap(10, 10, 10, 0).empty());
  EXPECT_TRUE(ComputeOverlap(10, 10, 0, -11).empty());
}

// A mosaic of flat colours: R, G and B levels at every pixel of the
// pattern.
RawImage FlatColours(const CfaPattern& cfa, int width, int height) {
  RawImage image;
  image.cfa = cfa;
  image.pixels = Plane<float>(width, height);
  const float level[] = {0.2f, 0.5f, 0.8f};
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      image.pixels.at(y, x) = level[static_cast<int>(cfa.color_at(y, x))];
    }
  }
  return image;
}

TEST(ColourMatchTest, FlatColoursComeOutInTheNoisyPixelsColours) {
  // Whatever the shift and pattern, the GT estimate at each noisy pixel
  // must be that pixel's colour, up to the image edges.
  const float level[] = {0.2f, 0.5f, 0.8f};
  for (const char* name : {"rggb", "bggr", "grbg", "gbrg", "xtrans"}) {
    const CfaPattern cfa = *CfaPattern::FromName(name);
    const RawImage gt = FlatColours(cfa, 30, 24);
    for (int dy : {-7, -1, 0, 1, 2, 5}) {
      for (int dx : {-3, 0, 1, 4, 9}) {
        const Overlap o = ComputeOverlap(24, 30, dy, dx);
        Plane<float> out(o.width, o.height);
        GtInNoisyColours(gt, o, out.view());
        for (int i = 0; i < o.height; ++i) {
          for (int j = 0; j < o.width; ++j) {
            const CfaColor c = cfa.color_at(o.noisy_y0 + i, o.noisy_x0 + j);
            ASSERT_FLOAT_EQ(out.at(i, j), level[static_cast<int>(c)])
                << name << " " << dy << "," << dx << " at " << i << "," << j;
          }
        }
      }
    }
  }
}

TEST(ColourMatchTest, BilinearIsExactOnLinearRampsInsideBayer) {
  // Each colour a different plane a + b*y + c*x: the mean of a pixel's
  // nearest same-colour neighbours (2 or 4, placed symmetrically on Bayer)
  // reproduces the plane exactly away from the border.
  for (const char* name : {"rggb", "bggr", "grbg", "gbrg"}) {
    const CfaPattern cfa = *CfaPattern::FromName(name);
    auto plane = [](CfaColor c, double y, double x) {
      const int k = static_cast<int>(c);
      return 0.1 + 0.05 * k + (0.002 + 0.001 * k) * y + (0.003 - 0.001 * k) * x;
    };
    RawImage gt;
    gt.cfa = cfa;
    gt.pixels = Plane<float>(40, 32);
    for (int y = 0; y < 32; ++y) {
      for (int x = 0; x < 40; ++x) {
        gt.pixels.at(y, x) =
            static_cast<float>(plane(cfa.color_at(y, x), y, x));
      }
    }
    for (int dy : {-1, 0, 1}) {
      for (int dx : {-1, 0, 1}) {
        const Overlap o = ComputeOverlap(32, 40, dy, dx);
        Plane<float> out(o.width, o.height);
        GtInNoisyColours(gt, o, out.view());
        for (int i = 2; i < o.height - 2; ++i) {
          for (int j = 2; j < o.width - 2; ++j) {
            const CfaColor c = cfa.color_at(o.noisy_y0 + i, o.noisy_x0 + j);
            EXPECT_NEAR(out.at(i, j), plane(c, o.gt_y0 + i, o.gt_x0 + j), 1e-5)
                << name << " " << dy << "," << dx << " at " << i << "," << j;
          }
        }
      }
    }
  }
}

// Random content, every Bayer order, odd and even sizes and shifts of
// both signs and parities (so rows start at either column phase and the
// vectorised inner run meets every edge case): each output is the GT pixel
// itself where the colours match, else the mean of the nearest pixels of
// the wanted colour inside the image, direct neighbours before diagonals,
// computed here pixel by pixel.
TEST(ColourMatchTest, BayerMatchesAPerPixelReferenceEverywhere) {
  for (const char* name : {"rggb", "bggr", "grbg", "gbrg"}) {
    const CfaPattern cfa = *CfaPattern::FromName(name);
    for (const auto& size : {std::pair{23, 37}, std::pair{32, 40}}) {
      const int h = size.first, w = size.second;
      RawImage gt;
      gt.cfa = cfa;
      gt.pixels = Plane<float>(w, h);
      std::uint32_t state = 12345;
      for (int y = 0; y < h; ++y) {
        for (int x = 0; x < w; ++x) {
          state = state * 1664525u + 1013904223u;
          gt.pixels.at(y, x) = static_cast<float>(state >> 8) / (1 << 24);
        }
      }
      // NaN where every chosen neighbour lies outside the image (the
      // matcher then takes the nearest ones inside; not compared here).
      auto reference = [&](int gy, int gx, CfaColor wanted) {
        if (cfa.color_at(gy, gx) == wanted) return gt.pixels.at(gy, gx);
        for (bool straight : {true, false}) {
          double sum = 0;
          int chosen = 0, used = 0;
          for (int ky = -1; ky <= 1; ++ky) {
            for (int kx = -1; kx <= 1; ++kx) {
              if ((ky == 0 && kx == 0) || (ky == 0 || kx == 0) != straight) {
                continue;
              }
              const int y = gy + ky, x = gx + kx;
              // Chosen on the pattern; those outside the image drop out.
              if (cfa.color_at(y, x) != wanted) continue;
              ++chosen;
              if (y < 0 || y >= h || x < 0 || x >= w) continue;
              sum += gt.pixels.at(y, x);
              ++used;
            }
          }
          if (chosen == 0) continue;
          return used > 0 ? static_cast<float>(sum / used)
                          : std::numeric_limits<float>::quiet_NaN();
        }
        return std::numeric_limits<float>::quiet_NaN();
      };
      for (int dy : {-3, -2, 0, 1, 4}) {
        for (int dx : {-5, -1, 0, 1, 2, 7}) {
          const Overlap o = ComputeOverlap(h, w, dy, dx);
          Plane<float> out(o.width, o.height);
          GtInNoisyColours(gt, o, out.view());
          for (int i = 0; i < o.height; ++i) {
            for (int j = 0; j < o.width; ++j) {
              const float want =
                  reference(o.gt_y0 + i, o.gt_x0 + j,
                            cfa.color_at(o.noisy_y0 + i, o.noisy_x0 + j));
              if (std::isnan(want)) continue;
              ASSERT_NEAR(out.at(i, j), want, 1e-6)
                  << name << " " << h << "x" << w << " shift " << dy << ","
                  << dx << " at " << i << "," << j;
            }
          }
        }
      }
    }
  }
}

TEST(ColourMatchTest, GainAndLossOnAKnownPair) {
  // noisy = gt / 2 exactly, same colours (even shift): gain 2, loss 0.
  const CfaPattern cfa = CfaPattern::Bayer(BayerOrder::kGBRG);
  RawImage gt;
  gt.cfa = cfa;
  gt.pixels = Plane<float>(64, 48);
  for (int y = 0; y < 48; ++y) {
    for (int x = 0; x < 64; ++x) {
      gt.pixels.at(y, x) = 0.1f + 0.4f * ((x * 7 + y * 13) % 17) / 17.0f;
    }
  }
  RawImage noisy = gt;
  const Overlap o = ComputeOverlap(48, 64, 2, -4);
  for (int y = 0; y < 48; ++y) {
    for (int x = 0; x < 64; ++x) {
      const int gy = y + 2, gx = x - 4;
      noisy.pixels.at(y, x) =
          (gy < 48 && gx >= 0) ? gt.pixels.at(gy, gx) / 2 : 0.3f;
    }
  }
  const double gain = RawGain(gt, noisy, o);
  EXPECT_NEAR(gain, 2.0, 1e-5);
  EXPECT_NEAR(GainMatchedLoss(gt, noisy, o, gain), 0.0, 1e-6);
  // A gain mismatch shows up as a loss of |1 - 1.5/2| * mean(gt).
  double mean = 0;
  for (int i = 0; i < o.height; ++i) {
    for (int j = 0; j < o.width; ++j) {
      mean += gt.pixels.at(o.gt_y0 + i, o.gt_x0 + j);
    }
  }
  mean /= static_cast<double>(o.height) * o.width;
  EXPECT_NEAR(GainMatchedLoss(gt, noisy, o, 1.5), 0.25 * mean, 1e-5);
}

TEST(CorrelatorErrorsTest, SizeMismatchFailsThatPairOnly) {
  SceneSpec spec;
  spec.width = 256;
  spec.height = 192;
  SyntheticScene scene(spec);
  const RawImage gt = scene.RenderGt();
  RawImage small = gt;
  small.pixels = Plane<float>(200, 192);
  small.path = "small.dng";
  RawImage empty;
  empty.path = "empty.dng";
  RawImage other_cfa = gt;
  other_cfa.cfa = CfaPattern::StandardXTrans();
  other_cfa.path = "fuji.raf";
  CaptureSpec capture;
  capture.dy = 2;
  const RawImage good = scene.RenderCapture(capture);
  auto correlator = MakeCorrelator(Device::kCpu, AlignParams());
  ASSERT_TRUE((*correlator)->SetReference(gt).ok());
  const RawImage* batch[] = {&small, &good, &empty, &other_cfa};
  auto results = (*correlator)->Align(batch);
  ASSERT_EQ(results.size(), 4u);
  ASSERT_FALSE(results[0].ok());
  EXPECT_NE(results[0].status().message().find("small.dng"), std::string::npos);
  EXPECT_NE(results[0].status().message().find("200x192"), std::string::npos);
  ASSERT_TRUE(results[1].ok()) << results[1].status().ToString();
  EXPECT_EQ(results[1]->dy, 2);
  EXPECT_EQ(results[1]->dx, 0);
  ASSERT_FALSE(results[2].ok());
  EXPECT_NE(results[2].status().message().find("empty.dng"), std::string::npos);
  ASSERT_FALSE(results[3].ok());
  EXPECT_NE(results[3].status().message().find("CFA"), std::string::npos);
}

TEST(CorrelatorErrorsTest, TinyOrEmptyReferenceAndNoReference) {
  auto correlator = MakeCorrelator(Device::kCpu, AlignParams());
  ASSERT_TRUE(correlator.ok());
  RawImage tiny;
  tiny.pixels = Plane<float>(8, 8, 0.5f);
  tiny.path = "tiny.dng";
  // Before any reference: an error per pair, no crash.
  const RawImage* batch[] = {&tiny};
  auto results = (*correlator)->Align(batch);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_FALSE(results[0].ok());

  Status status = (*correlator)->SetReference(tiny);
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.message().find("tiny.dng"), std::string::npos);
  RawImage empty;
  empty.path = "empty.dng";
  EXPECT_FALSE((*correlator)->SetReference(empty).ok());
  // A failed SetReference leaves no stale reference behind.
  results = (*correlator)->Align(batch);
  EXPECT_FALSE(results[0].ok());
}

TEST(CorrelatorFactoryTest, GpuWithoutCudaAndFingerprint) {
  if (!CudaCompiledIn()) {
    auto gpu = MakeCorrelator(Device::kGpu, AlignParams());
    ASSERT_FALSE(gpu.ok());
    EXPECT_NE(gpu.status().message().find("without CUDA"), std::string::npos);
  }
  std::string notice;
  auto cpu = MakeCorrelator(Device::kCpu, AlignParams(), &notice);
  ASSERT_TRUE(cpu.ok());
  EXPECT_NE((*cpu)->name().find("cpu"), std::string::npos);
  AlignParams a, b;
  b.threads = 7;
  b.gpu_memory_bytes = 1 << 20;
  EXPECT_EQ(a.Fingerprint(), b.Fingerprint());
  b.max_shift = 64;
  EXPECT_NE(a.Fingerprint(), b.Fingerprint());
}

TEST(CorrelatorFactoryTest, DeviceIsChosenOnceWithOneNotice) {
  std::string notice;
  auto cpu = ChooseDevice(Device::kCpu, AlignParams(), &notice);
  ASSERT_TRUE(cpu.ok());
  EXPECT_EQ(*cpu, Device::kCpu);
  EXPECT_TRUE(notice.empty());  // asked for the CPU: nothing to explain
  auto chosen = ChooseDevice(Device::kAuto, AlignParams(), &notice);
  ASSERT_TRUE(chosen.ok()) << chosen.status().ToString();
  if (!CudaCompiledIn()) {
    EXPECT_EQ(*chosen, Device::kCpu);
    EXPECT_TRUE(notice.empty());
    EXPECT_FALSE(ChooseDevice(Device::kGpu, AlignParams()).ok());
  } else if (*chosen == Device::kCpu) {
    EXPECT_NE(notice.find("aligning on the CPU"), std::string::npos) << notice;
    EXPECT_FALSE(ChooseDevice(Device::kGpu, AlignParams()).ok());
  } else {
    EXPECT_NE(notice.find("aligning on the GPU"), std::string::npos) << notice;
  }
  // A correlator of the chosen device needs no second choice.
  auto made = MakeCorrelator(*chosen, AlignParams());
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  EXPECT_NE((*made)->name().find(*chosen == Device::kCpu ? "cpu" : "gpu"),
            std::string::npos);
}

TEST(CorrelatorFactoryTest, CpuBatchGivesWhatSingleCapturesGive) {
  // The CPU correlator aligns a batch in parallel; each result must be what
  // aligning that capture alone gives.
  SceneSpec spec;
  spec.width = 320;
  spec.height = 240;
  spec.cfa = *CfaPattern::FromName("grbg");
  spec.seed = 77;
  SyntheticScene scene(spec);
  const RawImage gt = scene.RenderGt();
  std::vector<RawImage> captures;
  for (int i = 0; i < 4; ++i) {
    CaptureSpec capture;
    capture.dy = 3 * i - 4;
    capture.dx = 5 - 2 * i;
    capture.noise_level = i;
    capture.noise_seed = 100 + i;
    captures.push_back(scene.RenderCapture(capture));
  }
  auto batch_correlator = MakeCorrelator(Device::kCpu, AlignParams());
  auto single_correlator = MakeCorrelator(Device::kCpu, AlignParams());
  ASSERT_TRUE((*batch_correlator)->SetReference(gt).ok());
  ASSERT_TRUE((*single_correlator)->SetReference(gt).ok());
  std::vector<const RawImage*> batch;
  for (const RawImage& c : captures) batch.push_back(&c);
  const auto together = (*batch_correlator)->Align(batch);
  ASSERT_EQ(together.size(), captures.size());
  for (std::size_t i = 0; i < captures.size(); ++i) {
    const RawImage* one[] = {&captures[i]};
    const auto alone = (*single_correlator)->Align(one);
    ASSERT_TRUE(together[i].ok() && alone[0].ok());
    EXPECT_EQ(together[i]->dy, alone[0]->dy);
    EXPECT_EQ(together[i]->dx, alone[0]->dx);
    EXPECT_EQ(together[i]->dy, 3 * static_cast<int>(i) - 4);
    EXPECT_EQ(together[i]->confidence, alone[0]->confidence);
    EXPECT_EQ(together[i]->loss, alone[0]->loss);
  }
}

}  // namespace
}  // namespace dsb
