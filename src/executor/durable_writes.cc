#include "executor/durable_writes.h"

#include <algorithm>
#include <system_error>
#include <utility>

namespace dsb {

DurableWrites::DurableWrites(FileSystem& fs, int threads,
                             std::size_t max_queued_bytes)
    : fs_(fs), max_queued_bytes_(max_queued_bytes) {
  for (int i = 0; i < std::max(1, threads); ++i) {
    try {
      threads_.emplace_back([this] { Serve(); });
    } catch (const std::system_error&) {
      break;  // none at all: Write writes in the caller's thread
    }
  }
}

DurableWrites::~DurableWrites() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    closing_ = true;
  }
  changed_.notify_all();
  for (std::thread& thread : threads_) thread.join();
}

void DurableWrites::Write(std::string path, std::vector<std::uint8_t> bytes,
                          std::function<void(const Status&)> done) {
  if (threads_.empty()) {
    const Status written = fs_.WriteFileAtomically(path, bytes);
    if (done) done(written);
    return;
  }
  std::unique_lock<std::mutex> lock(mutex_);
  // One write is always let in: a file larger than the bound waits only
  // for the queue to empty.
  changed_.wait(lock, [&] {
    return unfinished_ == 0 ||
           queued_bytes_ + bytes.size() <= max_queued_bytes_;
  });
  queued_bytes_ += bytes.size();
  ++unfinished_;
  queue_.push_back({std::move(path), std::move(bytes), std::move(done)});
  lock.unlock();
  changed_.notify_all();
}

void DurableWrites::Wait() {
  std::unique_lock<std::mutex> lock(mutex_);
  changed_.wait(lock, [&] { return unfinished_ == 0; });
}

void DurableWrites::Serve() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    changed_.wait(lock, [&] { return closing_ || !queue_.empty(); });
    if (queue_.empty()) return;  // closing, and nothing left to write
    Job job = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    const Status written = fs_.WriteFileAtomically(job.path, job.bytes);
    if (job.done) job.done(written);
    const std::size_t size = job.bytes.size();
    job = Job();  // its bytes go before the queue may grow again
    lock.lock();
    queued_bytes_ -= size;
    --unfinished_;
    changed_.notify_all();
  }
}

}  // namespace dsb
