// The cluster commands (docs/contract.md §7): `merge` folds shard task
// manifests into the main manifest, `slurm` submits (or, with --print, writes)
// the job array of shard tasks and its merge job.
//
// Thread safety: called once from main.
#pragma once

#include "cli/command_line.h"

namespace dsb {

int RunMergeCommand(const CommandLine& command_line);
int RunSlurmCommand(const CommandLine& command_line);

}  // namespace dsb
