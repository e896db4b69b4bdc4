// Manifest::LoadRuns and Manifest::CopyScenesFrom: what merging shard task
// manifests needs from SQL (merge/merge.h decides what to copy).
//
// The copy goes table by table through an ATTACHed source, so every column
// is copied with its exact stored value (floats bit for bit, byte strings
// as they are) and a column added by a later migration is copied without
// this file changing: the column lists come from the schema itself
// (pragma_table_info), never from input.
#include <sqlite3.h>

#include <string>
#include <vector>

#include "manifest/manifest.h"
#include "manifest/schema_migrations.h"
#include "manifest/sqlite_statement.h"
#include "manifest/sqlite_status.h"

namespace dsb {

namespace {

struct CopyColumn {
  std::string name;
  bool integer_primary_key = false;  // a rowid alias: renumbered by SQLite
};

// Identifiers come from our own schema; quoting them keeps any name valid.
std::string Quoted(const std::string& identifier) {
  std::string quoted = "\"";
  for (char c : identifier) {
    if (c == '"') quoted += '"';
    quoted += c;
  }
  return quoted + "\"";
}

// Tables of the main schema that hold per-scene rows (a `scene` column),
// scene_builds first, with their columns.
Result<std::vector<std::pair<std::string, std::vector<CopyColumn>>>>
SceneTables(sqlite3* db, std::string_view db_path) {
  DSB_ASSIGN_OR_RETURN(
      Statement tables,
      Statement::Prepare(db, db_path,
                         "SELECT name FROM main.sqlite_master WHERE type = "
                         "'table' AND name NOT LIKE 'sqlite_%' ORDER BY name "
                         "<> 'scene_builds', name",
                         "listing tables"));
  std::vector<std::pair<std::string, std::vector<CopyColumn>>> result;
  while (true) {
    DSB_ASSIGN_OR_RETURN(bool row, tables.Step());
    if (!row) break;
    const std::string table = tables.Text(0);
    DSB_ASSIGN_OR_RETURN(
        Statement info,
        Statement::Prepare(db, db_path,
                           "SELECT name, upper(type), pk FROM "
                           "pragma_table_info(?1, 'main') ORDER BY cid",
                           "reading the columns of " + table));
    info.BindText(1, table);
    std::vector<CopyColumn> columns;
    int primary_key_columns = 0;
    bool has_scene = false;
    while (true) {
      DSB_ASSIGN_OR_RETURN(bool column, info.Step());
      if (!column) break;
      CopyColumn c;
      c.name = info.Text(0);
      const bool pk = info.Int64(2) > 0;
      primary_key_columns += pk ? 1 : 0;
      c.integer_primary_key = pk && info.Text(1) == "INTEGER";
      has_scene = has_scene || c.name == "scene";
      columns.push_back(std::move(c));
    }
    // Only a single-column INTEGER PRIMARY KEY is a rowid alias.
    if (primary_key_columns != 1) {
      for (CopyColumn& c : columns) c.integer_primary_key = false;
    }
    // crop_targets rows are keyed by file, not by scene build: they are
    // copied by path (CopyScenesFrom's crop_targets).
    if (has_scene && table != "crop_targets") {
      result.emplace_back(table, std::move(columns));
    }
  }
  return result;
}

// The column names of a table of the main schema, quoted and joined.
Result<std::string> ColumnList(sqlite3* db, std::string_view db_path,
                               const std::string& table) {
  DSB_ASSIGN_OR_RETURN(
      Statement info,
      Statement::Prepare(db, db_path,
                         "SELECT name FROM pragma_table_info(?1, 'main') "
                         "ORDER BY cid",
                         "reading the columns of " + table));
  info.BindText(1, table);
  std::string names;
  while (true) {
    DSB_ASSIGN_OR_RETURN(bool column, info.Step());
    if (!column) break;
    if (!names.empty()) names += ", ";
    names += Quoted(info.Text(0));
  }
  return names;
}

// Detaches the source whatever happens to the copy.
class Attached {
 public:
  Attached(sqlite3* db, std::string_view db_path) : db_(db), path_(db_path) {}
  ~Attached() {
    (void)ExecSql(db_, path_, "DETACH DATABASE source", "detaching");
  }

 private:
  sqlite3* db_;
  std::string path_;
};

}  // namespace

Result<std::vector<RunRecord>> Manifest::LoadRuns() {
  DSB_ASSIGN_OR_RETURN(
      Statement stmt,
      Statement::Prepare(
          db_, db_path_,
          "SELECT id, started_at, ended_at, parameters, scenes_total, "
          "scenes_built, scenes_up_to_date, scenes_failed, scenes_removed, "
          "pairs_ok, pairs_failed, exit_status FROM runs ORDER BY id",
          "loading runs"));
  std::vector<RunRecord> runs;
  while (true) {
    DSB_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    RunRecord run;
    run.id = stmt.Int64(0);
    run.started_at = stmt.Text(1);
    run.ended_at = stmt.OptionalText(2);
    run.parameters = stmt.Text(3);
    run.counts.scenes_total = stmt.OptionalInt64(4).value_or(0);
    run.counts.scenes_built = stmt.OptionalInt64(5).value_or(0);
    run.counts.scenes_up_to_date = stmt.OptionalInt64(6).value_or(0);
    run.counts.scenes_failed = stmt.OptionalInt64(7).value_or(0);
    run.counts.scenes_removed = stmt.OptionalInt64(8).value_or(0);
    run.counts.pairs_ok = stmt.OptionalInt64(9).value_or(0);
    run.counts.pairs_failed = stmt.OptionalInt64(10).value_or(0);
    run.exit_status = stmt.OptionalInt64(11);
    runs.push_back(std::move(run));
  }
  return runs;
}

Status Manifest::CopyScenesFrom(const std::string& source,
                                const std::vector<std::string>& scenes,
                                std::int64_t run_id,
                                const std::vector<std::string>& crop_targets) {
  const std::string what = "merging " + source;
  DSB_RETURN_IF_ERROR(CheckWritable(what));
  {
    DSB_ASSIGN_OR_RETURN(
        Statement attach,
        Statement::Prepare(db_, db_path_, "ATTACH DATABASE ?1 AS source",
                           what));
    DSB_RETURN_IF_ERROR(attach.BindText(1, source).Run());
  }
  Attached attached(db_, db_path_);
  {
    DSB_ASSIGN_OR_RETURN(
        Statement version,
        Statement::Prepare(db_, db_path_, "PRAGMA source.user_version", what));
    DSB_ASSIGN_OR_RETURN(bool row, version.Step());
    if (!row || version.Int64(0) != LatestSchemaVersion()) {
      return Status::Unsupported(
          "manifest " + source + " has schema " +
          (row ? std::to_string(version.Int64(0)) : std::string("?")) +
          ", not " + std::to_string(LatestSchemaVersion()) +
          "; open it with this dataset-build first");
    }
  }
  DSB_ASSIGN_OR_RETURN(auto tables, SceneTables(db_, db_path_));

  DSB_ASSIGN_OR_RETURN(Transaction transaction,
                       Transaction::Begin(db_, db_path_, what));
  // Rows go in table by table; references between them are checked at
  // COMMIT, when the scene is whole again.
  DSB_RETURN_IF_ERROR(
      ExecSql(db_, db_path_, "PRAGMA defer_foreign_keys = ON", what));
  DSB_ASSIGN_OR_RETURN(
      Statement remove,
      Statement::Prepare(db_, db_path_,
                         "DELETE FROM main.scene_builds WHERE scene = ?1",
                         what));
  std::vector<Statement> inserts;
  for (const auto& [table, columns] : tables) {
    std::string names, values;
    for (const CopyColumn& column : columns) {
      if (column.integer_primary_key) continue;
      if (!names.empty()) {
        names += ", ";
        values += ", ";
      }
      names += Quoted(column.name);
      if (table == "scene_builds" && column.name == "run_id") {
        values += "?2";
      } else if (table == "scene_builds" && column.name == "stale_reason") {
        values += "NULL";
      } else {
        values += Quoted(column.name);
      }
    }
    // Rows in their original order, so renumbered ids keep it.
    const std::string sql = "INSERT INTO main." + Quoted(table) + " (" + names +
                            ") SELECT " + values + " FROM source." +
                            Quoted(table) + " WHERE scene = ?1 ORDER BY rowid";
    DSB_ASSIGN_OR_RETURN(Statement insert,
                         Statement::Prepare(db_, db_path_, sql, what));
    inserts.push_back(std::move(insert));
  }
  for (const std::string& scene : scenes) {
    DSB_RETURN_IF_ERROR(remove.BindText(1, scene).Run());
    for (std::size_t i = 0; i < inserts.size(); ++i) {
      inserts[i].BindText(1, scene);
      if (tables[i].first == "scene_builds") inserts[i].BindInt64(2, run_id);
      DSB_RETURN_IF_ERROR(inserts[i].Run());
    }
  }
  if (!crop_targets.empty()) {
    DSB_ASSIGN_OR_RETURN(const std::string names,
                         ColumnList(db_, db_path_, "crop_targets"));
    DSB_ASSIGN_OR_RETURN(
        Statement copy,
        Statement::Prepare(db_, db_path_,
                           "INSERT OR REPLACE INTO main.crop_targets (" +
                               names + ") SELECT " + names +
                               " FROM source.crop_targets WHERE rel_path = ?1",
                           what));
    for (const std::string& rel_path : crop_targets) {
      DSB_RETURN_IF_ERROR(copy.BindText(1, rel_path).Run());
      copy.Reset();
    }
  }
  return transaction.Commit();
}

}  // namespace dsb
