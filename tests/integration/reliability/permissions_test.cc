// Real permission errors, as an unprivileged user meets them: a GT the user
// may not read, and a masks directory the user may not write. Root reads and
// writes everything, so when the suite runs as root (CI does) the tool runs
// as `nobody` (uid 65534): the dataset is made readable and writable for it
// and only the file or directory under test is closed.
//
// Each case: the build finishes with exit status 1, the affected scene is
// failed with the path and the OS's reason, every other scene is built, the
// manifest is consistent, no temporary file is left, and once the
// permission is back the next run builds exactly the failed scene.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "sqlite_rows.h"
#include "test_support.h"

namespace dsb {
namespace {

namespace fs = std::filesystem;

constexpr uid_t kNobody = 65534;

class PermissionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::getenv("DSB_BINARY") == nullptr) {
      GTEST_SKIP() << "DSB_BINARY not set";
    }
    root_ = dir_.Join("data");
    ASSERT_EQ(testing::RunTool(
                  {"synth", root_, "--scenes", "3", "--noisy", "2", "--size",
                   "192x128", "--max-shift", "8", "--cfa", "rggb"},
                  dir_.Join("synth.log"))
                  .exit_code,
              0);
    if (geteuid() == 0) {
      user_ = kNobody;
      // The tool, as nobody, must reach everything but what a case closes.
      fs::permissions(dir_.path(), fs::perms::all);
      for (const auto& entry : fs::recursive_directory_iterator(root_)) {
        fs::permissions(entry.path(), entry.is_directory()
                                          ? fs::perms::all
                                          : fs::perms::owner_all |
                                                fs::perms::group_all |
                                                fs::perms::others_read |
                                                fs::perms::others_write);
      }
      fs::permissions(root_, fs::perms::all);
    }
  }

  testing::ToolRun Build(const std::string& log) {
    return testing::RunTool({root_, "-q", "-j", "2"}, dir_.Join(log), user_);
  }

  std::string Db() const { return root_ + "/dataset-build.db"; }

  std::vector<std::string> TempFiles() const {
    std::vector<std::string> found;
    for (const auto& entry : fs::recursive_directory_iterator(root_)) {
      if (entry.path().string().find(".dsb-tmp") != std::string::npos) {
        found.push_back(entry.path().string());
      }
    }
    return found;
  }

  void ExpectConsistent() {
    EXPECT_EQ(testing::QueryRows(Db(), "PRAGMA integrity_check"),
              std::vector<std::string>{"ok|"});
    for (const std::string& row : testing::QueryRows(
             Db(), "SELECT mask_path FROM alignments WHERE status = 'ok'")) {
      const std::string mask = root_ + "/" + row.substr(0, row.size() - 1);
      EXPECT_TRUE(fs::exists(mask)) << "the manifest names a missing " << mask;
    }
    EXPECT_EQ(TempFiles(), std::vector<std::string>{});
  }

  // "scene|status|error|" rows.
  std::vector<std::string> SceneStatus() {
    return testing::QueryRows(
        Db(), "SELECT scene, status, error FROM scenes ORDER BY scene");
  }

  testing::TempDir dir_;
  std::string root_;
  uid_t user_ = static_cast<uid_t>(-1);
};

TEST_F(PermissionsTest, UnreadableGtFailsItsSceneNamingTheFile) {
  std::string gt;
  for (const auto& entry : fs::recursive_directory_iterator(root_)) {
    if (entry.is_regular_file() &&
        entry.path().parent_path().filename() == "gt" &&
        entry.path().string().find("scene-001") != std::string::npos) {
      gt = entry.path().string();
    }
  }
  ASSERT_FALSE(gt.empty());
  fs::permissions(gt, fs::perms::none);

  const testing::ToolRun first = Build("first.log");
  EXPECT_EQ(first.exit_code, 1) << first.errors;
  const auto scenes = SceneStatus();
  ASSERT_EQ(scenes.size(), 3u);
  for (const std::string& row : scenes) {
    if (row.find("scene-001") != std::string::npos) {
      EXPECT_NE(row.find("|failed|"), std::string::npos) << row;
      EXPECT_NE(row.find(fs::path(gt).filename().string()), std::string::npos)
          << row;
      EXPECT_NE(row.find("ermission denied"), std::string::npos) << row;
    } else {
      EXPECT_NE(row.find("|ok|"), std::string::npos) << row;
    }
  }
  ExpectConsistent();

  fs::permissions(gt, fs::perms::owner_read | fs::perms::owner_write |
                          fs::perms::others_read);
  const testing::ToolRun rerun = Build("rerun.log");
  EXPECT_EQ(rerun.exit_code, 0) << rerun.errors;
  for (const std::string& row : SceneStatus()) {
    EXPECT_NE(row.find("|ok|"), std::string::npos) << row;
  }
  ExpectConsistent();
}

TEST_F(PermissionsTest, ReadOnlyMasksDirectoryFailsTheScenesNamingIt) {
  const std::string masks = root_ + "/masks";
  fs::create_directories(masks);
  fs::permissions(masks, fs::perms::owner_read | fs::perms::owner_exec |
                             fs::perms::group_read | fs::perms::group_exec |
                             fs::perms::others_read | fs::perms::others_exec);

  const testing::ToolRun first = Build("first.log");
  EXPECT_EQ(first.exit_code, 1) << first.errors;
  const auto scenes = SceneStatus();
  ASSERT_EQ(scenes.size(), 3u);
  for (const std::string& row : scenes) {
    EXPECT_NE(row.find("|failed|"), std::string::npos) << row;
    EXPECT_NE(row.find(masks + "/"), std::string::npos) << row;
  }
  ExpectConsistent();
  EXPECT_TRUE(fs::is_empty(masks));

  fs::permissions(masks, fs::perms::all);
  const testing::ToolRun rerun = Build("rerun.log");
  EXPECT_EQ(rerun.exit_code, 0) << rerun.errors;
  for (const std::string& row : SceneStatus()) {
    EXPECT_NE(row.find("|ok|"), std::string::npos) << row;
  }
  ExpectConsistent();
}

}  // namespace
}  // namespace dsb
