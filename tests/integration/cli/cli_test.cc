// The command line as users and scripts meet it: the real binary, exit
// statuses (docs/contract.md §5), --json output that parses, export files, and
// a build over genuine camera raws.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <utime.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "test_support.h"

namespace dsb {
namespace {

namespace fs = std::filesystem;

struct ToolRun {
  int exit_status = -1;
  std::string out;
};

// Runs the built dataset-build with `args` (already shell-quoted).
ToolRun RunTool(const std::string& args) {
  const char* binary = std::getenv("DSB_BINARY");
  EXPECT_NE(binary, nullptr);
  testing::TempDir dir;
  const std::string out = dir.Join("out");
  const std::string command =
      std::string(binary) + " " + args + " > " + out + " 2>/dev/null";
  const int status = std::system(command.c_str());
  ToolRun run;
  run.exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream in(out);
  std::stringstream text;
  text << in.rdbuf();
  run.out = text.str();
  return run;
}

void AgeFiles(const std::string& root) {
  const std::time_t past = std::time(nullptr) - 3600;
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    struct utimbuf times = {past, past};
    if (entry.is_regular_file()) utime(entry.path().c_str(), &times);
  }
}

// OpenCV (and the 14 libraries it pulls in) is a module loaded when a
// pair's RawNIND figures first need it (crops/opencv_calls.h): a no-op
// rerun and every decode worker start without it.
TEST(CliTest, TheBinaryDoesNotLinkOpenCv) {
  const char* binary = std::getenv("DSB_BINARY");
  ASSERT_NE(binary, nullptr);
  testing::TempDir dir;
  const std::string out = dir.Join("ldd");
  ASSERT_EQ(std::system(("ldd " + std::string(binary) + " > " + out).c_str()),
            0);
  std::ifstream in(out);
  std::stringstream libraries;
  libraries << in.rdbuf();
  ASSERT_NE(libraries.str().find("libraw_r"), std::string::npos)
      << libraries.str();
  EXPECT_EQ(libraries.str().find("opencv"), std::string::npos)
      << libraries.str();
}

TEST(CliTest, StatusExitCodesJsonAndExports) {
  testing::TempDir dir;
  const std::string root = dir.Join("data");
  ASSERT_EQ(RunTool("synth " + root +
                    " --scenes 2 --noisy 2 --size 256x192 --max-shift 12")
                .exit_status,
            0);
  AgeFiles(root);

  ToolRun status = RunTool("--status --json " + root);
  EXPECT_EQ(status.exit_status, 1);  // everything is new
  auto json = nlohmann::json::parse(status.out);
  EXPECT_FALSE(json["up_to_date"].get<bool>());
  ASSERT_EQ(json["stale"].size(), 2u);
  EXPECT_EQ(json["stale"][0]["reason"], "new");

  ToolRun build = RunTool("--json -q " + root);
  EXPECT_EQ(build.exit_status, 0);
  auto summary = nlohmann::json::parse(build.out);
  EXPECT_EQ(summary["scenes"]["built"], 2);
  EXPECT_EQ(summary["pairs"]["ok"], 6);

  ToolRun up_to_date = RunTool("--status " + root);
  EXPECT_EQ(up_to_date.exit_status, 0);
  EXPECT_NE(up_to_date.out.find("0 stale, 2 up to date"), std::string::npos)
      << up_to_date.out;

  ToolRun csv = RunTool("export --format csv " + root);
  EXPECT_EQ(csv.exit_status, 0);
  EXPECT_EQ(csv.out.rfind("scene,gt_path,noisy_path,dy,dx", 0), 0u) << csv.out;
  const std::string yaml_path = dir.Join("pairs.yaml");
  EXPECT_EQ(RunTool("export --format rawnind-yaml --absolute-paths -o " +
                    yaml_path + " " + root)
                .exit_status,
            0);
  std::ifstream yaml(yaml_path);
  std::stringstream yaml_text;
  yaml_text << yaml.rdbuf();
  EXPECT_NE(yaml_text.str().find("best_alignment"), std::string::npos);
  EXPECT_NE(yaml_text.str().find(fs::canonical(root).string()),
            std::string::npos);

  // Usage errors exit 2.
  EXPECT_EQ(RunTool("--device tpu " + root).exit_status, 2);
  EXPECT_EQ(RunTool("export " + root).exit_status, 2);
}

TEST(CliTest, BuildsAScenesOfGenuineCameraRaws) {
  const std::string real = testing::RealRawDir();
  if (real.empty()) GTEST_SKIP() << "no real raws at $DSB_REAL_RAW_DIR";
  // Each real raw as the GT of its own scene, paired with itself (the
  // clean/clean pair): decode, align, mask and record on genuine formats.
  testing::TempDir dir;
  const std::string root = dir.Join("real");
  int scenes = 0;
  for (const auto& entry : fs::directory_iterator(real)) {
    if (entry.path().extension() == ".md") continue;
    const fs::path scene = fs::path(root) / entry.path().stem();
    fs::create_directories(scene / "gt");
    fs::create_symlink(fs::absolute(entry.path()),
                       scene / "gt" / entry.path().filename());
    ++scenes;
  }
  ToolRun build = RunTool("--json -q " + root);
  auto summary = nlohmann::json::parse(build.out);
  EXPECT_EQ(build.exit_status, 0) << build.out;
  EXPECT_EQ(summary["scenes"]["built"], scenes);
  EXPECT_EQ(summary["pairs"]["ok"], scenes);
  ToolRun csv = RunTool("export --format csv " + root);
  // Every self-pair aligns at (0, 0) with a full-confidence match.
  std::istringstream lines(csv.out);
  std::string line;
  std::getline(lines, line);  // header
  int rows = 0;
  while (std::getline(lines, line)) {
    if (line.empty() || line == "\r") continue;
    ++rows;
    EXPECT_NE(line.find(",0,0,"), std::string::npos) << line;
  }
  EXPECT_EQ(rows, scenes);
}

}  // namespace
}  // namespace dsb
