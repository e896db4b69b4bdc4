// Thin RAII helpers over the SQLite C API, private to src/manifest/.
//
// Statement owns a prepared statement; values reach SQL only through its
// Bind* calls (never by building SQL text), and text is bound and read with
// explicit lengths, so paths with quotes, newlines or non-UTF-8 bytes pass
// through byte-exact. Bind errors are remembered and reported by the next
// Step/Run, which keeps call sites free of a check per parameter.
// Transaction runs BEGIN IMMEDIATE ... COMMIT and rolls back in its
// destructor unless committed. Every failure goes through SqliteStatus.
//
// Thread safety: like the sqlite3 connection they wrap, one thread at a time.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"

struct sqlite3;
struct sqlite3_stmt;

namespace dsb {

// Runs SQL that has no parameters and returns no rows (BEGIN, pragmas that
// set, migration scripts of several statements).
Status ExecSql(sqlite3* db, std::string_view db_path, const char* sql,
               std::string_view what);

class Statement {
 public:
  // `what` names the operation in error messages ("loading files").
  static Result<Statement> Prepare(sqlite3* db, std::string_view db_path,
                                   std::string_view sql, std::string what);
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&& other) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();

  // Parameters are numbered from 1, as in SQLite. The Optional variants
  // bind NULL for nullopt.
  Statement& BindText(int index, std::string_view value);
  Statement& BindInt64(int index, std::int64_t value);
  Statement& BindDouble(int index, double value);
  Statement& BindNull(int index);
  Statement& BindOptionalText(int index,
                              const std::optional<std::string>& value);
  Statement& BindOptionalDouble(int index, const std::optional<double>& value);
  Statement& BindOptionalInt64(int index,
                               const std::optional<std::int64_t>& value);

  // Steps once: true when a row is ready, false when done.
  Result<bool> Step();
  // Steps to completion, expecting no rows; then resets for reuse.
  Status Run();
  // Makes the statement ready to be bound and run again.
  void Reset();

  bool IsNull(int column) const;
  std::int64_t Int64(int column) const;
  double Double(int column) const;
  std::string Text(int column) const;
  // The same bytes in place: valid until the next Step, Reset or the
  // statement's end.
  std::string_view TextView(int column) const;
  std::optional<std::string> OptionalText(int column) const;
  std::optional<double> OptionalDouble(int column) const;
  std::optional<std::int64_t> OptionalInt64(int column) const;

 private:
  Statement(sqlite3* db, sqlite3_stmt* stmt, std::string_view db_path,
            std::string what);
  Statement& NoteBind(int rc);

  sqlite3* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
  std::string db_path_;
  std::string what_;
  Status bind_status_;  // the first bind error since the last Reset
};

// BEGIN IMMEDIATE on construction via Begin(); ROLLBACK on destruction
// unless Commit() succeeded. IMMEDIATE takes the write lock up front, so a
// second writer fails (kBusy, after busy_timeout) before doing any work
// instead of deadlocking on a read-to-write upgrade.
class Transaction {
 public:
  static Result<Transaction> Begin(sqlite3* db, std::string_view db_path,
                                   std::string what);
  Transaction(Transaction&& other) noexcept;
  Transaction& operator=(Transaction&&) = delete;
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction();

  Status Commit();

 private:
  Transaction(sqlite3* db, std::string_view db_path, std::string what)
      : db_(db), db_path_(db_path), what_(std::move(what)) {}
  sqlite3* db_ = nullptr;
  std::string db_path_;
  std::string what_;
};

}  // namespace dsb
