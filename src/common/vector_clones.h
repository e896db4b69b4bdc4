// DSB_VECTOR_CLONES: compile a hot loop twice, for baseline x86-64 (SSE2)
// and for x86-64-v3 (AVX2), and let the loader pick by the CPU it runs on.
// DSB_WIDE_VECTOR_CLONES: the same with an x86-64-v4 (AVX-512) clone as
// well, for loops bound by their arithmetic rather than by memory.
//
// The binary must run on any x86-64 machine, so the build cannot assume
// AVX2; every machine we measure on has it, and the per-pixel loops of the
// masks run about twice as wide with it. Libraries that use this compile
// with -ffp-contract=off, so every clone rounds alike and a result never
// depends on which CPU built it (a sharded build merges manifests from
// different machines).
//
// AVX-512 pays only where the arithmetic is the cost: the mask scorer's
// row (loss_mask.cc RowScorer::ScoreRow) does a division and a square root
// per cell and colour in registers, and 16 cells to an instruction rather
// than 8 make the whole mask about 10% faster (tests/bench/mask_bench,
// RGGB); the Bayer cell rows (mask/cell_rows.cc) read pixels the scorer has
// already fetched into the cache (loss_mask.cc Ahead), so they gain too
// (2-4 ms of a 24 MP mask), as does the X-Trans rows' stride-3 split, whose
// shuffles AVX-512 does in fewer instructions (about 1 ms). The alignment's
// loops wait on memory or are written as 8-lane vectors: an AVX-512 clone
// of them was measured and gained nothing (docs/performance.md).
//
// Elsewhere (other architectures, other compilers) both expand to nothing.
#pragma once

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && \
    defined(__ELF__)
#define DSB_VECTOR_CLONES \
  __attribute__((target_clones("arch=x86-64-v3", "default")))
#define DSB_WIDE_VECTOR_CLONES \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define DSB_VECTOR_CLONES
#define DSB_WIDE_VECTOR_CLONES
#endif
