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

// The same rows as their columns' exact bytes, NULL as `null_text`.
std::vector<std::vector<std::string>> QueryColumns(
    const std::string& db, const std::string& sql,
    const std::string& null_text = "NULL");

// The contract's two views in a fixed order, every column but built_at (a
// timestamp): what "the same manifest" means in the tests.
inline constexpr const char* kAlignments =
    "SELECT scene, gt_path, noisy_path, dy, dx, dy_subpx, dx_subpx, "
    "confidence, loss, raw_gain, overexposure_lb, mask_path, mask_mean, "
    "status, error FROM alignments ORDER BY scene, gt_path, noisy_path";
inline constexpr const char* kScenes =
    "SELECT scene, cfa, width, height, n_files, status, error FROM scenes "
    "ORDER BY scene";

}  // namespace dsb::testing
