#include "executor/pass_order.h"

#include <gtest/gtest.h>

#include <utility>
#include <vector>

namespace dsb {
namespace {

std::vector<std::pair<std::size_t, std::size_t>> Runs(
    const std::vector<FileRun>& runs) {
  std::vector<std::pair<std::size_t, std::size_t>> out;
  for (const FileRun& run : runs) out.emplace_back(run.first, run.count);
  return out;
}

using Expected = std::vector<std::pair<std::size_t, std::size_t>>;

TEST(PassOrderTest, ABatchOfTheGroupsGtsAloneGoesLast) {
  // 1 GT + 4 captures, batches of one: the GT's self pair last.
  EXPECT_EQ(Runs(PassOrder(5, 1, 0, 1)),
            (Expected{{1, 1}, {2, 1}, {3, 1}, {4, 1}, {0, 1}}));
  // Two GTs in the group, batches of two: their batch last.
  EXPECT_EQ(Runs(PassOrder(7, 2, 0, 2)),
            (Expected{{2, 2}, {4, 2}, {6, 1}, {0, 2}}));
  // The second group of one GT (file 1) among batches of one.
  EXPECT_EQ(Runs(PassOrder(4, 1, 1, 1)),
            (Expected{{0, 1}, {2, 1}, {3, 1}, {1, 1}}));
}

TEST(PassOrderTest, BatchesWithACaptureKeepSceneOrder) {
  // The GT shares its batch with a capture: nothing moves.
  EXPECT_EQ(Runs(PassOrder(5, 2, 0, 1)), (Expected{{0, 2}, {2, 2}, {4, 1}}));
  // A batch with the second group's GT and a capture stays where it is.
  EXPECT_EQ(Runs(PassOrder(6, 2, 1, 1)), (Expected{{0, 2}, {2, 2}, {4, 2}}));
  // A scene of GTs alone.
  EXPECT_EQ(Runs(PassOrder(2, 1, 0, 2)), (Expected{{0, 1}, {1, 1}}));
  EXPECT_TRUE(PassOrder(0, 1, 0, 0).empty());
}

TEST(PassOrderTest, EveryFileExactlyOnce) {
  for (std::size_t files = 1; files <= 9; ++files) {
    for (std::size_t batch = 1; batch <= 4; ++batch) {
      for (std::size_t start = 0; start < files; ++start) {
        for (std::size_t size = 1; start + size <= files; ++size) {
          std::vector<int> seen(files, 0);
          for (const FileRun& run : PassOrder(files, batch, start, size)) {
            EXPECT_GE(run.count, 1u);
            EXPECT_LE(run.count, batch);
            for (std::size_t f = run.first; f < run.first + run.count; ++f) {
              ASSERT_LT(f, files);
              ++seen[f];
            }
          }
          EXPECT_EQ(seen, std::vector<int>(files, 1))
              << files << " files, batch " << batch << ", group " << start
              << "+" << size;
        }
      }
    }
  }
}

}  // namespace
}  // namespace dsb
