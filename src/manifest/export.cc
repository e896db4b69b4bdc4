#include "manifest/export.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "manifest/pair_crops.h"

namespace dsb {

namespace {

// Decodes one UTF-8 sequence at the start of `text`; returns its length, or
// 0 when the first byte does not start a valid sequence.
std::size_t ValidSequenceLength(std::string_view text) {
  const auto byte = [&](std::size_t i) {
    return static_cast<unsigned char>(text[i]);
  };
  const unsigned char b0 = byte(0);
  if (b0 < 0x80) return 1;
  std::size_t length = 0;
  unsigned char low = 0x80, high = 0xBF;  // range of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    length = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    length = 3;
    if (b0 == 0xE0) low = 0xA0;   // no overlong forms
    if (b0 == 0xED) high = 0x9F;  // no UTF-16 surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    length = 4;
    if (b0 == 0xF0) low = 0x90;   // no overlong forms
    if (b0 == 0xF4) high = 0x8F;  // nothing above U+10FFFF
  } else {
    return 0;
  }
  if (text.size() < length) return 0;
  if (byte(1) < low || byte(1) > high) return 0;
  for (std::size_t i = 2; i < length; ++i) {
    if (byte(i) < 0x80 || byte(i) > 0xBF) return 0;
  }
  return length;
}

// Checks (or repairs) one text value bound for JSON or YAML.
Result<std::string> UnicodeText(std::string_view text,
                                const ExportOptions& options,
                                std::string_view field) {
  if (IsValidUtf8(text)) return std::string(text);
  if (options.replace_invalid_utf8) return ReplaceInvalidUtf8(text);
  std::string message = "cannot export ";
  message += field;
  message += " '";
  message += ReplaceInvalidUtf8(text);
  message +=
      "': it is not valid UTF-8, which JSON and YAML require (use --format "
      "csv, which keeps the bytes)";
  return Status::InvalidArgument(message);
}

std::string Basename(const std::string& path) {
  std::string trimmed = path;
  while (trimmed.size() > 1 && trimmed.back() == '/') trimmed.pop_back();
  const std::size_t slash = trimmed.rfind('/');
  return slash == std::string::npos ? trimmed : trimmed.substr(slash + 1);
}

std::string UnderRoot(const std::optional<std::string>& root,
                      const std::string& path) {
  if (!root || path.starts_with('/')) return path;
  std::string joined = *root;
  while (joined.size() > 1 && joined.back() == '/') joined.pop_back();
  if (joined.empty() || joined.back() != '/') joined += '/';
  return joined + path;
}

std::string PairName(const PairRow& row) {
  return "pair (" + row.pair.gt_path + ", " + row.pair.noisy_path +
         ") of scene " + row.scene;
}

std::string FormatDouble(double value) {
  char buffer[64];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof(buffer), value);
  return ec == std::errc() ? std::string(buffer, end) : std::string();
}

// A pair's `crops` list (manifest/pair_crops.h), as RawNIND's keys.
Status EmitCrops(YAML::Emitter& yaml, const std::vector<PairCrop>& crops,
                 bool is_bayer, const ExportOptions& options) {
  yaml << YAML::BeginSeq;
  for (const PairCrop& crop : crops) {
    const auto path = [&](const std::string& p) {
      return UnicodeText(UnderRoot(options.absolute_root, p), options,
                         "crop path");
    };
    yaml << YAML::BeginMap;
    yaml << YAML::Key << "coordinates" << YAML::Value << YAML::Flow
         << YAML::BeginSeq << crop.coordinates[0] << crop.coordinates[1]
         << YAML::EndSeq;
    DSB_ASSIGN_OR_RETURN(std::string gt_linrec, path(crop.gt->linrec_path));
    DSB_ASSIGN_OR_RETURN(std::string f_linrec, path(crop.noisy->linrec_path));
    yaml << YAML::Key << "gt_linrec2020_fpath" << YAML::Value
         << YAML::DoubleQuoted << gt_linrec;
    yaml << YAML::Key << "f_linrec2020_fpath" << YAML::Value
         << YAML::DoubleQuoted << f_linrec;
    if (is_bayer) {
      DSB_ASSIGN_OR_RETURN(std::string gt_bayer, path(crop.gt->bayer_path));
      DSB_ASSIGN_OR_RETURN(std::string f_bayer, path(crop.noisy->bayer_path));
      yaml << YAML::Key << "gt_bayer_fpath" << YAML::Value << YAML::DoubleQuoted
           << gt_bayer;
      yaml << YAML::Key << "f_bayer_fpath" << YAML::Value << YAML::DoubleQuoted
           << f_bayer;
    }
    yaml << YAML::EndMap;
  }
  yaml << YAML::EndSeq;
  return Status::Ok();
}

Status ExportRawnindYaml(const std::vector<PairRow>& rows,
                         const CropTargets& crop_targets, std::ostream& out,
                         const ExportOptions& options) {
  YAML::Emitter yaml;
  yaml << YAML::BeginSeq;
  // Writes a float so that it reads back as a float (see FormatYamlFloat);
  // yaml-cpp emits a numeric-looking string as a plain scalar.
  const auto real = [&yaml](double value) { yaml << FormatYamlFloat(value); };
  for (const PairRow& row : rows) {
    const PairRecord& pair = row.pair;
    if (pair.status != BuildStatus::kOk) continue;
    const std::string name = PairName(row);
    if (!pair.alignment || !pair.mask_path || !pair.mask_mean ||
        !pair.overexposure_lb) {
      return Status::Corrupt("manifest: ok " + name + " is incomplete");
    }
    if (!row.gt_rgb_xyz_matrix) {
      return Status::Corrupt("manifest: ok " + name +
                             " has no decoded metadata for its GT "
                             "(rgb_xyz_matrix)");
    }
    bool is_bayer;
    if (row.cfa) {
      is_bayer = *row.cfa == "bayer";
    } else if (row.gt_cfa_pattern) {
      is_bayer = *row.gt_cfa_pattern != "XTRANS";
    } else {
      return Status::Corrupt("manifest: " + name + " has no CFA kind");
    }
    DSB_ASSIGN_OR_RETURN(
        std::string gt_fpath,
        UnicodeText(UnderRoot(options.absolute_root, pair.gt_path), options,
                    "path"));
    DSB_ASSIGN_OR_RETURN(
        std::string f_fpath,
        UnicodeText(UnderRoot(options.absolute_root, pair.noisy_path), options,
                    "path"));
    DSB_ASSIGN_OR_RETURN(
        std::string mask_fpath,
        UnicodeText(UnderRoot(options.absolute_root, *pair.mask_path), options,
                    "mask path"));
    DSB_ASSIGN_OR_RETURN(
        std::string image_set,
        UnicodeText(Basename(row.scene), options, "scene name"));
    const Alignment& a = *pair.alignment;
    const CropTargetRecord* gt_crops =
        FindCropTarget(crop_targets, pair.gt_path);
    const CropTargetRecord* f_crops =
        FindCropTarget(crop_targets, pair.noisy_path);
    // RawNIND's rgb_gain: mean(gt) / mean(noisy) of the demosaiced frames,
    // known once both files are cropped.
    std::optional<double> rgb_gain = pair.rgb_gain;
    if (gt_crops != nullptr && f_crops != nullptr && f_crops->rgb_mean != 0) {
      rgb_gain = gt_crops->rgb_mean / f_crops->rgb_mean;
    }

    yaml << YAML::BeginMap;
    yaml << YAML::Key << "gt_fpath" << YAML::Value << YAML::DoubleQuoted
         << gt_fpath;
    yaml << YAML::Key << "f_fpath" << YAML::Value << YAML::DoubleQuoted
         << f_fpath;
    yaml << YAML::Key << "image_set" << YAML::Value << YAML::DoubleQuoted
         << image_set;
    yaml << YAML::Key << "best_alignment" << YAML::Value << YAML::Flow
         << YAML::BeginSeq << a.dy << a.dx << YAML::EndSeq;
    // RawNIND's meaning (its loader drops pairs above 0.035): the loss on
    // the demosaiced frames when the build computed it (Bayer), else ours.
    yaml << YAML::Key << "best_alignment_loss" << YAML::Value;
    real(BestAlignmentLoss(pair));
    yaml << YAML::Key << "mask_fpath" << YAML::Value << YAML::DoubleQuoted
         << mask_fpath;
    yaml << YAML::Key << "mask_mean" << YAML::Value;
    real(*pair.mask_mean);
    yaml << YAML::Key << "is_bayer" << YAML::Value << is_bayer;
    yaml << YAML::Key << "rgb_xyz_matrix" << YAML::Value << YAML::Flow
         << YAML::BeginSeq;
    for (const auto& matrix_row : *row.gt_rgb_xyz_matrix) {
      yaml << YAML::Flow << YAML::BeginSeq;
      for (double cell : matrix_row) real(cell);
      yaml << YAML::EndSeq;
    }
    yaml << YAML::EndSeq;
    yaml << YAML::Key << "overexposure_lb" << YAML::Value;
    real(*pair.overexposure_lb);
    yaml << YAML::Key << "raw_gain" << YAML::Value;
    real(a.raw_gain);
    yaml << YAML::Key << "rgb_gain" << YAML::Value;
    real(rgb_gain.value_or(a.raw_gain));
    yaml << YAML::Key << "crops" << YAML::Value;
    DSB_RETURN_IF_ERROR(EmitCrops(yaml, PairCrops(crop_targets, pair),
                                  gt_crops != nullptr && gt_crops->is_bayer,
                                  options));
    yaml << YAML::EndMap;
  }
  yaml << YAML::EndSeq;
  if (!yaml.good()) {
    return Status::Internal("YAML emitter: " + yaml.GetLastError());
  }
  out << yaml.c_str() << '\n';
  return Status::Ok();
}

Status ExportJson(Manifest& manifest, const std::vector<PairRow>& rows,
                  std::ostream& out, const ExportOptions& options) {
  DSB_ASSIGN_OR_RETURN(std::vector<SceneRow> scenes, manifest.LoadScenesView());
  using Json = nlohmann::ordered_json;  // keeps the views' column order
  const auto text = [&options](const std::optional<std::string>& value,
                               std::string_view field) -> Result<Json> {
    if (!value) return Json(nullptr);
    DSB_ASSIGN_OR_RETURN(std::string checked,
                         UnicodeText(*value, options, field));
    return Json(std::move(checked));
  };
  const auto number = [](const std::optional<double>& value) {
    return value ? Json(*value) : Json(nullptr);
  };

  Json document = Json::object();
  document["scenes"] = Json::array();
  for (const SceneRow& scene : scenes) {
    Json row = Json::object();
    DSB_ASSIGN_OR_RETURN(row["scene"], text(scene.scene, "scene name"));
    row["cfa"] = scene.cfa ? Json(*scene.cfa) : Json(nullptr);
    row["width"] = scene.width;
    row["height"] = scene.height;
    row["n_files"] = scene.n_files;
    row["status"] = scene.status;
    row["built_at"] = scene.built_at;
    DSB_ASSIGN_OR_RETURN(row["error"], text(scene.error, "error"));
    document["scenes"].push_back(std::move(row));
  }
  document["pairs"] = Json::array();
  for (const PairRow& pair_row : rows) {
    const PairRecord& pair = pair_row.pair;
    const std::optional<Alignment>& a = pair.alignment;
    Json row = Json::object();
    DSB_ASSIGN_OR_RETURN(row["scene"], text(pair_row.scene, "scene name"));
    DSB_ASSIGN_OR_RETURN(row["gt_path"], text(pair.gt_path, "path"));
    DSB_ASSIGN_OR_RETURN(row["noisy_path"], text(pair.noisy_path, "path"));
    row["dy"] = a ? Json(a->dy) : Json(nullptr);
    row["dx"] = a ? Json(a->dx) : Json(nullptr);
    row["dy_subpx"] = a ? Json(a->dy_subpx) : Json(nullptr);
    row["dx_subpx"] = a ? Json(a->dx_subpx) : Json(nullptr);
    row["confidence"] = a ? Json(a->confidence) : Json(nullptr);
    row["loss"] = a ? Json(a->loss) : Json(nullptr);
    row["raw_gain"] = a ? Json(a->raw_gain) : Json(nullptr);
    row["overexposure_lb"] = number(pair.overexposure_lb);
    DSB_ASSIGN_OR_RETURN(row["mask_path"], text(pair.mask_path, "mask path"));
    row["mask_mean"] = number(pair.mask_mean);
    row["status"] = std::string(BuildStatusName(pair.status));
    DSB_ASSIGN_OR_RETURN(
        row["error"],
        text(pair.error.empty() ? std::nullopt
                                : std::optional<std::string>(pair.error),
             "error"));
    document["pairs"].push_back(std::move(row));
  }
  try {
    out << document.dump(2) << '\n';
  } catch (const nlohmann::json::exception& e) {
    // Unreachable after UnicodeText; kept so a bug cannot crash the tool.
    return Status::Internal(std::string("JSON export: ") + e.what());
  }
  return Status::Ok();
}

Status ExportCsv(const std::vector<PairRow>& rows, std::ostream& out) {
  out << "scene,gt_path,noisy_path,dy,dx,dy_subpx,dx_subpx,confidence,loss,"
         "raw_gain,overexposure_lb,mask_path,mask_mean,status,error\r\n";
  const auto number = [](const std::optional<double>& value) {
    return value ? FormatDouble(*value) : std::string();
  };
  for (const PairRow& row : rows) {
    const PairRecord& pair = row.pair;
    const std::optional<Alignment>& a = pair.alignment;
    out << CsvField(row.scene) << ',' << CsvField(pair.gt_path) << ','
        << CsvField(pair.noisy_path) << ',' << (a ? std::to_string(a->dy) : "")
        << ',' << (a ? std::to_string(a->dx) : "") << ','
        << (a ? FormatDouble(a->dy_subpx) : "") << ','
        << (a ? FormatDouble(a->dx_subpx) : "") << ','
        << (a ? FormatDouble(a->confidence) : "") << ','
        << (a ? FormatDouble(a->loss) : "") << ','
        << (a ? FormatDouble(a->raw_gain) : "") << ','
        << number(pair.overexposure_lb) << ','
        << CsvField(pair.mask_path.value_or("")) << ','
        << number(pair.mask_mean) << ',' << BuildStatusName(pair.status) << ','
        << CsvField(pair.error) << "\r\n";
  }
  return Status::Ok();
}

}  // namespace

Result<ExportFormat> ParseExportFormat(std::string_view name) {
  if (name == "rawnind-yaml") return ExportFormat::kRawnindYaml;
  if (name == "json") return ExportFormat::kJson;
  if (name == "csv") return ExportFormat::kCsv;
  return Status::InvalidArgument("unknown export format '" + std::string(name) +
                                 "' (expected rawnind-yaml, json or csv)");
}

std::string_view ExportFormatName(ExportFormat format) {
  switch (format) {
    case ExportFormat::kRawnindYaml:
      return "rawnind-yaml";
    case ExportFormat::kJson:
      return "json";
    case ExportFormat::kCsv:
      return "csv";
  }
  return "unknown";
}

bool IsValidUtf8(std::string_view text) {
  while (!text.empty()) {
    const std::size_t length = ValidSequenceLength(text);
    if (length == 0) return false;
    text.remove_prefix(length);
  }
  return true;
}

std::string ReplaceInvalidUtf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  bool in_invalid_run = false;
  while (!text.empty()) {
    const std::size_t length = ValidSequenceLength(text);
    if (length == 0) {
      if (!in_invalid_run) out += "\xEF\xBF\xBD";  // U+FFFD
      in_invalid_run = true;
      text.remove_prefix(1);
    } else {
      out.append(text.substr(0, length));
      in_invalid_run = false;
      text.remove_prefix(length);
    }
  }
  return out;
}

std::string FormatYamlFloat(double value) {
  if (std::isnan(value)) return ".nan";
  if (std::isinf(value)) return value > 0 ? ".inf" : "-.inf";
  std::string text = FormatDouble(value);
  // YAML 1.1 (PyYAML) reads "1" as an int and "1e-05" as a string.
  if (text.find('.') == std::string::npos) {
    const std::size_t exponent = text.find('e');
    if (exponent == std::string::npos) {
      text += ".0";
    } else {
      text.insert(exponent, ".0");
    }
  }
  return text;
}

std::string CsvField(std::string_view text) {
  if (text.find_first_of(",\"\r\n") == std::string_view::npos) {
    return std::string(text);
  }
  std::string quoted = "\"";
  for (char c : text) {
    if (c == '"') quoted += '"';
    quoted += c;
  }
  quoted += '"';
  return quoted;
}

Status ExportManifest(Manifest& manifest, ExportFormat format,
                      std::ostream& out, const ExportOptions& options) {
  DSB_ASSIGN_OR_RETURN(std::vector<PairRow> rows,
                       manifest.LoadPairsForExport());
  Status status;
  switch (format) {
    case ExportFormat::kRawnindYaml: {
      DSB_ASSIGN_OR_RETURN(CropTargets crop_targets,
                           LoadCurrentCropTargets(manifest));
      status = ExportRawnindYaml(rows, crop_targets, out, options);
      break;
    }
    case ExportFormat::kJson:
      status = ExportJson(manifest, rows, out, options);
      break;
    case ExportFormat::kCsv:
      status = ExportCsv(rows, out);
      break;
  }
  DSB_RETURN_IF_ERROR(status);
  out.flush();
  if (!out) {
    return Status::IoError("writing the " +
                           std::string(ExportFormatName(format)) +
                           " export failed");
  }
  return Status::Ok();
}

}  // namespace dsb
