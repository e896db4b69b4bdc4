// The executor: runs what the plan decided. scan → fingerprint → plan →
// (prune, build stale scenes) → record, plus the read-only status report
// that stops after the plan.
//
// Scenes are built in parallel (largest first, so the tail is short) and
// each is recorded in its own SQLite transaction as soon as it finishes, so
// an interrupted build keeps every finished scene and the next run resumes
// with the rest.
//
// With options.shard set (`--shard I/N`, shard/shard.h) the same run builds
// only that shard's scenes: it reads the main manifest and its task manifest
// as cache, records into the task manifest, and leaves pruning and mask
// sweeping to the merge (merge/merge.h).
//
// Thread safety: one RunBuild per manifest at a time (enforced by
// BuildLock; shard tasks share the main manifest's lock and hold their task
// manifest's); RunStatus may run alongside a build.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/file_system.h"
#include "common/result.h"
#include "crops/crop_stage.h"
#include "executor/build_lock.h"
#include "executor/build_options.h"
#include "executor/scene_runner.h"
#include "manifest/manifest.h"
#include "raw/raw_decoder.h"

namespace dsb {

class BuildObserver;
class Manifest;

// One scene the planner found stale, with the contract's reason word
// (`new`, `changed`, `removed`, `params`, `failed`) and details.
struct StaleScene {
  std::string scene;
  std::string reason;
  std::string detail;
};

struct StatusReport {
  std::vector<StaleScene> stale;
  int scenes_up_to_date = 0;
  std::vector<std::string> problems;  // scan problems (unreadable dirs, ...)
  // With --crops: raw files whose crops are missing, stale or left over.
  std::vector<StaleCrop> crops_stale;
  bool up_to_date() const { return stale.empty() && crops_stale.empty(); }
};

struct FailedScene {
  std::string scene;
  std::string error;
};

struct BuildReport {
  int scenes_found = 0;
  int scenes_built = 0;  // rebuilt and ok
  int scenes_up_to_date = 0;
  int scenes_failed = 0;
  int scenes_pruned = 0;
  int scenes_interrupted = 0;
  int pairs_ok = 0;
  int pairs_failed = 0;
  std::int64_t files_hashed = 0;
  std::int64_t bytes_hashed = 0;
  std::int64_t files_decoded = 0;
  std::int64_t pairs_aligned = 0;
  std::int64_t masks_written = 0;
  std::int64_t max_captures_in_flight = 0;
  std::int64_t correlators_made = 0;
  std::int64_t max_align_batch = 0;
  double seconds = 0;
  std::uint64_t peak_rss_bytes = 0;
  // The most the memory plan ever meant to hold at once (pixel-sized
  // buffers only; plan/memory_plan.h).
  std::int64_t planned_peak_bytes = 0;
  std::string device;               // which correlator ran
  std::vector<StaleScene> planned;  // with --dry-run: what would be built
  std::vector<FailedScene> failures;
  std::vector<std::string> problems;
  bool interrupted = false;
  // With --crops (crops/crop_stage.h).
  bool crops_ran = false;
  CropStageReport crops;

  // Contract §5: 0 when every scene is ok, 1 when something failed.
  int ExitCode() const;
};

// What a build runs on, passed in so tests can run the whole executor in
// memory (a FakeFileSystem, a fake SceneRunner, a manifest in a temp dir, a
// fake clock), like ninja's Builder with its fake disk and command runner.
// RunBuild and RunStatus below wire the real ones.
struct BuildEnvironment {
  FileSystem* fs = nullptr;
  BuildObserver* observer = nullptr;
  SceneRunner* runner = nullptr;  // unused by status
  // Opens the manifest; kReadOnly on a missing file must fail with
  // kNotFound (there is then nothing recorded yet).
  std::function<Result<std::unique_ptr<Manifest>>(OpenMode)> open_manifest;
  // Takes the build lock for the whole build (not for dry runs).
  std::function<Result<std::unique_ptr<HeldLock>>()> lock;
  // A manifest read as cache besides the one open_manifest gives, never
  // written (a shard task's main manifest); unset, or kNotFound: none.
  std::function<Result<std::unique_ptr<Manifest>>()> open_cache;
  std::function<std::chrono::steady_clock::time_point()> now;
  // The --mem budget in bytes, resolved (never 0).
  std::size_t memory_budget = 0;
};

// The build in five steps: open (root, lock, manifest, masks directory),
// survey (scan, fingerprint, plan), prune (scenes gone from disk), schedule
// (run the runner on every dirty scene, largest first, recording each as it
// finishes) and finish (sweep orphan masks, close the run).
Result<BuildReport> ExecuteBuild(const BuildOptions& options,
                                 BuildEnvironment& environment);
// Open (read-only) and survey, then report what is stale.
Result<StatusReport> ExecuteStatus(const BuildOptions& options,
                                   BuildEnvironment& environment);

// The real environment: the real decoder, correlators and masks
// (PipelineSceneRunner), the manifest at options.db_path, its flock, the
// steady clock and --mem (default half the RAM).
// `decoder`, when given, replaces the one `options` chooses (tests).
Result<BuildReport> RunBuild(const BuildOptions& options, FileSystem& fs,
                             BuildObserver& observer,
                             std::unique_ptr<RawDecoder> decoder = nullptr);
Result<StatusReport> RunStatus(const BuildOptions& options, FileSystem& fs);

// The hash recorded for a file that could not be read: its scene fails and
// is retried until the file can be read.
inline constexpr const char* kUnreadableHash =
    "00000000000000000000000000000000";

// The paths the tool writes inside a dataset (manifest and side files,
// task manifests, masks), which the scan must not enter.
std::vector<std::string> ExcludedPaths(const BuildOptions& options);

// Deletes leftovers of interrupted mask writes in options.masks_dir and,
// with `orphans`, masks no row of `manifest` names. Only for a process that
// holds the manifest's lock exclusively (no shard task is writing masks).
// Works from `listing` when given (a listing of the folder since which
// nothing was written there; taken, not copied), else lists the folder;
// returns the entries it left.
std::vector<DirEntry> SweepMasksDir(
    const BuildOptions& options, FileSystem& fs, Manifest& manifest,
    bool orphans, std::optional<std::vector<DirEntry>> listing = std::nullopt);

// Peak resident set size of this process so far (from getrusage).
std::uint64_t PeakRssBytes();

}  // namespace dsb
