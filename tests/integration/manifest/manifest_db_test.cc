// Integration tests of the manifest against real SQLite files in a temp dir:
// several connections at once (busy writers, WAL readers), read-only opens,
// reopening, and the exports read back by Python like RawNIND reads them.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "manifest/export.h"
#include "manifest/manifest.h"
#include "manifest/schema_migrations.h"
#include "manifest_fixtures.h"
#include "test_support.h"

namespace dsb {
namespace {

using ::dsb::testing::RawDb;
using ::dsb::testing::SampleScene;
using ::dsb::testing::TempDir;

class ManifestDbTest : public ::testing::Test {
 protected:
  std::unique_ptr<Manifest> OpenOrDie(OpenMode mode = OpenMode::kReadWrite,
                                      int busy_timeout_ms = 50) {
    OpenOptions options;
    options.busy_timeout_ms = busy_timeout_ms;
    Result<std::unique_ptr<Manifest>> manifest =
        Manifest::Open(db_path_, mode, options);
    EXPECT_TRUE(manifest.ok()) << manifest.status().ToString();
    if (!manifest.ok()) return nullptr;
    return std::move(manifest).value();
  }

  TempDir dir_;
  std::string db_path_ = dir_.Join("dataset-build.db");
};

TEST_F(ManifestDbTest, SecondWriterFailsFastWithBusy) {
  std::unique_ptr<Manifest> manifest = OpenOrDie();
  ASSERT_NE(manifest, nullptr);
  ASSERT_TRUE(manifest->RecordScene(SampleScene("a", "k1")).ok());

  RawDb other(db_path_);
  ASSERT_EQ(other.Exec("BEGIN IMMEDIATE"), SQLITE_OK);
  // Opening an up-to-date manifest writes nothing, so it is not blocked.
  std::unique_ptr<Manifest> second = OpenOrDie();
  ASSERT_NE(second, nullptr);

  const auto start = std::chrono::steady_clock::now();
  Status status = second->RecordScene(SampleScene("a", "k2"));
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(status.code(), Status::Code::kBusy) << status.ToString();
  EXPECT_NE(status.message().find(db_path_), std::string::npos);
  EXPECT_NE(status.message().find("another process"), std::string::npos);
  EXPECT_LT(elapsed, std::chrono::seconds(2));
  EXPECT_EQ(second->RemoveScene("a").status().code(), Status::Code::kBusy);
  EXPECT_EQ(second->MarkStale("a", "changed").code(), Status::Code::kBusy);
  EXPECT_EQ(second->BeginRun("0.1.0", "{}").status().code(),
            Status::Code::kBusy);

  ASSERT_EQ(other.Exec("COMMIT"), SQLITE_OK);
  EXPECT_TRUE(second->RecordScene(SampleScene("a", "k2")).ok());
  EXPECT_EQ(other.Text("SELECT key FROM scene_builds"), "k2");
}

// WAL: a reader keeps its snapshot and does not block the writer.
TEST_F(ManifestDbTest, ReadersDoNotBlockTheWriter) {
  std::unique_ptr<Manifest> manifest = OpenOrDie();
  ASSERT_NE(manifest, nullptr);
  ASSERT_TRUE(manifest->RecordScene(SampleScene("a", "k")).ok());

  RawDb reader(db_path_, /*read_only=*/true);
  ASSERT_EQ(reader.Exec("BEGIN"), SQLITE_OK);
  ASSERT_EQ(reader.Int("SELECT count(*) FROM scenes"), 1);
  ASSERT_TRUE(manifest->RecordScene(SampleScene("b", "k")).ok());
  EXPECT_EQ(reader.Int("SELECT count(*) FROM scenes"), 1);
  ASSERT_EQ(reader.Exec("COMMIT"), SQLITE_OK);
  EXPECT_EQ(reader.Int("SELECT count(*) FROM scenes"), 2);
}

TEST_F(ManifestDbTest, ReadOnlyOpenNeverWrites) {
  Result<std::unique_ptr<Manifest>> missing =
      Manifest::Open(db_path_, OpenMode::kReadOnly);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), Status::Code::kNotFound);
  EXPECT_FALSE(std::filesystem::exists(db_path_));

  {
    std::unique_ptr<Manifest> writer = OpenOrDie();
    ASSERT_NE(writer, nullptr);
    ASSERT_TRUE(writer->RecordScene(SampleScene("a", "k")).ok());
  }
  std::unique_ptr<Manifest> reader = OpenOrDie(OpenMode::kReadOnly);
  ASSERT_NE(reader, nullptr);
  ASSERT_TRUE(reader->LoadScenes().ok());
  ASSERT_TRUE(reader->LoadFiles().ok());
  std::ostringstream out;
  EXPECT_TRUE(ExportManifest(*reader, ExportFormat::kJson, out).ok());

  EXPECT_FALSE(reader->RecordScene(SampleScene("b", "k")).ok());
  EXPECT_FALSE(reader->RemoveScene("a").ok());
  EXPECT_FALSE(reader->MarkStale("a", "changed").ok());
  EXPECT_FALSE(reader->BeginRun("0.1.0", "{}").ok());
  EXPECT_FALSE(reader->EndRun(1, RunCounts(), 0).ok());
  reader.reset();

  RawDb raw(db_path_);
  EXPECT_EQ(raw.Column("SELECT scene || ':' || key || ':' || "
                       "coalesce(stale_reason, '-') FROM scene_builds"),
            (std::vector<std::string>{"a:k:-"}));
  EXPECT_EQ(raw.Int("SELECT count(*) FROM runs"), 0);
}

TEST_F(ManifestDbTest, ReadOnlyRefusesAnOlderSchemaWithoutMigrating) {
  {
    RawDb raw(db_path_);
    ASSERT_TRUE(MigrateSchema(raw.get(), db_path_, 1).ok());
  }
  Result<std::unique_ptr<Manifest>> reader =
      Manifest::Open(db_path_, OpenMode::kReadOnly);
  ASSERT_FALSE(reader.ok());
  EXPECT_EQ(reader.status().code(), Status::Code::kUnsupported);
  EXPECT_NE(reader.status().message().find("run a build"), std::string::npos);
  RawDb raw(db_path_);
  EXPECT_EQ(raw.Int("PRAGMA user_version"), 1);
}

TEST_F(ManifestDbTest, HostileNamesSurviveReopening) {
  const std::string scene = "a'b\";c\n\xc3\x28 --";
  {
    std::unique_ptr<Manifest> manifest = OpenOrDie();
    ASSERT_NE(manifest, nullptr);
    ASSERT_TRUE(manifest->RecordScene(SampleScene(scene, "k")).ok());
  }
  std::unique_ptr<Manifest> manifest = OpenOrDie(OpenMode::kReadOnly);
  ASSERT_NE(manifest, nullptr);
  Result<std::vector<FileRecord>> files = manifest->LoadFiles();
  ASSERT_TRUE(files.ok());
  const SceneRecord expected = SampleScene(scene, "k");
  ASSERT_EQ(files->size(), expected.files.size());
  for (std::size_t i = 0; i < files->size(); ++i) {
    EXPECT_EQ((*files)[i], expected.files[i].file);
  }
}

bool PythonYamlAvailable() {
  return std::system("python3 -c 'import yaml' >/dev/null 2>&1") == 0;
}

// The exports read back the way their consumers read them: RawNIND loads
// its YAML with PyYAML; CSV goes through Python's csv module.
TEST_F(ManifestDbTest, ExportsLoadInPython) {
  if (!PythonYamlAvailable()) GTEST_SKIP() << "python3 with PyYAML not found";
  std::unique_ptr<Manifest> manifest = OpenOrDie();
  ASSERT_NE(manifest, nullptr);
  SceneRecord bayer = SampleScene("src/Bayer/a \"b\", c", "k", 1);
  bayer.pairs[1].status = BuildStatus::kFailed;
  bayer.pairs[1].error = "two\nlines, \"quoted\"";
  bayer.pairs[1].alignment.reset();
  bayer.pairs[1].mask_path.reset();
  bayer.pairs[1].mask_mean.reset();
  ASSERT_TRUE(manifest->RecordScene(bayer).ok());
  SceneRecord xtrans = SampleScene("src/X-Trans/true", "k", 0);
  xtrans.cfa = CfaPattern::StandardXTrans();
  xtrans.pairs[0].alignment->raw_gain = 2;
  ASSERT_TRUE(manifest->RecordScene(xtrans).ok());

  for (ExportFormat format :
       {ExportFormat::kRawnindYaml, ExportFormat::kJson, ExportFormat::kCsv}) {
    ExportOptions options;
    if (format == ExportFormat::kRawnindYaml) options.absolute_root = "/ds";
    std::ofstream out(dir_.Join(std::string(ExportFormatName(format))),
                      std::ios::binary);
    ASSERT_TRUE(ExportManifest(*manifest, format, out, options).ok());
  }

  std::ofstream(dir_.Join("check.py")) << R"PY(
import csv, json, sys, yaml
d = sys.argv[1]
entries = yaml.safe_load(open(d + "/rawnind-yaml", encoding="utf-8"))
assert isinstance(entries, list) and len(entries) == 2, entries
keys = {"gt_fpath", "f_fpath", "image_set", "best_alignment",
        "best_alignment_loss", "mask_fpath", "mask_mean", "is_bayer",
        "rgb_xyz_matrix", "overexposure_lb", "raw_gain", "rgb_gain", "crops"}
for e in entries:
    assert set(e) == keys, set(e) ^ keys
    for k in ("gt_fpath", "f_fpath", "image_set", "mask_fpath"):
        assert isinstance(e[k], str) and e[k], (k, e[k])
    assert e["gt_fpath"].startswith("/ds/src/"), e["gt_fpath"]
    ba = e["best_alignment"]
    assert isinstance(ba, list) and len(ba) == 2, ba
    assert all(type(v) is int for v in ba), ba
    for k in ("best_alignment_loss", "mask_mean", "overexposure_lb",
              "raw_gain", "rgb_gain"):
        assert type(e[k]) is float, (k, e[k])
    assert type(e["is_bayer"]) is bool
    m = e["rgb_xyz_matrix"]
    assert len(m) == 4 and all(len(r) == 3 for r in m), m
    assert all(type(v) is float for r in m for v in r), m
    assert e["crops"] == []
by_set = {e["image_set"]: e for e in entries}
assert by_set['a "b", c']["is_bayer"] is True
assert by_set["true"]["is_bayer"] is False, "a scene named true stays a str"
assert by_set["true"]["raw_gain"] == 2.0
assert by_set['a "b", c']["rgb_xyz_matrix"][0][0] == 0.664

doc = json.load(open(d + "/json", encoding="utf-8"))
assert [s["scene"] for s in doc["scenes"]] == ['src/Bayer/a "b", c',
                                               "src/X-Trans/true"]
assert len(doc["pairs"]) == 3

with open(d + "/csv", newline="", encoding="utf-8") as f:
    rows = list(csv.reader(f))
assert rows[0] == ["scene", "gt_path", "noisy_path", "dy", "dx", "dy_subpx",
                   "dx_subpx", "confidence", "loss", "raw_gain",
                   "overexposure_lb", "mask_path", "mask_mean", "status",
                   "error"], rows[0]
assert len(rows) == 4, rows
assert rows[1][0] == 'src/Bayer/a "b", c', rows[1]
failed = [r for r in rows[1:] if r[13] == "failed"]
assert len(failed) == 1 and failed[0][14] == 'two\nlines, "quoted"', failed
print("ok")
)PY";
  const std::string command =
      "python3 '" + dir_.Join("check.py") + "' '" + dir_.path() + "'";
  EXPECT_EQ(std::system(command.c_str()), 0) << "see the Python traceback";
}

}  // namespace
}  // namespace dsb
