// ClaimedTasks: work a scene prepares once (each GT's correlator, each GT's
// side of RawNIND's figures) that some stage then needs, run by whichever
// thread claims it first.
//
// A task group's wait would do for "run it here unless a worker started
// it", but while it waits it takes any other task of the arena: in the
// scene pipeline, the next capture's decode, which blocks for the decode's
// length, and the stage that waited stayed shut until that returned (a
// 60 MP scene's first capture aligned ~0.4 s after its GT was ready while
// the other thread idled). Need runs the task itself when nobody claimed
// it, else blocks until it ends, taking no other work. The tasks must not
// wait on TBB work themselves (they are plain computations), so a thread
// blocked in Need always sees its task end.
//
// Thread safety: after Seal, Run, Need, NeedAll and Spawn may be called
// from any threads at once; Add only before Seal.
#pragma once

#include <tbb/task_group.h>

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

namespace dsb {

class ClaimedTasks {
 public:
  // Returns the task's index.
  std::size_t Add(std::function<void()> task);
  // Before Run, Need, NeedAll or Spawn.
  void Seal();
  std::size_t size() const { return tasks_.size(); }
  // Runs task i unless a thread has claimed it already.
  void Run(std::size_t i);
  // Returns once task i has ended (run here when nobody had claimed it).
  void Need(std::size_t i);
  void NeedAll();
  // Offers every task to `group`'s threads (each Run, so a task claimed
  // since is skipped).
  void Spawn(tbb::task_group& group);

 private:
  std::vector<std::function<void()>> tasks_;
  std::unique_ptr<std::atomic<bool>[]> claimed_;
  std::vector<bool> done_;  // under mutex_
  std::mutex mutex_;
  std::condition_variable ended_;
};

}  // namespace dsb
