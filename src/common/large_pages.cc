#include "common/large_pages.h"

#include <sys/mman.h>

#include <atomic>
#include <cstdlib>

namespace dsb {
namespace {

std::atomic<bool> huge_pages{false};

}  // namespace

void SetHugePages(bool on) { huge_pages.store(on); }

bool HugePagesOn() { return huge_pages.load(); }

void* AllocateLarge(std::size_t bytes) {
  if (bytes < kLargePageBytes) return ::operator new(bytes);
  const std::size_t rounded =
      (bytes + kLargePageBytes - 1) / kLargePageBytes * kLargePageBytes;
  void* data = std::aligned_alloc(kLargePageBytes, rounded);
  if (data == nullptr) throw std::bad_alloc();
  // Advice only: failure (huge pages disabled, old kernel) changes nothing.
  if (HugePagesOn()) ::madvise(data, rounded, MADV_HUGEPAGE);
  return data;
}

void FreeLarge(void* data, std::size_t bytes) {
  if (bytes < kLargePageBytes) {
    ::operator delete(data);
  } else {
    std::free(data);
  }
}

}  // namespace dsb
