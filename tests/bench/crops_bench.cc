// What --crops costs per file: LibRaw's decode of a generated DNG (the
// floor) next to writing that file's training crops (RawNIND's grid, .npy
// + lin_rec2020 TIFF, through the real file system) and next to RawNIND's
// pair figures (best_alignment_loss on demosaiced bands), same run,
// alternating, one thread. Reports ms/MP (median), the ratios to the decode
// and the bytes written per MP.
//
//   crops_bench [MP [REPS [CFA]]]     (default: 24 MP, 5 reps, rggb)
//
// `crops_bench rawnind [MP|FILE [REPS [STRIDE]]]` times RawNIND's figures
// alone (STRIDE: RawnindSampling::row_stride, 1 for every row; the
// build computes them for every Bayer pair, not only with --crops): the
// GT's reference and one pair, in CPU time of the thread, best and median
// of REPS (default 24 MP, 7 reps). MP renders a generated GT and a noisy
// capture (shift 7, -12, gain 1.3, a moved object); FILE pairs a real raw
// with itself at shifts (3, -5), (-2, 7) and (0, 1). It prints the figures
// in hexadecimal, so two builds can be compared bit for bit, and times the
// GT's self pair (a bit-identical copy at (0, 0)) on its own line.
//
// `crops_bench rawnind-sampling [STRIDE...]` compares the figures on one
// row pair of every STRIDE with every row's, over generated, photographed
// and real-raw pairs (SamplingMain); with DSB_PRINT_FIGURES set it also
// prints each stride's figures to 10 digits, so two builds' estimators can
// be compared pair by pair.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "common/real_file_system.h"
#include "crops/file_crops.h"
#include "crops/rawnind_loss.h"
#include "crops/xtrans_rgb.h"
#include "photos.h"
#include "raw/decoder.h"
#include "synth/dng_writer.h"
#include "synth/photo_reader.h"
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
  dsb::RawnindSampling sampling;
  if (argc > 4) sampling.row_stride = std::atoi(argv[4]);
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
    auto reference = dsb::RawnindReference::Make(gt, sampling);
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

// One pair of the sampling comparison.
struct SamplingCase {
  std::string name;
  const dsb::RawImage* gt = nullptr;
  dsb::RawImage noisy;
  int dy = 0, dx = 0;
};

// The relative difference |a - b| / |b| (0 when both are 0).
double RelativeDifference(double a, double b) {
  if (a == b) return 0;
  return std::abs(a - b) / std::abs(b);
}

// A "noisy capture" of a real raw: its values / 1.3 with shot and read
// noise, and a block replaced by another part of the frame (a moved
// object).
dsb::RawImage NoisyOf(const dsb::RawImage& raw, std::uint32_t seed) {
  dsb::RawImage noisy = raw;
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const int h = raw.height(), w = raw.width();
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      const float v = raw.pixels.at(y, x) / 1.3f;
      const float sigma = 0.002f + 0.02f * std::sqrt(std::max(v, 0.0f));
      noisy.pixels.at(y, x) = v + sigma * normal(rng);
    }
  }
  // The object: rows [h/4, h/4 + h/6) x columns [w/3, w/3 + w/8) from rows
  // and columns half a frame away (same CFA phase: even offsets).
  const int oy = (h / 2) & ~1, ox = (w / 2) & ~1;
  for (int y = h / 4; y < h / 4 + h / 6; ++y) {
    for (int x = w / 3; x < w / 3 + w / 8; ++x) {
      noisy.pixels.at(y, x) = noisy.pixels.at((y + oy) % h, (x + ox) % w);
    }
  }
  return noisy;
}

// `crops_bench rawnind-sampling [STRIDE...]`: RawNIND's figures with the
// passes on one row pair of every STRIDE (default 2 4 8) against every
// row (stride 1, the figures before row sampling), on generated 24 MP
// pairs, the photographs of tests/support/photos.h (24 MP, two captures
// each) and the real raws in ../shared/data/raw (or $DSB_REAL_RAW_DIR),
// each with itself and with a noisy copy at several shifts. Prints each
// pair's relative differences of rgb_gain and best_alignment_loss, and their
// maximum and median per stride.
int SamplingMain(int argc, char** argv) {
  std::vector<int> strides;
  for (int i = 2; i < argc; ++i) strides.push_back(std::atoi(argv[i]));
  if (strides.empty()) strides = {2, 4, 8};
  std::vector<std::unique_ptr<dsb::RawImage>> gts;
  std::vector<SamplingCase> cases;
  const auto generated = [&](const std::string& name, dsb::SceneSpec spec,
                             std::vector<dsb::CaptureSpec> captures) {
    spec.width = 6000;
    spec.height = 3996;
    dsb::SyntheticScene scene(spec);
    gts.push_back(std::make_unique<dsb::RawImage>(scene.RenderGt()));
    for (const dsb::CaptureSpec& c : captures) {
      cases.push_back({name + " (" + std::to_string(c.dy) + ", " +
                           std::to_string(c.dx) + ")",
                       gts.back().get(), scene.RenderCapture(c), c.dy, c.dx});
    }
  };
  const auto capture = [](int dy, int dx, double gain, int noise,
                          std::uint64_t seed) {
    dsb::CaptureSpec c;
    c.dy = dy;
    c.dx = dx;
    c.gain = gain;
    c.noise_level = noise;
    c.noise_seed = seed;
    c.moved_object = dsb::Box{900, 2000, 700, 600};
    return c;
  };
  for (int seed = 1; seed <= 3; ++seed) {
    dsb::SceneSpec spec;
    spec.seed = seed;
    spec.cfa = *dsb::CfaPattern::FromName(
        std::vector<const char*>{"RGGB", "GBRG", "BGGR"}[seed - 1]);
    spec.clipped_fraction = 0.02 * seed;
    generated("generated " + std::to_string(seed), spec,
              {capture(7, -12, 1.3, 2, seed), capture(-30, 25, 0.6, 3, seed),
               capture(0, 1, 1.0, 1, seed)});
  }
  int photo_index = 0;
  for (const std::string& name : dsb::testing::SweepPhotoNames()) {
    const std::string path = dsb::testing::FindPhoto(name);
    if (path.empty()) {
      std::fprintf(stderr, "photograph %s absent: skipped\n", name.c_str());
      continue;
    }
    auto photo = dsb::ReadPhoto(path);
    if (!photo.ok()) continue;
    dsb::SceneSpec spec;
    spec.seed = 40 + photo_index;
    spec.photo = std::make_shared<const dsb::Srgb8Image>(std::move(*photo));
    spec.look.light =
        photo_index % 2 ? dsb::PhotoLight::kWarm : dsb::PhotoLight::kDaylight;
    spec.look.exposure_ev = photo_index % 2 ? 1 : 0;
    generated(name, spec,
              {capture(5, -9, 1.25, 2, 7), capture(-2, 3, 0.8, 1, 8)});
    ++photo_index;
  }
  const char* env = std::getenv("DSB_REAL_RAW_DIR");
  const std::string raw_dir = env ? env : "../shared/data/raw";
  std::vector<std::string> files;
  if (std::filesystem::is_directory(raw_dir)) {
    for (const auto& entry : std::filesystem::directory_iterator(raw_dir)) {
      if (entry.is_regular_file() && entry.path().extension() != ".md") {
        files.push_back(entry.path().string());
      }
    }
  }
  std::sort(files.begin(), files.end());
  for (const std::string& file : files) {
    dsb::DecodeOptions options;
    options.max_pixels = 400'000'000;
    auto image = dsb::DecodeRaw(file, options);
    if (!image.ok() || image->cfa.is_xtrans()) {
      std::fprintf(stderr, "%s: not a Bayer raw LibRaw decodes: skipped\n",
                   file.c_str());
      continue;
    }
    gts.push_back(std::make_unique<dsb::RawImage>(std::move(*image)));
    const dsb::RawImage& raw = *gts.back();
    const std::string name =
        std::filesystem::path(file).filename().string().substr(0, 24);
    const dsb::RawImage noisy = NoisyOf(raw, 5);
    for (const auto& [dy, dx] :
         std::vector<std::pair<int, int>>{{3, -5}, {-2, 7}, {0, 1}}) {
      cases.push_back({name + " self (" + std::to_string(dy) + ", " +
                           std::to_string(dx) + ")",
                       &raw, raw, dy, dx});
    }
    for (const auto& [dy, dx] :
         std::vector<std::pair<int, int>>{{0, 0}, {1, -2}, {-6, 4}}) {
      cases.push_back({name + " noisy (" + std::to_string(dy) + ", " +
                           std::to_string(dx) + ")",
                       &raw, noisy, dy, dx});
    }
  }
  std::printf("%-36s %9s %9s", "pair", "gain", "loss");
  for (int stride : strides) std::printf("   k=%-2d dgain   dloss ", stride);
  std::printf("\n");
  std::vector<std::vector<double>> gain_diffs(strides.size()),
      loss_diffs(strides.size());
  const dsb::RawImage* last_gt = nullptr;
  std::vector<std::unique_ptr<dsb::RawnindReference>> references;
  for (const SamplingCase& c : cases) {
    if (c.gt != last_gt) {
      references.clear();
      for (int stride : {1}) {
        dsb::RawnindSampling sampling;
        sampling.row_stride = stride;
        references.push_back(std::make_unique<dsb::RawnindReference>(
            std::move(dsb::RawnindReference::Make(*c.gt, sampling)).value()));
      }
      for (int stride : strides) {
        dsb::RawnindSampling sampling;
        sampling.row_stride = stride;
        references.push_back(std::make_unique<dsb::RawnindReference>(
            std::move(dsb::RawnindReference::Make(*c.gt, sampling)).value()));
      }
      last_gt = c.gt;
    }
    auto exact = dsb::RawnindFigures(*references[0], c.noisy, c.dy, c.dx);
    if (!exact.ok()) continue;
    std::printf("%-36s %9.5f %9.6f", c.name.c_str(), exact->rgb_gain,
                exact->best_alignment_loss);
    for (std::size_t k = 0; k < strides.size(); ++k) {
      auto f = dsb::RawnindFigures(*references[k + 1], c.noisy, c.dy, c.dx);
      const double dg = RelativeDifference(f->rgb_gain, exact->rgb_gain);
      const double dl = RelativeDifference(f->best_alignment_loss,
                                           exact->best_alignment_loss);
      gain_diffs[k].push_back(dg);
      loss_diffs[k].push_back(dl);
      std::printf("   %7.1e %7.1e", dg, dl);
      if (std::getenv("DSB_PRINT_FIGURES")) {
        std::printf(" [%.10g %.10g]", f->rgb_gain, f->best_alignment_loss);
      }
    }
    std::printf("\n");
  }
  std::printf("\n%zu pairs; relative difference from every row (stride 1)\n",
              cases.size());
  for (std::size_t k = 0; k < strides.size(); ++k) {
    std::sort(gain_diffs[k].begin(), gain_diffs[k].end());
    std::sort(loss_diffs[k].begin(), loss_diffs[k].end());
    std::printf(
        "stride %2d: rgb_gain max %.2e median %.2e   best_alignment_loss max "
        "%.2e median %.2e\n",
        strides[k], gain_diffs[k].back(), Median(gain_diffs[k]),
        loss_diffs[k].back(), Median(loss_diffs[k]));
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "rawnind") {
    return RawnindMain(argc, argv);
  }
  if (argc > 1 && std::string(argv[1]) == "rawnind-sampling") {
    return SamplingMain(argc, argv);
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
    const dsb::RawnindSampling all{16, 32, 16, 32, 0, 1};
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
