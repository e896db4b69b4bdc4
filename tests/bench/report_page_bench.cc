// report_page_bench: the overview page of a RawNIND-sized manifest (5681
// pairs by default) rendered from a generated model, to measure its render
// time and size and, by opening the file it writes in a browser, how fast
// it loads (run by hand:
//   build/tests/bench/report_page_bench [PAIRS [SCENES]] > /tmp/index.html).
// No previews are drawn: the overview references one thumbnail per scene.
#include <chrono>
#include <cstdio>
#include <iostream>
#include <random>
#include <string>

#include "report/html_text.h"
#include "report/pages.h"

int main(int argc, char** argv) {
  using namespace dsb;
  const int pairs = argc > 1 ? std::atoi(argv[1]) : 5681;
  const int scenes = argc > 2 ? std::atoi(argv[2]) : 390;
  std::mt19937 rng(18);
  std::uniform_real_distribution<double> unit(0, 1);
  ReportModel model;
  model.root = "/data/rawnind";
  model.db_path = "/data/rawnind/dataset-build.db";
  model.generated_at = "2026-01-01T00:00:00.000Z";
  model.scene_rows.resize(scenes);
  for (int s = 0; s < scenes; ++s) {
    SceneRow& row = model.scene_rows[s];
    row.scene = (s % 5 == 4 ? "src/X-Trans/" : "src/Bayer/") +
                std::string("scene-") + std::to_string(s);
    row.cfa = s % 5 == 4 ? "xtrans" : "bayer";
    row.status = "ok";
    row.width = 6000;
    row.height = 4000;
  }
  model.scenes.resize(scenes);
  for (int s = 0; s < scenes; ++s) {
    model.scenes[s].row = &model.scene_rows[s];
    model.scenes[s].page_stem = ScenePageStem(model.scene_rows[s].scene);
    model.scenes[s].files.push_back(
        {model.scene_rows[s].scene + "/gt/gt.arw", FileRole::kGt,
         ImageRef{"img/" + std::string(32, 'a') + ".jpg", ""}});
  }
  for (int i = 0; i < pairs; ++i) {
    const int s = i % scenes;
    PairRow row;
    row.scene = model.scene_rows[s].scene;
    row.cfa = model.scene_rows[s].cfa;
    row.pair.gt_path = row.scene + "/gt/Bayer_" + std::to_string(s) +
                       "_GT_ISO100_sha1=0123456789abcdef0123.arw";
    row.pair.noisy_path = row.scene + "/Bayer_" + std::to_string(s) + "_ISO" +
                          std::to_string(800 << (i % 6)) +
                          "_sha1=0123456789abcdef0123.arw";
    Alignment a;
    a.dy = static_cast<int>(unit(rng) * 20) - 10;
    a.dx = static_cast<int>(unit(rng) * 20) - 10;
    a.dy_subpx = a.dy + unit(rng) - 0.5;
    a.dx_subpx = a.dx + unit(rng) - 0.5;
    a.confidence = 0.5 + 0.5 * unit(rng);
    a.loss = 0.05 * unit(rng);
    a.raw_gain = 1 + unit(rng);
    row.pair.alignment = a;
    row.pair.mask_mean = 0.7 + 0.3 * unit(rng);
    model.pair_scene.push_back(s);
    model.pair_number.push_back(model.scenes[s].pairs.size());
    model.scenes[s].pairs.push_back(model.pairs.size());
    model.pairs.push_back(row);
    model.verdicts.push_back(JudgePair(row.pair, std::nullopt));
  }
  const auto start = std::chrono::steady_clock::now();
  model.overview = ComputeOverview(model.scene_rows, model.pairs, {});
  const std::string html = RenderOverviewPage(model);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  std::cout << html;
  std::fprintf(stderr, "%d pairs, %d scenes: overview %.2f MB, %.3f s\n", pairs,
               scenes, html.size() / 1e6, seconds);
  return 0;
}
