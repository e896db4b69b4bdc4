#include "cli/cluster_commands.h"

#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "common/file_system.h"
#include "executor/build_lock.h"
#include "manifest/manifest.h"
#include "merge/merge.h"
#include "shard/shard.h"
#include "slurm/batch_scripts.h"
#include "slurm/sbatch.h"

namespace dsb {

namespace {

void PrintError(const Status& status) {
  std::fprintf(stderr, "dataset-build: %s\n", status.message().c_str());
}

int ExitFor(const Status& status) {
  return status.code() == Status::Code::kInvalidArgument ? 2 : 1;
}

void PrintMergeReport(const MergeReport& report, bool json) {
  if (json) {
    nlohmann::json tasks = nlohmann::json::array();
    for (const TaskMerge& task : report.tasks) {
      tasks.push_back({{"shard", task.shard.ToString()},
                       {"path", task.path},
                       {"merged", task.merged},
                       {"refused", task.refused},
                       {"completed", task.completed},
                       {"incomplete", task.incomplete},
                       {"scenes_copied", task.scenes_copied},
                       {"scenes_already", task.scenes_already},
                       {"scenes_stale", task.scenes_stale},
                       {"scenes_failed", task.scenes_failed},
                       {"crops_copied", task.crops_copied},
                       {"crops_stale", task.crops_stale}});
    }
    nlohmann::json missing = nlohmann::json::array();
    for (const ShardSpec& shard : report.missing) {
      missing.push_back(shard.ToString());
    }
    std::cout << nlohmann::json{{"tasks", tasks},
                                {"missing", missing},
                                {"scenes_pruned", report.scenes_pruned},
                                {"crops_pruned", report.crops_pruned},
                                {"scenes_total", report.scenes_total},
                                {"problems", report.problems},
                                {"seconds", report.seconds},
                                {"exit_status", report.ExitCode()}}
                     .dump(2)
              << std::endl;
    return;
  }
  for (const std::string& problem : report.problems) {
    std::fprintf(stderr, "warning: %s\n", problem.c_str());
  }
  int copied = 0;
  for (const TaskMerge& task : report.tasks) {
    const std::string shard = task.shard.ToString();
    if (!task.refused.empty()) {
      std::fprintf(stderr, "shard %s not merged: %s\n", shard.c_str(),
                   task.refused.c_str());
      continue;
    }
    copied += task.scenes_copied;
    std::printf(
        "shard %s: %d scenes merged (%d failed), %d already merged, %d "
        "stale%s\n",
        shard.c_str(), task.scenes_copied, task.scenes_failed,
        task.scenes_already, task.scenes_stale,
        task.scenes_stale > 0 ? " (changed since the task built them)" : "");
    if (task.crops_copied + task.crops_stale > 0) {
      std::printf("shard %s: crops of %d raw files merged, %d stale\n",
                  shard.c_str(), task.crops_copied, task.crops_stale);
    }
    if (!task.completed) {
      std::fprintf(stderr,
                   "shard %s did not complete: %s; rerun the same command to "
                   "build what it left\n",
                   shard.c_str(), task.incomplete.c_str());
    }
  }
  for (const ShardSpec& shard : report.missing) {
    std::fprintf(stderr,
                 "shard %s did not complete: no task manifest (it never "
                 "started, or was already merged); rerun the same command\n",
                 shard.ToString().c_str());
  }
  std::printf(
      "merged %zu task manifests: %d scenes merged, %d pruned, %d in the "
      "manifest; %.2f s\n",
      report.tasks.size(), copied, report.scenes_pruned, report.scenes_total,
      report.seconds);
}

// This executable's absolute path, which the batch scripts run.
std::string SelfPath() {
  char buffer[4096];
  const ssize_t n = readlink("/proc/self/exe", buffer, sizeof(buffer) - 1);
  if (n <= 0) return "dataset-build";
  return std::string(buffer, static_cast<std::size_t>(n));
}

std::string Absolute(const std::string& path) {
  if (path.starts_with("/")) return path;
  char buffer[4096];
  if (getcwd(buffer, sizeof(buffer)) == nullptr) return path;
  std::string cwd(buffer);
  std::string rel = path;
  while (rel.starts_with("./")) rel.erase(0, 2);
  return rel == "." ? cwd : cwd + "/" + rel;
}

// The build options every shard task passes on: those that change what is
// built (the others, --jobs and --device, come from the node).
std::vector<std::string> TaskArguments(const BuildOptions& options) {
  std::vector<std::string> args;
  args.push_back("--max-shift");
  args.push_back(std::to_string(options.align.max_shift));
  if (options.force) args.push_back("--force");
  if (options.verify) args.push_back("--verify");
  if (options.decode_in_process) args.push_back("--decode-in-process");
  if (options.huge_pages) args.push_back("--huge-pages");
  if (options.decode_timeout_s > 0) {
    args.push_back("--decode-timeout");
    args.push_back(std::to_string(options.decode_timeout_s));
  }
  if (options.mem_bytes > 0) {
    args.push_back("--mem");
    args.push_back(std::to_string(options.mem_bytes));
  }
  if (options.align.gpu_memory_bytes > 0) {
    args.push_back("--gpu-mem");
    args.push_back(std::to_string(options.align.gpu_memory_bytes));
  }
  return args;
}

}  // namespace

int RunMergeCommand(const CommandLine& command_line) {
  MergeOptions options;
  options.build = command_line.build;
  options.build.ResolveDefaults();
  options.expected_shards = command_line.cluster.shards;
  FileSystem& fs = RealFileSystem();
  Result<MergeReport> report = RunMerge(options, fs);
  if (!report.ok()) {
    PrintError(report.status());
    return ExitFor(report.status());
  }
  PrintMergeReport(*report, options.build.json);
  return report->ExitCode();
}

int RunSlurmCommand(const CommandLine& command_line) {
  BuildOptions options = command_line.build;
  options.ResolveDefaults();
  FileSystem& fs = RealFileSystem();
  Result<FileInfo> root = fs.Stat(options.root);
  if (!root.ok() || root->type != FileType::kDirectory) {
    PrintError(Status::InvalidArgument("dataset root " + options.root +
                                       " is not a readable directory"));
    return 2;
  }
  SlurmJob job;
  job.binary = SelfPath();
  job.root = CanonicalDatasetRoot(options.root);
  job.db_path = Absolute(options.db_path);
  job.masks_dir = Absolute(options.masks_dir);
  if (options.crops) job.crops_dir = Absolute(options.crops_dir);
  job.shards = command_line.cluster.shards;
  job.task_args = TaskArguments(options);
  job.sbatch_args = command_line.cluster.sbatch_args;

  // Tasks open the main manifest read-only, so one written by an older
  // dataset-build is migrated here, once, before they start (unless a
  // build holds it: then that build migrates it).
  if (fs.Stat(options.db_path).ok()) {
    Result<std::unique_ptr<BuildLock>> lock =
        BuildLock::Acquire(options.db_path, /*wait=*/false);
    if (lock.ok()) {
      Result<std::unique_ptr<Manifest>> migrated =
          Manifest::Open(options.db_path, OpenMode::kReadWrite);
      if (!migrated.ok()) {
        PrintError(migrated.status());
        return 1;
      }
    }
  }

  // The scripts are kept beside the task manifests, for the record and
  // for submitting by hand.
  const std::string dir = ShardsDir(job.db_path) + "/slurm";
  const std::string task_path = dir + "/shard-tasks.sbatch";
  const std::string merge_path = dir + "/merge.sbatch";
  Status written = fs.CreateDirectories(dir).WithContext("creating " + dir);
  for (const auto& [path, text] : {std::pair{task_path, TaskScript(job)},
                                   std::pair{merge_path, MergeScript(job)}}) {
    if (!written.ok()) break;
    written = fs.WriteFileAtomically(
        path,
        {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()});
  }
  if (!written.ok()) {
    PrintError(written);
    return 1;
  }

  if (command_line.cluster.print) {
    std::string task_args, merge_args;
    for (const std::string& arg : TaskSbatchArgs(job)) {
      task_args.append(" ").append(ShellQuote(arg));
    }
    for (const std::string& arg : MergeSbatchArgs(job, "$array")) {
      // The dependency names the array's id, which the shell fills in.
      const bool dependency = arg.find("$array") != std::string::npos;
      merge_args.append(dependency ? " \"" : " ")
          .append(dependency ? arg : ShellQuote(arg))
          .append(dependency ? "\"" : "");
    }
    std::printf(
        "wrote %s\n  and %s\nsubmit them with:\n  array=$(sbatch%s %s)\n  "
        "sbatch%s %s\n",
        task_path.c_str(), merge_path.c_str(), task_args.c_str(),
        ShellQuote(task_path).c_str(), merge_args.c_str(),
        ShellQuote(merge_path).c_str());
    return 0;
  }

  ProcessRunner runner;
  Result<Submission> submission =
      SubmitJobs(job, task_path, merge_path, runner);
  if (!submission.ok()) {
    PrintError(submission.status());
    return 1;
  }
  std::printf(
      "submitted %d shard tasks as job array %s and the merge as job %s (it "
      "runs when every task has ended)\nwatch them with: squeue -j %s,%s\n",
      job.shards, submission->array_job_id.c_str(),
      submission->merge_job_id.c_str(), submission->array_job_id.c_str(),
      submission->merge_job_id.c_str());
  // The ids alone on the last line, for scripts.
  std::printf("%s %s\n", submission->array_job_id.c_str(),
              submission->merge_job_id.c_str());
  return 0;
}

}  // namespace dsb
