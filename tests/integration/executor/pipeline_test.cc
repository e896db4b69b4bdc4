// Parallelism and the memory budget never change results: a build with all
// workers, one with a single worker and one under a tiny --mem produce
// identical manifests (views compared row by row), and the tiny budget
// keeps one capture in flight at a time.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <string>
#include <vector>

#include "build_fixtures.h"
#include "executor/build_observer.h"
#include "executor/executor.h"
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
  const auto scenes =
      testing::QueryRows(synth.out_dir + "/dataset-build.db", kScenes);
  EXPECT_EQ(testing::QueryRows(dir.Join("one") + "/dataset-build.db", kScenes),
            scenes);
  EXPECT_EQ(testing::QueryRows(dir.Join("tiny") + "/dataset-build.db", kScenes),
            scenes);
}

}  // namespace
}  // namespace dsb
