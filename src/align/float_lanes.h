// Float and double lanes for the align module's vector loops: eight floats
// (one AVX2 register, two SSE2 ones in a baseline clone), four and eight
// doubles, and a transposition of four rows into double lanes. GCC's
// vector extensions, so DSB_VECTOR_CLONES compiles each use for both
// targets with the same element-wise arithmetic.
#pragma once

#include <cstring>

namespace dsb {

// Eight float lanes, one AVX2 register (two SSE2 ones in the baseline
// clone); element l is what a plain lanes[l] array held.
using V8 = float __attribute__((vector_size(32)));

[[gnu::always_inline]] inline V8 Load8(const float* p) {
  V8 v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

using D4 = double __attribute__((vector_size(32)));
using D8 = double __attribute__((vector_size(64)));

// Four rows of eight consecutive floats, transposed into doubles:
// columns[c] holds rows[g][c] in lane g (float to double is exact).
[[gnu::always_inline]] inline void TransposeToDoubles(const V8 (&rows)[4],
                                                      D4 (&columns)[8]) {
  // (a0 b0 a1 b1 | a4 b4 a5 b5), (a2 b2 a3 b3 | a6 b6 a7 b7), the same for
  // c and d, then (a0 b0 c0 d0 | a4 b4 c4 d4) ... (a3 b3 c3 d3 | a7 ...).
  const V8 t0 =
      __builtin_shufflevector(rows[0], rows[1], 0, 8, 1, 9, 4, 12, 5, 13);
  const V8 t1 =
      __builtin_shufflevector(rows[0], rows[1], 2, 10, 3, 11, 6, 14, 7, 15);
  const V8 t2 =
      __builtin_shufflevector(rows[2], rows[3], 0, 8, 1, 9, 4, 12, 5, 13);
  const V8 t3 =
      __builtin_shufflevector(rows[2], rows[3], 2, 10, 3, 11, 6, 14, 7, 15);
  const V8 u[4] = {__builtin_shufflevector(t0, t2, 0, 1, 8, 9, 4, 5, 12, 13),
                   __builtin_shufflevector(t0, t2, 2, 3, 10, 11, 6, 7, 14, 15),
                   __builtin_shufflevector(t1, t3, 0, 1, 8, 9, 4, 5, 12, 13),
                   __builtin_shufflevector(t1, t3, 2, 3, 10, 11, 6, 7, 14, 15)};
  // (Converted as eight: GCC 12 splits a four-float conversion into
  // halves.)
  for (int c = 0; c < 4; ++c) {
    const D8 wide = __builtin_convertvector(u[c], D8);
    columns[c] = __builtin_shufflevector(wide, wide, 0, 1, 2, 3);
    columns[c + 4] = __builtin_shufflevector(wide, wide, 4, 5, 6, 7);
  }
}

}  // namespace dsb
