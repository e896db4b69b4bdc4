#include "executor/executor.h"

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
#include <set>

#include "config.h"
#include "executor/build_lock.h"
#include "executor/build_observer.h"
#include "executor/decoding.h"
#include "executor/interrupt.h"
#include "executor/record.h"
#include "hash/fingerprint.h"
#include "manifest/manifest.h"
#include "plan/plan.h"
#include "scan/scan.h"

namespace dsb {

namespace {

using Clock = std::chrono::steady_clock;

constexpr const char* kUnreadableHash = "00000000000000000000000000000000";

// What scanning, fingerprinting and planning found; shared by the build and
// --status, which stops here.
struct Survey {
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

std::vector<std::string> ExcludedPaths(const BuildOptions& options) {
  std::vector<std::string> excluded = ManifestSidecarPaths(options.db_path);
  excluded.push_back(options.db_path + ".lock");
  excluded.push_back(options.masks_dir);
  return excluded;
}

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

Result<Survey*> SurveyDataset(const BuildOptions& options, FileSystem& fs,
                              Manifest* manifest, Survey& survey) {
  ScanOptions scan_options;
  scan_options.excluded_paths = ExcludedPaths(options);
  DSB_ASSIGN_OR_RETURN(survey.scan,
                       ScanDataset(fs, options.root, scan_options));

  std::vector<PreviousScene> previous;
  std::map<std::string, FileRecord> known;
  if (manifest != nullptr) {
    DSB_ASSIGN_OR_RETURN(std::vector<StoredScene> scenes,
                         manifest->LoadScenes());
    DSB_ASSIGN_OR_RETURN(std::vector<FileRecord> files, manifest->LoadFiles());
    std::map<std::string, std::size_t> index;
    for (const StoredScene& scene : scenes) {
      PreviousScene entry;
      entry.scene = scene.scene;
      entry.key = scene.key;
      entry.status = std::string(BuildStatusName(scene.status));
      index[scene.scene] = previous.size();
      previous.push_back(std::move(entry));
    }
    for (FileRecord& file : files) {
      if (auto it = index.find(file.scene); it != index.end()) {
        previous[it->second].files.push_back(file);
      }
      known[file.rel_path] = std::move(file);
    }
  }

  // Fingerprint every file, in parallel: hashing is I/O and xxh3 bound.
  std::vector<FileRecord*> files;
  for (ScannedScene& scene : survey.scan.scenes) {
    for (FileRecord& file : scene.gt) files.push_back(&file);
    for (FileRecord& file : scene.noisy) files.push_back(&file);
  }
  FingerprintOptions fingerprint_options;
  fingerprint_options.verify = options.verify;
  fingerprint_options.now_ns = fs.NowNs();
  fingerprint_options.stats = &survey.stats;
  std::mutex survey_mutex;
  tbb::task_arena arena(std::max(1, options.jobs));
  arena.execute([&] {
    tbb::parallel_for(std::size_t{0}, files.size(), [&](std::size_t i) {
      FileRecord& file = *files[i];
      auto it = known.find(file.rel_path);
      Result<FingerprintResult> result = Fingerprint(
          fs, options.root, file, it == known.end() ? nullptr : &it->second,
          fingerprint_options);
      if (result.ok()) {
        file.hash_hex = result->hash_hex;
        file.hashed_at_ns = result->recorded_at_ns;
        if (result->rehashed && it != known.end() &&
            it->second.hash_hex == result->hash_hex) {
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

  survey.plan = MakePlan(survey.scan.scenes, previous, kAlgorithmVersion,
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

SceneJob MakeJob(const PlannedScene& planned, const Survey& survey) {
  const ScannedScene& scanned = survey.scan.scenes[planned.current_index];
  SceneJob job;
  job.scene = planned.scene;
  job.key = planned.key;
  job.total_bytes = planned.cost_bytes;
  job.problems = scanned.problems;
  job.gt = scanned.gt;
  job.noisy = scanned.noisy;
  for (const auto* files : {&job.gt, &job.noisy}) {
    for (const FileRecord& file : *files) {
      if (auto it = survey.hash_errors.find(file.rel_path);
          it != survey.hash_errors.end()) {
        job.hash_errors[file.rel_path] = it->second;
      }
    }
  }
  return job;
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

bool IsOurMaskName(const std::string& name) {
  return name.size() > 4 && name.ends_with(".png");
}

// Deletes leftovers of interrupted writes and masks no manifest row names.
void SweepMasksDir(const BuildOptions& options, FileSystem& fs,
                   Manifest& manifest, bool orphans) {
  Result<std::vector<DirEntry>> entries = fs.ListDirectory(options.masks_dir);
  if (!entries.ok()) return;
  std::set<std::string> referenced;
  if (orphans) {
    Result<std::vector<std::string>> paths = manifest.ListMaskPaths();
    if (!paths.ok()) return;  // never delete what we cannot prove unused
    referenced.insert(paths->begin(), paths->end());
  }
  for (const DirEntry& entry : *entries) {
    if (entry.type != FileType::kRegular) continue;
    const std::string path = options.masks_dir + "/" + entry.name;
    if (entry.name.find(kTempSuffix) != std::string::npos) {
      (void)fs.RemoveFile(path);
      continue;
    }
    if (!orphans || !IsOurMaskName(entry.name)) continue;
    const std::string recorded = path.starts_with(options.root + "/")
                                     ? path.substr(options.root.size() + 1)
                                     : path;
    if (!referenced.contains(recorded)) (void)fs.RemoveFile(path);
  }
}

}  // namespace

int BuildReport::ExitCode() const {
  return (scenes_failed > 0 || pairs_failed > 0 || interrupted) ? 1 : 0;
}

std::uint64_t PeakRssBytes() {
  struct rusage usage = {};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<std::uint64_t>(usage.ru_maxrss) * 1024;
}

Result<StatusReport> RunStatus(const BuildOptions& options, FileSystem& fs) {
  DSB_RETURN_IF_ERROR(CheckRoot(options, fs));
  std::unique_ptr<Manifest> manifest;
  if (fs.Stat(options.db_path).ok()) {
    DSB_ASSIGN_OR_RETURN(manifest,
                         Manifest::Open(options.db_path, OpenMode::kReadOnly));
  }
  Survey survey;
  DSB_RETURN_IF_ERROR(
      SurveyDataset(options, fs, manifest.get(), survey).status());
  StatusReport report;
  report.stale = StaleScenes(survey.plan);
  report.scenes_up_to_date = static_cast<int>(survey.plan.up_to_date);
  report.problems = survey.scan.problems;
  return report;
}

Result<BuildReport> RunBuild(const BuildOptions& options, FileSystem& fs,
                             BuildObserver& progress) {
  const auto start = Clock::now();
  BuildReport report;

  DSB_RETURN_IF_ERROR(CheckRoot(options, fs));

  std::unique_ptr<BuildLock> lock;
  std::unique_ptr<Manifest> manifest;
  if (options.dry_run) {
    if (fs.Stat(options.db_path).ok()) {
      DSB_ASSIGN_OR_RETURN(
          manifest, Manifest::Open(options.db_path, OpenMode::kReadOnly));
    }
  } else {
    DSB_ASSIGN_OR_RETURN(
        lock, BuildLock::Acquire(options.db_path, options.wait_for_lock));
    DSB_ASSIGN_OR_RETURN(manifest,
                         Manifest::Open(options.db_path, OpenMode::kReadWrite));
    DSB_RETURN_IF_ERROR(
        fs.CreateDirectories(options.masks_dir)
            .WithContext("masks directory " + options.masks_dir));
    SweepMasksDir(options, fs, *manifest, /*orphans=*/false);
  }

  Survey survey;
  DSB_RETURN_IF_ERROR(
      SurveyDataset(options, fs, manifest.get(), survey).status());
  report.problems = survey.scan.problems;
  report.scenes_found = static_cast<int>(survey.scan.scenes.size());
  report.files_hashed = static_cast<std::int64_t>(survey.stats.files_rehashed);
  report.bytes_hashed = static_cast<std::int64_t>(survey.stats.bytes_hashed);
  report.scenes_up_to_date = static_cast<int>(survey.plan.up_to_date);
  if (options.dry_run) {
    report.planned = StaleScenes(survey.plan);
    report.seconds =
        std::chrono::duration<double>(Clock::now() - start).count();
    report.peak_rss_bytes = PeakRssBytes();
    return report;
  }

  DSB_RETURN_IF_ERROR(manifest->UpdateFileFingerprints(survey.refreshed));

  nlohmann::json params = {{"fingerprint", options.ResultFingerprint()},
                           {"jobs", options.jobs},
                           {"root", options.root},
                           {"force", options.force}};
  DSB_ASSIGN_OR_RETURN(std::int64_t run_id,
                       manifest->BeginRun(DSB_VERSION, params.dump()));

  // Prune scenes that disappeared; their masks go after the commit.
  for (const PlannedScene& planned : survey.plan.scenes) {
    if (planned.state != SceneState::kRemoved) continue;
    DSB_ASSIGN_OR_RETURN(std::vector<std::string> masks,
                         manifest->RemoveScene(planned.scene));
    for (const std::string& mask : masks) {
      (void)fs.RemoveFile(mask.starts_with("/") ? mask
                                                : options.root + "/" + mask);
    }
    ++report.scenes_pruned;
  }

  // Build stale scenes, largest first so the last one to finish is small.
  std::vector<SceneJob> jobs;
  int files_total = 0;
  std::uint64_t bytes_total = 0;
  for (std::size_t index : survey.plan.BuildOrder()) {
    const PlannedScene& planned = survey.plan.scenes[index];
    jobs.push_back(MakeJob(planned, survey));
    files_total +=
        static_cast<int>(jobs.back().gt.size() + jobs.back().noisy.size());
    bytes_total += jobs.back().total_bytes;
  }
  progress.SetTotals(static_cast<int>(jobs.size()), files_total, bytes_total);

  BuildCounters counters;
  BuildContext context;
  context.options = &options;
  context.fs = &fs;
  context.counters = &counters;
  context.progress = &progress;
  const std::size_t budget =
      options.mem_bytes > 0 ? options.mem_bytes : DefaultMemoryBudget();
  // Scenes in flight are bounded by the budget too. Their image sizes are
  // unknown until decoded, so estimate from the largest raw file: raws hold
  // 1-2 bytes per pixel and a scene needs at least one GT (three float
  // planes) and one capture (two) in memory, about 20 bytes per pixel.
  std::uint64_t largest_file = 1;
  for (const SceneJob& job : jobs) {
    for (const auto* files : {&job.gt, &job.noisy}) {
      for (const FileRecord& file : *files) {
        largest_file = std::max<std::uint64_t>(largest_file, file.size);
      }
    }
  }
  const std::size_t scene_minimum = static_cast<std::size_t>(20 * largest_file);
  const std::size_t concurrent_scenes = std::clamp<std::size_t>(
      std::min<std::size_t>(budget / scene_minimum, jobs.size()), 1,
      static_cast<std::size_t>(std::max(1, options.jobs)));
  context.scene_memory_bytes = budget / concurrent_scenes;
  const BuildDecoding decoding = MakeBuildDecoding(options, PhysicalMemory());
  context.decoder = decoding.decoder.get();
  context.decode_options = decoding.options;

  std::string notice;
  if (!jobs.empty()) {
    auto probe = MakeCorrelator(options.device, options.align, &notice);
    if (!probe.ok()) return probe.status();
    report.device = (*probe)->name();
    if (!notice.empty()) progress.Message(notice);
  }

  std::mutex record_mutex;
  Status record_error;
  // --jobs caps every thread the build uses; the arena caps scenes in flight
  // (each scene bounds its own captures in flight, see scene_builder).
  tbb::global_control threads(
      tbb::global_control::max_allowed_parallelism,
      static_cast<std::size_t>(std::max(1, options.jobs)));
  tbb::task_arena arena(static_cast<int>(concurrent_scenes));
  arena.execute([&] {
    tbb::parallel_for_each(jobs.begin(), jobs.end(), [&](const SceneJob& job) {
      if (InterruptRequested()) return;
      SceneOutcome outcome = BuildScene(job, context);
      std::lock_guard lock(record_mutex);
      if (outcome.cancelled || !record_error.ok()) {
        ++report.scenes_interrupted;
        return;
      }
      Status recorded = manifest->RecordScene(MakeSceneRecord(outcome, run_id));
      if (!recorded.ok()) {
        // The manifest is unwritable (disk full, ...): stop building, since
        // nothing more could be kept.
        record_error = recorded.WithContext("recording scene " + job.scene);
        RequestInterrupt();
        return;
      }
      for (const PairOutcome& pair : outcome.pairs) {
        (pair.status.ok() ? report.pairs_ok : report.pairs_failed)++;
      }
      if (outcome.status.ok()) {
        ++report.scenes_built;
      } else {
        ++report.scenes_failed;
        report.failures.push_back({job.scene, outcome.status.message()});
        progress.Error("failed: " + job.scene + ": " +
                       outcome.status.message());
      }
      progress.SceneDone();
    });
  });
  report.interrupted = InterruptRequested();
  if (!report.interrupted)
    SweepMasksDir(options, fs, *manifest, /*orphans=*/true);

  report.files_decoded = counters.files_decoded;
  report.pairs_aligned = counters.pairs_aligned;
  report.masks_written = counters.masks_written;
  report.max_captures_in_flight = counters.max_captures_in_flight;
  report.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  report.peak_rss_bytes = PeakRssBytes();

  RunCounts counts;
  counts.scenes_total = report.scenes_found;
  counts.scenes_built = report.scenes_built;
  counts.scenes_up_to_date = report.scenes_up_to_date;
  counts.scenes_failed = report.scenes_failed;
  counts.scenes_removed = report.scenes_pruned;
  counts.pairs_ok = report.pairs_ok;
  counts.pairs_failed = report.pairs_failed;
  Status ended = manifest->EndRun(run_id, counts, report.ExitCode());
  if (!record_error.ok()) return record_error;
  if (!ended.ok()) return ended;
  return report;
}

}  // namespace dsb
