// Self pairs of the real camera raws of ../shared/data/raw (see its
// SOURCES.md; skipped visibly without them): each decoded frame paired with
// a copy of itself. The full loss-mask algorithm leaves the clipping rule
// alone, and MakeLossMask told the pair is identical (mask/self_pair_mask.h)
// writes the same pixels, mask_mean and counts, under every clipping
// parameter.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>

#include "mask/loss_mask.h"
#include "raw/decoder.h"
#include "test_support.h"

namespace dsb {
namespace {

using testing::DifferingPixels;

TEST(RealSelfPairTest, EveryRealRawsSelfPairIsItsClippingAlone) {
  const std::string dir = testing::RealRawDir();
  if (dir.empty()) GTEST_SKIP() << "no real raws at $DSB_REAL_RAW_DIR";
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name == "SOURCES.md" || !entry.is_regular_file()) continue;
    SCOPED_TRACE(name);
    Result<RawImage> frame = DecodeRaw(entry.path().string());
    ASSERT_TRUE(frame.ok()) << frame.status().ToString();
    ++files;
    const RawImage copy = *frame;
    const float lb = frame->meta.overexposure_lb;
    for (ClipFootprint footprint :
         {ClipFootprint::kSample, ClipFootprint::kCell}) {
      for (bool noisy_clipped : {false, true}) {
        for (float override_lb : {0.0f, 0.5f, 0.25f}) {
          MaskParams params;
          params.clip_footprint = footprint;
          params.mask_noisy_clipped = noisy_clipped;
          if (override_lb > 0) params.overexposure_lb = override_lb;
          SCOPED_TRACE(std::string(ClipFootprintName(footprint)) +
                       " noisy_clipped " + std::to_string(noisy_clipped) +
                       " lb " + std::to_string(override_lb));
          MaskWorkspace workspace;
          auto full =
              MakeLossMask(*frame, copy, Alignment{}, params, &workspace);
          ASSERT_TRUE(full.ok()) << full.status().ToString();
          EXPECT_EQ(full->mismatch_pixels, 0);
          if (footprint == ClipFootprint::kSample) {
            // The rule, per sample.
            const float gt_lb = override_lb > 0 ? override_lb : lb;
            std::int64_t wrong = 0, clipped = 0;
            for (int y = 0; y < frame->height(); ++y) {
              const float* v = frame->pixels.row(y);
              const std::uint8_t* m = full->pixels.row(y);
              for (int x = 0; x < frame->width(); ++x) {
                const bool clip =
                    v[x] >= gt_lb || (noisy_clipped && v[x] >= lb);
                clipped += clip;
                wrong += m[x] != (clip ? 0 : 255);
              }
            }
            EXPECT_EQ(wrong, 0);
            EXPECT_EQ(full->clipped_pixels, clipped);
          }
          auto fast = MakeLossMask(*frame, copy, Alignment{}, params,
                                   &workspace, PairContent::kIdentical);
          ASSERT_TRUE(fast.ok()) << fast.status().ToString();
          ASSERT_EQ(fast->pixels.width(), full->pixels.width());
          ASSERT_EQ(fast->pixels.height(), full->pixels.height());
          EXPECT_EQ(DifferingPixels(fast->pixels.view(), full->pixels.view()),
                    0);
          EXPECT_EQ(fast->mean, full->mean);
          EXPECT_EQ(fast->clipped_pixels, full->clipped_pixels);
          EXPECT_EQ(fast->mismatch_pixels, full->mismatch_pixels);
          std::printf(
              "%s %s noisy_clipped %d lb %.2f: mean %.6f clipped %lld\n",
              name.c_str(), ClipFootprintName(footprint), noisy_clipped,
              override_lb, full->mean,
              static_cast<long long>(full->clipped_pixels));
        }
      }
    }
  }
  EXPECT_GE(files, 8);
}

}  // namespace
}  // namespace dsb
