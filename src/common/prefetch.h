// Software prefetch of rows a loop will read next, for the passes that
// sample rows or bands of a frame: their next rows lie too far from the
// last (16-22 rows of 12-24 MP frames) for the hardware prefetcher, so
// each would otherwise come from memory a latency at a time when the loop
// first touches it. A prefetch changes no value, only when a line arrives.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace dsb {

inline constexpr std::size_t kCacheLine = 64;

// Fetches the cache lines of [begin, end) towards the core (prefetcht1,
// `locality` 2: into L2, so that lines fetched well ahead do not push the
// rows being read out of L1). Changes no memory.
inline void PrefetchBytes(const void* begin, const void* end) {
  const std::uintptr_t first =
      reinterpret_cast<std::uintptr_t>(begin) & ~std::uintptr_t{kCacheLine - 1};
  const std::uintptr_t last = reinterpret_cast<std::uintptr_t>(end);
  for (std::uintptr_t p = first; p < last; p += kCacheLine) {
    __builtin_prefetch(reinterpret_cast<const void*>(p), 0, 2);
  }
}

// Rows a loop reads in order within a window of a frame (the fine
// search's tiles, their clipping masks): each row lies a frame's stride
// (17-24 KB at 12-24 MP) below the last, on another 4 KiB page, where the
// hardware prefetcher starts afresh, so each row's first lines would come
// a latency at a time when the loop first touches them. Called at row i
// of `rows`, FetchRowsAhead fetches the `width` floats from row_at(k) of
// row k = i + kTileRowsAhead (at i = 0 rows 1 .. kTileRowsAhead too: row
// 0 is read at once); row_at returns nullptr for a row the loop will not
// read. One row's lines (a dozen or so) per row of work, not a tile's
// burst (PrefetchQueue). Some of the wait moves onto the prefetches
// themselves (perf of PeriodLuma on the fine search's tiles: 64 % of its
// samples on its first load of a row before, 39 % on the prefetch loop
// after, 28 % fewer samples).
inline constexpr int kTileRowsAhead = 4;

template <typename RowAt>
[[gnu::always_inline]] inline void FetchRowsAhead(int i, int rows, int width,
                                                  RowAt row_at) {
  auto fetch = [&](int k) {
    const float* row = row_at(k);
    if (row != nullptr) PrefetchBytes(row, row + width);
    // Without a side effect here GCC 12 at -O2 deleted this fetch, loop
    // and all, in PeriodLuma (no prefetch in the binary; a loop of
    // prefetches reached through a lambda counts as a loop that does
    // nothing, which -ffinite-loops lets it remove: -fno-finite-loops kept
    // it). An empty volatile asm is a side effect that emits nothing.
    asm volatile("");
  };
  if (i + kTileRowsAhead < rows) fetch(i + kTileRowsAhead);
  if (i == 0) {
    for (int k = 1; k < kTileRowsAhead && k < rows; ++k) fetch(k);
  }
}

// Spans of memory queued to be fetched a few lines at a time between the
// steps of the work that reads the spans queued before them. All of a row
// pair's lines in one burst hold the loop on the prefetches (each waits
// for a free line fill buffer; perf of the refinement: 79 % of the sweep's
// own samples on its prefetch loop, as many as the reads it sped up), as
// the mask's scorer was held when it fetched a chunk's rows at once
// (src/mask/loss_mask.cc, kStep). Holds at most kSpans spans; more are
// dropped (read from memory by the loop itself, as without the queue).
class PrefetchQueue {
 public:
  static constexpr int kSpans = 32;

  void Add(const void* begin, const void* end) {
    if (next_ == count_) count_ = next_ = 0;  // all fetched: slots reused
    if (count_ == kSpans || begin >= end) return;
    // From the first line's start, so that lines are counted exactly.
    const std::uintptr_t first = reinterpret_cast<std::uintptr_t>(begin) &
                                 ~std::uintptr_t{kCacheLine - 1};
    spans_[count_++] = {reinterpret_cast<const char*>(first),
                        static_cast<const char*>(end)};
  }

  // Lines left to fetch, over all spans queued.
  std::size_t Lines() const {
    std::size_t lines = 0;
    for (int s = next_; s < count_; ++s) {
      lines += static_cast<std::size_t>(spans_[s].end - spans_[s].begin +
                                        kCacheLine - 1) /
               kCacheLine;
    }
    return lines;
  }

  // Fetches the next `lines` lines (fewer where the queue runs out).
  void Fetch(std::size_t lines) {
    while (lines > 0 && next_ < count_) {
      Span& span = spans_[next_];
      const std::size_t left =
          static_cast<std::size_t>(span.end - span.begin + kCacheLine - 1) /
          kCacheLine;
      const std::size_t now = left < lines ? left : lines;
      const char* stop = now == left ? span.end : span.begin + now * kCacheLine;
      PrefetchBytes(span.begin, stop);
      span.begin = stop;
      lines -= now;
      if (now == left) ++next_;
    }
  }

  // Fetches `Lines() / steps` lines (rounded up) at each of the next
  // `steps` calls of Step: the queue spread over a known number of steps
  // of the work in between.
  void Pace(std::size_t steps) {
    pace_ = steps > 0 ? (Lines() + steps - 1) / steps : Lines();
  }
  void Step() { Fetch(pace_); }

 private:
  struct Span {
    const char* begin;
    const char* end;
  };
  std::array<Span, kSpans> spans_{};
  int count_ = 0;
  int next_ = 0;
  std::size_t pace_ = 0;
};

}  // namespace dsb
