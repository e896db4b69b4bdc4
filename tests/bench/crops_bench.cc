// What --crops costs per file: LibRaw's decode of a generated DNG (the
// floor) next to writing that file's training crops (RawNIND's grid, .npy
// + lin_rec2020 TIFF, through the real file system) and next to RawNIND's
// pair figures (best_alignment_loss on demosaiced bands), same run,
// alternating, one thread. Reports ms/MP (median), the ratios to the decode
// and the bytes written per MP.
//
//   crops_bench [MP [REPS [CFA]]]     (default: 24 MP, 5 reps, rggb)
//
// `crops_bench rawnind [MP|FILE [REPS]]` times RawNIND's figures alone (the
// build computes them for every Bayer pair, not only with --crops): the
// GT's reference and one pair, in CPU time of the thread, best and median
// of REPS (default 24 MP, 7 reps). MP renders a generated GT and a noisy
// capture (shift 7, -12, gain 1.3, a moved object); FILE pairs a real raw
// with itself at shifts (3, -5), (-2, 7) and (0, 1). It prints the figures
// in hexadecimal, so two builds can be compared bit for bit, and times the
// GT's self pair (a bit-identical copy at (0, 0)) on its own line.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
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

double ThreadCpuMs() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

void PrintTimes(const char* what, std::vector<double> ms, double mp) {
  std::sort(ms.begin(), ms.end());
  std::printf(
      "%-24s best %7.2f ms  %6.3f ms/MP   median %7.2f ms  %6.3f ms/MP\n", what,
      ms.front(), ms.front() / mp, ms[ms.size() / 2], ms[ms.size() / 2] / mp);
}

int RawnindMain(int argc, char** argv) {
  const std::string what = argc > 2 ? argv[2] : "24";
  const int reps = argc > 3 ? std::atoi(argv[3]) : 7;
  dsb::testing::TempDir dir;
  dsb::RawImage gt, noisy;
  std::vector<std::pair<int, int>> shifts;
  if (!what.empty() &&
      what.find_first_not_of("0123456789.") == std::string::npos) {
    const double megapixels = std::atof(what.c_str());
    dsb::SceneSpec spec;
    spec.width = static_cast<int>(std::sqrt(megapixels * 1.5e6)) / 6 * 6;
    spec.height = static_cast<int>(megapixels * 1e6 / spec.width) / 6 * 6;
    spec.clipped_fraction = 0.02;
    dsb::SyntheticScene scene(spec);
    gt = scene.RenderGt();
    dsb::CaptureSpec capture;
    capture.dy = 7;
    capture.dx = -12;
    capture.gain = 1.3;
    capture.noise_level = 2;
    capture.moved_object = dsb::Box{spec.height / 4, spec.width / 3,
                                    spec.height / 8, spec.width / 10};
    noisy = scene.RenderCapture(capture);
    shifts = {{7, -12}};
  } else {
    dsb::DecodeOptions options;
    options.max_pixels = 400'000'000;
    auto image = dsb::DecodeRaw(what, options);
    if (!image.ok()) {
      std::fprintf(stderr, "%s: %s\n", what.c_str(),
                   image.status().message().c_str());
      return 1;
    }
    gt = std::move(*image);
    noisy = gt;
    shifts = {{3, -5}, {-2, 7}, {0, 1}};
  }
  const double mp = static_cast<double>(gt.width()) * gt.height() / 1e6;
  // The GT's self pair, as the build makes it: a second decode of the same
  // file (bit-identical, its own buffer) at (0, 0).
  const dsb::RawImage gt_copy = gt;
  std::vector<double> reference_ms, pair_ms, self_ms;
  std::vector<dsb::RawnindPairFigures> figures;
  for (int rep = 0; rep < reps; ++rep) {
    double start = ThreadCpuMs();
    auto reference = dsb::RawnindReference::Make(gt);
    reference_ms.push_back(ThreadCpuMs() - start);
    if (!reference.ok()) {
      std::fprintf(stderr, "%s\n", reference.status().message().c_str());
      return 1;
    }
    for (const auto& [dy, dx] : shifts) {
      start = ThreadCpuMs();
      auto pair = dsb::RawnindFigures(*reference, noisy, dy, dx);
      pair_ms.push_back(ThreadCpuMs() - start);
      if (!pair.ok()) {
        std::fprintf(stderr, "%s\n", pair.status().message().c_str());
        return 1;
      }
      if (rep == 0) figures.push_back(*pair);
    }
    start = ThreadCpuMs();
    auto self = dsb::RawnindFigures(*reference, gt_copy, 0, 0);
    self_ms.push_back(ThreadCpuMs() - start);
    if (!self.ok() || self->rgb_gain != 1 || self->best_alignment_loss != 0) {
      std::fprintf(stderr, "the self pair's figures are not 1 and 0\n");
      return 1;
    }
  }
  std::printf(
      "RawNIND figures, %dx%d (%.2f MP), %d reps, CPU time of the "
      "thread\n",
      gt.width(), gt.height(), mp, reps);
  PrintTimes("per GT (reference)", reference_ms, mp);
  PrintTimes("per pair", pair_ms, mp);
  PrintTimes("self pair (0, 0)", self_ms, mp);
  for (std::size_t i = 0; i < figures.size(); ++i) {
    std::printf("shift (%d, %d): rgb_gain %a  best_alignment_loss %a (%.6g)\n",
                shifts[i].first, shifts[i].second, figures[i].rgb_gain,
                figures[i].best_alignment_loss, figures[i].best_alignment_loss);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "rawnind") {
    return RawnindMain(argc, argv);
  }
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
