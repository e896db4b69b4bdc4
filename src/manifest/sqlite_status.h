// The one place where SQLite return codes become dsb::Status.
//
// Every sqlite3_* call in src/manifest/ that can fail hands its return code
// here, so every manifest error carries SQLite's own message
// (sqlite3_errmsg) and the manifest file's name, and maps to a Status code
// callers can act on: kBusy when another writer holds the database, kCorrupt
// when the file is not a (healthy) SQLite database, kInvalidArgument when a
// record violates the schema's constraints.
//
// Thread safety: stateless functions; `db` must be used by one thread only
// (sqlite3_errmsg reports that connection's last error).
#pragma once

#include <string_view>

#include "common/status.h"

struct sqlite3;

namespace dsb {

// The Status for return code `rc` (primary or extended) of an operation
// described by `what` ("recording scene X", "opening") on the manifest at
// `db_path`. SQLITE_OK, SQLITE_ROW and SQLITE_DONE are ok. `db` may be null
// (e.g. when sqlite3_open_v2 could not allocate a handle).
Status SqliteStatus(sqlite3* db, int rc, std::string_view db_path,
                    std::string_view what);

}  // namespace dsb
