// A full disk under the manifest itself: SQLite, not our FileSystem, writes
// the manifest, so the fault is a real one. The manifest lives on a tmpfs
// of a few hundred kilobytes that fills up after a couple of scenes. The
// build stops with exit status 1 and a message naming the manifest and the
// full disk; the manifest passes its integrity check and names no missing
// mask; once there is room, the rerun builds only what is missing and ends
// with the same views as a clean build.
//
// Mounting a tmpfs needs root (or CAP_SYS_ADMIN); elsewhere the test is
// reported as skipped, with the reason.
#include <gtest/gtest.h>
#include <sys/mount.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "sqlite_rows.h"
#include "test_support.h"

namespace dsb {
namespace {

namespace fs = std::filesystem;

using testing::kAlignments;
using testing::kScenes;

using testing::RunTool;

// A tmpfs at `dir`, unmounted when the test ends.
class SmallDisk {
 public:
  explicit SmallDisk(std::string dir) : dir_(std::move(dir)) {
    fs::create_directories(dir_);
    if (::mount("tmpfs", dir_.c_str(), "tmpfs", 0, "size=256k") == 0) {
      mounted_ = true;
    } else {
      why_not_ = std::strerror(errno);
    }
  }
  ~SmallDisk() {
    if (mounted_) ::umount2(dir_.c_str(), MNT_DETACH);
  }
  bool mounted() const { return mounted_; }
  const std::string& why_not() const { return why_not_; }
  bool Grow() {
    return ::mount("tmpfs", dir_.c_str(), "tmpfs", MS_REMOUNT, "size=16m") == 0;
  }

 private:
  std::string dir_;
  bool mounted_ = false;
  std::string why_not_;
};

TEST(ManifestDiskFullTest, BuildStopsCleanlyAndTheRerunCompletes) {
  if (std::getenv("DSB_BINARY") == nullptr) {
    GTEST_SKIP() << "DSB_BINARY not set";
  }
  testing::TempDir dir;
  SmallDisk disk(dir.Join("small"));
  if (!disk.mounted()) {
    GTEST_SKIP() << "cannot mount a tmpfs to fill (" << disk.why_not()
                 << "); needs root or CAP_SYS_ADMIN";
  }
  const std::string root = dir.Join("data");
  ASSERT_EQ(RunTool({"synth", root, "--scenes", "10", "--noisy", "3", "--size",
                     "256x192", "--max-shift", "16"},
                    dir.Join("synth.log"))
                .exit_code,
            0);
  const std::string db = dir.Join("small") + "/manifest.db";
  const std::string masks = dir.Join("masks");
  const std::vector<std::string> build = {root,  "--db", db,   "--masks",
                                          masks, "-q",   "-j", "1"};

  const testing::ToolRun full = RunTool(build, dir.Join("full.log"));
  EXPECT_EQ(full.exit_code, 1) << full.errors;
  EXPECT_NE(full.errors.find(db), std::string::npos) << full.errors;
  EXPECT_NE(full.errors.find("disk holding the manifest is full"),
            std::string::npos)
      << full.errors;

  // Consistent as it stands: integrity, and no row naming a missing mask.
  ASSERT_TRUE(fs::exists(db));
  EXPECT_EQ(testing::QueryRows(db, "PRAGMA integrity_check"),
            std::vector<std::string>{"ok|"});
  const auto recorded = testing::QueryRows(db, kScenes);
  EXPECT_LT(recorded.size(), 10u) << "the disk never filled up";
  for (const std::string& row : testing::QueryRows(
           db, "SELECT mask_path FROM alignments WHERE status = 'ok'")) {
    const std::string mask = row.substr(0, row.size() - 1);
    EXPECT_TRUE(
        fs::exists(fs::path(mask).is_absolute() ? mask : root + "/" + mask))
        << "the manifest names a missing mask " << mask;
  }

  ASSERT_TRUE(disk.Grow());
  const testing::ToolRun rerun = RunTool(build, dir.Join("rerun.log"));
  EXPECT_EQ(rerun.exit_code, 0) << rerun.errors;

  const std::string clean_db = dir.Join("clean.db");
  ASSERT_EQ(RunTool({root, "--db", clean_db, "--masks", dir.Join("clean-masks"),
                     "-q"},
                    dir.Join("clean.log"))
                .exit_code,
            0);
  // Only the masks directories differ ("masks/" and "clean-masks/").
  auto same_masks_dir = [](std::vector<std::string> rows) {
    for (std::string& row : rows) {
      const auto clean = row.find("/clean-masks/");
      if (clean != std::string::npos) row.erase(clean + 1, 6);
    }
    return rows;
  };
  EXPECT_EQ(testing::QueryRows(db, kAlignments),
            same_masks_dir(testing::QueryRows(clean_db, kAlignments)));
  EXPECT_EQ(testing::QueryRows(db, kScenes),
            testing::QueryRows(clean_db, kScenes));
}

}  // namespace
}  // namespace dsb
