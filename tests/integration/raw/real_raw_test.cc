// Decodes the real camera raws of ../shared/data/raw (see its SOURCES.md)
// and checks CFA, visible size and levels. Skips visibly without them.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>

#include "raw/decoder.h"
#include "test_support.h"

namespace dsb {
namespace {

struct Expected {
  const char* file;
  const char* cfa;
  int width, height;
};

// From SOURCES.md.
const Expected kFiles[] = {
    {"rawpy__RAW_KODAK_DC50.KDC", "GRBG", 768, 512},
    {"evanoberholster-imagemeta__CRW.CRW", "RGGB", 2176, 1448},
    {"rawson.js__RAW_CANON_G2.CRW", "RGGB", 2312, 1720},
    {"bep-imagemeta__sample.nef", "BGGR", 2012, 1324},
    {"tinydng__colorchart.dng", "RGGB", 1734, 1156},
    {"imageio-test_images__Blackmagic.dng", "RGGB", 4128, 2176},
    {"evanoberholster-imagemeta__Hero8.converted.dng", "RGGB", 4000, 3000},
    {"gpr__Fusion_GPFR7066.converted.dng", "RGGB", 3104, 3000},
};

class RealRawTest : public ::testing::TestWithParam<Expected> {};

TEST_P(RealRawTest, DecodesWithTheListedCfaSizeAndLevels) {
  const std::string dir = testing::RealRawDir();
  if (dir.empty()) GTEST_SKIP() << "no real raws at $DSB_REAL_RAW_DIR";
  const Expected& e = GetParam();
  const std::string path = dir + "/" + e.file;
  if (!std::filesystem::exists(path)) GTEST_SKIP() << "missing " << path;
  Result<RawImage> image = DecodeRaw(path);
  ASSERT_TRUE(image.ok()) << image.status().ToString();
  const RawMetadata& m = image->meta;
  std::printf(
      "%s: %s %s %dx%d at (%d,%d) of %dx%d, black %.1f/%.1f/%.1f, "
      "white %.0f, iso %.0f, lb %.3f\n",
      e.file, m.make.c_str(), m.model.c_str(), image->width(), image->height(),
      m.visible_top, m.visible_left, m.raw_width, m.raw_height, m.black[0],
      m.black[1], m.black[2], m.white, m.iso, m.overexposure_lb);
  EXPECT_EQ(image->cfa.name(), e.cfa);
  EXPECT_EQ(image->width(), e.width);
  EXPECT_EQ(image->height(), e.height);
  EXPECT_GT(m.white, m.black[1]);
  EXPECT_GT(m.overexposure_lb, 0.3f);
  EXPECT_LE(m.overexposure_lb, 1.0f);
  double sum = 0;
  float lo = 1e9f, hi = -1e9f;
  for (int y = 0; y < image->height(); y += 3) {
    for (int x = 0; x < image->width(); x += 3) {
      const float v = image->pixels.at(y, x);
      sum += v;
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
  }
  const double mean =
      sum / ((image->height() + 2) / 3) / ((image->width() + 2) / 3);
  EXPECT_GT(mean, -0.01);  // the Canon G2 sample is nearly black
  EXPECT_LT(mean, 1.0);
  EXPECT_GT(lo, -0.2f);
  EXPECT_LT(hi, 1.2f);
  // The header-only probe agrees with the decode.
  Result<RawInfo> info = ProbeRaw(path);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->width, e.width);
  EXPECT_EQ(info->cfa, image->cfa);
}

INSTANTIATE_TEST_SUITE_P(SharedData, RealRawTest, ::testing::ValuesIn(kFiles),
                         [](const ::testing::TestParamInfo<Expected>& info) {
                           std::string name = info.param.file;
                           for (char& c : name) {
                             if (!std::isalnum(static_cast<unsigned char>(c)))
                               c = '_';
                           }
                           return name;
                         });

}  // namespace
}  // namespace dsb
