// Helpers of the POSIX FileSystem (RealFileSystem() in file_system.h) that
// other POSIX code may reuse: turning an errno into a Status that names the
// file and the reason.
//
// Thread safety: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace dsb {

// "<what> '<path>': <reason>", e.g. "cannot write '/d/m.png': disk full
// (No space left on device)". The code says what kind of failure it is:
// ENOENT/ENOTDIR -> kNotFound; ENOSPC/EDQUOT/ENOMEM/EMFILE/ENFILE ->
// kResourceExhausted; ENAMETOOLONG -> kInvalidArgument; others kIoError.
Status PosixFileError(std::string_view what, const std::string& path, int err);

}  // namespace dsb
