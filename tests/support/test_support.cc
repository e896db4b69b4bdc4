#include "test_support.h"

#include <cstdlib>
#include <filesystem>
#include <stdexcept>

namespace dsb::testing {

TempDir::TempDir() {
  std::string pattern =
      (std::filesystem::temp_directory_path() / "dsb-test-XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) {
    throw std::runtime_error("mkdtemp failed for " + pattern);
  }
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

std::string RealRawDir() {
  const char* dir = std::getenv("DSB_REAL_RAW_DIR");
  if (dir == nullptr || !std::filesystem::is_directory(dir)) return "";
  return dir;
}

}  // namespace dsb::testing
