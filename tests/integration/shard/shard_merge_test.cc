// Shard tasks and their merge, without Slurm (docs/contract.md §7): shards
// built one after another and all at once, merged, give views identical row for
// row to a single-machine build; a new scene is built by exactly one shard; a
// shard killed mid-build loses only its scenes in progress and the rerun
// completes; merging is idempotent, refuses another dataset's or a newer
// schema's task manifest, and two merges at once are refused. With --crops,
// shard tasks crop their own scenes' files into the shared crops directory
// and the merge folds their crop targets in: the crop files, the
// crop_targets rows and the export's crops lists are a single build's.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>
#include <utime.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "sqlite_rows.h"
#include "test_support.h"
#include "tool_process.h"

namespace dsb {
namespace {

namespace fs = std::filesystem;
using testing::kAlignments;
using testing::kScenes;
using testing::QueryRows;

using testing::SpawnTool;
using testing::ToolBinary;
using testing::WaitForExit;

constexpr int kShards = 3;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Runs the tool to completion; its output is in `output` afterwards.
int RunDsb(const std::vector<std::string>& args,
           std::string* output = nullptr) {
  const std::string log =
      fs::temp_directory_path() / ("dsb-shard-" + std::to_string(getpid()) +
                                   "-" + std::to_string(std::rand()) + ".log");
  const int code = WaitForExit(SpawnTool(args, log));
  if (output != nullptr) *output = ReadFile(log);
  fs::remove(log);
  return code;
}

std::vector<std::string> ShardArgs(const std::string& root, int index) {
  return {"--shard", std::to_string(index) + "/" + std::to_string(kShards),
          "-q",      "-j",
          "1",       "--max-shift",
          "16",      root};
}

std::string TaskManifest(const std::string& root, int index) {
  return root + "/dataset-build.db.shards/" + std::to_string(index) + "-of-" +
         std::to_string(kShards) + ".db";
}

// Scenes in a manifest that a build may be writing right now, or -1 when
// it cannot be read at this moment.
int ScenesNow(const std::string& db) {
  sqlite3* handle = nullptr;
  int n = -1;
  if (sqlite3_open_v2(db.c_str(), &handle, SQLITE_OPEN_READONLY, nullptr) ==
      SQLITE_OK) {
    sqlite3_busy_timeout(handle, 1000);
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(handle, "SELECT count(*) FROM scenes", -1, &stmt,
                           nullptr) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW) {
      n = sqlite3_column_int(stmt, 0);
    }
    sqlite3_finalize(stmt);
  }
  sqlite3_close(handle);
  return n;
}

// Scenes recorded in the task manifests now.
std::size_t ScenesInTaskManifests(const std::string& root) {
  std::size_t n = 0;
  for (int i = 0; i < kShards; ++i) {
    if (fs::exists(TaskManifest(root, i))) {
      n += QueryRows(TaskManifest(root, i), kScenes).size();
    }
  }
  return n;
}

void AgeFiles(const std::string& root) {
  // Older than the racy window, so no file is re-hashed for its mtime.
  const std::time_t past = std::time(nullptr) - 3600;
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    struct utimbuf times = {past, past};
    if (entry.is_regular_file()) utime(entry.path().c_str(), &times);
  }
}

class ShardMergeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (ToolBinary().empty()) GTEST_SKIP() << "DSB_BINARY not set";
    root_ = dir_.Join("data");
    ASSERT_EQ(RunDsb({"synth", root_, "--scenes", "9", "--noisy", "2", "--size",
                      "256x192", "--max-shift", "12", "--seed", "16"}),
              0);
    AgeFiles(root_);
    db_ = root_ + "/dataset-build.db";
  }

  // A single-machine build of a copy of the tree as it is now.
  std::string Reference(const std::string& name) {
    const std::string copy = dir_.Join(name);
    fs::copy(root_, copy, fs::copy_options::recursive);
    for (const auto& entry : fs::directory_iterator(copy)) {
      const std::string file = entry.path().filename();
      if (file.starts_with("dataset-build.db") || file == "masks") {
        fs::remove_all(entry.path());
      }
    }
    EXPECT_EQ(RunDsb({copy, "-q", "-j", "2", "--max-shift", "16"}), 0);
    return copy + "/dataset-build.db";
  }

  void ExpectSameViews(const std::string& reference) {
    EXPECT_EQ(QueryRows(db_, kAlignments), QueryRows(reference, kAlignments));
    EXPECT_EQ(QueryRows(db_, kScenes), QueryRows(reference, kScenes));
    // The masks the views name exist, and nothing else is in the folder.
    std::size_t masks = 0;
    for (const std::string& row :
         QueryRows(db_,
                   "SELECT DISTINCT mask_path FROM alignments WHERE status = "
                   "'ok'")) {
      EXPECT_TRUE(fs::exists(root_ + "/" + row.substr(0, row.size() - 1)))
          << row;
      ++masks;
    }
    EXPECT_EQ(static_cast<std::size_t>(
                  std::distance(fs::directory_iterator(root_ + "/masks"),
                                fs::directory_iterator())),
              masks);
    EXPECT_EQ(RunDsb({"--status", "--max-shift", "16", root_}), 0)
        << "--status says something is stale after the merge";
  }

  testing::TempDir dir_;
  std::string root_;
  std::string db_;
};

TEST_F(ShardMergeTest, SequentialShardsMergeToTheSingleMachineViews) {
  const std::string reference = Reference("single");
  for (int i = 0; i < kShards; ++i) ASSERT_EQ(RunDsb(ShardArgs(root_, i)), 0);
  EXPECT_FALSE(fs::exists(db_)) << "a shard task wrote the main manifest";
  std::string status;
  EXPECT_EQ(RunDsb({"--status", "--max-shift", "16", root_}, &status), 1);
  EXPECT_NE(status.find("3 shard task manifests in"), std::string::npos)
      << status;
  // Every scene is in exactly one shard.
  EXPECT_EQ(ScenesInTaskManifests(root_), 9u);
  std::string output;
  ASSERT_EQ(RunDsb({"merge", "--shards", "3", root_}, &output), 0) << output;
  ExpectSameViews(reference);
  // The task manifests are folded in and gone.
  EXPECT_EQ(ScenesInTaskManifests(root_), 0u);
}

TEST_F(ShardMergeTest, ConcurrentShardsMergeToTheSingleMachineViews) {
  const std::string reference = Reference("single");
  std::vector<pid_t> tasks;
  for (int i = 0; i < kShards; ++i) {
    tasks.push_back(
        SpawnTool(ShardArgs(root_, i), dir_.Join(std::to_string(i))));
  }
  for (int i = 0; i < kShards; ++i) {
    EXPECT_EQ(WaitForExit(tasks[i]), 0)
        << ReadFile(dir_.Join(std::to_string(i)));
  }
  EXPECT_EQ(ScenesInTaskManifests(root_), 9u);
  std::string output;
  ASSERT_EQ(RunDsb({"merge", root_}, &output), 0) << output;
  ExpectSameViews(reference);
}

TEST_F(ShardMergeTest, AddingASceneRebuildsExactlyThatSceneInOneShard) {
  for (int i = 0; i < kShards; ++i) ASSERT_EQ(RunDsb(ShardArgs(root_, i)), 0);
  ASSERT_EQ(RunDsb({"merge", root_}), 0);
  const std::string first =
      fs::directory_iterator(root_ + "/Bayer")->path().filename().string();
  fs::copy(root_ + "/Bayer/" + first, root_ + "/Bayer/added-scene",
           fs::copy_options::recursive);
  AgeFiles(root_ + "/Bayer/added-scene");
  for (int i = 0; i < kShards; ++i) ASSERT_EQ(RunDsb(ShardArgs(root_, i)), 0);
  // Exactly one scene was built, by one task, and it is the new one.
  std::vector<std::string> built;
  for (int i = 0; i < kShards; ++i) {
    for (const std::string& row :
         QueryRows(TaskManifest(root_, i), "SELECT scene FROM scenes")) {
      built.push_back(row);
    }
  }
  EXPECT_EQ(built, std::vector<std::string>{"Bayer/added-scene|"});
  ASSERT_EQ(RunDsb({"merge", root_}), 0);
  ExpectSameViews(Reference("single"));
}

TEST_F(ShardMergeTest,
       AKilledShardLosesOnlyScenesInProgressAndTheRerunCompletes) {
  const std::string reference = Reference("single");
  for (int i = 1; i < kShards; ++i) ASSERT_EQ(RunDsb(ShardArgs(root_, i)), 0);
  // Shard 0 is killed (-9) once it has recorded a scene, with others left.
  const std::size_t shard0_total = 9 - ScenesInTaskManifests(root_);
  ASSERT_GE(shard0_total, 2u) << "shard 0 needs two scenes for this test";
  const pid_t pid = SpawnTool(ShardArgs(root_, 0), dir_.Join("killed.log"));
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    if (fs::exists(TaskManifest(root_, 0)) &&
        ScenesNow(TaskManifest(root_, 0)) > 0) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  kill(pid, SIGKILL);
  EXPECT_EQ(WaitForExit(pid), 128 + SIGKILL);
  const std::size_t recorded =
      QueryRows(TaskManifest(root_, 0), kScenes).size();
  ASSERT_GE(recorded, 1u);
  if (recorded == shard0_total) {
    GTEST_SKIP() << "shard 0 finished before the kill landed";
  }

  // The merge keeps what finished and says which shard did not complete.
  std::string output;
  EXPECT_EQ(RunDsb({"merge", "--shards", "3", root_}, &output), 1) << output;
  EXPECT_NE(output.find("shard 0/3 did not complete"), std::string::npos)
      << output;
  EXPECT_EQ(QueryRows(db_, kScenes).size(), 9 - shard0_total + recorded);
  std::string status;
  EXPECT_EQ(RunDsb({"--status", "--max-shift", "16", root_}, &status), 1);

  // Rerunning the shard builds only what it had left.
  ASSERT_EQ(RunDsb(ShardArgs(root_, 0)), 0);
  EXPECT_EQ(QueryRows(TaskManifest(root_, 0), kScenes).size(),
            shard0_total - recorded);
  ASSERT_EQ(RunDsb({"merge", root_}, &output), 0) << output;
  ExpectSameViews(reference);
  for (const auto& entry : fs::recursive_directory_iterator(root_)) {
    EXPECT_EQ(entry.path().string().find(".dsb-tmp"), std::string::npos)
        << entry.path();
  }
}

TEST_F(ShardMergeTest, MergingTheSameTaskManifestTwiceChangesNothing) {
  for (int i = 0; i < kShards; ++i) ASSERT_EQ(RunDsb(ShardArgs(root_, i)), 0);
  const std::string saved = dir_.Join("saved-0-of-3.db");
  fs::copy_file(TaskManifest(root_, 0), saved);
  ASSERT_EQ(RunDsb({"merge", root_}), 0);
  const std::string everything = "SELECT * FROM scene_builds ORDER BY scene";
  const auto scenes = QueryRows(db_, everything);
  const auto pairs =
      QueryRows(db_, "SELECT * FROM alignments ORDER BY 1, 2, 3");
  // The same task manifest again, and a merge with nothing to merge.
  fs::copy_file(saved, TaskManifest(root_, 0));
  std::string output;
  ASSERT_EQ(RunDsb({"merge", root_}, &output), 0) << output;
  EXPECT_NE(output.find("0 scenes merged"), std::string::npos) << output;
  ASSERT_EQ(RunDsb({"merge", root_}), 0);
  EXPECT_EQ(QueryRows(db_, "SELECT * FROM scene_builds ORDER BY scene"),
            scenes);
  EXPECT_EQ(QueryRows(db_, "SELECT * FROM alignments ORDER BY 1, 2, 3"), pairs);
}

TEST_F(ShardMergeTest, RefusesTaskManifestsOfAnotherRootOrANewerSchema) {
  ASSERT_EQ(RunDsb(ShardArgs(root_, 0)), 0);
  ASSERT_EQ(RunDsb(ShardArgs(root_, 1)), 0);
  // Shard 0's manifest claims another dataset; shard 1's a newer schema.
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(TaskManifest(root_, 0).c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db,
                           "UPDATE runs SET parameters = json_set(parameters, "
                           "'$.dataset_root', '/elsewhere/data')",
                           nullptr, nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(db);
    ASSERT_EQ(sqlite3_open(TaskManifest(root_, 1).c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, "PRAGMA user_version = 9999", nullptr, nullptr,
                           nullptr),
              SQLITE_OK);
    sqlite3_close(db);
  }
  std::string output;
  EXPECT_EQ(RunDsb({"merge", root_}, &output), 1);
  EXPECT_NE(output.find("/elsewhere/data"), std::string::npos) << output;
  EXPECT_NE(output.find("shard 1/3 not merged"), std::string::npos) << output;
  EXPECT_NE(output.find("newer"), std::string::npos) << output;
  // Nothing of theirs was merged, and both files are kept.
  EXPECT_TRUE(QueryRows(db_, kScenes).empty());
  EXPECT_TRUE(fs::exists(TaskManifest(root_, 0)));
  EXPECT_TRUE(fs::exists(TaskManifest(root_, 1)));
}

TEST_F(ShardMergeTest, TwoMergesAtOnceAreRefusedLikeTwoBuilds) {
  ASSERT_EQ(RunDsb(ShardArgs(root_, 0)), 0);
  // What a running merge (or build) holds: the manifest's lock, exclusive.
  const int fd = open((db_ + ".lock").c_str(), O_RDWR | O_CREAT, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(flock(fd, LOCK_EX), 0);
  std::string output;
  EXPECT_EQ(RunDsb({"merge", root_}, &output), 1) << output;
  EXPECT_NE(output.find("another dataset-build"), std::string::npos) << output;
  // Shard tasks do not start alongside it either (slurm's pass --wait).
  EXPECT_EQ(RunDsb(ShardArgs(root_, 1), &output), 1) << output;
  EXPECT_NE(output.find("another dataset-build"), std::string::npos) << output;
  close(fd);
  // Shards 1 and 2 never ran.
  EXPECT_EQ(RunDsb({"merge", "--shards", "3", root_}, &output), 1) << output;
  EXPECT_NE(output.find("shard 1/3 did not complete"), std::string::npos)
      << output;
  EXPECT_FALSE(QueryRows(db_, kScenes).empty()) << "shard 0 was not merged";
}

TEST_F(ShardMergeTest, PrintedBatchScriptsRunWithoutSlurm) {
  // `slurm --print` writes the scripts; running them by hand the way Slurm
  // would (SLURM_ARRAY_TASK_ID set per task, the merge last) builds the
  // same manifest as a single machine.
  const std::string reference = Reference("single");
  std::string output;
  ASSERT_EQ(RunDsb({"slurm", root_, "--shards", "3", "--max-shift", "16",
                    "--print", "--", "--partition=any", "--gres=gpu:1"},
                   &output),
            0)
      << output;
  const std::string scripts = db_ + ".shards/slurm/";
  EXPECT_NE(output.find("sbatch '--parsable' '--partition=any' "
                        "'--gres=gpu:1' '" +
                        scripts + "shard-tasks.sbatch'"),
            std::string::npos)
      << output;
  EXPECT_NE(output.find("--dependency=afterany:$array"), std::string::npos)
      << output;
  EXPECT_FALSE(fs::exists(db_)) << "--print must not build or submit";
  for (int i = 0; i < kShards; ++i) {
    const std::string command = "SLURM_ARRAY_TASK_ID=" + std::to_string(i) +
                                " SLURM_CPUS_PER_TASK=1 bash '" + scripts +
                                "shard-tasks.sbatch' > /dev/null 2>&1";
    ASSERT_EQ(std::system(command.c_str()), 0) << command;
  }
  ASSERT_EQ(std::system(("bash '" + scripts + "merge.sbatch' > " +
                         dir_.Join("merge.log") + " 2>&1")
                            .c_str()),
            0)
      << ReadFile(dir_.Join("merge.log"));
  ExpectSameViews(reference);
}

TEST_F(ShardMergeTest, RecordsThatNoLongerMatchTheTreeOrTheirKeyAreNotMerged) {
  for (int i = 0; i < kShards; ++i) ASSERT_EQ(RunDsb(ShardArgs(root_, i)), 0);
  // After the tasks ran, one capture of a scene changes (another valid raw
  // takes its place), and another scene's record is tampered with.
  std::vector<std::string> noisy;
  const std::string changed = root_ + "/Bayer/scene-000-rggb";
  for (const auto& entry : fs::directory_iterator(changed)) {
    if (entry.is_regular_file()) noisy.push_back(entry.path());
  }
  ASSERT_EQ(noisy.size(), 2u);
  fs::copy_file(noisy[0], noisy[1], fs::copy_options::overwrite_existing);
  std::string tampered;
  for (int i = 0; i < kShards && tampered.empty(); ++i) {
    for (const std::string& row : QueryRows(
             TaskManifest(root_, i),
             "SELECT scene FROM scenes WHERE scene <> 'Bayer/scene-000-rggb' "
             "LIMIT 1")) {
      tampered = row.substr(0, row.size() - 1);
      sqlite3* db = nullptr;
      ASSERT_EQ(sqlite3_open(TaskManifest(root_, i).c_str(), &db), SQLITE_OK);
      const std::string sql =
          "UPDATE scene_builds SET key = '0123456789abcdef0123456789abcdef' "
          "WHERE scene = '" +
          tampered + "'";
      ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr),
                SQLITE_OK);
      sqlite3_close(db);
    }
  }
  ASSERT_FALSE(tampered.empty());
  std::string output;
  ASSERT_EQ(RunDsb({"merge", root_}, &output), 0) << output;
  EXPECT_NE(output.find("stale (changed since the task built them)"),
            std::string::npos)
      << output;
  const auto in_main = QueryRows(db_, "SELECT scene FROM scenes");
  EXPECT_EQ(in_main.size(), 7u);
  for (const std::string& row : in_main) {
    EXPECT_NE(row, "Bayer/scene-000-rggb|");
    EXPECT_NE(row, tampered + "|");
  }
  // --status sees both as new, the shards rebuild exactly those two, and
  // the merge then matches a single build of the tree as it is now.
  std::string status;
  EXPECT_EQ(RunDsb({"--status", "--max-shift", "16", root_}, &status), 1);
  EXPECT_NE(status.find("2 stale, 7 up to date"), std::string::npos) << status;
  for (int i = 0; i < kShards; ++i) ASSERT_EQ(RunDsb(ShardArgs(root_, i)), 0);
  EXPECT_EQ(ScenesInTaskManifests(root_), 2u);
  ASSERT_EQ(RunDsb({"merge", root_}, &output), 0) << output;
  ExpectSameViews(Reference("single"));
}

TEST_F(ShardMergeTest, ARequeuedTaskRedoesNothingAndNeverRunsTwiceAtOnce) {
  // A duplicate of a running task (a requeue racing the old one) is refused
  // by the task manifest's lock.
  fs::create_directories(root_ + "/dataset-build.db.shards");
  const int lock_fd =
      open((TaskManifest(root_, 1) + ".lock").c_str(), O_RDWR | O_CREAT, 0644);
  ASSERT_GE(lock_fd, 0);
  ASSERT_EQ(flock(lock_fd, LOCK_EX), 0);
  std::string output;
  EXPECT_EQ(RunDsb(ShardArgs(root_, 1), &output), 1);
  EXPECT_NE(output.find("1-of-3.db"), std::string::npos) << output;
  close(lock_fd);
  // A task run again after it completed builds nothing.
  ASSERT_EQ(RunDsb(ShardArgs(root_, 1)), 0);
  ASSERT_EQ(RunDsb(ShardArgs(root_, 1)), 0);
  EXPECT_EQ(QueryRows(TaskManifest(root_, 1),
                      "SELECT scenes_built FROM runs ORDER BY id DESC LIMIT 1"),
            std::vector<std::string>{"0|"});
}

// Every file under `dir`, by path relative to it, with its bytes.
std::map<std::string, std::string> FilesUnder(const std::string& dir) {
  std::map<std::string, std::string> files;
  if (!fs::exists(dir)) return files;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    files[fs::relative(entry.path(), dir).string()] =
        std::string(std::istreambuf_iterator<char>(in), {});
  }
  return files;
}

// crop_targets rows without built_at (when the row was written).
constexpr const char* kCropTargets =
    "SELECT rel_path, scene, hash, params, is_bayer, frame_top, frame_left, "
    "rgb_mean, crops FROM crop_targets ORDER BY rel_path";

std::string ExportYaml(const std::string& root, const std::string& out) {
  EXPECT_EQ(RunDsb({"export", "--format", "rawnind-yaml", "-o", out, root}), 0);
  return ReadFile(out);
}

TEST(ShardCropsTest, ShardedCropsMergeToTheSingleMachineCrops) {
  if (ToolBinary().empty()) GTEST_SKIP() << "DSB_BINARY not set";
  testing::TempDir dir;
  const std::string root = dir.Join("data");
  const std::string db = root + "/dataset-build.db";
  // 1024 x 900: one crop of RawNIND's grid per file; 4 scenes of 2 files.
  ASSERT_EQ(RunDsb({"synth", root, "--scenes", "4", "--noisy", "1", "--size",
                    "1024x900", "--cfa", "rggb", "--max-shift", "12", "--seed",
                    "15"}),
            0);
  AgeFiles(root);
  const std::string single = dir.Join("single");
  fs::copy(root, single, fs::copy_options::recursive);
  ASSERT_EQ(RunDsb({"-q", "-j", "2", "--max-shift", "16", "--crops", single}),
            0);
  ASSERT_EQ(QueryRows(single + "/dataset-build.db",
                      "SELECT count(*) FROM crop_targets"),
            std::vector<std::string>{"8|"});

  for (int i = 0; i < kShards; ++i) {
    std::vector<std::string> args = ShardArgs(root, i);
    args.insert(args.begin(), "--crops");
    std::string output;
    ASSERT_EQ(RunDsb(args, &output), 0) << output;
    EXPECT_EQ(output.find("ignored"), std::string::npos) << output;
  }
  EXPECT_FALSE(fs::exists(db)) << "a shard task wrote the main manifest";
  // Every file was cropped by exactly one task, into the shared directory.
  std::size_t targets = 0;
  for (int i = 0; i < kShards; ++i) {
    if (fs::exists(TaskManifest(root, i))) {
      targets += QueryRows(TaskManifest(root, i), kCropTargets).size();
    }
  }
  EXPECT_EQ(targets, 8u);
  EXPECT_EQ(RunDsb({"--status", "--crops", "--max-shift", "16", root}), 1)
      << "unmerged task manifests must be reported";

  const std::string saved = dir.Join("saved-0-of-3.db");
  fs::copy_file(TaskManifest(root, 0), saved);
  std::string output;
  ASSERT_EQ(RunDsb({"merge", "--shards", "3", root}, &output), 0) << output;
  const auto crop_files = FilesUnder(root + "/crops");
  EXPECT_EQ(crop_files.size(), 16u);  // a .npy and a .tif per file
  EXPECT_TRUE(crop_files == FilesUnder(single + "/crops"))
      << "crop files differ in names or bytes from a single build's";
  EXPECT_EQ(QueryRows(db, kCropTargets),
            QueryRows(single + "/dataset-build.db", kCropTargets));
  EXPECT_EQ(QueryRows(db, kAlignments),
            QueryRows(single + "/dataset-build.db", kAlignments));
  const std::string yaml = ExportYaml(root, dir.Join("sharded.yaml"));
  EXPECT_NE(yaml.find("coordinates"), std::string::npos) << yaml;
  EXPECT_EQ(yaml, ExportYaml(single, dir.Join("single.yaml")));
  EXPECT_EQ(RunDsb({"--status", "--crops", "--max-shift", "16", root}, &output),
            0)
      << output;

  // Merging the same task manifest again, and merging nothing, change
  // nothing, built_at included.
  const std::string all_rows = "SELECT * FROM crop_targets ORDER BY rel_path";
  const auto rows = QueryRows(db, all_rows);
  fs::copy_file(saved, TaskManifest(root, 0));
  ASSERT_EQ(RunDsb({"merge", root}, &output), 0) << output;
  ASSERT_EQ(RunDsb({"merge", root}, &output), 0) << output;
  EXPECT_EQ(QueryRows(db, all_rows), rows);
  EXPECT_TRUE(FilesUnder(root + "/crops") == crop_files);

  // A scene that vanished takes its crops with it at the merge, as a
  // --crops build prunes them.
  const std::string gone =
      QueryRows(db, "SELECT min(scene) FROM crop_targets").at(0);
  const std::string scene = gone.substr(0, gone.size() - 1);
  fs::remove_all(root + "/" + scene);
  fs::remove_all(single + "/" + scene);
  ASSERT_EQ(RunDsb({"merge", root}, &output), 0) << output;
  ASSERT_EQ(RunDsb({"-q", "-j", "2", "--max-shift", "16", "--crops", single}),
            0);
  EXPECT_EQ(FilesUnder(root + "/crops").size(), 12u);
  EXPECT_TRUE(FilesUnder(root + "/crops") == FilesUnder(single + "/crops"));
  EXPECT_EQ(QueryRows(db, kCropTargets),
            QueryRows(single + "/dataset-build.db", kCropTargets));
  EXPECT_EQ(RunDsb({"--status", "--crops", "--max-shift", "16", root}), 0);
}

}  // namespace
}  // namespace dsb
