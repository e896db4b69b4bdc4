// plan: which scenes to build, and why (docs/contract.md §5).
//
// Pure functions over structs: the build maps its scan, fingerprints and
// manifest rows onto these types, and the planner decides. No I/O, so every
// decision is testable with plain values.
//
// A scene's key is the XXH3-128 of the algorithm version, the parameters
// that change results, and the sorted (role, path, hash) list of its files.
// It is deterministic across machines, so scenes can be sharded over hosts
// and the manifests merged. Parameters that do not change results (--jobs,
// --device) must not be passed in params_fingerprint; that is the
// caller's job.
//
// Thread safety: all functions are pure and may run concurrently.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/file_record.h"
#include "scan/scan.h"

namespace dsb {

// 32 hex digits. The order of `files` does not matter; each field is
// length-prefixed, so no two different inputs share an encoding.
// Only each file's role, rel_path and hash_hex enter the key.
std::string SceneKey(std::string_view algorithm_version,
                     std::string_view params_fingerprint,
                     const std::vector<FileRecord>& files);

// SceneKey of a scanned scene's files (GTs and noisy), without copying
// them.
std::string ScannedSceneKey(std::string_view algorithm_version,
                            std::string_view params_fingerprint,
                            const ScannedScene& scene);

// One alignment to compute: a GT capture against one raw file of the scene.
struct PlannedPair {
  std::string gt_path;       // rel path of the GT capture
  std::string other_path;    // rel path of the capture aligned to it
  bool other_is_gt = false;  // other_path is a GT capture (incl. self-pair)
  bool self_pair = false;    // other_path == gt_path

  bool operator==(const PlannedPair&) const = default;
};

// Contract §1: every GT paired with every raw file of the scene: each GT
// (itself included, the clean/clean self-pair), then each noisy file. Order:
// GTs in scan order; for each, the GTs then the noisy files in scan order.
std::vector<PlannedPair> EnumeratePairs(const ScannedScene& scene);

// How many pairs EnumeratePairs lists for `scene` (the same rule), without
// listing them.
std::size_t PairCount(const ScannedScene& scene);

// A scene's files, GTs then noisy, as SceneKey takes them.
std::vector<FileRecord> SceneFiles(const ScannedScene& scene);

// What the manifest says about a scene from the last build.
struct PreviousScene {
  std::string scene;
  std::string key;
  std::string status;  // "ok" or "failed"
  std::vector<FileRecord> files;
};

enum class SceneState { kUpToDate, kNew, kChanged, kRemoved, kParams, kFailed };

// Contract §5 reasons: "new", "changed", "removed", "params", "failed";
// "up-to-date" for kUpToDate.
std::string_view SceneStateName(SceneState state);

struct PlannedScene {
  std::string scene;
  SceneState state = SceneState::kNew;
  // Why, for --status and logs, e.g. "2 files changed: a.dng (content),
  // b.dng (added)". Paths are relative to the scene directory.
  std::string detail;
  std::string key;           // the key to build at ("" for kRemoved)
  std::string previous_key;  // "" for kNew
  // Whether the executor builds it: stale, or --force (kRemoved: never;
  // the executor prunes it instead).
  bool rebuild = false;
  // Bytes of raw data the scene reads: a cost estimate for scheduling the
  // largest scenes first.
  std::uint64_t cost_bytes = 0;
  std::size_t pair_count = 0;
  // Index into MakePlan's `current`; SIZE_MAX for kRemoved.
  std::size_t current_index = SIZE_MAX;

  std::string_view reason() const { return SceneStateName(state); }
};

struct Plan {
  // Current scenes then removed ones, each group sorted by scene.
  std::vector<PlannedScene> scenes;
  std::size_t to_build = 0;    // rebuild == true
  std::size_t up_to_date = 0;  // kUpToDate and not forced
  std::size_t removed = 0;

  // Indices into `scenes` of those to build, largest cost first (ties by
  // scene name), so long scenes do not start last.
  std::vector<std::size_t> BuildOrder() const;
  // True when nothing is stale (what --status exits 0 on).
  bool UpToDate() const { return to_build == 0 && removed == 0; }
};

// `current`: the scenes as scanned now, every file's hash_hex filled in
// (an unreadable file carries a placeholder hash; the executor fails its
// scene).
Plan MakePlan(const std::vector<ScannedScene>& current,
              const std::vector<PreviousScene>& previous,
              std::string_view algorithm_version,
              std::string_view params_fingerprint, bool force);

}  // namespace dsb
