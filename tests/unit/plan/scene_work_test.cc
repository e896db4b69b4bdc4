// What the plan emits per dirty scene (plan/scene_work.h) and the one
// memory model (plan/memory_plan.h), against values worked out by hand.
#include "plan/scene_work.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "mask/mask_names.h"
#include "plan/memory_plan.h"

namespace dsb {
namespace {

TEST(MemoryPlanTest, BytesPerPixelModel) {
  // A GT: its plane (4), RawNIND's reference (2) and its correlator's
  // (under 0.5), rounded up; a capture: its plane (4), its raw values in a
  // worker (2), the mask being made from it (3).
  EXPECT_EQ(kBytesPerGtPixel, 7u);
  EXPECT_EQ(kBytesPerCapturePixel, 9u);
  EXPECT_EQ(kBytesPerScenePixel, 16u);  // one of each
  EXPECT_EQ(MaxPixelsFor(16'000'000'000), 1'000'000'000u);
  EXPECT_EQ(MaxPixelsFor(5), 1u);  // never zero
}

TEST(MemoryPlanTest, CapturesFirstThenGtsThenBatches) {
  const std::size_t px = 1000;
  const std::size_t gt = kBytesPerGtPixel * px;
  const std::size_t capture = kBytesPerCapturePixel * px;
  // Room for 1 GT + 4 captures: 4 in flight as two batches of 2.
  SceneMemory m = PlanSceneMemory(gt + 4 * capture, px, 4, 3);
  EXPECT_EQ(m.captures_in_flight, 4u);
  EXPECT_EQ(m.gt_group, 1u);
  EXPECT_EQ(m.batch, 2u);
  EXPECT_EQ(m.batches_in_flight, 2u);
  // Room for 3 GTs besides the 4 captures: all three GTs share one pass.
  m = PlanSceneMemory(3 * gt + 4 * capture + 1, px, 4, 3);
  EXPECT_EQ(m.gt_group, 3u);
  EXPECT_EQ(m.captures_in_flight, 4u);
  // Captures never exceed the workers, GTs never the GTs left.
  m = PlanSceneMemory(std::size_t{1} << 40, px, 6, 2);
  EXPECT_EQ(m.captures_in_flight, 6u);
  EXPECT_EQ(m.gt_group, 2u);
  EXPECT_EQ(m.batch, 3u);
  // Three captures: two batches of one (the odd one waits).
  m = PlanSceneMemory(gt + 3 * capture + 1, px, 8, 1);
  EXPECT_EQ(m.captures_in_flight, 3u);
  EXPECT_EQ(m.batch, 1u);
  // A tight budget never refuses: one GT, one capture, batches of one.
  for (std::size_t budget : {std::size_t{0}, std::size_t{1}, gt + capture}) {
    m = PlanSceneMemory(budget, px, 4, 3);
    EXPECT_EQ(m.gt_group, 1u);
    EXPECT_EQ(m.captures_in_flight, 1u);
    EXPECT_EQ(m.batch, 1u);
    EXPECT_EQ(m.batches_in_flight, 1u);
  }
}

TEST(MemoryPlanTest, ScenesInFlightFromTheLargestFile) {
  // kBytesPerScenePixel bytes per byte of the largest raw (100 bytes here).
  const std::size_t scene = kBytesPerScenePixel * 100;
  EXPECT_EQ(ScenesInFlight(3 * scene, 100, 8, 5), 3u);
  EXPECT_EQ(ScenesInFlight(3 * scene, 100, 2, 5), 2u);  // at most the workers
  EXPECT_EQ(ScenesInFlight(3 * scene, 100, 8, 1), 1u);  // at most the scenes
  EXPECT_EQ(ScenesInFlight(10, 100, 8, 5), 1u);         // at least one
  // Empty files count as one byte each.
  EXPECT_EQ(ScenesInFlight(3 * scene, 0, 8, 5), 5u);
}

TEST(MemoryPlanTest, PlannedBytesCountsEveryGtAndCaptureInFlight) {
  SceneMemory m;
  m.gt_group = 2;
  m.captures_in_flight = 3;
  EXPECT_EQ(PlannedBytes(m, 1000),
            (2 * kBytesPerGtPixel + 3 * kBytesPerCapturePixel) * 1000);
  EXPECT_EQ(PlannedBytes(SceneMemory(), 1000),
            kBytesPerScenePixel * 1000);  // the minimum
}

FileRecord File(std::string scene, FileRole role, std::string path,
                std::uint64_t size) {
  FileRecord f;
  f.scene = std::move(scene);
  f.role = role;
  f.rel_path = std::move(path);
  f.size = size;
  f.hash_hex = "h-" + f.rel_path;
  return f;
}

TEST(PlanWorkTest, PairsPathsAndSharesOfEachDirtyScene) {
  ScannedScene big;
  big.scene = "big";
  big.gt = {File("big", FileRole::kGt, "big/gt/a.arw", 500),
            File("big", FileRole::kGt, "big/gt/b.arw", 500)};
  big.noisy = {File("big", FileRole::kNoisy, "big/n.arw", 500)};
  ScannedScene small;
  small.scene = "small";
  small.gt = {File("small", FileRole::kGt, "small/gt/g.arw", 10)};
  small.noisy = {File("small", FileRole::kNoisy, "small/n.arw", 10)};
  ScannedScene same = small;
  same.scene = "same";
  for (auto* files : {&same.gt, &same.noisy}) {
    for (FileRecord& f : *files) {
      f.scene = "same";
      f.rel_path = "same" + f.rel_path.substr(5);
    }
  }
  const std::vector<ScannedScene> current = {big, same, small};
  std::vector<PreviousScene> previous(1);
  previous[0].scene = "same";
  previous[0].key = SceneKey("v", "p", SceneFiles(same));
  previous[0].status = "ok";
  previous[0].files = SceneFiles(same);
  const Plan plan = MakePlan(current, previous, "v", "p", false);

  WorkOptions options;
  options.layout = {"/data", "/data/masks"};
  options.memory_budget = 1'000'000;
  options.workers = 4;
  const BuildWork work = PlanWork(plan, current, options);
  ASSERT_EQ(work.scenes.size(), 2u);       // "same" is up to date
  EXPECT_EQ(work.scenes[0].scene, "big");  // largest first
  EXPECT_EQ(work.scenes[1].scene, "small");
  // 20 x 500 bytes per scene: both fit, and share budget and workers.
  EXPECT_EQ(work.scenes_in_flight, 2u);
  EXPECT_EQ(work.scenes[0].memory_budget, 500'000u);
  EXPECT_EQ(work.scenes[0].workers, 2);

  const SceneWork& s = work.scenes[0];
  ASSERT_EQ(s.pairs.size(), 2u * 3u);  // every GT with every file
  ASSERT_EQ(s.files().size(), 3u);
  for (std::size_t g = 0; g < 2; ++g) {
    for (std::size_t f = 0; f < 3; ++f) {
      const PairWork& p = s.pairs[g * 3 + f];
      EXPECT_EQ(p.gt_index, g);
      EXPECT_EQ(p.other_index, f);
      EXPECT_EQ(p.pair.gt_path, s.files()[g].rel_path);
      EXPECT_EQ(p.pair.other_path, s.files()[f].rel_path);
      EXPECT_EQ(p.pair.self_pair, g == f);
      const std::string name =
          MaskFileName("big", p.pair.gt_path, p.pair.other_path);
      EXPECT_EQ(p.mask.write_path, "/data/masks/" + name);
      EXPECT_EQ(p.mask.record_path, "masks/" + name);
    }
  }
}

TEST(PlanWorkTest, MaskPathsOutsideTheRootAreRecordedAsWritten) {
  const OutputLayout inside{"/data", "/data/masks"};
  const OutputLayout outside{"/data", "/elsewhere/masks"};
  const OutputLayout lookalike{"/data", "/data-masks"};
  EXPECT_EQ(MaskRecordPath(inside, "/data/masks/x.png"), "masks/x.png");
  EXPECT_EQ(MaskRecordPath(outside, "/elsewhere/masks/x.png"),
            "/elsewhere/masks/x.png");
  EXPECT_EQ(MaskRecordPath(lookalike, "/data-masks/x.png"),
            "/data-masks/x.png");
  EXPECT_EQ(MaskWritePath(inside, "masks/x.png"), "/data/masks/x.png");
  EXPECT_EQ(MaskWritePath(outside, "/elsewhere/masks/x.png"),
            "/elsewhere/masks/x.png");
}

// The orphan sweep matches names against MaskRecordPrefix + name: it must be
// MaskRecordPath of the written path for every layout and name.
TEST(PlanWorkTest, MaskRecordPrefixPlusNameIsTheRecordPath) {
  const std::vector<OutputLayout> layouts = {
      {"/data", "/data/masks"}, {"/data", "/elsewhere/masks"},
      {"/data", "/data-masks"}, {"/data", "/data"},
      {"/data", "/"},           {"/data/x", "/data"},
      {"data", "data/masks"},   {"data", "masks"},
      {"/", "/masks"},          {"/data", "/data/a/b/masks"}};
  for (const OutputLayout& layout : layouts) {
    for (const std::string name : {"x.png", "x", "masks", "data", "..png"}) {
      EXPECT_EQ(MaskRecordPrefix(layout) + name,
                MaskRecordPath(layout, layout.masks_dir + "/" + name))
          << layout.root << " " << layout.masks_dir << " " << name;
    }
  }
}

}  // namespace
}  // namespace dsb
