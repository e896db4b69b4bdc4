// libtiff's errors as our Status: the one adapter for libtiff, used by the
// synthetic DNG writer and the training crops' half-float TIFFs.
//
// libtiff reports errors through a process-wide handler (the per-handle
// TIFFOpenOptions API is newer than Debian 12's libtiff), so the handler
// keeps the last message of each thread in a thread-local buffer.
//
// Thread safety: each thread sees only its own messages.
#pragma once

#include <string>

#include "common/status.h"

namespace dsb {

// Installs the handler and forgets this thread's last message; call before
// a sequence of libtiff calls.
void CaptureTiffErrors();

// Whether libtiff reported an error on this thread since CaptureTiffErrors.
bool TiffReportedError();

// IoError "<what> '<path>': <libtiff's last message on this thread>".
Status TiffError(const std::string& what, const std::string& path);

}  // namespace dsb
