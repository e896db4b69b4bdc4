// The synth dataset generator: layout (docs/contract.md §1), truth.json against
// the decoded DNGs (CFA, size, ISO, and the recorded shift really is where the
// captures line up), determinism per seed and refusing foreign data.
#include "synth/generate.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "core/plane.h"
#include "raw/decoder.h"
#include "synth/render.h"
#include "test_support.h"

namespace dsb {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

SynthOptions SmallOptions(const std::string& out) {
  SynthOptions o;
  o.out_dir = out;
  o.scenes = 5;  // mixed: all four Bayer phases and X-Trans
  o.noisy = 3;
  o.width = 192;
  o.height = 128;
  o.seed = 5;
  o.max_shift = 128;  // capped at 20% of 128 = 25
  return o;
}

Json ReadTruth(const std::string& out) {
  std::ifstream in(out + "/truth.json");
  return Json::parse(in);
}

std::string ReadBytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

std::map<std::string, std::string> AllFiles(const std::string& root) {
  std::map<std::string, std::string> files;
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    if (entry.is_regular_file()) {
      files[fs::relative(entry.path(), root).string()] =
          ReadBytes(entry.path());
    }
  }
  return files;
}

// Mean of each b x b window (indexed by its top-left pixel), NaN where the
// window has a clipped pixel or touches `moved`. Every 2x2 Bayer window and
// every 6x6 X-Trans window holds the same mix of colours, so these images
// can be compared at any integer shift, odd ones included, which single
// pixels of different colours cannot.
Plane<float> BoxMeans(const RawImage& im, const Json& moved) {
  const int b = im.cfa.is_xtrans() ? 6 : 2;
  Plane<float> out(im.width() - b + 1, im.height() - b + 1);
  for (int y = 0; y < out.height(); ++y) {
    for (int x = 0; x < out.width(); ++x) {
      double sum = 0;
      bool clipped = false;
      for (int yy = y; yy < y + b; ++yy) {
        for (int xx = x; xx < x + b; ++xx) {
          const float v = im.pixels.at(yy, xx);
          sum += v;
          clipped |= v > 0.95f;
        }
      }
      if (!moved.is_null() && y + b > moved["y0"].get<int>() &&
          y < moved["y0"].get<int>() + moved["height"].get<int>() &&
          x + b > moved["x0"].get<int>() &&
          x < moved["x0"].get<int>() + moved["width"].get<int>()) {
        clipped = true;
      }
      out.at(y, x) = clipped ? NAN : static_cast<float>(sum / (b * b));
    }
  }
  return out;
}

// Mean |gt(y + dy, x + dx) - gain * noisy(y, x)| over the box means.
double MeanAbsDiff(const Plane<float>& gt, const Plane<float>& noisy, int dy,
                   int dx, double gain) {
  double sum = 0;
  long n = 0;
  for (int y = 0; y < noisy.height(); ++y) {
    for (int x = 0; x < noisy.width(); ++x) {
      const int gy = y + dy, gx = x + dx;
      if (gy < 0 || gx < 0 || gy >= gt.height() || gx >= gt.width()) continue;
      const float g = gt.at(gy, gx), v = noisy.at(y, x);
      if (std::isnan(g) || std::isnan(v)) continue;
      sum += std::abs(g - gain * v);
      ++n;
    }
  }
  return n > 1000 ? sum / n : std::numeric_limits<double>::infinity();
}

TEST(GenerateTest, LayoutTruthAndDecodedFilesAgree) {
  testing::TempDir dir;
  const std::string out = dir.Join("ds");
  SynthOptions options = SmallOptions(out);
  std::vector<std::string> progress;
  SynthSummary summary;
  Status status = GenerateDataset(
      options, [&](const std::string& line) { progress.push_back(line); },
      &summary);
  ASSERT_TRUE(status.ok()) << status.ToString();
  EXPECT_EQ(progress.size(), 5u);
  EXPECT_EQ(summary.files, 5 * (1 + 3));
  EXPECT_GT(summary.bytes, 5u * 4 * 192 * 128 * 2);

  const Json truth = ReadTruth(out);
  EXPECT_EQ(truth["seed"], 5);
  EXPECT_TRUE(truth["complete"].get<bool>());
  ASSERT_EQ(truth["scenes"].size(), 5u);
  ASSERT_EQ(truth["files"].size(), 15u);
  const int limit = EffectiveMaxShift(options);
  EXPECT_EQ(limit, 25);

  const std::vector<std::string> cfas = {"RGGB", "BGGR", "GRBG", "GBRG",
                                         "XTRANS"};
  std::map<std::string, std::string> first_gt;
  for (int s = 0; s < 5; ++s) {
    const Json& scene = truth["scenes"][s];
    const std::string rel = scene["scene"];
    const std::string kind = cfas[s] == "XTRANS" ? "X-Trans" : "Bayer";
    EXPECT_EQ(scene["cfa"], cfas[s]);
    EXPECT_EQ(rel.rfind(kind + "/scene-", 0), 0u) << rel;
    EXPECT_TRUE(fs::is_directory(out + "/" + rel + "/gt"));
    ASSERT_EQ(scene["gts"].size(), 1u);
    const std::string gt = scene["gts"][0];
    EXPECT_EQ(gt.rfind(rel + "/gt/" + kind + "_", 0), 0u) << gt;
    EXPECT_NE(gt.find("_GT_ISO100_sha1="), std::string::npos) << gt;
    first_gt[rel] = gt;
    // Clipped highlights in every other scene.
    const double clipped = scene["clipped_fraction"];
    if (s % 2 == 0) {
      EXPECT_GE(clipped, 0.03);
      EXPECT_LE(clipped, 0.08);
    } else {
      EXPECT_EQ(clipped, 0.0);
    }
  }

  std::map<std::string, RawImage> gts;
  for (const auto& [rel, gt] : first_gt) {
    Result<RawImage> decoded = DecodeRaw(out + "/" + gt);
    ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
    EXPECT_EQ(decoded->meta.iso, 100);
    gts.emplace(rel, std::move(decoded).value());
  }

  std::map<std::string, std::set<std::string>> properties;
  for (const Json& f : truth["files"]) {
    const std::string path = f["path"];
    const std::string scene = f["scene"];
    SCOPED_TRACE(path);
    // Noisy files live directly in their scene folder.
    EXPECT_EQ(fs::path(path).parent_path().string(), scene);
    EXPECT_EQ(f["gt_path"], first_gt[scene]);
    const int dy = f["dy"], dx = f["dx"];
    const double gain = f["gain"];
    const int level = f["noise_level"];
    EXPECT_LE(std::abs(dy), limit);
    EXPECT_LE(std::abs(dx), limit);
    EXPECT_GE(level, 1);
    EXPECT_LE(level, kNoiseLevelCount - 1);
    EXPECT_EQ(f["iso"], IsoForNoiseLevel(level));
    for (int d : {dy, dx}) {
      if (d % 2 != 0) properties[scene].insert("odd");
      if (d < 0) properties[scene].insert("negative");
      if (d == 0) properties[scene].insert("zero");
      if (std::abs(d) >= limit * 3 / 4) properties[scene].insert("large");
    }
    if (level == kNoiseLevelCount - 1) properties[scene].insert("extreme");
    if (!f["moved_object"].is_null()) {
      const Json& m = f["moved_object"];
      EXPECT_LE(m["height"].get<int>() * m["width"].get<int>(),
                0.1 * 192 * 128);
      properties[scene].insert("moved");
    }

    Result<RawImage> noisy = DecodeRaw(out + "/" + path);
    ASSERT_TRUE(noisy.ok()) << noisy.status().ToString();
    EXPECT_EQ(noisy->cfa.name(), f["cfa"].get<std::string>());
    EXPECT_EQ(noisy->width(), 192);
    EXPECT_EQ(noisy->height(), 128);
    EXPECT_EQ(noisy->meta.iso, f["iso"].get<int>());

    // The recorded shift is where the pair lines up best, clearly so
    // (less clearly at the noisiest levels).
    const Plane<float> gt_means = BoxMeans(gts.at(scene), nullptr);
    const Plane<float> noisy_means = BoxMeans(*noisy, f["moved_object"]);
    const double at_truth = MeanAbsDiff(gt_means, noisy_means, dy, dx, gain);
    const double max_ratio = level <= 2 ? 0.6 : level == 3 ? 0.75 : 0.9;
    for (int ey = -2; ey <= 2; ++ey) {
      for (int ex = -2; ex <= 2; ++ex) {
        if (ey == 0 && ex == 0) continue;
        EXPECT_LT(at_truth, max_ratio * MeanAbsDiff(gt_means, noisy_means,
                                                    dy + ey, dx + ex, gain))
            << "off by " << ey << "," << ex;
      }
    }
  }
  for (const auto& [scene, props] : properties) {
    for (const char* want :
         {"odd", "negative", "zero", "large", "extreme", "moved"}) {
      EXPECT_TRUE(props.count(want)) << scene << " has no " << want;
    }
  }
}

TEST(GenerateTest, MaskedBorderDecodesToTheSamePixels) {
  testing::TempDir dir;
  for (const char* cfa : {"grbg", "xtrans"}) {
    SCOPED_TRACE(cfa);
    SynthOptions options = SmallOptions(dir.Join(std::string("plain-") + cfa));
    options.scenes = 1;
    options.noisy = 1;
    options.cfa = cfa;
    options.bits = 12;
    ASSERT_TRUE(GenerateDataset(options).ok());
    SynthOptions bordered = options;
    bordered.out_dir = dir.Join(std::string("border-") + cfa);
    bordered.masked_border = true;
    ASSERT_TRUE(GenerateDataset(bordered).ok());
    const Json plain_truth = ReadTruth(options.out_dir);
    const Json border_truth = ReadTruth(bordered.out_dir);
    const Json& border = border_truth["scenes"][0]["masked_border"];
    EXPECT_GT(border["top"].get<int>(), 0);
    if (std::string(cfa) != "xtrans") {
      EXPECT_EQ(border["top"].get<int>() % 2, 0);
      EXPECT_EQ(border["left"].get<int>() % 2, 0);
    }
    ASSERT_EQ(plain_truth["files"], border_truth["files"]);
    const std::string rel = plain_truth["files"][0]["path"];
    Result<RawImage> a = DecodeRaw(options.out_dir + "/" + rel);
    Result<RawImage> b = DecodeRaw(bordered.out_dir + "/" + rel);
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_EQ(b->meta.visible_top, border["top"].get<int>());
    EXPECT_EQ(b->meta.visible_left, border["left"].get<int>());
    EXPECT_EQ(b->meta.white, 4095);
    ASSERT_EQ(b->cfa, a->cfa);
    ASSERT_EQ(b->width(), 192);
    ASSERT_EQ(b->height(), 128);
    for (int y = 0; y < 128; ++y) {
      for (int x = 0; x < 192; ++x) {
        ASSERT_EQ(a->pixels.at(y, x), b->pixels.at(y, x)) << y << "," << x;
      }
    }
  }
}

TEST(GenerateTest, DeterministicPerSeed) {
  testing::TempDir dir;
  SynthOptions options = SmallOptions(dir.Join("a"));
  options.scenes = 2;
  options.gts_per_scene = 2;
  ASSERT_TRUE(GenerateDataset(options).ok());
  options.out_dir = dir.Join("b");
  ASSERT_TRUE(GenerateDataset(options).ok());
  options.out_dir = dir.Join("c");
  options.seed = 6;
  ASSERT_TRUE(GenerateDataset(options).ok());
  const auto a = AllFiles(dir.Join("a"));
  const auto b = AllFiles(dir.Join("b"));
  const auto c = AllFiles(dir.Join("c"));
  EXPECT_EQ(a.size(), 1u + 2 * (2 + 3));
  EXPECT_TRUE(a == b) << "same seed, different files";
  // Another seed: other names and other bytes.
  std::set<std::string> a_bytes, c_bytes;
  for (const auto& [name, bytes] : a) a_bytes.insert(bytes);
  for (const auto& [name, bytes] : c) {
    EXPECT_EQ(a.count(name), name == "truth.json" ? 1u : 0u) << name;
    EXPECT_EQ(a_bytes.count(bytes), 0u) << name;
  }
  // Two GTs of a scene: same content, different noise.
  const Json truth = ReadTruth(dir.Join("a"));
  const Json& gt_paths = truth["scenes"][0]["gts"];
  ASSERT_EQ(gt_paths.size(), 2u);
  EXPECT_NE(a.at(gt_paths[0]), a.at(gt_paths[1]));
}

TEST(GenerateTest, RefusesForeignDataAndReplacesItsOwn) {
  testing::TempDir dir;
  const std::string foreign = dir.Join("photos");
  fs::create_directories(foreign);
  std::ofstream(foreign + "/holiday.arw") << "not ours";
  Status status = GenerateDataset(SmallOptions(foreign));
  EXPECT_EQ(status.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(status.message().find("photos"), std::string::npos)
      << status.message();
  EXPECT_NE(status.message().find("not empty"), std::string::npos)
      << status.message();
  EXPECT_EQ(ReadBytes(foreign + "/holiday.arw"), "not ours");
  EXPECT_EQ(AllFiles(foreign).size(), 1u);

  // A truth.json that is not ours does not make the folder ours.
  std::ofstream(foreign + "/truth.json") << "{\"files\": []}";
  EXPECT_FALSE(GenerateDataset(SmallOptions(foreign)).ok());

  // A plain file is not a directory.
  EXPECT_FALSE(GenerateDataset(SmallOptions(foreign + "/holiday.arw")).ok());

  // Our own dataset is regenerated; scenes the new one lacks are removed,
  // files we did not write stay.
  const std::string own = dir.Join("own");
  SynthOptions options = SmallOptions(own);
  options.scenes = 3;
  options.noisy = 1;
  ASSERT_TRUE(GenerateDataset(options).ok());
  std::ofstream(own + "/dataset-build.db") << "manifest";
  options.scenes = 1;
  Status again = GenerateDataset(options);
  ASSERT_TRUE(again.ok()) << again.ToString();
  const auto files = AllFiles(own);
  EXPECT_EQ(files.size(), 4u);  // truth, db, GT, noisy
  EXPECT_TRUE(files.count("dataset-build.db"));
  EXPECT_FALSE(fs::exists(own + "/Bayer/scene-001-bggr"));
}

TEST(GenerateTest, RejectsBadOptions) {
  testing::TempDir dir;
  SynthOptions options = SmallOptions(dir.Join("x"));
  options.cfa = "foveon";
  EXPECT_EQ(GenerateDataset(options).code(), Status::Code::kInvalidArgument);
  options = SmallOptions(dir.Join("x"));
  options.width = 191;
  EXPECT_EQ(GenerateDataset(options).code(), Status::Code::kInvalidArgument);
  options = SmallOptions("");
  EXPECT_EQ(GenerateDataset(options).code(), Status::Code::kInvalidArgument);
  EXPECT_FALSE(fs::exists(dir.Join("x")));
}

}  // namespace
}  // namespace dsb
