#include "executor/build_lock.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_support.h"

namespace dsb {
namespace {

TEST(BuildLockTest, SecondHolderIsRefusedWithThePid) {
  testing::TempDir dir;
  const std::string db = dir.Join("manifest.db");
  auto first = BuildLock::Acquire(db, /*wait=*/false);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  // flock conflicts between open file descriptions, even in one process;
  // a child process makes the scenario the real one.
  const pid_t child = fork();
  if (child == 0) {
    auto second = BuildLock::Acquire(db, /*wait=*/false);
    const bool refused =
        !second.ok() && second.status().code() == Status::Code::kBusy &&
        second.status().message().find(std::to_string(getppid())) !=
            std::string::npos &&
        second.status().message().find("--wait") != std::string::npos;
    _exit(refused ? 0 : 1);
  }
  int status = 0;
  waitpid(child, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

TEST(BuildLockTest, ReleasedOnDestruction) {
  testing::TempDir dir;
  const std::string db = dir.Join("manifest.db");
  {
    auto first = BuildLock::Acquire(db, false);
    ASSERT_TRUE(first.ok());
  }
  auto again = BuildLock::Acquire(db, false);
  EXPECT_TRUE(again.ok());
}

TEST(BuildLockTest, UnwritableDirectoryIsAnIoErrorNamingTheFile) {
  auto lock = BuildLock::Acquire("/nonexistent-dir/manifest.db", false);
  ASSERT_FALSE(lock.ok());
  EXPECT_EQ(lock.status().code(), Status::Code::kIoError);
  EXPECT_NE(lock.status().message().find("/nonexistent-dir/manifest.db.lock"),
            std::string::npos);
}

}  // namespace
}  // namespace dsb
