#include "sqlite_rows.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

namespace dsb::testing {

std::vector<std::vector<std::string>> QueryColumns(
    const std::string& db, const std::string& sql,
    const std::string& null_text) {
  std::vector<std::vector<std::string>> rows;
  sqlite3* handle = nullptr;
  if (sqlite3_open_v2(db.c_str(), &handle, SQLITE_OPEN_READONLY, nullptr) !=
      SQLITE_OK) {
    sqlite3_close(handle);
    ADD_FAILURE() << "cannot open " << db;
    return rows;
  }
  sqlite3_stmt* statement = nullptr;
  if (sqlite3_prepare_v2(handle, sql.c_str(), -1, &statement, nullptr) !=
      SQLITE_OK) {
    ADD_FAILURE() << sqlite3_errmsg(handle) << " in " << sql;
  }
  while (statement != nullptr && sqlite3_step(statement) == SQLITE_ROW) {
    std::vector<std::string> row;
    for (int i = 0; i < sqlite3_column_count(statement); ++i) {
      if (sqlite3_column_type(statement, i) == SQLITE_NULL) {
        row.push_back(null_text);
        continue;
      }
      // As a blob: the exact bytes, whatever the column's type or encoding.
      const auto* bytes =
          static_cast<const char*>(sqlite3_column_blob(statement, i));
      const int size = sqlite3_column_bytes(statement, i);
      row.emplace_back(bytes ? bytes : "", static_cast<std::size_t>(size));
    }
    rows.push_back(std::move(row));
  }
  sqlite3_finalize(statement);
  sqlite3_close(handle);
  return rows;
}

std::vector<std::string> QueryRows(const std::string& db,
                                   const std::string& sql) {
  std::vector<std::string> rows;
  for (const std::vector<std::string>& columns : QueryColumns(db, sql)) {
    std::string row;
    for (const std::string& column : columns) row += column + "|";
    rows.push_back(std::move(row));
  }
  return rows;
}

}  // namespace dsb::testing
