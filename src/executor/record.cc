#include "executor/record.h"

namespace dsb {

SceneRecord MakeSceneRecord(const SceneOutcome& outcome,
                            std::optional<std::int64_t> run_id) {
  SceneRecord record;
  record.scene = outcome.scene;
  record.key = outcome.key;
  if (!outcome.cfa_name.empty()) {
    record.cfa = CfaPattern::FromName(outcome.cfa_name);
  }
  record.width = outcome.width;
  record.height = outcome.height;
  record.status = outcome.status.ok() ? BuildStatus::kOk : BuildStatus::kFailed;
  record.error = outcome.status.ok() ? "" : outcome.status.message();
  record.timings = {outcome.decode_seconds, outcome.align_seconds,
                    outcome.mask_seconds, outcome.figures_seconds};
  record.run_id = run_id;
  for (const FileOutcome& file : outcome.files) {
    SceneFile scene_file;
    scene_file.file = file.file;
    scene_file.metadata = file.metadata;
    record.files.push_back(std::move(scene_file));
  }
  for (const PairOutcome& pair : outcome.pairs) {
    PairRecord out;
    out.gt_path = pair.gt_path;
    out.noisy_path = pair.noisy_path;
    if (pair.status.ok()) {
      out.status = BuildStatus::kOk;
      out.alignment = pair.alignment;
      out.overexposure_lb = pair.overexposure_lb;
      out.mask_path = pair.mask_path;
      out.mask_mean = pair.mask_mean;
      out.rgb_gain = pair.rgb_gain;
      out.rawnind_loss = pair.rawnind_loss;
    } else {
      out.status = BuildStatus::kFailed;
      out.error = pair.status.message();
    }
    record.pairs.push_back(std::move(out));
  }
  return record;
}

}  // namespace dsb
