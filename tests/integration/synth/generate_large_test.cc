// A full-size (24 MP) generated scene: the generator's speed at real sensor
// sizes (printed, for the README's numbers) and a DNG LibRaw decodes at
// full resolution.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "raw/decoder.h"
#include "synth/generate.h"
#include "test_support.h"

namespace dsb {
namespace {

TEST(GenerateLargeTest, TwentyFourMegapixelSceneWithTwoNoisyCaptures) {
  testing::TempDir dir;
  SynthOptions options;
  options.out_dir = dir.Join("big");
  options.scenes = 1;
  options.noisy = 2;
  options.width = 6000;
  options.height = 4000;
  options.cfa = "rggb";
  options.seed = 3;
  options.masked_border = true;
  const auto start = std::chrono::steady_clock::now();
  SynthSummary summary;
  const Status status = GenerateDataset(options, {}, &summary);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  ASSERT_TRUE(status.ok()) << status.ToString();
  std::printf("24 MP scene, 1 GT + 2 noisy: %.2f s, %.1f MB\n", seconds,
              summary.bytes / 1e6);
  EXPECT_EQ(summary.files, 3);

  std::ifstream in(options.out_dir + "/truth.json");
  const nlohmann::json truth = nlohmann::json::parse(in);
  ASSERT_EQ(truth["files"].size(), 2u);
  const nlohmann::json& file = truth["files"][0];
  const auto decode_start = std::chrono::steady_clock::now();
  Result<RawImage> image =
      DecodeRaw(options.out_dir + "/" + file["path"].get<std::string>());
  ASSERT_TRUE(image.ok()) << image.status().ToString();
  std::printf("decoding one 24 MP DNG: %.2f s\n",
              std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                            decode_start)
                  .count());
  EXPECT_EQ(image->width(), 6000);
  EXPECT_EQ(image->height(), 4000);
  EXPECT_EQ(image->cfa.name(), "RGGB");
  EXPECT_EQ(image->meta.iso, file["iso"].get<int>());
  EXPECT_EQ(image->meta.visible_top,
            truth["scenes"][0]["masked_border"]["top"].get<int>());
  // Loose: two shared cores take ~10 s; catches an accidental slowdown
  // by an order of magnitude.
  EXPECT_LT(seconds, 90.0);
}

}  // namespace
}  // namespace dsb
