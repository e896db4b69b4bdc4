// merge: folds shard task manifests into the dataset's main manifest
// (docs/contract.md §7, `dataset-build merge ROOT [--db FILE]`).
//
// Shard tasks (`dataset-build --shard I/N`) record into task manifests in
// `<manifest>.shards/` (shard/shard.h). The merge, holding the main
// manifest's lock exclusively (so no build, merge or task runs meanwhile):
//
//  1. scans the dataset (stat only: hashes are reused from the records
//     unless a file changed);
//  2. for each task manifest, in one transaction: checks that it is of this
//     dataset root and not of a newer schema (else it is refused and kept),
//     and copies every scene whose recorded key is the key of that scene
//     now (same files, same content, same algorithm and parameters as the
//     task recorded) and that is newer than the main manifest's record of
//     it; everything else in it is stale and left out. The task manifest is
//     then deleted: its scenes are in the main manifest;
//     In the same transaction it copies the task's crop targets (--crops)
//     whose file is in the tree now with the content hash the target was
//     cropped from, unless the main manifest has that very target already;
//  3. prunes scenes that vanished from the tree and deletes their masks,
//     and masks nothing references any more (as a build does); likewise the
//     crop targets of raw files that vanished, their crop files, and crop
//     files no target names (in --crops-dir, default ROOT/crops);
//  4. reports every shard that did not complete: a task manifest whose last
//     run did not end (killed) or ended with scenes left (interrupted), and,
//     when the shard count is given (--shards N; slurm's merge job does),
//     every shard with no task manifest.
//
// Copies keep each record's built_at, so merging the same task manifest
// twice changes nothing. Afterwards the views are what a single-machine
// build of the same tree and parameters gives (tests/integration/shard).
//
// Thread safety: one RunMerge per manifest at a time (BuildLock).
#pragma once

#include <string>
#include <vector>

#include "common/file_system.h"
#include "common/result.h"
#include "executor/build_options.h"
#include "shard/shard.h"

namespace dsb {

struct MergeOptions {
  BuildOptions build;  // root, db_path, masks_dir, crops_dir, wait_for_lock
  // How many shards the tasks were run with (slurm passes it), so a shard
  // that left no task manifest is reported as not completed; 0: report
  // only on the task manifests found (a merged one is deleted, so absence
  // alone proves nothing).
  int expected_shards = 0;
};

// What became of one task manifest.
struct TaskMerge {
  ShardSpec shard;
  std::string path;
  bool merged = false;     // folded and deleted
  std::string refused;     // why it was left alone ("" when not refused)
  bool completed = false;  // its last run ended with every scene done
  std::string incomplete;  // why not, for the report
  int scenes_copied = 0;
  int scenes_already = 0;  // the main manifest had this record already
  int scenes_stale = 0;    // the tree changed since; left for a rerun
  int scenes_failed = 0;   // copied, and failed
  int crops_copied = 0;    // crop targets (raw files) folded in
  int crops_stale = 0;     // their file changed or vanished since
};

struct MergeReport {
  std::vector<TaskMerge> tasks;
  std::vector<ShardSpec> missing;  // expected but no task manifest
  int scenes_pruned = 0;
  int crops_pruned = 0;  // crop targets of vanished raw files
  int scenes_total = 0;  // in the main manifest afterwards
  std::vector<std::string> problems;
  double seconds = 0;

  // 0 when every shard completed, nothing was refused and no merged scene
  // failed; else 1.
  int ExitCode() const;
};

Result<MergeReport> RunMerge(const MergeOptions& options, FileSystem& fs);

}  // namespace dsb
