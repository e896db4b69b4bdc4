#include "manifest/schema_migrations.h"

#include <string>

#include "manifest/sqlite_statement.h"

namespace dsb {

int LatestSchemaVersion() {
  return static_cast<int>(SchemaMigrations().size());
}

Status NewerSchemaError(std::string_view db_path, int found_version) {
  std::string message = "manifest ";
  message += db_path;
  message += " was written by a newer dataset-build (schema ";
  message += std::to_string(found_version);
  message += ", this build knows ";
  message += std::to_string(LatestSchemaVersion());
  message += "); upgrade dataset-build or use another --db";
  return Status::Unsupported(message);
}

Result<int> ReadSchemaVersion(sqlite3* db, std::string_view db_path) {
  DSB_ASSIGN_OR_RETURN(Statement stmt,
                       Statement::Prepare(db, db_path, "PRAGMA user_version",
                                          "reading the schema version"));
  DSB_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) {
    return Status::Internal("manifest " + std::string(db_path) +
                            ": PRAGMA user_version returned no row");
  }
  return static_cast<int>(stmt.Int64(0));
}

Status MigrateSchema(sqlite3* db, std::string_view db_path,
                     int target_version) {
  if (target_version < 0 || target_version > LatestSchemaVersion()) {
    return Status::InvalidArgument("no schema version " +
                                   std::to_string(target_version));
  }
  for (const Migration& migration : SchemaMigrations()) {
    if (migration.version > target_version) break;
    const std::string what =
        "applying schema migration " + std::string(migration.name);
    DSB_ASSIGN_OR_RETURN(Transaction transaction,
                         Transaction::Begin(db, db_path, what));
    // Read again under the write lock: another process may have migrated
    // since we looked.
    DSB_ASSIGN_OR_RETURN(int current, ReadSchemaVersion(db, db_path));
    if (current > LatestSchemaVersion()) {
      return NewerSchemaError(db_path, current);
    }
    if (current >= migration.version) continue;
    if (current != migration.version - 1) {
      return Status::Internal("manifest " + std::string(db_path) +
                              ": schema version " + std::to_string(current) +
                              " skipped a migration");
    }
    // The script is our own embedded SQL; nothing from outside is in it.
    const std::string script(migration.sql);
    DSB_RETURN_IF_ERROR(ExecSql(db, db_path, script.c_str(), what));
    // PRAGMA takes no bound parameters; the value is our own migration
    // number, not data.
    const std::string bump =
        "PRAGMA user_version = " + std::to_string(migration.version);
    DSB_RETURN_IF_ERROR(ExecSql(db, db_path, bump.c_str(), what));
    DSB_RETURN_IF_ERROR(transaction.Commit());
  }
  return Status::Ok();
}

}  // namespace dsb
