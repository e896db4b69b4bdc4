#include "executor/build_options.h"

#include <thread>

#include "crops/rawnind_loss.h"

namespace dsb {

void BuildOptions::ResolveDefaults() {
  while (root.size() > 1 && root.back() == '/') root.pop_back();
  if (db_path.empty()) db_path = root + "/dataset-build.db";
  if (masks_dir.empty()) masks_dir = root + "/masks";
  if (crops_dir.empty()) crops_dir = root + "/crops";
  if (jobs <= 0) {
    jobs = static_cast<int>(std::thread::hardware_concurrency());
    if (jobs <= 0) jobs = 1;
  }
}

std::string AlgorithmVersion() {
  return "align-" + std::to_string(kAlignRevision) + "/mask-" +
         std::to_string(kMaskRevision) + "/rawnind-" +
         std::to_string(kRawnindFiguresRevision);
}

std::string BuildOptions::ResultFingerprint() const {
  return AlgorithmVersion() + ";" + align.Fingerprint() + ";" +
         mask.Fingerprint();
}

}  // namespace dsb
