#include "manifest/sqlite_status.h"

#include <sqlite3.h>

#include <string>

namespace dsb {

Status SqliteStatus(sqlite3* db, int rc, std::string_view db_path,
                    std::string_view what) {
  if (rc == SQLITE_OK || rc == SQLITE_ROW || rc == SQLITE_DONE) {
    return Status::Ok();
  }
  // sqlite3_errmsg describes the connection's most recent failure, which is
  // this one as long as the caller reports errors before the next call.
  const char* sqlite_message =
      db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  std::string message = "manifest ";
  message += db_path;
  message += ": ";
  message += what;
  message += ": ";
  message += sqlite_message;

  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      message +=
          " (another process is writing this manifest; is another "
          "dataset-build running on it?)";
      return Status::Busy(message);
    case SQLITE_CONSTRAINT:
    case SQLITE_MISMATCH:
    case SQLITE_TOOBIG:
    case SQLITE_RANGE:
      return Status::InvalidArgument(message);
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
    case SQLITE_FORMAT:
      return Status::Corrupt(message);
    case SQLITE_FULL:
      message +=
          " (the disk holding the manifest is full: free space there and run "
          "again; scenes already recorded are kept and not rebuilt)";
      return Status::ResourceExhausted(message);
    case SQLITE_NOMEM:
      return Status::ResourceExhausted(message);
    case SQLITE_INTERRUPT:
    case SQLITE_ABORT:
      return Status::Cancelled(message);
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
    case SQLITE_READONLY:
    case SQLITE_PROTOCOL:
    case SQLITE_AUTH:
      return Status::IoError(message);
    default:  // SQLITE_ERROR (bad SQL), SQLITE_MISUSE, SQLITE_SCHEMA...
      return Status::Internal(message);
  }
}

}  // namespace dsb
