// What the executor needs to build each dirty scene, decided in one place:
// its files, its pairs (EnumeratePairs, the one pairing rule), each pair's
// mask paths and the scene's share of the memory budget (memory_plan.h),
// in build order (largest first).
//
// The executor runs what this emits and decides nothing about pairs, paths
// or memory itself.
//
// Thread safety: pure functions over values.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/file_record.h"
#include "plan/memory_plan.h"
#include "plan/plan.h"
#include "scan/scan.h"

namespace dsb {

// Where outputs go: the dataset root and the masks directory (absolute or
// relative to the working directory, as the user gave them).
struct OutputLayout {
  std::string root;
  std::string masks_dir;
};

// A mask file as written (the path handed to the file system) and as
// recorded in the manifest (relative to the root when the masks directory
// is inside it, else the written path).
struct MaskPaths {
  std::string write_path;
  std::string record_path;
};

// The one place mask paths are worked out (names: mask/mask_names.h).
MaskPaths MaskPathsFor(const OutputLayout& layout, const std::string& scene,
                       const std::string& gt_path,
                       const std::string& other_path);
// A recorded path back to the path to write or delete, and a written path
// to what the manifest records.
std::string MaskWritePath(const OutputLayout& layout,
                          const std::string& record_path);
std::string MaskRecordPath(const OutputLayout& layout,
                           const std::string& write_path);
// What MaskRecordPath gives for any file directly in layout.masks_dir,
// less the file's name: prefix + name is its record path.
std::string MaskRecordPrefix(const OutputLayout& layout);

struct PairWork {
  PlannedPair pair;
  // Indices into SceneWork::files() of the GT and the other capture.
  std::size_t gt_index = 0;
  std::size_t other_index = 0;
  MaskPaths mask;
};

struct SceneWork {
  std::string scene;
  std::string key;
  std::vector<FileRecord> gt;  // hashed, as the plan keyed them
  std::vector<FileRecord> noisy;
  // Every GT with every file, GT-major: pairs[g * files().size() + f]
  // pairs GT g with files()[f].
  std::vector<PairWork> pairs;
  // Entries of the scene the scan could not read ("<path>: <reason>"): the
  // file list may be incomplete, so the scene fails (its readable pairs are
  // still recorded) and is retried on the next run.
  std::vector<std::string> problems;
  // Files that could not be hashed (rel_path -> why; the survey fills it
  // in): they fail their pairs and the scene.
  std::map<std::string, std::string> unreadable;
  std::uint64_t cost_bytes = 0;
  // This scene's share of the memory budget and of the workers (both
  // divided evenly between the scenes in flight); Memory() turns them into
  // a plan once the image size is known.
  std::size_t memory_budget = 0;
  int workers = 1;

  // GTs then noisy: the order file indices refer to.
  std::vector<FileRecord> files() const;
  SceneMemory Memory(std::size_t pixels, std::size_t gts_left) const {
    return PlanSceneMemory(memory_budget, pixels, workers, gts_left);
  }
};

struct WorkOptions {
  OutputLayout layout;
  std::size_t memory_budget = 0;  // bytes for the whole build
  int workers = 1;                // --jobs
};

struct BuildWork {
  std::vector<SceneWork> scenes;  // to build, largest first
  std::size_t scenes_in_flight = 1;
};

// `current` is what MakePlan was given (its PlannedScene::current_index
// points into it).
BuildWork PlanWork(const Plan& plan, const std::vector<ScannedScene>& current,
                   const WorkOptions& options);

}  // namespace dsb
