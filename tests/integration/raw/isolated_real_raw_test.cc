// The worker-process decoder gives the same result as DecodeRaw, bit for
// bit, on every real camera raw of ../shared/data/raw (and the same error
// where DecodeRaw refuses one). Skips visibly without them.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "raw/decoder.h"
#include "raw/isolated_decoder.h"
#include "test_support.h"

namespace dsb {
namespace {

namespace fs = std::filesystem;

TEST(IsolatedRealRawTest, SameResultAsInProcessForEveryRealRaw) {
  const std::string dir = testing::RealRawDir();
  if (dir.empty()) GTEST_SKIP() << "no real raws at $DSB_REAL_RAW_DIR";
  std::vector<std::string> paths;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (entry.is_regular_file() && !name.ends_with(".md")) {
      paths.push_back(entry.path().string());
    }
  }
  std::sort(paths.begin(), paths.end());
  if (paths.empty()) GTEST_SKIP() << "no raw files in " << dir;
  const IsolatedDecoder isolated;  // this binary is the worker
  int decoded = 0;
  for (const std::string& path : paths) {
    SCOPED_TRACE(path);
    Result<RawImage> expected = DecodeRaw(path);
    Result<RawImage> actual = isolated.Decode(path, {});
    ASSERT_EQ(actual.ok(), expected.ok()) << actual.status().ToString();
    if (!expected.ok()) {
      EXPECT_EQ(actual.status().code(), expected.status().code());
      EXPECT_EQ(actual.status().message(), expected.status().message());
      continue;
    }
    ++decoded;
    const RawImage &a = *actual, &e = *expected;
    ASSERT_EQ(a.width(), e.width());
    ASSERT_EQ(a.height(), e.height());
    EXPECT_EQ(
        std::memcmp(a.pixels.data(), e.pixels.data(), e.pixels.byte_size()), 0);
    EXPECT_EQ(a.cfa, e.cfa);
    EXPECT_EQ(a.path, e.path);
    EXPECT_EQ(a.meta.make, e.meta.make);
    EXPECT_EQ(a.meta.model, e.meta.model);
    EXPECT_EQ(a.meta.iso, e.meta.iso);
    EXPECT_EQ(a.meta.raw_width, e.meta.raw_width);
    EXPECT_EQ(a.meta.raw_height, e.meta.raw_height);
    EXPECT_EQ(a.meta.visible_top, e.meta.visible_top);
    EXPECT_EQ(a.meta.visible_left, e.meta.visible_left);
    EXPECT_EQ(a.meta.black, e.meta.black);
    EXPECT_EQ(a.meta.white, e.meta.white);
    EXPECT_EQ(a.meta.wb_coeffs, e.meta.wb_coeffs);
    EXPECT_EQ(a.meta.rgb_xyz_matrix, e.meta.rgb_xyz_matrix);
    EXPECT_EQ(a.meta.overexposure_lb, e.meta.overexposure_lb);
  }
  std::printf("%d of %zu real raws decoded identically in a worker\n", decoded,
              paths.size());
  EXPECT_GT(decoded, 0);
}

}  // namespace
}  // namespace dsb
