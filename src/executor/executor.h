// The build: scan → fingerprint → plan → (prune, build stale scenes) →
// record, plus the read-only status report that stops after the plan.
//
// Scenes are built in parallel (largest first, so the tail is short) and
// each is recorded in its own SQLite transaction as soon as it finishes, so
// an interrupted build keeps every finished scene and the next run resumes
// with the rest.
//
// Thread safety: one RunBuild per manifest at a time (enforced by
// BuildLock); RunStatus may run alongside a build.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/file_system.h"
#include "common/result.h"
#include "executor/build_options.h"
#include "executor/scene_builder.h"

namespace dsb {

class BuildObserver;

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
  bool up_to_date() const { return stale.empty(); }
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
  double seconds = 0;
  std::uint64_t peak_rss_bytes = 0;
  std::string device;               // which correlator ran
  std::vector<StaleScene> planned;  // with --dry-run: what would be built
  std::vector<FailedScene> failures;
  std::vector<std::string> problems;
  bool interrupted = false;

  // Contract §5: 0 when every scene is ok, 1 when something failed.
  int ExitCode() const;
};

Result<BuildReport> RunBuild(const BuildOptions& options, FileSystem& fs,
                             BuildObserver& progress);
Result<StatusReport> RunStatus(const BuildOptions& options, FileSystem& fs);

// Peak resident set size of this process so far (from getrusage).
std::uint64_t PeakRssBytes();

}  // namespace dsb
