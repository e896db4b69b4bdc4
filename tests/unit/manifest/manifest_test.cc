#include "manifest/manifest.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <string_view>
#include <tuple>

#include "manifest/schema_migrations.h"
#include "manifest_fixtures.h"
#include "test_support.h"

namespace dsb {
namespace {

using ::dsb::testing::RawDb;
using ::dsb::testing::SampleScene;
using ::dsb::testing::TempDir;

// Every mask path `manifest` references, each once, in byte order.
std::vector<std::string> SortedMaskPaths(Manifest& manifest) {
  std::vector<std::string> paths;
  const Status visited = manifest.VisitMaskPaths(
      [&](std::string_view path) { paths.emplace_back(path); });
  EXPECT_TRUE(visited.ok()) << visited.ToString();
  std::sort(paths.begin(), paths.end());
  paths.erase(std::unique(paths.begin(), paths.end()), paths.end());
  return paths;
}

class ManifestTest : public ::testing::Test {
 protected:
  std::unique_ptr<Manifest> OpenOrDie(OpenMode mode = OpenMode::kReadWrite,
                                      OpenOptions options = OpenOptions()) {
    Result<std::unique_ptr<Manifest>> manifest =
        Manifest::Open(db_path_, mode, options);
    EXPECT_TRUE(manifest.ok()) << manifest.status().ToString();
    if (!manifest.ok()) return nullptr;
    return std::move(manifest).value();
  }

  TempDir dir_;
  std::string db_path_ = dir_.Join("dataset-build.db");
};

TEST(SchemaMigrationsTest, NumberedFromOneWithoutGaps) {
  ASSERT_GE(SchemaMigrations().size(), 2u);
  int expected = 1;
  for (const Migration& migration : SchemaMigrations()) {
    EXPECT_EQ(migration.version, expected);
    char prefix[16];
    std::snprintf(prefix, sizeof(prefix), "%04d_", expected);
    EXPECT_TRUE(migration.name.starts_with(prefix)) << migration.name;
    EXPECT_FALSE(migration.sql.empty());
    ++expected;
  }
  EXPECT_EQ(LatestSchemaVersion(), expected - 1);
}

// A migration file added to schema/ but not to schema/meson.build would
// silently never run.
TEST(SchemaMigrationsTest, EverySqlFileInSchemaIsEmbedded) {
  const char* root = std::getenv("DSB_SOURCE_ROOT");
  if (root == nullptr) GTEST_SKIP() << "DSB_SOURCE_ROOT not set";
  std::set<std::string> on_disk;
  for (const auto& entry :
       std::filesystem::directory_iterator(std::string(root) + "/schema")) {
    if (entry.path().extension() == ".sql") {
      on_disk.insert(entry.path().stem().string());
    }
  }
  std::set<std::string> embedded;
  for (const Migration& migration : SchemaMigrations()) {
    embedded.emplace(migration.name);
  }
  EXPECT_EQ(on_disk, embedded);
}

TEST_F(ManifestTest, CreateSetsLatestVersionWalAndMarker) {
  ASSERT_NE(OpenOrDie(), nullptr);
  RawDb raw(db_path_);
  EXPECT_EQ(raw.Int("PRAGMA user_version"), LatestSchemaVersion());
  EXPECT_EQ(raw.Int("PRAGMA application_id"), kManifestApplicationId);
  EXPECT_EQ(raw.Text("PRAGMA journal_mode"), "wal");
}

TEST_F(ManifestTest, ReopeningLatestChangesNothing) {
  ASSERT_NE(OpenOrDie(), nullptr);
  ASSERT_NE(OpenOrDie(), nullptr);
  RawDb raw(db_path_);
  EXPECT_EQ(raw.Int("PRAGMA user_version"), LatestSchemaVersion());
}

TEST_F(ManifestTest, MigratesAnOlderManifest) {
  {
    RawDb raw(db_path_);
    ASSERT_TRUE(raw.ok());
    ASSERT_TRUE(MigrateSchema(raw.get(), db_path_, 1).ok());
    ASSERT_EQ(raw.Int("PRAGMA user_version"), 1);
    ASSERT_EQ(raw.Int("SELECT count(*) FROM sqlite_master WHERE type = "
                      "'index' AND name = 'files_by_hash'"),
              0);
    // Data written at version 1 must survive the migration.
    ASSERT_EQ(raw.Exec("INSERT INTO scene_builds (scene, key, cfa, width, "
                       "height, n_files, status, built_at) VALUES ('old', "
                       "'k1', 'bayer', 4, 4, 0, 'ok', 'then')"),
              SQLITE_OK);
  }
  std::unique_ptr<Manifest> manifest = OpenOrDie();
  ASSERT_NE(manifest, nullptr);
  RawDb raw(db_path_);
  EXPECT_EQ(raw.Int("PRAGMA user_version"), LatestSchemaVersion());
  EXPECT_EQ(raw.Int("SELECT count(*) FROM sqlite_master WHERE type = 'index' "
                    "AND name = 'files_by_hash'"),
            1);
  Result<std::vector<StoredScene>> scenes = manifest->LoadScenes();
  ASSERT_TRUE(scenes.ok());
  ASSERT_EQ(scenes->size(), 1u);
  EXPECT_EQ((*scenes)[0].key, "k1");
  // A scene recorded before migration 5 has no figures time (its mask_s
  // held both).
  EXPECT_EQ(raw.Int("SELECT count(*) FROM scene_builds WHERE scene = 'old' "
                    "AND figures_s IS NULL"),
            1);
}

TEST_F(ManifestTest, RefusesANewerManifestWithoutTouchingIt) {
  ASSERT_NE(OpenOrDie(), nullptr);
  const int newer = LatestSchemaVersion() + 7;
  {
    RawDb raw(db_path_);
    ASSERT_EQ(raw.Exec("PRAGMA user_version = " + std::to_string(newer)),
              SQLITE_OK);
  }
  for (OpenMode mode : {OpenMode::kReadWrite, OpenMode::kReadOnly}) {
    Result<std::unique_ptr<Manifest>> manifest = Manifest::Open(db_path_, mode);
    ASSERT_FALSE(manifest.ok());
    EXPECT_EQ(manifest.status().code(), Status::Code::kUnsupported);
    EXPECT_EQ(manifest.status().message(),
              "manifest " + db_path_ +
                  " was written by a newer dataset-build (schema " +
                  std::to_string(newer) + ", this build knows " +
                  std::to_string(LatestSchemaVersion()) +
                  "); upgrade dataset-build or use another --db");
  }
  RawDb raw(db_path_);
  EXPECT_EQ(raw.Int("PRAGMA user_version"), newer);
}

TEST_F(ManifestTest, RefusesAnotherProgramsDatabase) {
  {
    RawDb raw(db_path_);
    ASSERT_EQ(raw.Exec("CREATE TABLE photos (id INTEGER)"), SQLITE_OK);
  }
  Result<std::unique_ptr<Manifest>> manifest =
      Manifest::Open(db_path_, OpenMode::kReadWrite);
  ASSERT_FALSE(manifest.ok());
  EXPECT_EQ(manifest.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(manifest.status().message().find("not a dataset-build manifest"),
            std::string::npos);
  RawDb raw(db_path_);
  EXPECT_EQ(raw.Int("SELECT count(*) FROM sqlite_master"), 1);
}

TEST_F(ManifestTest, RefusesAFileThatIsNotSqlite) {
  std::ofstream(db_path_) << "this is not a database, just some text that "
                             "is long enough to have a header\n";
  Result<std::unique_ptr<Manifest>> manifest =
      Manifest::Open(db_path_, OpenMode::kReadWrite);
  ASSERT_FALSE(manifest.ok());
  EXPECT_EQ(manifest.status().code(), Status::Code::kCorrupt);
  EXPECT_NE(manifest.status().message().find(db_path_), std::string::npos);
}

// The views are the contract's stable surface (§4): exact names, in order.
TEST_F(ManifestTest, ViewsHaveTheContractsColumnsInOrder) {
  ASSERT_NE(OpenOrDie(), nullptr);
  RawDb raw(db_path_);
  EXPECT_EQ(raw.Column("SELECT name FROM pragma_table_info('alignments')"),
            (std::vector<std::string>{
                "scene", "gt_path", "noisy_path", "dy", "dx", "dy_subpx",
                "dx_subpx", "confidence", "loss", "raw_gain", "overexposure_lb",
                "mask_path", "mask_mean", "status", "error"}));
  EXPECT_EQ(
      raw.Column("SELECT name FROM pragma_table_info('scenes')"),
      (std::vector<std::string>{"scene", "cfa", "width", "height", "n_files",
                                "status", "built_at", "error"}));
  EXPECT_EQ(raw.Column("SELECT type FROM sqlite_master WHERE name IN "
                       "('alignments', 'scenes')"),
            (std::vector<std::string>{"view", "view"}));
}

TEST_F(ManifestTest, RecordSceneRoundTrips) {
  std::unique_ptr<Manifest> manifest = OpenOrDie();
  ASSERT_NE(manifest, nullptr);
  const SceneRecord record = SampleScene("Bayer/cat", "00ff");
  ASSERT_TRUE(manifest->RecordScene(record).ok());

  Result<std::vector<FileRecord>> files = manifest->LoadFiles();
  ASSERT_TRUE(files.ok()) << files.status().ToString();
  ASSERT_EQ(files->size(), record.files.size());
  for (std::size_t i = 0; i < files->size(); ++i) {
    EXPECT_EQ((*files)[i], record.files[i].file) << i;
  }

  Result<std::vector<StoredScene>> scenes = manifest->LoadScenes();
  ASSERT_TRUE(scenes.ok());
  ASSERT_EQ(scenes->size(), 1u);
  EXPECT_EQ((*scenes)[0].scene, "Bayer/cat");
  EXPECT_EQ((*scenes)[0].key, "00ff");
  EXPECT_EQ((*scenes)[0].status, BuildStatus::kOk);
  EXPECT_EQ((*scenes)[0].error, "");
  EXPECT_FALSE((*scenes)[0].stale_reason.has_value());
  EXPECT_TRUE(
      std::regex_match((*scenes)[0].built_at,
                       std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)")))
      << (*scenes)[0].built_at;

  Result<std::vector<SceneRow>> view = manifest->LoadScenesView();
  ASSERT_TRUE(view.ok());
  ASSERT_EQ(view->size(), 1u);
  EXPECT_EQ((*view)[0].cfa, "bayer");
  EXPECT_EQ((*view)[0].width, 64);
  EXPECT_EQ((*view)[0].height, 48);
  EXPECT_EQ((*view)[0].n_files, 3);
  EXPECT_EQ((*view)[0].status, "ok");

  Result<std::vector<PairRow>> pairs = manifest->LoadPairsForExport();
  ASSERT_TRUE(pairs.ok()) << pairs.status().ToString();
  ASSERT_EQ(pairs->size(), record.pairs.size());
  for (std::size_t i = 0; i < pairs->size(); ++i) {
    const PairRecord& got = (*pairs)[i].pair;
    const PairRecord& want = record.pairs[i];
    EXPECT_EQ((*pairs)[i].scene, "Bayer/cat");
    EXPECT_EQ(got.gt_path, want.gt_path);
    EXPECT_EQ(got.noisy_path, want.noisy_path);
    EXPECT_EQ(got.status, BuildStatus::kOk);
    ASSERT_TRUE(got.alignment.has_value());
    EXPECT_EQ(got.alignment->dy, want.alignment->dy);
    EXPECT_EQ(got.alignment->dx, want.alignment->dx);
    EXPECT_EQ(got.alignment->dy_subpx, want.alignment->dy_subpx);
    EXPECT_EQ(got.alignment->dx_subpx, want.alignment->dx_subpx);
    EXPECT_EQ(got.alignment->confidence, want.alignment->confidence);
    EXPECT_EQ(got.alignment->loss, want.alignment->loss);
    EXPECT_EQ(got.alignment->raw_gain, want.alignment->raw_gain);
    EXPECT_EQ(got.mask_path, want.mask_path);
    EXPECT_EQ(got.mask_mean, want.mask_mean);
    EXPECT_EQ(got.overexposure_lb, want.overexposure_lb);
    EXPECT_FALSE(got.rgb_gain.has_value());
    EXPECT_EQ((*pairs)[i].cfa, "bayer");
    EXPECT_EQ((*pairs)[i].gt_cfa_pattern, "RGGB");
    ASSERT_TRUE((*pairs)[i].gt_rgb_xyz_matrix.has_value());
    // Stored from float as its shortest decimal: 0.6640f reads back 0.664.
    EXPECT_EQ((*(*pairs)[i].gt_rgb_xyz_matrix)[0][0], 0.664);
    EXPECT_EQ((*(*pairs)[i].gt_rgb_xyz_matrix)[1][0], -0.5238);
  }

  RawDb raw(db_path_);
  EXPECT_EQ(raw.Text("SELECT wb_r FROM files LIMIT 1"), "2.1");
  EXPECT_EQ(raw.Text("SELECT overexposure_lb FROM files LIMIT 1"), "0.95");
  EXPECT_EQ(raw.Text("SELECT decode_s || ',' || align_s || ',' || mask_s || "
                     "',' || figures_s FROM scene_builds"),
            "0.5,1.25,0.125,0.75");
}

TEST_F(ManifestTest, RerecordingReplacesFilesAndPairs) {
  std::unique_ptr<Manifest> manifest = OpenOrDie();
  ASSERT_NE(manifest, nullptr);
  ASSERT_TRUE(manifest->RecordScene(SampleScene("a", "k1", 3)).ok());
  ASSERT_TRUE(manifest->RecordScene(SampleScene("b", "k1", 1)).ok());
  SceneRecord smaller = SampleScene("a", "k2", 1);
  smaller.pairs[1].alignment->dy = 42;
  ASSERT_TRUE(manifest->RecordScene(smaller).ok());
  ASSERT_TRUE(manifest->RecordScene(smaller).ok());  // idempotent

  RawDb raw(db_path_);
  EXPECT_EQ(raw.Int("SELECT count(*) FROM files WHERE scene = 'a'"), 2);
  EXPECT_EQ(raw.Int("SELECT count(*) FROM alignments WHERE scene = 'a'"), 2);
  EXPECT_EQ(raw.Int("SELECT count(*) FROM alignments WHERE scene = 'b'"), 2);
  EXPECT_EQ(raw.Int("SELECT count(*) FROM scenes"), 2);
  EXPECT_EQ(raw.Text("SELECT key FROM scene_builds WHERE scene = 'a'"), "k2");
  EXPECT_EQ(raw.Int("SELECT dy FROM alignments WHERE scene = 'a' AND "
                    "noisy_path = 'a/noisy0.arw'"),
            42);
}

TEST_F(ManifestTest, FailedStatementRollsBackTheWholeScene) {
  std::unique_ptr<Manifest> manifest = OpenOrDie();
  ASSERT_NE(manifest, nullptr);
  ASSERT_TRUE(manifest->RecordScene(SampleScene("a", "old", 2)).ok());

  // The new record is fine until its last pair, which violates a CHECK
  // constraint after the old rows were deleted and most new ones inserted.
  SceneRecord broken = SampleScene("a", "new", 3);
  broken.pairs.back().mask_mean = 1.5;
  Status status = manifest->RecordScene(broken);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(status.message().find("CHECK constraint failed"), std::string::npos)
      << status.message();
  EXPECT_NE(status.message().find(db_path_), std::string::npos);

  Result<std::vector<StoredScene>> scenes = manifest->LoadScenes();
  ASSERT_TRUE(scenes.ok());
  ASSERT_EQ(scenes->size(), 1u);
  EXPECT_EQ((*scenes)[0].key, "old");
  RawDb raw(db_path_);
  EXPECT_EQ(raw.Int("SELECT count(*) FROM files"), 3);
  EXPECT_EQ(raw.Int("SELECT count(*) FROM pairs"), 3);

  // The connection is usable afterwards (the transaction was closed).
  ASSERT_TRUE(manifest->RecordScene(SampleScene("a", "newer", 1)).ok());
  EXPECT_EQ(raw.Text("SELECT key FROM scene_builds"), "newer");
}

TEST_F(ManifestTest, IncompleteOkPairIsRejected) {
  std::unique_ptr<Manifest> manifest = OpenOrDie();
  ASSERT_NE(manifest, nullptr);
  SceneRecord record = SampleScene("a", "k");
  record.pairs[0].mask_path.reset();
  EXPECT_EQ(manifest->RecordScene(record).code(),
            Status::Code::kInvalidArgument);
  record = SampleScene("a", "k");
  record.status = BuildStatus::kFailed;  // without an error
  EXPECT_EQ(manifest->RecordScene(record).code(),
            Status::Code::kInvalidArgument);
  RawDb raw(db_path_);
  EXPECT_EQ(raw.Int("SELECT count(*) FROM scene_builds"), 0);
}

TEST_F(ManifestTest, PairMustNameFilesOfItsScene) {
  std::unique_ptr<Manifest> manifest = OpenOrDie();
  ASSERT_NE(manifest, nullptr);
  SceneRecord record = SampleScene("a", "k");
  record.pairs[1].noisy_path = "a/missing.arw";
  Status status = manifest->RecordScene(record);
  EXPECT_EQ(status.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(status.message().find("a/missing.arw"), std::string::npos);
  record = SampleScene("a", "k");
  record.files[1].file.scene = "b";
  EXPECT_EQ(manifest->RecordScene(record).code(),
            Status::Code::kInvalidArgument);
}

TEST_F(ManifestTest, FailedScenesAndPairsAreRecorded) {
  std::unique_ptr<Manifest> manifest = OpenOrDie();
  ASSERT_NE(manifest, nullptr);
  SceneRecord record = SampleScene("a", "k", 1);
  record.status = BuildStatus::kFailed;
  record.error = "a/noisy0.arw: LibRaw: unsupported file format";
  record.files[1].metadata.reset();
  record.pairs[1].status = BuildStatus::kFailed;
  record.pairs[1].error = "decode failed";
  record.pairs[1].alignment.reset();
  record.pairs[1].mask_path.reset();
  record.pairs[1].mask_mean.reset();
  record.pairs[1].overexposure_lb.reset();
  ASSERT_TRUE(manifest->RecordScene(record).ok());

  SceneRecord undecodable = SampleScene("z", "k", 0);
  undecodable.cfa.reset();
  undecodable.status = BuildStatus::kFailed;
  undecodable.error = "no file could be decoded";
  undecodable.pairs.clear();
  ASSERT_TRUE(manifest->RecordScene(undecodable).ok());

  RawDb raw(db_path_);
  EXPECT_EQ(
      raw.Column("SELECT status || '|' || coalesce(error, 'NULL') || "
                 "'|' || coalesce(dy, 'NULL') FROM alignments ORDER BY "
                 "noisy_path"),
      (std::vector<std::string>{"ok|NULL|-1", "failed|decode failed|NULL"}));
  EXPECT_EQ(raw.Column("SELECT status || '|' || coalesce(cfa, 'NULL') FROM "
                       "scenes ORDER BY scene"),
            (std::vector<std::string>{"failed|bayer", "failed|NULL"}));
  EXPECT_EQ(raw.Text("SELECT make FROM files WHERE rel_path = 'a/noisy0.arw'"),
            "NULL");
}

TEST_F(ManifestTest, RemoveSceneCascadesAndReturnsMaskPaths) {
  std::unique_ptr<Manifest> manifest = OpenOrDie();
  ASSERT_NE(manifest, nullptr);
  ASSERT_TRUE(manifest->RecordScene(SampleScene("a", "k", 1)).ok());
  ASSERT_TRUE(manifest->RecordScene(SampleScene("b", "k", 1)).ok());

  Result<std::vector<std::string>> masks = manifest->RemoveScene("a");
  ASSERT_TRUE(masks.ok()) << masks.status().ToString();
  EXPECT_EQ(*masks,
            (std::vector<std::string>{"masks/a_0.png", "masks/a_1.png"}));
  RawDb raw(db_path_);
  EXPECT_EQ(raw.Int("SELECT count(*) FROM files WHERE scene = 'a'"), 0);
  EXPECT_EQ(raw.Int("SELECT count(*) FROM pairs WHERE scene = 'a'"), 0);
  EXPECT_EQ(raw.Int("SELECT count(*) FROM pairs"), 2);

  EXPECT_EQ(SortedMaskPaths(*manifest),
            (std::vector<std::string>{"masks/b_0.png", "masks/b_1.png"}));

  Result<std::vector<std::string>> none = manifest->RemoveScene("a");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

// The survey reads files in storage order and mask paths one by one: the
// same rows as LoadFiles and the pairs table's mask paths, whatever the
// order scenes were recorded in.
TEST_F(ManifestTest, UnorderedReadsGiveTheSameRows) {
  std::unique_ptr<Manifest> manifest = OpenOrDie();
  ASSERT_NE(manifest, nullptr);
  for (const char* scene : {"c", "a", "b/x", "b"}) {
    ASSERT_TRUE(manifest->RecordScene(SampleScene(scene, "k", 2)).ok());
  }
  Result<std::vector<FileRecord>> ordered = manifest->LoadFiles();
  Result<std::vector<FileRecord>> unordered = manifest->LoadFilesUnordered();
  ASSERT_TRUE(ordered.ok() && unordered.ok());
  ASSERT_EQ(ordered->size(), 12u);
  const auto by_path = [](const FileRecord& a, const FileRecord& b) {
    return std::tie(a.scene, a.rel_path) < std::tie(b.scene, b.rel_path);
  };
  EXPECT_TRUE(std::is_sorted(ordered->begin(), ordered->end(), by_path));
  std::sort(unordered->begin(), unordered->end(), by_path);
  EXPECT_EQ(*unordered, *ordered);

  std::vector<std::string> visited;
  ASSERT_TRUE(manifest
                  ->VisitMaskPaths([&](std::string_view path) {
                    visited.emplace_back(path);
                  })
                  .ok());
  const std::vector<std::string> listed = RawDb(db_path_).Column(
      "SELECT mask_path FROM pairs WHERE mask_path IS NOT NULL "
      "ORDER BY mask_path");
  EXPECT_EQ(listed.size(), 12u);  // 4 scenes x 3 pairs
  std::sort(visited.begin(), visited.end());
  EXPECT_EQ(visited, listed);
}

TEST_F(ManifestTest, ForeignKeysAreEnforced) {
  std::unique_ptr<Manifest> manifest = OpenOrDie();
  ASSERT_NE(manifest, nullptr);
  SceneRecord record = SampleScene("a", "k");
  record.run_id = 12345;  // no such run
  Status status = manifest->RecordScene(record);
  EXPECT_EQ(status.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(status.message().find("FOREIGN KEY"), std::string::npos)
      << status.message();

  Result<std::int64_t> run = manifest->BeginRun("0.1.0", "{}");
  ASSERT_TRUE(run.ok());
  record.run_id = *run;
  EXPECT_TRUE(manifest->RecordScene(record).ok());
}

TEST_F(ManifestTest, MarkStaleShowsInTheScenesViewUntilRerecorded) {
  std::unique_ptr<Manifest> manifest = OpenOrDie();
  ASSERT_NE(manifest, nullptr);
  ASSERT_TRUE(manifest->RecordScene(SampleScene("a", "k")).ok());
  ASSERT_TRUE(manifest->MarkStale("a", "changed").ok());

  Result<std::vector<SceneRow>> view = manifest->LoadScenesView();
  ASSERT_TRUE(view.ok());
  EXPECT_EQ((*view)[0].status, "stale");
  Result<std::vector<StoredScene>> scenes = manifest->LoadScenes();
  ASSERT_TRUE(scenes.ok());
  EXPECT_EQ((*scenes)[0].status, BuildStatus::kOk);
  EXPECT_EQ((*scenes)[0].stale_reason, "changed");

  ASSERT_TRUE(manifest->RecordScene(SampleScene("a", "k2")).ok());
  view = manifest->LoadScenesView();
  ASSERT_TRUE(view.ok());
  EXPECT_EQ((*view)[0].status, "ok");

  EXPECT_EQ(manifest->MarkStale("unknown", "new").code(),
            Status::Code::kNotFound);
}

TEST_F(ManifestTest, RunsAreRecorded) {
  std::unique_ptr<Manifest> manifest = OpenOrDie();
  ASSERT_NE(manifest, nullptr);
  Result<std::int64_t> run =
      manifest->BeginRun("0.1.0", R"({"jobs": 2, "device": "cpu"})");
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  RunCounts counts;
  counts.scenes_total = 5;
  counts.scenes_built = 3;
  counts.scenes_failed = 1;
  counts.pairs_ok = 9;
  ASSERT_TRUE(manifest->EndRun(*run, counts, 1).ok());

  RawDb raw(db_path_);
  EXPECT_EQ(raw.Text("SELECT tool_version || '|' || scenes_total || '|' || "
                     "scenes_built || '|' || pairs_ok || '|' || exit_status "
                     "FROM runs"),
            "0.1.0|5|3|9|1");
  EXPECT_NE(raw.Text("SELECT ended_at FROM runs"), "NULL");

  EXPECT_EQ(manifest->BeginRun("0.1.0", "{not json").status().code(),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(manifest->EndRun(*run + 100, counts, 0).code(),
            Status::Code::kNotFound);
}

TEST_F(ManifestTest, BuiltAtComesFromTheClockWithMilliseconds) {
  auto now = std::chrono::system_clock::time_point(
      std::chrono::milliseconds(1714566896789));
  OpenOptions options;
  options.clock = [&now] { return now; };
  std::unique_ptr<Manifest> manifest = OpenOrDie(OpenMode::kReadWrite, options);
  ASSERT_NE(manifest, nullptr);
  ASSERT_TRUE(manifest->RecordScene(SampleScene("a", "k")).ok());
  now += std::chrono::milliseconds(1);
  ASSERT_TRUE(manifest->RecordScene(SampleScene("b", "k")).ok());
  Result<std::vector<StoredScene>> scenes = manifest->LoadScenes();
  ASSERT_TRUE(scenes.ok());
  EXPECT_EQ((*scenes)[0].built_at, "2024-05-01T12:34:56.789Z");
  EXPECT_EQ((*scenes)[1].built_at, "2024-05-01T12:34:56.790Z");
}

TEST(FormatUtcTimestampTest, PadsAndKeepsMilliseconds) {
  EXPECT_EQ(FormatUtcTimestamp(std::chrono::system_clock::time_point(
                std::chrono::milliseconds(5))),
            "1970-01-01T00:00:00.005Z");
}

// Names are bytes: quotes, semicolons, SQL comment markers, newlines and
// bytes that are not UTF-8 reach SQLite only as bound values.
TEST_F(ManifestTest, HostilePathsRoundTripByteExact) {
  const std::string scene =
      "it's \"odd\"; DROP TABLE files; --\n\xff\xfe scene";
  std::unique_ptr<Manifest> manifest = OpenOrDie();
  ASSERT_NE(manifest, nullptr);
  SceneRecord record = SampleScene(scene, "k", 1);
  record.pairs[0].mask_path = "masks/'); DELETE FROM pairs; --\r\n\x80.png";
  ASSERT_TRUE(manifest->RecordScene(record).ok());

  Result<std::vector<FileRecord>> files = manifest->LoadFiles();
  ASSERT_TRUE(files.ok());
  ASSERT_EQ(files->size(), 2u);
  EXPECT_EQ((*files)[0].scene, scene);
  EXPECT_EQ((*files)[0].rel_path, scene + "/gt/gt.arw");
  Result<std::vector<StoredScene>> scenes = manifest->LoadScenes();
  ASSERT_TRUE(scenes.ok());
  EXPECT_EQ((*scenes)[0].scene, scene);
  const std::vector<std::string> masks = SortedMaskPaths(*manifest);
  EXPECT_TRUE(std::find(masks.begin(), masks.end(),
                        *record.pairs[0].mask_path) != masks.end());

  // The views show the same bytes (TEXT, not re-encoded).
  RawDb raw(db_path_);
  EXPECT_EQ(raw.Text("SELECT scene FROM scenes"), scene);
  EXPECT_EQ(
      raw.Column("SELECT gt_path FROM alignments"),
      (std::vector<std::string>{scene + "/gt/gt.arw", scene + "/gt/gt.arw"}));
  EXPECT_EQ(raw.Text("SELECT typeof(scene) FROM alignments LIMIT 1"), "text");
  EXPECT_EQ(raw.Int("SELECT count(*) FROM sqlite_master WHERE name = 'files'"),
            1);

  Result<std::vector<std::string>> removed = manifest->RemoveScene(scene);
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(removed->size(), 2u);
  EXPECT_EQ(raw.Int("SELECT count(*) FROM scene_builds"), 0);
}

}  // namespace
}  // namespace dsb
