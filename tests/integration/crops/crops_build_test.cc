// --crops as cached targets, through the real binary: every file cropped
// once, a rerun writes nothing, an added scene writes only its crops, a
// removed one is pruned, --status reports missing and left-over crops, and
// a kill -9 while cropping leaves nothing a rerun trusts.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "sqlite_rows.h"
#include "test_support.h"
#include "tool_process.h"

namespace dsb {
namespace {

namespace fs = std::filesystem;
using testing::RunTool;
using testing::SpawnTool;
using testing::ToolBinary;
using testing::WaitForExit;

// Every regular file under `dir` with its last write time.
std::map<std::string, fs::file_time_type> Files(const std::string& dir) {
  std::map<std::string, fs::file_time_type> files;
  if (!fs::exists(dir)) return files;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (entry.is_regular_file()) {
      files[entry.path().string()] = entry.last_write_time();
    }
  }
  return files;
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// The crop files the manifest names (absolute), each checked to exist.
std::set<std::string> RecordedCropFiles(const std::string& root,
                                        const std::string& db) {
  std::set<std::string> files;
  for (const std::string& row : testing::QueryRows(
           db,
           "SELECT j.value ->> 2, j.value ->> 3 FROM crop_targets, "
           "json_each(crop_targets.crops) AS j")) {
    std::size_t start = 0;
    while (start < row.size()) {
      const std::size_t bar = row.find('|', start);
      const std::string path = row.substr(start, bar - start);
      if (!path.empty() && path != "NULL") files.insert(root + "/" + path);
      start = bar + 1;
    }
  }
  return files;
}

void AgeFiles(const std::string& root) {
  const auto past = fs::file_time_type::clock::now() - std::chrono::hours(1);
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    if (entry.is_regular_file()) fs::last_write_time(entry.path(), past);
  }
}

class CropsBuildTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (ToolBinary().empty()) GTEST_SKIP() << "DSB_BINARY is not set";
    root_ = dir_.Join("data");
    crops_ = root_ + "/crops";
    db_ = root_ + "/dataset-build.db";
    // 1024 x 900: one crop of RawNIND's grid per file.
    ASSERT_EQ(RunTool({"synth", root_, "--scenes", "2", "--noisy", "1",
                       "--size", "1024x900", "--cfa", "rggb", "--seed", "3"}),
              0);
    AgeFiles(root_);
  }
  testing::TempDir dir_;
  std::string root_, crops_, db_;
};

TEST_F(CropsBuildTest, CachedPrunedAndReported) {
  // Without --crops nothing is written; --status --crops reports every
  // file's crops as missing.
  ASSERT_EQ(RunTool({"-q", "-j", "2", root_}), 0);
  EXPECT_TRUE(Files(crops_).empty());
  EXPECT_EQ(RunTool({"--status", "--crops", root_}), 1);
  EXPECT_EQ(RunTool({"--status", root_}), 0);

  ASSERT_EQ(RunTool({"-q", "-j", "2", "--crops", root_}), 0);
  const auto first = Files(crops_);
  // 4 files (2 scenes x GT + noisy), one crop each: an .npy and a .tif.
  ASSERT_EQ(first.size(), 8u);
  EXPECT_EQ(RecordedCropFiles(root_, db_).size(), 8u);
  EXPECT_EQ(RunTool({"--status", "--crops", root_}), 0);

  // A rerun writes nothing.
  ASSERT_EQ(RunTool({"-q", "-j", "2", "--crops", root_}), 0);
  EXPECT_EQ(Files(crops_), first);

  // An added scene: only its crops are written.
  const std::string more = dir_.Join("more");
  ASSERT_EQ(RunTool({"synth", more, "--scenes", "1", "--noisy", "1", "--size",
                     "1024x900", "--cfa", "bggr", "--seed", "9"}),
            0);
  fs::copy(more + "/Bayer/scene-000-bggr", root_ + "/Bayer/added",
           fs::copy_options::recursive);
  AgeFiles(root_ + "/Bayer/added");
  EXPECT_EQ(RunTool({"--status", "--crops", root_}), 1);
  ASSERT_EQ(RunTool({"-q", "-j", "2", "--crops", root_}), 0);
  const auto second = Files(crops_);
  EXPECT_EQ(second.size(), 12u);
  for (const auto& [path, time] : first) {
    ASSERT_TRUE(second.contains(path)) << path;
    EXPECT_EQ(second.at(path), time) << path << " was rewritten";
  }

  // A removed scene: its crops are reported, then pruned.
  fs::remove_all(root_ + "/Bayer/added");
  EXPECT_EQ(RunTool({"--status", "--crops", root_}), 1);
  ASSERT_EQ(RunTool({"-q", "-j", "2", "--crops", root_}), 0);
  EXPECT_EQ(Files(crops_), first);
  EXPECT_EQ(RecordedCropFiles(root_, db_).size(), 8u);
  EXPECT_EQ(testing::QueryRows(db_, "SELECT count(*) FROM crop_targets"),
            std::vector<std::string>{"4|"});
}

// The crops of a file the scene build decodes are cut from that decode: a
// fresh --crops build of Bayer scenes decodes no file a second time, while
// turning --crops on for an already built dataset must decode every file.
TEST_F(CropsBuildTest, CropsRideTheSceneBuildsDecode) {
  const std::string fresh = dir_.Join("fresh");
  fs::copy(root_, fresh, fs::copy_options::recursive);
  const std::string log = dir_.Join("fresh.json");
  ASSERT_EQ(
      WaitForExit(SpawnTool({"--json", "-j", "2", "--crops", fresh}, log)), 0);
  const std::string json = Slurp(log);
  EXPECT_NE(json.find("\"files_cropped\": 4"), std::string::npos) << json;
  EXPECT_NE(json.find("\"files_decoded\": 0"), std::string::npos) << json;
  EXPECT_NE(json.find("\"files_decoded\": 4,"), std::string::npos)
      << "the scene build decodes each of the 4 files once: " << json;

  ASSERT_EQ(RunTool({"-q", "-j", "2", root_}), 0);
  const std::string later = dir_.Join("later.json");
  ASSERT_EQ(
      WaitForExit(SpawnTool({"--json", "-j", "2", "--crops", root_}, later)),
      0);
  const std::string json_later = Slurp(later);
  EXPECT_NE(json_later.find("\"files_cropped\": 4"), std::string::npos)
      << json_later;
  EXPECT_NE(json_later.find("\"files_decoded\": 4"), std::string::npos)
      << json_later;
  // Same crops either way, byte for byte.
  for (const std::string& path : RecordedCropFiles(root_, db_)) {
    EXPECT_EQ(Slurp(path), Slurp(fresh + path.substr(root_.size()))) << path;
  }
  EXPECT_EQ(RecordedCropFiles(root_, db_).size(), 8u);
}

// Kill -9 while cropping, with `scenes_first` the crop stage's own decodes
// (scenes already built), else crops cut from the scene build's decodes.
void KillWhileCropping(const std::string& root, const std::string& db,
                       const std::string& crops, const std::string& reference,
                       bool scenes_first);

TEST_F(CropsBuildTest, KillDuringCroppingLeavesNothingTrusted) {
  // A reference: the same crops from an uninterrupted build elsewhere.
  const std::string reference = dir_.Join("reference");
  fs::copy(root_, reference, fs::copy_options::recursive);
  ASSERT_EQ(RunTool({"-q", "-j", "2", "--crops", reference}), 0);
  const std::string fresh = dir_.Join("fresh");
  fs::copy(root_, fresh, fs::copy_options::recursive);
  KillWhileCropping(root_, db_, crops_, reference, /*scenes_first=*/true);
  KillWhileCropping(fresh, fresh + "/dataset-build.db", fresh + "/crops",
                    reference, /*scenes_first=*/false);
}

void KillWhileCropping(const std::string& root_, const std::string& db_,
                       const std::string& crops_, const std::string& reference,
                       bool scenes_first) {
  if (scenes_first) {
    ASSERT_EQ(RunTool({"-q", "-j", "2", root_}), 0);
  }

  // Kill -9 at increasing moments of the crop stage until one lands while
  // some but not all crops exist (or the build finishes first).
  // A fresh build spends its first ~100 ms creating the manifest (a kill
  // there leaves a manifest that only a writer can recover, which the
  // rerun below is; nothing of the crops to check yet).
  for (int delay_ms = scenes_first ? 20 : 160; delay_ms < 8000; delay_ms *= 2) {
    const pid_t pid = SpawnTool({"-q", "-j", "2", "--crops", root_});
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    kill(pid, SIGKILL);
    WaitForExit(pid);
    // Whatever the manifest names is complete and identical to the
    // reference's file.
    for (const std::string& path : RecordedCropFiles(root_, db_)) {
      ASSERT_TRUE(fs::exists(path)) << path;
      const std::string twin =
          reference + path.substr(root_.size());  // same relative path
      EXPECT_EQ(Slurp(path), Slurp(twin)) << path;
    }
    const auto targets =
        testing::QueryRows(db_, "SELECT count(*) FROM crop_targets");
    std::printf(
        "%s: kill -9 after %d ms: %s crop targets recorded, %zu files\n",
        scenes_first ? "scenes first" : "fresh build", delay_ms,
        targets.empty() ? "?" : targets[0].c_str(), Files(crops_).size());
    if (targets == std::vector<std::string>{"4|"}) break;
  }
  // The rerun completes the crops and sweeps leftovers: the directory then
  // holds exactly what the manifest names, byte-identical to the reference.
  ASSERT_EQ(RunTool({"-q", "-j", "2", "--crops", root_}), 0);
  const auto files = Files(crops_);
  std::set<std::string> on_disk;
  for (const auto& [path, time] : files) on_disk.insert(path);
  EXPECT_EQ(on_disk, RecordedCropFiles(root_, db_));
  EXPECT_EQ(on_disk.size(), 8u);
  for (const std::string& path : on_disk) {
    EXPECT_EQ(Slurp(path), Slurp(reference + path.substr(root_.size())))
        << path;
  }
}

}  // namespace
}  // namespace dsb
