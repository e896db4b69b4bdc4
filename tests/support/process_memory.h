// How much memory a process and its descendants (the build's decode
// workers) hold, as the kernel counts it: PSS from /proc/PID/smaps_rollup,
// so pages the build and a worker share are counted once between them.
// For the memory test and build_bench, which sample it while a build runs.
#pragma once

#include <sys/types.h>

#include <cstdint>

namespace dsb::testing {

// PSS of `pid` in bytes (0 when it is gone).
std::int64_t PssBytes(pid_t pid);

// PSS of `root` and every process descended from it, in bytes; a child
// still in its parent's address space (spawned, not yet exec'd) counts
// once, with its parent.
std::int64_t TreePssBytes(pid_t root);

}  // namespace dsb::testing
