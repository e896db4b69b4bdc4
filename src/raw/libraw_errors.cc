#include "raw/libraw_errors.h"

#include <libraw/libraw.h>

#include <cerrno>
#include <cstring>

#include "common/real_file_system.h"

namespace dsb {

Status LibRawError(int code, std::string_view what, const std::string& path) {
  if (code == LIBRAW_SUCCESS) return Status::Ok();
  if (code > 0) return PosixFileError(what, path, code);
  const std::string message = std::string(what) + " '" + path +
                              "': " + libraw_strerror(code) +
                              " (LibRaw error " + std::to_string(code) + ")";
  switch (code) {
    case LIBRAW_FILE_UNSUPPORTED:
      return Status::Unsupported(message +
                                 "; not a camera raw file LibRaw knows");
    case LIBRAW_NOT_IMPLEMENTED:
    case LIBRAW_REQUEST_FOR_NONEXISTENT_IMAGE:
      return Status::Unsupported(message);
    case LIBRAW_UNSUFFICIENT_MEMORY:
    case LIBRAW_TOO_BIG:
    case LIBRAW_MEMPOOL_OVERFLOW:
      return Status::ResourceExhausted(message);
    case LIBRAW_DATA_ERROR:
      return Status::Corrupt(message + "; the file is damaged or truncated");
    case LIBRAW_IO_ERROR:
      return Status::Corrupt(message +
                             "; the file ended early or could not be read");
    case LIBRAW_CANCELLED_BY_CALLBACK:
      return Status::Cancelled(message);
    case LIBRAW_OUT_OF_ORDER_CALL:
    case LIBRAW_INPUT_CLOSED:
      return Status::Internal(message);
    default:
      return Status::Corrupt(message);
  }
}

}  // namespace dsb
