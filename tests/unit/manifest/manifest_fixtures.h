// Test fixtures shared by the manifest unit and integration tests: sample
// scene records and a raw SQLite connection for looking behind the API.
//
// Thread safety: test-only helpers; one thread.
#pragma once

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <cstdint>
#include <string>
#include <vector>

#include "manifest/manifest.h"

namespace dsb::testing {

// A scene with one GT and `n_noisy` noisy files, paired as docs/contract.md §1
// says (the GT with each file, itself included), all ok, masks under masks/.
inline SceneRecord SampleScene(const std::string& scene, const std::string& key,
                               int n_noisy = 2) {
  SceneRecord record;
  record.scene = scene;
  record.key = key;
  record.cfa = CfaPattern::Bayer(BayerOrder::kRGGB);
  record.width = 64;
  record.height = 48;
  record.timings = {0.5, 1.25, 0.125, 0.75};

  FileMetadata meta;
  meta.make = "Sony";
  meta.model = "ILCE-7RM3";
  meta.iso = 100;
  meta.cfa_name = "RGGB";
  meta.width = 64;
  meta.height = 48;
  meta.black = {512, 512, 512};
  meta.white = 16383;
  meta.overexposure_lb = 0.95f;
  meta.rgb_xyz_matrix = {{{0.6640f, -0.1847f, -0.0503f},
                          {-0.5238f, 1.2974f, 0.2392f},
                          {-0.0861f, 0.1688f, 0.6283f},
                          {0, 0, 0}}};
  meta.wb_coeffs = {2.1f, 1, 1.6f};

  const std::string gt = scene + "/gt/gt.arw";
  std::vector<std::string> raws = {gt};
  for (int i = 0; i < n_noisy; ++i) {
    raws.push_back(scene + "/noisy" + std::to_string(i) + ".arw");
  }
  for (std::size_t i = 0; i < raws.size(); ++i) {
    SceneFile file;
    file.file.scene = scene;
    file.file.role = i == 0 ? FileRole::kGt : FileRole::kNoisy;
    file.file.rel_path = raws[i];
    file.file.size = 1000 + i;
    file.file.mtime_ns = 1700000000123456789 + static_cast<std::int64_t>(i);
    file.file.inode = 0xF000000000000000ull + i;  // above INT64_MAX
    file.file.hash_hex = std::string(31, 'a') + static_cast<char>('0' + i);
    file.metadata = meta;
    record.files.push_back(file);
  }
  for (std::size_t i = 0; i < raws.size(); ++i) {
    PairRecord pair;
    pair.gt_path = gt;
    pair.noisy_path = raws[i];
    Alignment alignment;
    alignment.dy = static_cast<int>(i) - 1;
    alignment.dx = 3 - static_cast<int>(i);
    alignment.dy_subpx = alignment.dy + 0.25;
    alignment.dx_subpx = alignment.dx - 0.125;
    alignment.confidence = 12.5;
    alignment.loss = 0.01 * static_cast<double>(i + 1);
    alignment.raw_gain = 1.0 + 0.5 * static_cast<double>(i);
    pair.alignment = alignment;
    pair.overexposure_lb = 0.95;
    pair.mask_path = "masks/" + scene + "_" + std::to_string(i) + ".png";
    pair.mask_mean = 0.9;
    record.pairs.push_back(pair);
  }
  return record;
}

// A plain SQLite connection to the manifest file, to check what the API
// wrote without going through it.
class RawDb {
 public:
  explicit RawDb(const std::string& path, bool read_only = false) {
    const int flags = read_only ? SQLITE_OPEN_READONLY
                                : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    rc_ = sqlite3_open_v2(path.c_str(), &db_, flags, nullptr);
  }
  ~RawDb() { sqlite3_close_v2(db_); }
  RawDb(const RawDb&) = delete;
  RawDb& operator=(const RawDb&) = delete;

  bool ok() const { return rc_ == SQLITE_OK; }
  sqlite3* get() { return db_; }

  // Runs SQL; returns the SQLite return code.
  int Exec(const std::string& sql) {
    return sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr);
  }
  // The first column of every row, as text ("NULL" for NULL).
  std::vector<std::string> Column(const std::string& sql) {
    std::vector<std::string> values;
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) {
      ADD_FAILURE() << "prepare failed: " << sqlite3_errmsg(db_) << " in "
                    << sql;
      return values;
    }
    while (sqlite3_step(stmt) == SQLITE_ROW) {
      if (sqlite3_column_type(stmt, 0) == SQLITE_NULL) {
        values.push_back("NULL");
      } else {
        const auto* text =
            reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
        values.emplace_back(text, sqlite3_column_bytes(stmt, 0));
      }
    }
    sqlite3_finalize(stmt);
    return values;
  }
  std::int64_t Int(const std::string& sql) {
    std::vector<std::string> values = Column(sql);
    return values.empty() ? -1 : std::stoll(values[0]);
  }
  std::string Text(const std::string& sql) {
    std::vector<std::string> values = Column(sql);
    return values.empty() ? "<no row>" : values[0];
  }

 private:
  sqlite3* db_ = nullptr;
  int rc_ = SQLITE_OK;
};

}  // namespace dsb::testing
