// The report's HTML: the overview (index.html) and one page per scene
// (scenes/<stem>.html). Pages are text built from the model below; every
// name and message goes through HtmlName / JsonForScript (html_text.h), the
// only script is the small table code embedded in the overview, which
// inserts data with textContent, and a Content-Security-Policy forbids
// anything from outside the report folder.
//
// The overview holds the figures, the histograms, the weakest alignments,
// every failure, a card per scene (its GT thumbnail, lazy-loaded) and the
// pairs table: the rows are embedded as JSON and drawn 100 at a time, so a
// dataset of thousands of pairs opens at once; the table is sorted by any
// column and filtered by scene, CFA, status and a range of any figure.
//
// Thread safety: pure functions.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "manifest/manifest.h"
#include "report/figures.h"

namespace dsb {

// A preview image: its file relative to the report folder ("img/<key>.jpg"),
// or why it could not be drawn.
struct ImageRef {
  std::string file;
  std::string error;
};

struct FileView {
  std::string rel_path;
  FileRole role = FileRole::kNoisy;
  ImageRef thumbnail;
};

struct SceneView {
  const SceneRow* row = nullptr;
  std::string page_stem;           // scenes/<page_stem>.html
  std::vector<FileView> files;     // GTs first, then by path
  std::vector<std::size_t> pairs;  // indices into ReportModel::pairs
  std::vector<ImageRef> diffs;     // one per entry of `pairs`
  std::vector<ImageRef> overlays;  // one per entry of `pairs`
};

// A problem the report itself met (a raw that cannot be decoded, a mask
// that cannot be read), shown with the failures.
struct ReportProblem {
  std::string scene;
  std::string file;
  std::string reason;
};

struct ReportModel {
  std::string root;
  std::string db_path;
  std::string generated_at;
  std::vector<SceneRow> scene_rows;
  std::vector<PairRow> pairs;
  std::vector<LoaderVerdict> verdicts;  // one per pair
  bool crops_recorded = false;
  Overview overview;
  std::vector<SceneView> scenes;
  // For each pair, its scene's index in `scenes` and its number there.
  std::vector<std::size_t> pair_scene;
  std::vector<std::size_t> pair_number;
  std::vector<ReportProblem> problems;
};

std::string RenderOverviewPage(const ReportModel& model);
std::string RenderScenePage(const ReportModel& model, const SceneView& scene);

// "kept", or "dropped: loss > 0.035, mask_mean < 0.8", or "not exported
// (failed)": the loader's verdict in words.
std::string VerdictText(const LoaderVerdict& verdict);

}  // namespace dsb
