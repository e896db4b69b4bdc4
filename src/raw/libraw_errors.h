// The one adapter from LibRaw return codes to dsb::Status.
//
// Keeps LibRaw's own message (libraw_strerror) and adds the file name and
// what we were doing, and picks the Status code a caller can act on:
// unsupported files are kUnsupported, damaged data kCorrupt, OS failures
// kIoError, memory limits kResourceExhausted.
//
// Thread safety: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace dsb {

// `code` is a LibRaw_errors value or a positive errno (LibRaw's open_file
// returns errno when the OS refuses the file). `what` says which step
// failed, e.g. "cannot open" or "cannot decode".
Status LibRawError(int code, std::string_view what, const std::string& path);

}  // namespace dsb
