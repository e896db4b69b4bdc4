// DSB_MASK_WIDE_CLONES: like DSB_VECTOR_CLONES (common/vector_clones.h),
// with an x86-64-v4 (AVX-512) clone as well, for the mask's loops that are
// bound by their arithmetic rather than by memory. The scorer's row
// (loss_mask.cc RowScorer::ScoreRow) does a division and a square root per
// cell and colour in registers; 16 cells to an instruction rather than 8
// make the whole mask about 10% faster (tests/bench/mask_bench, RGGB). The
// Bayer cell rows (mask/cell_rows.cc) read pixels the scorer has already
// fetched into the cache (loss_mask.cc Ahead), so they gain from it too
// (2-4 ms of a 24 MP mask), as does the X-Trans rows' stride-3 split,
// whose shuffles AVX-512 does in fewer instructions (about 1 ms). The
// per-colour X-Trans sums keep the narrower clones. The mask library
// builds with -ffp-contract=off (src/mask/meson.build): every clone rounds
// alike, and a mask does not depend on the CPU that built it.
#pragma once

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && \
    defined(__ELF__)
#define DSB_MASK_WIDE_CLONES \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define DSB_MASK_WIDE_CLONES
#endif
