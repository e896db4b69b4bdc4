// Self pairs (a GT paired with itself or with a bit-identical copy: every
// scene's GT is paired with itself) are aligned without a search
// (SelfPairAlignment): shift 0, gain 1, loss 0, sub-pixel shift 0 and
// confidence 1. These tests check the gain and loss are exactly what the
// full path (RawGain, RefineShift, PairLoss at that shift) returns, on
// every CFA, with clipping, on a real raw; that the whole search, run the
// long way, finds the same integer shift and agrees with the sub-pixel
// shift and confidence within its own rounding; and that a copy differing
// in one pixel, or at another clipping level, is not taken for a self pair.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "align/colour_match.h"
#include "align/correlator.h"
#include "align/correlator_common.h"
#include "align/fftw_plans.h"
#include "align/mosaic_luma.h"
#include "align/shift_search.h"
#include "align_pair.h"
#include "raw/decoder.h"
#include "synth/render.h"
#include "test_support.h"

namespace dsb {
namespace {

using testing::AlignPair;

// A copy in its own buffer: the correlator cannot tell it from a capture
// decoded from another file.
RawImage Copy(const RawImage& image) {
  RawImage copy;
  copy.cfa = image.cfa;
  copy.meta = image.meta;
  copy.path = image.path + " (copy)";
  copy.pixels = Plane<float>(image.width(), image.height());
  for (int y = 0; y < image.height(); ++y) {
    std::copy_n(image.pixels.row(y), image.width(), copy.pixels.row(y));
  }
  return copy;
}

// The aligned pair's gain, shift and loss are those of the full path at
// its shift (bit for bit), and the full path's refinement keeps the shift.
void ExpectFullPathResult(const RawImage& gt, const RawImage& noisy,
                          const Alignment& a) {
  int max_dy = 0, max_dx = 0;
  EffectiveSearch(AlignParams(), gt.height(), gt.width(), &max_dy, &max_dx);
  const Overlap overlap = ComputeOverlap(gt.height(), gt.width(), a.dy, a.dx);
  const double gain = RawGain(gt, noisy, overlap);
  EXPECT_EQ(a.raw_gain, gain);
  const RefineResult refined =
      RefineShift(gt, noisy, a.dy, a.dx, gain, max_dy, max_dx);
  EXPECT_EQ(refined.dy, a.dy);
  EXPECT_EQ(refined.dx, a.dx);
  EXPECT_EQ(refined.loss, PairLoss(gt, noisy, overlap, gain));
  EXPECT_EQ(a.loss, PairLoss(gt, noisy, overlap, gain));
}

TEST(SelfPairTest, ShortcutMatchesTheFullPathOnEveryCfa) {
  for (const char* cfa : {"rggb", "bggr", "grbg", "gbrg", "xtrans"}) {
    for (const double clipped : {0.0, 0.1, 0.6}) {
      SCOPED_TRACE(::testing::Message() << cfa << " clipped " << clipped);
      SceneSpec spec;
      spec.width = 402;  // not a multiple of any vector width
      spec.height = 306;
      spec.cfa = *CfaPattern::FromName(cfa);
      spec.seed = 77;
      spec.clipped_fraction = clipped;
      const RawImage gt = SyntheticScene(spec).RenderGt();
      for (const bool same_object : {true, false}) {
        const RawImage copy = same_object ? RawImage() : Copy(gt);
        const RawImage& noisy = same_object ? gt : copy;
        auto a = AlignPair(gt, noisy);
        ASSERT_TRUE(a.ok()) << a.status().ToString();
        EXPECT_EQ(a->dy, 0);
        EXPECT_EQ(a->dx, 0);
        EXPECT_EQ(a->raw_gain, 1.0);
        EXPECT_EQ(a->loss, 0.0);
        EXPECT_EQ(a->dy_subpx, 0.0);
        EXPECT_EQ(a->dx_subpx, 0.0);
        EXPECT_EQ(a->confidence, 1.0);
        ExpectFullPathResult(gt, noisy, *a);
      }
    }
  }
}

// The whole alignment of a pair the long way: its own balance, coarse
// luma, forward transform and cross-power, then FinishAlignment told the
// captures differ (so it runs gain, refinement and loss), as the CPU
// correlator does for any other pair.
Result<Alignment> AlignTheLongWay(const RawImage& gt, const RawImage& noisy) {
  int max_dy = 0, max_dx = 0;
  EffectiveSearch(AlignParams(), gt.height(), gt.width(), &max_dy, &max_dx);
  const CoarseGeometry g =
      PlanCoarse(gt.height(), gt.width(), gt.cfa.period(), max_dy, max_dx);
  DSB_ASSIGN_OR_RETURN(FftPlans plans,
                       GetFftPlans(g.fft_height, g.fft_width, 1));
  const std::size_t real_count =
      static_cast<std::size_t>(g.fft_height) * g.fft_width;
  const std::size_t complex_count =
      static_cast<std::size_t>(g.fft_height) * (g.fft_width / 2 + 1);
  DSB_ASSIGN_OR_RETURN(RealBuffer real, AllocateReal(real_count));
  DSB_ASSIGN_OR_RETURN(ComplexBuffer gt_spectrum,
                       AllocateComplex(complex_count));
  DSB_ASSIGN_OR_RETURN(ComplexBuffer spectrum, AllocateComplex(complex_count));
  auto forward = [&](const RawImage& image, const std::array<float, 3>& balance,
                     fftwf_complex* out) {
    PrepareCoarse(CoarseLuma(image, balance, g.stride, g.box), g, real.get());
    fftwf_execute_dft_r2c(plans.forward, real.get(), out);
  };
  const std::array<float, 3> gt_balance = ChannelBalance(gt);
  const std::array<float, 3> balance = ChannelBalance(noisy);
  forward(gt, gt_balance, gt_spectrum.get());
  forward(noisy, balance, spectrum.get());
  CrossPower(reinterpret_cast<const float*>(gt_spectrum.get()),
             reinterpret_cast<const float*>(spectrum.get()), complex_count,
             reinterpret_cast<float*>(spectrum.get()));
  fftwf_execute_dft_c2r(plans.inverse, spectrum.get(), real.get());
  return FinishAlignment(gt, gt_balance, noisy, balance, g, real.get(), max_dy,
                         max_dx, false);
}

// The correlator skips a self pair's search: the long way (every step, the
// captures taken to differ) finds the same integer shift, gain and loss,
// and a sub-pixel shift and confidence that differ from the exact 0 and 1
// only by its rounding, on every CFA, with and without clipping.
TEST(SelfPairTest, CorrelatorShortcutsGiveTheLongWaysResult) {
  for (const char* cfa : {"rggb", "gbrg", "xtrans"}) {
    for (const double clipped : {0.0, 0.2}) {
      SCOPED_TRACE(::testing::Message() << cfa << " clipped " << clipped);
      SceneSpec spec;
      spec.width = 522;
      spec.height = 388;
      spec.cfa = *CfaPattern::FromName(cfa);
      spec.seed = 31;
      spec.clipped_fraction = clipped;
      const RawImage gt = SyntheticScene(spec).RenderGt();
      const RawImage copy = Copy(gt);
      ASSERT_TRUE(IsSelfPair(gt, copy));
      auto quick = AlignPair(gt, copy);
      auto slow = AlignTheLongWay(gt, copy);
      ASSERT_TRUE(quick.ok()) << quick.status().ToString();
      ASSERT_TRUE(slow.ok()) << slow.status().ToString();
      EXPECT_EQ(quick->dy, slow->dy);
      EXPECT_EQ(quick->dx, slow->dx);
      EXPECT_NEAR(slow->dy_subpx, 0.0, 0.05);
      EXPECT_NEAR(slow->dx_subpx, 0.0, 0.05);
      EXPECT_NEAR(slow->confidence, 1.0, 1e-5);
      EXPECT_EQ(quick->dy_subpx, 0.0);
      EXPECT_EQ(quick->dx_subpx, 0.0);
      EXPECT_EQ(quick->confidence, 1.0);
      EXPECT_EQ(quick->raw_gain, slow->raw_gain);
      EXPECT_EQ(quick->loss, slow->loss);
      EXPECT_EQ(slow->dy, 0);
      EXPECT_EQ(slow->dx, 0);
    }
  }
}

// The correlator takes the caller's answer to "same pixels?" (a build
// decides it once per pair) instead of comparing the images itself, and
// the results are those of deciding it there, field for field: for a copy,
// a capture differing in one pixel and a copy at another clipping level.
TEST(SelfPairTest, CorrelatorTakesTheCallersIdentity) {
  SceneSpec spec;
  spec.width = 360;
  spec.height = 240;
  spec.cfa = *CfaPattern::FromName("rggb");
  spec.seed = 12;
  const RawImage gt = SyntheticScene(spec).RenderGt();
  const RawImage copy = Copy(gt);
  RawImage other = Copy(gt);
  other.pixels.at(100, 100) += 0.25f;
  RawImage clipped_elsewhere = Copy(gt);
  clipped_elsewhere.meta.overexposure_lb *= 0.5f;
  const std::vector<const RawImage*> batch = {&copy, &other,
                                              &clipped_elsewhere};
  const std::vector<std::optional<bool>> known = {true, false, true};

  auto correlator = MakeCorrelator(Device::kCpu, AlignParams());
  ASSERT_TRUE(correlator.ok());
  ASSERT_TRUE((*correlator)->SetReference(gt).ok());
  const std::int64_t before = internal::SamePixelsCalls();
  const auto told = (*correlator)->Align(batch, known);
  EXPECT_EQ(internal::SamePixelsCalls(), before);  // compared nothing
  const auto found = (*correlator)->Align(batch);
  EXPECT_GE(internal::SamePixelsCalls(), before + 2);  // compared itself
  ASSERT_EQ(told.size(), batch.size());
  ASSERT_EQ(found.size(), batch.size());
  for (std::size_t i = 0; i < batch.size(); ++i) {
    SCOPED_TRACE(i);
    ASSERT_TRUE(told[i].ok() && found[i].ok());
    EXPECT_EQ(told[i]->dy, found[i]->dy);
    EXPECT_EQ(told[i]->dx, found[i]->dx);
    EXPECT_EQ(told[i]->dy_subpx, found[i]->dy_subpx);
    EXPECT_EQ(told[i]->dx_subpx, found[i]->dx_subpx);
    EXPECT_EQ(told[i]->confidence, found[i]->confidence);
    EXPECT_EQ(told[i]->raw_gain, found[i]->raw_gain);
    EXPECT_EQ(told[i]->loss, found[i]->loss);
  }
  EXPECT_EQ(told[0]->loss, 0.0);  // the copy: a self pair
  EXPECT_EQ(told[0]->confidence, 1.0);
  EXPECT_GT(told[1]->loss, 0.0);  // one pixel differs: the full path
  EXPECT_LT(told[1]->confidence, 1.0);
  // The same pixels at another clipping level: the search runs (its
  // confidence is its own), and finds the copy's shift, gain and loss.
  EXPECT_NE(told[2]->confidence, 1.0);
  EXPECT_EQ(told[2]->dy, 0);
  EXPECT_EQ(told[2]->dx, 0);
  EXPECT_EQ(told[2]->raw_gain, 1.0);
  EXPECT_EQ(told[2]->loss, 0.0);
}

// Same pixels but another clipping level (or CFA) is no self pair.
TEST(SelfPairTest, SamePixelsWithAnotherClippingLevelIsNoSelfPair) {
  SceneSpec spec;
  spec.width = 96;
  spec.height = 64;
  spec.cfa = *CfaPattern::FromName("rggb");
  const RawImage gt = SyntheticScene(spec).RenderGt();
  RawImage copy = Copy(gt);
  EXPECT_TRUE(SamePixels(gt, copy));
  EXPECT_TRUE(IsSelfPair(gt, copy));
  copy.meta.overexposure_lb *= 0.5f;
  EXPECT_TRUE(SamePixels(gt, copy));
  EXPECT_FALSE(IsSelfPair(gt, copy));
  RawImage other = Copy(gt);
  other.pixels.at(0, 0) += 1e-3f;
  EXPECT_FALSE(SamePixels(gt, other));
  EXPECT_FALSE(IsSelfPair(gt, other));
}

// One pixel changed: not a self pair, so the full path runs; its loss is
// no longer 0.
TEST(SelfPairTest, ACopyDifferingInOnePixelTakesTheFullPath) {
  SceneSpec spec;
  spec.width = 360;
  spec.height = 240;
  spec.cfa = *CfaPattern::FromName("grbg");
  spec.seed = 5;
  const RawImage gt = SyntheticScene(spec).RenderGt();
  RawImage noisy = Copy(gt);
  noisy.pixels.at(239, 359) += 0.25f;
  auto a = AlignPair(gt, noisy);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->dy, 0);
  EXPECT_EQ(a->dx, 0);
  EXPECT_GT(a->loss, 0.0);
  ExpectFullPathResult(gt, noisy, *a);
}

// The real NEF of ../shared/data/raw decoded twice (two buffers, as a
// scene of copies of one file gives).
TEST(SelfPairTest, RealRawDecodedTwice) {
  const std::string dir = testing::RealRawDir();
  const std::string path = dir + "/bep-imagemeta__sample.nef";
  if (dir.empty() || !std::filesystem::exists(path)) {
    GTEST_SKIP() << "bep-imagemeta__sample.nef not found (../shared/data/raw)";
  }
  auto gt = DecodeRaw(path);
  auto noisy = DecodeRaw(path);
  ASSERT_TRUE(gt.ok()) << gt.status().ToString();
  ASSERT_TRUE(noisy.ok()) << noisy.status().ToString();
  auto a = AlignPair(*gt, *noisy);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->dy, 0);
  EXPECT_EQ(a->dx, 0);
  EXPECT_GT(a->confidence, 0.999);
  ExpectFullPathResult(*gt, *noisy, *a);
}

}  // namespace
}  // namespace dsb
