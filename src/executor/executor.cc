#include "executor/executor.h"

#include <malloc.h>
#include <sys/resource.h>
#include <tbb/global_control.h>
#include <tbb/parallel_for.h>
#include <tbb/parallel_for_each.h>
#include <tbb/task_arena.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include "config.h"
#include "executor/build_lock.h"
#include "executor/build_observer.h"
#include "executor/interrupt.h"
#include "executor/record.h"
#include "executor/scene_builder.h"
#include "hash/fingerprint.h"
#include "manifest/manifest.h"
#include "plan/plan.h"
#include "plan/scene_work.h"
#include "scan/scan.h"
#include "shard/shard.h"

namespace dsb {

namespace {

using Clock = std::chrono::steady_clock;

// What scanning, fingerprinting and planning found; shared by the build and
// --status, which stops here.
struct SurveyResult {
  // The scan, with every file's hash_hex and hashed_at_ns filled in.
  ScanResult scan;
  // Per file that could not be hashed: why (the scene will fail).
  std::map<std::string, std::string> hash_errors;
  // Files re-hashed with the same content as recorded (touched, copied):
  // their stat data is refreshed in the manifest so the next run trusts it.
  std::vector<FileRecord> refreshed;
  Plan plan;
  FingerprintStats stats;
};

// Says what is wrong with the root before anything is read or created.
Status CheckRoot(const BuildOptions& options, FileSystem& fs) {
  Result<FileInfo> root_info = fs.Stat(options.root);
  if (!root_info.ok() || root_info->type != FileType::kDirectory) {
    return Status::InvalidArgument(
        "dataset root " + options.root +
        (root_info.ok() ? " is not a directory"
                        : " cannot be read: " + root_info.status().message()));
  }
  return Status::Ok();
}

// The manifest for reading, or null when there is none yet.
Result<std::unique_ptr<Manifest>> OpenIfPresent(BuildEnvironment& env,
                                                OpenMode mode) {
  Result<std::unique_ptr<Manifest>> manifest = env.open_manifest(mode);
  if (!manifest.ok() && manifest.status().code() == Status::Code::kNotFound) {
    return std::unique_ptr<Manifest>();
  }
  return manifest;
}

// Hashes `files` in parallel (I/O and xxh3 bound) into the survey: each
// file's hash, or why it could not be read; `recorded_of` gives a file's
// record from the last build (or null).
template <typename RecordedOf>
void HashFiles(const BuildOptions& options, FileSystem& fs,
               const std::vector<FileRecord*>& files,
               const RecordedOf& recorded_of,
               const FingerprintOptions& fingerprint_options,
               SurveyResult& survey) {
  std::mutex survey_mutex;
  tbb::task_arena arena(std::max(1, options.jobs));
  arena.execute([&] {
    tbb::parallel_for(std::size_t{0}, files.size(), [&](std::size_t i) {
      FileRecord& file = *files[i];
      const FileRecord* recorded = recorded_of(file);
      Result<FingerprintResult> result =
          Fingerprint(fs, options.root, file, recorded, fingerprint_options);
      if (result.ok()) {
        file.hash_hex = result->hash_hex;
        file.hashed_at_ns = result->recorded_at_ns;
        if (result->rehashed && recorded != nullptr &&
            recorded->hash_hex == result->hash_hex) {
          std::lock_guard lock(survey_mutex);
          survey.refreshed.push_back(file);
        }
      } else {
        // An unreadable file gets the all-zero hash: its scene fails with
        // this message and is retried until the file can be read.
        file.hash_hex = kUnreadableHash;
        std::lock_guard lock(survey_mutex);
        survey.hash_errors[file.rel_path] = result.status().message();
      }
    });
  });
}

// `caches` are the manifests whose records count as already built (null
// entries are skipped): per scene the most recently built record wins (a
// shard task reads the main manifest and its own task manifest). Only the
// scenes of options.shard are surveyed.
Result<SurveyResult*> SurveyDataset(const BuildOptions& options, FileSystem& fs,
                                    const std::vector<Manifest*>& caches,
                                    SurveyResult& survey) {
  ScanOptions scan_options;
  scan_options.excluded_paths = ExcludedPaths(options);
  DSB_ASSIGN_OR_RETURN(survey.scan,
                       ScanDataset(fs, options.root, scan_options));
  std::erase_if(survey.scan.scenes, [&](const ScannedScene& scene) {
    return !InShard(scene.scene, options.shard);
  });

  std::vector<PreviousScene> previous;
  std::map<std::string, std::pair<StoredScene, std::vector<FileRecord>>> newest;
  for (Manifest* manifest : caches) {
    if (manifest == nullptr) continue;
    DSB_ASSIGN_OR_RETURN(std::vector<StoredScene> scenes,
                         manifest->LoadScenes());
    DSB_ASSIGN_OR_RETURN(std::vector<FileRecord> files,
                         manifest->LoadFilesUnordered());
    std::map<std::string, std::vector<FileRecord>> files_by_scene;
    for (FileRecord& file : files) {
      files_by_scene[file.scene].push_back(std::move(file));
    }
    for (StoredScene& scene : scenes) {
      if (!InShard(scene.scene, options.shard)) continue;
      auto it = newest.find(scene.scene);
      if (it != newest.end() && it->second.first.built_at >= scene.built_at) {
        continue;
      }
      const std::string name = scene.scene;
      std::vector<FileRecord> scene_files = std::move(files_by_scene[name]);
      newest[name] = {std::move(scene), std::move(scene_files)};
    }
  }
  previous.reserve(newest.size());
  for (auto& [name, entry] : newest) {
    PreviousScene scene;
    scene.scene = name;
    scene.key = std::move(entry.first.key);
    scene.status = std::string(BuildStatusName(entry.first.status));
    scene.files = std::move(entry.second);
    previous.push_back(std::move(scene));
  }
  // Each recorded file by path, pointing into `previous` (no copies: a
  // no-op rerun of 300 scenes made ~11,000 allocations copying them).
  std::unordered_map<std::string_view, const FileRecord*> known;
  for (const PreviousScene& scene : previous) {
    for (const FileRecord& file : scene.files) known[file.rel_path] = &file;
  }
  const auto known_record = [&](const FileRecord& file) -> const FileRecord* {
    auto it = known.find(file.rel_path);
    return it == known.end() ? nullptr : it->second;
  };

  // Fingerprint every file: a recorded hash that can be trusted is taken
  // here, the rest are hashed in parallel (I/O and xxh3 bound). A rerun
  // where nothing changed starts no thread.
  FingerprintOptions fingerprint_options;
  fingerprint_options.verify = options.verify;
  fingerprint_options.now_ns = fs.NowNs();
  fingerprint_options.stats = &survey.stats;
  std::vector<FileRecord*> to_hash;
  for (ScannedScene& scene : survey.scan.scenes) {
    for (auto* files : {&scene.gt, &scene.noisy}) {
      for (FileRecord& file : *files) {
        if (!ReuseRecordedHash(fs, file, known_record(file),
                               fingerprint_options)) {
          to_hash.push_back(&file);
        }
      }
    }
  }
  if (!to_hash.empty()) {
    HashFiles(options, fs, to_hash, known_record, fingerprint_options, survey);
  }

  survey.plan = MakePlan(survey.scan.scenes, previous, AlgorithmVersion(),
                         options.ResultFingerprint(), options.force);
  return &survey;
}

std::vector<StaleScene> StaleScenes(const Plan& plan) {
  std::vector<StaleScene> stale;
  for (const PlannedScene& scene : plan.scenes) {
    if (scene.state == SceneState::kUpToDate && !scene.rebuild) continue;
    stale.push_back({scene.scene, std::string(scene.reason()), scene.detail});
  }
  return stale;
}

std::size_t PhysicalMemory() {
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long page_size = sysconf(_SC_PAGE_SIZE);
  if (pages <= 0 || page_size <= 0) return std::size_t{8} << 30;
  return static_cast<std::size_t>(pages) * static_cast<std::size_t>(page_size);
}

std::size_t DefaultMemoryBudget() {
  // Half of physical memory: the rest is the page cache that keeps raw
  // files and SQLite fast, and whatever else the machine runs.
  return PhysicalMemory() / 2;
}

OutputLayout Layout(const BuildOptions& options) {
  return {options.root, options.masks_dir};
}

// A whole-dataset run says when shard tasks left results that no merge has
// folded in yet: until then those scenes look stale here.
void NoteUnmergedTaskManifests(const BuildOptions& options, FileSystem& fs,
                               std::vector<std::string>& problems) {
  if (options.shard.active()) return;
  Result<std::vector<DirEntry>> entries =
      fs.ListDirectory(ShardsDir(options.db_path));
  if (!entries.ok()) return;
  int unmerged = 0;
  for (const DirEntry& entry : *entries) {
    if (ShardFromTaskManifestName(entry.name)) ++unmerged;
  }
  if (unmerged > 0) {
    problems.push_back(std::to_string(unmerged) + " shard task manifests in " +
                       ShardsDir(options.db_path) +
                       " are not merged yet; run `dataset-build merge` to "
                       "fold their scenes in");
  }
}

// The cache manifest, or null when there is none.
Result<std::unique_ptr<Manifest>> OpenCacheIfPresent(BuildEnvironment& env) {
  if (!env.open_cache) return std::unique_ptr<Manifest>();
  Result<std::unique_ptr<Manifest>> manifest = env.open_cache();
  if (!manifest.ok() && manifest.status().code() == Status::Code::kNotFound) {
    return std::unique_ptr<Manifest>();
  }
  return manifest;
}

// Every hashed raw file of the dataset, for the crop stage.
std::vector<CropSource> CropSources(const SurveyResult& survey) {
  std::vector<CropSource> sources;
  for (const ScannedScene& scene : survey.scan.scenes) {
    for (const auto* files : {&scene.gt, &scene.noisy}) {
      for (const FileRecord& file : *files) {
        if (survey.hash_errors.contains(file.rel_path)) continue;
        sources.push_back({scene.scene, file.rel_path, file.hash_hex});
      }
    }
  }
  return sources;
}

// The crop targets the files of `sources` are planned against: the
// manifest's, and with a cache (a shard task) the main manifest's too, the
// task manifest's row winning. A shard task sees only its own files' rows,
// so nothing of another shard is taken for removed.
Result<std::vector<CropTargetRecord>> RecordedCropTargets(
    Manifest* manifest, Manifest* cache,
    const std::vector<CropSource>& sources) {
  std::vector<CropTargetRecord> recorded;
  if (manifest != nullptr) {
    DSB_ASSIGN_OR_RETURN(recorded, manifest->LoadCropTargets());
  }
  if (cache == nullptr) return recorded;
  std::set<std::string> wanted;
  for (const CropSource& source : sources) wanted.insert(source.rel_path);
  std::map<std::string, CropTargetRecord> by_path;
  DSB_ASSIGN_OR_RETURN(std::vector<CropTargetRecord> cached,
                       cache->LoadCropTargets());
  for (std::vector<CropTargetRecord>* rows : {&cached, &recorded}) {
    for (CropTargetRecord& target : *rows) {
      if (!wanted.contains(target.rel_path)) continue;
      std::string path = target.rel_path;
      by_path[path] = std::move(target);
    }
  }
  std::vector<CropTargetRecord> merged;
  for (auto& [path, target] : by_path) merged.push_back(std::move(target));
  return merged;
}

// One build, step by step (ExecuteBuild). Each step returns an error only
// when the build cannot go on; failures of scenes are in the report.
class Build {
 public:
  Build(const BuildOptions& options, BuildEnvironment& env)
      : options_(options), env_(env), start_(env.now()) {}

  // The root, the lock, the manifest, the masks directory and the sweep of
  // leftovers from interrupted writes. A dry run takes no lock and opens
  // the manifest read-only (if there is one).
  Status Open() {
    DSB_RETURN_IF_ERROR(CheckRoot(options_, *env_.fs));
    if (options_.dry_run) {
      DSB_ASSIGN_OR_RETURN(manifest_, OpenIfPresent(env_, OpenMode::kReadOnly));
      DSB_ASSIGN_OR_RETURN(cache_, OpenCacheIfPresent(env_));
      return Status::Ok();
    }
    DSB_ASSIGN_OR_RETURN(lock_, env_.lock());
    DSB_ASSIGN_OR_RETURN(manifest_, env_.open_manifest(OpenMode::kReadWrite));
    DSB_ASSIGN_OR_RETURN(cache_, OpenCacheIfPresent(env_));
    DSB_RETURN_IF_ERROR(
        env_.fs->CreateDirectories(options_.masks_dir)
            .WithContext("masks directory " + options_.masks_dir));
    if (owns_dataset_) {
      masks_listing_ =
          SweepMasksDir(options_, *env_.fs, *manifest_, /*orphans=*/false);
    }
    return Status::Ok();
  }

  // Scan, fingerprint and plan; a dry run stops here.
  Status Survey() {
    DSB_RETURN_IF_ERROR(SurveyDataset(options_, *env_.fs,
                                      {manifest_.get(), cache_.get()}, survey_)
                            .status());
    report_.problems = survey_.scan.problems;
    NoteUnmergedTaskManifests(options_, *env_.fs, report_.problems);
    report_.scenes_found = static_cast<int>(survey_.scan.scenes.size());
    report_.files_hashed =
        static_cast<std::int64_t>(survey_.stats.files_rehashed);
    report_.bytes_hashed =
        static_cast<std::int64_t>(survey_.stats.bytes_hashed);
    report_.scenes_up_to_date = static_cast<int>(survey_.plan.up_to_date);
    if (options_.dry_run) {
      report_.planned = StaleScenes(survey_.plan);
      return Status::Ok();
    }
    // Scenes to build: the runner gets ready while the plan is recorded
    // (a no-op rerun starts nothing).
    if (env_.runner != nullptr &&
        std::any_of(survey_.plan.scenes.begin(), survey_.plan.scenes.end(),
                    [](const PlannedScene& scene) { return scene.rebuild; })) {
      env_.runner->Prepare();
    }
    DSB_RETURN_IF_ERROR(manifest_->UpdateFileFingerprints(survey_.refreshed));
    nlohmann::json params = {{"fingerprint", options_.ResultFingerprint()},
                             {"jobs", options_.jobs},
                             {"root", options_.root},
                             {"force", options_.force}};
    if (!owns_dataset_) {
      // What the merge checks a task manifest against (merge/merge.h).
      params["shard"] = {{"index", options_.shard.index},
                         {"count", options_.shard.count}};
      params["dataset_root"] = CanonicalDatasetRoot(options_.root);
    }
    DSB_ASSIGN_OR_RETURN(run_id_,
                         manifest_->BeginRun(DSB_VERSION, params.dump()));
    return Status::Ok();
  }

  // Scenes gone from disk leave the manifest; their masks are deleted after
  // the commit, so no row ever names a deleted mask.
  Status Prune() {
    if (!owns_dataset_) return Status::Ok();  // the merge prunes
    for (const PlannedScene& planned : survey_.plan.scenes) {
      if (planned.state != SceneState::kRemoved) continue;
      DSB_ASSIGN_OR_RETURN(std::vector<std::string> masks,
                           manifest_->RemoveScene(planned.scene));
      for (const std::string& mask : masks) {
        (void)env_.fs->RemoveFile(MaskWritePath(Layout(options_), mask));
      }
      ++report_.scenes_pruned;
    }
    return Status::Ok();
  }

  // Runs every dirty scene as the plan laid it out, largest first, scenes
  // in flight bounded by the memory budget; each scene is recorded in its
  // own transaction as soon as it finishes.
  Status Schedule() {
    WorkOptions work_options;
    work_options.layout = Layout(options_);
    work_options.memory_budget = env_.memory_budget;
    if (crops_from_decodes_ != nullptr) {
      // Crops cut in the pipeline hold, per thread cutting them, a band of
      // demosaicked rows and one crop's buffers besides the planes the plan
      // counts: about 8 bytes per pixel of the largest frame (~4 per byte
      // of a raw file), taken off the scenes' budget (at most half of it).
      const std::size_t scratch =
          4 * crop_largest_file_bytes_ *
          static_cast<std::size_t>(std::max(1, options_.jobs));
      work_options.memory_budget =
          std::max(env_.memory_budget / 2,
                   env_.memory_budget - std::min(env_.memory_budget, scratch));
    }
    work_options.workers = std::max(1, options_.jobs);
    BuildWork work = PlanWork(survey_.plan, survey_.scan.scenes, work_options);
    int files_total = 0;
    std::uint64_t bytes_total = 0;
    for (SceneWork& scene : work.scenes) {
      for (const auto* files : {&scene.gt, &scene.noisy}) {
        for (const FileRecord& file : *files) {
          if (auto it = survey_.hash_errors.find(file.rel_path);
              it != survey_.hash_errors.end()) {
            scene.unreadable[file.rel_path] = it->second;
          }
        }
      }
      files_total += static_cast<int>(scene.gt.size() + scene.noisy.size());
      bytes_total += scene.cost_bytes;
    }
    BuildObserver& observer = *env_.observer;
    observer.SetTotals(static_cast<int>(work.scenes.size()), files_total,
                       bytes_total);
    if (work.scenes.empty()) return Status::Ok();
    DSB_RETURN_IF_ERROR(env_.runner->Start(observer));
    report_.device = env_.runner->device();

    // --jobs caps every thread the build uses; the arena caps scenes in
    // flight (each scene bounds its own captures in flight).
    tbb::global_control threads(
        tbb::global_control::max_allowed_parallelism,
        static_cast<std::size_t>(std::max(1, options_.jobs)));
    tbb::task_arena arena(static_cast<int>(work.scenes_in_flight));
    arena.execute([&] {
      tbb::parallel_for_each(
          work.scenes.begin(), work.scenes.end(), [&](const SceneWork& scene) {
            if (InterruptRequested()) return;
            SceneOutcome outcome = env_.runner->Run(scene, counters_, observer);
            std::lock_guard lock(record_mutex_);
            Record(scene, outcome);
          });
    });
    return Status::Ok();  // a recording error ends the build in Finish
  }

  // With --crops: plans RawNIND's training crops, cached per raw file
  // (crops/crop_stage.h), and lets the scene build crop the Bayer files it
  // decodes anyway, from the image it holds (CropsFromDecodes). Before
  // Schedule. Crops never change a scene's results.
  Status PlanTrainingCrops() {
    if (!options_.crops) return Status::Ok();
    // A shard task crops the files of its own scenes that neither its task
    // manifest nor the main manifest has current crops of, into the shared
    // crops directory, and records them in its task manifest (the merge
    // folds them in).
    const std::vector<CropSource> sources = CropSources(survey_);
    DSB_ASSIGN_OR_RETURN(
        std::vector<CropTargetRecord> recorded,
        RecordedCropTargets(manifest_.get(), cache_.get(), sources));
    crop_plan_ = PlanCrops(sources, recorded);
    std::uint64_t largest = 1;
    for (const ScannedScene& scene : survey_.scan.scenes) {
      for (const auto* files : {&scene.gt, &scene.noisy}) {
        for (const FileRecord& file : *files) {
          largest = std::max<std::uint64_t>(largest, file.size);
        }
      }
    }
    crop_largest_file_bytes_ = static_cast<std::size_t>(largest);
    crop_decoding_ = MakeBuildDecoding(options_, PhysicalMemory());
    crop_options_.root = options_.root;
    crop_options_.crops_dir = options_.crops_dir;
    // A file being cropped holds its decoded plane and a band of crop rows,
    // like a capture in flight: ~20 bytes per byte of its raw at most.
    crop_options_.concurrency = static_cast<int>(std::clamp<std::size_t>(
        env_.memory_budget / (20 * largest), 1,
        static_cast<std::size_t>(std::max(1, options_.jobs))));
    crop_options_.decoder = crop_decoding_.decoder.get();
    crop_options_.decode_options = crop_decoding_.options;
    crop_options_.cancelled = [] { return InterruptRequested(); };
    crop_options_.owns_crops_dir = owns_dataset_;
    BuildObserver& observer = *env_.observer;
    crop_options_.on_file = [&observer](const std::string&,
                                        const Status& status) {
      if (!status.ok()) observer.Error("crops failed: " + status.message());
    };
    DSB_RETURN_IF_ERROR(
        env_.fs->CreateDirectories(options_.crops_dir)
            .WithContext("crops directory " + options_.crops_dir));
    if (!crop_plan_.to_crop.empty()) {
      observer.Message("cropping " + std::to_string(crop_plan_.to_crop.size()) +
                       " raw files for training");
    }
    crops_from_decodes_ = std::make_unique<CropsFromDecodes>(
        crop_plan_, *manifest_, *env_.fs, crop_options_, record_mutex_);
    if (env_.runner != nullptr) {
      CropsFromDecodes* taker = crops_from_decodes_.get();
      env_.runner->SetDecodedFileHook(
          [taker](const std::string& rel_path, const RawImage& image) {
            taker->Take(rel_path, image);
          });
    }
    return Status::Ok();
  }

  // With --crops: crops what the scene build did not (files of up-to-date
  // scenes, X-Trans files, files of scenes that stopped early), prunes the
  // crops of vanished files and sweeps the crops directory.
  Status Crops() {
    if (crops_from_decodes_ == nullptr) return Status::Ok();
    if (env_.runner != nullptr) env_.runner->SetDecodedFileHook(nullptr);
    const Status taken_error = crops_from_decodes_->record_error();
    if (!taken_error.ok() && record_error_.ok()) record_error_ = taken_error;
    if (InterruptRequested() || !record_error_.ok()) return Status::Ok();
    Result<CropStageReport> crops = RunCropStage(
        crops_from_decodes_->Rest(), *manifest_, *env_.fs, crop_options_);
    if (!crops.ok()) {
      record_error_ = crops.status();
      return Status::Ok();  // Finish closes the run and reports it
    }
    CropStageReport report = std::move(crops).value();
    const CropStageReport taken = crops_from_decodes_->report();
    report.files_cropped += taken.files_cropped;
    report.files_failed += taken.files_failed;
    report.crops_written += taken.crops_written;
    report.bytes_written += taken.bytes_written;
    report.crop_seconds += taken.crop_seconds;
    report.failures.insert(report.failures.begin(), taken.failures.begin(),
                           taken.failures.end());
    report_.crops_ran = true;
    report_.crops = std::move(report);
    return Status::Ok();
  }

  // Sweeps masks no row names (unless interrupted), fills in the report and
  // closes the run.
  Result<BuildReport> Finish() {
    if (!options_.dry_run) report_.interrupted = InterruptRequested();
    if (!options_.dry_run && !report_.interrupted && owns_dataset_) {
      // The folder as Open listed it, unless this run wrote masks: under
      // the lock nothing else adds to it, and masks whose rows this run
      // replaced or pruned were there already. Listing it once per run
      // instead of twice was ~10 % of a no-op rerun's CPU time (perf, 300
      // scenes, 5,400 masks).
      SweepMasksDir(options_, *env_.fs, *manifest_, /*orphans=*/true,
                    counters_.masks_written == 0 ? std::move(masks_listing_)
                                                 : std::nullopt);
    }
    report_.files_decoded = counters_.files_decoded;
    report_.pairs_aligned = counters_.pairs_aligned;
    report_.masks_written = counters_.masks_written;
    report_.max_captures_in_flight = counters_.max_captures_in_flight;
    report_.correlators_made = counters_.correlators_made;
    report_.max_align_batch = counters_.max_align_batch;
    report_.seconds =
        std::chrono::duration<double>(env_.now() - start_).count();
    report_.peak_rss_bytes = PeakRssBytes();
    report_.planned_peak_bytes = counters_.max_planned_bytes;
    if (options_.dry_run) return report_;

    const RunCounts counts{.scenes_total = report_.scenes_found,
                           .scenes_built = report_.scenes_built,
                           .scenes_up_to_date = report_.scenes_up_to_date,
                           .scenes_failed = report_.scenes_failed,
                           .scenes_removed = report_.scenes_pruned,
                           .pairs_ok = report_.pairs_ok,
                           .pairs_failed = report_.pairs_failed};
    Status ended = manifest_->EndRun(run_id_, counts, report_.ExitCode());
    if (!record_error_.ok()) return record_error_;
    if (!ended.ok()) return ended;
    return report_;
  }

 private:
  // Under the record mutex.
  void Record(const SceneWork& scene, const SceneOutcome& outcome) {
    if (outcome.cancelled || !record_error_.ok()) {
      ++report_.scenes_interrupted;
      return;
    }
    Status recorded = manifest_->RecordScene(MakeSceneRecord(outcome, run_id_));
    if (!recorded.ok()) {
      // The manifest is unwritable (disk full, ...): stop building, since
      // nothing more could be kept.
      record_error_ = recorded.WithContext("recording scene " + scene.scene);
      RequestInterrupt();
      return;
    }
    for (const PairOutcome& pair : outcome.pairs) {
      (pair.status.ok() ? report_.pairs_ok : report_.pairs_failed)++;
    }
    // A file the scene build could not decode is not decoded again to be
    // cropped: its crops fail with the same error.
    if (crops_from_decodes_ != nullptr) {
      for (const FileOutcome& file : outcome.files) {
        if (!file.status.ok()) {
          crops_from_decodes_->Refuse(file.file.rel_path, file.status);
        }
      }
    }
    if (outcome.status.ok()) {
      ++report_.scenes_built;
    } else {
      ++report_.scenes_failed;
      report_.failures.push_back({scene.scene, outcome.status.message()});
      env_.observer->Error("failed: " + scene.scene + ": " +
                           outcome.status.message());
    }
    env_.observer->SceneDone();
  }

  const BuildOptions& options_;
  BuildEnvironment& env_;
  const std::chrono::steady_clock::time_point start_;
  // A shard task shares the masks directory with the other tasks: it never
  // sweeps it (their writes are in flight) and never prunes (the merge
  // does both, when no task runs).
  const bool owns_dataset_ = !options_.shard.active();
  std::unique_ptr<HeldLock> lock_;
  std::unique_ptr<Manifest> manifest_;  // where results are recorded
  std::unique_ptr<Manifest> cache_;     // read only: a shard's main manifest
  // The masks folder as Open's sweep left it (Finish's sweep reuses it).
  std::optional<std::vector<DirEntry>> masks_listing_;
  SurveyResult survey_;
  std::int64_t run_id_ = 0;
  BuildCounters counters_;
  BuildReport report_;
  Status record_error_;
  // Held by every write to manifest_ while scenes are built (scene records,
  // crop targets cut from the scene build's decodes).
  std::mutex record_mutex_;
  // With --crops (PlanTrainingCrops).
  CropPlan crop_plan_;
  BuildDecoding crop_decoding_;
  CropStageOptions crop_options_;
  std::unique_ptr<CropsFromDecodes> crops_from_decodes_;
  std::size_t crop_largest_file_bytes_ = 0;
};

}  // namespace

std::vector<std::string> ExcludedPaths(const BuildOptions& options) {
  std::vector<std::string> excluded = ManifestSidecarPaths(options.db_path);
  excluded.push_back(options.db_path + ".lock");
  excluded.push_back(ShardsDir(options.db_path));
  excluded.push_back(options.masks_dir);
  excluded.push_back(options.crops_dir);
  return excluded;
}

namespace {
bool IsOurMaskName(const std::string& name) {
  return name.size() > 4 && name.ends_with(".png");
}

}  // namespace

// Deletes leftovers of interrupted writes and masks no manifest row names.
std::vector<DirEntry> SweepMasksDir(
    const BuildOptions& options, FileSystem& fs, Manifest& manifest,
    bool orphans, std::optional<std::vector<DirEntry>> listing) {
  std::vector<DirEntry> entries;
  if (listing) {
    entries = std::move(*listing);
  } else {
    Result<std::vector<DirEntry>> listed = fs.ListDirectory(options.masks_dir);
    if (!listed.ok()) return {};
    entries = std::move(listed).value();
  }
  // Which entries a row names. Each recorded path is looked up among the
  // names, sorted, instead of each entry's record path among the rows'
  // paths: nothing is copied (a no-op rerun looks up every mask).
  std::vector<char> referenced(entries.size(), 0);
  if (orphans) {
    std::sort(
        entries.begin(), entries.end(),
        [](const DirEntry& a, const DirEntry& b) { return a.name < b.name; });
    const std::string prefix = MaskRecordPrefix(Layout(options));
    const Status visited = manifest.VisitMaskPaths([&](std::string_view path) {
      if (!path.starts_with(prefix)) return;
      const std::string_view name = path.substr(prefix.size());
      auto it = std::lower_bound(entries.begin(), entries.end(), name,
                                 [](const DirEntry& entry, std::string_view n) {
                                   return entry.name < n;
                                 });
      if (it != entries.end() && it->name == name) {
        referenced[static_cast<std::size_t>(it - entries.begin())] = 1;
      }
    });
    if (!visited.ok()) {
      return entries;  // never delete what we cannot prove unused
    }
  }
  std::size_t kept = 0;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    DirEntry& entry = entries[i];
    if (entry.type == FileType::kRegular) {
      const bool leftover = entry.name.find(kTempSuffix) != std::string::npos;
      const bool orphan =
          orphans && IsOurMaskName(entry.name) && referenced[i] == 0;
      if (leftover || orphan) {
        (void)fs.RemoveFile(options.masks_dir + "/" + entry.name);
        continue;
      }
    }
    if (kept != i) entries[kept] = std::move(entry);
    ++kept;
  }
  entries.resize(kept);
  return entries;
}

int BuildReport::ExitCode() const {
  return (scenes_failed > 0 || pairs_failed > 0 || interrupted ||
          crops.files_failed > 0)
             ? 1
             : 0;
}

std::uint64_t PeakRssBytes() {
  struct rusage usage = {};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<std::uint64_t>(usage.ru_maxrss) * 1024;
}

Result<BuildReport> ExecuteBuild(const BuildOptions& options,
                                 BuildEnvironment& environment) {
  Build build(options, environment);
  DSB_RETURN_IF_ERROR(build.Open());
  DSB_RETURN_IF_ERROR(build.Survey());
  if (!options.dry_run) {
    DSB_RETURN_IF_ERROR(build.Prune());
    DSB_RETURN_IF_ERROR(build.PlanTrainingCrops());
    const Status scheduled = build.Schedule();
    // No scene decodes any more: the decode workers end while the build
    // finishes (its manifest's last writes and syncs), not after.
    if (environment.runner != nullptr) environment.runner->Release();
    DSB_RETURN_IF_ERROR(scheduled);
    DSB_RETURN_IF_ERROR(build.Crops());
  }
  return build.Finish();
}

Result<StatusReport> ExecuteStatus(const BuildOptions& options,
                                   BuildEnvironment& environment) {
  DSB_RETURN_IF_ERROR(CheckRoot(options, *environment.fs));
  DSB_ASSIGN_OR_RETURN(std::unique_ptr<Manifest> manifest,
                       OpenIfPresent(environment, OpenMode::kReadOnly));
  DSB_ASSIGN_OR_RETURN(std::unique_ptr<Manifest> cache,
                       OpenCacheIfPresent(environment));
  SurveyResult survey;
  DSB_RETURN_IF_ERROR(SurveyDataset(options, *environment.fs,
                                    {manifest.get(), cache.get()}, survey)
                          .status());
  StatusReport report;
  report.stale = StaleScenes(survey.plan);
  report.scenes_up_to_date = static_cast<int>(survey.plan.up_to_date);
  report.problems = survey.scan.problems;
  NoteUnmergedTaskManifests(options, *environment.fs, report.problems);
  if (options.crops) {
    const std::vector<CropSource> sources = CropSources(survey);
    DSB_ASSIGN_OR_RETURN(
        std::vector<CropTargetRecord> recorded,
        RecordedCropTargets(manifest.get(), cache.get(), sources));
    report.crops_stale = PlanCrops(sources, recorded).stale;
  }
  return report;
}

namespace {

// Locks held together (a shard task: the main manifest's, shared, and its
// task manifest's, exclusive).
class HeldLocks final : public HeldLock {
 public:
  std::vector<std::unique_ptr<BuildLock>> locks;
};

BuildEnvironment RealEnvironment(const BuildOptions& options, FileSystem& fs,
                                 BuildObserver& observer) {
  BuildEnvironment env;
  env.fs = &fs;
  env.observer = &observer;
  const std::string db_path = options.db_path;
  const bool wait = options.wait_for_lock;
  if (!options.shard.active()) {
    env.open_manifest = [db_path](OpenMode mode) {
      return Manifest::Open(db_path, mode);
    };
    env.lock = [db_path, wait]() -> Result<std::unique_ptr<HeldLock>> {
      DSB_ASSIGN_OR_RETURN(std::unique_ptr<BuildLock> lock,
                           BuildLock::Acquire(db_path, wait));
      return std::unique_ptr<HeldLock>(std::move(lock));
    };
  } else {
    // A shard task records into its task manifest and reads the main one.
    const std::string task_path = TaskManifestPath(db_path, options.shard);
    FileSystem* file_system = &fs;
    env.open_manifest =
        [task_path, db_path,
         file_system](OpenMode mode) -> Result<std::unique_ptr<Manifest>> {
      if (mode == OpenMode::kReadWrite) {
        DSB_RETURN_IF_ERROR(
            file_system->CreateDirectories(ShardsDir(db_path))
                .WithContext("task manifests directory " + ShardsDir(db_path)));
      }
      return Manifest::Open(task_path, mode);
    };
    env.open_cache = [db_path] {
      return Manifest::Open(db_path, OpenMode::kReadOnly);
    };
    env.lock = [db_path, task_path, wait,
                file_system]() -> Result<std::unique_ptr<HeldLock>> {
      auto held = std::make_unique<HeldLocks>();
      DSB_ASSIGN_OR_RETURN(
          std::unique_ptr<BuildLock> main,
          BuildLock::Acquire(db_path, wait, LockMode::kShared));
      held->locks.push_back(std::move(main));
      DSB_RETURN_IF_ERROR(
          file_system->CreateDirectories(ShardsDir(db_path))
              .WithContext("task manifests directory " + ShardsDir(db_path)));
      DSB_ASSIGN_OR_RETURN(std::unique_ptr<BuildLock> task,
                           BuildLock::Acquire(task_path, /*wait=*/false));
      held->locks.push_back(std::move(task));
      return std::unique_ptr<HeldLock>(std::move(held));
    };
  }
  env.now = [] { return std::chrono::steady_clock::now(); };
  env.memory_budget =
      options.mem_bytes > 0 ? options.mem_bytes : DefaultMemoryBudget();
  return env;
}

// The build process's heap keeps what a pair frees for the next pair.
//
// Why: a pair's working buffers (alignment's fine-search tiles and masks, the
// mask's cell rows, sample and score planes: ~100 KB to a few MB each) are
// freed at the pair's end and made again for the next. With glibc's defaults
// the larger ones are mapped afresh (its mmap threshold starts at 128 KB and
// rises only to the largest block freed so far) and the heap's top is returned
// to the kernel once 2x that threshold is free, so the kernel faulted in and
// zeroed those pages again for every pair: ~960 faults a pair on the 4 MP G2
// CRW (1.4 us each here; a 16-copy scene 31 k faults, 23 k with 8 copies), none
// measurable with these settings (17.0 k and 17.3 k: the first pairs' and the
// start's), results unchanged (allocator settings, not values). The settings
// are glibc's own ceiling for its adaptive threshold (32 MB: blocks up to that
// come from the heap, as they do by default once one that large was freed) and
// a fixed trim threshold of 64 MB (free memory at a heap's top beyond that
// still goes back), so a build holds at most that much freed memory per malloc
// arena beyond its default; larger blocks (60 MP planes) are still mapped and
// unmapped. Set once, before the build's threads start; the decode workers (own
// processes) set their own (raw/decode_worker.cc).
void KeepPairBuffersResident() {
  static std::once_flag once;
  std::call_once(once, [] {
    ::mallopt(M_MMAP_THRESHOLD, 32 << 20);
    ::mallopt(M_TRIM_THRESHOLD, 64 << 20);
  });
}

}  // namespace

Result<BuildReport> RunBuild(const BuildOptions& options, FileSystem& fs,
                             BuildObserver& observer,
                             std::unique_ptr<RawDecoder> decoder) {
  KeepPairBuffersResident();
  BuildEnvironment env = RealEnvironment(options, fs, observer);
  PipelineSceneRunner runner(options, fs, PhysicalMemory(), std::move(decoder));
  env.runner = &runner;
  return ExecuteBuild(options, env);
}

Result<StatusReport> RunStatus(const BuildOptions& options, FileSystem& fs) {
  BuildObserver silent;
  BuildEnvironment env = RealEnvironment(options, fs, silent);
  return ExecuteStatus(options, env);
}

}  // namespace dsb
