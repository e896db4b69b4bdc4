// Memory for large image buffers, on transparent huge pages where the kernel
// grants them on request.
//
// Why: many machines (VMs in particular) run transparent huge pages in
// "madvise" mode, where a fresh buffer is faulted in 4 KiB at a time. On this
// project's VM a first-touch fault costs about 15 us, so filling a 96 MB
// plane (one 24 MP capture as floats) spent ~0.35 s in the kernel, more than
// the work on it. Asking for huge pages on buffers of 2 MiB and more cuts
// the faults 512-fold; where huge pages are off, the request is a no-op.
//
// Thread safety: the functions are thread safe (malloc and madvise are).
#pragma once

#include <cstddef>
#include <new>

namespace dsb {

// Buffers at least this large are aligned to it and advised as huge pages.
inline constexpr std::size_t kLargePageBytes = std::size_t{2} << 20;

void* AllocateLarge(std::size_t bytes);  // throws std::bad_alloc
void FreeLarge(void* data, std::size_t bytes);

// A std::allocator replacement that sends large requests to AllocateLarge.
template <typename T>
struct LargePageAllocator {
  using value_type = T;
  LargePageAllocator() = default;
  template <typename U>
  LargePageAllocator(const LargePageAllocator<U>&) {}  // NOLINT: rebinding
  T* allocate(std::size_t n) {
    return static_cast<T*>(AllocateLarge(n * sizeof(T)));
  }
  void deallocate(T* p, std::size_t n) { FreeLarge(p, n * sizeof(T)); }
  template <typename U>
  bool operator==(const LargePageAllocator<U>&) const {
    return true;
  }
};

}  // namespace dsb
