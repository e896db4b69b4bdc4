#include "slurm/batch_scripts.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "slurm/sbatch.h"

namespace dsb {
namespace {

SlurmJob Job() {
  SlurmJob job;
  job.binary = "/opt/dsb/bin/dataset-build";
  job.root = "/shared/it's data";
  job.db_path = "/shared/it's data/dataset-build.db";
  job.masks_dir = "/shared/it's data/masks";
  job.shards = 4;
  job.task_args = {"--max-shift", "64"};
  job.sbatch_args = {
      "--partition=gpu", "--gres=gpu:1", "-c",    "8",
      "--time",          "2:00:00",      "--mem", "16G",
      "--requeue",       "-A",           "lab",   "--output=logs/%A_%a.out"};
  return job;
}

TEST(BatchScriptsTest, ShellQuoteSurvivesQuotes) {
  EXPECT_EQ(ShellQuote("plain"), "'plain'");
  EXPECT_EQ(ShellQuote("it's"), "'it'\\''s'");
}

TEST(BatchScriptsTest, TaskScriptRunsOneShardPerArrayIndex) {
  const std::string script = TaskScript(Job());
  EXPECT_TRUE(script.starts_with("#!/bin/bash\n"));
  EXPECT_NE(script.find("#SBATCH --array=0-3\n"), std::string::npos);
  EXPECT_NE(script.find("--shard \"${SLURM_ARRAY_TASK_ID}/4\""),
            std::string::npos);
  EXPECT_NE(script.find("jobs=\"${SLURM_CPUS_PER_TASK:-$(nproc)}\""),
            std::string::npos);
  EXPECT_NE(script.find("--jobs \"$jobs\""), std::string::npos);
  EXPECT_NE(script.find("--device auto"), std::string::npos);
  EXPECT_NE(script.find("--wait"), std::string::npos);
  EXPECT_NE(script.find("exec '/opt/dsb/bin/dataset-build'"),
            std::string::npos);
  EXPECT_NE(script.find("'/shared/it'\\''s data'"), std::string::npos);
  EXPECT_NE(script.find("'--max-shift'"), std::string::npos);
}

TEST(BatchScriptsTest, MergeScriptKnowsTheShardCount) {
  const std::string script = MergeScript(Job());
  EXPECT_NE(script.find(" merge"), std::string::npos);
  EXPECT_NE(script.find("--shards 4"), std::string::npos);
  EXPECT_NE(script.find("--db '/shared/it'\\''s data/dataset-build.db'"),
            std::string::npos);
  EXPECT_EQ(script.find("--shard "), std::string::npos);
}

TEST(BatchScriptsTest, CropsGoToEveryTaskAndTheMergeKnowsTheirDirectory) {
  const std::string plain_task = TaskScript(Job());
  EXPECT_EQ(plain_task.find("--crops"), std::string::npos);
  EXPECT_EQ(MergeScript(Job()).find("--crops"), std::string::npos);

  SlurmJob job = Job();
  job.crops_dir = "/shared/it's data/crops";
  const std::string task = TaskScript(job);
  EXPECT_NE(task.find("    --crops \\\n"), std::string::npos) << task;
  EXPECT_NE(task.find("--crops-dir '/shared/it'\\''s data/crops'"),
            std::string::npos)
      << task;
  // The root stays the last word of the command.
  EXPECT_LT(task.find("--crops-dir"), task.find("'/shared/it'\\''s data'\n"));
  const std::string merge = MergeScript(job);
  EXPECT_NE(merge.find("--crops-dir '/shared/it'\\''s data/crops'"),
            std::string::npos)
      << merge;
  // The merge crops nothing: it only folds and prunes.
  EXPECT_EQ(merge.find("--crops \\\n"), std::string::npos) << merge;
}

TEST(BatchScriptsTest, TheArrayGetsEveryOptionTheMergeOnlyTheCheapOnes) {
  const SlurmJob job = Job();
  std::vector<std::string> task = TaskSbatchArgs(job);
  EXPECT_EQ(task.front(), "--parsable");
  EXPECT_EQ(std::vector<std::string>(task.begin() + 1, task.end()),
            job.sbatch_args);
  EXPECT_EQ(MergeSbatchArgs(job, "123"),
            (std::vector<std::string>{"--parsable", "--dependency=afterany:123",
                                      "--partition=gpu", "--time", "2:00:00",
                                      "--requeue", "-A", "lab"}));
}

class FakeRunner : public CommandRunner {
 public:
  Result<std::string> Run(const std::vector<std::string>& argv) override {
    calls.push_back(argv);
    if (calls.size() == 2 && fail_merge) {
      return Status::IoError("sbatch: error: invalid partition");
    }
    return calls.size() == 1 ? std::string("4242\n")
                             : std::string("4243;cluster\n");
  }
  std::vector<std::vector<std::string>> calls;
  bool fail_merge = false;
};

TEST(SubmitJobsTest, TheMergeDependsOnTheArrayById) {
  FakeRunner runner;
  auto submission =
      SubmitJobs(Job(), "/s/task.sbatch", "/s/merge.sbatch", runner);
  ASSERT_TRUE(submission.ok()) << submission.status().ToString();
  EXPECT_EQ(submission->array_job_id, "4242");
  EXPECT_EQ(submission->merge_job_id, "4243");
  ASSERT_EQ(runner.calls.size(), 2u);
  EXPECT_EQ(runner.calls[0].front(), "sbatch");
  EXPECT_EQ(runner.calls[0].back(), "/s/task.sbatch");
  EXPECT_EQ(runner.calls[1][2], "--dependency=afterany:4242");
  EXPECT_EQ(runner.calls[1].back(), "/s/merge.sbatch");
}

TEST(SubmitJobsTest, AFailedMergeSubmissionSaysWhatToDo) {
  FakeRunner runner;
  runner.fail_merge = true;
  auto submission =
      SubmitJobs(Job(), "/s/task.sbatch", "/s/merge.sbatch", runner);
  ASSERT_FALSE(submission.ok());
  const std::string message = submission.status().message();
  EXPECT_NE(message.find("job array 4242"), std::string::npos) << message;
  EXPECT_NE(message.find("invalid partition"), std::string::npos) << message;
  EXPECT_NE(message.find("scancel 4242"), std::string::npos) << message;
}

TEST(SubmitJobsTest, JobIdsFromParsableOutput) {
  EXPECT_EQ(ParseJobId("17\n"), "17");
  EXPECT_EQ(ParseJobId("17;big\n"), "17");
  EXPECT_EQ(ParseJobId("Submitted batch job 17"), "");
}

TEST(ProcessRunnerTest, CapturesOutputAndReportsFailures) {
  ProcessRunner runner;
  auto out = runner.Run({"sh", "-c", "echo 99; echo noise >&2"});
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(*out, "99\n");
  auto failed = runner.Run({"sh", "-c", "echo bad option >&2; exit 3"});
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.status().message().find("exit 3"), std::string::npos);
  EXPECT_NE(failed.status().message().find("bad option"), std::string::npos);
  auto missing = runner.Run({"no-such-sbatch-here"});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("no-such-sbatch-here"),
            std::string::npos);
}

}  // namespace
}  // namespace dsb
