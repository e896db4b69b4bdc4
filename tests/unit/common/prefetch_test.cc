// PrefetchQueue (common/prefetch.h): the lines it counts and how a paced
// queue is spread over the steps it was paced for. A prefetch itself
// changes nothing observable; what can go wrong is the accounting: lines
// left unfetched (a pace rounded down), fetched twice, or spans lost;
// for FetchRowsAhead, a row never asked for or asked for too late.
#include "common/prefetch.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

namespace dsb {
namespace {

// A buffer whose first byte starts a cache line.
struct Lines {
  alignas(64) char bytes[64 * 64] = {};
};

TEST(PrefetchQueueTest, CountsTheCacheLinesASpanTouches) {
  Lines buffer;
  PrefetchQueue queue;
  EXPECT_EQ(queue.Lines(), 0u);
  queue.Add(buffer.bytes, buffer.bytes + 640);  // 10 whole lines
  EXPECT_EQ(queue.Lines(), 10u);
  // From the middle of line 20 to the middle of line 22: three lines.
  queue.Add(buffer.bytes + 20 * 64 + 8, buffer.bytes + 22 * 64 + 1);
  EXPECT_EQ(queue.Lines(), 13u);
  queue.Add(buffer.bytes, buffer.bytes);  // empty: nothing
  EXPECT_EQ(queue.Lines(), 13u);
}

TEST(PrefetchQueueTest, APacedQueueIsFetchedInExactlyItsSteps) {
  Lines buffer;
  for (const std::size_t steps : {1u, 3u, 7u, 13u, 64u}) {
    PrefetchQueue queue;
    queue.Add(buffer.bytes, buffer.bytes + 13 * 64);
    queue.Add(buffer.bytes + 30 * 64, buffer.bytes + 60 * 64 + 5);
    const std::size_t lines = queue.Lines();
    ASSERT_EQ(lines, 44u);
    queue.Pace(steps);
    std::vector<std::size_t> left;
    for (std::size_t s = 0; s < steps; ++s) {
      queue.Step();
      left.push_back(queue.Lines());
    }
    EXPECT_EQ(left.back(), 0u) << steps << " steps";
    // Evenly: each step fetches lines / steps, rounded up, until none is
    // left.
    const std::size_t pace = (lines + steps - 1) / steps;
    for (std::size_t s = 0; s < steps; ++s) {
      const std::size_t fetched = (s + 1) * pace;
      EXPECT_EQ(left[s], fetched < lines ? lines - fetched : 0)
          << steps << " steps, step " << s;
    }
  }
}

TEST(PrefetchQueueTest, SpansAddedOnceTheQueueIsEmptyReuseItsSlots) {
  Lines buffer;
  PrefetchQueue queue;
  // Far more spans than the queue holds at once, each fetched before the
  // next is added: none is lost.
  for (int k = 0; k < 5 * PrefetchQueue::kSpans; ++k) {
    queue.Add(buffer.bytes, buffer.bytes + 2 * 64);
    ASSERT_EQ(queue.Lines(), 2u) << k;
    queue.Fetch(2);
    ASSERT_EQ(queue.Lines(), 0u) << k;
  }
  // Added while some are still queued, they accumulate up to kSpans, and
  // what does not fit is left to the loop that reads it.
  for (int k = 0; k < PrefetchQueue::kSpans + 3; ++k) {
    queue.Add(buffer.bytes, buffer.bytes + 64);
  }
  EXPECT_EQ(queue.Lines(), static_cast<std::size_t>(PrefetchQueue::kSpans));
}

TEST(FetchRowsAheadTest, AsksForEveryLaterRowOnceKTileRowsAheadOfItsRead) {
  const float row[16] = {};
  for (const int rows : {1, 2, 3, kTileRowsAhead, kTileRowsAhead + 1, 7, 200}) {
    // asked_at[k]: the row of the loop at which row k was asked for.
    std::vector<int> asked_at(static_cast<std::size_t>(rows), -1);
    std::vector<int> times(static_cast<std::size_t>(rows), 0);
    for (int i = 0; i < rows; ++i) {
      FetchRowsAhead(i, rows, 16, [&](int k) -> const float* {
        EXPECT_GE(k, 0);
        EXPECT_LT(k, rows);
        if (k < 0 || k >= rows) return nullptr;
        ++times[k];
        asked_at[k] = i;
        return k % 2 == 0 ? row : nullptr;  // a row not read: not fetched
      });
    }
    // Row 0 is read at once; every later row is asked for exactly once,
    // kTileRowsAhead rows before its read (rows 1 .. kTileRowsAhead at the
    // first row), never after it.
    EXPECT_EQ(times[0], 0) << rows << " rows";
    for (int k = 1; k < rows; ++k) {
      EXPECT_EQ(times[k], 1) << rows << " rows, row " << k;
      EXPECT_EQ(asked_at[k], std::max(0, k - kTileRowsAhead))
          << rows << " rows, row " << k;
    }
  }
}

}  // namespace
}  // namespace dsb
