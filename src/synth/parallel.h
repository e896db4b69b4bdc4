// Splits a row range over a few std::threads for the synthetic renderer.
//
// Results must not depend on the number of threads, so callers only give
// work whose output per row is independent of how rows are grouped (each
// row seeds its own random stream).
//
// Thread safety: ParallelRows blocks until every band is done; `fn` is
// called concurrently on disjoint row bands.
#pragma once

#include <algorithm>
#include <functional>
#include <thread>
#include <vector>

namespace dsb::synth {

// Calls fn(y0, y1) on disjoint bands covering [0, rows).
inline void ParallelRows(int rows, const std::function<void(int, int)>& fn) {
  const int hw =
      static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const int threads = std::clamp(rows / 64, 1, std::min(hw, 16));
  if (threads <= 1) {
    fn(0, rows);
    return;
  }
  std::vector<std::thread> pool;
  pool.reserve(threads);
  for (int t = 0; t < threads; ++t) {
    const int y0 = static_cast<int>(static_cast<long long>(rows) * t / threads);
    const int y1 =
        static_cast<int>(static_cast<long long>(rows) * (t + 1) / threads);
    pool.emplace_back(fn, y0, y1);
  }
  for (std::thread& th : pool) th.join();
}

}  // namespace dsb::synth
