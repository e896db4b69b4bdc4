#include "manifest/sqlite_statement.h"

#include <sqlite3.h>

#include <utility>

#include "manifest/sqlite_status.h"

namespace dsb {

Status ExecSql(sqlite3* db, std::string_view db_path, const char* sql,
               std::string_view what) {
  const int rc = sqlite3_exec(db, sql, nullptr, nullptr, nullptr);
  return SqliteStatus(db, rc, db_path, what);
}

Result<Statement> Statement::Prepare(sqlite3* db, std::string_view db_path,
                                     std::string_view sql, std::string what) {
  sqlite3_stmt* stmt = nullptr;
  const int rc = sqlite3_prepare_v2(
      db, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr);
  if (rc != SQLITE_OK) {
    Status status = SqliteStatus(db, rc, db_path, what);
    sqlite3_finalize(stmt);
    return status;
  }
  return Statement(db, stmt, db_path, std::move(what));
}

Statement::Statement(sqlite3* db, sqlite3_stmt* stmt, std::string_view db_path,
                     std::string what)
    : db_(db), stmt_(stmt), db_path_(db_path), what_(std::move(what)) {}

Statement::Statement(Statement&& other) noexcept
    : db_(other.db_),
      stmt_(std::exchange(other.stmt_, nullptr)),
      db_path_(std::move(other.db_path_)),
      what_(std::move(other.what_)),
      bind_status_(std::move(other.bind_status_)) {}

Statement& Statement::operator=(Statement&& other) noexcept {
  if (this != &other) {
    sqlite3_finalize(stmt_);
    db_ = other.db_;
    stmt_ = std::exchange(other.stmt_, nullptr);
    db_path_ = std::move(other.db_path_);
    what_ = std::move(other.what_);
    bind_status_ = std::move(other.bind_status_);
  }
  return *this;
}

Statement::~Statement() { sqlite3_finalize(stmt_); }

Statement& Statement::NoteBind(int rc) {
  if (rc != SQLITE_OK && bind_status_.ok()) {
    bind_status_ = SqliteStatus(db_, rc, db_path_, what_);
  }
  return *this;
}

Statement& Statement::BindText(int index, std::string_view value) {
  // SQLITE_TRANSIENT: SQLite copies the bytes, so temporaries are safe.
  // The explicit byte length keeps the value exact whatever it contains.
  return NoteBind(sqlite3_bind_text64(stmt_, index, value.data(), value.size(),
                                      SQLITE_TRANSIENT, SQLITE_UTF8));
}

Statement& Statement::BindInt64(int index, std::int64_t value) {
  return NoteBind(sqlite3_bind_int64(stmt_, index, value));
}

Statement& Statement::BindDouble(int index, double value) {
  return NoteBind(sqlite3_bind_double(stmt_, index, value));
}

Statement& Statement::BindNull(int index) {
  return NoteBind(sqlite3_bind_null(stmt_, index));
}

Statement& Statement::BindOptionalText(
    int index, const std::optional<std::string>& value) {
  return value ? BindText(index, std::string_view(*value)) : BindNull(index);
}

Statement& Statement::BindOptionalDouble(int index,
                                         const std::optional<double>& value) {
  return value ? BindDouble(index, *value) : BindNull(index);
}

Statement& Statement::BindOptionalInt64(
    int index, const std::optional<std::int64_t>& value) {
  return value ? BindInt64(index, *value) : BindNull(index);
}

Result<bool> Statement::Step() {
  if (!bind_status_.ok()) return bind_status_;
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return SqliteStatus(db_, rc, db_path_, what_);
}

Status Statement::Run() {
  Result<bool> row = Step();
  Reset();
  if (!row.ok()) return row.status();
  if (*row) {
    return Status::Internal("manifest " + db_path_ + ": " + what_ +
                            ": statement returned rows where none expected");
  }
  return Status::Ok();
}

void Statement::Reset() {
  // The step error, if any, was already reported by Step.
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
  bind_status_ = Status::Ok();
}

bool Statement::IsNull(int column) const {
  return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

std::int64_t Statement::Int64(int column) const {
  return sqlite3_column_int64(stmt_, column);
}

double Statement::Double(int column) const {
  return sqlite3_column_double(stmt_, column);
}

std::string Statement::Text(int column) const {
  return std::string(TextView(column));
}

std::string_view Statement::TextView(int column) const {
  // column_text before column_bytes, as SQLite documents, so the length is
  // that of the text form.
  const auto* text =
      reinterpret_cast<const char*>(sqlite3_column_text(stmt_, column));
  const int size = sqlite3_column_bytes(stmt_, column);
  if (text == nullptr) return {};
  return {text, static_cast<std::size_t>(size)};
}

std::optional<std::string> Statement::OptionalText(int column) const {
  if (IsNull(column)) return std::nullopt;
  return Text(column);
}

std::optional<double> Statement::OptionalDouble(int column) const {
  if (IsNull(column)) return std::nullopt;
  return Double(column);
}

std::optional<std::int64_t> Statement::OptionalInt64(int column) const {
  if (IsNull(column)) return std::nullopt;
  return Int64(column);
}

Result<Transaction> Transaction::Begin(sqlite3* db, std::string_view db_path,
                                       std::string what) {
  DSB_RETURN_IF_ERROR(ExecSql(db, db_path, "BEGIN IMMEDIATE", what));
  return Transaction(db, db_path, std::move(what));
}

Transaction::Transaction(Transaction&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)),
      db_path_(std::move(other.db_path_)),
      what_(std::move(other.what_)) {}

Transaction::~Transaction() {
  // Still open: an error path. ROLLBACK can only fail when SQLite already
  // rolled back by itself (e.g. after SQLITE_FULL), which is the same end.
  if (db_ != nullptr && !sqlite3_get_autocommit(db_)) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }
}

Status Transaction::Commit() {
  Status status = ExecSql(db_, db_path_, "COMMIT", what_);
  // A failed COMMIT (e.g. SQLITE_BUSY) leaves the transaction open; the
  // destructor rolls it back, so the scene stays at its old state.
  if (status.ok()) db_ = nullptr;
  return status;
}

}  // namespace dsb
