// RunReport in memory, in the manner of ninja's build tests: a real
// manifest, the report folder and masks on the fake file system, and a fake
// decoder. The first run draws every preview; a rerun draws and decodes
// nothing and rewrites no scene page; --force draws again; a raw the
// decoder refuses becomes a recorded preview error shown in the report
// and is not retried; a scene that disappears takes its previews and page
// with it.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>

#include "executor/build_observer.h"
#include "fake_file_system.h"
#include "manifest/manifest.h"
#include "mask/png_writer.h"
#include "raw/raw_decoder.h"
#include "report/report.h"
#include "test_support.h"

namespace dsb {
namespace {

constexpr int kWidth = 96, kHeight = 64;

// Decodes any path to a small RGGB mosaic whose content depends on the
// path; paths containing "bad" fail as a damaged file would.
class FakeDecoder final : public RawDecoder {
 public:
  Result<RawImage> Decode(const std::string& path,
                          const DecodeOptions&) const override {
    ++calls;
    if (path.find("bad") != std::string::npos) {
      return Status::Corrupt("cannot open raw file '" + path +
                             "': not a raw file");
    }
    RawImage image;
    image.cfa = CfaPattern::Bayer(BayerOrder::kRGGB);
    image.pixels = Plane<float>(kWidth, kHeight);
    const float phase = static_cast<float>(path.size() % 7);
    for (int y = 0; y < kHeight; ++y) {
      for (int x = 0; x < kWidth; ++x) {
        image.pixels.at(y, x) =
            0.4f + 0.3f * std::sin(0.2f * x + phase) * std::cos(0.15f * y);
      }
    }
    return image;
  }
  std::string_view name() const override { return "fake"; }
  mutable std::atomic<int> calls{0};
};

struct CountingObserver : BuildObserver {
  void SceneDone() override { ++scenes; }
  void FileDone(std::uint64_t) override { ++files; }
  std::atomic<int> scenes{0}, files{0};
};

class ReportRunTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_.root = "/data";
    options_.db_path = dir_.Join("m.db");
    options_.jobs = 2;
    auto manifest = Manifest::Open(options_.db_path, OpenMode::kReadWrite);
    ASSERT_TRUE(manifest.ok());
    manifest_ = std::move(*manifest);
    fs_.AddDirectory("/data/masks");
    Record("a", {"a/n1.dng", "a/n2.dng"});
    Record("b", {"b/bad.dng"});
  }

  // A scene with GT <scene>/gt/g.dng paired with itself and `noisy`; a
  // capture named "bad" failed in the build.
  void Record(const std::string& scene, const std::vector<std::string>& noisy,
              const std::string& hash_seed = "") {
    SceneRecord record;
    record.scene = scene;
    record.key = "key-" + scene + hash_seed;
    record.cfa = CfaPattern::Bayer(BayerOrder::kRGGB);
    record.width = kWidth;
    record.height = kHeight;
    std::vector<std::string> files = {scene + "/gt/g.dng"};
    files.insert(files.end(), noisy.begin(), noisy.end());
    for (std::size_t i = 0; i < files.size(); ++i) {
      SceneFile file;
      file.file.scene = scene;
      file.file.role = i == 0 ? FileRole::kGt : FileRole::kNoisy;
      file.file.rel_path = files[i];
      file.file.size = 1000;
      char hex[33];
      std::snprintf(hex, sizeof hex, "%032zx",
                    std::hash<std::string>()(files[i] + hash_seed));
      file.file.hash_hex = hex;
      record.files.push_back(file);
    }
    for (std::size_t i = 0; i < files.size(); ++i) {
      PairRecord pair;
      pair.gt_path = files[0];
      pair.noisy_path = files[i];
      if (files[i].find("bad") != std::string::npos) {
        pair.status = BuildStatus::kFailed;
        pair.error = "cannot open raw file: not a raw file";
        record.status = BuildStatus::kFailed;
        record.error = "1 pair failed";
      } else {
        Alignment a;
        a.dy = static_cast<int>(i);
        a.dx = -static_cast<int>(i);
        a.confidence = 0.9;
        a.loss = 0.01;
        a.raw_gain = 1;
        pair.alignment = a;
        pair.overexposure_lb = 1;
        pair.mask_mean = 0.9;
        pair.mask_path = "masks/" + scene + std::to_string(i) + ".png";
        const Overlap overlap = ComputeOverlap(kHeight, kWidth, a.dy, a.dx);
        Plane<std::uint8_t> mask(overlap.width, overlap.height, 255);
        mask.at(0, 0) = 0;
        EXPECT_TRUE(
            WriteGreyPng(fs_, "/data/" + *pair.mask_path, mask.view()).ok());
      }
      record.pairs.push_back(pair);
    }
    ASSERT_TRUE(manifest_->RecordScene(record).ok());
  }

  Result<ReportSummary> Run(bool force = false) {
    ReportOptions options = options_;
    options.force = force;
    fs_.ResetCounters();
    return RunReport(options, fs_, decoder_, DecodeOptions(), observer_);
  }

  testing::TempDir dir_;
  testing::FakeFileSystem fs_;
  FakeDecoder decoder_;
  CountingObserver observer_;
  ReportOptions options_;
  std::unique_ptr<Manifest> manifest_;
};

TEST_F(ReportRunTest, RerunDrawsNothingAndForceDrawsAgain) {
  auto first = Run();
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->scenes, 2);
  EXPECT_EQ(first->pairs, 5);
  EXPECT_EQ(first->scenes_drawn, 2);
  // a: 3 thumbnails, 3 differences, 3 overlays; b: the GT's thumbnail, its
  // self-pair's difference and overlay; the bad file's thumbnail fails.
  EXPECT_EQ(first->images_drawn, 9 + 3);
  EXPECT_EQ(first->images_failed, 1);
  EXPECT_EQ(first->images_cached, 0);
  EXPECT_EQ(first->pages_written, 3);
  EXPECT_EQ(observer_.scenes, 2);
  EXPECT_EQ(first->index_path, "/data/report/index.html");
  const std::string index = *fs_.Contents("/data/report/index.html");
  EXPECT_NE(index.find("/data/b/bad.dng&#39;: not a raw file"),
            std::string::npos);

  const int decodes = decoder_.calls;
  auto second = Run();
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->scenes_drawn, 0);
  EXPECT_EQ(second->images_drawn, 0);
  EXPECT_EQ(second->images_failed, 0);  // the failure is not retried
  EXPECT_EQ(second->images_cached, 13);
  EXPECT_EQ(second->files_decoded, 0);
  EXPECT_EQ(decoder_.calls, decodes);
  EXPECT_EQ(second->files_removed, 0);
  // Only the index (it carries the time) may be written; no scene page.
  for (const std::string& path : fs_.write_log()) {
    EXPECT_EQ(path, "/data/report/index.html");
  }
  // The failure is still shown, from its record.
  EXPECT_NE(fs_.Contents("/data/report/index.html")
                ->find("/data/b/bad.dng&#39;: not a raw file"),
            std::string::npos);

  auto forced = Run(/*force=*/true);
  ASSERT_TRUE(forced.ok());
  EXPECT_EQ(forced->images_drawn, 12);
  EXPECT_EQ(forced->images_failed, 1);
}

TEST_F(ReportRunTest, AChangedCaptureRedrawsItsImagesAndPrunesTheOld) {
  ASSERT_TRUE(Run().ok());
  const std::vector<std::string> before = fs_.AllPaths();
  // Every file of scene a changes content (new hashes, a new scene key).
  Record("a", {"a/n1.dng", "a/n2.dng"}, "changed");
  auto again = Run();
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->scenes_drawn, 1);
  // Every file of a changed: 3 thumbnails, 3 differences, 3 overlays.
  EXPECT_EQ(again->images_drawn, 9);
  EXPECT_EQ(again->files_removed, 9);
  // Scene b's page was not rewritten.
  for (const std::string& path : fs_.write_log()) {
    EXPECT_EQ(path.find("/data/report/scenes/b-"), std::string::npos) << path;
  }

  // Scene b disappears: its previews and its page go.
  ASSERT_TRUE(manifest_->RemoveScene("b").ok());
  auto pruned = Run();
  ASSERT_TRUE(pruned.ok());
  EXPECT_EQ(pruned->images_drawn, 0);
  EXPECT_EQ(pruned->files_removed, 4 + 1);  // 3 previews, 1 error, 1 page
  for (const std::string& path : fs_.AllPaths()) {
    EXPECT_EQ(path.find("/data/report/scenes/b-"), std::string::npos) << path;
  }
}

TEST_F(ReportRunTest, AMissingManifestIsAClearError) {
  ReportOptions options = options_;
  options.db_path = dir_.Join("missing.db");
  auto result = RunReport(options, fs_, decoder_, DecodeOptions(), observer_);
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.status().message().find("missing.db"), std::string::npos)
      << result.status().message();
}

}  // namespace
}  // namespace dsb
