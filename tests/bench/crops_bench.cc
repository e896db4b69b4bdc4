// What --crops costs per file: LibRaw's decode of a generated DNG (the
// floor) next to writing that file's training crops (RawNIND's grid, .npy
// + lin_rec2020 TIFF, through the real file system) and next to RawNIND's
// pair figures (best_alignment_loss on demosaiced bands), same run,
// alternating, one thread. Reports ms/MP (median), the ratios to the decode
// and the bytes written per MP.
//
//   crops_bench [MP [REPS [CFA]]]     (default: 24 MP, 5 reps, rggb)
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "common/real_file_system.h"
#include "crops/file_crops.h"
#include "crops/rawnind_loss.h"
#include "crops/xtrans_rgb.h"
#include "raw/decoder.h"
#include "synth/dng_writer.h"
#include "synth/render.h"
#include "test_support.h"

namespace {

using Clock = std::chrono::steady_clock;

double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

double MsSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start)
      .count();
}

}  // namespace

int main(int argc, char** argv) {
  const int megapixels = argc > 1 ? std::atoi(argv[1]) : 24;
  const int reps = argc > 2 ? std::atoi(argv[2]) : 5;
  const std::string cfa_name = argc > 3 ? argv[3] : "RGGB";
  dsb::SceneSpec spec;
  spec.width = static_cast<int>(std::sqrt(megapixels * 1.5e6)) / 6 * 6;
  spec.height = megapixels * 1000000 / spec.width / 6 * 6;
  auto cfa = dsb::CfaPattern::FromName(cfa_name);
  if (!cfa) {
    std::fprintf(stderr, "unknown CFA %s\n", cfa_name.c_str());
    return 2;
  }
  spec.cfa = *cfa;
  dsb::SyntheticScene scene(spec);
  dsb::testing::TempDir dir;
  const std::string path = dir.Join("capture.dng");
  if (!dsb::WriteCfaDng(path, scene.RenderGt()).ok()) {
    std::fprintf(stderr, "cannot write %s\n", path.c_str());
    return 1;
  }
  dsb::DecodeOptions options;
  options.max_pixels = 400'000'000;
  dsb::CropLocation location;
  location.root = dir.path();
  location.crops_dir = dir.Join("crops");
  location.scene = ".";
  location.rel_path = "capture.dng";
  const double mp = static_cast<double>(spec.width) * spec.height / 1e6;

  std::vector<double> decode_ms, crop_ms, pair_ms, reference_ms, full_ms;
  std::uint64_t bytes = 0;
  std::size_t crops = 0;
  for (int rep = 0; rep < reps; ++rep) {
    auto start = Clock::now();
    auto image = dsb::DecodeRaw(path, options);
    decode_ms.push_back(MsSince(start));
    if (!image.ok()) {
      std::fprintf(stderr, "decode: %s\n", image.status().message().c_str());
      return 1;
    }
    if (cfa->is_xtrans()) {
      // The crop stage's X-Trans path: LibRaw's demosaic of the file, then
      // lin_rec2020 crops.
      start = Clock::now();
      auto rgb = dsb::DemosaicXTrans(path);
      if (!rgb.ok()) return 1;
      auto written = dsb::WriteRgbCrops(
          dsb::RealFileSystem(), rgb->image4, rgb->width, rgb->height,
          image->meta.rgb_xyz_matrix, location, dsb::CropParams());
      crop_ms.push_back(MsSince(start));
      if (!written.ok()) {
        std::fprintf(stderr, "crops: %s\n", written.status().message().c_str());
        return 1;
      }
      bytes = written->bytes;
      crops = written->record.crops.size();
      continue;
    }
    start = Clock::now();
    auto written = dsb::WriteBayerCrops(dsb::RealFileSystem(), *image, location,
                                        dsb::CropParams());
    crop_ms.push_back(MsSince(start));
    if (!written.ok()) {
      std::fprintf(stderr, "crops: %s\n", written.status().message().c_str());
      return 1;
    }
    bytes = written->bytes;
    crops = written->record.crops.size();
    // RawNIND's figures: the GT's reference (once per GT), then a pair.
    start = Clock::now();
    auto reference = dsb::RawnindReference::Make(*image);
    reference_ms.push_back(MsSince(start));
    if (!reference.ok()) return 1;
    start = Clock::now();
    auto figures = dsb::RawnindFigures(*reference, *image, 3, -5);
    pair_ms.push_back(MsSince(start));
    if (!figures.ok()) return 1;
    // The same with every overlap pixel (the exact figure): the sample's
    // saving.
    const dsb::RawnindSampling all{16, 32, 16, 32, 0};
    start = Clock::now();
    auto full_reference = dsb::RawnindReference::Make(*image, all);
    auto full = dsb::RawnindFigures(*full_reference, *image, 3, -5);
    full_ms.push_back(MsSince(start));
    if (!full.ok()) return 1;
  }
  const double decode = Median(decode_ms);
  std::printf("%s %dx%d (%.1f MP), %d reps, one thread\n", cfa_name.c_str(),
              spec.width, spec.height, mp, reps);
  std::printf("decode (floor)          %7.1f ms  %5.1f ms/MP\n", decode,
              decode / mp);
  if (!crop_ms.empty()) {
    const double crop = Median(crop_ms);
    const double pair = pair_ms.empty() ? 0 : Median(pair_ms);
    std::printf(
        "crops (%zu windows)      %7.1f ms  %5.1f ms/MP  %.2fx decode, "
        "%.2f bytes/pixel written\n",
        crops, crop, crop / mp, crop / decode, bytes / (mp * 1e6));
    if (!pair_ms.empty()) {
      const double reference = Median(reference_ms), full = Median(full_ms);
      std::printf(
          "RawNIND figures, per GT %7.1f ms  %5.1f ms/MP  %.2fx decode\n",
          reference, reference / mp, reference / decode);
      std::printf(
          "RawNIND figures, a pair %7.1f ms  %5.1f ms/MP  %.2fx decode\n", pair,
          pair / mp, pair / decode);
      std::printf(
          "  every overlap pixel   %7.1f ms  %5.1f ms/MP  %.2fx decode (GT + "
          "pair)\n",
          full, full / mp, full / decode);
    }
  }
  return 0;
}
