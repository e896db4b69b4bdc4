// Parallelism and the memory budget never change results: a build with all
// workers, one with a single worker and one under a tiny --mem produce
// identical manifests (views compared row by row), and the tiny budget
// keeps one capture in flight at a time.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "align/correlator.h"
#include "align/correlator_common.h"
#include "build_fixtures.h"
#include "crops/rawnind_loss.h"
#include "executor/build_observer.h"
#include "executor/executor.h"
#include "mask/loss_mask.h"
#include "mask/png_writer.h"
#include "mask/self_pair_mask.h"
#include "plan/memory_plan.h"
#include "raw/decoder.h"
#include "sqlite_rows.h"
#include "synth/generate.h"
#include "test_support.h"

namespace dsb {
namespace {

namespace fs = std::filesystem;

using testing::kAlignments;
using testing::kScenes;

TEST(PipelineTest, WorkersAndMemoryBudgetNeverChangeResults) {
  testing::TempDir dir;
  SynthOptions synth;
  synth.out_dir = dir.Join("data");
  synth.scenes = 3;
  synth.gts_per_scene = 2;  // GT groups are exercised too
  synth.noisy = 3;
  synth.width = 320;
  synth.height = 224;
  synth.cfa = "mixed";
  synth.seed = 8;
  synth.max_shift = 20;
  ASSERT_TRUE(GenerateDataset(synth).ok());
  for (const char* copy : {"one", "tiny"}) {
    fs::copy(synth.out_dir, dir.Join(copy), fs::copy_options::recursive);
  }

  auto build = [&](const std::string& root, int jobs, std::size_t mem) {
    BuildOptions options = testing::CpuBuildOptions(root, 24, jobs);
    options.mem_bytes = mem;
    BuildObserver progress;  // silent
    auto report = RunBuild(options, RealFileSystem(), progress);
    EXPECT_TRUE(report.ok()) << report.status().ToString();
    return report.ok() ? *report : BuildReport();
  };
  const BuildReport parallel = build(synth.out_dir, 4, 0);
  const BuildReport single = build(dir.Join("one"), 1, 0);
  const BuildReport tiny = build(dir.Join("tiny"), 4, 1);  // 1 byte

  EXPECT_EQ(parallel.pairs_ok, 3 * 2 * (2 + 3));
  EXPECT_EQ(single.max_captures_in_flight, 1);
  EXPECT_LE(parallel.max_captures_in_flight, 4);
  EXPECT_EQ(tiny.max_captures_in_flight, 1);
  EXPECT_EQ(tiny.pairs_ok, parallel.pairs_ok);
  // Masks paths are relative to each root, so the rows compare directly.
  const auto reference =
      testing::QueryRows(synth.out_dir + "/dataset-build.db", kAlignments);
  ASSERT_EQ(reference.size(), 30u);
  EXPECT_EQ(
      testing::QueryRows(dir.Join("one") + "/dataset-build.db", kAlignments),
      reference);
  EXPECT_EQ(
      testing::QueryRows(dir.Join("tiny") + "/dataset-build.db", kAlignments),
      reference);
  // RawNIND's figures (their own tasks beside the masks'): on every ok pair
  // of a Bayer scene (this set has no X-Trans one; those have none), the
  // same whatever the threads; a GT
  // paired with itself has gain 1 and loss 0.
  const char* figures =
      "SELECT p.scene, p.gt_path, p.noisy_path, s.cfa, "
      "quote(p.rgb_gain), quote(p.rawnind_loss) FROM pairs p "
      "JOIN scenes s ON s.scene = p.scene WHERE p.status = 'ok' "
      "ORDER BY 1, 2, 3";
  const auto figure_rows =
      testing::QueryColumns(synth.out_dir + "/dataset-build.db", figures);
  ASSERT_EQ(figure_rows.size(), 30u);
  int bayer = 0, xtrans = 0;
  for (const auto& row : figure_rows) {
    if (row[3] == "XTRANS") {
      ++xtrans;
      EXPECT_EQ(row[4], "NULL") << row[2];
      continue;
    }
    ++bayer;
    ASSERT_NE(row[4], "NULL") << row[2];
    ASSERT_NE(row[5], "NULL") << row[2];
    if (row[1] == row[2]) {
      EXPECT_NEAR(std::stod(row[4]), 1.0, 1e-9) << row[2];
      EXPECT_NEAR(std::stod(row[5]), 0.0, 1e-9) << row[2];
    }
  }
  EXPECT_GT(bayer, 0);
  EXPECT_EQ(bayer + xtrans, 30);
  // Each step's time is recorded on its own (scene_builds): RawNIND's
  // figures in figures_s, not in mask_s, which is the masks and PNGs.
  const auto times = testing::QueryColumns(
      synth.out_dir + "/dataset-build.db",
      "SELECT scene, mask_s > 0, figures_s > 0, cfa FROM scene_builds "
      "WHERE status = 'ok'");
  ASSERT_EQ(times.size(), 3u);
  for (const auto& row : times) {
    EXPECT_EQ(row[1], "1") << row[0];
    EXPECT_EQ(row[2], row[3] == "bayer" ? "1" : "0") << row[0];
  }
  EXPECT_EQ(
      testing::QueryColumns(dir.Join("one") + "/dataset-build.db", figures),
      figure_rows);
  EXPECT_EQ(
      testing::QueryColumns(dir.Join("tiny") + "/dataset-build.db", figures),
      figure_rows);
  const auto scenes =
      testing::QueryRows(synth.out_dir + "/dataset-build.db", kScenes);
  EXPECT_EQ(testing::QueryRows(dir.Join("one") + "/dataset-build.db", kScenes),
            scenes);
  EXPECT_EQ(testing::QueryRows(dir.Join("tiny") + "/dataset-build.db", kScenes),
            scenes);
}

// Records the device notice (and anything else the build says).
class NoticeRecorder : public BuildObserver {
 public:
  void Message(std::string_view line) override {
    std::lock_guard lock(mutex_);
    messages.emplace_back(line);
  }
  std::vector<std::string> messages;

 private:
  std::mutex mutex_;
};

TEST(PipelineTest, ScenesReachOneCorrelatorPerGtInBatches) {
  // The GPU design, which the CPU path now follows too: a scene's captures
  // reach one correlator per GT (its reference prepared once), in batches
  // bounded by the memory budget. It used to be one correlator per thread
  // per GT, fed one capture per Align call.
  testing::TempDir dir;
  SynthOptions synth = testing::SmallDataset(dir.Join("data"), 1, 5, 21);
  synth.gts_per_scene = 2;
  ASSERT_TRUE(GenerateDataset(synth).ok());
  fs::copy(synth.out_dir, dir.Join("tight"), fs::copy_options::recursive);

  auto build = [&](const std::string& root, std::size_t mem,
                   NoticeRecorder& observer) {
    BuildOptions options = testing::CpuBuildOptions(root, 16, 4);
    options.device = Device::kAuto;  // the notice is about this choice
    options.mem_bytes = mem;
    auto report = RunBuild(options, RealFileSystem(), observer);
    EXPECT_TRUE(report.ok()) << report.status().ToString();
    return report.ok() ? *report : BuildReport();
  };
  NoticeRecorder roomy_notices, tight_notices;
  const BuildReport roomy = build(synth.out_dir, 0, roomy_notices);
  // Ample memory, 4 workers: both GTs in one group, one correlator each;
  // 4 captures in flight as two batches of 2.
  EXPECT_EQ(roomy.pairs_ok, 2 * (2 + 5));
  EXPECT_EQ(roomy.correlators_made, 2);
  EXPECT_EQ(roomy.max_align_batch, 2);
  EXPECT_LE(roomy.max_captures_in_flight, 4);
  EXPECT_EQ(roomy.pairs_aligned, 2 * (2 + 5));

  // A budget with room for one GT and one capture: one GT per pass (so
  // two correlators, one after the other) and batches of one.
  const std::size_t pixels = 256 * 192;
  const BuildReport tight = build(
      dir.Join("tight"),
      (kBytesPerGtPixel + kBytesPerCapturePixel) * pixels + 1, tight_notices);
  EXPECT_EQ(tight.correlators_made, 2);
  EXPECT_EQ(tight.max_align_batch, 1);
  EXPECT_EQ(tight.max_captures_in_flight, 1);
  EXPECT_EQ(
      testing::QueryRows(dir.Join("tight") + "/dataset-build.db", kAlignments),
      testing::QueryRows(synth.out_dir + "/dataset-build.db", kAlignments));

  // The device is chosen once per build and its notice shown once (there is
  // a notice only where CUDA was compiled in: GPU found, or CPU fallback).
  int notices = 0;
  for (const std::string& line : roomy_notices.messages) {
    if (line.find("aligning on the") != std::string::npos) ++notices;
  }
  EXPECT_EQ(notices, CudaCompiledIn() ? 1 : 0);
}

// A pair's identity (whether the capture holds its GT's pixels, bit for
// bit) is decided once per pair by the build and handed to alignment and
// RawNIND's figures; neither compares the pair's images again. Where both
// files have the same content hash the build does not compare them either
// (a file's own pair, an exact copy); where the bytes differ it compares
// the pixels, which may still be equal. A scene of two GTs, three captures,
// an exact copy of the first GT's file and a copy with a byte appended (the
// same pixels, another hash): SamePixels runs once for every pair but the
// three of equal hashes, and both copies' pairs with that GT come out as a
// self pair's (gain 1, loss 0).
TEST(PipelineTest, APairsIdentityIsDecidedOnce) {
  testing::TempDir dir;
  SynthOptions synth = testing::SmallDataset(dir.Join("data"), 1, 3, 5);
  synth.gts_per_scene = 2;
  ASSERT_TRUE(GenerateDataset(synth).ok());
  std::string scene, gt_file;
  for (const auto& entry : fs::recursive_directory_iterator(synth.out_dir)) {
    if (entry.is_regular_file() &&
        entry.path().parent_path().filename() == "gt" &&
        (gt_file.empty() || entry.path().string() < gt_file)) {
      gt_file = entry.path().string();
      scene = entry.path().parent_path().parent_path().string();
    }
  }
  ASSERT_FALSE(gt_file.empty());
  const std::string ext = fs::path(gt_file).extension().string();
  fs::copy_file(gt_file, scene + "/copy_of_the_gt" + ext);
  fs::copy_file(gt_file, scene + "/edited_copy_of_the_gt" + ext);
  {
    std::FILE* edited =
        std::fopen((scene + "/edited_copy_of_the_gt" + ext).c_str(), "ab");
    ASSERT_NE(edited, nullptr);
    std::fputc(0, edited);  // past the TIFF's last offset: pixels unchanged
    std::fclose(edited);
  }

  const std::int64_t before = internal::SamePixelsCalls();
  const std::int64_t frames_before = internal::RawnindFrameComparisons();
  const std::int64_t self_masks_before = internal::SelfPairMasks();
  BuildObserver progress;  // silent
  auto report = RunBuild(testing::CpuBuildOptions(synth.out_dir, 16, 2),
                         RealFileSystem(), progress);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->pairs_ok, 2 * (2 + 3 + 2));
  EXPECT_EQ(report->pairs_aligned, 2 * (2 + 3 + 2));
  // Once per pair (by the build) but for each GT with itself and the first
  // GT with its exact copy; RawNIND's figures compared nothing.
  EXPECT_EQ(internal::SamePixelsCalls() - before, report->pairs_aligned - 3);
  EXPECT_EQ(internal::RawnindFrameComparisons(), frames_before);
  // The masks of the four self pairs (each GT with itself, the first with
  // both copies) were written as self pairs' (mask/self_pair_mask.h), and
  // are the full algorithm's: the same PNG bytes and mask_mean.
  EXPECT_EQ(internal::SelfPairMasks() - self_masks_before, 4);
  Result<RawImage> gt = DecodeRaw(gt_file);
  ASSERT_TRUE(gt.ok()) << gt.status().ToString();
  auto full = MakeLossMask(*gt, *gt, Alignment{});
  ASSERT_TRUE(full.ok());
  auto png = EncodeGreyPng(full->pixels.view(), "expected");
  ASSERT_TRUE(png.ok());
  const auto masks = testing::QueryRows(
      synth.out_dir + "/dataset-build.db",
      "SELECT p.mask_path, quote(p.mask_mean) FROM pairs p "
      "WHERE p.dy = 0 AND p.dx = 0 AND p.gt_path LIKE '%" +
          fs::path(gt_file).filename().string() +
          "' AND (p.noisy_path = p.gt_path OR p.noisy_path LIKE '%copy%')");
  ASSERT_EQ(masks.size(), 3u);
  for (const std::string& row : masks) {
    const std::string path = row.substr(0, row.find('|'));
    std::ifstream file(synth.out_dir + "/" + path, std::ios::binary);
    const std::vector<std::uint8_t> bytes(
        (std::istreambuf_iterator<char>(file)),
        std::istreambuf_iterator<char>());
    EXPECT_TRUE(bytes == *png) << path;
    EXPECT_DOUBLE_EQ(std::stod(row.substr(row.find('|') + 1)), full->mean)
        << row;
  }

  for (const char* copy : {"/copy_of_the_gt", "/edited_copy_of_the_gt"}) {
    const auto rows = testing::QueryRows(
        synth.out_dir + "/dataset-build.db",
        "SELECT p.dy, p.dx, quote(p.loss), quote(p.raw_gain), "
        "quote(p.rgb_gain), quote(p.rawnind_loss) FROM pairs p "
        "WHERE p.noisy_path LIKE '%" +
            fs::path(scene).filename().string() + copy +
            "%' AND p.gt_path LIKE '%" + fs::path(gt_file).filename().string() +
            "'");
    ASSERT_EQ(rows.size(), 1u) << copy;
    EXPECT_EQ(rows[0], "0|0|0.0|1.0|1.0|0.0|") << copy;
  }
}

}  // namespace
}  // namespace dsb
