// The manifest's schema versions: the embedded migrations and the code that
// applies them.
//
// schema/NNNN_name.sql are compiled into the library at build time
// (schema/embed_sql.py), so the binary needs no schema/ folder at run time.
// PRAGMA user_version is the number of the last migration applied; each
// migration runs in its own BEGIN IMMEDIATE transaction together with the
// user_version bump, so a crash leaves the database at the previous version,
// never half-migrated. A database whose version is newer than this build
// knows is refused, never touched.
//
// Thread safety: SchemaMigrations() is immutable data. MigrateSchema uses
// the connection it is given; one thread at a time per connection. Two
// processes migrating the same file at once are serialised by SQLite's write
// lock; the second finds the work done.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "common/result.h"

struct sqlite3;

namespace dsb {

struct Migration {
  int version;            // 1, 2, 3, ... (the file's number)
  std::string_view name;  // the file's stem, e.g. "0001_initial"
  std::string_view sql;   // the whole script
};

// All migrations in order; version i is at index i - 1. Defined in the
// generated schema_migrations_data.cc.
std::span<const Migration> SchemaMigrations();

// The schema version this build writes (the number of the last migration).
int LatestSchemaVersion();

// The marker migration 1 stores in PRAGMA application_id ('DSB1').
inline constexpr int kManifestApplicationId = 0x44534231;

// Applies the migrations after the database's current user_version up to
// and including `target_version` (<= LatestSchemaVersion()). Refuses, with
// the contract's message, a database newer than this build knows.
Status MigrateSchema(sqlite3* db, std::string_view db_path, int target_version);

// PRAGMA user_version of the open database.
Result<int> ReadSchemaVersion(sqlite3* db, std::string_view db_path);

// The error for a database at `found_version` > LatestSchemaVersion().
Status NewerSchemaError(std::string_view db_path, int found_version);

}  // namespace dsb
