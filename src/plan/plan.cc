#include "plan/plan.h"

#include <algorithm>
#include <map>
#include <tuple>
#include <unordered_map>
#include <unordered_set>

#include "hash/hash.h"

namespace dsb {
namespace {

// Bumped only if the key's encoding changes (every key changes then).
constexpr std::string_view kKeyDomain = "dataset-build scene key v1";
// How many changed files --status names before summarising.
constexpr std::size_t kMaxNamedChanges = 5;

std::string SceneRelative(const std::string& scene, const std::string& path) {
  if (scene == ".") return path;
  if (path.size() > scene.size() && path.compare(0, scene.size(), scene) == 0 &&
      path[scene.size()] == '/') {
    return path.substr(scene.size() + 1);
  }
  return path;
}

// "2 files changed: a.dng (content), b.dng (added)", or "" if the two file
// lists are the same.
std::string DescribeChanges(const std::string& scene,
                            const std::vector<FileRecord>& before,
                            const std::vector<FileRecord>& now) {
  std::map<std::string, const std::string*> old_hash;
  for (const FileRecord& f : before) old_hash[f.rel_path] = &f.hash_hex;
  std::map<std::string, const std::string*> new_hash;
  for (const FileRecord& f : now) new_hash[f.rel_path] = &f.hash_hex;

  std::vector<std::string> changes;  // ordered by path via the maps
  auto o = old_hash.begin();
  auto n = new_hash.begin();
  while (o != old_hash.end() || n != new_hash.end()) {
    if (n == new_hash.end() || (o != old_hash.end() && o->first < n->first)) {
      changes.push_back(SceneRelative(scene, o->first) + " (removed)");
      ++o;
    } else if (o == old_hash.end() || n->first < o->first) {
      changes.push_back(SceneRelative(scene, n->first) + " (added)");
      ++n;
    } else {
      if (*o->second != *n->second) {
        changes.push_back(SceneRelative(scene, n->first) + " (content)");
      }
      ++o;
      ++n;
    }
  }
  if (changes.empty()) return "";
  std::string out =
      std::to_string(changes.size()) +
      (changes.size() == 1 ? " file changed: " : " files changed: ");
  for (std::size_t i = 0; i < changes.size() && i < kMaxNamedChanges; ++i) {
    if (i > 0) out += ", ";
    out += changes[i];
  }
  if (changes.size() > kMaxNamedChanges) {
    out +=
        ", and " + std::to_string(changes.size() - kMaxNamedChanges) + " more";
  }
  return out;
}

std::uint64_t TotalBytes(const ScannedScene& scene) {
  std::uint64_t total = 0;
  for (const auto& f : scene.gt) total += f.size;
  for (const auto& f : scene.noisy) total += f.size;
  return total;
}

}  // namespace

namespace {

// SceneKey of the files `files` points to (reordered here).
std::string KeyOfRecords(std::string_view algorithm_version,
                         std::string_view params_fingerprint,
                         std::vector<const FileRecord*>& files) {
  // Sorted by the role's stored word (as the key has always been), path and
  // hash, so the order of `files` does not matter.
  std::sort(files.begin(), files.end(),
            [](const FileRecord* a, const FileRecord* b) {
              const std::string_view role_a = FileRoleName(a->role);
              const std::string_view role_b = FileRoleName(b->role);
              return std::tie(role_a, a->rel_path, a->hash_hex) <
                     std::tie(role_b, b->rel_path, b->hash_hex);
            });
  Hasher hasher;
  hasher.AddString(kKeyDomain)
      .AddString(algorithm_version)
      .AddString(params_fingerprint)
      .AddU64(files.size());
  for (const FileRecord* f : files) {
    hasher.AddString(FileRoleName(f->role))
        .AddString(f->rel_path)
        .AddString(f->hash_hex);
  }
  return hasher.Finish().ToHex();
}

}  // namespace

std::string SceneKey(std::string_view algorithm_version,
                     std::string_view params_fingerprint,
                     const std::vector<FileRecord>& files) {
  std::vector<const FileRecord*> records;
  records.reserve(files.size());
  for (const FileRecord& f : files) records.push_back(&f);
  return KeyOfRecords(algorithm_version, params_fingerprint, records);
}

std::string ScannedSceneKey(std::string_view algorithm_version,
                            std::string_view params_fingerprint,
                            const ScannedScene& scene) {
  // The scene's records in place: the planner keys every scene of every
  // run, and copying their files first was ~8,000 allocations on a no-op
  // rerun of 300 scenes.
  std::vector<const FileRecord*> records;
  records.reserve(scene.gt.size() + scene.noisy.size());
  for (const auto* files : {&scene.gt, &scene.noisy}) {
    for (const FileRecord& f : *files) records.push_back(&f);
  }
  return KeyOfRecords(algorithm_version, params_fingerprint, records);
}

std::size_t PairCount(const ScannedScene& scene) {
  return scene.gt.size() * (scene.gt.size() + scene.noisy.size());
}

std::vector<PlannedPair> EnumeratePairs(const ScannedScene& scene) {
  std::vector<PlannedPair> pairs;
  pairs.reserve(PairCount(scene));
  for (const FileRecord& gt : scene.gt) {
    for (const FileRecord& other : scene.gt) {
      pairs.push_back({gt.rel_path, other.rel_path, /*other_is_gt=*/true,
                       /*self_pair=*/&gt == &other});
    }
    for (const FileRecord& other : scene.noisy) {
      pairs.push_back({gt.rel_path, other.rel_path, false, false});
    }
  }
  return pairs;
}

std::vector<FileRecord> SceneFiles(const ScannedScene& scene) {
  std::vector<FileRecord> files;
  files.reserve(scene.gt.size() + scene.noisy.size());
  files.insert(files.end(), scene.gt.begin(), scene.gt.end());
  files.insert(files.end(), scene.noisy.begin(), scene.noisy.end());
  return files;
}

std::string_view SceneStateName(SceneState state) {
  switch (state) {
    case SceneState::kUpToDate:
      return "up-to-date";
    case SceneState::kNew:
      return "new";
    case SceneState::kChanged:
      return "changed";
    case SceneState::kRemoved:
      return "removed";
    case SceneState::kParams:
      return "params";
    case SceneState::kFailed:
      return "failed";
  }
  return "unknown";
}

std::vector<std::size_t> Plan::BuildOrder() const {
  std::vector<std::size_t> order;
  for (std::size_t i = 0; i < scenes.size(); ++i) {
    if (scenes[i].rebuild) order.push_back(i);
  }
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) {
                     if (scenes[a].cost_bytes != scenes[b].cost_bytes) {
                       return scenes[a].cost_bytes > scenes[b].cost_bytes;
                     }
                     return scenes[a].scene < scenes[b].scene;
                   });
  return order;
}

Plan MakePlan(const std::vector<ScannedScene>& current,
              const std::vector<PreviousScene>& previous,
              std::string_view algorithm_version,
              std::string_view params_fingerprint, bool force) {
  std::unordered_map<std::string, const PreviousScene*> by_name;
  for (const PreviousScene& p : previous) by_name.emplace(p.scene, &p);

  Plan plan;
  std::unordered_set<std::string> seen;
  for (std::size_t i = 0; i < current.size(); ++i) {
    const ScannedScene& cur = current[i];
    PlannedScene ps;
    ps.scene = cur.scene;
    ps.current_index = i;
    ps.cost_bytes = TotalBytes(cur);
    ps.pair_count = PairCount(cur);
    ps.key = ScannedSceneKey(algorithm_version, params_fingerprint, cur);
    seen.insert(ps.scene);

    auto it = by_name.find(ps.scene);
    if (it == by_name.end()) {
      ps.state = SceneState::kNew;
      ps.detail = "new scene: " + std::to_string(cur.gt.size()) + " GT, " +
                  std::to_string(cur.noisy.size()) + " noisy";
    } else {
      const PreviousScene& prev = *it->second;
      ps.previous_key = prev.key;
      if (prev.key == ps.key) {
        // Equal keys mean equal inputs; only the outcome can make it stale.
        if (prev.status == "ok") {
          ps.state = SceneState::kUpToDate;
        } else {
          ps.state = SceneState::kFailed;
          ps.detail =
              "last build " +
              (prev.status.empty() ? std::string("failed") : prev.status);
        }
      } else {
        ps.detail = DescribeChanges(ps.scene, prev.files, SceneFiles(cur));
        if (!ps.detail.empty()) {
          ps.state = SceneState::kChanged;
        } else {
          ps.state = SceneState::kParams;
          ps.detail = "alignment/mask parameters or algorithm version changed";
        }
      }
    }
    ps.rebuild = force || ps.state != SceneState::kUpToDate;
    plan.scenes.push_back(std::move(ps));
  }
  std::sort(plan.scenes.begin(), plan.scenes.end(),
            [](const PlannedScene& a, const PlannedScene& b) {
              return a.scene < b.scene;
            });

  std::vector<PlannedScene> removed;
  for (const PreviousScene& p : previous) {
    if (seen.count(p.scene)) continue;
    seen.insert(p.scene);  // a scene listed twice is pruned once
    PlannedScene ps;
    ps.scene = p.scene;
    ps.state = SceneState::kRemoved;
    ps.previous_key = p.key;
    ps.detail = "no longer on disk";
    removed.push_back(std::move(ps));
  }
  std::sort(removed.begin(), removed.end(),
            [](const PlannedScene& a, const PlannedScene& b) {
              return a.scene < b.scene;
            });
  for (auto& ps : removed) plan.scenes.push_back(std::move(ps));

  for (const PlannedScene& ps : plan.scenes) {
    if (ps.rebuild) ++plan.to_build;
    if (ps.state == SceneState::kUpToDate && !ps.rebuild) ++plan.up_to_date;
    if (ps.state == SceneState::kRemoved) ++plan.removed;
  }
  return plan;
}

}  // namespace dsb
