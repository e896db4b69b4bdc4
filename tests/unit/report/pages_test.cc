// The pages: hostile names appear only escaped, the embedded table data
// cannot end its script, every scene is linked, and the figures are there.
#include "report/pages.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "report/html_text.h"

namespace dsb {
namespace {

const std::string kHostileScene =
    "set/</script><img src=x onerror=alert(1)>\n\xff\"'&";
const std::string kHostileFile = "<script>alert(1)<b>bold.dng";

ReportModel HostileModel() {
  ReportModel model;
  model.root = "/data/<root>";
  model.db_path = "/data/<root>/dataset-build.db";
  model.generated_at = "2026-01-01T00:00:00.000Z";
  model.scene_rows.resize(2);
  model.scene_rows[0].scene = kHostileScene;
  model.scene_rows[0].cfa = "bayer";
  model.scene_rows[0].status = "ok";
  model.scene_rows[1].scene = "plain";
  model.scene_rows[1].cfa = "xtrans";
  model.scene_rows[1].status = "failed";
  model.scene_rows[1].error = "'plain/<bad>.raf': not a raw file";
  for (std::size_t s = 0; s < 2; ++s) {
    SceneView view;
    view.row = &model.scene_rows[s];
    view.page_stem = ScenePageStem(view.row->scene);
    model.scenes.push_back(view);
  }
  PairRow ok;
  ok.scene = kHostileScene;
  ok.cfa = "bayer";
  ok.pair.gt_path = kHostileScene + "/gt/g.dng";
  ok.pair.noisy_path = kHostileScene + "/" + kHostileFile;
  Alignment a;
  a.dy = 3;
  a.dx = -2;
  a.confidence = 0.75;
  a.loss = 0.05;
  a.raw_gain = 2;
  ok.pair.alignment = a;
  ok.pair.mask_mean = 0.9;
  ok.pair.mask_path = "masks/m.png";
  PairRow failed;
  failed.scene = "plain";
  failed.cfa = "xtrans";
  failed.pair.gt_path = "plain/gt/g.raf";
  failed.pair.noisy_path = "plain/<bad>.raf";
  failed.pair.status = BuildStatus::kFailed;
  failed.pair.error = "cannot decode 'plain/<bad>.raf': not a raw file";
  model.pairs = {ok, failed};
  for (const PairRow& row : model.pairs) {
    model.verdicts.push_back(JudgePair(row.pair, std::nullopt));
  }
  model.pair_scene = {0, 1};
  model.pair_number = {0, 0};
  model.scenes[0].pairs = {0};
  model.scenes[0].diffs = {
      ImageRef{"img/" + std::string(32, 'a') + ".jpg", ""}};
  model.scenes[0].overlays = {ImageRef{"", "mask <missing>"}};
  model.scenes[0].files.push_back(
      {ok.pair.noisy_path, FileRole::kNoisy, ImageRef{"", "cannot <decode>"}});
  model.scenes[1].pairs = {1};
  model.scenes[1].diffs.resize(1);
  model.scenes[1].overlays.resize(1);
  model.overview = ComputeOverview(model.scene_rows, model.pairs, {});
  return model;
}

TEST(PagesTest, OverviewEscapesNamesAndLinksEveryScene) {
  const ReportModel model = HostileModel();
  const std::string html = RenderOverviewPage(model);
  EXPECT_EQ(html.find("<img src=x"), std::string::npos);
  EXPECT_EQ(html.find("<b>bold"), std::string::npos);
  EXPECT_EQ(html.find("<script>alert"), std::string::npos);
  EXPECT_EQ(html.find("</script><img"), std::string::npos);
  EXPECT_NE(html.find(HtmlName(kHostileScene)), std::string::npos);
  EXPECT_NE(html.find(HtmlName(model.scene_rows[1].error.value())),
            std::string::npos);
  for (const SceneView& scene : model.scenes) {
    EXPECT_NE(html.find("href=\"scenes/" + scene.page_stem + ".html"),
              std::string::npos);
  }
  // One script element of data, one of code; the data parses back to the
  // displayed names.
  const std::string open =
      "<script type=\"application/json\" id=\"pair-data\">";
  const std::size_t begin = html.find(open);
  ASSERT_NE(begin, std::string::npos);
  const std::size_t end = html.find("</script>", begin);
  const std::string json =
      html.substr(begin + open.size(), end - begin - open.size());
  EXPECT_EQ(json.find('<'), std::string::npos);
  const auto data = nlohmann::json::parse(json);
  ASSERT_EQ(data["rows"].size(), 2u);
  EXPECT_EQ(data["rows"][0][0], DisplayText(kHostileScene));
  EXPECT_EQ(data["rows"][0][3], DisplayText(kHostileFile));
  EXPECT_EQ(data["rows"][0][7], "dropped: loss > 0.035");
  // Figures.
  EXPECT_NE(html.find("id=\"drop-loss\">1<"), std::string::npos);
  EXPECT_NE(html.find("id=\"drop-mask\">0<"), std::string::npos);
  EXPECT_NE(html.find("id=\"drop-crops\">unknown<"), std::string::npos);
  EXPECT_NE(html.find("id=\"crops-note\""), std::string::npos);
  EXPECT_EQ(std::count(html.begin(), html.end(), '\0'), 0);
}

TEST(PagesTest, OverviewCountsMissingCropsWhenCropsAreRecorded) {
  ReportModel model = HostileModel();
  // A --crops build ran; the ok pair's crops list is empty.
  const std::vector<std::optional<int>> crops = {0, std::nullopt};
  model.crops_recorded = true;
  model.verdicts.clear();
  for (std::size_t i = 0; i < model.pairs.size(); ++i) {
    model.verdicts.push_back(JudgePair(model.pairs[i].pair, crops[i]));
  }
  model.overview = ComputeOverview(model.scene_rows, model.pairs, crops);
  const std::string html = RenderOverviewPage(model);
  EXPECT_NE(html.find("id=\"drop-crops\">1<"), std::string::npos);
  EXPECT_EQ(html.find("id=\"crops-note\""), std::string::npos);
  EXPECT_NE(html.find("id=\"drops-note\""), std::string::npos);
  EXPECT_EQ(VerdictText(model.verdicts[0]), "dropped: loss > 0.035, no crops");
}

TEST(PagesTest, ScenePageShowsErrorsAndImagesEscaped) {
  const ReportModel model = HostileModel();
  const std::string html = RenderScenePage(model, model.scenes[0]);
  EXPECT_EQ(html.find("<img src=x"), std::string::npos);
  EXPECT_EQ(html.find("<b>bold"), std::string::npos);
  EXPECT_NE(html.find("mask &lt;missing&gt;"), std::string::npos);
  EXPECT_NE(html.find("cannot &lt;decode&gt;"), std::string::npos);
  EXPECT_NE(html.find("src=\"../img/" + std::string(32, 'a') +
                      ".jpg\" loading=\"lazy\""),
            std::string::npos);
  EXPECT_NE(html.find("id=\"pair-0\""), std::string::npos);
  EXPECT_NE(html.find("<svg class=\"shifts\""), std::string::npos);
  const std::string failed = RenderScenePage(model, model.scenes[1]);
  EXPECT_NE(failed.find("id=\"scene-error\""), std::string::npos);
  EXPECT_NE(failed.find("&#39;plain/&lt;bad&gt;.raf&#39;"), std::string::npos);
}

TEST(PagesTest, VerdictTextNamesEveryReason) {
  LoaderVerdict v;
  EXPECT_EQ(VerdictText(v), "not exported (failed)");
  v.exported = true;
  EXPECT_EQ(VerdictText(v), "kept");
  v.loss_too_high = v.mask_too_small = true;
  v.no_crops = true;
  EXPECT_EQ(VerdictText(v), "dropped: loss > 0.035, mask_mean < 0.8, no crops");
}

}  // namespace
}  // namespace dsb
