#include "raw/shared_planes.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace dsb {

namespace {

// One memfd and this process's mapping of it.
struct Buffer {
  int fd = -1;
  void* data = nullptr;
  std::size_t bytes = 0;
  // The processes that wrote it last (most recent last): a worker keeps
  // a few mappings (raw/decode_worker.cc), so more would mostly be stale.
  static constexpr std::size_t kFillers = 4;
  std::array<std::uint64_t, kFillers> fillers{};

  bool FilledBy(std::uint64_t filler) const {
    return filler != 0 &&
           std::find(fillers.begin(), fillers.end(), filler) != fillers.end();
  }
  void NoteFiller(std::uint64_t filler) {
    if (filler == 0) return;
    auto at = std::find(fillers.begin(), fillers.end(), filler);
    if (at == fillers.end()) at = fillers.begin();  // the oldest goes
    std::rotate(at, at + 1, fillers.end());
    fillers.back() = filler;
  }

  void Free() const {
    // The pages go now, even from a worker that keeps the memfd mapped
    // (raw/decode_worker.cc keeps a few mappings between requests).
    if (fd >= 0 && bytes > 0) {
      ::fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0,
                  static_cast<off_t>(bytes));
    }
    if (data != nullptr) ::munmap(data, bytes);
    if (fd >= 0) ::close(fd);
  }
};

// A sealed memfd of `bytes`, mapped and populated (its pages are written
// by the worker through its own mapping; ours then needs no faults).
Result<Buffer> MakeBuffer(std::size_t bytes) {
  const int fd = ::memfd_create("dsb-plane", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) {
    return Status::Unsupported(std::string("cannot create a shared plane: ") +
                               std::strerror(errno));
  }
  Buffer buffer{fd, nullptr, bytes};
  if (::ftruncate(fd, static_cast<off_t>(bytes)) != 0 ||
      ::fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) !=
          0) {
    const int error = errno;
    buffer.Free();
    return Status::Unsupported(std::string("cannot size a shared plane: ") +
                               std::strerror(error));
  }
  void* data = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                      MAP_SHARED | MAP_POPULATE, fd, 0);
  if (data == MAP_FAILED) {
    const int error = errno;
    buffer.Free();
    return Status::Unsupported(std::string("cannot map a shared plane: ") +
                               std::strerror(error));
  }
  buffer.data = data;
  return buffer;
}

}  // namespace

struct SharedPlanePool::State {
  std::mutex mutex;
  std::vector<Buffer> free;  // most recently released last
  std::size_t max_free = 0;
  bool closed = false;  // the pool is gone: releases free at once

  // A buffer of exactly `bytes`, reused when one is kept (the newest one
  // `filler` wrote, else the newest); on a miss the kept ones (all of
  // other sizes) are freed first.
  Result<Buffer> Take(std::size_t bytes, std::uint64_t filler) {
    std::vector<Buffer> stale;
    {
      std::lock_guard<std::mutex> lock(mutex);
      std::optional<std::size_t> chosen;
      for (std::size_t i = free.size(); i-- > 0;) {
        if (free[i].bytes != bytes) continue;
        if (!chosen.has_value()) chosen = i;
        if (free[i].FilledBy(filler)) {
          chosen = i;
          break;
        }
      }
      if (chosen.has_value()) {
        Buffer buffer = free[*chosen];
        free.erase(free.begin() + static_cast<std::ptrdiff_t>(*chosen));
        buffer.NoteFiller(filler);
        return buffer;
      }
      stale.swap(free);
    }
    for (const Buffer& buffer : stale) buffer.Free();
    DSB_ASSIGN_OR_RETURN(Buffer buffer, MakeBuffer(bytes));
    buffer.NoteFiller(filler);
    return buffer;
  }

  void Give(const Buffer& buffer) {
    {
      std::lock_guard<std::mutex> lock(mutex);
      if (!closed && max_free > 0) {
        if (free.size() >= max_free) {
          // The oldest goes: the newest is the likeliest size next.
          free.front().Free();
          free.erase(free.begin());
        }
        free.push_back(buffer);
        return;
      }
    }
    buffer.Free();
  }
};

SharedPlanePool::SharedPlanePool(std::size_t max_free)
    : state_(std::make_shared<State>()) {
  state_->max_free = max_free;
}

SharedPlanePool::~SharedPlanePool() {
  {
    std::lock_guard<std::mutex> lock(state_->mutex);
    state_->closed = true;  // leases still out free their buffers themselves
  }
  FreeKept();
}

void SharedPlanePool::FreeKept() const {
  std::vector<Buffer> free;
  {
    std::lock_guard<std::mutex> lock(state_->mutex);
    free.swap(state_->free);
  }
  for (const Buffer& buffer : free) buffer.Free();
}

Result<SharedPlanePool::Lease> SharedPlanePool::Acquire(
    int width, int height, std::uint64_t filler) const {
  const std::size_t bytes = static_cast<std::size_t>(width) *
                            static_cast<std::size_t>(height) * sizeof(float);
  if (bytes == 0) {
    return Status::InvalidArgument("a shared plane needs at least one pixel");
  }
  DSB_ASSIGN_OR_RETURN(const Buffer buffer, state_->Take(bytes, filler));
  // The release keeps the state alive, so a plane may outlive the pool.
  std::shared_ptr<void> keeper(
      buffer.data, [state = state_, buffer](void*) { state->Give(buffer); });
  Lease lease;
  lease.fd = buffer.fd;
  lease.plane = Plane<float>::Adopt(static_cast<float*>(buffer.data), width,
                                    height, std::move(keeper));
  return lease;
}

std::size_t SharedPlanePool::free_buffers() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->free.size();
}

}  // namespace dsb
