// Memory for large image buffers: 2 MiB-aligned, on transparent huge pages
// only when the build asks for them (--huge-pages).
//
// Why opt-in: whether huge pages help depends on the host, not on us. On
// this project's VM (2 cores, a Firecracker guest) both answers have been
// measured, months apart: once a 15 x 60 MP build took 15.2 s with huge
// pages and 40.6 s without (4 KiB first-touch faults cost ~15 us each);
// on 2 December 2026 the same build took 16.7-18.1 s with them and
// 4.8-5.0 s without (a fresh 2 MiB page faulted in at 0.08 GB/s, as the
// host backs again the guest memory it has reclaimed, while 4 KiB pages
// came at 2.6 GB/s). The floor the issue measures us against, LibRaw's
// own decode, gets the system's default pages; by default so do we, so
// the ratio does not hinge on the host. The price is paid on every pass
// over a plane: with 4 KiB pages the TLB misses more, and a 24 MP mask +
// PNG took 2.42-2.50 ms/MP against 1.90-2.07 on huge pages (mask_bench,
// same run). Where huge pages are measured faster end to end (try both
// with --force on one scene), --huge-pages turns them on for the build's
// planes and its decode workers' buffers.
//
// Thread safety: the functions are thread safe (malloc and madvise are;
// the policy is an atomic, set once before a build starts).
#pragma once

#include <cstddef>
#include <new>

namespace dsb {

// Buffers at least this large are aligned to it and, when huge pages are
// on, advised as huge pages.
inline constexpr std::size_t kLargePageBytes = std::size_t{2} << 20;

// The process's page policy: off unless the build sets it (--huge-pages).
void SetHugePages(bool on);
bool HugePagesOn();

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
