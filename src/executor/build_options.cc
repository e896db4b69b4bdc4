#include "executor/build_options.h"

#include <thread>

namespace dsb {

void BuildOptions::ResolveDefaults() {
  while (root.size() > 1 && root.back() == '/') root.pop_back();
  if (db_path.empty()) db_path = root + "/dataset-build.db";
  if (masks_dir.empty()) masks_dir = root + "/masks";
  if (jobs <= 0) {
    jobs = static_cast<int>(std::thread::hardware_concurrency());
    if (jobs <= 0) jobs = 1;
  }
}

std::string AlgorithmVersion() {
  return "align-" + std::to_string(kAlignRevision) + "/mask-" +
         std::to_string(kMaskRevision);
}

std::string BuildOptions::ResultFingerprint() const {
  return AlgorithmVersion() + ";" + align.Fingerprint() + ";" +
         mask.Fingerprint();
}

}  // namespace dsb
