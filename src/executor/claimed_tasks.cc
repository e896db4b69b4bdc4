#include "executor/claimed_tasks.h"

#include <utility>

namespace dsb {

std::size_t ClaimedTasks::Add(std::function<void()> task) {
  tasks_.push_back(std::move(task));
  return tasks_.size() - 1;
}

void ClaimedTasks::Seal() {
  claimed_ = std::make_unique<std::atomic<bool>[]>(tasks_.size());
  done_.assign(tasks_.size(), false);
}

void ClaimedTasks::Run(std::size_t i) {
  if (claimed_[i].exchange(true)) return;
  tasks_[i]();
  {
    std::lock_guard lock(mutex_);
    done_[i] = true;
  }
  ended_.notify_all();
}

void ClaimedTasks::Need(std::size_t i) {
  Run(i);
  std::unique_lock lock(mutex_);
  ended_.wait(lock, [&] { return static_cast<bool>(done_[i]); });
}

void ClaimedTasks::NeedAll() {
  for (std::size_t i = 0; i < tasks_.size(); ++i) Need(i);
}

void ClaimedTasks::Spawn(tbb::task_group& group) {
  for (std::size_t i = 0; i < tasks_.size(); ++i) {
    group.run([this, i] { Run(i); });
  }
}

}  // namespace dsb
