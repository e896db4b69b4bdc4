#include "manifest/pair_crops.h"

#include <algorithm>
#include <utility>

namespace dsb {

CropTargets CurrentCropTargets(std::vector<CropTargetRecord> targets,
                               const std::vector<FileRecord>& files) {
  std::map<std::string, std::string> hashes;
  for (const FileRecord& file : files) hashes[file.rel_path] = file.hash_hex;
  CropTargets current;
  for (CropTargetRecord& target : targets) {
    auto it = hashes.find(target.rel_path);
    if (it == hashes.end() || it->second != target.hash_hex) continue;
    current[target.rel_path] = std::move(target);
  }
  return current;
}

Result<CropTargets> LoadCurrentCropTargets(Manifest& manifest) {
  DSB_ASSIGN_OR_RETURN(std::vector<CropTargetRecord> targets,
                       manifest.LoadCropTargets());
  DSB_ASSIGN_OR_RETURN(std::vector<FileRecord> files, manifest.LoadFiles());
  return CurrentCropTargets(std::move(targets), files);
}

const CropTargetRecord* FindCropTarget(const CropTargets& targets,
                                       const std::string& rel_path) {
  auto it = targets.find(rel_path);
  return it == targets.end() ? nullptr : &it->second;
}

std::vector<PairCrop> PairCrops(const CropTargets& targets,
                                const PairRecord& pair) {
  std::vector<PairCrop> crops;
  const CropTargetRecord* gt = FindCropTarget(targets, pair.gt_path);
  const CropTargetRecord* f = FindCropTarget(targets, pair.noisy_path);
  if (gt == nullptr || f == nullptr || gt->is_bayer != f->is_bayer) {
    return crops;
  }
  std::map<std::pair<int, int>, const CropTargetRecord::Crop*> f_crops;
  for (const CropTargetRecord::Crop& c : f->crops) f_crops[{c.x, c.y}] = &c;
  for (const CropTargetRecord::Crop& c : gt->crops) {
    auto it = f_crops.find({c.x, c.y});
    if (it == f_crops.end()) continue;
    crops.push_back(
        {{2 * c.x + gt->frame_left, 2 * c.y + gt->frame_top}, &c, it->second});
  }
  std::stable_sort(crops.begin(), crops.end(),
                   [](const PairCrop& a, const PairCrop& b) {
                     return a.coordinates < b.coordinates;
                   });
  return crops;
}

}  // namespace dsb
