#include "merge/merge.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>

#include "config.h"
#include "crops/crop_grid.h"
#include "crops/crop_stage.h"
#include "executor/build_lock.h"
#include "executor/executor.h"
#include "hash/fingerprint.h"
#include "manifest/manifest.h"
#include "plan/plan.h"
#include "plan/scene_work.h"
#include "scan/scan.h"

namespace dsb {

namespace {

using Clock = std::chrono::steady_clock;

struct TaskFile {
  ShardSpec shard;
  std::string path;
};

// The task manifests in <manifest>.shards/, by shard count then index.
std::vector<TaskFile> FindTaskManifests(const std::string& db_path,
                                        FileSystem& fs) {
  std::vector<TaskFile> tasks;
  const std::string dir = ShardsDir(db_path);
  Result<std::vector<DirEntry>> entries = fs.ListDirectory(dir);
  if (!entries.ok()) return tasks;
  for (const DirEntry& entry : *entries) {
    if (entry.type != FileType::kRegular) continue;
    if (auto shard = ShardFromTaskManifestName(entry.name)) {
      tasks.push_back({*shard, dir + "/" + entry.name});
    }
  }
  std::sort(tasks.begin(), tasks.end(),
            [](const TaskFile& a, const TaskFile& b) {
              return std::pair(a.shard.count, a.shard.index) <
                     std::pair(b.shard.count, b.shard.index);
            });
  return tasks;
}

// What the task manifest's runs say about where and how it was built.
struct TaskRuns {
  std::set<std::string> fingerprints;  // result parameters of its builds
  std::string refused;                 // why it must not be merged
  bool completed = false;
  std::string incomplete;
};

TaskRuns ReadRuns(const std::vector<RunRecord>& runs, const TaskFile& task,
                  const std::string& dataset_root) {
  TaskRuns result;
  for (const RunRecord& run : runs) {
    const nlohmann::json params =
        nlohmann::json::parse(run.parameters, nullptr, false);
    const auto text = [&](const char* key) {
      return params.is_object() && params.contains(key) &&
                     params[key].is_string()
                 ? params[key].get<std::string>()
                 : std::string();
    };
    const std::string root = text("dataset_root");
    if (root != dataset_root) {
      result.refused = "it was built from dataset " +
                       (root.empty() ? std::string("(unknown)") : root) +
                       ", not " + dataset_root;
      return result;
    }
    const bool shard_matches =
        params.contains("shard") && params["shard"].is_object() &&
        params["shard"].value("index", -1) == task.shard.index &&
        params["shard"].value("count", -1) == task.shard.count;
    if (!shard_matches) {
      result.refused = "its runs are not of shard " + task.shard.ToString();
      return result;
    }
    result.fingerprints.insert(text("fingerprint"));
  }
  if (runs.empty()) {
    result.incomplete = "killed before it started building";
    return result;
  }
  const RunRecord& last = runs.back();
  const RunCounts& c = last.counts;
  const std::int64_t done =
      c.scenes_built + c.scenes_up_to_date + c.scenes_failed;
  if (!last.ended_at) {
    result.incomplete =
        "its last run (started " + last.started_at +
        ") never ended: killed, timed out, preempted or its node failed";
  } else if (done < c.scenes_total) {
    result.incomplete = "its last run was interrupted with " +
                        std::to_string(c.scenes_total - done) + " of " +
                        std::to_string(c.scenes_total) + " scenes left";
  } else {
    result.completed = true;
  }
  return result;
}

// The scene's key now, from its files on disk, for each of `fingerprints`
// (hashes are reused from `recorded` when the files did not change).
std::set<std::string> CurrentKeys(const ScannedScene& scene,
                                  const std::vector<FileRecord>& recorded,
                                  const std::set<std::string>& fingerprints,
                                  const std::string& root, FileSystem& fs,
                                  const FingerprintOptions& options) {
  std::map<std::string, const FileRecord*> known;
  for (const FileRecord& file : recorded) known[file.rel_path] = &file;
  std::vector<FileRecord> files = SceneFiles(scene);
  for (FileRecord& file : files) {
    auto it = known.find(file.rel_path);
    Result<FingerprintResult> result = Fingerprint(
        fs, root, file, it == known.end() ? nullptr : it->second, options);
    file.hash_hex = result.ok() ? result->hash_hex : kUnreadableHash;
  }
  std::set<std::string> keys;
  for (const std::string& fingerprint : fingerprints) {
    keys.insert(SceneKey(AlgorithmVersion(), fingerprint, files));
  }
  return keys;
}

// The key the record's own file rows give, for each fingerprint: a record
// whose rows do not give its key is damaged and never copied.
std::set<std::string> RecordedKeys(const std::vector<FileRecord>& recorded,
                                   const std::set<std::string>& fingerprints) {
  std::set<std::string> keys;
  for (const std::string& fingerprint : fingerprints) {
    keys.insert(SceneKey(AlgorithmVersion(), fingerprint, recorded));
  }
  return keys;
}

void RemoveManifestFiles(const std::string& path, FileSystem& fs) {
  for (const std::string& file : ManifestSidecarPaths(path)) {
    (void)fs.RemoveFile(file);
  }
}

}  // namespace

int MergeReport::ExitCode() const {
  if (!missing.empty()) return 1;
  for (const TaskMerge& task : tasks) {
    if (!task.refused.empty() || !task.completed || task.scenes_failed > 0) {
      return 1;
    }
  }
  return 0;
}

namespace {

// One merge, step by step (RunMerge). Each step returns an error only when
// the merge cannot go on; what became of each task manifest is in the
// report.
class Merge {
 public:
  Merge(const MergeOptions& options, FileSystem& fs)
      : merge_options_(options),
        options_(options.build),
        fs_(fs),
        start_(Clock::now()) {}

  // The root, the lock, the main manifest, the task manifests, the scan.
  Status Open() {
    Result<FileInfo> root_info = fs_.Stat(options_.root);
    if (!root_info.ok() || root_info->type != FileType::kDirectory) {
      return Status::InvalidArgument("dataset root " + options_.root +
                                     " is not a readable directory");
    }
    DSB_ASSIGN_OR_RETURN(
        lock_, BuildLock::Acquire(options_.db_path, options_.wait_for_lock));
    DSB_ASSIGN_OR_RETURN(
        main_, Manifest::Open(options_.db_path, OpenMode::kReadWrite));
    task_files_ = FindTaskManifests(options_.db_path, fs_);

    ScanOptions scan_options;
    scan_options.excluded_paths = ExcludedPaths(options_);
    DSB_ASSIGN_OR_RETURN(scan_, ScanDataset(fs_, options_.root, scan_options));
    report_.problems = scan_.problems;
    for (const ScannedScene& scene : scan_.scenes) {
      current_[scene.scene] = &scene;
      for (FileRecord& file : SceneFiles(scene)) {
        current_files_[file.rel_path] = std::move(file);
      }
    }
    DSB_ASSIGN_OR_RETURN(std::vector<FileRecord> main_files,
                         main_->LoadFiles());
    for (FileRecord& file : main_files) {
      std::string path = file.rel_path;
      main_files_[path] = std::move(file);
    }
    DSB_ASSIGN_OR_RETURN(std::vector<CropTargetRecord> main_crops,
                         main_->LoadCropTargets());
    for (CropTargetRecord& target : main_crops) {
      std::string path = target.rel_path;
      main_crops_[path] = std::move(target);
    }
    DSB_ASSIGN_OR_RETURN(std::vector<StoredScene> scenes, main_->LoadScenes());
    for (const StoredScene& scene : scenes) {
      main_built_at_[scene.scene] = scene.built_at;
    }

    dataset_root_ = CanonicalDatasetRoot(options_.root);
    nlohmann::json task_names = nlohmann::json::array();
    for (const TaskFile& task : task_files_) task_names.push_back(task.path);
    const nlohmann::json params = {{"merge", task_names},
                                   {"root", options_.root},
                                   {"dataset_root", dataset_root_}};
    DSB_ASSIGN_OR_RETURN(run_id_, main_->BeginRun(DSB_VERSION, params.dump()));
    fingerprint_options_.now_ns = fs_.NowNs();
    return Status::Ok();
  }

  // Every task manifest, one transaction each.
  void MergeTasks() {
    for (const TaskFile& task_file : task_files_) {
      report_.tasks.push_back(MergeTask(task_file));
    }
  }

  // Shards that left no task manifest at all. Only when the shard count is
  // given: a merged task manifest is deleted, so one that is absent may
  // just have been merged before.
  void FindMissing() {
    const int count = merge_options_.expected_shards;
    for (int index = 0; index < count; ++index) {
      const ShardSpec shard{index, count};
      const bool found = std::any_of(
          task_files_.begin(), task_files_.end(),
          [&](const TaskFile& task) { return task.shard == shard; });
      if (!found) report_.missing.push_back(shard);
    }
  }

  // What vanished from the tree leaves the manifest, its masks after the
  // commit; then leftovers of killed tasks and orphaned masks go (no task
  // runs now: we hold the lock exclusively), orphans only when no refused
  // task manifest may still name some.
  Status Prune() {
    DSB_ASSIGN_OR_RETURN(std::vector<StoredScene> recorded,
                         main_->LoadScenes());
    const OutputLayout layout{options_.root, options_.masks_dir};
    for (const StoredScene& scene : recorded) {
      if (current_.contains(scene.scene)) continue;
      DSB_ASSIGN_OR_RETURN(std::vector<std::string> masks,
                           main_->RemoveScene(scene.scene));
      for (const std::string& mask : masks) {
        (void)fs_.RemoveFile(MaskWritePath(layout, mask));
      }
      ++report_.scenes_pruned;
    }
    report_.scenes_total =
        static_cast<int>(recorded.size()) - report_.scenes_pruned;
    const bool all_merged =
        std::all_of(report_.tasks.begin(), report_.tasks.end(),
                    [](const TaskMerge& task) { return task.merged; });
    SweepMasksDir(options_, fs_, *main_, /*orphans=*/all_merged);
    return PruneCrops(all_merged);
  }

  // Crop targets of raw files gone from the tree leave the manifest, then
  // their files; then the crops directory is swept as a --crops build
  // sweeps it.
  Status PruneCrops(bool orphans) {
    DSB_ASSIGN_OR_RETURN(std::vector<CropTargetRecord> targets,
                         main_->LoadCropTargets());
    std::vector<std::string> gone;
    for (const CropTargetRecord& target : targets) {
      if (!current_files_.contains(target.rel_path)) {
        gone.push_back(target.rel_path);
      }
    }
    DSB_RETURN_IF_ERROR(main_->RemoveCropTargets(gone));
    for (const CropTargetRecord& target : targets) {
      if (!current_files_.contains(target.rel_path)) {
        RemoveCropFiles(fs_, options_.root, target);
      }
    }
    report_.crops_pruned = static_cast<int>(gone.size());
    CropStageOptions crop_options;
    crop_options.root = options_.root;
    crop_options.crops_dir = options_.crops_dir;
    SweepCropsDir(fs_, crop_options, *main_, orphans);
    return Status::Ok();
  }

  Result<MergeReport> Finish() {
    RunCounts counts;
    counts.scenes_total = report_.scenes_total;
    for (const TaskMerge& task : report_.tasks) {
      counts.scenes_built += task.scenes_copied - task.scenes_failed;
      counts.scenes_failed += task.scenes_failed;
    }
    counts.scenes_removed = report_.scenes_pruned;
    report_.seconds =
        std::chrono::duration<double>(Clock::now() - start_).count();
    DSB_RETURN_IF_ERROR(main_->EndRun(run_id_, counts, report_.ExitCode()));
    return report_;
  }

 private:
  TaskMerge MergeTask(const TaskFile& task_file) {
    TaskMerge task;
    task.shard = task_file.shard;
    task.path = task_file.path;
    // A task still writing it (impossible while we hold the main lock,
    // unless locks do not work on this file system) is left alone.
    Result<std::unique_ptr<BuildLock>> task_lock =
        BuildLock::Acquire(task_file.path, /*wait=*/false);
    if (!task_lock.ok()) {
      task.refused = task_lock.status().message();
      return task;
    }
    // Opening read-write migrates an older task manifest and refuses a
    // newer one or a file of another program.
    Result<std::unique_ptr<Manifest>> opened =
        Manifest::Open(task_file.path, OpenMode::kReadWrite);
    if (!opened.ok()) {
      task.refused = opened.status().message();
      return task;
    }
    std::unique_ptr<Manifest> source = std::move(*opened);
    Result<std::vector<RunRecord>> runs = source->LoadRuns();
    Result<std::vector<StoredScene>> scenes = source->LoadScenes();
    Result<std::vector<FileRecord>> files = source->LoadFiles();
    for (const Status& status :
         {runs.status(), scenes.status(), files.status()}) {
      if (!status.ok()) {
        task.refused = status.message();
        return task;
      }
    }
    const TaskRuns task_runs = ReadRuns(*runs, task_file, dataset_root_);
    if (!task_runs.refused.empty()) {
      task.refused =
          "task manifest " + task_file.path + " refused: " + task_runs.refused;
      return task;
    }
    task.completed = task_runs.completed;
    task.incomplete = task_runs.incomplete;

    std::map<std::string, std::vector<FileRecord>> files_by_scene;
    for (FileRecord& file : *files) {
      files_by_scene[file.scene].push_back(std::move(file));
    }
    std::vector<std::string> to_copy;
    std::map<std::string, std::string> copied_built_at;
    for (const StoredScene& scene : *scenes) {
      auto now = current_.find(scene.scene);
      const std::vector<FileRecord>& recorded = files_by_scene[scene.scene];
      if (now == current_.end() ||
          !RecordedKeys(recorded, task_runs.fingerprints).contains(scene.key) ||
          !CurrentKeys(*now->second, recorded, task_runs.fingerprints,
                       options_.root, fs_, fingerprint_options_)
               .contains(scene.key)) {
        ++task.scenes_stale;
        continue;
      }
      auto in_main = main_built_at_.find(scene.scene);
      if (in_main != main_built_at_.end() &&
          in_main->second >= scene.built_at) {
        ++task.scenes_already;
        continue;
      }
      to_copy.push_back(scene.scene);
      copied_built_at[scene.scene] = scene.built_at;
      if (scene.status == BuildStatus::kFailed) ++task.scenes_failed;
    }
    Result<std::vector<CropTargetRecord>> crops = source->LoadCropTargets();
    if (!crops.ok()) {
      task.refused = crops.status().message();
      task.scenes_failed = 0;
      return task;
    }
    std::vector<std::string> crops_to_copy;
    for (const CropTargetRecord& target : *crops) {
      auto file = current_files_.find(target.rel_path);
      if (file == current_files_.end() || file->second.scene != target.scene ||
          CurrentHash(file->second, files_by_scene[target.scene]) !=
              target.hash_hex) {
        ++task.crops_stale;
        continue;
      }
      auto in_main = main_crops_.find(target.rel_path);
      if (in_main != main_crops_.end() && SameTarget(in_main->second, target)) {
        continue;
      }
      crops_to_copy.push_back(target.rel_path);
    }
    Status copied =
        main_->CopyScenesFrom(task_file.path, to_copy, run_id_, crops_to_copy);
    if (!copied.ok()) {
      task.refused = copied.message();
      task.scenes_failed = 0;
      task.crops_stale = 0;
      return task;
    }
    task.scenes_copied = static_cast<int>(to_copy.size());
    task.crops_copied = static_cast<int>(crops_to_copy.size());
    for (const CropTargetRecord& target : *crops) {
      if (std::find(crops_to_copy.begin(), crops_to_copy.end(),
                    target.rel_path) != crops_to_copy.end()) {
        main_crops_[target.rel_path] = target;
      }
    }
    for (const auto& [scene, built_at] : copied_built_at) {
      main_built_at_[scene] = built_at;
    }
    // Everything worth keeping is in the main manifest now.
    source.reset();
    RemoveManifestFiles(task_file.path, fs_);
    (void)fs_.RemoveFile(task_file.path + ".lock");
    task.merged = true;
    return task;
  }

  // The raw file's content hash now (reused from a record of it, the
  // task's or else the main manifest's, when the file did not change).
  const std::string& CurrentHash(const FileRecord& scanned,
                                 const std::vector<FileRecord>& task_files) {
    auto cached = current_hash_.find(scanned.rel_path);
    if (cached != current_hash_.end()) return cached->second;
    const FileRecord* known = nullptr;
    for (const FileRecord& file : task_files) {
      if (file.rel_path == scanned.rel_path) known = &file;
    }
    if (known == nullptr) {
      auto it = main_files_.find(scanned.rel_path);
      if (it != main_files_.end()) known = &it->second;
    }
    Result<FingerprintResult> result =
        Fingerprint(fs_, options_.root, scanned, known, fingerprint_options_);
    return current_hash_[scanned.rel_path] =
               result.ok() ? result->hash_hex : kUnreadableHash;
  }

  static bool SameTarget(const CropTargetRecord& a, const CropTargetRecord& b) {
    if (a.scene != b.scene || a.hash_hex != b.hash_hex ||
        a.params != b.params || a.crops.size() != b.crops.size()) {
      return false;
    }
    for (std::size_t i = 0; i < a.crops.size(); ++i) {
      if (a.crops[i].x != b.crops[i].x || a.crops[i].y != b.crops[i].y ||
          a.crops[i].bayer_path != b.crops[i].bayer_path ||
          a.crops[i].linrec_path != b.crops[i].linrec_path) {
        return false;
      }
    }
    return true;
  }

  const MergeOptions& merge_options_;
  const BuildOptions& options_;
  FileSystem& fs_;
  const Clock::time_point start_;
  std::unique_ptr<BuildLock> lock_;
  std::unique_ptr<Manifest> main_;
  std::vector<TaskFile> task_files_;
  ScanResult scan_;
  std::map<std::string, const ScannedScene*> current_;
  std::map<std::string, std::string> main_built_at_;
  std::map<std::string, FileRecord> current_files_;  // the tree now
  std::map<std::string, FileRecord> main_files_;     // main manifest's rows
  std::map<std::string, std::string> current_hash_;  // by rel_path
  std::map<std::string, CropTargetRecord> main_crops_;
  std::string dataset_root_;
  std::int64_t run_id_ = 0;
  FingerprintOptions fingerprint_options_;
  MergeReport report_;
};

}  // namespace

Result<MergeReport> RunMerge(const MergeOptions& options, FileSystem& fs) {
  Merge merge(options, fs);
  DSB_RETURN_IF_ERROR(merge.Open());
  merge.MergeTasks();
  merge.FindMissing();
  DSB_RETURN_IF_ERROR(merge.Prune());
  return merge.Finish();
}

}  // namespace dsb
