// ScanDataset and the fingerprints against real files and symlinks in a
// temp dir.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "common/file_system.h"
#include "scan/scan.h"
#include "test_support.h"

namespace dsb {
namespace {

using ::dsb::testing::TempDir;

void Write(const std::string& path, const std::string& bytes) {
  ASSERT_TRUE(RealFileSystem()
                  .CreateDirectories(path.substr(0, path.find_last_of('/')))
                  .ok());
  std::ofstream(path, std::ios::binary) << bytes;
}

TEST(ScanRealTest, RawNindTreeWithSidecarsLinksAndLoops) {
  TempDir dir;
  const std::string scene = dir.Join("src/Bayer/scene one");
  Write(scene + "/gt/Bayer_scene_GT_ISO100.arw", "gt");
  Write(scene + "/gt/Bayer_scene_GT_ISO100.arw.xmp", "xmp");
  Write(scene + "/Bayer_scene_ISO3200.arw", "noisy");
  Write(scene + "/Bayer_scene_ISO3200.arw.xmp", "xmp");
  Write(scene + "/.hidden", "h");
  Write(dir.Join("manifest.db"), "db");
  Write(dir.Join("manifest.db-wal"), "wal");
  Write(dir.Join("outside/linked.arw"), "linked");
  ASSERT_EQ(
      symlink("../../../outside/linked.arw", (scene + "/linked.arw").c_str()),
      0);
  ASSERT_EQ(symlink("../..", (scene + "/up").c_str()), 0);
  ASSERT_EQ(symlink("self", dir.Join("self").c_str()), 0);

  ScanOptions options;
  options.excluded_paths = ManifestSidecarPaths(dir.Join("manifest.db"));
  auto r = ScanDataset(RealFileSystem(), dir.path(), options);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->scenes.size(), 1u);
  const ScannedScene& s = r->scenes[0];
  EXPECT_EQ(s.scene, "src/Bayer/scene one");
  ASSERT_EQ(s.gt.size(), 1u);
  EXPECT_EQ(s.gt[0].rel_path,
            "src/Bayer/scene one/gt/Bayer_scene_GT_ISO100.arw");
  EXPECT_EQ(s.gt[0].size, 2u);
  ASSERT_EQ(s.noisy.size(), 2u);
  EXPECT_EQ(s.noisy[0].rel_path, "src/Bayer/scene one/Bayer_scene_ISO3200.arw");
  EXPECT_EQ(s.noisy[1].rel_path, "src/Bayer/scene one/linked.arw");
  EXPECT_EQ(s.noisy[1].size, 6u);
  EXPECT_TRUE(s.problems.empty());
  // The self-loop link and the link back up the tree.
  std::string all;
  for (const auto& p : r->problems) all += p + "\n";
  EXPECT_EQ(r->problems.size(), 2u) << all;
  EXPECT_NE(all.find(dir.Join("self")), std::string::npos) << all;
  EXPECT_NE(all.find("up"), std::string::npos) << all;
}

TEST(ScanRealTest, UnreadableDirectoryIsAProblem) {
  if (geteuid() == 0) GTEST_SKIP() << "root reads every directory";
  TempDir dir;
  Write(dir.Join("a/gt/g.arw"), "g");
  Write(dir.Join("locked/gt/g.arw"), "g");
  ASSERT_EQ(chmod(dir.Join("locked").c_str(), 0), 0);
  auto r = ScanDataset(RealFileSystem(), dir.path(), {});
  chmod(dir.Join("locked").c_str(), 0755);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->scenes.size(), 1u);
  ASSERT_EQ(r->problems.size(), 1u);
  EXPECT_NE(r->problems[0].find("locked"), std::string::npos);
}

}  // namespace
}  // namespace dsb
