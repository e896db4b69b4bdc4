// kill -9 at random moments: the manifest stays consistent (integrity check,
// no row pointing at a missing mask), the next run resumes, leaves no
// temporary files, and ends with views identical to a clean build's.
#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>
#include <utime.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

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

// Starts a build and sends it `signal_number` after `delay`.
int SignalAfter(const std::vector<std::string>& args,
                std::chrono::milliseconds delay, int signal_number) {
  const pid_t pid = SpawnTool(args);
  std::this_thread::sleep_for(delay);
  kill(pid, signal_number);
  return WaitForExit(pid);
}

// Starts the tool and sends `signal_number` as soon as `files` files are
// under `watched` (a build's masks folder): mid-build whatever the
// machine's load, where a fixed delay measured on another run (the test
// used half a clean build's time) can land after the build has finished.
// Returns the exit status, or -1 if the tool ended first (then no signal
// was sent).
int SignalOnFiles(const std::vector<std::string>& args,
                  const std::string& watched, int files, int signal_number) {
  const pid_t pid = SpawnTool(args);
  const auto has_files = [&] {
    std::error_code error;
    int found = 0;
    for (fs::recursive_directory_iterator it(watched, error), end;
         !error && it != end; it.increment(error)) {
      if (it->is_regular_file(error) && ++found >= files) return true;
    }
    return false;
  };
  for (;;) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) return -1;
    if (has_files()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  kill(pid, signal_number);
  return WaitForExit(pid);
}

void ExpectConsistent(const std::string& root, const std::string& db) {
  if (!fs::exists(db)) return;  // killed before the manifest was created
  const auto integrity = testing::QueryRows(db, "PRAGMA integrity_check");
  ASSERT_EQ(integrity.size(), 1u);
  EXPECT_EQ(integrity[0], "ok|");
  for (const std::string& row : testing::QueryRows(
           db, "SELECT mask_path FROM alignments WHERE status = 'ok'")) {
    const std::string path = root + "/" + row.substr(0, row.size() - 1);
    EXPECT_TRUE(fs::exists(path)) << "manifest names a missing mask " << path;
  }
}

using testing::kAlignments;
using testing::kScenes;

TEST(KillTest, SigkillAtRandomMomentsNeverCorruptsAndTheRerunResumes) {
  if (ToolBinary().empty()) GTEST_SKIP() << "DSB_BINARY not set";
  testing::TempDir dir;
  const std::string root = dir.Join("data");
  ASSERT_EQ(RunTool({"synth", root, "--scenes", "6", "--noisy", "3", "--size",
                     "384x256", "--max-shift", "24"}),
            0);
  const std::time_t past = std::time(nullptr) - 3600;
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    struct utimbuf times = {past, past};
    if (entry.is_regular_file()) utime(entry.path().c_str(), &times);
  }

  // The reference: a clean build of a copy of the dataset.
  const std::string clean = dir.Join("clean");
  fs::copy(root, clean, fs::copy_options::recursive);
  const auto clean_start = std::chrono::steady_clock::now();
  ASSERT_EQ(RunTool({clean, "-q", "-j", "2"}), 0);
  const int build_ms =
      static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::steady_clock::now() - clean_start)
                           .count());
  std::printf("a clean build takes %d ms\n", build_ms);

  const std::string db = root + "/dataset-build.db";
  std::mt19937 rng(20261124);
  // Kill anywhere in a build's lifetime; every other run is forced to
  // rebuild everything, so there is always work in flight to interrupt.
  std::uniform_int_distribution<int> delay_ms(1, std::max(2, build_ms));
  // 20 in the suite; a longer soak: DSB_KILLS=500 build/.../kill_test.
  const int wanted =
      std::getenv("DSB_KILLS") ? std::atoi(std::getenv("DSB_KILLS")) : 20;
  int kills = 0;
  for (int attempt = 0; attempt < wanted; ++attempt) {
    std::vector<std::string> args = {root, "-q", "-j", "2"};
    if (attempt % 2 == 1) args.push_back("--force");
    SignalAfter(args, std::chrono::milliseconds(delay_ms(rng)), SIGKILL);
    ++kills;
    ExpectConsistent(root, db);
    std::printf("kill %d: %zu scenes recorded\n", kills,
                fs::exists(db) ? testing::QueryRows(db, kScenes).size() : 0);
    if (::testing::Test::HasFailure()) break;
  }
  EXPECT_EQ(kills, wanted);
  ASSERT_EQ(RunTool({root, "-q", "-j", "2"}), 0);
  ExpectConsistent(root, db);
  // No temporary files survive the completed run.
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    EXPECT_EQ(entry.path().string().find(".dsb-tmp"), std::string::npos)
        << entry.path();
  }
  EXPECT_EQ(testing::QueryRows(db, kAlignments),
            testing::QueryRows(clean + "/dataset-build.db", kAlignments));
  EXPECT_EQ(testing::QueryRows(db, kScenes),
            testing::QueryRows(clean + "/dataset-build.db", kScenes));
  // And it is up to date.
  EXPECT_EQ(RunTool({"--status", root}), 0);
}

TEST(KillTest, CtrlCFinishesCleanlyAndTheRerunCompletes) {
  if (ToolBinary().empty()) GTEST_SKIP() << "DSB_BINARY not set";
  testing::TempDir dir;
  const std::string root = dir.Join("data");
  ASSERT_EQ(RunTool({"synth", root, "--scenes", "6", "--noisy", "3", "--size",
                     "512x384", "--max-shift", "24"}),
            0);
  const std::string clean = dir.Join("clean");
  fs::copy(root, clean, fs::copy_options::recursive);
  ASSERT_EQ(RunTool({clean, "-q", "-j", "1"}), 0);

  // Interrupt once 6 masks are written (4 a scene: the second scene is
  // under way, four are still to come): exit status 1, a consistent
  // manifest with only whole scenes, and no temporary files left behind.
  const int status =
      SignalOnFiles({root, "-q", "-j", "1"}, root + "/masks", 6, SIGINT);
  EXPECT_EQ(status, 1) << "-1: the build ended before its sixth mask";
  const std::string db = root + "/dataset-build.db";
  ExpectConsistent(root, db);
  const auto recorded = testing::QueryRows(db, kScenes);
  std::printf("Ctrl-C after the sixth mask: %zu of 6 scenes recorded\n",
              recorded.size());
  EXPECT_LT(recorded.size(), 6u);
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    EXPECT_EQ(entry.path().string().find(".dsb-tmp"), std::string::npos);
  }
  ASSERT_EQ(RunTool({root, "-q"}), 0);
  EXPECT_EQ(testing::QueryRows(db, kAlignments),
            testing::QueryRows(clean + "/dataset-build.db", kAlignments));
}

// Runs the tool through the shell and returns (exit status, stderr+stdout).
std::pair<int, std::string> Capture(const std::string& args) {
  const std::string command = ToolBinary() + " " + args + " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  std::string out;
  char buffer[4096];
  while (pipe && std::fgets(buffer, sizeof(buffer), pipe)) out += buffer;
  const int status = pipe ? pclose(pipe) : -1;
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

TEST(ConcurrencyTest, SecondBuildIsRefusedAndStatusWorksDuringABuild) {
  if (ToolBinary().empty()) GTEST_SKIP() << "DSB_BINARY not set";
  testing::TempDir dir;
  const std::string root = dir.Join("data");
  ASSERT_EQ(RunTool({"synth", root, "--scenes", "8", "--noisy", "3", "--size",
                     "640x480", "--max-shift", "24"}),
            0);
  const pid_t first = SpawnTool({root, "-q", "-j", "1"});
  // Wait until the first build holds its lock (the manifest exists).
  for (int i = 0; i < 200 && !fs::exists(root + "/dataset-build.db.lock");
       ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const auto start = std::chrono::steady_clock::now();
  const auto [second_status, second_out] = Capture(root);
  const double waited =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  EXPECT_EQ(second_status, 1);
  EXPECT_NE(second_out.find("another dataset-build (process " +
                            std::to_string(first) + ")"),
            std::string::npos)
      << second_out;
  EXPECT_LT(waited, 2.0);  // refused at once, not after the first finishes
  const auto [status_code, status_out] = Capture("--status " + root);
  EXPECT_TRUE(status_code == 0 || status_code == 1) << status_out;
  EXPECT_NE(status_out.find("up to date"), std::string::npos) << status_out;
  EXPECT_EQ(WaitForExit(first), 0);
  // With --wait a second build waits for the first instead.
  EXPECT_EQ(Capture(root + " --wait -q").first, 0);
}

}  // namespace
}  // namespace dsb
