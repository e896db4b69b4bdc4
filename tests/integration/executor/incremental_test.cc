// The incremental build end to end: real generated DNGs in a temp dir, the
// real file system, real SQLite. Proves docs/contract.md §4/§5 by the build's
// own counters (what it hashed, decoded and aligned), never by timing.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <utime.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "build_fixtures.h"
#include "executor/build_observer.h"
#include "executor/executor.h"
#include "synth/generate.h"
#include "test_support.h"

namespace dsb {
namespace {

namespace fs = std::filesystem;

// Sets every file's mtime well into the past, as files copied from a camera
// are; fresh files are "racy" and re-hashed on purpose (see hash/).
void AgeFiles(const std::string& root) {
  const std::time_t past = std::time(nullptr) - 3600;
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    if (!entry.is_regular_file()) continue;
    struct utimbuf times = {past, past};
    utime(entry.path().c_str(), &times);
  }
}

std::vector<std::map<std::string, std::string>> Query(const std::string& db,
                                                      const std::string& sql) {
  sqlite3* handle = nullptr;
  EXPECT_EQ(sqlite3_open_v2(db.c_str(), &handle, SQLITE_OPEN_READONLY, nullptr),
            SQLITE_OK);
  sqlite3_stmt* statement = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(handle, sql.c_str(), -1, &statement, nullptr),
            SQLITE_OK)
      << sqlite3_errmsg(handle);
  std::vector<std::map<std::string, std::string>> rows;
  while (statement != nullptr && sqlite3_step(statement) == SQLITE_ROW) {
    std::map<std::string, std::string> row;
    for (int i = 0; i < sqlite3_column_count(statement); ++i) {
      const unsigned char* text = sqlite3_column_text(statement, i);
      row[sqlite3_column_name(statement, i)] =
          text ? reinterpret_cast<const char*>(text) : "NULL";
    }
    rows.push_back(row);
  }
  sqlite3_finalize(statement);
  sqlite3_close(handle);
  return rows;
}

class IncrementalBuildTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = dir_.Join("dataset");
    Generate(root_, 2, /*seed=*/11);
    AgeFiles(root_);
    options_ = testing::CpuBuildOptions(root_, /*max_shift=*/24);
  }

  static void Generate(const std::string& out, int scenes, int seed) {
    SynthOptions synth;
    synth.out_dir = out;
    synth.scenes = scenes;
    synth.noisy = 2;
    synth.gts_per_scene = 1;
    synth.width = 288;
    synth.height = 192;
    synth.cfa = "mixed";
    synth.seed = static_cast<std::uint64_t>(seed);
    synth.max_shift = 16;
    ::dsb::Status generated = GenerateDataset(synth);
    ASSERT_TRUE(generated.ok()) << generated.ToString();
  }

  BuildReport Build() {
    BuildObserver progress;  // silent
    Result<BuildReport> report = RunBuild(options_, RealFileSystem(), progress);
    EXPECT_TRUE(report.ok()) << report.status().ToString();
    return report.ok() ? *report : BuildReport();
  }

  StatusReport Status() {
    Result<StatusReport> report = RunStatus(options_, RealFileSystem());
    EXPECT_TRUE(report.ok()) << report.status().ToString();
    return report.ok() ? *report : StatusReport();
  }

  std::map<std::string, std::string> BuiltAt() {
    std::map<std::string, std::string> built_at;
    for (auto& row :
         Query(options_.db_path, "SELECT scene, built_at FROM scenes")) {
      built_at[row["scene"]] = row["built_at"];
    }
    return built_at;
  }

  std::vector<std::string> NoisyFiles() {
    std::vector<std::string> files;
    for (const auto& entry : fs::recursive_directory_iterator(root_)) {
      const std::string path = entry.path().string();
      if (entry.is_regular_file() && path.ends_with(".dng") &&
          path.find("/gt/") == std::string::npos) {
        files.push_back(path);
      }
    }
    std::sort(files.begin(), files.end());
    return files;
  }

  testing::TempDir dir_;
  std::string root_;
  BuildOptions options_;
};

TEST_F(IncrementalBuildTest, FirstBuildRecordsEveryPairAndASecondDoesNothing) {
  BuildReport first = Build();
  EXPECT_EQ(first.scenes_found, 2);
  EXPECT_EQ(first.scenes_built, 2);
  EXPECT_EQ(first.scenes_failed, 0);
  // 1 GT x (1 GT + 2 noisy) pairs per scene.
  EXPECT_EQ(first.pairs_ok, 6);
  EXPECT_EQ(first.ExitCode(), 0);
  auto rows =
      Query(options_.db_path, "SELECT status, mask_path FROM alignments");
  ASSERT_EQ(rows.size(), 6u);
  for (auto& row : rows) {
    EXPECT_EQ(row["status"], "ok");
    EXPECT_TRUE(fs::exists(root_ + "/" + row["mask_path"])) << row["mask_path"];
  }
  EXPECT_TRUE(Status().up_to_date());

  const auto built_at = BuiltAt();
  BuildReport second = Build();
  EXPECT_EQ(second.scenes_up_to_date, 2);
  EXPECT_EQ(second.scenes_built, 0);
  EXPECT_EQ(second.files_hashed, 0);
  EXPECT_EQ(second.files_decoded, 0);
  EXPECT_EQ(second.pairs_aligned, 0);
  EXPECT_EQ(BuiltAt(), built_at);
}

TEST_F(IncrementalBuildTest, AddingASceneRebuildsOnlyThatScene) {
  Build();
  const auto before = BuiltAt();
  Generate(dir_.Join("more"), 1, /*seed=*/99);
  fs::rename(dir_.Join("more"), root_ + "/added");
  AgeFiles(root_);
  StatusReport status = Status();
  ASSERT_EQ(status.stale.size(), 1u);
  EXPECT_EQ(status.stale[0].reason, "new");
  BuildReport report = Build();
  EXPECT_EQ(report.scenes_built, 1);
  EXPECT_EQ(report.scenes_up_to_date, 2);
  const auto after = BuiltAt();
  for (const auto& [scene, when] : before) EXPECT_EQ(after.at(scene), when);
  EXPECT_EQ(after.size(), 3u);
}

TEST_F(IncrementalBuildTest,
       TouchingRebuildsNothingChangingBytesRebuildsItsScene) {
  Build();
  const auto files = NoisyFiles();
  ASSERT_FALSE(files.empty());
  // New mtime, same bytes: re-hashed, not rebuilt.
  const std::time_t later = std::time(nullptr) - 600;
  struct utimbuf times = {later, later};
  utime(files[0].c_str(), &times);
  EXPECT_TRUE(Status().up_to_date());
  BuildReport touched = Build();
  EXPECT_EQ(touched.files_hashed, 1);
  EXPECT_EQ(touched.files_decoded, 0);
  EXPECT_EQ(touched.scenes_built, 0);

  // Different bytes behind the same size, mtime and inode: invisible to the
  // stat check by design (as in git and ninja); --verify finds it.
  {
    std::fstream file(files[0],
                      std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(-64, std::ios::end);
    file.write("changed!", 8);
  }
  utime(files[0].c_str(), &times);
  EXPECT_TRUE(Status().up_to_date());
  options_.verify = true;
  StatusReport verified = Status();
  ASSERT_EQ(verified.stale.size(), 1u);
  EXPECT_EQ(verified.stale[0].reason, "changed");
  options_.verify = false;

  // Different bytes with a new mtime, as any real edit: exactly that scene.
  const std::time_t edited = std::time(nullptr) - 300;
  struct utimbuf edit_times = {edited, edited};
  utime(files[0].c_str(), &edit_times);
  StatusReport status = Status();
  ASSERT_EQ(status.stale.size(), 1u);
  EXPECT_EQ(status.stale[0].reason, "changed");
  BuildReport changed = Build();
  EXPECT_EQ(changed.scenes_built, 1);
  EXPECT_EQ(changed.scenes_up_to_date, 1);
}

TEST_F(IncrementalBuildTest, RemovingFilesAndScenes) {
  Build();
  const auto files = NoisyFiles();
  fs::remove(files[0]);
  StatusReport status = Status();
  ASSERT_EQ(status.stale.size(), 1u);
  EXPECT_EQ(status.stale[0].reason, "changed");
  BuildReport report = Build();
  EXPECT_EQ(report.scenes_built, 1);
  EXPECT_EQ(Query(options_.db_path, "SELECT 1 FROM alignments").size(), 5u);

  // Remove a whole scene: pruned with its masks.
  const auto scenes =
      Query(options_.db_path, "SELECT scene FROM scenes ORDER BY scene");
  ASSERT_EQ(scenes.size(), 2u);
  const std::string gone = scenes[0].at("scene");
  auto masks =
      Query(options_.db_path,
            "SELECT mask_path FROM alignments WHERE scene = '" + gone + "'");
  ASSERT_FALSE(masks.empty());
  fs::remove_all(root_ + "/" + gone);
  status = Status();
  ASSERT_EQ(status.stale.size(), 1u);
  EXPECT_EQ(status.stale[0].reason, "removed");
  report = Build();
  EXPECT_EQ(report.scenes_pruned, 1);
  for (auto& mask : masks)
    EXPECT_FALSE(fs::exists(root_ + "/" + mask["mask_path"]));
  EXPECT_EQ(Query(options_.db_path, "SELECT 1 FROM scenes").size(), 1u);
}

TEST_F(IncrementalBuildTest, ChangingAResultParameterMarksEverySceneParams) {
  Build();
  options_.align.max_shift = 20;
  StatusReport status = Status();
  ASSERT_EQ(status.stale.size(), 2u);
  for (const StaleScene& scene : status.stale)
    EXPECT_EQ(scene.reason, "params");
  options_.align.max_shift = 24;
  options_.jobs = 1;  // not a result parameter
  EXPECT_TRUE(Status().up_to_date());
  // A mask parameter invalidates every scene too.
  options_.mask.closing_radius += 1;
  status = Status();
  ASSERT_EQ(status.stale.size(), 2u);
  for (const StaleScene& scene : status.stale)
    EXPECT_EQ(scene.reason, "params");
}

TEST_F(IncrementalBuildTest, DryRunChangesNothing) {
  options_.dry_run = true;
  BuildReport report = Build();
  EXPECT_EQ(report.planned.size(), 2u);
  EXPECT_FALSE(fs::exists(options_.db_path));
  EXPECT_FALSE(fs::exists(options_.masks_dir));
}

}  // namespace
}  // namespace dsb
