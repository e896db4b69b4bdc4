#include "shard/shard.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

namespace dsb {
namespace {

TEST(ShardSpecTest, ParsesIOfNFromZero) {
  auto spec = ParseShardSpec("0/4");
  ASSERT_TRUE(spec.ok());
  EXPECT_EQ(*spec, (ShardSpec{0, 4}));
  EXPECT_EQ(ParseShardSpec("3/4")->ToString(), "3/4");
  EXPECT_TRUE(ParseShardSpec("0/1").ok());
  for (const char* bad : {"4/4", "-1/4", "1/0", "1", "/4", "1/", "a/b", "1/4x",
                          " 1/4", "1//4", ""}) {
    auto parsed = ParseShardSpec(bad);
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_EQ(parsed.status().code(), Status::Code::kInvalidArgument);
    EXPECT_NE(parsed.status().message().find(bad), std::string::npos);
  }
}

TEST(ShardOfSceneTest, EveryShardGetsScenesAndEachSceneExactlyOne) {
  std::map<int, int> per_shard;
  for (int i = 0; i < 1000; ++i) {
    const std::string scene = "src/Bayer/scene-" + std::to_string(i);
    const int shard = ShardOfScene(scene, 7);
    ASSERT_GE(shard, 0);
    ASSERT_LT(shard, 7);
    ++per_shard[shard];
    int members = 0;
    for (int s = 0; s < 7; ++s) members += InShard(scene, {s, 7}) ? 1 : 0;
    EXPECT_EQ(members, 1);
  }
  // Roughly even: 1000 / 7 = 143 each.
  for (const auto& [shard, n] : per_shard) {
    EXPECT_GT(n, 100) << shard;
    EXPECT_LT(n, 190) << shard;
  }
  EXPECT_TRUE(InShard("anything", ShardSpec{}));
}

TEST(ShardOfSceneTest, StableAcrossRunsAndMachines) {
  // XXH3-64 is specified bit for bit: these values must never change, or
  // scenes would move between the shards of a running cluster build.
  EXPECT_EQ(ShardOfScene("Bayer/scene-000-rggb", 1000003),
            ShardOfScene("Bayer/scene-000-rggb", 1000003));
  EXPECT_EQ(ShardOfScene("", 1), 0);
  // Known XXH3-64 of "abc" is 0x78af5f94892f3950.
  EXPECT_EQ(ShardOfScene("abc", 1000), 0x78af5f94892f3950ull % 1000);
  // Depends only on the name: adding other scenes moves nothing (there is
  // no other input).
}

TEST(TaskManifestTest, PathsRoundTrip) {
  EXPECT_EQ(ShardsDir("/d/dataset-build.db"), "/d/dataset-build.db.shards");
  EXPECT_EQ(TaskManifestPath("/d/x.db", {2, 5}), "/d/x.db.shards/2-of-5.db");
  EXPECT_EQ(ShardFromTaskManifestName("2-of-5.db"), (ShardSpec{2, 5}));
  for (const char* other : {"2-of-5.db-wal", "2-of-5.db.lock", "5-of-5.db",
                            "02-of-5.db", "x-of-5.db", "2-of-5", "slurm"}) {
    EXPECT_FALSE(ShardFromTaskManifestName(other).has_value()) << other;
  }
}

}  // namespace
}  // namespace dsb
