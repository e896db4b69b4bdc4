// Manifest methods for the crop_targets table (--crops); see manifest.h.
#include <nlohmann/json.hpp>

#include "manifest/manifest.h"
#include "manifest/sqlite_statement.h"

namespace dsb {

Result<std::vector<CropTargetRecord>> Manifest::LoadCropTargets() {
  const char* what = "loading crop targets";
  DSB_ASSIGN_OR_RETURN(
      Statement stmt,
      Statement::Prepare(db_, db_path_,
                         "SELECT rel_path, scene, hash, params, is_bayer, "
                         "frame_top, frame_left, rgb_mean, crops FROM "
                         "crop_targets ORDER BY rel_path",
                         what));
  std::vector<CropTargetRecord> targets;
  while (true) {
    DSB_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    CropTargetRecord target;
    target.rel_path = stmt.Text(0);
    target.scene = stmt.Text(1);
    target.hash_hex = stmt.Text(2);
    target.params = stmt.Text(3);
    target.is_bayer = stmt.Int64(4) != 0;
    target.frame_top = static_cast<int>(stmt.Int64(5));
    target.frame_left = static_cast<int>(stmt.Int64(6));
    target.rgb_mean = stmt.Double(7);
    const nlohmann::json crops =
        nlohmann::json::parse(stmt.Text(8), nullptr, false);
    if (!crops.is_array()) {
      return Status::Corrupt("manifest " + db_path_ + ": crops of " +
                             target.rel_path + " are not a JSON list");
    }
    for (const nlohmann::json& crop : crops) {
      if (!crop.is_array() || crop.size() != 4 || !crop[0].is_number() ||
          !crop[1].is_number() || !crop[3].is_string()) {
        return Status::Corrupt("manifest " + db_path_ + ": a crop of " +
                               target.rel_path + " is malformed");
      }
      CropTargetRecord::Crop c;
      c.x = crop[0].get<int>();
      c.y = crop[1].get<int>();
      if (crop[2].is_string()) c.bayer_path = crop[2].get<std::string>();
      c.linrec_path = crop[3].get<std::string>();
      target.crops.push_back(std::move(c));
    }
    targets.push_back(std::move(target));
  }
  return targets;
}

Status Manifest::RecordCropTarget(const CropTargetRecord& target) {
  const std::string what = "recording the crops of " + target.rel_path;
  DSB_RETURN_IF_ERROR(CheckWritable(what));
  nlohmann::json crops = nlohmann::json::array();
  for (const CropTargetRecord::Crop& c : target.crops) {
    crops.push_back({c.x, c.y,
                     c.bayer_path.empty() ? nlohmann::json(nullptr)
                                          : nlohmann::json(c.bayer_path),
                     c.linrec_path});
  }
  std::string crops_text;
  try {
    crops_text = crops.dump();
  } catch (const nlohmann::json::exception& e) {
    return Status::InvalidArgument(what + ": a crop path is not UTF-8 (" +
                                   e.what() + ")");
  }
  DSB_ASSIGN_OR_RETURN(
      Statement stmt,
      Statement::Prepare(
          db_, db_path_,
          "INSERT OR REPLACE INTO crop_targets (rel_path, scene, hash, "
          "params, is_bayer, frame_top, frame_left, rgb_mean, crops, "
          "built_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
          what));
  return stmt.BindText(1, target.rel_path)
      .BindText(2, target.scene)
      .BindText(3, target.hash_hex)
      .BindText(4, target.params)
      .BindInt64(5, target.is_bayer ? 1 : 0)
      .BindInt64(6, target.frame_top)
      .BindInt64(7, target.frame_left)
      .BindDouble(8, target.rgb_mean)
      .BindText(9, crops_text)
      .BindText(10, Now())
      .Run();
}

Status Manifest::RemoveCropTargets(const std::vector<std::string>& rel_paths) {
  if (rel_paths.empty()) return Status::Ok();
  const std::string what = "removing crop targets";
  DSB_RETURN_IF_ERROR(CheckWritable(what));
  DSB_ASSIGN_OR_RETURN(Transaction transaction,
                       Transaction::Begin(db_, db_path_, what));
  DSB_ASSIGN_OR_RETURN(
      Statement stmt,
      Statement::Prepare(db_, db_path_,
                         "DELETE FROM crop_targets WHERE rel_path = ?1", what));
  for (const std::string& path : rel_paths) {
    DSB_RETURN_IF_ERROR(stmt.BindText(1, path).Run());
    stmt.Reset();
  }
  return transaction.Commit();
}

}  // namespace dsb
