// One build per manifest at a time.
//
// A build holds an exclusive flock() on "<manifest>.lock" for its whole run
// and writes its pid there, so a second dataset-build on the same manifest
// is refused at once with a message naming the first (or waits, with
// --wait). flock locks die with their process, so a build killed with
// SIGKILL never leaves a stale lock behind. Read-only commands (--status,
// export, sqlite3 queries) need no lock: SQLite's WAL mode lets them read
// while a build writes.
//
// Shard tasks (shard/shard.h) read the main manifest as their cache while
// they build and hold its lock shared: many tasks run at once, but a build
// or a merge (exclusive) is refused while any runs, and they wait for a
// build or merge in progress.
//
// Thread safety: a BuildLock is owned by one thread.
#pragma once

#include <memory>
#include <string>

#include "common/result.h"

namespace dsb {

// A lock held for a whole build, released when destroyed (the executor
// takes it through BuildEnvironment::lock; tests fake it).
class HeldLock {
 public:
  virtual ~HeldLock() = default;
};

enum class LockMode { kExclusive, kShared };

class BuildLock final : public HeldLock {
 public:
  // Takes the lock for `manifest_path`. With `wait`, blocks until the other
  // build ends; without, fails with kBusy naming the holder's pid.
  static Result<std::unique_ptr<BuildLock>> Acquire(
      const std::string& manifest_path, bool wait,
      LockMode mode = LockMode::kExclusive);
  ~BuildLock() override;
  BuildLock(const BuildLock&) = delete;
  BuildLock& operator=(const BuildLock&) = delete;

  const std::string& path() const { return path_; }

 private:
  BuildLock(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  std::string path_;
  int fd_ = -1;
};

}  // namespace dsb
