// A small cache of large plane buffers, so that a plane about to be written
// in full reuses the pages of one released a moment ago instead of
// faulting in (and having the kernel zero) fresh ones.
//
// Why: the build decodes one capture after another at the same size, and a
// fresh 96 MB plane (24 MP of floats) cost the isolated decode ~20 % of its
// CPU time in page faults and zeroing alone (perf, tests/bench/
// decode_bench), about as much as copying the pixels into it.
//
// Acquire returns a plane (Plane::Adopt) of unwritten floats: the caller
// writes every entry. When that plane (or whatever it was moved into) is
// destroyed, its buffer comes back here; at most `max_free` buffers are
// kept (others are freed at once), only buffers of the exact size asked for
// are reused, a request no kept buffer fits frees them all before it
// allocates, and the kept ones are freed with the pool. Planes may outlive
// the pool: their buffers are then freed on release.
//
// Memory: at most max_free buffers of the size last asked for. A buffer is
// allocated only when none is kept, so the buffers held and kept never
// outnumber the most held at once (plan/memory_plan.h counts those).
//
// Thread safety: Acquire and releases may happen on any threads at once.
#pragma once

#include <cstddef>
#include <memory>

#include "core/plane.h"

namespace dsb {

class PlanePool {
 public:
  explicit PlanePool(std::size_t max_free = 2);
  ~PlanePool();
  PlanePool(const PlanePool&) = delete;
  PlanePool& operator=(const PlanePool&) = delete;

  // A width x height plane whose contents are undefined (throws
  // std::bad_alloc like any allocation).
  Plane<float> Acquire(int width, int height) const;

  // For tests: buffers kept for reuse now.
  std::size_t free_buffers() const;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace dsb
