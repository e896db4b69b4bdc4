#include "core/plane_pool.h"

#include <mutex>
#include <utility>
#include <vector>

#include "common/large_pages.h"

namespace dsb {

struct PlanePool::State {
  struct Buffer {
    void* data = nullptr;
    std::size_t bytes = 0;
  };
  std::mutex mutex;
  std::vector<Buffer> free;  // most recently released last
  std::size_t max_free = 0;
  bool closed = false;  // the pool is gone: releases free at once

  // A buffer of exactly `bytes`, reused when one is free. On a miss the
  // kept buffers (all of other sizes) are freed first: idle memory never
  // sits beside a fresh allocation (a scene of another size follows).
  void* Take(std::size_t bytes) {
    std::vector<Buffer> stale;
    {
      std::lock_guard<std::mutex> lock(mutex);
      for (std::size_t i = free.size(); i-- > 0;) {
        if (free[i].bytes == bytes) {
          void* data = free[i].data;
          free.erase(free.begin() + static_cast<std::ptrdiff_t>(i));
          return data;
        }
      }
      stale.swap(free);
    }
    for (const Buffer& buffer : stale) FreeLarge(buffer.data, buffer.bytes);
    return AllocateLarge(bytes);
  }

  void Give(void* data, std::size_t bytes) {
    {
      std::lock_guard<std::mutex> lock(mutex);
      if (!closed && max_free > 0) {
        if (free.size() >= max_free) {
          // The oldest goes: the newest is the likeliest size next.
          FreeLarge(free.front().data, free.front().bytes);
          free.erase(free.begin());
        }
        free.push_back({data, bytes});
        return;
      }
    }
    FreeLarge(data, bytes);
  }
};

PlanePool::PlanePool(std::size_t max_free) : state_(std::make_shared<State>()) {
  state_->max_free = max_free;
}

PlanePool::~PlanePool() {
  std::vector<State::Buffer> free;
  {
    std::lock_guard<std::mutex> lock(state_->mutex);
    state_->closed = true;
    free.swap(state_->free);
  }
  for (const State::Buffer& buffer : free) FreeLarge(buffer.data, buffer.bytes);
}

Plane<float> PlanePool::Acquire(int width, int height) const {
  const std::size_t bytes = static_cast<std::size_t>(width) *
                            static_cast<std::size_t>(height) * sizeof(float);
  if (bytes == 0) return Plane<float>();
  void* data = state_->Take(bytes);
  // The release keeps the state alive, so a plane may outlive the pool.
  std::shared_ptr<void> keeper(
      data, [state = state_, bytes](void* p) { state->Give(p, bytes); });
  return Plane<float>::Adopt(static_cast<float*>(data), width, height,
                             std::move(keeper));
}

std::size_t PlanePool::free_buffers() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->free.size();
}

}  // namespace dsb
