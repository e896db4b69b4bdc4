// Parsing the dataset-build command line (docs/contract.md §5) into options.
//
//   dataset-build [ROOT] [options]            build the manifest
//   dataset-build --status [ROOT] [options]   list stale scenes, change nothing
//   dataset-build export --format F [-o FILE] [ROOT]
//   dataset-build synth OUT_DIR [options]     generate a sample dataset
//   dataset-build report [ROOT] [options]     write the HTML QA report
//   dataset-build --shard I/N [ROOT]          build one shard (contract §7)
//   dataset-build merge [ROOT] [--shards N]   fold the shards' manifests in
//   dataset-build slurm ROOT --shards N [--print] [-- SBATCH OPTIONS]
//
// Pure: parsing never touches the disk, so it is unit tested directly.
//
// Thread safety: pure functions.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "executor/build_options.h"

namespace dsb {

enum class Command {
  kBuild,
  kStatus,
  kExport,
  kSynth,
  kReport,
  kMerge,
  kSlurm,
  kHelp,
  kVersion
};

struct ExportCommandOptions {
  std::string format;       // rawnind-yaml | json | csv
  std::string output_path;  // empty: stdout
  bool absolute_paths = false;
};

// merge and slurm (docs/contract.md §7).
struct ClusterCommandOptions {
  int shards = 0;  // slurm: required; merge: optional (reports missing ones)
  bool print = false;  // slurm: write the batch scripts, do not submit
  std::vector<std::string> sbatch_args;  // slurm: everything after "--"
};

struct CommandLine {
  Command command = Command::kBuild;
  BuildOptions build;  // for kBuild, kStatus, kExport (root, db)
  ExportCommandOptions export_options;
  ClusterCommandOptions cluster;
  std::string help_text;  // for kHelp
};

// Usage errors come back as kInvalidArgument with a message for the user
// (the caller prints it with a pointer to --help and exits 2).
Result<CommandLine> ParseCommandLine(const std::vector<std::string>& args);

// Parses sizes such as "1500M", "2G", "512MiB", "0" (bytes when no unit).
std::optional<std::size_t> ParseByteSize(const std::string& text);

}  // namespace dsb
