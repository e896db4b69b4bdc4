// Hostile names: scene folders and raw files named with spaces, newlines,
// quotes, semicolons, bytes that are not UTF-8 ("\xff\xfe") and 255-byte
// components, next to directory symlink loops. The build finishes with
// exit status 0, records every scene and file under its exact bytes, writes
// masks only inside the masks directory (nothing else appears anywhere),
// and reports each loop as a scan problem without following it (scan/scan.h:
// loops are problems, not failures).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "build_fixtures.h"
#include "executor/build_observer.h"
#include "executor/executor.h"
#include "mask/mask_names.h"
#include "sqlite_rows.h"
#include "synth/generate.h"
#include "test_support.h"

namespace dsb {
namespace {

namespace fs = std::filesystem;

// Every row of `sql` as its columns' exact bytes (NULL as "<NULL>").
std::vector<std::vector<std::string>> Rows(const std::string& db,
                                           const std::string& sql) {
  return testing::QueryColumns(db, sql, "<NULL>");
}

// Every path under `dir`, without following symlinks, directories with a
// trailing '/'.
std::set<std::string> Tree(const std::string& dir) {
  std::set<std::string> paths;
  for (auto it = fs::recursive_directory_iterator(dir);
       it != fs::recursive_directory_iterator(); ++it) {
    const bool is_dir = it->is_directory() && !it->is_symlink();
    paths.insert(it->path().string() + (is_dir ? "/" : ""));
  }
  return paths;
}

// A printable form of a byte string for failure messages.
std::string Escaped(const std::string& bytes) {
  std::string out;
  for (unsigned char c : bytes) {
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      out += hex;
    }
  }
  return out;
}

// Finds the one file in `dir` (not recursing) whose name contains `part`.
fs::path FindFile(const fs::path& dir, const std::string& part) {
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.is_regular_file() &&
        entry.path().filename().string().find(part) != std::string::npos) {
      return entry.path();
    }
  }
  return {};
}

TEST(HostileNamesTest, AnyBytesInNamesAndSymlinkLoopsBuildCleanly) {
  testing::TempDir dir;
  const std::string root = dir.Join("data");
  ASSERT_TRUE(GenerateDataset(testing::SmallDataset(root, 2, 2, 23)).ok());

  // Scene A: spaces, quotes, a semicolon, a newline, ".." and non-UTF-8
  // bytes.
  const std::string scene_a = "we;ird .. \"scene\" 'q'\n\xff\xfe..";
  // Scene B: one 255-byte path component, ending in non-UTF-8 bytes.
  const std::string scene_b = std::string(249, 's') + "\xff\xfe;\"' ";
  ASSERT_EQ(scene_b.size(), 255u);
  const fs::path a = fs::path(root) / scene_a;
  const fs::path b = fs::path(root) / scene_b;
  fs::rename(fs::path(root) / "Bayer" / "scene-000-rggb", a);
  fs::rename(fs::path(root) / "Bayer" / "scene-001-rggb", b);

  // Scene A's files get hostile names too; one is 255 bytes long.
  const std::string gt_name = "gt; DROP TABLE scenes; -- \xff\xfe.dng";
  const std::string noisy_1 = "noisy ..\"one\"\n'two'; three .. \xfe.dng";
  const std::string noisy_2 = std::string(251, 'n') + ".dng";
  ASSERT_EQ(noisy_2.size(), 255u);
  {
    const fs::path gt = FindFile(a / "gt", "_GT_");
    ASSERT_FALSE(gt.empty());
    fs::rename(gt, a / "gt" / gt_name);
    const fs::path first = FindFile(a, "_ISO");
    ASSERT_FALSE(first.empty());
    fs::rename(first, a / noisy_1);
    const fs::path second = FindFile(a, "Bayer_");
    ASSERT_FALSE(second.empty());
    fs::rename(second, a / noisy_2);
  }
  // Symlink loops: the root linked from itself, and a subfolder of a scene
  // linking back to the scene.
  fs::create_directory_symlink(".", fs::path(root) / "loop");
  fs::create_directories(a / "sub dir");
  fs::create_directory_symlink("..", a / "sub dir" / "back up");

  const BuildOptions options = testing::CpuBuildOptions(root);
  BuildObserver progress;  // silent

  const std::set<std::string> before = Tree(dir.path());
  auto built = RunBuild(options, RealFileSystem(), progress);
  ASSERT_TRUE(built.ok()) << built.status().ToString();
  for (const FailedScene& failure : built->failures) {
    ADD_FAILURE() << Escaped(failure.scene) << ": " << Escaped(failure.error);
  }
  EXPECT_EQ(built->ExitCode(), 0);
  EXPECT_EQ(built->scenes_found, 2);
  EXPECT_EQ(built->scenes_built, 2);
  EXPECT_EQ(built->pairs_ok, 6);
  // Both loops are reported as problems, by path, and not followed.
  int loops = 0;
  for (const std::string& problem : built->problems) {
    if (problem.find("loop") == std::string::npos) continue;
    ++loops;
    EXPECT_TRUE(problem.find(root + "/loop") != std::string::npos ||
                problem.find("sub dir/back up") != std::string::npos)
        << Escaped(problem);
  }
  EXPECT_EQ(loops, 2);

  // Every scene and file is recorded under its exact bytes.
  const std::string& db = options.db_path;
  std::vector<std::string> scenes;
  for (const auto& row :
       Rows(db, "SELECT scene, status, n_files FROM scenes ORDER BY scene")) {
    scenes.push_back(row[0]);
    EXPECT_EQ(row[1], "ok") << Escaped(row[0]);
    EXPECT_EQ(row[2], "3") << Escaped(row[0]);
  }
  EXPECT_EQ(scenes, (std::vector<std::string>{scene_b, scene_a}));
  std::set<std::string> noisy_paths;
  for (const auto& row :
       Rows(db, "SELECT scene, gt_path, noisy_path FROM alignments")) {
    if (row[0] != scene_a) continue;
    EXPECT_EQ(row[1], scene_a + "/gt/" + gt_name) << Escaped(row[1]);
    noisy_paths.insert(row[2]);
  }
  EXPECT_EQ(noisy_paths, (std::set<std::string>{scene_a + "/" + noisy_1,
                                                scene_a + "/" + noisy_2,
                                                scene_a + "/gt/" + gt_name}));

  // Each mask is one component of at most 255 bytes directly inside the
  // masks directory, and exists.
  std::set<std::string> masks;
  for (const auto& row : Rows(db,
                              "SELECT mask_path, status FROM alignments "
                              "ORDER BY mask_path")) {
    EXPECT_EQ(row[1], "ok");
    ASSERT_TRUE(row[0].starts_with("masks/")) << Escaped(row[0]);
    const std::string name = row[0].substr(6);
    EXPECT_EQ(name.find('/'), std::string::npos) << Escaped(name);
    EXPECT_LE(name.size(), kMaxMaskNameBytes);
    EXPECT_TRUE(fs::is_regular_file(root + "/" + row[0])) << Escaped(row[0]);
    masks.insert(root + "/" + row[0]);
  }
  EXPECT_EQ(masks.size(), 6u);

  // Nothing appeared anywhere but the masks and the manifest's files.
  const std::set<std::string> allowed_files = {db, db + "-wal", db + "-shm",
                                               db + "-journal", db + ".lock"};
  for (const std::string& path : Tree(dir.path())) {
    if (before.contains(path)) continue;
    if (path == options.masks_dir + "/" || masks.contains(path) ||
        allowed_files.contains(path)) {
      continue;
    }
    ADD_FAILURE() << "unexpected new path " << Escaped(path);
  }
  for (const std::string& path : before) {
    if (!fs::exists(fs::symlink_status(
            path.ends_with("/") ? path.substr(0, path.size() - 1) : path))) {
      ADD_FAILURE() << "removed " << Escaped(path);
    }
  }

  // A rerun has nothing to do and keeps everything.
  auto again = RunBuild(options, RealFileSystem(), progress);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->ExitCode(), 0);
  EXPECT_EQ(again->scenes_built, 0);
  EXPECT_EQ(again->scenes_up_to_date, 2);
  for (const std::string& mask : masks) EXPECT_TRUE(fs::exists(mask));
}

// scan/scan.h: entries of a scene that cannot be stat()ed (a symlink loop
// to itself, a dangling link) are scene problems and "the build should fail
// the scene, since its file list may be incomplete". The executor drops
// ScannedScene::problems used to be dropped (the scene was built `ok` from
// the other files); this proves they fail the scene now.
TEST(HostileNamesTest, UnstatableEntryInASceneFailsTheScene) {
  testing::TempDir dir;
  const std::string root = dir.Join("data");
  ASSERT_TRUE(GenerateDataset(testing::SmallDataset(root, 2, 1, 29)).ok());
  const fs::path scene = fs::path(root) / "Bayer" / "scene-000-rggb";
  fs::create_symlink("self loop.dng", scene / "self loop.dng");
  fs::create_symlink("missing.dng", scene / "dangling.dng");

  const BuildOptions options = testing::CpuBuildOptions(root);
  BuildObserver progress;  // silent
  auto built = RunBuild(options, RealFileSystem(), progress);
  ASSERT_TRUE(built.ok()) << built.status().ToString();
  EXPECT_EQ(built->ExitCode(), 1);
  EXPECT_EQ(built->scenes_failed, 1);
  EXPECT_EQ(built->scenes_built, 1);
  ASSERT_EQ(built->failures.size(), 1u);
  EXPECT_EQ(built->failures[0].scene, "Bayer/scene-000-rggb");
  EXPECT_NE(built->failures[0].error.find("self loop.dng"), std::string::npos)
      << built->failures[0].error;
}

}  // namespace
}  // namespace dsb
