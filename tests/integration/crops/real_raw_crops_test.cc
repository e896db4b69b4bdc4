// --crops on the real camera raws of ../shared/data/raw (see its
// SOURCES.md), through the real binary and the rawnind-yaml export, checked
// against known truth: each raw is its own scene's GT, so every pair is a
// self pair (shift (0, 0), loss 0, gain 1), and every Bayer .npy crop must
// equal (raw - black) / (white - black) of LibRaw's own unpacked mosaic,
// read here with LibRaw directly, at the crop's place in RawNIND's frame.
// A file that cannot be cropped and a damaged file are reported by name
// while every other file is still cropped. Skips visibly without the raws.
#include <gtest/gtest.h>
#include <libraw/libraw.h>
#include <tiffio.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "test_support.h"
#include "tool_process.h"

namespace dsb {
namespace {

namespace fs = std::filesystem;
using testing::RunTool;
using testing::ToolBinary;

// From SOURCES.md: the file and its CFA (anchored at the visible area).
struct RealRaw {
  const char* file;
  const char* cfa;
};
const RealRaw kRaws[] = {
    {"rawpy__RAW_KODAK_DC50.KDC", "GRBG"},
    {"evanoberholster-imagemeta__CRW.CRW", "RGGB"},
    {"rawson.js__RAW_CANON_G2.CRW", "RGGB"},
    {"bep-imagemeta__sample.nef", "BGGR"},
    {"tinydng__colorchart.dng", "RGGB"},
    {"imageio-test_images__Blackmagic.dng", "RGGB"},
    {"evanoberholster-imagemeta__Hero8.converted.dng", "RGGB"},
    {"gpr__Fusion_GPFR7066.converted.dng", "RGGB"},
};
// The one the build cannot crop: LibRaw gives the Kodak DC50 no colour
// matrix, so it has no lin_rec2020 (its frame is also below one crop).
const char kNoMatrix[] = "rawpy__RAW_KODAK_DC50.KDC";
// Also paired with a copy of itself as a noisy capture (distinct paths).
const char kCopied[] = "tinydng__colorchart.dng";

std::string SceneName(const std::string& file) {
  return file.substr(0, file.find('.'));
}

// IEEE half to float (normals, subnormals, inf and NaN).
float HalfToFloat(std::uint16_t h) {
  const int sign = h >> 15, exp = (h >> 10) & 31, mant = h & 1023;
  float v;
  if (exp == 0) {
    v = std::ldexp(static_cast<float>(mant), -24);
  } else if (exp == 31) {
    v = mant ? NAN : INFINITY;
  } else {
    v = std::ldexp(static_cast<float>(mant + 1024), exp - 25);
  }
  return sign ? -v : v;
}

// A float16 .npy file: its shape and values.
struct Npy {
  std::vector<long> shape;
  std::vector<float> values;
  std::string error;
};

Npy ReadNpy(const std::string& path) {
  Npy npy;
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  if (bytes.size() < 10 || bytes.compare(0, 6, "\x93NUMPY") != 0) {
    npy.error = "not an .npy file";
    return npy;
  }
  const int major = static_cast<unsigned char>(bytes[6]);
  std::size_t header_len, offset;
  if (major == 1) {
    header_len = static_cast<unsigned char>(bytes[8]) |
                 static_cast<unsigned char>(bytes[9]) << 8;
    offset = 10;
  } else {
    std::uint32_t len;
    std::memcpy(&len, bytes.data() + 8, 4);
    header_len = len;
    offset = 12;
  }
  const std::string header = bytes.substr(offset, header_len);
  if (header.find("'descr': '<f2'") == std::string::npos ||
      header.find("'fortran_order': False") == std::string::npos) {
    npy.error = "header is not little-endian C-order float16: " + header;
    return npy;
  }
  const std::size_t open = header.find('(', header.find("'shape'"));
  const std::size_t close = header.find(')', open);
  std::string dims = header.substr(open + 1, close - open - 1);
  for (std::size_t pos = 0; pos < dims.size();) {
    std::size_t end = dims.find(',', pos);
    if (end == std::string::npos) end = dims.size();
    const std::string dim = dims.substr(pos, end - pos);
    if (dim.find_first_not_of(' ') != std::string::npos) {
      npy.shape.push_back(std::stol(dim));
    }
    pos = end + 1;
  }
  long count = 1;
  for (long d : npy.shape) count *= d;
  const std::size_t data = offset + header_len;
  if (bytes.size() != data + 2 * static_cast<std::size_t>(count)) {
    npy.error = "data size does not match the shape";
    return npy;
  }
  npy.values.resize(count);
  for (long i = 0; i < count; ++i) {
    std::uint16_t h;
    std::memcpy(&h, bytes.data() + data + 2 * i, 2);
    npy.values[i] = HalfToFloat(h);
  }
  return npy;
}

// A half-float RGB TIFF: size and interleaved values.
struct Tiff {
  int width = 0, height = 0;
  std::vector<float> values;
  std::string error;
};

Tiff ReadHalfTiff(const std::string& path) {
  Tiff tiff;
  std::unique_ptr<TIFF, void (*)(TIFF*)> t(TIFFOpen(path.c_str(), "r"),
                                           TIFFClose);
  if (!t) {
    tiff.error = "libtiff cannot open it";
    return tiff;
  }
  std::uint32_t w = 0, h = 0;
  std::uint16_t spp = 0, bps = 0, format = 0, planar = 0;
  TIFFGetField(t.get(), TIFFTAG_IMAGEWIDTH, &w);
  TIFFGetField(t.get(), TIFFTAG_IMAGELENGTH, &h);
  TIFFGetFieldDefaulted(t.get(), TIFFTAG_SAMPLESPERPIXEL, &spp);
  TIFFGetFieldDefaulted(t.get(), TIFFTAG_BITSPERSAMPLE, &bps);
  TIFFGetFieldDefaulted(t.get(), TIFFTAG_SAMPLEFORMAT, &format);
  TIFFGetFieldDefaulted(t.get(), TIFFTAG_PLANARCONFIG, &planar);
  if (spp != 3 || bps != 16 || format != SAMPLEFORMAT_IEEEFP ||
      planar != PLANARCONFIG_CONTIG || TIFFIsTiled(t.get())) {
    tiff.error = "not a 3-channel contiguous half-float strip TIFF";
    return tiff;
  }
  tiff.width = static_cast<int>(w);
  tiff.height = static_cast<int>(h);
  tiff.values.resize(static_cast<std::size_t>(w) * h * 3);
  std::vector<std::uint16_t> row(static_cast<std::size_t>(w) * 3);
  for (std::uint32_t y = 0; y < h; ++y) {
    if (TIFFReadScanline(t.get(), row.data(), y) < 0) {
      tiff.error = "cannot read row " + std::to_string(y);
      return tiff;
    }
    for (std::size_t i = 0; i < row.size(); ++i) {
      tiff.values[y * row.size() + i] = HalfToFloat(row[i]);
    }
  }
  return tiff;
}

// The reference: LibRaw's unpacked visible mosaic, normalised with the
// black of each site (common + per channel + pattern) and LibRaw's white.
struct Reference {
  int width = 0, height = 0;
  std::string cfa;  // of the visible area's top-left 2x2 cell
  std::vector<double> normalised;
  std::string error;
  double at(int y, int x) const {
    return normalised[static_cast<std::size_t>(y) * width + x];
  }
};

Reference LibRawReference(const std::string& path) {
  Reference ref;
  auto raw = std::make_unique<LibRaw>();
  if (raw->open_file(path.c_str()) != LIBRAW_SUCCESS ||
      raw->unpack() != LIBRAW_SUCCESS ||
      raw->imgdata.rawdata.raw_image == nullptr) {
    ref.error = "LibRaw cannot unpack a mosaic";
    return ref;
  }
  const libraw_image_sizes_t& s = raw->imgdata.sizes;
  const libraw_colordata_t& c = raw->imgdata.color;
  ref.width = s.width;
  ref.height = s.height;
  for (int y = 0; y < 2; ++y) {
    for (int x = 0; x < 2; ++x) {
      ref.cfa += raw->imgdata.idata.cdesc[raw->COLOR(y, x)];
    }
  }
  const int ph = c.cblack[4], pw = c.cblack[5];
  const std::size_t pitch = s.raw_pitch / 2;
  ref.normalised.resize(static_cast<std::size_t>(s.width) * s.height);
  for (int y = 0; y < s.height; ++y) {
    const std::uint16_t* row =
        raw->imgdata.rawdata.raw_image + (y + s.top_margin) * pitch;
    for (int x = 0; x < s.width; ++x) {
      double black = c.black + c.cblack[raw->COLOR(y, x)];
      if (ph > 0 && pw > 0) black += c.cblack[6 + (y % ph) * pw + x % pw];
      ref.normalised[static_cast<std::size_t>(y) * s.width + x] =
          (row[x + s.left_margin] - black) / (c.maximum - black);
    }
  }
  return ref;
}

// "…/<raw name>.<x>_<y>.npy" -> {x, y} (half-resolution units).
std::pair<int, int> FileNamePosition(const std::string& path) {
  const std::string stem = fs::path(path).stem().string();
  const std::string xy = stem.substr(stem.rfind('.') + 1);
  const std::size_t bar = xy.find('_');
  return {std::stoi(xy.substr(0, bar)), std::stoi(xy.substr(bar + 1))};
}

class RealRawCropsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (ToolBinary().empty()) GTEST_SKIP() << "DSB_BINARY is not set";
    raw_dir_ = testing::RealRawDir();
    if (raw_dir_.empty()) {
      GTEST_SKIP() << "no real raws: $DSB_REAL_RAW_DIR (../shared/data/raw) "
                      "is absent";
    }
    root_ = dir_.Join("data");
    for (const RealRaw& r : kRaws) {
      const std::string source = raw_dir_ + "/" + r.file;
      if (!fs::exists(source)) GTEST_SKIP() << "missing " << source;
      const std::string scene = root_ + "/" + SceneName(r.file);
      fs::create_directories(scene + "/gt");
      fs::copy_file(source, scene + "/gt/" + r.file);
      if (std::string(r.file) == kCopied) {
        fs::copy_file(source, scene + "/copy-of-" + r.file);
      }
    }
    // A damaged file: the first 800 kB of the NEF.
    fs::create_directories(root_ + "/damaged/gt");
    std::ifstream in(raw_dir_ + "/bep-imagemeta__sample.nef", std::ios::binary);
    std::string head(800000, '\0');
    in.read(head.data(), static_cast<std::streamsize>(head.size()));
    std::ofstream(root_ + "/damaged/gt/damaged.nef", std::ios::binary)
        .write(head.data(), in.gcount());
  }
  testing::TempDir dir_;
  std::string raw_dir_, root_;
};

TEST_F(RealRawCropsTest, SelfPairsCropToLibRawsOwnValues) {
  const std::string log = dir_.Join("build.json");
  const auto start = std::chrono::steady_clock::now();
  // Exit 1: the damaged scene and the uncroppable file.
  ASSERT_EQ(testing::WaitForExit(testing::SpawnTool(
                {"--json", "-j", "2", "--crops", root_}, log)),
            1);
  const double build_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  std::ifstream log_in(log);
  const std::string log_text((std::istreambuf_iterator<char>(log_in)), {});
  // The JSON summary (stdout) among the stderr lines: from a "{" line to
  // the last "}" line.
  const std::size_t json_start =
      log_text.starts_with("{") ? 0 : log_text.find("\n{") + 1;
  const std::size_t json_end = log_text.rfind("\n}") + 2;
  ASSERT_GT(json_end, json_start) << log_text;
  const nlohmann::json summary =
      nlohmann::json::parse(log_text.substr(json_start, json_end - json_start));

  // The damaged scene failed with its file and reason; every other scene
  // was built.
  EXPECT_EQ(summary["scenes"]["built"], 9 - 1);
  EXPECT_EQ(summary["scenes"]["failed"], 1);
  ASSERT_EQ(summary["failures"].size(), 1u) << summary.dump(2);
  EXPECT_EQ(summary["failures"][0]["scene"], "damaged");
  const std::string scene_error = summary["failures"][0]["error"];
  EXPECT_NE(scene_error.find("damaged.nef"), std::string::npos) << scene_error;
  EXPECT_NE(scene_error.find("ended early"), std::string::npos) << scene_error;
  // Crop failures: the damaged file and the file without a colour matrix,
  // each named with its reason; the 8 other files (7 GTs and the copy) were
  // cropped.
  std::map<std::string, std::string> crop_failures;
  for (const auto& f : summary["crops"]["failures"]) {
    crop_failures[fs::path(f["file"].get<std::string>()).filename()] =
        f["error"];
  }
  ASSERT_EQ(crop_failures.size(), 2u) << summary.dump(2);
  ASSERT_TRUE(crop_failures.contains(kNoMatrix)) << summary.dump(2);
  EXPECT_NE(crop_failures[kNoMatrix].find("colour matrix"), std::string::npos)
      << crop_failures[kNoMatrix];
  EXPECT_NE(crop_failures[kNoMatrix].find(kNoMatrix), std::string::npos);
  ASSERT_TRUE(crop_failures.contains("damaged.nef")) << summary.dump(2);
  EXPECT_EQ(summary["crops"]["files_cropped"], 8);
  EXPECT_EQ(summary["crops"]["files_failed"], 2);
  // Every file was cropped from (or refused after) the scene build's own
  // decode: none was decoded a second time, not even the damaged one.
  EXPECT_EQ(summary["crops"]["files_decoded"], 0) << summary.dump(2);
  std::printf(
      "build --crops: %.2f s wall (tool's own %.2f s), %s crops, %s "
      "bytes written\n",
      build_s, summary["seconds"].get<double>(),
      summary["crops"]["crops_written"].dump().c_str(),
      summary["crops"]["bytes_written"].dump().c_str());

  const std::string yaml_path = dir_.Join("pairs.yaml");
  ASSERT_EQ(RunTool({"export", "--format", "rawnind-yaml", "-o", yaml_path,
                     "--absolute-paths", root_}),
            0);
  const YAML::Node pairs = YAML::LoadFile(yaml_path);
  ASSERT_TRUE(pairs.IsSequence());
  // 8 self pairs and the copy's pair; the damaged scene is not exported.
  ASSERT_EQ(pairs.size(), 9u);

  std::map<std::string, Reference> references;
  std::set<std::string> cropped;   // raw names with crops in the export
  std::set<std::string> compared;  // .npy files compared with LibRaw
  long crops_checked = 0, values_checked = 0;
  for (const YAML::Node& pair : pairs) {
    const std::string gt = pair["gt_fpath"].as<std::string>();
    const std::string f = pair["f_fpath"].as<std::string>();
    const std::string name = fs::path(gt).filename();
    SCOPED_TRACE(gt + " vs " + f);
    EXPECT_EQ(pair["best_alignment"][0].as<int>(), 0);
    EXPECT_EQ(pair["best_alignment"][1].as<int>(), 0);
    EXPECT_NEAR(pair["best_alignment_loss"].as<double>(), 0.0, 1e-6);
    EXPECT_NEAR(pair["rgb_gain"].as<double>(), 1.0, 1e-3);
    EXPECT_TRUE(pair["is_bayer"].as<bool>());
    const YAML::Node crops = pair["crops"];
    if (name == kNoMatrix) {
      EXPECT_EQ(crops.size(), 0u);
      continue;
    }
    ASSERT_GT(crops.size(), 0u);
    cropped.insert(name);

    const RealRaw* raw = nullptr;
    for (const RealRaw& r : kRaws) {
      if (name == r.file) raw = &r;
    }
    ASSERT_NE(raw, nullptr) << name;
    if (!references.contains(name)) {
      references[name] = LibRawReference(raw_dir_ + "/" + name);
    }
    const Reference& ref = references[name];
    ASSERT_TRUE(ref.error.empty()) << ref.error;
    ASSERT_EQ(ref.cfa, raw->cfa);  // SOURCES.md's CFA, as LibRaw reads it
    // RawNIND's frame: starts on the R site, sizes cut to multiples of 4.
    const int top = ref.cfa[0] == 'R' || ref.cfa[1] == 'R' ? 0 : 1;
    const int left = ref.cfa[0] == 'R' || ref.cfa[2] == 'R' ? 0 : 1;
    const int frame_h = (ref.height - 2 * top) / 4 * 4;
    const int frame_w = (ref.width - 2 * left) / 4 * 4;
    // RawNIND's grid (README, crop_datasets.py) in half-resolution units.
    const int h_end = frame_h / 2 - frame_h / 2 % 16;
    const int w_end = frame_w / 2 - frame_w / 2 % 16;
    std::set<std::pair<int, int>> grid;
    for (int x = 0; x + 384 < w_end; x += 768) {
      for (int y = 0; y + 384 < h_end; y += 768) grid.insert({x, y});
    }

    std::set<std::pair<int, int>> listed;
    for (const YAML::Node& crop : crops) {
      const std::string bayer[] = {crop["gt_bayer_fpath"].as<std::string>(),
                                   crop["f_bayer_fpath"].as<std::string>()};
      const std::string linrec[] = {
          crop["gt_linrec2020_fpath"].as<std::string>(),
          crop["f_linrec2020_fpath"].as<std::string>()};
      const auto [x, y] = FileNamePosition(bayer[0]);
      listed.insert({x, y});
      // Full-resolution coordinates in the mask's (visible area's) frame.
      EXPECT_EQ(crop["coordinates"][0].as<int>(), 2 * x + left);
      EXPECT_EQ(crop["coordinates"][1].as<int>(), 2 * y + top);
      const int w = std::min(x + 1024, w_end) - x;
      const int h = std::min(y + 1024, h_end) - y;
      for (int side = 0; side < 2; ++side) {
        SCOPED_TRACE(bayer[side]);
        ASSERT_TRUE(fs::exists(bayer[side]));
        ASSERT_TRUE(fs::exists(linrec[side])) << linrec[side];
        EXPECT_EQ(FileNamePosition(bayer[side]), std::make_pair(x, y));
        EXPECT_EQ(FileNamePosition(linrec[side]), std::make_pair(x, y));
        // A crop file is compared once (a self pair names it twice; the
        // copy's pair names the GT's again).
        if (!compared.insert(bayer[side]).second) continue;
        ++crops_checked;
        const Npy npy = ReadNpy(bayer[side]);
        ASSERT_TRUE(npy.error.empty()) << npy.error;
        ASSERT_EQ(npy.shape, (std::vector<long>{4, h, w}));
        // RGGB planes: R (0, 0), G (0, 1), G (1, 0), B (1, 1) of a cell.
        const int dy[] = {0, 0, 1, 1}, dx[] = {0, 1, 0, 1};
        double worst = 0;
        long bad = 0;
        for (int ch = 0; ch < 4; ++ch) {
          for (int i = 0; i < h; ++i) {
            for (int j = 0; j < w; ++j) {
              const double want = ref.at(top + 2 * (y + i) + dy[ch],
                                         left + 2 * (x + j) + dx[ch]);
              const double got =
                  npy.values[(static_cast<std::size_t>(ch) * h + i) * w + j];
              // Float16 rounding: half an ulp (2^-11 relative, 2^-25 among
              // subnormals), with room for the float arithmetic before it.
              const double err = std::abs(got - want);
              if (err > std::abs(want) * std::ldexp(1.0, -10) +
                            std::ldexp(1.0, -24)) {
                ++bad;
              }
              worst = std::max(worst, err / std::max(std::abs(want), 1e-3));
            }
          }
        }
        values_checked += 4L * h * w;
        EXPECT_EQ(bad, 0) << "of " << 4L * h * w
                          << " values differ from LibRaw's beyond float16 "
                             "precision; worst relative error "
                          << worst;

        const Tiff tiff = ReadHalfTiff(linrec[side]);
        ASSERT_TRUE(tiff.error.empty()) << linrec[side] << ": " << tiff.error;
        EXPECT_EQ(tiff.width, 2 * w);
        EXPECT_EQ(tiff.height, 2 * h);
        long non_finite = 0, negative = 0;
        double sum = 0;
        for (float v : tiff.values) {
          if (!std::isfinite(v)) ++non_finite;
          if (v < 0) ++negative;
          sum += v;
        }
        const double negative_share =
            static_cast<double>(negative) / tiff.values.size();
        EXPECT_EQ(non_finite, 0);
        EXPECT_LT(negative_share, 0.25);
        EXPECT_GT(sum / tiff.values.size(), 0.0);
        std::printf(
            "%s (%d,%d): %dx%d RGGB, max rel. error %.2g; lin_rec2020 "
            "%dx%d, mean %.4f, %.2f%% negative\n",
            fs::path(bayer[side]).filename().c_str(), x, y, w, h, worst,
            tiff.width, tiff.height, sum / tiff.values.size(),
            100 * negative_share);
      }
    }
    EXPECT_EQ(listed, grid) << "crop positions against RawNIND's grid";
  }
  // Every croppable real raw was cropped.
  EXPECT_EQ(cropped.size(), std::size(kRaws) - 1);
  std::printf("%ld crop files compared with LibRaw (%ld values)\n",
              crops_checked, values_checked);
}

}  // namespace
}  // namespace dsb
