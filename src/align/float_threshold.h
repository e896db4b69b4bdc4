// A per-pixel test on a float that costs a division, turned into one
// comparison with a bound found once.
//
// RawGain keeps GT values with g / clip * 16 < 15; dividing every pixel
// took a tenth of its time. A chain of correctly rounded divisions and
// products by positive numbers never decreases as g grows, so the values
// that pass are exactly the floats below one bound, and `g < bound` is the
// same test bit for bit (NaN fails both).
//
// Thread safety: pure function.
#pragma once

#include <bit>
#include <cstdint>

namespace dsb {

// The least float where `holds` fails, for a test that holds at +0.0f,
// fails at +infinity and, once it fails at some value, fails at every
// larger one: then for every float g, holds(g) == (g < LeastFailing(holds)).
// 31 evaluations of the test (a bisection of the bit patterns of the
// non-negative floats, which order like their values).
template <typename Test>
float LeastFailing(const Test& holds) {
  std::uint32_t lo = 0;            // +0.0f: holds
  std::uint32_t hi = 0x7f800000u;  // +infinity: fails
  while (hi - lo > 1) {
    const std::uint32_t mid = lo + (hi - lo) / 2;
    if (holds(std::bit_cast<float>(mid))) {
      lo = mid;
    } else {
      hi = mid;
    }
  }
  return std::bit_cast<float>(hi);
}

}  // namespace dsb
