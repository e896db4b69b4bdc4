#include "core/file_record.h"

namespace dsb {

std::string_view FileRoleName(FileRole role) {
  return role == FileRole::kGt ? "gt" : "noisy";
}

}  // namespace dsb
