#include "slurm/batch_scripts.h"

#include <array>

namespace dsb {

namespace {

// sbatch options the merge job does not inherit, long and short forms.
struct DroppedOption {
  std::string_view long_name;  // without "--"
  char short_name;             // 0: none
};
constexpr std::array<DroppedOption, 19> kNotForMerge = {{
    {"gres", 0},          {"gpus", 'G'},          {"gpus-per-node", 0},
    {"gpus-per-task", 0}, {"gpus-per-socket", 0}, {"cpus-per-gpu", 0},
    {"mem-per-gpu", 0},   {"cpus-per-task", 'c'}, {"mem", 0},
    {"mem-per-cpu", 0},   {"ntasks", 'n'},        {"ntasks-per-node", 0},
    {"nodes", 'N'},       {"array", 'a'},         {"output", 'o'},
    {"error", 'e'},       {"job-name", 'J'},      {"exclusive", 0},
    {"constraint", 'C'},
}};

std::string Command(const std::vector<std::string>& words) {
  std::string line;
  for (const std::string& word : words) {
    if (!line.empty()) line += " \\\n    ";
    line += word;
  }
  return line;
}

std::string Header(const SlurmJob& job, std::string_view what) {
  return "#!/bin/bash\n# Written by `dataset-build slurm` for " + job.root +
         ": " + std::string(what) +
         ".\n# Submit it again by hand with sbatch, or rerun "
         "`dataset-build slurm` (reruns rebuild only what is missing or "
         "stale).\n";
}

}  // namespace

std::string ShellQuote(std::string_view text) {
  std::string quoted = "'";
  for (char c : text) {
    if (c == '\'') {
      quoted += "'\\''";
    } else {
      quoted += c;
    }
  }
  return quoted + "'";
}

std::string TaskScript(const SlurmJob& job) {
  std::vector<std::string> words = {
      "exec " + ShellQuote(job.binary),
      "--shard \"${SLURM_ARRAY_TASK_ID}/" + std::to_string(job.shards) + "\"",
      "--jobs \"$jobs\"",
      "--device auto",
      "--wait",
      "--db " + ShellQuote(job.db_path),
      "--masks " + ShellQuote(job.masks_dir)};
  if (!job.crops_dir.empty()) {
    words.push_back("--crops");
    words.push_back("--crops-dir " + ShellQuote(job.crops_dir));
  }
  for (const std::string& arg : job.task_args) words.push_back(ShellQuote(arg));
  words.push_back(ShellQuote(job.root));
  return Header(job, "one shard task per array index") +
         "#SBATCH --job-name=dataset-build\n"
         "#SBATCH --array=0-" +
         std::to_string(job.shards - 1) +
         "\n"
         "set -eu\n"
         "# The CPUs Slurm gave this task (what the node lets us use when "
         "--cpus-per-task was not given).\n"
         "jobs=\"${SLURM_CPUS_PER_TASK:-$(nproc)}\"\n" +
         Command(words) + "\n";
}

std::string MergeScript(const SlurmJob& job) {
  std::vector<std::string> words = {"exec " + ShellQuote(job.binary),
                                    "merge",
                                    "--shards " + std::to_string(job.shards),
                                    "--wait",
                                    "--db " + ShellQuote(job.db_path),
                                    "--masks " + ShellQuote(job.masks_dir)};
  if (!job.crops_dir.empty()) {
    words.push_back("--crops-dir " + ShellQuote(job.crops_dir));
  }
  words.push_back(ShellQuote(job.root));
  return Header(job, "the merge of the shard tasks' manifests") +
         "#SBATCH --job-name=dataset-build-merge\n"
         "set -eu\n" +
         Command(words) + "\n";
}

std::vector<std::string> TaskSbatchArgs(const SlurmJob& job) {
  std::vector<std::string> args = {"--parsable"};
  args.insert(args.end(), job.sbatch_args.begin(), job.sbatch_args.end());
  return args;
}

std::vector<std::string> MergeSbatchArgs(const SlurmJob& job,
                                         std::string_view array_job_id) {
  std::vector<std::string> args = {
      "--parsable", "--dependency=afterany:" + std::string(array_job_id)};
  const std::vector<std::string>& in = job.sbatch_args;
  for (std::size_t i = 0; i < in.size(); ++i) {
    const std::string& arg = in[i];
    bool drop = false, drop_next = false;
    for (const DroppedOption& option : kNotForMerge) {
      const std::string long_form = "--" + std::string(option.long_name);
      if (arg == long_form) {
        // "--mem 4G": the value is the next word, unless the option takes
        // none (--exclusive) or the next word is another option.
        drop = true;
        drop_next = option.long_name != "exclusive" && i + 1 < in.size() &&
                    !in[i + 1].starts_with("-");
      } else if (arg.starts_with(long_form + "=")) {
        drop = true;
      } else if (option.short_name != 0 && arg.size() >= 2 && arg[0] == '-' &&
                 arg[1] == option.short_name) {
        drop = true;                  // "-c" "8" or "-c8"
        drop_next = arg.size() == 2;  // the value is the next word
      }
      if (drop) break;
    }
    if (!drop) args.push_back(arg);
    if (drop_next) ++i;
  }
  return args;
}

}  // namespace dsb
