// Manifest::CopyScenesFrom and LoadRuns, what merging shard task manifests
// uses: every column copied exactly (hostile byte strings, floats, built_at),
// run_id and the stale mark replaced, the old record replaced whole, copying
// again changes nothing, and a source of another schema is refused.
#include <gtest/gtest.h>

#include <chrono>

#include "manifest/manifest.h"
#include "manifest/schema_migrations.h"
#include "manifest_fixtures.h"
#include "sqlite_rows.h"
#include "test_support.h"

namespace dsb {
namespace {

using ::dsb::testing::QueryColumns;
using ::dsb::testing::RawDb;
using ::dsb::testing::SampleScene;
using ::dsb::testing::TempDir;
using Rows = std::vector<std::vector<std::string>>;

std::unique_ptr<Manifest> OpenAt(const std::string& path,
                                 std::chrono::system_clock::time_point when) {
  OpenOptions options;
  options.clock = [when] { return when; };
  auto manifest = Manifest::Open(path, OpenMode::kReadWrite, options);
  EXPECT_TRUE(manifest.ok()) << manifest.status().ToString();
  return manifest.ok() ? std::move(manifest).value() : nullptr;
}

constexpr const char* kEverything =
    "SELECT s.scene, s.key, s.cfa, s.cfa_pattern, s.width, s.height, "
    "s.n_files, s.status, s.error, s.built_at, s.decode_s, f.rel_path, f.role, "
    "f.size, f.mtime_ns, f.inode, f.hash, f.make, f.iso, f.rgb_xyz_matrix, "
    "f.hashed_at_ns FROM scene_builds s JOIN files f USING (scene) ORDER BY "
    "s.scene, f.rel_path";
constexpr const char* kPairs =
    "SELECT * FROM alignments ORDER BY scene, gt_path, noisy_path";

TEST(ManifestCopyTest, CopiesEveryColumnExactlyAndIdempotently) {
  TempDir dir;
  const std::string task_path = dir.Join("task.db");
  const std::string main_path = dir.Join("main.db");
  const auto early = std::chrono::system_clock::time_point() +
                     std::chrono::hours(24 * 365 * 50);
  const std::string hostile = "it's \"odd\"; --\n\xff scene";
  {
    auto task = OpenAt(task_path, early + std::chrono::hours(1));
    ASSERT_TRUE(task->RecordScene(SampleScene(hostile, "new-key", 2)).ok());
    ASSERT_TRUE(task->RecordScene(SampleScene("other", "o", 1)).ok());
  }
  auto main = OpenAt(main_path, early);
  // The main manifest's older record of the scene, and a stale mark on it.
  ASSERT_TRUE(main->RecordScene(SampleScene(hostile, "old-key", 3)).ok());
  ASSERT_TRUE(main->MarkStale(hostile, "changed").ok());
  auto run = main->BeginRun("test", "{}");
  ASSERT_TRUE(run.ok());

  ASSERT_TRUE(main->CopyScenesFrom(task_path, {hostile}, *run).ok());
  // Row for row what the task recorded, for the copied scene only.
  const auto without_other = [](Rows rows) {
    std::erase_if(rows, [](const auto& row) { return row[0] == "other"; });
    return rows;
  };
  const Rows main_rows = QueryColumns(main_path, kEverything);
  EXPECT_EQ(main_rows, without_other(QueryColumns(task_path, kEverything)));
  EXPECT_FALSE(main_rows.empty());
  const Rows task_pairs = without_other(QueryColumns(task_path, kPairs));
  EXPECT_EQ(QueryColumns(main_path, kPairs), task_pairs);
  RawDb main_db(main_path);
  EXPECT_EQ(main_db.Text("SELECT status FROM scenes"), "ok");  // not stale
  EXPECT_EQ(main_db.Int("SELECT run_id FROM scene_builds"), *run);

  // Again: nothing changes.
  ASSERT_TRUE(main->CopyScenesFrom(task_path, {hostile}, *run).ok());
  EXPECT_EQ(QueryColumns(main_path, kEverything), main_rows);
  EXPECT_EQ(QueryColumns(main_path, kPairs), task_pairs);

  auto runs = main->LoadRuns();
  ASSERT_TRUE(runs.ok());
  ASSERT_EQ(runs->size(), 1u);
  EXPECT_EQ(runs->front().id, *run);
  EXPECT_FALSE(runs->front().ended_at.has_value());
}

TEST(ManifestCopyTest, RefusesASourceOfAnotherSchema) {
  TempDir dir;
  const std::string task_path = dir.Join("task.db");
  {
    auto task = OpenAt(task_path, std::chrono::system_clock::now());
    ASSERT_TRUE(task->RecordScene(SampleScene("s", "k", 1)).ok());
  }
  RawDb(task_path).Exec("PRAGMA user_version = " +
                        std::to_string(LatestSchemaVersion() + 1));
  auto main = OpenAt(dir.Join("main.db"), std::chrono::system_clock::now());
  Status copied = main->CopyScenesFrom(task_path, {"s"}, 1);
  ASSERT_FALSE(copied.ok());
  EXPECT_EQ(copied.code(), Status::Code::kUnsupported);
  EXPECT_NE(copied.message().find(task_path), std::string::npos);
  EXPECT_EQ(RawDb(dir.Join("main.db")).Int("SELECT count(*) FROM scene_builds"),
            0);
}

}  // namespace
}  // namespace dsb
