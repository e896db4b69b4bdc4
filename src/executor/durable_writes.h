// DurableWrites: files written durably (FileSystem::WriteFileAtomically:
// written, synced, renamed, directory synced) on threads of their own, so
// the threads that compute a scene never sleep in fsync.
//
// Why: a scene's masks were written by the thread that made them, and each
// write waited for two fsyncs (the file's and its directory's). On a
// 16-copy scene of 3.9 MP CRWs (2 threads) those waits were 0.2-3.5 ms
// each, up to 40 ms when another process kept the disk busy, and a core
// idled through every one of them (perf sched: the build's threads in D
// state in ext4_sync_file): the build's wall time ran 5-7 % above its CPU
// time. LibRaw's unpack, the floor the build is measured against, writes
// nothing.
//
// A scene's outcome is recorded only after Wait: every mask a manifest row
// names is on disk before the row is committed, as before; an interrupted
// build still finds a mask whole or not at all (temporary names, swept by
// the next run).
//
// Memory: the bytes queued and not yet written are bounded
// (max_queued_bytes; one write is always let in, whatever its size); Write
// blocks while the bound is reached. Where no thread can be started, Write
// writes in the caller's thread, as before.
//
// Thread safety: Write may be called from any threads at once; Wait from
// any thread. `done` callbacks run on the writer threads, one at a time
// per write, never after Wait returns for the writes queued before it.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/file_system.h"
#include "common/status.h"

namespace dsb {

class DurableWrites {
 public:
  // `fs` must outlive this; `threads` at least 1.
  DurableWrites(FileSystem& fs, int threads, std::size_t max_queued_bytes);
  // Finishes every queued write first.
  ~DurableWrites();
  DurableWrites(const DurableWrites&) = delete;
  DurableWrites& operator=(const DurableWrites&) = delete;

  // Queues `bytes` for `path`; `done` gets the write's status.
  void Write(std::string path, std::vector<std::uint8_t> bytes,
             std::function<void(const Status&)> done);
  // Returns when every write queued so far has finished.
  void Wait();

 private:
  struct Job {
    std::string path;
    std::vector<std::uint8_t> bytes;
    std::function<void(const Status&)> done;
  };
  void Serve();

  FileSystem& fs_;
  const std::size_t max_queued_bytes_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<Job> queue_;
  std::size_t queued_bytes_ = 0;  // of queue_ and the writes under way
  std::size_t unfinished_ = 0;    // queued or under way
  bool closing_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace dsb
