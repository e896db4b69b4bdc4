#include "plan/plan.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

namespace dsb {
namespace {

constexpr std::string_view kVersion = "align-1";
constexpr std::string_view kParams = "loss=0.035";

// A file as SceneKey sees it: only role, path and hash enter the key.
FileRecord K(FileRole role, std::string path, std::string hash) {
  FileRecord f;
  f.role = role;
  f.rel_path = std::move(path);
  f.hash_hex = std::move(hash);
  return f;
}
FileRecord K(std::string path, std::string hash) {
  return K(FileRole::kGt, std::move(path), std::move(hash));
}

std::vector<FileRecord> Files() {
  return {K(FileRole::kGt, "s/gt/a.arw", "11111111111111111111111111111111"),
          K(FileRole::kNoisy, "s/b.arw", "22222222222222222222222222222222"),
          K(FileRole::kNoisy, "s/c.arw", "33333333333333333333333333333333")};
}

TEST(SceneKeyTest, Deterministic32HexIndependentOfOrder) {
  std::string key = SceneKey(kVersion, kParams, Files());
  EXPECT_EQ(key.size(), 32u);
  EXPECT_EQ(key.find_first_not_of("0123456789abcdef"), std::string::npos);
  auto files = Files();
  std::reverse(files.begin(), files.end());
  EXPECT_EQ(SceneKey(kVersion, kParams, files), key);
  std::rotate(files.begin(), files.begin() + 1, files.end());
  EXPECT_EQ(SceneKey(kVersion, kParams, files), key);
  // Pinned: a change here invalidates every manifest (bump the domain).
  EXPECT_EQ(SceneKey(kVersion, kParams, Files()), key);
}

TEST(SceneKeyTest, ChangesWithEveryInput) {
  std::set<std::string> keys;
  keys.insert(SceneKey(kVersion, kParams, Files()));
  keys.insert(SceneKey("align-2", kParams, Files()));
  keys.insert(SceneKey(kVersion, "loss=0.036", Files()));
  auto f = Files();
  f[1].hash_hex[0] = 'f';
  keys.insert(SceneKey(kVersion, kParams, f));
  f = Files();
  f[1].rel_path = "s/B.arw";
  keys.insert(SceneKey(kVersion, kParams, f));
  f = Files();
  f[1].role = FileRole::kGt;
  keys.insert(SceneKey(kVersion, kParams, f));
  f = Files();
  f.pop_back();
  keys.insert(SceneKey(kVersion, kParams, f));
  f = Files();
  f.push_back(f.back());  // a duplicate entry is still a different list
  keys.insert(SceneKey(kVersion, kParams, f));
  keys.insert(SceneKey(kVersion, kParams, {}));
  EXPECT_EQ(keys.size(), 9u);
}

TEST(SceneKeyTest, NoConcatenationCollisions) {
  // Moving bytes between adjacent fields must change the key.
  EXPECT_NE(SceneKey("ab", "c", {}), SceneKey("a", "bc", {}));
  EXPECT_NE(SceneKey("v", "p", {K("ab", "c")}),
            SceneKey("v", "p", {K("a", "bc")}));
  EXPECT_NE(SceneKey("v", "p", {K("x", ""), K("", "x")}),
            SceneKey("v", "p", {K("x", "x")}));
}

TEST(SceneKeyTest, DependsOnlyOnItsInputs) {
  // Two calls with equal inputs from different storage (e.g. another
  // process with other --jobs) agree; nothing else leaks into the key.
  std::string a =
      SceneKey(std::string(kVersion), std::string(kParams), Files());
  std::vector<FileRecord> copy = Files();
  std::string b = SceneKey(kVersion, kParams, copy);
  EXPECT_EQ(a, b);
}

FileRecord F(std::string path, std::uint64_t size = 100) {
  FileRecord f;
  f.rel_path = std::move(path);
  f.size = size;
  return f;
}

TEST(EnumeratePairsTest, EveryGtWithEveryFileIncludingSelf) {
  ScannedScene scene;
  scene.scene = "s";
  scene.gt = {F("s/gt/g1"), F("s/gt/g2")};
  scene.noisy = {F("s/n1"), F("s/n2"), F("s/n3")};
  auto pairs = EnumeratePairs(scene);
  ASSERT_EQ(pairs.size(), 10u);  // 2 GT x (2 GT + 3 noisy)
  EXPECT_EQ(pairs[0], (PlannedPair{"s/gt/g1", "s/gt/g1", true, true}));
  EXPECT_EQ(pairs[1], (PlannedPair{"s/gt/g1", "s/gt/g2", true, false}));
  EXPECT_EQ(pairs[2], (PlannedPair{"s/gt/g1", "s/n1", false, false}));
  EXPECT_EQ(pairs[4], (PlannedPair{"s/gt/g1", "s/n3", false, false}));
  EXPECT_EQ(pairs[5], (PlannedPair{"s/gt/g2", "s/gt/g1", true, false}));
  EXPECT_EQ(pairs[6], (PlannedPair{"s/gt/g2", "s/gt/g2", true, true}));
  EXPECT_EQ(pairs[9], (PlannedPair{"s/gt/g2", "s/n3", false, false}));
  EXPECT_EQ(EnumeratePairs(scene), pairs);  // deterministic
}

TEST(EnumeratePairsTest, OneGtOnlySelfPairAndNoGtNoPairs) {
  ScannedScene scene;
  scene.gt = {F("s/gt/g")};
  auto pairs = EnumeratePairs(scene);
  ASSERT_EQ(pairs.size(), 1u);
  EXPECT_TRUE(pairs[0].self_pair);
  scene.gt.clear();
  scene.noisy = {F("s/n")};
  EXPECT_TRUE(EnumeratePairs(scene).empty());
}

// PairCount is EnumeratePairs' rule without the list, for any number of
// GTs and noisy files.
TEST(EnumeratePairsTest, PairCountIsTheListsSize) {
  for (int gts = 0; gts <= 3; ++gts) {
    for (int noisy = 0; noisy <= 3; ++noisy) {
      ScannedScene scene;
      for (int i = 0; i < gts; ++i) {
        scene.gt.push_back(F("s/gt/g" + std::to_string(i)));
      }
      for (int i = 0; i < noisy; ++i) {
        scene.noisy.push_back(F("s/n" + std::to_string(i)));
      }
      EXPECT_EQ(PairCount(scene), EnumeratePairs(scene).size())
          << gts << " GT, " << noisy << " noisy";
    }
  }
}

// The planner keys a scanned scene in place: the same key as SceneKey of
// its files.
TEST(SceneKeyTest, ScannedSceneKeyIsSceneKeyOfItsFiles) {
  ScannedScene scene;
  scene.scene = "s";
  const std::vector<FileRecord> files = Files();
  for (const FileRecord& f : files) {
    (f.role == FileRole::kGt ? scene.gt : scene.noisy).push_back(f);
  }
  EXPECT_EQ(ScannedSceneKey(kVersion, kParams, scene),
            SceneKey(kVersion, kParams, SceneFiles(scene)));
  EXPECT_EQ(ScannedSceneKey(kVersion, kParams, scene),
            SceneKey(kVersion, kParams, files));
  scene.noisy[0].hash_hex = "44444444444444444444444444444444";
  EXPECT_NE(ScannedSceneKey(kVersion, kParams, scene),
            SceneKey(kVersion, kParams, files));
  EXPECT_EQ(ScannedSceneKey(kVersion, kParams, ScannedScene{}),
            SceneKey(kVersion, kParams, {}));
}

// A hashed scene: one GT and the given noisy files, hashes by name.
ScannedScene Scene(const std::string& name, std::vector<std::string> noisy,
                   std::uint64_t size = 100) {
  ScannedScene s;
  s.scene = name;
  s.gt = {F(name + "/gt/g.arw", size)};
  s.gt[0].role = FileRole::kGt;
  s.gt[0].hash_hex = "h-" + name + "/gt/g.arw";
  for (const auto& n : noisy) {
    s.noisy.push_back(F(name + "/" + n, size));
    s.noisy.back().role = FileRole::kNoisy;
    s.noisy.back().hash_hex = "h-" + name + "/" + n;
  }
  return s;
}

PreviousScene Previous(const ScannedScene& s,
                       std::string_view version = kVersion,
                       std::string_view params = kParams,
                       std::string status = "ok") {
  PreviousScene p;
  p.scene = s.scene;
  p.key = SceneKey(version, params, SceneFiles(s));
  p.status = std::move(status);
  p.files = SceneFiles(s);
  return p;
}

const PlannedScene& Find(const Plan& plan, const std::string& scene) {
  for (const auto& ps : plan.scenes) {
    if (ps.scene == scene) return ps;
  }
  static PlannedScene none;
  ADD_FAILURE() << "no scene " << scene;
  return none;
}

TEST(MakePlanTest, EachStateWithItsReason) {
  auto same = Scene("same", {"n.arw"});
  auto fresh = Scene("fresh", {"n.arw"});
  auto changed = Scene("changed", {"a.arw", "b.arw", "c.arw"});
  auto failed = Scene("failed", {"n.arw"});
  std::vector<PreviousScene> previous = {
      Previous(same), Previous(failed, kVersion, kParams, "failed")};
  // changed: a.arw's content changed, b.arw was added, d.arw removed.
  auto old_changed = Scene("changed", {"a.arw", "c.arw", "d.arw"});
  old_changed.noisy[0].hash_hex = "old";
  previous.push_back(Previous(old_changed));
  previous.push_back(Previous(Scene("gone", {"n.arw"})));

  Plan plan = MakePlan({same, fresh, changed, failed}, previous, kVersion,
                       kParams, /*force=*/false);
  ASSERT_EQ(plan.scenes.size(), 5u);
  EXPECT_EQ(Find(plan, "same").state, SceneState::kUpToDate);
  EXPECT_FALSE(Find(plan, "same").rebuild);
  EXPECT_EQ(Find(plan, "fresh").reason(), "new");
  EXPECT_TRUE(Find(plan, "fresh").rebuild);
  EXPECT_EQ(Find(plan, "failed").reason(), "failed");
  EXPECT_TRUE(Find(plan, "failed").rebuild);
  const auto& ch = Find(plan, "changed");
  EXPECT_EQ(ch.reason(), "changed");
  EXPECT_EQ(ch.detail,
            "3 files changed: a.arw (content), b.arw (added), d.arw (removed)");
  EXPECT_NE(ch.key, ch.previous_key);
  const auto& gone = Find(plan, "gone");
  EXPECT_EQ(gone.reason(), "removed");
  EXPECT_FALSE(gone.rebuild);
  EXPECT_EQ(gone.current_index, SIZE_MAX);
  EXPECT_EQ(plan.scenes.back().scene, "gone");  // removed ones last
  EXPECT_EQ(plan.to_build, 3u);
  EXPECT_EQ(plan.up_to_date, 1u);
  EXPECT_EQ(plan.removed, 1u);
  EXPECT_FALSE(plan.UpToDate());
  // Current scenes sorted by name, with their index into `current`.
  EXPECT_EQ(plan.scenes[0].scene, "changed");
  EXPECT_EQ(plan.scenes[0].current_index, 2u);
}

TEST(MakePlanTest, ParamsOrVersionChange) {
  auto s = Scene("s", {"n.arw"});
  Plan p1 = MakePlan({s}, {Previous(s, kVersion, "loss=0.1")}, kVersion,
                     kParams, false);
  EXPECT_EQ(p1.scenes[0].reason(), "params");
  Plan p2 = MakePlan({s}, {Previous(s, "align-0", kParams)}, kVersion, kParams,
                     false);
  EXPECT_EQ(p2.scenes[0].reason(), "params");
  // Params changed on a failed scene: still "params" (the key moved).
  Plan p3 = MakePlan({s}, {Previous(s, "align-0", kParams, "failed")}, kVersion,
                     kParams, false);
  EXPECT_EQ(p3.scenes[0].reason(), "params");
}

TEST(MakePlanTest, ChangedDetailIsCapped) {
  std::vector<std::string> many;
  for (int i = 0; i < 9; ++i) many.push_back("n" + std::to_string(i));
  Plan p = MakePlan({Scene("s", many)}, {Previous(Scene("s", {}))}, kVersion,
                    kParams, false);
  EXPECT_EQ(p.scenes[0].detail,
            "9 files changed: n0 (added), n1 (added), n2 (added), n3 (added), "
            "n4 (added), and 4 more");
  Plan one = MakePlan({Scene("s", {"x"})}, {Previous(Scene("s", {}))}, kVersion,
                      kParams, false);
  EXPECT_EQ(one.scenes[0].detail, "1 file changed: x (added)");
}

TEST(MakePlanTest, UnchangedIsUpToDateAndForceRebuilds) {
  auto a = Scene("a", {"n"});
  auto b = Scene("b", {"n"});
  Plan p =
      MakePlan({a, b}, {Previous(a), Previous(b)}, kVersion, kParams, false);
  EXPECT_TRUE(p.UpToDate());
  EXPECT_EQ(p.to_build, 0u);
  EXPECT_TRUE(p.BuildOrder().empty());
  Plan forced =
      MakePlan({a, b}, {Previous(a), Previous(b)}, kVersion, kParams, true);
  EXPECT_EQ(forced.to_build, 2u);
  EXPECT_EQ(forced.scenes[0].state, SceneState::kUpToDate);
  EXPECT_TRUE(forced.scenes[0].rebuild);
}

TEST(MakePlanTest, CostAndBuildOrderLargestFirst) {
  auto small = Scene("a-small", {"n"}, 10);       // 2 files x 10
  auto big = Scene("b-big", {"n1", "n2"}, 1000);  // 3 x 1000
  auto mid = Scene("c-mid", {"n"}, 500);          // 2 x 500
  auto mid2 = Scene("d-mid", {"n"}, 500);
  Plan p = MakePlan({small, big, mid, mid2}, {}, kVersion, kParams, false);
  EXPECT_EQ(Find(p, "b-big").cost_bytes, 3000u);
  EXPECT_EQ(Find(p, "b-big").pair_count, 3u);
  std::vector<std::string> order;
  for (std::size_t i : p.BuildOrder()) order.push_back(p.scenes[i].scene);
  EXPECT_EQ(order,
            (std::vector<std::string>{"b-big", "c-mid", "d-mid", "a-small"}));
}

TEST(MakePlanTest, PlanIsIndependentOfInputOrder) {
  auto a = Scene("a", {"n"});
  auto b = Scene("b", {"n"});
  Plan p1 =
      MakePlan({a, b}, {Previous(Scene("z", {})), Previous(Scene("y", {}))},
               kVersion, kParams, false);
  Plan p2 =
      MakePlan({b, a}, {Previous(Scene("y", {})), Previous(Scene("z", {}))},
               kVersion, kParams, false);
  ASSERT_EQ(p1.scenes.size(), p2.scenes.size());
  for (std::size_t i = 0; i < p1.scenes.size(); ++i) {
    EXPECT_EQ(p1.scenes[i].scene, p2.scenes[i].scene);
    EXPECT_EQ(p1.scenes[i].key, p2.scenes[i].key);
    EXPECT_EQ(p1.scenes[i].state, p2.scenes[i].state);
  }
  EXPECT_EQ(p1.scenes[2].scene, "y");
}

TEST(SceneStateTest, Names) {
  EXPECT_EQ(SceneStateName(SceneState::kNew), "new");
  EXPECT_EQ(SceneStateName(SceneState::kChanged), "changed");
  EXPECT_EQ(SceneStateName(SceneState::kRemoved), "removed");
  EXPECT_EQ(SceneStateName(SceneState::kParams), "params");
  EXPECT_EQ(SceneStateName(SceneState::kFailed), "failed");
  EXPECT_EQ(SceneStateName(SceneState::kUpToDate), "up-to-date");
}

}  // namespace
}  // namespace dsb
