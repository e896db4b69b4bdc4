// A pair's entries of RawNIND's `crops` list, decided once from the
// manifest's crop targets (--crops): the rawnind-yaml export writes them and
// the report counts the pairs whose list is empty (RawNIND's loader drops
// those), so both read the same rule.
//
// The rule: a crop target counts only while it still describes its file
// (its content hash is the files table's); a pair gets one entry per crop
// position that both its GT's and its noisy file's current targets have,
// when both are of the same CFA kind; otherwise its list is empty. Entries
// are sorted by `coordinates`, as RawNIND's loaders sort them.
//
// Thread safety: pure functions over values.
#pragma once

#include <array>
#include <map>
#include <string>
#include <vector>

#include "core/file_record.h"
#include "manifest/manifest.h"

namespace dsb {

// Current crop targets by raw file (rel_path).
using CropTargets = std::map<std::string, CropTargetRecord>;

// The targets of `targets` whose hash is the one `files` records for their
// file; targets of files the manifest no longer lists are left out.
CropTargets CurrentCropTargets(std::vector<CropTargetRecord> targets,
                               const std::vector<FileRecord>& files);
// The same, read from the manifest.
Result<CropTargets> LoadCurrentCropTargets(Manifest& manifest);

// One entry of a pair's `crops` list.
struct PairCrop {
  // Full-resolution position of the crop in the GT's visible area: the
  // origin of the mask window that RawNIND's loaders slice at `coordinates`
  // (see the README, "Training crops").
  std::array<int, 2> coordinates{};
  const CropTargetRecord::Crop* gt = nullptr;
  const CropTargetRecord::Crop* noisy = nullptr;
};

// The target of `rel_path` in `targets`, or nullptr.
const CropTargetRecord* FindCropTarget(const CropTargets& targets,
                                       const std::string& rel_path);

// The pair's `crops` list (pointers into `targets`); empty when RawNIND's
// loader would drop the pair for missing crops.
std::vector<PairCrop> PairCrops(const CropTargets& targets,
                                const PairRecord& pair);

}  // namespace dsb
