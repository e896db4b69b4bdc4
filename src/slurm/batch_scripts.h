// slurm: the batch scripts `dataset-build slurm` submits (docs/contract.md §7).
//
// A job array of N shard tasks, each running
//   dataset-build --shard $SLURM_ARRAY_TASK_ID/N --jobs $SLURM_CPUS_PER_TASK
//                 --device auto --wait ... ROOT
// and a merge job submitted with --dependency=afterany on the array, so it
// runs once every task has ended, whether it finished, failed, was
// cancelled or timed out. Every path in the scripts is absolute (nodes
// start in another directory) and shell-quoted. Progress goes to the job's
// standard output, which Slurm writes where the user's sbatch options say
// (--output), by default slurm-<job>_<task>.out in the directory sbatch
// was run from; it is plain lines there, as stderr is not a terminal.
//
// Pure functions: submission is in slurm/sbatch.h.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace dsb {

struct SlurmJob {
  std::string binary;     // absolute path of dataset-build
  std::string root;       // absolute dataset root
  std::string db_path;    // absolute main manifest
  std::string masks_dir;  // absolute masks directory
  // Absolute crops directory with --crops (tasks crop their scenes' files
  // into it, the merge prunes it); "" without.
  std::string crops_dir;
  int shards = 1;
  // Build options every task passes on (--max-shift, --force, ...).
  std::vector<std::string> task_args;
  // The user's sbatch options (after "--" on our command line).
  std::vector<std::string> sbatch_args;
};

// 'text' quoted for a POSIX shell (single quotes; ' as '\'').
std::string ShellQuote(std::string_view text);

// The job array's script and the merge job's script.
std::string TaskScript(const SlurmJob& job);
std::string MergeScript(const SlurmJob& job);

// The arguments of the two sbatch calls, before the script path. The array
// gets every user option; the merge gets them without the ones that ask
// for resources a one-core merge does not need (GPUs, CPUs, memory,
// tasks, nodes) or that belong to the array (--array, --output, --error,
// --job-name).
std::vector<std::string> TaskSbatchArgs(const SlurmJob& job);
std::vector<std::string> MergeSbatchArgs(const SlurmJob& job,
                                         std::string_view array_job_id);

}  // namespace dsb
