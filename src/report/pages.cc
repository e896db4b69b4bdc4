#include "report/pages.h"

#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "report/html_text.h"
#include "report/svg_plots.h"

namespace dsb {

namespace {

// Nothing may be fetched from outside the report folder; inline styles and
// the embedded script are ours.
constexpr const char* kHead = R"(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src 'self' file:; style-src 'unsafe-inline'; script-src 'unsafe-inline'; base-uri 'none'; form-action 'none'">
)";

constexpr const char* kStyle = R"(<style>
:root { --fg: #1d2330; --muted: #5b6474; --line: #d9dde5; --bg: #f6f7f9;
  --ok: #1f7a3f; --bad: #b3261e; --warn: #a05a00; --accent: #2357c6; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif;
  color: var(--fg); background: var(--bg); }
header { background: #1d2330; color: #fff; padding: 14px 24px; }
header h1 { margin: 0; font-size: 20px; }
header p { margin: 2px 0 0; color: #c5cbd6; font-size: 12px; overflow-wrap: anywhere; }
header a { color: #9cc1ff; }
main { padding: 8px 24px 40px; max-width: 1400px; }
h2 { font-size: 17px; margin: 26px 0 8px; }
h3 { font-size: 14px; margin: 0 0 6px; overflow-wrap: anywhere; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 10px 14px; min-width: 170px; }
.card .big { font-size: 26px; font-weight: 600; }
.card .sub { color: var(--muted); font-size: 12px; }
.ok { color: var(--ok); } .failed, .bad { color: var(--bad); } .stale, .warn { color: var(--warn); }
.note { color: var(--muted); font-size: 12px; max-width: 900px; }
.plots { display: grid; grid-template-columns: repeat(auto-fill, minmax(280px, 1fr)); gap: 12px; }
.plot { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 6px; }
.plot p { margin: 0 6px 4px; color: var(--muted); font-size: 12px; }
svg { width: 100%; height: auto; display: block; }
svg .bar { fill: #4a78d0; } svg .axis { stroke: #8a93a3; stroke-width: 1; }
svg .threshold { stroke: var(--bad); stroke-width: 1.5; stroke-dasharray: 4 3; }
svg .tick { font-size: 12px; fill: var(--muted); } svg .caption { font-size: 12px; fill: var(--fg); }
svg .frame { fill: #fff; stroke: var(--line); }
svg circle.kept { fill: #2357c6; fill-opacity: .75; } svg circle.dropped { fill: none; stroke: var(--bad); stroke-width: 2; }
table { border-collapse: collapse; background: #fff; width: 100%; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 8px; text-align: left; vertical-align: top; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.name { overflow-wrap: anywhere; max-width: 380px; }
td.tag { overflow-wrap: normal; min-width: 4em; }
th { background: #eef0f4; position: sticky; top: 0; }
th.sortable { cursor: pointer; user-select: none; } th.sortable:hover { color: var(--accent); }
.scenes { display: grid; grid-template-columns: repeat(auto-fill, minmax(160px, 1fr)); gap: 10px; }
.scene { background: #fff; border: 1px solid var(--line); border-radius: 6px; overflow: hidden; color: inherit; text-decoration: none; }
.scene:hover { border-color: var(--accent); }
.scene img, .scene .noimg { width: 100%; aspect-ratio: 3 / 2; object-fit: cover; display: block; background: #dfe3ea; }
.scene div { padding: 4px 8px 6px; font-size: 12px; overflow-wrap: anywhere; }
.controls { display: flex; flex-wrap: wrap; gap: 8px; align-items: center; margin: 6px 0 8px; }
.controls input, .controls select, .controls button { font: inherit; padding: 3px 6px; }
.controls input[type=number] { width: 90px; }
.error { color: var(--bad); overflow-wrap: anywhere; }
.noimg { display: flex; align-items: center; justify-content: center; padding: 8px; color: var(--bad); font-size: 12px; overflow-wrap: anywhere; background: #fbeaea; min-height: 80px; }
.captures { display: grid; grid-template-columns: repeat(auto-fill, minmax(240px, 1fr)); gap: 10px; }
figure { margin: 0; background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 6px; }
figure img { width: 100%; height: auto; display: block; background: #dfe3ea; }
figcaption { font-size: 12px; color: var(--muted); overflow-wrap: anywhere; margin-top: 4px; }
.pair { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 10px; margin: 10px 0; }
.pair:target { border-color: var(--accent); box-shadow: 0 0 0 2px #c9d8f7; }
.pair .images { display: grid; grid-template-columns: repeat(auto-fill, minmax(300px, 1fr)); gap: 10px; margin-top: 8px; }
.pair table { width: auto; }
.legend { font-size: 12px; color: var(--muted); }
.swatch { display: inline-block; width: 10px; height: 10px; vertical-align: middle; margin: 0 3px 0 8px; }
</style>
</head>
)";

// The pairs table: rows come from the JSON block (never parsed as HTML) and
// are written with textContent; links are built from page names the report
// made itself.
constexpr const char* kTableScript = R"(<script>
(function () {
  'use strict';
  var data = JSON.parse(document.getElementById('pair-data').textContent);
  var cols = data.columns, rows = data.rows, pageSize = 100, page = 0;
  var sortKey = -1, sortDir = 1;
  var idx = {}; cols.forEach(function (c, i) { idx[c.key] = i; });
  var body = document.getElementById('pairs-body');
  var info = document.getElementById('pairs-info');
  var q = function (id) { return document.getElementById(id); };
  function filtered() {
    var scene = q('f-scene').value.toLowerCase(), cfa = q('f-cfa').value,
        status = q('f-status').value, fig = q('f-figure').value,
        lo = parseFloat(q('f-min').value), hi = parseFloat(q('f-max').value);
    var out = rows.filter(function (r) {
      if (scene && r[idx.scene].toLowerCase().indexOf(scene) < 0) return false;
      if (cfa && r[idx.cfa] !== cfa) return false;
      if (status === 'ok' || status === 'failed') { if (r[idx.status] !== status) return false; }
      else if (status === 'kept') { if (r[idx.loader] !== 'kept') return false; }
      else if (status === 'dropped') { if (r[idx.status] !== 'ok' || r[idx.loader] === 'kept') return false; }
      if (fig && (!isNaN(lo) || !isNaN(hi))) {
        var v = r[idx[fig]];
        if (v === null) return false;
        if (!isNaN(lo) && v < lo) return false;
        if (!isNaN(hi) && v > hi) return false;
      }
      return true;
    });
    if (sortKey >= 0) {
      out.sort(function (a, b) {
        var x = a[sortKey], y = b[sortKey];
        if (x === y) return 0;
        if (x === null) return 1;
        if (y === null) return -1;
        return (x < y ? -1 : 1) * sortDir;
      });
    }
    return out;
  }
  function cell(tr, text, cls) {
    var td = document.createElement('td');
    if (cls) td.className = cls;
    td.textContent = text;
    tr.appendChild(td);
    return td;
  }
  function draw() {
    var list = filtered();
    var pages = Math.max(1, Math.ceil(list.length / pageSize));
    if (page >= pages) page = pages - 1;
    body.textContent = '';
    list.slice(page * pageSize, (page + 1) * pageSize).forEach(function (r) {
      var tr = document.createElement('tr');
      cols.forEach(function (c, i) {
        var v = r[i];
        if (c.hidden) return;
        if (c.key === 'scene') {
          var td = cell(tr, '', 'name'), a = document.createElement('a');
          a.href = 'scenes/' + r[idx.page] + '.html#pair-' + r[idx.anchor];
          a.textContent = v;
          td.appendChild(a);
        } else if (c.num) {
          cell(tr, v === null ? '' : (c.digits >= 0 ? Number(v).toFixed(c.digits) : String(v)), 'num');
        } else {
          var cls = c.key === 'status' ? v + ' tag' : c.key === 'error' ? 'error' :
              (c.key === 'cfa' || c.key === 'loader') ? 'tag' : 'name';
          cell(tr, v === null ? '' : v, cls);
        }
      });
      body.appendChild(tr);
    });
    info.textContent = list.length + ' of ' + rows.length + ' pairs, page ' + (page + 1) + ' of ' + pages;
  }
  var head = document.getElementById('pairs-head');
  cols.forEach(function (c, i) {
    if (c.hidden) return;
    var th = document.createElement('th');
    th.textContent = c.label;
    th.className = 'sortable' + (c.num ? ' num' : '');
    th.title = 'sort by ' + c.label;
    th.addEventListener('click', function () {
      sortDir = sortKey === i ? -sortDir : 1; sortKey = i; page = 0; draw();
    });
    head.appendChild(th);
    if (c.num) {
      var o = document.createElement('option');
      o.value = c.key; o.textContent = c.label;
      q('f-figure').appendChild(o);
    }
  });
  ['f-scene', 'f-cfa', 'f-status', 'f-figure', 'f-min', 'f-max'].forEach(function (id) {
    q(id).addEventListener('input', function () { page = 0; draw(); });
  });
  q('prev').addEventListener('click', function () { if (page > 0) { page--; draw(); } });
  q('next').addEventListener('click', function () { page++; draw(); });
  // A link can carry the table's state: #sort=loss&desc=1&cfa=xtrans&
  // status=dropped&scene=text&figure=confidence&min=0&max=0.5.
  if (location.hash.indexOf('=') >= 0) {
    var state = new URLSearchParams(location.hash.slice(1));
    [['scene', 'f-scene'], ['cfa', 'f-cfa'], ['status', 'f-status'],
     ['figure', 'f-figure'], ['min', 'f-min'], ['max', 'f-max']].forEach(function (p) {
      if (state.has(p[0])) q(p[1]).value = state.get(p[0]);
    });
    if (state.has('sort') && state.get('sort') in idx) {
      sortKey = idx[state.get('sort')];
      sortDir = state.get('desc') === '1' ? -1 : 1;
    }
  }
  draw();
})();
</script>
)";

std::string Fixed(double value, int decimals) {
  char text[48];
  std::snprintf(text, sizeof text, "%.*f", decimals, value);
  std::string out = text;
  // No "-0.00": a rounding artefact, not a direction.
  if (out.starts_with('-') &&
      out.find_first_not_of("0.", 1) == std::string::npos) {
    out.erase(0, 1);
  }
  return out;
}

std::string Count(int n) { return std::to_string(n); }

std::string ScenePage(const SceneView& scene) {
  return "scenes/" + scene.page_stem + ".html";
}

std::string Basename(const std::string& path) {
  const std::size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string Image(const ImageRef& image, const std::string& prefix,
                  const std::string& alt, const SceneRow* row) {
  if (!image.error.empty() || image.file.empty()) {
    return "<div class=\"noimg\">" +
           HtmlName(image.error.empty() ? "not drawn" : image.error) + "</div>";
  }
  std::string style;
  if (row && row->width > 0 && row->height > 0) {
    style = " style=\"aspect-ratio: " + std::to_string(row->width) + " / " +
            std::to_string(row->height) + "\"";
  }
  return "<img src=\"" + prefix + image.file + "\" loading=\"lazy\" alt=\"" +
         EscapeHtml(alt) + "\"" + style + ">";
}

void AppendPairFigures(std::string& html, const PairRecord& pair,
                       const LoaderVerdict& verdict) {
  html += "<table><tbody>";
  const auto row = [&html](const std::string& name, const std::string& value,
                           const std::string& cls = "num") {
    html += "<tr><th>" + name + "</th><td class=\"" + cls + "\">" + value +
            "</td></tr>";
  };
  row("status", std::string(BuildStatusName(pair.status)),
      std::string(BuildStatusName(pair.status)));
  if (pair.alignment) {
    const Alignment& a = *pair.alignment;
    row("shift dy, dx", std::to_string(a.dy) + ", " + std::to_string(a.dx));
    row("sub-pixel dy, dx", Fixed(a.dy_subpx, 2) + ", " + Fixed(a.dx_subpx, 2));
    row("confidence", Fixed(a.confidence, 3));
    row("loss", Fixed(BestAlignmentLoss(pair), 4));
    // Our mosaic loss, when RawNIND's own figure replaced it above.
    if (pair.rawnind_loss) row("mosaic loss", Fixed(a.loss, 4));
    row("raw_gain", Fixed(a.raw_gain, 3));
  }
  if (pair.mask_mean) row("mask_mean", Fixed(*pair.mask_mean, 3));
  row("RawNIND loader", EscapeHtml(VerdictText(verdict)),
      verdict.kept() ? "ok" : "bad");
  if (!pair.error.empty()) row("error", HtmlName(pair.error), "error");
  html += "</tbody></table>";
}

}  // namespace

std::string VerdictText(const LoaderVerdict& verdict) {
  if (!verdict.exported) return "not exported (failed)";
  if (verdict.kept()) return "kept";
  std::string text = "dropped:";
  if (verdict.loss_too_high) text += " loss > 0.035";
  if (verdict.mask_too_small) {
    text += text.back() == ':' ? " " : ", ";
    text += "mask_mean < 0.8";
  }
  if (verdict.no_crops.value_or(false)) {
    text += text.back() == ':' ? " " : ", ";
    text += "no crops";
  }
  return text;
}

std::string RenderOverviewPage(const ReportModel& model) {
  const Overview& o = model.overview;
  std::string html = kHead;
  html += "<title>dataset-build report: " + HtmlName(model.root) + "</title>\n";
  html += kStyle;
  html += "<body>\n<header><h1>dataset-build report</h1><p>dataset " +
          HtmlName(model.root) + " \xc2\xb7 manifest " +
          HtmlName(model.db_path) + " \xc2\xb7 generated " +
          EscapeHtml(model.generated_at) + "</p></header>\n<main>\n";

  // Summary.
  html +=
      "<h2 id=\"summary\">Summary</h2>\n<div class=\"cards\" id=\"figures\">";
  html +=
      "<div class=\"card\" id=\"fig-scenes\"><div class=\"sub\">scenes</div>"
      "<div class=\"big\">" +
      Count(o.scenes) +
      "</div><div class=\"sub\">"
      "<span class=\"ok\">" +
      Count(o.scenes_ok) +
      " ok</span> \xc2\xb7 "
      "<span class=\"failed\">" +
      Count(o.scenes_failed) + " failed</span>" +
      (o.scenes_stale ? " \xc2\xb7 <span class=\"stale\">" +
                            Count(o.scenes_stale) + " stale</span>"
                      : std::string()) +
      "</div></div>";
  html +=
      "<div class=\"card\" id=\"fig-pairs\"><div class=\"sub\">pairs</div>"
      "<div class=\"big\">" +
      Count(o.pairs) +
      "</div><div class=\"sub\">"
      "<span class=\"ok\">" +
      Count(o.pairs_ok) +
      " ok</span> \xc2\xb7 "
      "<span class=\"failed\">" +
      Count(o.pairs_failed) + " failed</span></div></div>";
  html +=
      "<div class=\"card\" id=\"fig-kept\"><div class=\"sub\">RawNIND's "
      "loader keeps</div><div class=\"big ok\">" +
      Count(o.loader_kept) + "</div><div class=\"sub\">of " +
      Count(o.pairs_ok) + " ok pairs; drops " + Count(o.loader_dropped) +
      "</div></div>";
  html +=
      "<div class=\"card\" id=\"fig-drops\"><div class=\"sub\">loader drops, "
      "by reason</div><div>loss &gt; 0.035: <b id=\"drop-loss\">" +
      Count(o.drop_loss) +
      "</b></div><div>mask_mean &lt; 0.8: <b "
      "id=\"drop-mask\">" +
      Count(o.drop_mask) +
      "</b></div><div>missing "
      "crops: <b id=\"drop-crops\">" +
      (o.drop_crops ? Count(*o.drop_crops) : std::string("unknown")) +
      "</b></div></div>";
  html += "</div>\n";
  if (!model.crops_recorded) {
    html +=
        "<p class=\"note\" id=\"crops-note\">This manifest records no "
        "training crops, so the pairs RawNIND's loader would drop for an "
        "empty crops list cannot be counted; \xe2\x80\x9ckept\xe2\x80\x9d "
        "counts pairs that pass the loss and mask_mean tests. A pair can "
        "fail both tests; it is counted under each.</p>\n";
  } else {
    html +=
        "<p class=\"note\" id=\"drops-note\">Missing crops: pairs whose "
        "crops list in the rawnind-yaml export is empty (a file of the pair "
        "has no crops for its current content; a build with --crops makes "
        "them). A pair dropped for several reasons is counted under "
        "each.</p>\n";
  }

  // Histograms.
  html +=
      "<h2 id=\"histograms\">Alignment figures (ok pairs)</h2>\n"
      "<div class=\"plots\">";
  for (const Histogram* h : {&o.confidence, &o.loss, &o.mask_mean, &o.shift}) {
    html += "<div class=\"plot\">" + HistogramSvg(*h) + "<p>" +
            EscapeHtml(h->unit_note) + "</p></div>";
  }
  html += "</div>\n";

  // Weakest alignments.
  html += "<h2 id=\"weakest\">Weakest alignments</h2>\n";
  if (o.weakest.empty()) {
    html +=
        "<p class=\"note\">No aligned pairs (other than GTs with "
        "themselves).</p>\n";
  } else {
    html +=
        "<table><thead><tr><th>scene</th><th>noisy</th><th>gt</th>"
        "<th class=\"num\">confidence</th><th class=\"num\">dy, dx</th>"
        "<th class=\"num\">loss</th><th class=\"num\">mask_mean</th>"
        "<th>loader</th></tr></thead><tbody>";
    for (std::size_t i : o.weakest) {
      const PairRow& row = model.pairs[i];
      const SceneView& scene = model.scenes[model.pair_scene[i]];
      const Alignment& a = *row.pair.alignment;
      html +=
          "<tr><td class=\"name\"><a href=\"" + ScenePage(scene) + "#pair-" +
          std::to_string(model.pair_number[i]) + "\">" + HtmlName(row.scene) +
          "</a></td><td class=\"name\">" +
          HtmlName(Basename(row.pair.noisy_path)) + "</td><td class=\"name\">" +
          HtmlName(Basename(row.pair.gt_path)) + "</td><td class=\"num\">" +
          Fixed(a.confidence, 3) + "</td><td class=\"num\">" +
          std::to_string(a.dy) + ", " + std::to_string(a.dx) +
          "</td><td class=\"num\">" + Fixed(BestAlignmentLoss(row.pair), 4) +
          "</td><td class=\"num\">" +
          (row.pair.mask_mean ? Fixed(*row.pair.mask_mean, 3) : "") +
          "</td><td>" + EscapeHtml(VerdictText(model.verdicts[i])) +
          "</td></tr>";
    }
    html += "</tbody></table>\n";
  }

  // Failures.
  html += "<h2 id=\"failures\">Failures</h2>\n";
  std::string failures;
  for (const SceneView& scene : model.scenes) {
    if (scene.row->error && !scene.row->error->empty()) {
      failures += "<tr><td>scene</td><td class=\"name\"><a href=\"" +
                  ScenePage(scene) + "\">" + HtmlName(scene.row->scene) +
                  "</a></td><td class=\"name\"></td><td class=\"error\">" +
                  HtmlName(*scene.row->error) + "</td></tr>";
    }
  }
  for (std::size_t i = 0; i < model.pairs.size(); ++i) {
    const PairRow& row = model.pairs[i];
    if (row.pair.status == BuildStatus::kOk) continue;
    const SceneView& scene = model.scenes[model.pair_scene[i]];
    failures += "<tr><td>pair</td><td class=\"name\"><a href=\"" +
                ScenePage(scene) + "#pair-" +
                std::to_string(model.pair_number[i]) + "\">" +
                HtmlName(row.scene) + "</a></td><td class=\"name\">" +
                HtmlName(row.pair.noisy_path) + "</td><td class=\"error\">" +
                HtmlName(row.pair.error) + "</td></tr>";
  }
  for (const ReportProblem& problem : model.problems) {
    failures += "<tr><td>preview</td><td class=\"name\">" +
                HtmlName(problem.scene) + "</td><td class=\"name\">" +
                HtmlName(problem.file) + "</td><td class=\"error\">" +
                HtmlName(problem.reason) + "</td></tr>";
  }
  if (failures.empty()) {
    html += "<p class=\"ok\" id=\"no-failures\">Nothing failed.</p>\n";
  } else {
    html +=
        "<table id=\"failure-list\"><thead><tr><th>what</th><th>scene</th>"
        "<th>file</th><th>reason</th></tr></thead><tbody>" +
        failures + "</tbody></table>\n";
  }

  // Pairs table.
  using Json = nlohmann::json;
  Json columns = Json::array();
  const auto column = [&columns](const char* key, const char* label, bool num,
                                 int digits = -1, bool hidden = false) {
    columns.push_back({{"key", key},
                       {"label", label},
                       {"num", num},
                       {"digits", digits},
                       {"hidden", hidden}});
  };
  column("scene", "scene", false);
  column("page", "page", false, -1, true);
  column("anchor", "anchor", false, -1, true);
  column("noisy", "noisy", false);
  column("gt", "gt", false);
  column("cfa", "CFA", false);
  column("status", "status", false);
  column("loader", "loader", false);
  column("dy", "dy", true);
  column("dx", "dx", true);
  column("shift", "|shift|", true, 2);
  column("confidence", "confidence", true, 3);
  column("loss", "loss", true, 4);
  column("raw_gain", "raw_gain", true, 3);
  column("mask_mean", "mask_mean", true, 3);
  column("error", "error", false);
  Json rows = Json::array();
  for (std::size_t i = 0; i < model.pairs.size(); ++i) {
    const PairRow& row = model.pairs[i];
    const std::optional<Alignment>& a = row.pair.alignment;
    const SceneView& scene = model.scenes[model.pair_scene[i]];
    rows.push_back(Json::array(
        {DisplayText(row.scene), scene.page_stem,
         std::to_string(model.pair_number[i]),
         DisplayText(Basename(row.pair.noisy_path)),
         DisplayText(Basename(row.pair.gt_path)), row.cfa.value_or(""),
         std::string(BuildStatusName(row.pair.status)),
         VerdictText(model.verdicts[i]), a ? Json(a->dy) : Json(nullptr),
         a ? Json(a->dx) : Json(nullptr),
         a ? Json(ShiftLength(*a)) : Json(nullptr),
         a ? Json(a->confidence) : Json(nullptr),
         a ? Json(BestAlignmentLoss(row.pair)) : Json(nullptr),
         a ? Json(a->raw_gain) : Json(nullptr),
         row.pair.mask_mean ? Json(*row.pair.mask_mean) : Json(nullptr),
         row.pair.error.empty() ? Json(nullptr)
                                : Json(DisplayText(row.pair.error))}));
  }
  const Json data = {{"columns", columns}, {"rows", rows}};
  html +=
      "<h2 id=\"pairs\">All pairs</h2>\n<div class=\"controls\">"
      "<input id=\"f-scene\" type=\"search\" placeholder=\"scene "
      "contains\xe2\x80\xa6\">"
      "<select id=\"f-cfa\"><option value=\"\">any CFA</option>"
      "<option value=\"bayer\">bayer</option><option value=\"xtrans\">"
      "xtrans</option></select><select id=\"f-status\"><option value=\"\">"
      "any status</option><option value=\"ok\">ok</option><option "
      "value=\"failed\">failed</option><option value=\"kept\">kept by the "
      "loader</option><option value=\"dropped\">dropped by the loader"
      "</option></select><select id=\"f-figure\"><option value=\"\">"
      "figure\xe2\x80\xa6</option></select><input id=\"f-min\" "
      "type=\"number\" step=\"any\" placeholder=\"min\"><input id=\"f-max\" "
      "type=\"number\" step=\"any\" placeholder=\"max\">"
      "<button id=\"prev\" type=\"button\">\xe2\x97\x80 prev</button>"
      "<button id=\"next\" type=\"button\">next \xe2\x96\xb6</button>"
      "<span id=\"pairs-info\" class=\"note\"></span></div>\n"
      "<noscript><p class=\"note\">The table needs JavaScript; every pair "
      "is also on its scene's page.</p></noscript>\n"
      "<table id=\"pairs-table\"><thead><tr id=\"pairs-head\"></tr></thead>"
      "<tbody id=\"pairs-body\"></tbody></table>\n";
  html += "<script type=\"application/json\" id=\"pair-data\">" +
          JsonForScript(data.dump()) + "</script>\n";
  // Scenes.
  html += "<h2 id=\"scenes\">Scenes</h2>\n<div class=\"scenes\">";
  for (const SceneView& scene : model.scenes) {
    int ok = 0, kept = 0;
    for (std::size_t i : scene.pairs) {
      ok += model.pairs[i].pair.status == BuildStatus::kOk;
      kept += model.verdicts[i].kept();
    }
    const FileView* gt = nullptr;
    for (const FileView& file : scene.files) {
      if (file.role == FileRole::kGt) {
        gt = &file;
        break;
      }
    }
    html += "<a class=\"scene\" href=\"" + ScenePage(scene) + "\">";
    if (gt && gt->thumbnail.error.empty() && !gt->thumbnail.file.empty()) {
      html += "<img src=\"" + gt->thumbnail.file +
              "\" loading=\"lazy\" alt=\"GT\">";
    } else {
      html += "<span class=\"noimg\">no preview</span>";
    }
    html += "<div><b>" + HtmlName(scene.row->scene) + "</b><br><span class=\"" +
            EscapeHtml(scene.row->status) + "\">" +
            EscapeHtml(scene.row->status) + "</span> \xc2\xb7 " +
            EscapeHtml(scene.row->cfa.value_or("?")) + " \xc2\xb7 " +
            std::to_string(ok) + "/" + std::to_string(scene.pairs.size()) +
            " pairs ok \xc2\xb7 " + std::to_string(kept) + " kept</div></a>";
  }
  html += "</div>\n";

  html += kTableScript;
  html += "</main>\n</body>\n</html>\n";
  return html;
}

std::string RenderScenePage(const ReportModel& model, const SceneView& scene) {
  const SceneRow& row = *scene.row;
  std::string html = kHead;
  html += "<title>" + HtmlName(row.scene) +
          " \xe2\x80\x93 dataset-build "
          "report</title>\n";
  html += kStyle;
  html +=
      "<body>\n<header><h1>" + HtmlName(row.scene) +
      "</h1><p><a href=\"../index.html\">\xe2\x86\x90 overview</a> \xc2\xb7 " +
      EscapeHtml(row.cfa.value_or("unknown CFA")) + " \xc2\xb7 " +
      std::to_string(row.width) + " \xc3\x97 " + std::to_string(row.height) +
      " \xc2\xb7 " + std::to_string(row.n_files) +
      " files \xc2\xb7 <span class=\"" + EscapeHtml(row.status) + "\">" +
      EscapeHtml(row.status) + "</span> \xc2\xb7 built " +
      EscapeHtml(row.built_at) + "</p></header>\n<main>\n";
  if (row.error && !row.error->empty()) {
    html += "<p class=\"error\" id=\"scene-error\">" + HtmlName(*row.error) +
            "</p>\n";
  }
  html += "<h2>Captures</h2>\n<div class=\"captures\">";
  for (const FileView& file : scene.files) {
    html += "<figure>" +
            Image(file.thumbnail, "../", Basename(file.rel_path), scene.row) +
            "<figcaption><b>" + (file.role == FileRole::kGt ? "GT" : "noisy") +
            "</b> " + HtmlName(Basename(file.rel_path)) +
            "</figcaption></figure>";
  }
  html += "</div>\n";

  std::vector<ShiftPoint> points;
  for (std::size_t i : scene.pairs) {
    const PairRow& pair = model.pairs[i];
    if (!pair.pair.alignment || pair.pair.gt_path == pair.pair.noisy_path) {
      continue;
    }
    points.push_back({pair.pair.alignment->dy_subpx,
                      pair.pair.alignment->dx_subpx,
                      DisplayText(Basename(pair.pair.noisy_path)),
                      model.verdicts[i].kept()});
  }
  html += "<h2>Shifts</h2>\n<div class=\"plot\" style=\"max-width: 340px\">" +
          ShiftScatterSvg(points) +
          "<p>sub-pixel shift of each capture to its GT (filled: kept by "
          "RawNIND's loader; ring: dropped). gt(y + dy, x + dx) shows "
          "noisy(y, x).</p></div>\n";

  html +=
      "<h2>Pairs</h2>\n<p class=\"legend\">Difference: the aligned, "
      "gain-matched gt \xe2\x88\x92 raw_gain \xc2\xb7 noisy per block"
      "<span class=\"swatch\" style=\"background:#ff9614\"></span>GT "
      "brighter<span class=\"swatch\" style=\"background:#2896ff\">"
      "</span>noisy brighter<span class=\"swatch\" style=\"background:"
      "#303030\"></span>outside the overlap. A misalignment shows as "
      "edges, a moved object as a blob. Mask: red where the loss mask "
      "ignores pixels, dark outside the overlap.</p>\n";
  for (std::size_t k = 0; k < scene.pairs.size(); ++k) {
    const std::size_t i = scene.pairs[k];
    const PairRow& pair = model.pairs[i];
    html += "<article class=\"pair\" id=\"pair-" + std::to_string(k) +
            "\"><h3>" + HtmlName(Basename(pair.pair.noisy_path)) +
            " \xe2\x86\x92 GT " + HtmlName(Basename(pair.pair.gt_path)) +
            "</h3>";
    AppendPairFigures(html, pair.pair, model.verdicts[i]);
    if (pair.pair.status == BuildStatus::kOk) {
      html += "<div class=\"images\"><figure>" +
              Image(scene.diffs[k], "../", "difference", scene.row) +
              "<figcaption>difference after shift and gain</figcaption>"
              "</figure><figure>" +
              Image(scene.overlays[k], "../", "mask", scene.row) +
              "<figcaption>loss mask over the GT</figcaption></figure></div>";
    }
    html += "</article>\n";
  }
  html += "</main>\n</body>\n</html>\n";
  return html;
}

}  // namespace dsb
