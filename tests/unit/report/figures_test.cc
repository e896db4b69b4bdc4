// The report's figures against a manifest written through the Manifest API:
// counts, what RawNIND's loader keeps and drops (and why), histogram bins
// and the weakest alignments.
#include "report/figures.h"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <map>
#include <set>
#include <sstream>

#include "manifest/export.h"
#include "manifest/manifest.h"
#include "test_support.h"

namespace dsb {
namespace {

PairRecord OkPair(const std::string& scene, const std::string& noisy,
                  double confidence, double loss, double mask_mean, int dy = 2,
                  int dx = -3) {
  PairRecord pair;
  pair.gt_path = scene + "/gt/gt.dng";
  pair.noisy_path = scene + "/" + noisy;
  Alignment a;
  a.dy = dy;
  a.dx = dx;
  a.dy_subpx = dy;
  a.dx_subpx = dx;
  a.confidence = confidence;
  a.loss = loss;
  a.raw_gain = 1.5;
  pair.alignment = a;
  pair.overexposure_lb = 1.0;
  pair.mask_path = "masks/" + scene + "-" + noisy + ".png";
  pair.mask_mean = mask_mean;
  return pair;
}

SceneRecord Scene(const std::string& name, std::vector<PairRecord> pairs) {
  SceneRecord record;
  record.scene = name;
  record.key = "key-" + name;
  record.cfa = CfaPattern::Bayer(BayerOrder::kRGGB);
  record.width = 64;
  record.height = 48;
  std::set<std::string> paths;
  for (const PairRecord& pair : pairs) {
    paths.insert(pair.gt_path);
    paths.insert(pair.noisy_path);
  }
  for (const std::string& path : paths) {
    SceneFile file;
    file.file.scene = name;
    file.file.role = path.find("/gt/") != std::string::npos ? FileRole::kGt
                                                            : FileRole::kNoisy;
    file.file.rel_path = path;
    file.file.size = 10;
    file.file.hash_hex = std::string(32, '0');
    record.files.push_back(file);
  }
  for (PairRecord& pair : pairs) {
    if (pair.status == BuildStatus::kFailed)
      record.status = BuildStatus::kFailed;
  }
  if (record.status == BuildStatus::kFailed) record.error = "a pair failed";
  record.pairs = std::move(pairs);
  return record;
}

class FiguresTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto opened = Manifest::Open(dir_.Join("m.db"), OpenMode::kReadWrite);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    manifest_ = std::move(*opened);
  }
  Overview Load() {
    auto scenes = manifest_->LoadScenesView();
    auto pairs = manifest_->LoadPairsForExport();
    EXPECT_TRUE(scenes.ok() && pairs.ok());
    pairs_ = *pairs;
    return ComputeOverview(*scenes, pairs_, {});
  }
  testing::TempDir dir_;
  std::unique_ptr<Manifest> manifest_;
  std::vector<PairRow> pairs_;
};

// A crop target of `path` with crops at the given half-resolution positions.
CropTargetRecord Target(const std::string& path,
                        std::vector<std::pair<int, int>> positions,
                        std::string hash = std::string(32, '0'),
                        bool is_bayer = true) {
  CropTargetRecord target;
  target.rel_path = path;
  target.scene = path.substr(0, path.find('/'));
  target.hash_hex = std::move(hash);
  target.params = "test-grid";
  target.is_bayer = is_bayer;
  target.frame_top = 2;
  target.frame_left = 4;
  target.rgb_mean = 0.25;
  for (const auto& [x, y] : positions) {
    CropTargetRecord::Crop crop;
    crop.x = x;
    crop.y = y;
    if (is_bayer)
      crop.bayer_path = "crops/" + path + std::to_string(x) + ".npy";
    crop.linrec_path = "crops/" + path + std::to_string(x) + ".tif";
    target.crops.push_back(crop);
  }
  return target;
}

// The pairs, by noisy path, whose `crops` list the rawnind-yaml export
// writes empty.
std::set<std::string> ExportedWithoutCrops(Manifest& manifest) {
  std::ostringstream yaml;
  const Status status =
      ExportManifest(manifest, ExportFormat::kRawnindYaml, yaml);
  EXPECT_TRUE(status.ok()) << status.ToString();
  std::set<std::string> empty;
  for (const YAML::Node& entry : YAML::Load(yaml.str())) {
    if (entry["crops"].size() == 0) {
      empty.insert(entry["f_fpath"].as<std::string>());
    }
  }
  return empty;
}

TEST_F(FiguresTest, CountsAndLoaderDropsMatchTheManifest) {
  // Scene a: self-pair kept, one kept, one over the loss limit, one under
  // the mask limit, one over both; values on the limits are kept.
  PairRecord self = OkPair("a", "gt/gt.dng", 1.0, 0.0, 1.0, 0, 0);
  ASSERT_TRUE(manifest_
                  ->RecordScene(
                      Scene("a", {self, OkPair("a", "n1.dng", 0.9, 0.035, 0.8),
                                  OkPair("a", "n2.dng", 0.7, 0.0351, 0.95),
                                  OkPair("a", "n3.dng", 0.4, 0.01, 0.7999),
                                  OkPair("a", "n4.dng", 0.6, 0.2, 0.1)}))
                  .ok());
  // Scene b: failed, with one ok pair and one failed pair.
  PairRecord failed;
  failed.gt_path = "b/gt/gt.dng";
  failed.noisy_path = "b/broken.dng";
  failed.status = BuildStatus::kFailed;
  failed.error = "cannot decode 'b/broken.dng': not a raw file";
  ASSERT_TRUE(manifest_
                  ->RecordScene(Scene(
                      "b", {OkPair("b", "n1.dng", 0.95, 0.02, 0.9), failed}))
                  .ok());
  const Overview o = Load();
  EXPECT_EQ(o.scenes, 2);
  EXPECT_EQ(o.scenes_ok, 1);
  EXPECT_EQ(o.scenes_failed, 1);
  EXPECT_EQ(o.pairs, 7);
  EXPECT_EQ(o.pairs_ok, 6);
  EXPECT_EQ(o.pairs_failed, 1);
  EXPECT_EQ(o.drop_loss, 2);  // n2, n4
  EXPECT_EQ(o.drop_mask, 2);  // n3, n4
  EXPECT_EQ(o.loader_dropped, 3);
  EXPECT_EQ(o.loader_kept, 3);  // self, a/n1 (on both limits), b/n1
  EXPECT_FALSE(o.drop_crops.has_value());
  // Histograms hold the 6 ok pairs.
  EXPECT_EQ(o.confidence.total(), 6);
  EXPECT_EQ(o.loss.total(), 6);
  EXPECT_EQ(o.loss.above, 1);  // 0.2 > 0.07
  EXPECT_EQ(o.mask_mean.total(), 6);
  // Weakest first, self-pair left out.
  ASSERT_EQ(o.weakest.size(), 5u);
  EXPECT_EQ(pairs_[o.weakest[0]].pair.noisy_path, "a/n3.dng");
  EXPECT_EQ(pairs_[o.weakest[1]].pair.noisy_path, "a/n4.dng");
  EXPECT_EQ(pairs_[o.weakest[4]].pair.noisy_path, "b/n1.dng");
}

TEST_F(FiguresTest, MissingCropsAreThePairsTheExportWritesWithoutCrops) {
  // Scene a, all pairs within the loss and mask limits: the self-pair,
  // n1 (cropped at the GT's positions), n2 (cropped, then changed: its
  // target is stale), n3 (never cropped), n4 (cropped at other positions
  // only), n5 (a target of the other CFA kind).
  SceneRecord scene = Scene(
      "a", {OkPair("a", "gt/gt.dng", 1.0, 0.0, 1.0, 0, 0),
            OkPair("a", "n1.dng", 0.9, 0.01, 0.9),
            OkPair("a", "n2.dng", 0.9, 0.01, 0.9),
            OkPair("a", "n3.dng", 0.9, 0.01, 0.9),
            OkPair("a", "n4.dng", 0.9, 0.01, 0.9),
            OkPair("a", "n5.dng", 0.9, 0.04, 0.9)});  // also over the loss
  FileMetadata meta;
  meta.cfa_name = "RGGB";
  meta.width = 64;
  meta.height = 48;
  meta.rgb_xyz_matrix = {{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}, {0, 0, 0}}};
  for (SceneFile& file : scene.files) file.metadata = meta;
  ASSERT_TRUE(manifest_->RecordScene(scene).ok());

  // No --crops build ran: the reason is unknown, kept counts the others.
  Overview o = Load();
  auto counts = LoadPairCropCounts(*manifest_, pairs_);
  ASSERT_TRUE(counts.ok()) << counts.status().ToString();
  EXPECT_TRUE(counts->empty());
  o = ComputeOverview(*manifest_->LoadScenesView(), pairs_, *counts);
  EXPECT_FALSE(o.drop_crops.has_value());
  EXPECT_EQ(o.loader_kept, 5);
  EXPECT_EQ(o.loader_dropped, 1);

  // Crop targets recorded.
  for (const CropTargetRecord& target :
       {Target("a/gt/gt.dng", {{0, 0}, {256, 0}}),
        Target("a/n1.dng", {{256, 0}, {0, 0}}),
        Target("a/n2.dng", {{0, 0}}, std::string(32, 'f')),
        Target("a/n4.dng", {{0, 256}}),
        Target("a/n5.dng", {{0, 0}}, std::string(32, '0'), false)}) {
    ASSERT_TRUE(manifest_->RecordCropTarget(target).ok());
  }
  counts = LoadPairCropCounts(*manifest_, pairs_);
  ASSERT_TRUE(counts.ok()) << counts.status().ToString();
  ASSERT_EQ(counts->size(), pairs_.size());
  std::map<std::string, int> by_noisy;
  for (std::size_t i = 0; i < pairs_.size(); ++i) {
    ASSERT_TRUE((*counts)[i].has_value());
    by_noisy[pairs_[i].pair.noisy_path] = *(*counts)[i];
  }
  EXPECT_EQ(by_noisy, (std::map<std::string, int>{{"a/gt/gt.dng", 2},
                                                  {"a/n1.dng", 2},
                                                  {"a/n2.dng", 0},
                                                  {"a/n3.dng", 0},
                                                  {"a/n4.dng", 0},
                                                  {"a/n5.dng", 0}}));
  o = ComputeOverview(*manifest_->LoadScenesView(), pairs_, *counts);
  ASSERT_TRUE(o.drop_crops.has_value());
  EXPECT_EQ(*o.drop_crops, 4);  // n2, n3, n4, n5
  EXPECT_EQ(o.drop_loss, 1);    // n5
  EXPECT_EQ(o.loader_dropped, 4);
  EXPECT_EQ(o.loader_kept, 2);  // the self-pair and n1

  // The same pairs as the export's `crops: []`.
  const std::set<std::string> empty = ExportedWithoutCrops(*manifest_);
  EXPECT_EQ(empty, (std::set<std::string>{"a/n2.dng", "a/n3.dng", "a/n4.dng",
                                          "a/n5.dng"}));
  EXPECT_EQ(static_cast<int>(empty.size()), *o.drop_crops);
}

TEST(LoaderVerdictTest, CropsCountWhenKnown) {
  PairRecord pair = OkPair("s", "n.dng", 0.9, 0.01, 0.9);
  EXPECT_TRUE(JudgePair(pair, std::nullopt).kept());
  EXPECT_FALSE(JudgePair(pair, std::nullopt).no_crops.has_value());
  EXPECT_FALSE(JudgePair(pair, 0).kept());
  EXPECT_TRUE(JudgePair(pair, 3).kept());
  pair.status = BuildStatus::kFailed;
  EXPECT_FALSE(JudgePair(pair, 3).exported);
  EXPECT_FALSE(JudgePair(pair, 3).kept());

  std::vector<SceneRow> scenes(1);
  scenes[0].status = "ok";
  std::vector<PairRow> rows(2);
  rows[0].pair = OkPair("s", "a.dng", 0.9, 0.01, 0.9);
  rows[1].pair = OkPair("s", "b.dng", 0.9, 0.01, 0.9);
  const Overview o = ComputeOverview(scenes, rows, {std::optional<int>(0), 4});
  ASSERT_TRUE(o.drop_crops.has_value());
  EXPECT_EQ(*o.drop_crops, 1);
  EXPECT_EQ(o.loader_kept, 1);
}

// The loader tests RawNIND's best_alignment_loss, which the build computes
// on demosaiced frames for Bayer pairs; our mosaic loss is only the fallback.
TEST(LoaderVerdictTest, LossIsTheOneTheLoaderReads) {
  PairRecord pair = OkPair("s", "n.dng", 0.9, 0.01, 0.9);  // mosaic loss 0.01
  pair.rawnind_loss = 0.05;
  EXPECT_TRUE(JudgePair(pair, std::nullopt).loss_too_high);
  pair.alignment->loss = 0.05;
  pair.rawnind_loss = 0.02;
  EXPECT_FALSE(JudgePair(pair, std::nullopt).loss_too_high);
  pair.rawnind_loss.reset();
  EXPECT_TRUE(JudgePair(pair, std::nullopt).loss_too_high);

  std::vector<SceneRow> scenes(1);
  scenes[0].status = "ok";
  std::vector<PairRow> rows(1);
  rows[0].pair = OkPair("s", "a.dng", 0.9, 0.01, 0.9);
  rows[0].pair.rawnind_loss = 0.05;
  const Overview o = ComputeOverview(scenes, rows, {});
  EXPECT_EQ(o.drop_loss, 1);
  // 14 bins over [0, 0.07): 0.05 falls in bin 10, the mosaic's 0.01 in bin 2.
  ASSERT_EQ(o.loss.counts.size(), 14u);
  EXPECT_EQ(o.loss.counts[10], 1) << "the histogram shows the loader's loss";
  EXPECT_EQ(o.loss.counts[2], 0);
}

TEST(HistogramTest, ValuesOnEdgesFallInTheBinTheyStart) {
  const Histogram h = MakeHistogram(
      {-0.1, 0.0, 0.0049, 0.005, 0.0349, 0.035, 0.0351, 0.0699, 0.07, 0.5}, 0.0,
      0.07, 14, /*closed=*/false);
  ASSERT_EQ(h.counts.size(), 14u);
  EXPECT_EQ(h.below, 1);
  EXPECT_EQ(h.above, 2);  // 0.07 (open top) and 0.5
  EXPECT_EQ(h.counts[0], 2);
  EXPECT_EQ(h.counts[1], 1);
  EXPECT_EQ(h.counts[6], 1);   // 0.0349
  EXPECT_EQ(h.counts[7], 2);   // 0.035, 0.0351
  EXPECT_EQ(h.counts[13], 1);  // 0.0699
  EXPECT_EQ(h.total(), 10);

  const Histogram closed =
      MakeHistogram({0.0, 0.8, 1.0, 1.000000105316067, 1.001}, 0, 1, 20, true);
  EXPECT_EQ(closed.above, 1);  // 1.001
  EXPECT_EQ(closed.counts[0], 1);
  EXPECT_EQ(closed.counts[16], 1);  // 0.8 starts bin 16
  EXPECT_EQ(closed.counts[19], 2);  // 1.0, and 1.0 plus rounding
}

TEST(HistogramTest, ShiftRangeGrowsInPowersOfTwo) {
  std::vector<SceneRow> scenes(1);
  std::vector<PairRow> rows(2);
  rows[0].pair = OkPair("s", "a.dng", 0.9, 0.01, 0.9, 6, 8);   // |shift| 10
  rows[1].pair = OkPair("s", "b.dng", 0.9, 0.01, 0.9, 0, -1);  // 1
  const Overview o = ComputeOverview(scenes, rows, {});
  EXPECT_DOUBLE_EQ(o.shift.hi, 16);
  EXPECT_EQ(o.shift.counts[1], 1);   // 1 px, bins of 1 px
  EXPECT_EQ(o.shift.counts[10], 1);  // 10 px
  EXPECT_DOUBLE_EQ(ShiftLength(*rows[0].pair.alignment), 10);
}

}  // namespace
}  // namespace dsb
