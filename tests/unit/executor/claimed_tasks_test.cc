// ClaimedTasks: each task runs once whoever asks, Need returns only once its
// task ended, and a thread blocked in Need takes no other work.
#include "executor/claimed_tasks.h"

#include <gtest/gtest.h>
#include <tbb/global_control.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>
#include <tbb/task_group.h>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>
#include <vector>

namespace dsb {
namespace {

TEST(ClaimedTasksTest, EachTaskRunsOnceWhoeverAsks) {
  constexpr int kTasks = 64;
  for (int round = 0; round < 20; ++round) {
    std::vector<std::atomic<int>> runs(kTasks);
    ClaimedTasks tasks;
    for (int i = 0; i < kTasks; ++i) {
      EXPECT_EQ(tasks.Add([&runs, i] { ++runs[i]; }),
                static_cast<std::size_t>(i));
    }
    tasks.Seal();
    tbb::task_group group;
    tasks.Spawn(group);
    // Needed from several threads at once while the group's workers run them.
    tbb::parallel_for(0, 4 * kTasks, [&](int j) {
      tasks.Need(static_cast<std::size_t>(j % kTasks));
      EXPECT_EQ(runs[j % kTasks].load(), 1);
    });
    tasks.NeedAll();
    group.wait();
    for (int i = 0; i < kTasks; ++i) EXPECT_EQ(runs[i].load(), 1) << i;
  }
}

// Need on a task another thread is running waits for its end, and does not
// run other work meanwhile (the pipeline's next decode, in the build).
TEST(ClaimedTasksTest, NeedWaitsForARunningTaskWithoutTakingOtherWork) {
  std::promise<void> started, release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<bool> ended{false};
  ClaimedTasks tasks;
  tasks.Add([&] {
    started.set_value();
    released.wait();
    ended = true;
  });
  tasks.Seal();
  std::thread runner([&] { tasks.Run(0); });
  started.get_future().wait();

  tbb::task_arena arena(2);
  std::atomic<bool> other_ran_on_needer{false};
  std::atomic<bool> needed{false};
  arena.execute([&] {
    tbb::task_group others;
    const std::thread::id needer = std::this_thread::get_id();
    for (int i = 0; i < 8; ++i) {
      others.run([&, needer] {
        if (std::this_thread::get_id() == needer && !needed.load()) {
          other_ran_on_needer = true;
        }
      });
    }
    std::thread unblock([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      release.set_value();
    });
    tasks.Need(0);
    needed = true;
    EXPECT_TRUE(ended.load());
    unblock.join();
    others.wait();
  });
  runner.join();
  EXPECT_FALSE(other_ran_on_needer.load());
}

}  // namespace
}  // namespace dsb
