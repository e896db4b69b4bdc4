// mapped_read: reading a file mapping that may lose pages under the reader.
//
// Hashing a raw file through a mapping costs less than read(): XXH3 reads the
// page cache where it is, instead of after a copy into a buffer (16 x 60 MP
// files: 0.15 core-s against 0.36; README, issue 17). But a file that shrinks
// while it is mapped (a user truncating or rewriting it mid-build) makes the
// next touch of a page past its new end raise SIGBUS, whose default action
// would end the whole build. ReadMappedGuarded turns such a SIGBUS into a
// `false` return on the thread that touched the page, so the caller can fail
// that one file with an error that names it.
//
// How: a process-wide SIGBUS handler (installed once, on first use) checks
// whether the faulting address lies in the range the *current thread*
// declared while inside ReadMappedGuarded (a thread_local guard); if so it
// siglongjmps back to the guard. Any other SIGBUS is handed to the handler
// that was installed before (the default action when there was none: the
// process ends as it would have without this module).
//
// Because the read is abandoned by siglongjmp, `read` must be plain C-like
// code: no C++ object with a destructor may live across the guarded call
// inside it, no lock may be taken in it, and what it writes is left half
// done (the caller discards it on `false`).
//
// Thread safety: any number of threads may be inside ReadMappedGuarded at
// once; each guard is its own thread's.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace dsb {

// Calls read(bytes, context). Returns false when a SIGBUS hit an address in
// `bytes` on this thread during the call (the call was abandoned at that
// point), true when it returned normally.
bool ReadMappedGuarded(std::span<const std::uint8_t> bytes,
                       void (*read)(std::span<const std::uint8_t> bytes,
                                    void* context),
                       void* context);

}  // namespace dsb
