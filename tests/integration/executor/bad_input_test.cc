// Bad input never stops a build: the scene is recorded as failed with the
// file and the reason, every other scene is still built, the exit status is
// 1, and what the manifest already held is kept.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "build_fixtures.h"
#include "common/file_system.h"
#include "executor/build_observer.h"
#include "executor/executor.h"
#include "forwarding_file_system.h"
#include "synth/generate.h"
#include "test_support.h"

namespace dsb {
namespace {

namespace fs = std::filesystem;

void WriteBytes(const fs::path& path, const std::string& bytes) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << bytes;
}

std::map<std::string, std::string> Column(const std::string& db,
                                          const std::string& sql) {
  std::map<std::string, std::string> rows;
  sqlite3* handle = nullptr;
  sqlite3_open_v2(db.c_str(), &handle, SQLITE_OPEN_READONLY, nullptr);
  sqlite3_stmt* statement = nullptr;
  sqlite3_prepare_v2(handle, sql.c_str(), -1, &statement, nullptr);
  while (statement != nullptr && sqlite3_step(statement) == SQLITE_ROW) {
    const auto* key = sqlite3_column_text(statement, 0);
    const auto* value = sqlite3_column_text(statement, 1);
    rows[key ? reinterpret_cast<const char*>(key) : "NULL"] =
        value ? reinterpret_cast<const char*>(value) : "NULL";
  }
  sqlite3_finalize(statement);
  sqlite3_close(handle);
  return rows;
}

TEST(BadInputTest, FailedScenesAreRecordedAndGoodOnesBuilt) {
  testing::TempDir dir;
  const std::string root = dir.Join("data");
  const SynthOptions synth = testing::SmallDataset(root, 2, 2, /*seed=*/5);
  ASSERT_TRUE(GenerateDataset(synth).ok());

  const BuildOptions options =
      testing::CpuBuildOptions(root, /*max_shift=*/16, /*jobs=*/0);
  BuildObserver progress;  // silent
  auto first = RunBuild(options, RealFileSystem(), progress);
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->scenes_built, 2);

  // A scene of bad files next to the good ones, a scene with an empty gt/,
  // and a good scene broken afterwards.
  fs::path good_gt;
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    if (entry.path().parent_path().filename() == "gt") good_gt = entry.path();
  }
  ASSERT_FALSE(good_gt.empty());
  const fs::path bad = fs::path(root) / "bad scene";
  fs::copy_file(good_gt, bad / "gt" / "clean.dng",
                (fs::create_directories(bad / "gt"), fs::copy_options::none));
  WriteBytes(bad / "empty.dng", "");
  std::string random(4096, '\0');
  std::mt19937 rng(1);
  for (char& c : random) c = static_cast<char>(rng());
  WriteBytes(bad / "random.NEF", random);
  WriteBytes(bad / "notes.ARW", "this is a text file, not a raw\n");
  {
    // A raw of another size: the first kilobytes of a real DNG are not a
    // DNG of another size, so write a small generated one instead.
    SynthOptions small = synth;
    small.out_dir = dir.Join("small");
    small.scenes = 1;
    small.noisy = 1;
    small.width = 128;
    small.height = 96;
    ASSERT_TRUE(GenerateDataset(small).ok());
    for (const auto& entry : fs::recursive_directory_iterator(small.out_dir)) {
      if (entry.path().extension() == ".dng" &&
          entry.path().parent_path().filename() != "gt") {
        fs::copy_file(entry.path(), bad / "other size.dng");
        break;
      }
    }
  }
  fs::create_directories(fs::path(root) / "no gt" / "gt");
  WriteBytes(fs::path(root) / "no gt" / "noisy.dng", "x");

  auto second = RunBuild(options, RealFileSystem(), progress);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(second->ExitCode(), 1);
  EXPECT_EQ(second->scenes_failed, 2);
  EXPECT_EQ(second->scenes_up_to_date, 2);

  const auto scene_status =
      Column(options.db_path, "SELECT scene, status FROM scenes");
  EXPECT_EQ(scene_status.at("bad scene"), "failed");
  EXPECT_EQ(scene_status.at("no gt"), "failed");
  const auto scene_errors =
      Column(options.db_path, "SELECT scene, error FROM scenes");
  EXPECT_NE(scene_errors.at("no gt").find("gt/"), std::string::npos);
  const auto pair_errors = Column(
      options.db_path,
      "SELECT noisy_path, coalesce(error, 'ok') FROM alignments WHERE scene = "
      "'bad scene'");
  // Each bad file's pair names the file and says why; the good pair is ok.
  for (const char* name :
       {"empty.dng", "random.NEF", "notes.ARW", "other size.dng"}) {
    const std::string path = std::string("bad scene/") + name;
    ASSERT_TRUE(pair_errors.count(path)) << path;
    EXPECT_NE(pair_errors.at(path), "ok") << path;
    EXPECT_NE(pair_errors.at(path).find(name), std::string::npos)
        << pair_errors.at(path);
  }
  EXPECT_EQ(pair_errors.at("bad scene/gt/clean.dng"), "ok");
  // The earlier scenes are intact.
  int ok_scenes = 0;
  for (const auto& [scene, status] : scene_status) ok_scenes += status == "ok";
  EXPECT_EQ(ok_scenes, 2);
  // Failed scenes are retried: --status lists them as `failed`.
  auto status = RunStatus(options, RealFileSystem());
  ASSERT_TRUE(status.ok());
  ASSERT_EQ(status->stale.size(), 2u);
  for (const StaleScene& stale : status->stale)
    EXPECT_EQ(stale.reason, "failed");
}

// The real file system, but `victim` is cut short as the hasher starts
// reading it (hash/hash.h reads with read(); hash_real_test covers a cut
// under a mapping).
class ShrinkingFileSystem : public testing::ForwardingFileSystem {
 public:
  explicit ShrinkingFileSystem(std::string victim)
      : victim_(std::move(victim)) {}
  Result<std::unique_ptr<ReadableFile>> OpenForRead(
      const std::string& path) override {
    DSB_ASSIGN_OR_RETURN(std::unique_ptr<ReadableFile> file,
                         real_.OpenForRead(path));
    if (path != victim_) return file;
    return std::unique_ptr<ReadableFile>(
        std::make_unique<Shrinking>(std::move(file), path, &reads_));
  }
  int reads() const { return reads_.load(); }

 private:
  class Shrinking : public ReadableFile {
   public:
    Shrinking(std::unique_ptr<ReadableFile> file, std::string path,
              std::atomic<int>* reads)
        : file_(std::move(file)), path_(std::move(path)), reads_(reads) {}
    // The first read finds the file cut short.
    Result<std::size_t> Read(std::span<std::uint8_t> buffer) override {
      if (reads_->fetch_add(1) == 0) fs::resize_file(path_, 100);
      return file_->Read(buffer);
    }
    std::optional<std::uint64_t> MappableSize() override {
      return file_->MappableSize();
    }
    Result<std::unique_ptr<FileMapping>> Map(std::uint64_t offset,
                                             std::size_t length) override {
      return file_->Map(offset, length);
    }

   private:
    std::unique_ptr<ReadableFile> file_;
    std::string path_;
    std::atomic<int>* reads_;
  };
  std::string victim_;
  std::atomic<int> reads_{0};
};

// A raw cut short while it is being hashed: its scene fails with an error
// naming the file, the
// other scene is built, and the next build, the file restored, builds the
// failed scene and keeps the other.
TEST(BadInputTest, FileCutShortWhileHashedFailsOnlyItsScene) {
  testing::TempDir dir;
  const std::string root = dir.Join("data");
  ASSERT_TRUE(GenerateDataset(testing::SmallDataset(root, 2, 2, 9)).ok());
  fs::path victim;
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    if (entry.is_regular_file() && entry.path().extension() == ".dng" &&
        entry.path().parent_path().filename() != "gt") {
      victim = entry.path();
      break;
    }
  }
  ASSERT_FALSE(victim.empty());
  std::string original;
  {
    std::ifstream in(victim, std::ios::binary);
    original.assign(std::istreambuf_iterator<char>(in), {});
  }
  ASSERT_GT(original.size(), 16384u);  // pages past the cut

  const BuildOptions options = testing::CpuBuildOptions(root, 12, 2);
  ShrinkingFileSystem shrinking(victim.string());
  BuildObserver progress;  // silent
  auto first = RunBuild(options, shrinking, progress);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_GE(shrinking.reads(), 1);
  EXPECT_EQ(first->scenes_built, 1);
  EXPECT_EQ(first->scenes_failed, 1);
  EXPECT_EQ(first->ExitCode(), 1);
  ASSERT_EQ(first->failures.size(), 1u);
  const std::string& error = first->failures[0].error;
  EXPECT_NE(error.find(victim.filename().string()), std::string::npos) << error;
  EXPECT_NE(error.find("changed while being hashed"), std::string::npos)
      << error;

  WriteBytes(victim, original);
  auto second = RunBuild(options, RealFileSystem(), progress);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(second->scenes_built, 1);
  EXPECT_EQ(second->scenes_up_to_date, 1);
  EXPECT_EQ(second->scenes_failed, 0);
}

}  // namespace
}  // namespace dsb
