#include "manifest/export.h"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "manifest_fixtures.h"
#include "test_support.h"

namespace dsb {
namespace {

using ::dsb::testing::SampleScene;
using ::dsb::testing::TempDir;

class ExportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Result<std::unique_ptr<Manifest>> opened =
        Manifest::Open(dir_.Join("m.db"), OpenMode::kReadWrite);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    manifest_ = std::move(opened).value();

    // Scene 1: Bayer, 3 pairs, one failed, one with an rgb_gain.
    SceneRecord bayer = SampleScene("src/Bayer/cat", "k1", 2);
    bayer.pairs[1].rgb_gain = 1.25;
    bayer.pairs[2].status = BuildStatus::kFailed;
    bayer.pairs[2].error = "alignment: no peak, \"flat\" image";
    bayer.pairs[2].alignment.reset();
    bayer.pairs[2].mask_path.reset();
    bayer.pairs[2].mask_mean.reset();
    ASSERT_TRUE(manifest_->RecordScene(bayer).ok());

    // Scene 2: X-Trans, a path with a comma and a quote, integral floats.
    SceneRecord xtrans = SampleScene("src/X-Trans/dog, \"big\"", "k2", 0);
    xtrans.cfa = CfaPattern::StandardXTrans();
    xtrans.files[0].metadata->cfa_name = "XTRANS";
    xtrans.pairs[0].alignment->loss = 1e-5;
    xtrans.pairs[0].alignment->raw_gain = 1.0;
    xtrans.pairs[0].mask_mean = 1.0;
    ASSERT_TRUE(manifest_->RecordScene(xtrans).ok());
  }

  std::string Export(ExportFormat format,
                     const ExportOptions& options = ExportOptions()) {
    std::ostringstream out;
    Status status = ExportManifest(*manifest_, format, out, options);
    EXPECT_TRUE(status.ok()) << status.ToString();
    return out.str();
  }

  TempDir dir_;
  std::unique_ptr<Manifest> manifest_;
};

TEST(ParseExportFormatTest, KnowsTheThreeFormats) {
  EXPECT_EQ(ParseExportFormat("rawnind-yaml").value(),
            ExportFormat::kRawnindYaml);
  EXPECT_EQ(ParseExportFormat("json").value(), ExportFormat::kJson);
  EXPECT_EQ(ParseExportFormat("csv").value(), ExportFormat::kCsv);
  Result<ExportFormat> bad = ParseExportFormat("yaml");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("rawnind-yaml"), std::string::npos);
  for (ExportFormat format :
       {ExportFormat::kRawnindYaml, ExportFormat::kJson, ExportFormat::kCsv}) {
    EXPECT_EQ(ParseExportFormat(ExportFormatName(format)).value(), format);
  }
}

bool IsYamlFloat(const YAML::Node& node) {
  // Python's YAML 1.1 resolver: a float needs a '.', an exponent a sign.
  static const std::regex kFloat(
      R"([-+]?([0-9][0-9_]*)?\.[0-9_]*([eE][-+][0-9]+)?|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN))");
  return node.IsScalar() && node.Tag() != "!" &&
         std::regex_match(node.Scalar(), kFloat);
}

bool IsYamlInt(const YAML::Node& node) {
  static const std::regex kInt(R"([-+]?(0|[1-9][0-9]*))");
  return node.IsScalar() && node.Tag() != "!" &&
         std::regex_match(node.Scalar(), kInt);
}

TEST_F(ExportTest, RawnindYamlHasRawnindsKeysAndTypes) {
  const std::string text = Export(ExportFormat::kRawnindYaml);
  YAML::Node root = YAML::Load(text);
  ASSERT_TRUE(root.IsSequence()) << text;
  ASSERT_EQ(root.size(), 3u) << "the failed pair is left out\n" << text;

  for (const YAML::Node& entry : root) {
    ASSERT_TRUE(entry.IsMap());
    EXPECT_EQ(entry.size(), 13u);
    for (const char* key : {"gt_fpath", "f_fpath", "image_set", "mask_fpath"}) {
      ASSERT_TRUE(entry[key].IsScalar()) << key;
      EXPECT_EQ(entry[key].Tag(), "!") << key << " must be a quoted string";
    }
    ASSERT_TRUE(entry["best_alignment"].IsSequence());
    ASSERT_EQ(entry["best_alignment"].size(), 2u);
    EXPECT_TRUE(IsYamlInt(entry["best_alignment"][0]));
    EXPECT_TRUE(IsYamlInt(entry["best_alignment"][1]));
    for (const char* key : {"best_alignment_loss", "mask_mean",
                            "overexposure_lb", "raw_gain", "rgb_gain"}) {
      EXPECT_TRUE(IsYamlFloat(entry[key]))
          << key << ": " << entry[key].Scalar();
    }
    EXPECT_TRUE(entry["is_bayer"].Scalar() == "true" ||
                entry["is_bayer"].Scalar() == "false");
    ASSERT_TRUE(entry["rgb_xyz_matrix"].IsSequence());
    ASSERT_EQ(entry["rgb_xyz_matrix"].size(), 4u);
    for (const YAML::Node& row : entry["rgb_xyz_matrix"]) {
      ASSERT_EQ(row.size(), 3u);
      for (const YAML::Node& cell : row) EXPECT_TRUE(IsYamlFloat(cell));
    }
    ASSERT_TRUE(entry["crops"].IsSequence());
    EXPECT_EQ(entry["crops"].size(), 0u);
  }

  // Values: the first Bayer pair (GT with itself) and the X-Trans one.
  const YAML::Node bayer = root[0];
  EXPECT_EQ(bayer["gt_fpath"].as<std::string>(), "src/Bayer/cat/gt/gt.arw");
  EXPECT_EQ(bayer["f_fpath"].as<std::string>(), "src/Bayer/cat/gt/gt.arw");
  EXPECT_EQ(bayer["image_set"].as<std::string>(), "cat");
  EXPECT_EQ(bayer["best_alignment"][0].as<int>(), -1);
  EXPECT_EQ(bayer["best_alignment"][1].as<int>(), 3);
  EXPECT_EQ(bayer["best_alignment_loss"].as<double>(), 0.01);
  EXPECT_EQ(bayer["mask_fpath"].as<std::string>(), "masks/src/Bayer/cat_0.png");
  EXPECT_TRUE(bayer["is_bayer"].as<bool>());
  EXPECT_EQ(bayer["rgb_xyz_matrix"][0][0].as<double>(), 0.664);
  EXPECT_EQ(bayer["rgb_xyz_matrix"][0][1].as<double>(), -0.1847);
  EXPECT_EQ(bayer["overexposure_lb"].as<double>(), 0.95);
  EXPECT_EQ(bayer["raw_gain"].as<double>(), 1.0);
  EXPECT_EQ(bayer["rgb_gain"].as<double>(), 1.0) << "falls back to raw_gain";
  EXPECT_EQ(root[1]["rgb_gain"].as<double>(), 1.25);
  EXPECT_EQ(root[1]["raw_gain"].as<double>(), 1.5);

  const YAML::Node xtrans = root[2];
  EXPECT_EQ(xtrans["image_set"].as<std::string>(), "dog, \"big\"");
  EXPECT_FALSE(xtrans["is_bayer"].as<bool>());
  EXPECT_EQ(xtrans["best_alignment_loss"].Scalar(), "1.0e-05");
  EXPECT_EQ(xtrans["raw_gain"].Scalar(), "1.0");
  EXPECT_EQ(xtrans["mask_mean"].Scalar(), "1.0");
}

TEST_F(ExportTest, RawnindYamlAbsolutePaths) {
  ExportOptions options;
  options.absolute_root = "/data/rawnind/";
  YAML::Node root = YAML::Load(Export(ExportFormat::kRawnindYaml, options));
  EXPECT_EQ(root[0]["gt_fpath"].as<std::string>(),
            "/data/rawnind/src/Bayer/cat/gt/gt.arw");
  EXPECT_EQ(root[0]["f_fpath"].as<std::string>(),
            "/data/rawnind/src/Bayer/cat/gt/gt.arw");
  EXPECT_EQ(root[0]["mask_fpath"].as<std::string>(),
            "/data/rawnind/masks/src/Bayer/cat_0.png");
}

TEST_F(ExportTest, RawnindYamlOfAnEmptyManifestIsAnEmptyList) {
  TempDir dir;
  Result<std::unique_ptr<Manifest>> empty =
      Manifest::Open(dir.Join("e.db"), OpenMode::kReadWrite);
  ASSERT_TRUE(empty.ok());
  std::ostringstream out;
  ASSERT_TRUE(ExportManifest(**empty, ExportFormat::kRawnindYaml, out).ok());
  YAML::Node root = YAML::Load(out.str());
  EXPECT_TRUE(root.IsSequence());
  EXPECT_EQ(root.size(), 0u);
}

TEST_F(ExportTest, JsonHasScenesAndAllPairs) {
  const nlohmann::json doc = nlohmann::json::parse(Export(ExportFormat::kJson));
  ASSERT_TRUE(doc["scenes"].is_array());
  ASSERT_EQ(doc["scenes"].size(), 2u);
  const nlohmann::json& scene = doc["scenes"][0];
  EXPECT_EQ(scene["scene"], "src/Bayer/cat");
  EXPECT_EQ(scene["cfa"], "bayer");
  EXPECT_EQ(scene["width"], 64);
  EXPECT_EQ(scene["n_files"], 3);
  EXPECT_EQ(scene["status"], "ok");
  EXPECT_TRUE(scene["error"].is_null());
  EXPECT_EQ(doc["scenes"][1]["cfa"], "xtrans");

  ASSERT_EQ(doc["pairs"].size(), 4u);  // failed pair included
  std::vector<std::string> keys;
  const nlohmann::ordered_json ordered =
      nlohmann::ordered_json::parse(Export(ExportFormat::kJson));
  for (const auto& [key, value] : ordered["pairs"][0].items()) {
    keys.push_back(key);
  }
  EXPECT_EQ(keys,
            (std::vector<std::string>{
                "scene", "gt_path", "noisy_path", "dy", "dx", "dy_subpx",
                "dx_subpx", "confidence", "loss", "raw_gain", "overexposure_lb",
                "mask_path", "mask_mean", "status", "error"}));
  const nlohmann::json& ok = doc["pairs"][0];
  EXPECT_EQ(ok["dy"], -1);
  EXPECT_EQ(ok["dy_subpx"], -0.75);
  EXPECT_EQ(ok["loss"], 0.01);
  EXPECT_EQ(ok["status"], "ok");
  EXPECT_TRUE(ok["error"].is_null());
  const nlohmann::json& failed = doc["pairs"][2];
  EXPECT_EQ(failed["status"], "failed");
  EXPECT_EQ(failed["error"], "alignment: no peak, \"flat\" image");
  EXPECT_TRUE(failed["dy"].is_null());
  EXPECT_TRUE(failed["mask_path"].is_null());
}

TEST_F(ExportTest, CsvHasHeaderAndRfc4180Quoting) {
  const std::string csv = Export(ExportFormat::kCsv);
  std::vector<std::string> lines;
  std::size_t start = 0;
  for (std::size_t end; (end = csv.find("\r\n", start)) != std::string::npos;
       start = end + 2) {
    lines.push_back(csv.substr(start, end - start));
  }
  EXPECT_EQ(start, csv.size()) << "every line ends in CRLF";
  ASSERT_EQ(lines.size(), 5u);
  EXPECT_EQ(lines[0],
            "scene,gt_path,noisy_path,dy,dx,dy_subpx,dx_subpx,confidence,"
            "loss,raw_gain,overexposure_lb,mask_path,mask_mean,status,error");
  EXPECT_EQ(lines[1],
            "src/Bayer/cat,src/Bayer/cat/gt/gt.arw,src/Bayer/cat/gt/gt.arw,"
            "-1,3,-0.75,2.875,12.5,0.01,1,0.95,masks/src/Bayer/cat_0.png,0.9,"
            "ok,");
  EXPECT_EQ(lines[3],
            "src/Bayer/cat,src/Bayer/cat/gt/gt.arw,src/Bayer/cat/noisy1.arw,,"
            ",,,,,,0.95,,,failed,\"alignment: no peak, \"\"flat\"\" image\"");
  EXPECT_TRUE(lines[4].starts_with(
      "\"src/X-Trans/dog, \"\"big\"\"\",\"src/X-Trans/dog, "
      "\"\"big\"\"/gt/gt.arw\","))
      << lines[4];
}

TEST(CsvFieldTest, QuotesOnlyWhenNeeded) {
  EXPECT_EQ(CsvField("plain text"), "plain text");
  EXPECT_EQ(CsvField("a,b"), "\"a,b\"");
  EXPECT_EQ(CsvField("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(CsvField("two\nlines"), "\"two\nlines\"");
  EXPECT_EQ(CsvField("cr\r"), "\"cr\r\"");
  EXPECT_EQ(CsvField(""), "");
}

TEST(FormatYamlFloatTest, AlwaysLooksLikeAYamlFloat) {
  EXPECT_EQ(FormatYamlFloat(0.3), "0.3");
  EXPECT_EQ(FormatYamlFloat(1.0), "1.0");
  EXPECT_EQ(FormatYamlFloat(-2.0), "-2.0");
  EXPECT_EQ(FormatYamlFloat(0.0), "0.0");
  EXPECT_EQ(FormatYamlFloat(1e-5), "1.0e-05");
  EXPECT_EQ(FormatYamlFloat(1.5e20), "1.5e+20");
  EXPECT_EQ(FormatYamlFloat(0.1 + 0.2), "0.30000000000000004");
  EXPECT_EQ(FormatYamlFloat(std::numeric_limits<double>::quiet_NaN()), ".nan");
  EXPECT_EQ(FormatYamlFloat(-std::numeric_limits<double>::infinity()), "-.inf");
}

TEST(Utf8Test, ValidatesAndReplaces) {
  EXPECT_TRUE(IsValidUtf8("plain"));
  EXPECT_TRUE(IsValidUtf8("\xC3\xA9t\xC3\xA9 \xF0\x9F\x93\xB7"));  // été 📷
  EXPECT_FALSE(IsValidUtf8("\xff"));
  EXPECT_FALSE(IsValidUtf8("\xC0\xAF"));          // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xED\xA0\x80"));      // a UTF-16 surrogate
  EXPECT_FALSE(IsValidUtf8("\xF4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(IsValidUtf8("\xE2\x82"));          // truncated
  EXPECT_EQ(ReplaceInvalidUtf8("a\xff\xfe"
                               "b\xC3\xA9"),
            "a\xEF\xBF\xBD"
            "b\xC3\xA9");
}

TEST_F(ExportTest, NonUtf8PathsFailJsonAndYamlUnlessReplaced) {
  SceneRecord odd = SampleScene("odd\xff", "k3", 0);
  ASSERT_TRUE(manifest_->RecordScene(odd).ok());
  for (ExportFormat format :
       {ExportFormat::kRawnindYaml, ExportFormat::kJson}) {
    std::ostringstream out;
    Status status = ExportManifest(*manifest_, format, out);
    EXPECT_EQ(status.code(), Status::Code::kInvalidArgument)
        << ExportFormatName(format);
    EXPECT_NE(status.message().find("csv"), std::string::npos);
  }
  ExportOptions replace;
  replace.replace_invalid_utf8 = true;
  YAML::Node root = YAML::Load(Export(ExportFormat::kRawnindYaml, replace));
  EXPECT_EQ(root[0]["image_set"].as<std::string>(), "odd\xEF\xBF\xBD")
      << "sorted first";
  EXPECT_TRUE(
      nlohmann::json::parse(Export(ExportFormat::kJson, replace)).is_object());

  // CSV keeps the bytes.
  EXPECT_NE(Export(ExportFormat::kCsv).find("odd\xff/gt/gt.arw"),
            std::string::npos);
}

}  // namespace
}  // namespace dsb
