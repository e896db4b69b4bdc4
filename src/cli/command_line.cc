#include "cli/command_line.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cxxopts.hpp>

#include "config.h"

namespace dsb {

namespace {

constexpr const char* kDescription =
    R"(Compiles camera-RAW denoising datasets: aligns every noisy capture of a scene
to its clean ground truth directly on the sensor mosaic, writes a loss mask per
pair, and records everything in a SQLite manifest. Reruns rebuild only scenes
whose files or parameters changed.

Dataset layout: a scene is any directory with a gt/ subdirectory (found
recursively under ROOT). Clean captures go in <scene>/gt/, noisy captures of the
same scene directly in <scene>/. Every GT is paired with every raw file of its
scene (noisy ones and the GTs, itself included).

Sign convention: gt(y + dy, x + dx) shows the same scene point as noisy(y, x);
dy, dx are integers in full-resolution sensor pixels.

Query the manifest with sqlite3; the stable views are
  alignments(scene, gt_path, noisy_path, dy, dx, dy_subpx, dx_subpx, confidence,
             loss, raw_gain, overexposure_lb, mask_path, mask_mean, status, error)
  scenes(scene, cfa, width, height, n_files, status, built_at, error)

Commands:
  dataset-build [ROOT]            build (exit 0: all ok, 1: something failed)
  dataset-build --status [ROOT]   list stale scenes (exit 0: up to date, 1: stale)
  dataset-build export --format rawnind-yaml|json|csv [-o FILE] [ROOT]
  dataset-build synth OUT_DIR     generate a synthetic dataset (see synth --help)
  dataset-build report [ROOT] [--db FILE] [-o DIR]
                                  write an HTML QA report (see report --help)

On a cluster (see the README's cluster section):
  dataset-build --shard I/N ROOT  build shard I of N (0 <= I < N) into a task
                                  manifest beside the main one
  dataset-build merge ROOT [--shards N]
                                  fold the task manifests into the main manifest
  dataset-build slurm ROOT --shards N [--print] [-- SBATCH OPTIONS]
                                  submit N shard tasks as a Slurm job array and
                                  a merge job that runs after them
)";

Result<Device> ParseDevice(const std::string& text) {
  if (text == "auto") return Device::kAuto;
  if (text == "cpu") return Device::kCpu;
  if (text == "gpu") return Device::kGpu;
  return Status::InvalidArgument("--device must be auto, cpu or gpu, not '" +
                                 text + "'");
}

}  // namespace

std::optional<std::size_t> ParseByteSize(const std::string& text) {
  if (text.empty()) return std::nullopt;
  std::size_t digits = 0;
  while (digits < text.size() &&
         (std::isdigit(static_cast<unsigned char>(text[digits])) ||
          text[digits] == '.')) {
    ++digits;
  }
  if (digits == 0) return std::nullopt;
  char* end = nullptr;
  const double value = std::strtod(text.substr(0, digits).c_str(), &end);
  std::string unit = text.substr(digits);
  std::transform(unit.begin(), unit.end(), unit.begin(),
                 [](unsigned char c) { return std::toupper(c); });
  if (unit.ends_with("IB")) unit.resize(unit.size() - 2);
  if (unit.ends_with("B")) unit.resize(unit.size() - 1);
  double scale = 1;
  if (unit == "K")
    scale = 1024.0;
  else if (unit == "M")
    scale = 1024.0 * 1024;
  else if (unit == "G")
    scale = 1024.0 * 1024 * 1024;
  else if (!unit.empty())
    return std::nullopt;
  return static_cast<std::size_t>(value * scale);
}

Result<CommandLine> ParseCommandLine(const std::vector<std::string>& args) {
  CommandLine result;
  std::vector<std::string> rest(args.begin() + (args.empty() ? 0 : 1),
                                args.end());
  if (!rest.empty() && rest.front() == "synth") {
    result.command = Command::kSynth;
    return result;  // the synth command parses its own arguments
  }
  if (!rest.empty() && rest.front() == "report") {
    result.command = Command::kReport;
    return result;  // so does the report command
  }
  bool is_export = false;
  if (!rest.empty() && rest.front() == "export") {
    is_export = true;
    rest.erase(rest.begin());
  }
  bool is_merge = false, is_slurm = false;
  if (!rest.empty() && (rest.front() == "merge" || rest.front() == "slurm")) {
    (rest.front() == "merge" ? is_merge : is_slurm) = true;
    rest.erase(rest.begin());
  }
  if (is_slurm) {
    // Everything after "--" goes to sbatch untouched.
    auto dashes = std::find(rest.begin(), rest.end(), "--");
    if (dashes != rest.end()) {
      result.cluster.sbatch_args.assign(dashes + 1, rest.end());
      rest.erase(dashes, rest.end());
    }
  }

  cxxopts::Options options("dataset-build", kDescription);
  options.positional_help("[ROOT]");
  // clang-format off
  options.add_options()
    ("status", "list stale scenes with the reason for each; change nothing")
    ("db", "manifest file (default ROOT/dataset-build.db)", cxxopts::value<std::string>())
    ("masks", "masks directory (default ROOT/masks)", cxxopts::value<std::string>())
    ("crops", "also write RawNIND's training crops (about 8 bytes per pixel)")
    ("crops-dir", "crops directory (default ROOT/crops)", cxxopts::value<std::string>())
    ("j,jobs", "worker threads (default: all cores)", cxxopts::value<int>())
    ("device", "where to align: auto, cpu or gpu", cxxopts::value<std::string>()->default_value("auto"))
    ("force", "rebuild every scene")
    ("dry-run", "plan and print what would be rebuilt; change nothing")
    ("verify", "re-hash every file instead of trusting size/mtime/inode")
    ("wait", "wait for another build on the same manifest instead of failing")
    ("json", "print the status or the build summary as JSON on stdout")
    ("q,quiet", "no progress output (errors are still printed)")
    ("mem", "memory budget, e.g. 4G (default: a safe fraction of RAM)", cxxopts::value<std::string>())
    ("gpu-mem", "GPU memory budget, e.g. 8G (default: a safe fraction of free GPU memory)", cxxopts::value<std::string>())
    ("max-shift", "largest |dy|, |dx| searched, in pixels", cxxopts::value<int>()->default_value("128"))
    ("clip-footprint", "what a clipped GT sample takes out of the mask: sample (itself) or cell (every pixel of its 3x3 / all-colour neighbourhood, for losses on demosaiced RGB)", cxxopts::value<std::string>()->default_value("sample"))
    ("decode-in-process", "decode raws inside this process instead of in decode worker processes (debugging, profiling; a LibRaw crash then stops the build)")
    ("huge-pages", "put image buffers on transparent huge pages (faster on some hosts, much slower on others: measure with --force on one scene)")
    ("shard", "build only shard I of N (0 <= I < N) into its task manifest; see merge, slurm", cxxopts::value<std::string>())
    ("decode-timeout", "per-file decode time limit in seconds, plus 1 s per MB of the file (default 120)", cxxopts::value<double>())
    ("format", "export: rawnind-yaml, json or csv", cxxopts::value<std::string>())
    ("o,output", "export: output file (default stdout)", cxxopts::value<std::string>())
    ("absolute-paths", "export: absolute file paths (RawNIND's loaders expect them)")
    ("shards", "merge, slurm: the number of shards", cxxopts::value<int>())
    ("print", "slurm: write the batch scripts and print how to submit them; submit nothing")
    ("version", "print the version")
    ("h,help", "print this help")
    ("root", "dataset root", cxxopts::value<std::vector<std::string>>());
  // clang-format on
  options.parse_positional({"root"});

  std::vector<const char*> argv;
  argv.push_back("dataset-build");
  for (const std::string& arg : rest) argv.push_back(arg.c_str());
  cxxopts::ParseResult parsed;
  try {
    parsed = options.parse(static_cast<int>(argv.size()), argv.data());
  } catch (const cxxopts::exceptions::exception& error) {
    return Status::InvalidArgument(error.what());
  }

  if (parsed.count("help")) {
    result.command = Command::kHelp;
    result.help_text = options.help();
    return result;
  }
  if (parsed.count("version")) {
    result.command = Command::kVersion;
    return result;
  }

  BuildOptions& build = result.build;
  if (parsed.count("root")) {
    const auto& roots = parsed["root"].as<std::vector<std::string>>();
    if (roots.size() > 1) {
      return Status::InvalidArgument("one dataset root expected, got " +
                                     std::to_string(roots.size()) + " ('" +
                                     roots[0] + "', '" + roots[1] + "', ...)");
    }
    build.root = roots.front();
  }
  if (parsed.count("db")) build.db_path = parsed["db"].as<std::string>();
  if (parsed.count("masks"))
    build.masks_dir = parsed["masks"].as<std::string>();
  build.crops = parsed.count("crops") > 0;
  if (parsed.count("crops-dir"))
    build.crops_dir = parsed["crops-dir"].as<std::string>();
  if (parsed.count("jobs")) {
    build.jobs = parsed["jobs"].as<int>();
    if (build.jobs < 1) {
      return Status::InvalidArgument("--jobs must be at least 1");
    }
  }
  auto device = ParseDevice(parsed["device"].as<std::string>());
  if (!device.ok()) return device.status();
  build.device = *device;
  build.force = parsed.count("force") > 0;
  build.dry_run = parsed.count("dry-run") > 0;
  build.verify = parsed.count("verify") > 0;
  build.wait_for_lock = parsed.count("wait") > 0;
  build.json = parsed.count("json") > 0;
  build.quiet = parsed.count("quiet") > 0;
  for (const char* name : {"mem", "gpu-mem"}) {
    if (!parsed.count(name)) continue;
    auto bytes = ParseByteSize(parsed[name].as<std::string>());
    if (!bytes) {
      return Status::InvalidArgument(
          std::string("--") + name +
          " needs a size such as 4G or 1500M, not '" +
          parsed[name].as<std::string>() + "'");
    }
    // --gpu-mem goes straight to the one field the CUDA correlator reads.
    (std::string(name) == "mem" ? build.mem_bytes
                                : build.align.gpu_memory_bytes) = *bytes;
  }
  build.decode_in_process = parsed.count("decode-in-process") > 0;
  build.huge_pages = parsed.count("huge-pages") > 0;
  if (parsed.count("decode-timeout")) {
    build.decode_timeout_s = parsed["decode-timeout"].as<double>();
    if (!(build.decode_timeout_s > 0)) {
      return Status::InvalidArgument("--decode-timeout must be positive");
    }
  }
  const std::string footprint = parsed["clip-footprint"].as<std::string>();
  const auto clip_footprint = ParseClipFootprint(footprint);
  if (!clip_footprint) {
    return Status::InvalidArgument(
        "--clip-footprint must be sample or cell, not '" + footprint + "'");
  }
  build.mask.clip_footprint = *clip_footprint;
  if (parsed.count("shard")) {
    DSB_ASSIGN_OR_RETURN(build.shard,
                         ParseShardSpec(parsed["shard"].as<std::string>()));
  }
  build.align.max_shift = parsed["max-shift"].as<int>();
  if (build.align.max_shift < 0) {
    return Status::InvalidArgument("--max-shift must not be negative");
  }

  if (!is_merge && !is_slurm) {
    for (const char* name : {"shards", "print"}) {
      if (parsed.count(name)) {
        return Status::InvalidArgument(std::string("--") + name +
                                       " belongs to the merge and slurm "
                                       "commands");
      }
    }
  }
  if (is_merge || is_slurm) {
    if (build.shard.active()) {
      return Status::InvalidArgument(
          "--shard is for one shard task; merge and slurm take --shards N");
    }
    if (parsed.count("shards")) {
      result.cluster.shards = parsed["shards"].as<int>();
      if (result.cluster.shards < 1) {
        return Status::InvalidArgument("--shards must be at least 1");
      }
    }
    if (is_slurm && result.cluster.shards == 0) {
      return Status::InvalidArgument("slurm needs --shards N");
    }
    if (is_merge && parsed.count("print")) {
      return Status::InvalidArgument("--print belongs to the slurm command");
    }
    result.cluster.print = parsed.count("print") > 0;
  }
  if (is_merge) {
    result.command = Command::kMerge;
  } else if (is_slurm) {
    result.command = Command::kSlurm;
  } else if (is_export) {
    result.command = Command::kExport;
    if (!parsed.count("format")) {
      return Status::InvalidArgument(
          "export needs --format rawnind-yaml, json or csv");
    }
    result.export_options.format = parsed["format"].as<std::string>();
    if (parsed.count("output")) {
      result.export_options.output_path = parsed["output"].as<std::string>();
    }
    result.export_options.absolute_paths = parsed.count("absolute-paths") > 0;
  } else {
    for (const char* name : {"format", "output", "absolute-paths"}) {
      if (parsed.count(name)) {
        return Status::InvalidArgument(std::string("--") + name +
                                       " belongs to the export command");
      }
    }
    result.command =
        parsed.count("status") ? Command::kStatus : Command::kBuild;
  }
  return result;
}

}  // namespace dsb
