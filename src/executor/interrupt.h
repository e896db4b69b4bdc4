// Cooperative cancellation on Ctrl-C / SIGTERM.
//
// The first SIGINT or SIGTERM sets a flag that build workers poll between
// files: finished scenes are recorded, in-flight scenes are dropped whole
// (their transaction never starts), and the build exits with a summary. A
// second signal exits at once; that is still safe, because every scene is
// written in one SQLite transaction and masks are written by rename.
//
// Thread safety: all functions are async-signal-safe or lock-free.
#pragma once

namespace dsb {

// Installs the handlers (idempotent).
void InstallInterruptHandlers();
bool InterruptRequested();
// For tests: raise or clear the flag without a signal.
void RequestInterrupt();
void ClearInterrupt();

}  // namespace dsb
