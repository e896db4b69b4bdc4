// DSB_VECTOR_CLONES: compile a hot loop twice, for baseline x86-64 (SSE2)
// and for x86-64-v3 (AVX2), and let the loader pick by the CPU it runs on.
//
// The binary must run on any x86-64 machine, so the build cannot assume
// AVX2; every machine we measure on has it, and the per-pixel loops of the
// masks run about twice as wide with it. Libraries that use this compile
// with -ffp-contract=off, so both clones round alike and a result never
// depends on which CPU built it (a sharded build merges manifests from
// different machines).
//
// Elsewhere (other architectures, other compilers) it expands to nothing.
#pragma once

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && \
    defined(__ELF__)
#define DSB_VECTOR_CLONES \
  __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define DSB_VECTOR_CLONES
#endif
