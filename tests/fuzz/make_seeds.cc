// Writes the seed corpus of decode_align_fuzzer: small CFA DNGs (every
// Bayer phase and X-Trans, 8/12/14/16 bits, with and without a masked
// border and an EXIF directory) written by the project's own DNG writer, so
// the fuzzer starts from files that decode, align and mask.
//
// Usage: make_seeds OUT_DIR
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <system_error>

#include "core/cfa.h"
#include "core/raw_image.h"
#include "synth/dng_writer.h"

namespace {

// A smooth gradient with a few edges and a clipped patch, so alignment and
// masking have something to find.
dsb::RawImage MakeImage(int width, int height, const dsb::CfaPattern& cfa) {
  dsb::RawImage image;
  image.pixels = dsb::Plane<float>(width, height);
  image.cfa = cfa;
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      float v = 0.1f + 0.6f * static_cast<float>(x + y) /
                           static_cast<float>(width + height);
      if (((x / 7) + (y / 5)) % 3 == 0) v += 0.2f;
      if (x < width / 6 && y < height / 6) v = 1.0f;
      image.pixels.at(y, x) = v;
    }
  }
  image.meta.make = "dataset-build";
  image.meta.model = "fuzz-seed";
  image.meta.iso = 100;
  return image;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]);
    return 2;
  }
  const std::string out = argv[1];
  std::error_code error;
  std::filesystem::create_directories(out, error);
  if (error) {
    std::fprintf(stderr, "%s: %s\n", out.c_str(), error.message().c_str());
    return 1;
  }
  struct Seed {
    const char* name;
    dsb::CfaPattern cfa;
    int width, height, bits;
    int border;
    int iso;
  };
  const Seed seeds[] = {
      {"rggb_32x32_14", dsb::CfaPattern::Bayer(dsb::BayerOrder::kRGGB), 32, 32,
       14, 0, 100},
      {"bggr_48x32_12", dsb::CfaPattern::Bayer(dsb::BayerOrder::kBGGR), 48, 32,
       12, 0, 0},
      {"grbg_40x24_16", dsb::CfaPattern::Bayer(dsb::BayerOrder::kGRBG), 40, 24,
       16, 0, 3200},
      {"gbrg_64x48_8", dsb::CfaPattern::Bayer(dsb::BayerOrder::kGBRG), 64, 48,
       8, 0, 100},
      {"rggb_border_40x40_14", dsb::CfaPattern::Bayer(dsb::BayerOrder::kRGGB),
       40, 40, 14, 4, 100},
      {"xtrans_36x36_14", dsb::CfaPattern::StandardXTrans(), 36, 36, 14, 0,
       100},
      {"xtrans_border_42x30_12", dsb::CfaPattern::StandardXTrans(), 42, 30, 12,
       3, 800},
      {"rggb_8x8_14", dsb::CfaPattern::Bayer(dsb::BayerOrder::kRGGB), 8, 8, 14,
       0, 100},
  };
  int failed = 0;
  for (const Seed& seed : seeds) {
    dsb::DngWriteOptions options;
    options.bits = seed.bits;
    const int black = seed.bits >= 12 ? 256 : 8;
    options.black = {black, black, black, black};
    options.masked_top = options.masked_left = seed.border;
    options.masked_bottom = options.masked_right = seed.border;
    options.iso = seed.iso;
    const std::string path = out + "/" + seed.name + ".dng";
    dsb::Status status = dsb::WriteCfaDng(
        path, MakeImage(seed.width, seed.height, seed.cfa), options);
    if (!status.ok()) {
      std::fprintf(stderr, "%s: %s\n", path.c_str(), status.ToString().c_str());
      ++failed;
    }
  }
  return failed == 0 ? 0 : 1;
}
