// Helpers shared by the test suites: temporary directories and the location
// of the real camera raws (../shared/data/raw), which tests skip without.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "common/file_system.h"
#include "core/cfa.h"
#include "core/file_record.h"
#include "core/plane.h"

namespace dsb::testing {

// A fresh directory under $TMPDIR, removed with everything in it on
// destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string Join(const std::string& relative) const {
    return path_ + "/" + relative;
  }

 private:
  std::string path_;
};

// What a run of the dataset-build binary ($DSB_BINARY) did.
struct ToolRun {
  int exit_code = -1;  // 128 + signal when killed
  std::string errors;  // everything it wrote to stderr
};

// Runs $DSB_BINARY with `args`, stdout discarded and stderr kept in the file
// `log`. With `uid` set (the caller being root), the tool runs as that user
// and group, so file permissions apply to it.
ToolRun RunTool(const std::vector<std::string>& args, const std::string& log,
                uid_t uid = static_cast<uid_t>(-1));

// The folder of real camera raws, or "" when it is absent (then tests call
// GTEST_SKIP() with a message naming the folder).
std::string RealRawDir();

// Every CFA the tool handles: the four Bayer orders, then the standard
// X-Trans.
std::vector<CfaPattern> AllCfas();

// How many pixels of two masks of the same size differ.
inline std::int64_t DifferingPixels(PlaneView<const std::uint8_t> a,
                                    PlaneView<const std::uint8_t> b) {
  std::int64_t n = 0;
  for (int y = 0; y < a.height; ++y) {
    for (int x = 0; x < a.width; ++x) n += a.row(y)[x] != b.row(y)[x];
  }
  return n;
}

// A file as the scan records it: `rel_path` with the stat of `info`.
inline FileRecord Scanned(std::string rel_path, const FileInfo& info) {
  FileRecord f;
  f.rel_path = std::move(rel_path);
  f.size = info.size;
  f.mtime_ns = info.mtime_ns;
  f.inode = info.inode;
  return f;
}

// The same file as a manifest remembers it after hashing.
inline FileRecord Hashed(FileRecord f, std::string hash_hex,
                         std::int64_t hashed_at_ns) {
  f.hash_hex = std::move(hash_hex);
  f.hashed_at_ns = hashed_at_ns;
  return f;
}

}  // namespace dsb::testing
