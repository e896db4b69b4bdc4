// `dataset-build report`: writes the static QA report of a manifest
// (docs/contract.md §8): OUT/index.html, OUT/scenes/<scene>.html and the
// previews in OUT/img/. Opens offline from disk; nothing is fetched from
// elsewhere.
//
// Previews are derived targets cached by content key, like masks: a file's
// thumbnail is keyed by its content hash (from the manifest) and the
// renderer version, a pair's difference by both files' hashes, the shift
// and the gain, its mask overlay by the same plus the mask's path,
// mask_mean and the scene's build key (which covers the mask parameters). The
// key is the image's name (img/<key>.jpg), so a rerun draws only images whose
// key is new, which after a build means only the scenes that changed; images no
// page references are removed. A preview that cannot be drawn (a raw the
// decoder refuses, a missing mask) is recorded as img/<key>.err with the
// reason, shown in the report and not retried until its key changes (or
// --force).
//
// Raws are decoded through the build's decoder (a worker process per file
// by default, so a LibRaw crash costs one preview) with the build's pixel
// limits; each thread works on one scene and holds at most two decoded
// images (a GT and one capture). Every file is written atomically, and a
// page whose text is unchanged is not rewritten.
//
// Thread safety: one RunReport at a time per output folder.
#pragma once

#include <string>

#include "common/file_system.h"
#include "common/result.h"

namespace dsb {

class BuildObserver;
class RawDecoder;
struct DecodeOptions;

// Bump when previews would look different: every image is redrawn.
inline constexpr const char* kRendererVersion = "report-preview/1";

struct ReportOptions {
  std::string root = ".";
  std::string db_path;     // default ROOT/dataset-build.db
  std::string output_dir;  // default ROOT/report
  int jobs = 0;            // 0: all cores
  bool force = false;      // redraw every preview
};

struct ReportSummary {
  int scenes = 0;
  int pairs = 0;
  int scenes_drawn = 0;   // scenes with at least one new preview
  int images_drawn = 0;   // previews written this run (.jpg)
  int images_failed = 0;  // previews recorded as .err this run
  int images_cached = 0;  // previews reused
  int files_decoded = 0;
  int pages_written = 0;  // pages whose text changed
  int files_removed = 0;  // previews and pages no longer referenced
  std::string index_path;
  double seconds = 0;
};

// `decoder` and `decode_options` decode raws for thumbnails; `progress`
// hears of each scene drawn and each file decoded (as a build's does).
Result<ReportSummary> RunReport(const ReportOptions& options, FileSystem& fs,
                                const RawDecoder& decoder,
                                const DecodeOptions& decode_options,
                                BuildObserver& progress);

}  // namespace dsb
