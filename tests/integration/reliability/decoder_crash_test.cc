// A decoder that crashes on one file fails that file only: its pairs and
// its scene are recorded `failed` naming the file and the signal, every
// other scene is built, the exit status is 1, no worker is left behind, and
// the next build retries the scene. A file too large for the --mem budget
// is refused with a message naming --mem instead of running the machine
// out of memory. Decoding in worker processes and in this process give the
// same manifest.
//
// The crash is injected with a fake worker (BuildOptions::decode_worker): a
// shell script that kills itself with SIGSEGV when asked for one file and
// otherwise runs the real worker (this test binary answers __decode-worker,
// tests/support/worker_main.cc). No file is known that crashes the system
// LibRaw today, and a test must not depend on one staying broken.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <string>
#include <vector>

#include "build_fixtures.h"
#include "common/real_file_system.h"
#include "executor/build_observer.h"
#include "executor/decoding.h"
#include "executor/executor.h"
#include "sqlite_rows.h"
#include "synth/generate.h"
#include "test_support.h"

namespace dsb {
namespace {

namespace fs = std::filesystem;

using testing::kAlignments;
using testing::kScenes;

std::string SelfExe() { return fs::read_symlink("/proc/self/exe").string(); }

bool NoChildren() {
  return ::waitpid(-1, nullptr, WNOHANG) == -1 && errno == ECHILD;
}

void Generate(const std::string& out_dir, int scenes, int width, int height) {
  SynthOptions synth;
  synth.out_dir = out_dir;
  synth.scenes = scenes;
  synth.noisy = 2;
  synth.width = width;
  synth.height = height;
  synth.cfa = "mixed";
  synth.seed = 11;
  synth.max_shift = 12;
  ASSERT_TRUE(GenerateDataset(synth).ok());
}

BuildOptions Options(const std::string& root) {
  return testing::CpuBuildOptions(root);
}

BuildReport Build(const BuildOptions& options) {
  BuildObserver progress;  // silent
  auto report = RunBuild(options, RealFileSystem(), progress);
  EXPECT_TRUE(report.ok()) << report.status().ToString();
  return report.ok() ? *report : BuildReport();
}

// The first noisy capture (not under gt/) of the second scene, relative to
// `root`.
std::string PickNoisyFile(const std::string& root) {
  std::vector<std::string> noisy;
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    const fs::path& path = entry.path();
    if (path.extension() == ".dng" && path.parent_path().filename() != "gt") {
      noisy.push_back(fs::relative(path, root).string());
    }
  }
  std::sort(noisy.begin(), noisy.end());
  return noisy.size() > 2 ? noisy[2] : "";  // 2 noisy per scene
}

TEST(DecoderCrashTest, CrashFailsOneFileAndTheBuildGoesOn) {
  testing::TempDir dir;
  const std::string root = dir.Join("data");
  Generate(root, 3, 256, 192);
  const std::string victim = PickNoisyFile(root);
  ASSERT_FALSE(victim.empty());
  const std::string victim_name = fs::path(victim).filename().string();
  const std::string victim_scene =
      fs::path(victim).parent_path().string();  // noisy files sit in the scene

  BuildOptions options = Options(root);
  // "$0" is this binary; the decoder appends "--fd 3 ... -- PATH".
  options.decode_worker = {"/bin/sh", "-c",
                           "for arg; do last=$arg; done\n"
                           "case \"$last\" in */" +
                               victim_name +
                               ") kill -SEGV $$ ;; esac\n"
                               "exec \"$0\" __decode-worker \"$@\"",
                           SelfExe()};
  const BuildReport report = Build(options);
  EXPECT_EQ(report.ExitCode(), 1);
  EXPECT_EQ(report.scenes_built, 2);
  EXPECT_EQ(report.scenes_failed, 1);
  EXPECT_EQ(report.pairs_failed, 1);  // the victim against the scene's GT
  EXPECT_EQ(report.pairs_ok, 3 * 3 - 1);
  EXPECT_TRUE(NoChildren());

  const std::string db = root + "/dataset-build.db";
  for (const std::string& row : testing::QueryRows(
           db, "SELECT scene, status, error FROM scenes ORDER BY scene")) {
    if (row.starts_with(victim_scene + "|")) {
      EXPECT_NE(row.find("|failed|"), std::string::npos) << row;
      EXPECT_NE(row.find("decoder crashed on '"), std::string::npos) << row;
      EXPECT_NE(row.find(victim_name), std::string::npos) << row;
      EXPECT_NE(row.find("(SIGSEGV, signal 11)"), std::string::npos) << row;
    } else {
      EXPECT_NE(row.find("|ok|NULL|"), std::string::npos) << row;
    }
  }
  const auto failed = testing::QueryRows(
      db, "SELECT noisy_path, error FROM alignments WHERE status = 'failed'");
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_TRUE(failed[0].starts_with(victim + "|")) << failed[0];
  EXPECT_NE(failed[0].find("SIGSEGV"), std::string::npos) << failed[0];

  // The next build, with the real worker, retries and builds the scene.
  const BuildReport rerun = Build(Options(root));
  EXPECT_EQ(rerun.ExitCode(), 0);
  EXPECT_EQ(rerun.scenes_built, 1);
  EXPECT_EQ(rerun.scenes_up_to_date, 2);
  EXPECT_TRUE(NoChildren());
}

// --mem bounds what is in flight and never refuses a file; the machine's
// memory does: a file that needs more than all of it (20 bytes per pixel)
// is refused before its pixels are read, with a message that says why.
TEST(DecoderCrashTest, TinyBudgetBuildsAndOnlyTheMachineLimitsFileSize) {
  testing::TempDir dir;
  const std::string root = dir.Join("data");
  Generate(root + "/large", 1, 384, 288);
  BuildOptions options = Options(root);
  options.mem_bytes = 1;
  EXPECT_EQ(Build(options).ExitCode(), 0);

  // A machine that holds a 192x144 file but not a 384x288 one.
  const BuildDecoding decoding =
      MakeBuildDecoding(Options(root), kBytesPerScenePixel * 192 * 144 * 2);
  const auto files = testing::QueryRows(
      root + "/dataset-build.db",
      "SELECT noisy_path FROM alignments ORDER BY noisy_path LIMIT 1");
  ASSERT_EQ(files.size(), 1u);
  const std::string file = root + "/" + files[0].substr(0, files[0].size() - 1);
  const Result<RawImage> refused =
      decoding.decoder->Decode(file, decoding.options);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), Status::Code::kResourceExhausted);
  const std::string error = refused.status().message();
  EXPECT_NE(error.find("384x288 = 110592 pixels exceeds the limit of 55296"),
            std::string::npos)
      << error;
  EXPECT_NE(error.find("bytes of memory per pixel and this machine has"),
            std::string::npos)
      << error;
}

TEST(DecoderCrashTest, IsolatedAndInProcessBuildsAgree) {
  testing::TempDir dir;
  const std::string isolated = dir.Join("isolated");
  Generate(isolated, 3, 256, 192);
  const std::string in_process = dir.Join("in-process");
  fs::copy(isolated, in_process, fs::copy_options::recursive);

  EXPECT_EQ(Build(Options(isolated)).ExitCode(), 0);
  BuildOptions options = Options(in_process);
  options.decode_in_process = true;
  EXPECT_EQ(Build(options).ExitCode(), 0);
  const auto rows =
      testing::QueryRows(isolated + "/dataset-build.db", kAlignments);
  ASSERT_EQ(rows.size(), 9u);
  EXPECT_EQ(testing::QueryRows(in_process + "/dataset-build.db", kAlignments),
            rows);
  EXPECT_EQ(testing::QueryRows(in_process + "/dataset-build.db", kScenes),
            testing::QueryRows(isolated + "/dataset-build.db", kScenes));
}

}  // namespace
}  // namespace dsb
