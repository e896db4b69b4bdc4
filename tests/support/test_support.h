// Helpers shared by the test suites: temporary directories and the location
// of the real camera raws (../shared/data/raw), which tests skip without.
#pragma once

#include <string>

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

// The folder of real camera raws, or "" when it is absent (then tests call
// GTEST_SKIP() with a message naming the folder).
std::string RealRawDir();

}  // namespace dsb::testing
