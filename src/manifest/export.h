// Writes the manifest's results in the formats other tools read
// (`dataset-build export --format rawnind-yaml|json|csv`, docs/contract.md §5).
//
// - rawnind-yaml: RawNIND's alignment/mask YAML, a list with one entry per
//   ok pair and RawNIND's keys (gt_fpath, f_fpath, image_set,
//   best_alignment, best_alignment_loss, mask_fpath, mask_mean, is_bayer,
//   rgb_xyz_matrix, overexposure_lb, raw_gain, rgb_gain, crops), so its
//   loaders read it unchanged. Failed pairs are left out (RawNIND's loaders
//   cannot use them). image_set is the scene folder's basename, as RawNIND
//   names its sets. rgb_gain falls back to raw_gain when the build did not
//   compute one. crops lists the pair's training crops of a --crops build
//   (manifest/pair_crops.h); it is [] when either file has no current crop
//   target, and RawNIND's loader then drops the pair. rgb_xyz_matrix is the
//   GT's.
//   Floats are written in their shortest round-trip form and always look
//   like YAML 1.1 floats (1.0, 1.0e-05), so Python's yaml.safe_load reads
//   them as float; paths are double-quoted so a file named `true` or `1.5`
//   stays a string.
// - json: {"scenes": [rows of the scenes view], "pairs": [rows of the
//   alignments view, failed pairs included]}, keys in view column order.
// - csv: the alignments view as RFC 4180 CSV (CRLF line ends, a header,
//   fields with a comma, quote, CR or LF are quoted, quotes doubled; NULL is
//   an empty field). Bytes are written as stored, so any path round-trips.
//
// JSON and YAML are Unicode text: a path that is not valid UTF-8 cannot be
// written exactly, so the export fails with kInvalidArgument naming it (use
// csv), unless ExportOptions::replace_invalid_utf8 asks for U+FFFD instead.
//
// Thread safety: uses the Manifest it is given; same rules as Manifest.
#pragma once

#include <optional>
#include <ostream>
#include <string>
#include <string_view>

#include "common/result.h"
#include "manifest/manifest.h"

namespace dsb {

enum class ExportFormat { kRawnindYaml, kJson, kCsv };

// "rawnind-yaml", "json" or "csv"; anything else is kInvalidArgument with
// the list of valid names.
Result<ExportFormat> ParseExportFormat(std::string_view name);
std::string_view ExportFormatName(ExportFormat format);

struct ExportOptions {
  // rawnind-yaml only: when set (the dataset root), gt_fpath, f_fpath and
  // mask_fpath are written as absolute paths under it, as RawNIND's own
  // YAML has them; mask paths that are already absolute stay as they are.
  // json and csv always mirror the views (paths relative to the root).
  std::optional<std::string> absolute_root;
  // JSON/YAML: write U+FFFD for bytes that are not valid UTF-8 instead of
  // failing. The path written then no longer names the file.
  bool replace_invalid_utf8 = false;
};

Status ExportManifest(Manifest& manifest, ExportFormat format,
                      std::ostream& out,
                      const ExportOptions& options = ExportOptions());

// Helpers, public for their tests.

// True when `text` is well-formed UTF-8 (no overlong forms, surrogates or
// code points above U+10FFFF).
bool IsValidUtf8(std::string_view text);
// `text` with each maximal invalid byte sequence replaced by U+FFFD.
std::string ReplaceInvalidUtf8(std::string_view text);
// The shortest decimal that reads back as `value`, spelled as a YAML 1.1
// float: always with a '.' before any exponent ("1.0", "1.0e-05"), and
// ".nan", ".inf", "-.inf".
std::string FormatYamlFloat(double value);
// One RFC 4180 field: quoted (with doubled quotes) only when it contains a
// comma, a quote, CR or LF.
std::string CsvField(std::string_view text);

}  // namespace dsb
