// The one record of a raw file, from the scan to the manifest.
//
// The scan fills scene, role, path and stat; fingerprinting fills the
// content hash and when it was taken; the plan keys scenes on (role, path,
// hash); the executor hands the same records to the scene runner and the
// manifest stores them. Only the edges convert (SQLite rows in manifest/).
//
// Pure value type; thread safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace dsb {

// Contract §1 (docs/contract.md): a GT lives in <scene>/gt/, a noisy
// capture directly in <scene>/.
enum class FileRole : std::uint8_t { kGt, kNoisy };

// "gt" or "noisy": the word the manifest stores and scene keys hash.
std::string_view FileRoleName(FileRole role);

struct FileRecord {
  std::string scene;  // the scene directory, relative to the dataset root
  FileRole role = FileRole::kNoisy;
  std::string rel_path;  // relative to the dataset root, '/'-separated
  // stat() of the file itself (symlinks followed): what decides whether a
  // recorded hash can be trusted without reading the file.
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;
  std::uint64_t inode = 0;
  // XXH3-128, 32 lowercase hex digits; "" until fingerprinted.
  std::string hash_hex;
  // When hash_hex was computed (ns, file-system clock); 0 when unknown,
  // which makes the record racy (hash/fingerprint.h).
  std::int64_t hashed_at_ns = 0;

  bool operator==(const FileRecord&) const = default;
};

}  // namespace dsb
