#include "slurm/sbatch.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>

extern char** environ;

namespace dsb {

namespace {

std::string ReadAll(int fd) {
  std::string text;
  char buffer[4096];
  while (true) {
    const ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    text.append(buffer, static_cast<std::size_t>(n));
  }
  return text;
}

std::string Joined(const std::vector<std::string>& argv) {
  std::string line;
  for (const std::string& arg : argv) line += (line.empty() ? "" : " ") + arg;
  return line;
}

}  // namespace

Result<std::string> ProcessRunner::Run(const std::vector<std::string>& argv) {
  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC) != 0) {
    return Status::IoError(std::string("pipe: ") + std::strerror(errno));
  }
  if (pipe2(err, O_CLOEXEC) != 0) {
    close(out[0]);
    close(out[1]);
    return Status::IoError(std::string("pipe: ") + std::strerror(errno));
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err[1], STDERR_FILENO);
  std::vector<char*> args;
  for (const std::string& arg : argv)
    args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  const int rc =
      posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(out[1]);
  close(err[1]);
  if (rc != 0) {
    close(out[0]);
    close(err[0]);
    return Status::NotFound("cannot run " + argv[0] + ": " + std::strerror(rc) +
                            (rc == ENOENT ? " (is Slurm installed here, and "
                                            "sbatch in PATH?)"
                                          : ""));
  }
  // sbatch prints little: read stdout, then stderr, without deadlock risk.
  std::string output = ReadAll(out[0]);
  std::string errors = ReadAll(err[0]);
  close(out[0]);
  close(err[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    while (!errors.empty() &&
           std::isspace(static_cast<unsigned char>(errors.back()))) {
      errors.pop_back();
    }
    return Status::IoError(
        Joined(argv) + " failed" +
        (WIFEXITED(status)
             ? " (exit " + std::to_string(WEXITSTATUS(status)) + ")"
             : " (killed)") +
        (errors.empty() ? "" : ": " + errors));
  }
  return output;
}

std::string ParseJobId(const std::string& parsable_output) {
  std::string id;
  for (char c : parsable_output) {
    if (!std::isdigit(static_cast<unsigned char>(c))) break;
    id += c;
  }
  return id;
}

Result<Submission> SubmitJobs(const SlurmJob& job,
                              const std::string& task_script_path,
                              const std::string& merge_script_path,
                              CommandRunner& runner) {
  Submission submission;
  std::vector<std::string> argv = {"sbatch"};
  for (const std::string& arg : TaskSbatchArgs(job)) argv.push_back(arg);
  argv.push_back(task_script_path);
  DSB_ASSIGN_OR_RETURN(std::string output, runner.Run(argv));
  submission.array_job_id = ParseJobId(output);
  if (submission.array_job_id.empty()) {
    return Status::Internal("sbatch printed no job id for the shard array ('" +
                            output + "')");
  }
  argv = {"sbatch"};
  for (const std::string& arg : MergeSbatchArgs(job, submission.array_job_id)) {
    argv.push_back(arg);
  }
  argv.push_back(merge_script_path);
  Result<std::string> merged = runner.Run(argv);
  std::string merge_id = merged.ok() ? ParseJobId(*merged) : "";
  if (merge_id.empty()) {
    return Status::IoError(
        "the shard tasks were submitted as job array " +
        submission.array_job_id + ", but the merge job was not: " +
        (merged.ok() ? "sbatch printed no job id" : merged.status().message()) +
        ". Run `sbatch --dependency=afterany:" + submission.array_job_id + " " +
        merge_script_path + "` (or `dataset-build merge` once they " +
        "end), or cancel them with `scancel " + submission.array_job_id + "`");
  }
  submission.merge_job_id = merge_id;
  return submission;
}

}  // namespace dsb
