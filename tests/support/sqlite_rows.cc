#include "sqlite_rows.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

namespace dsb::testing {

std::vector<std::string> QueryRows(const std::string& db,
                                   const std::string& sql) {
  std::vector<std::string> rows;
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
    std::string row;
    for (int i = 0; i < sqlite3_column_count(statement); ++i) {
      const auto* text = sqlite3_column_text(statement, i);
      row += text ? std::string(reinterpret_cast<const char*>(text),
                                sqlite3_column_bytes(statement, i))
                  : "NULL";
      row += "|";
    }
    rows.push_back(std::move(row));
  }
  sqlite3_finalize(statement);
  sqlite3_close(handle);
  return rows;
}

}  // namespace dsb::testing
