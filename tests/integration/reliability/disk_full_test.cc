// A full disk or an unwritable masks directory while masks are written: the
// build finishes, the scenes whose masks could not be written are recorded
// `failed` with the OS reason and the mask path, every other scene is built,
// the manifest stays consistent (integrity check, no row naming a missing
// mask, no temporary files left), the exit status is 1, and a rerun once
// there is room builds the failed scene.
//
// The fault is injected by a FileSystem that forwards to RealFileSystem()
// and answers WriteFileAtomically for one scene's masks exactly as the
// POSIX implementation answers ENOSPC, in the manner of LevelDB's
// fault_injection_test. (SQLite writes the manifest itself, below
// FileSystem, so a full disk under the manifest is not covered here.)
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "build_fixtures.h"
#include "common/real_file_system.h"
#include "executor/build_observer.h"
#include "executor/executor.h"
#include "forwarding_file_system.h"
#include "sqlite_rows.h"
#include "synth/generate.h"
#include "test_support.h"

namespace dsb {
namespace {

namespace fs = std::filesystem;

// The real file system, but writes into `masks_dir` whose file name
// contains `needle` fail with ENOSPC, as the real disk would.
class DiskFullForScene : public testing::ForwardingFileSystem {
 public:
  DiskFullForScene(std::string masks_dir, std::string needle)
      : masks_dir_(std::move(masks_dir)), needle_(std::move(needle)) {}

  int failed_writes() const { return failed_writes_; }

  Status WriteFileAtomically(const std::string& path,
                             std::span<const std::uint8_t> bytes) override {
    const std::string name = fs::path(path).filename().string();
    if (path.starts_with(masks_dir_ + "/") &&
        name.find(needle_) != std::string::npos) {
      ++failed_writes_;
      return PosixFileError("cannot write", path, ENOSPC);
    }
    return real_.WriteFileAtomically(path, bytes);
  }

 private:
  std::string masks_dir_, needle_;
  std::atomic<int> failed_writes_{0};
};

// Column 1 of `sql` keyed by column 0.
std::map<std::string, std::string> Column(const std::string& db,
                                          const std::string& sql) {
  std::map<std::string, std::string> out;
  for (const std::string& row : testing::QueryRows(db, sql)) {
    const std::size_t bar = row.find('|');
    out[row.substr(0, bar)] = row.substr(bar + 1, row.size() - bar - 2);
  }
  return out;
}

// The manifest is sound and every ok row's mask is on disk.
void ExpectConsistent(const std::string& root, const std::string& db) {
  EXPECT_EQ(testing::QueryRows(db, "PRAGMA integrity_check"),
            std::vector<std::string>{"ok|"});
  for (const std::string& row : testing::QueryRows(
           db, "SELECT mask_path FROM alignments WHERE status = 'ok'")) {
    std::string path = row.substr(0, row.size() - 1);
    if (!path.starts_with("/")) path = root + "/" + path;
    EXPECT_TRUE(fs::exists(path)) << "manifest names a missing mask " << path;
  }
  EXPECT_TRUE(testing::QueryRows(
                  db,
                  "SELECT mask_path FROM alignments WHERE status = 'ok' AND "
                  "(mask_path IS NULL OR mask_path = '')")
                  .empty());
}

std::vector<std::string> TempFilesUnder(const std::string& dir) {
  std::vector<std::string> found;
  if (!fs::exists(dir)) return found;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (entry.path().string().find(kTempSuffix) != std::string::npos) {
      found.push_back(entry.path().string());
    }
  }
  return found;
}

class DiskFullTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = dir_.Join("data");
    ASSERT_TRUE(GenerateDataset(testing::SmallDataset(root_, 3, 2, 11)).ok());
    options_ = testing::CpuBuildOptions(root_);
  }

  // The scene directories, relative to the root, sorted.
  std::vector<std::string> Scenes() const {
    std::vector<std::string> scenes;
    for (const auto& entry : fs::recursive_directory_iterator(root_)) {
      if (entry.is_directory() && entry.path().filename() == "gt") {
        scenes.push_back(fs::relative(entry.path().parent_path(), root_));
      }
    }
    std::sort(scenes.begin(), scenes.end());
    return scenes;
  }

  testing::TempDir dir_;
  std::string root_;
  BuildOptions options_;
  BuildObserver progress_;  // silent
};

TEST_F(DiskFullTest, OneScenesMasksHitAFullDiskAndTheRerunBuildsIt) {
  const std::vector<std::string> scenes = Scenes();
  ASSERT_EQ(scenes.size(), 3u);
  // Generated scenes are "Bayer/scene-NNN-rggb"; mask names start with the
  // sanitised scene path, so the leaf name picks one scene's masks.
  const std::string victim = scenes[1];
  const std::string needle = fs::path(victim).filename().string();

  DiskFullForScene full(options_.masks_dir, needle);
  auto first = RunBuild(options_, full, progress_);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_GT(full.failed_writes(), 0);
  EXPECT_EQ(first->ExitCode(), 1);
  EXPECT_EQ(first->scenes_failed, 1);
  EXPECT_EQ(first->scenes_built, 2);
  ASSERT_EQ(first->failures.size(), 1u);
  EXPECT_EQ(first->failures[0].scene, victim);

  const std::string& db = options_.db_path;
  const auto status = Column(db, "SELECT scene, status FROM scenes");
  ASSERT_EQ(status.size(), 3u);
  for (const std::string& scene : scenes) {
    EXPECT_EQ(status.at(scene), scene == victim ? "failed" : "ok") << scene;
  }
  // The scene's error and each of its pairs' errors say "disk full" and name
  // the mask file that could not be written.
  const std::string scene_error =
      Column(db, "SELECT scene, error FROM scenes").at(victim);
  EXPECT_NE(scene_error.find("disk full"), std::string::npos) << scene_error;
  EXPECT_NE(scene_error.find(options_.masks_dir + "/"), std::string::npos)
      << scene_error;
  const auto pairs =
      testing::QueryRows(db,
                         "SELECT status, coalesce(error, ''), "
                         "coalesce(mask_path, '') FROM alignments "
                         "WHERE scene = '" +
                             victim + "'");
  ASSERT_EQ(pairs.size(), 3u);  // one GT x (itself + 2 noisy)
  for (const std::string& row : pairs) {
    EXPECT_TRUE(row.starts_with("failed|")) << row;
    EXPECT_NE(row.find("disk full"), std::string::npos) << row;
    EXPECT_NE(row.find(options_.masks_dir + "/"), std::string::npos) << row;
    EXPECT_NE(row.find(needle), std::string::npos) << row;
    EXPECT_TRUE(row.ends_with("||"))
        << "a failed pair records no mask: " << row;
  }
  // The other scenes are wholly ok.
  EXPECT_EQ(testing::QueryRows(
                db,
                "SELECT count(*) FROM alignments WHERE status = 'ok' AND "
                "scene <> '" +
                    victim + "'"),
            std::vector<std::string>{"6|"});
  ExpectConsistent(root_, db);
  EXPECT_EQ(TempFilesUnder(root_), std::vector<std::string>{});
  // No mask of the victim is on disk.
  for (const auto& entry : fs::directory_iterator(options_.masks_dir)) {
    EXPECT_EQ(entry.path().filename().string().find(needle), std::string::npos)
        << entry.path();
  }

  // --status lists the scene as failed (so the next build retries it).
  auto stale = RunStatus(options_, RealFileSystem());
  ASSERT_TRUE(stale.ok());
  ASSERT_EQ(stale->stale.size(), 1u);
  EXPECT_EQ(stale->stale[0].scene, victim);
  EXPECT_EQ(stale->stale[0].reason, "failed");

  // Room again: the rerun builds only the failed scene.
  auto second = RunBuild(options_, RealFileSystem(), progress_);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(second->ExitCode(), 0);
  EXPECT_EQ(second->scenes_built, 1);
  EXPECT_EQ(second->scenes_up_to_date, 2);
  EXPECT_EQ(second->scenes_failed, 0);
  for (const auto& [scene, state] :
       Column(db, "SELECT scene, status FROM scenes")) {
    EXPECT_EQ(state, "ok") << scene;
  }
  EXPECT_EQ(testing::QueryRows(
                db, "SELECT count(*) FROM alignments WHERE status = 'ok'"),
            std::vector<std::string>{"9|"});
  EXPECT_EQ(testing::QueryRows(
                db, "SELECT count(*) FROM scenes WHERE error IS NOT NULL"),
            std::vector<std::string>{"0|"});
  ExpectConsistent(root_, db);
  EXPECT_EQ(TempFilesUnder(root_), std::vector<std::string>{});
  auto up_to_date = RunStatus(options_, RealFileSystem());
  ASSERT_TRUE(up_to_date.ok());
  EXPECT_TRUE(up_to_date->up_to_date());
}

TEST_F(DiskFullTest, MasksDirUnderARegularFileIsAClearErrorNamingThePath) {
  const std::string file = root_ + "/file.txt";
  std::ofstream(file) << "not a directory\n";
  options_.masks_dir = file + "/masks";
  auto result = RunBuild(options_, RealFileSystem(), progress_);
  if (result.ok()) {
    // Also acceptable: every scene failed, each saying why and where.
    EXPECT_EQ(result->ExitCode(), 1);
    EXPECT_EQ(result->scenes_failed, result->scenes_found);
    for (const FailedScene& failure : result->failures) {
      EXPECT_NE(failure.error.find(file), std::string::npos) << failure.error;
    }
  } else {
    const std::string& message = result.status().message();
    EXPECT_NE(message.find(file), std::string::npos) << message;
    // Names the component in the way (the OS says "Not a directory").
    std::string lower = message;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    EXPECT_NE(lower.find("not a directory"), std::string::npos) << message;
  }
  // Nothing was created under or instead of the file.
  EXPECT_TRUE(fs::is_regular_file(file));
  // The manifest holds no ok row naming a mask that does not exist.
  if (fs::exists(options_.db_path)) ExpectConsistent(root_, options_.db_path);
}

TEST_F(DiskFullTest, ReadOnlyMasksDirFailsTheScenesNamingThePath) {
  if (geteuid() == 0) {
    GTEST_SKIP() << "running as root: directory permissions are not enforced";
  }
  fs::create_directories(options_.masks_dir);
  fs::permissions(options_.masks_dir,
                  fs::perms::owner_read | fs::perms::owner_exec |
                      fs::perms::group_read | fs::perms::group_exec);
  auto result = RunBuild(options_, RealFileSystem(), progress_);
  fs::permissions(options_.masks_dir, fs::perms::owner_all);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(result->ExitCode(), 1);
  EXPECT_EQ(result->scenes_failed, 3);
  for (const FailedScene& failure : result->failures) {
    EXPECT_NE(failure.error.find(options_.masks_dir + "/"), std::string::npos)
        << failure.error;
  }
  ExpectConsistent(root_, options_.db_path);
  EXPECT_EQ(TempFilesUnder(root_), std::vector<std::string>{});
}

}  // namespace
}  // namespace dsb
