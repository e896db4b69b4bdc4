// Masks on a real disk: PNGs written atomically into a temporary masks
// directory under hostile names, read back equal, nothing left behind.
#include <gtest/gtest.h>

#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "common/file_system.h"
#include "mask/loss_mask.h"
#include "mask/mask_names.h"
#include "mask/png_writer.h"
#include "test_support.h"

namespace dsb {
namespace {

Plane<std::uint8_t> SomeMask(int width, int height, int seed) {
  Plane<std::uint8_t> mask(width, height, 255);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      if ((x / 7 + y / 5 + seed) % 4 == 0) mask.at(y, x) = 0;
    }
  }
  return mask;
}

TEST(MaskFilesTest, HostileNamesStayInsideAndRoundTrip) {
  testing::TempDir dir;
  FileSystem& fs = RealFileSystem();
  const std::string masks = dir.Join("masks");
  ASSERT_TRUE(fs.CreateDirectories(masks).ok());

  const std::string long1000(1000, 'n');
  const std::vector<std::vector<std::string>> pairs = {
      {"../../etc", "../../etc/passwd", "../../etc/shadow"},
      {"scene one", "scene one/gt/a b.arw", "scene one/c\nd.arw"},
      {"\xff\xfe", "\xff\xfe/gt/\xff.arw", "\xff\xfe/\xfe.arw"},
      {long1000 + "1", long1000 + ".arw", long1000 + "x.arw"},
      {long1000 + "2", long1000 + ".arw", long1000 + "x.arw"},
      {".", ".hidden", "-rf"},
  };
  std::set<std::string> names;
  int seed = 0;
  for (const auto& p : pairs) {
    const std::string name = MaskFileName(p[0], p[1], p[2]);
    ASSERT_TRUE(names.insert(name).second) << name;
    const std::string path = masks + "/" + name;
    const Plane<std::uint8_t> mask = SomeMask(96 + seed, 64, seed);
    ASSERT_TRUE(WriteGreyPng(fs, path, mask.view()).ok()) << name;
    auto back = ReadGreyPng(fs, path);
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    ASSERT_EQ(back->width(), mask.width());
    ASSERT_EQ(back->height(), mask.height());
    for (int y = 0; y < mask.height(); ++y) {
      for (int x = 0; x < mask.width(); ++x) {
        ASSERT_EQ(back->at(y, x), mask.at(y, x));
      }
    }
    ++seed;
  }
  // Exactly the masks, directly in the directory; no temporary files, and
  // nothing was created outside it.
  std::set<std::string> on_disk;
  for (const auto& entry : std::filesystem::directory_iterator(masks)) {
    EXPECT_TRUE(entry.is_regular_file()) << entry.path();
    on_disk.insert(entry.path().filename().string());
  }
  EXPECT_EQ(on_disk, names);
  std::set<std::string> top;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    top.insert(entry.path().filename().string());
  }
  EXPECT_EQ(top, std::set<std::string>{"masks"});
}

TEST(MaskFilesTest, RewriteReplacesWholeFile) {
  testing::TempDir dir;
  FileSystem& fs = RealFileSystem();
  const std::string path = dir.Join("m.png");
  ASSERT_TRUE(WriteGreyPng(fs, path, SomeMask(300, 200, 1).view()).ok());
  const Plane<std::uint8_t> second = SomeMask(40, 30, 2);
  ASSERT_TRUE(WriteGreyPng(fs, path, second.view()).ok());
  auto back = ReadGreyPng(fs, path);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->width(), 40);
  EXPECT_EQ(back->height(), 30);
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    EXPECT_EQ(entry.path().filename().string(), "m.png");
  }
}

TEST(MaskFilesTest, MissingDirectoryIsAnError) {
  testing::TempDir dir;
  const Status status = WriteGreyPng(RealFileSystem(), dir.Join("no/such.png"),
                                     SomeMask(8, 8, 0).view());
  EXPECT_FALSE(status.ok());
}

}  // namespace
}  // namespace dsb
