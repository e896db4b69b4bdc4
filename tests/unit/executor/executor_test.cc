// The executor in memory, like ninja's build_test.cc: a FakeFileSystem for
// the dataset and the masks, a fake SceneRunner instead of decode / align /
// mask, a fake lock and clock; only the manifest is real SQLite (in a temp
// dir: fast enough to need no fake). Reruns, "no work", pruning, failures,
// interrupts, ordering, the lock and dry runs, in milliseconds.
#include "executor/executor.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "executor/build_observer.h"
#include "executor/interrupt.h"
#include "fake_file_system.h"
#include "shard/shard.h"
#include "test_support.h"

namespace dsb {
namespace {

using testing::FakeFileSystem;
using testing::TempDir;

constexpr std::int64_t kSecond = 1'000'000'000;

// Records what the executor told its watcher.
class RecordingObserver : public BuildObserver {
 public:
  void SetTotals(int scenes, int files, std::uint64_t bytes) override {
    std::lock_guard lock(mutex_);
    totals.push_back({scenes, files, static_cast<int>(bytes)});
  }
  void SceneDone() override {
    std::lock_guard lock(mutex_);
    ++scenes_done;
  }
  void Message(std::string_view line) override {
    std::lock_guard lock(mutex_);
    messages.emplace_back(line);
  }
  void Error(std::string_view line) override {
    std::lock_guard lock(mutex_);
    errors.emplace_back(line);
  }
  void Clear() {
    std::lock_guard lock(mutex_);
    totals.clear();
    scenes_done = 0;
    messages.clear();
    errors.clear();
  }
  std::vector<std::array<int, 3>> totals;
  int scenes_done = 0;
  std::vector<std::string> messages, errors;

 private:
  std::mutex mutex_;
};

// Builds scenes in memory: every pair ok with a shift derived from its
// index, each mask written (a few bytes) where the plan says; scenes named
// in `fail` get a failed pair, the scene named `interrupt_at` raises the
// interrupt and comes back cancelled.
class FakeSceneRunner : public SceneRunner {
 public:
  explicit FakeSceneRunner(FileSystem& fs) : fs_(fs) {}

  void Prepare() override { ++prepares; }
  Status Start(BuildObserver& observer) override {
    ++starts;
    if (!start_error.ok()) return start_error;
    observer.Message("aligning on the fake device");
    return Status::Ok();
  }
  std::string device() const override { return "fake"; }
  void Release() override {
    ++releases;
    std::lock_guard lock(mutex_);
    ran_at_release = ran.size();
  }

  SceneOutcome Run(const SceneWork& work, BuildCounters& counters,
                   BuildObserver& observer) override {
    {
      std::lock_guard lock(mutex_);
      ran.push_back(work.scene);
      works[work.scene] = work;
    }
    SceneOutcome outcome;
    outcome.scene = work.scene;
    outcome.key = work.key;
    if (work.scene == interrupt_at) {
      RequestInterrupt();
      outcome.cancelled = true;
      outcome.status = Status::Cancelled("interrupted");
      return outcome;
    }
    outcome.cfa_name = "RGGB";
    outcome.width = 64;
    outcome.height = 48;
    for (const FileRecord& file : work.files()) {
      FileOutcome out;
      out.file = file;
      FileMetadata metadata;
      metadata.cfa_name = "RGGB";
      metadata.width = 64;
      metadata.height = 48;
      out.metadata = metadata;
      outcome.files.push_back(out);
      counters.files_decoded++;
      observer.FileDone(file.size);
    }
    for (std::size_t i = 0; i < work.pairs.size(); ++i) {
      const PairWork& planned = work.pairs[i];
      PairOutcome pair;
      pair.gt_path = planned.pair.gt_path;
      pair.noisy_path = planned.pair.other_path;
      if (fail.contains(work.scene) && i + 1 == work.pairs.size()) {
        pair.status = Status::Corrupt(planned.pair.other_path + ": damaged");
      } else {
        pair.alignment.dy = static_cast<int>(i);
        pair.alignment.confidence = 1;
        Status written =
            fs_.WriteFileAtomically(planned.mask.write_path, Bytes("png"));
        if (written.ok()) counters.masks_written++;  // as the real runner
        pair.status = written;
        pair.mask_path = planned.mask.record_path;
        pair.mask_mean = 1;
      }
      outcome.pairs.push_back(pair);
    }
    outcome.status = SceneStatus(work, outcome);
    return outcome;
  }

  static std::vector<std::uint8_t> Bytes(std::string_view s) {
    return {s.begin(), s.end()};
  }

  int starts = 0;
  int prepares = 0;  // told a scene is coming, before Start
  int releases = 0;  // told the build's scenes have run
  std::size_t ran_at_release = 0;
  Status start_error;
  std::set<std::string> fail;
  std::string interrupt_at;
  std::vector<std::string> ran;
  std::map<std::string, SceneWork> works;

 private:
  FileSystem& fs_;
  std::mutex mutex_;
};

class ExecutorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ClearInterrupt();
    fs_.SetNowNs(100 * kSecond);
    // s1 is the larger scene: it is built first.
    fs_.AddFile("/data/s1/gt/g.arw", std::string(300, 'g'), 10 * kSecond);
    fs_.AddFile("/data/s1/n1.arw", std::string(300, 'a'), 10 * kSecond);
    fs_.AddFile("/data/s1/n2.arw", std::string(300, 'b'), 10 * kSecond);
    fs_.AddFile("/data/s2/gt/g.arw", std::string(100, 'h'), 10 * kSecond);
    fs_.AddFile("/data/s2/n.arw", std::string(100, 'c'), 10 * kSecond);
    fs_.AddFile("/data/notes.txt", "not a scene", 10 * kSecond);
    options_.root = "/data";
    options_.db_path = db_dir_.Join("dataset-build.db");
    options_.masks_dir = "/data/masks";
    options_.jobs = 1;  // one scene at a time: the order is observable
    options_.device = Device::kCpu;
  }
  void TearDown() override { ClearInterrupt(); }

  BuildEnvironment Environment() {
    BuildEnvironment env;
    env.fs = &fs_;
    env.observer = &observer_;
    env.runner = &runner_;
    const std::string db = options_.db_path;
    env.open_manifest = [db](OpenMode mode) {
      return Manifest::Open(db, mode);
    };
    env.lock = [this]() -> Result<std::unique_ptr<HeldLock>> {
      ++locks_;
      if (!lock_error_.ok()) return lock_error_;
      return std::make_unique<HeldLock>();
    };
    env.now = [this] {
      clock_ += std::chrono::milliseconds(250);
      return clock_;
    };
    env.memory_budget = std::size_t{1} << 30;
    return env;
  }

  BuildReport Build() {
    BuildEnvironment env = Environment();
    Result<BuildReport> report = ExecuteBuild(options_, env);
    EXPECT_TRUE(report.ok()) << report.status().ToString();
    fs_.AdvanceNs(60 * kSecond);  // the next run is a minute later
    return report.ok() ? *report : BuildReport();
  }

  std::vector<std::string> RecordedScenes() {
    auto manifest = Manifest::Open(options_.db_path, OpenMode::kReadOnly);
    EXPECT_TRUE(manifest.ok()) << manifest.status().ToString();
    std::vector<std::string> names;
    if (!manifest.ok()) return names;
    Result<std::vector<SceneRow>> rows = (*manifest)->LoadScenesView();
    EXPECT_TRUE(rows.ok()) << rows.status().ToString();
    if (!rows.ok()) return names;
    for (const SceneRow& row : *rows) {
      names.push_back(row.scene + ":" + row.status);
    }
    return names;
  }

  FakeFileSystem fs_;
  TempDir db_dir_;
  BuildOptions options_;
  RecordingObserver observer_;
  FakeSceneRunner runner_{fs_};
  Status lock_error_;
  int locks_ = 0;
  std::chrono::steady_clock::time_point clock_{};
};

TEST_F(ExecutorTest, FirstBuildRunsEveryDirtySceneLargestFirst) {
  const BuildReport report = Build();
  EXPECT_EQ(runner_.ran, (std::vector<std::string>{"s1", "s2"}));
  EXPECT_EQ(report.scenes_found, 2);
  EXPECT_EQ(report.scenes_built, 2);
  EXPECT_EQ(report.pairs_ok, 3 + 2);  // each GT with every file, itself too
  EXPECT_EQ(report.ExitCode(), 0);
  EXPECT_EQ(report.device, "fake");
  EXPECT_EQ(report.seconds, 0.25 * 1);  // two clock reads: start, finish
  EXPECT_EQ(RecordedScenes(), (std::vector<std::string>{"s1:ok", "s2:ok"}));
  ASSERT_EQ(observer_.totals.size(), 1u);
  EXPECT_EQ(observer_.totals[0], (std::array<int, 3>{2, 5, 1100}));
  EXPECT_EQ(observer_.scenes_done, 2);
  EXPECT_EQ(observer_.messages,
            std::vector<std::string>{"aligning on the fake device"});
  EXPECT_EQ(runner_.starts, 1);
  EXPECT_EQ(runner_.prepares, 1);
  EXPECT_EQ(locks_, 1);
}

// The runner is released (its decode workers end) once, after the last
// scene ran and before the build records its end; a dry run builds nothing
// and releases nothing.
TEST_F(ExecutorTest, TheRunnerIsReleasedOnceAfterTheLastScene) {
  options_.dry_run = true;
  Build();
  EXPECT_EQ(runner_.releases, 0);
  options_.dry_run = false;
  Build();
  EXPECT_EQ(runner_.releases, 1);
  EXPECT_EQ(runner_.ran_at_release, 2u);
  EXPECT_EQ(RecordedScenes(), (std::vector<std::string>{"s1:ok", "s2:ok"}));
}

TEST_F(ExecutorTest, ThePlanEmitsPairsMaskPathsAndMemoryShare) {
  Build();
  const SceneWork& s1 = runner_.works.at("s1");
  ASSERT_EQ(s1.pairs.size(), 3u);
  EXPECT_EQ(s1.pairs[0].pair.gt_path, "s1/gt/g.arw");
  EXPECT_TRUE(s1.pairs[0].pair.self_pair);
  EXPECT_EQ(s1.pairs[2].pair.other_path, "s1/n2.arw");
  EXPECT_EQ(s1.pairs[2].other_index, 2u);
  EXPECT_EQ(s1.pairs[2].mask.write_path,
            "/data/masks/" + s1.pairs[2].mask.record_path.substr(6));
  EXPECT_TRUE(s1.pairs[2].mask.record_path.starts_with("masks/s1__"));
  EXPECT_EQ(s1.memory_budget, std::size_t{1} << 30);
  EXPECT_EQ(s1.workers, 1);
  // Every mask the runner wrote is where the manifest says it is.
  for (const PairWork& pair : s1.pairs) {
    EXPECT_TRUE(fs_.Exists(pair.mask.write_path)) << pair.mask.write_path;
  }
}

TEST_F(ExecutorTest, NoWorkOnARerun) {
  Build();
  runner_.ran.clear();
  observer_.Clear();
  fs_.ResetCounters();
  const BuildReport again = Build();
  EXPECT_TRUE(runner_.ran.empty());
  EXPECT_EQ(runner_.starts, 1);    // not started again: nothing to build
  EXPECT_EQ(runner_.prepares, 1);  // no decode workers for a no-op rerun
  EXPECT_EQ(again.scenes_up_to_date, 2);
  EXPECT_EQ(again.scenes_built, 0);
  EXPECT_EQ(again.files_hashed, 0);
  EXPECT_EQ(fs_.counters().opens, 0u);  // no file content was read
  EXPECT_EQ(fs_.counters().writes, 0u);
  EXPECT_EQ(fs_.counters().removes, 0u);
  EXPECT_TRUE(observer_.messages.empty());
  ASSERT_EQ(observer_.totals.size(), 1u);
  EXPECT_EQ(observer_.totals[0], (std::array<int, 3>{0, 0, 0}));
}

TEST_F(ExecutorTest, RerunRebuildsOnlyTheChangedScene) {
  Build();
  runner_.ran.clear();
  fs_.AddFile("/data/s2/n.arw", std::string(100, 'd'), 150 * kSecond);
  const BuildReport again = Build();
  EXPECT_EQ(runner_.ran, std::vector<std::string>{"s2"});
  EXPECT_EQ(again.scenes_built, 1);
  EXPECT_EQ(again.scenes_up_to_date, 1);
  EXPECT_EQ(again.files_hashed, 1);
}

TEST_F(ExecutorTest, RemovedSceneIsPrunedWithItsMasks) {
  Build();
  std::vector<std::string> s2_masks;
  for (const PairWork& pair : runner_.works.at("s2").pairs) {
    s2_masks.push_back(pair.mask.write_path);
  }
  fs_.Remove("/data/s2");
  runner_.ran.clear();
  const BuildReport again = Build();
  EXPECT_TRUE(runner_.ran.empty());
  EXPECT_EQ(again.scenes_pruned, 1);
  EXPECT_EQ(RecordedScenes(), std::vector<std::string>{"s1:ok"});
  for (const std::string& mask : s2_masks) EXPECT_FALSE(fs_.Exists(mask));
  for (const PairWork& pair : runner_.works.at("s1").pairs) {
    EXPECT_TRUE(fs_.Exists(pair.mask.write_path));
  }
}

TEST_F(ExecutorTest, OrphanMasksAndLeftoverTempFilesAreSwept) {
  fs_.AddFile("/data/masks/stray.png", "x");
  fs_.AddFile("/data/masks/half-written.png.dsb-tmp", "x");
  Build();
  EXPECT_FALSE(fs_.Exists("/data/masks/stray.png"));
  EXPECT_FALSE(fs_.Exists("/data/masks/half-written.png.dsb-tmp"));
}

// A no-op rerun lists the masks folder once (its Open sweep's listing
// serves the orphan sweep too) and still removes what a previous run or a
// user left there; a run that writes masks lists it again at the end.
TEST_F(ExecutorTest, NoOpRerunListsTheMasksFolderOnceAndStillSweeps) {
  auto masks_lists = [&] {
    const std::vector<std::string> log = fs_.list_log();
    return std::count(log.begin(), log.end(), "/data/masks");
  };
  fs_.ResetCounters();
  Build();
  EXPECT_EQ(masks_lists(), 2);
  fs_.AddFile("/data/masks/stray.png", "x");
  fs_.AddFile("/data/masks/half-written.png.dsb-tmp", "x");
  runner_.ran.clear();
  fs_.ResetCounters();
  Build();
  EXPECT_TRUE(runner_.ran.empty());
  EXPECT_EQ(masks_lists(), 1);
  EXPECT_FALSE(fs_.Exists("/data/masks/stray.png"));
  EXPECT_FALSE(fs_.Exists("/data/masks/half-written.png.dsb-tmp"));
  for (const PairWork& pair : runner_.works.at("s1").pairs) {
    EXPECT_TRUE(fs_.Exists(pair.mask.write_path));
  }
}

TEST_F(ExecutorTest, AFailedSceneIsRecordedReportedAndRetried) {
  runner_.fail = {"s2"};
  const BuildReport report = Build();
  EXPECT_EQ(report.scenes_built, 1);
  EXPECT_EQ(report.scenes_failed, 1);
  EXPECT_EQ(report.pairs_failed, 1);
  EXPECT_EQ(report.ExitCode(), 1);
  ASSERT_EQ(report.failures.size(), 1u);
  EXPECT_NE(report.failures[0].error.find("s2/n.arw: damaged"),
            std::string::npos);
  ASSERT_EQ(observer_.errors.size(), 1u);
  EXPECT_TRUE(observer_.errors[0].starts_with("failed: s2: 1 of 2 pairs"));
  EXPECT_EQ(RecordedScenes(), (std::vector<std::string>{"s1:ok", "s2:failed"}));
  // Retried next time, and only it; once it builds, it is ok.
  runner_.fail.clear();
  runner_.ran.clear();
  const BuildReport again = Build();
  EXPECT_EQ(runner_.ran, std::vector<std::string>{"s2"});
  EXPECT_EQ(again.ExitCode(), 0);
  EXPECT_EQ(RecordedScenes(), (std::vector<std::string>{"s1:ok", "s2:ok"}));
}

TEST_F(ExecutorTest, InterruptKeepsFinishedScenesAndTheNextRunResumes) {
  runner_.interrupt_at = "s2";
  const BuildReport report = Build();
  EXPECT_TRUE(report.interrupted);
  EXPECT_EQ(report.scenes_built, 1);
  EXPECT_EQ(report.scenes_interrupted, 1);
  EXPECT_EQ(report.ExitCode(), 1);
  EXPECT_EQ(RecordedScenes(), std::vector<std::string>{"s1:ok"});
  ClearInterrupt();
  runner_.interrupt_at.clear();
  runner_.ran.clear();
  const BuildReport again = Build();
  EXPECT_EQ(runner_.ran, std::vector<std::string>{"s2"});
  EXPECT_EQ(again.scenes_up_to_date, 1);
  EXPECT_EQ(RecordedScenes(), (std::vector<std::string>{"s1:ok", "s2:ok"}));
}

TEST_F(ExecutorTest, ABusyLockStopsTheBuildBeforeAnythingIsTouched) {
  lock_error_ = Status::Busy("another build (pid 42) holds the lock");
  BuildEnvironment env = Environment();
  Result<BuildReport> report = ExecuteBuild(options_, env);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.status().code(), Status::Code::kBusy);
  EXPECT_EQ(runner_.starts, 0);
  EXPECT_FALSE(fs_.Exists("/data/masks"));
  EXPECT_EQ(fs_.counters().mkdirs, 0u);
}

TEST_F(ExecutorTest, DryRunPlansButChangesNothing) {
  options_.dry_run = true;
  const BuildReport report = Build();
  EXPECT_EQ(report.planned.size(), 2u);
  EXPECT_EQ(report.planned[0].reason, "new");
  EXPECT_TRUE(runner_.ran.empty());
  EXPECT_EQ(runner_.starts, 0);
  EXPECT_EQ(runner_.prepares, 0);
  EXPECT_EQ(locks_, 0);
  EXPECT_FALSE(fs_.Exists("/data/masks"));
  EXPECT_EQ(fs_.counters().writes, 0u);
  EXPECT_FALSE(Manifest::Open(options_.db_path, OpenMode::kReadOnly).ok());
}

TEST_F(ExecutorTest, StatusListsStaleScenesWithTheirReasons) {
  Build();
  fs_.Remove("/data/s1");
  fs_.AddFile("/data/s3/gt/g.arw", "new", 150 * kSecond);
  BuildEnvironment env = Environment();
  Result<StatusReport> status = ExecuteStatus(options_, env);
  ASSERT_TRUE(status.ok()) << status.status().ToString();
  ASSERT_EQ(status->stale.size(), 2u);
  EXPECT_EQ(status->stale[0].scene, "s3");
  EXPECT_EQ(status->stale[0].reason, "new");
  EXPECT_EQ(status->stale[1].scene, "s1");
  EXPECT_EQ(status->stale[1].reason, "removed");
  EXPECT_EQ(status->scenes_up_to_date, 1);
}

TEST_F(ExecutorTest, ARunnerThatCannotStartFailsTheBuild) {
  runner_.start_error = Status::Unsupported("--device gpu: no GPU here");
  BuildEnvironment env = Environment();
  Result<BuildReport> report = ExecuteBuild(options_, env);
  ASSERT_FALSE(report.ok());
  EXPECT_NE(report.status().message().find("no GPU here"), std::string::npos);
  EXPECT_TRUE(runner_.ran.empty());
}

TEST_F(ExecutorTest, UnreadableFilesReachTheRunnerAsUnreadable) {
  fs_.SetUnreadable("/data/s2/n.arw");
  Build();
  const SceneWork& s2 = runner_.works.at("s2");
  ASSERT_EQ(s2.unreadable.size(), 1u);
  EXPECT_TRUE(s2.unreadable.contains("s2/n.arw"));
}

TEST_F(ExecutorTest, AShardTaskBuildsOnlyItsScenesAndNeverWritesTheMain) {
  Build();
  // Both scenes change; the task of s1's shard reads the main manifest as
  // its cache and records into its own task manifest.
  fs_.AddFile("/data/s1/n1.arw", std::string(300, 'x'), 150 * kSecond);
  fs_.AddFile("/data/s2/n.arw", std::string(100, 'y'), 150 * kSecond);
  fs_.AddFile("/data/masks/half-written.png.dsb-tmp", "x");
  fs_.AdvanceNs(60 * kSecond);
  const auto main_before = RecordedScenes();
  const std::string main_db = options_.db_path;
  const std::string task_db = db_dir_.Join("task.db");
  options_.shard = {ShardOfScene("s1", 2), 2};
  ASSERT_NE(ShardOfScene("s2", 2), options_.shard.index)
      << "the two scenes must fall in different shards for this test";
  auto shard_run = [&] {
    BuildEnvironment env = Environment();
    env.open_manifest = [task_db](OpenMode mode) {
      return Manifest::Open(task_db, mode);
    };
    env.open_cache = [main_db] {
      return Manifest::Open(main_db, OpenMode::kReadOnly);
    };
    runner_.ran.clear();
    Result<BuildReport> report = ExecuteBuild(options_, env);
    EXPECT_TRUE(report.ok()) << report.status().ToString();
    fs_.AdvanceNs(60 * kSecond);
    return report.ok() ? *report : BuildReport();
  };
  const BuildReport report = shard_run();
  EXPECT_EQ(runner_.ran, std::vector<std::string>{"s1"});
  EXPECT_EQ(report.scenes_found, 1);
  EXPECT_EQ(report.scenes_built, 1);
  EXPECT_EQ(RecordedScenes(), main_before);  // the main manifest untouched
  auto task = Manifest::Open(task_db, OpenMode::kReadOnly);
  ASSERT_TRUE(task.ok());
  auto task_scenes = (*task)->LoadScenes();
  ASSERT_TRUE(task_scenes.ok());
  ASSERT_EQ(task_scenes->size(), 1u);
  EXPECT_EQ(task_scenes->front().scene, "s1");
  // Other tasks' writes may be in flight: nothing in the masks is swept.
  EXPECT_TRUE(fs_.Exists("/data/masks/half-written.png.dsb-tmp"));
  // Run again (a requeue): its own task manifest is its cache too.
  const BuildReport again = shard_run();
  EXPECT_TRUE(runner_.ran.empty());
  EXPECT_EQ(again.scenes_up_to_date, 1);
}

}  // namespace
}  // namespace dsb
