// Reading a manifest from tests the way a user's sqlite3 query would: a
// read-only connection, every row rendered as "col|col|...|" (NULL as
// "NULL"), so whole views can be compared row by row.
#pragma once

#include <string>
#include <vector>

namespace dsb::testing {

// Rows of `sql` on the database at `db`; an unopenable database or bad SQL
// is a test failure (ADD_FAILURE) and gives no rows.
std::vector<std::string> QueryRows(const std::string& db,
                                   const std::string& sql);

}  // namespace dsb::testing
