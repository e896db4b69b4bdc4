// Submitting the shard array and its merge with sbatch.
//
// sbatch runs behind the CommandRunner interface so the submission logic
// (job ids, the dependency, what happens when the second submission fails)
// is unit tested with a fake; the real runner spawns the program found in
// PATH and captures its standard output (--parsable prints "id" or
// "id;cluster").
//
// Thread safety: a CommandRunner is used by one thread at a time.
#pragma once

#include <string>
#include <vector>

#include "common/result.h"
#include "slurm/batch_scripts.h"

namespace dsb {

class CommandRunner {
 public:
  virtual ~CommandRunner() = default;
  // Runs argv (argv[0] looked up in PATH) and returns its standard output;
  // an error with its standard error text when it cannot start or exits
  // non-zero.
  virtual Result<std::string> Run(const std::vector<std::string>& argv) = 0;
};

// Spawns real processes; stderr of the child goes to ours and is also
// kept for the error message.
class ProcessRunner : public CommandRunner {
 public:
  Result<std::string> Run(const std::vector<std::string>& argv) override;
};

struct Submission {
  std::string array_job_id;
  std::string merge_job_id;
};

// Submits the task script as the array, then the merge script depending
// on it (afterany). If the merge cannot be submitted the array still runs:
// the error says so and how to merge by hand.
Result<Submission> SubmitJobs(const SlurmJob& job,
                              const std::string& task_script_path,
                              const std::string& merge_script_path,
                              CommandRunner& runner);

// The job id in sbatch --parsable output ("123" or "123;cluster\n"), or
// "" when there is none.
std::string ParseJobId(const std::string& parsable_output);

}  // namespace dsb
