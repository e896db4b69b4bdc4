#include "plan/scene_work.h"

#include <algorithm>
#include <map>

#include "mask/mask_names.h"

namespace dsb {

namespace {

bool IsInside(const std::string& path, const std::string& dir) {
  return path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 &&
         path[dir.size()] == '/';
}

}  // namespace

MaskPaths MaskPathsFor(const OutputLayout& layout, const std::string& scene,
                       const std::string& gt_path,
                       const std::string& other_path) {
  MaskPaths paths;
  paths.write_path =
      layout.masks_dir + "/" + MaskFileName(scene, gt_path, other_path);
  paths.record_path = MaskRecordPath(layout, paths.write_path);
  return paths;
}

std::string MaskRecordPath(const OutputLayout& layout,
                           const std::string& write_path) {
  return IsInside(write_path, layout.root)
             ? write_path.substr(layout.root.size() + 1)
             : write_path;
}

std::string MaskRecordPrefix(const OutputLayout& layout) {
  // A name is never empty and has no '/', so masks_dir/name lies inside
  // the root exactly when masks_dir/ does (IsInside's '/' after the root
  // cannot fall within the name).
  std::string dir = layout.masks_dir + "/";
  return IsInside(dir, layout.root) ? dir.substr(layout.root.size() + 1) : dir;
}

std::string MaskWritePath(const OutputLayout& layout,
                          const std::string& record_path) {
  return record_path.starts_with("/") ? record_path
                                      : layout.root + "/" + record_path;
}

std::vector<FileRecord> SceneWork::files() const {
  std::vector<FileRecord> all = gt;
  all.insert(all.end(), noisy.begin(), noisy.end());
  return all;
}

BuildWork PlanWork(const Plan& plan, const std::vector<ScannedScene>& current,
                   const WorkOptions& options) {
  BuildWork work;
  std::uint64_t largest_file = 1;
  for (std::size_t index : plan.BuildOrder()) {
    const PlannedScene& planned = plan.scenes[index];
    const ScannedScene& scanned = current[planned.current_index];
    SceneWork scene{.scene = planned.scene,
                    .key = planned.key,
                    .gt = scanned.gt,
                    .noisy = scanned.noisy,
                    .pairs = {},
                    .problems = scanned.problems,
                    .unreadable = {},
                    .cost_bytes = planned.cost_bytes};
    std::map<std::string, std::size_t> file_index;
    for (std::size_t i = 0; i < scanned.gt.size(); ++i) {
      file_index[scanned.gt[i].rel_path] = i;
    }
    for (std::size_t i = 0; i < scanned.noisy.size(); ++i) {
      file_index[scanned.noisy[i].rel_path] = scanned.gt.size() + i;
    }
    for (const PlannedPair& pair : EnumeratePairs(scanned)) {
      PairWork pair_work;
      pair_work.pair = pair;
      pair_work.gt_index = file_index[pair.gt_path];
      pair_work.other_index = file_index[pair.other_path];
      pair_work.mask = MaskPathsFor(options.layout, planned.scene, pair.gt_path,
                                    pair.other_path);
      scene.pairs.push_back(std::move(pair_work));
    }
    for (const auto* files : {&scanned.gt, &scanned.noisy}) {
      for (const FileRecord& file : *files) {
        largest_file = std::max<std::uint64_t>(largest_file, file.size);
      }
    }
    work.scenes.push_back(std::move(scene));
  }
  work.scenes_in_flight = ScenesInFlight(options.memory_budget, largest_file,
                                         options.workers, work.scenes.size());
  // Scenes in flight share the budget and the workers evenly, so captures
  // in flight (which hold memory while they wait for the correlator, not
  // only while a thread works on them) never exceed --jobs in all.
  const int scenes_in_flight = static_cast<int>(work.scenes_in_flight);
  for (SceneWork& scene : work.scenes) {
    scene.memory_budget = options.memory_budget / work.scenes_in_flight;
    scene.workers = std::max(1, options.workers / scenes_in_flight);
  }
  return work;
}

}  // namespace dsb
