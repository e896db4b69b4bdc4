#include "executor/build_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace dsb {

namespace {

std::string ReadHolder(int fd) {
  char buffer[64] = {};
  const ssize_t n = pread(fd, buffer, sizeof(buffer) - 1, 0);
  if (n <= 0) return "another process";
  std::string pid(buffer, static_cast<std::size_t>(n));
  while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) {
    pid.pop_back();
  }
  return "process " + pid;
}

}  // namespace

Result<std::unique_ptr<BuildLock>> BuildLock::Acquire(
    const std::string& manifest_path, bool wait, LockMode mode) {
  const int operation = mode == LockMode::kShared ? LOCK_SH : LOCK_EX;
  const std::string path = manifest_path + ".lock";
  const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    return Status::IoError("cannot create lock file " + path + ": " +
                           std::strerror(errno));
  }
  if (flock(fd, operation | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK) {
      const int err = errno;
      close(fd);
      return Status::IoError("cannot lock " + path + ": " + std::strerror(err));
    }
    if (!wait) {
      const std::string holder = ReadHolder(fd);
      close(fd);
      return Status::Busy("another dataset-build (" + holder +
                          ") is building manifest " + manifest_path +
                          " (a build, a merge or shard tasks); wait for it "
                          "to finish or pass --wait");
    }
    int rc;
    do {
      rc = flock(fd, operation);
    } while (rc != 0 && errno == EINTR);
    if (rc != 0) {
      const int err = errno;
      close(fd);
      return Status::IoError("cannot lock " + path + ": " + std::strerror(err));
    }
  }
  const std::string pid = std::to_string(getpid()) + "\n";
  // Shared holders each write their pid; the last one's names them all.
  if (ftruncate(fd, 0) != 0 || pwrite(fd, pid.data(), pid.size(), 0) !=
                                   static_cast<ssize_t>(pid.size())) {
    // The pid is only for the message of a refused second build.
  }
  return std::unique_ptr<BuildLock>(new BuildLock(path, fd));
}

BuildLock::~BuildLock() {
  if (fd_ >= 0) close(fd_);  // releases the flock
}

}  // namespace dsb
