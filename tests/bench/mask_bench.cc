// Benchmark of loss masks: time per pair and per megapixel for the mask
// itself (with a new workspace per mask, as for a scene's first capture:
// its buffers come from the workspaces before it, mask/loss_mask.h; and
// with one reused workspace, as for the others), the PNG encoding
// (separately), and,
// as the floor measured in the same run, LibRaw's decode of the same
// capture written as a DNG.
//
// Scenes: procedural content without and with 2% clipped lights, and,
// where the tests' photograph is present (tests/support/photos.h), real-
// photo content under warm light at +2 EV (red clipped over wide areas:
// the clipping work then covers most rows).
//
// Usage: mask_bench [width height [cfa [noise_level [repeats [scene
//   [pair-only|png-only|scenes]]]]]]
//   defaults: 6000 4000 rggb 2 5 all (a 24 MP pair). One thread. `scene`
//   is plain, clipped, photo or all. `pair-only` times only what the build
//   does per pair (mask with a reused workspace, then its PNG), `repeats`
//   times: for profilers. `png-only` makes the mask once and times its PNG
//   alone, `repeats` times, with the PNG's size and a check that it
//   decodes to the mask (for profilers of the encoder); a path after it
//   gets the PNG written (a file per scene: PATH.N.png, N from 0), to be
//   checked by other decoders. `scenes` times the pairs as the build meets
//   them: `repeats` scenes in turn, each with a workspace of its own (the build
//   makes one per thread and scene) and four captures at different shifts
//   (so overlaps of different sizes), on a thread other than the main one
//   (the build's workers allocate from their own malloc arenas, which hand
//   freed memory back to the system): every pair's thread CPU time,
//   fresh memory and its page faults included, and the page faults.
//   DSB_HUGE_PAGES=1 in the environment puts the planes and workspaces on
//   transparent huge pages, as the build's --huge-pages does (by default
//   they get the system's pages, as in the build; common/large_pages.h).
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/large_pages.h"
#include "core/alignment.h"
#include "mask/cell_rows.h"
#include "mask/loss_mask.h"
#include "mask/pair_model.h"
#include "mask/png_writer.h"
#include "photos.h"
#include "raw/decoder.h"
#include "synth/dng_writer.h"
#include "synth/photo_reader.h"
#include "synth/render.h"
#include "test_support.h"

namespace {

// Minor page faults of the calling thread so far.
long MinorFaults() {
  rusage usage{};
  getrusage(RUSAGE_THREAD, &usage);
  return usage.ru_minflt;
}

double ThreadCpuSeconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

// The best wall time and the best CPU time of this thread over `repeats`
// runs. On a loaded machine the CPU time leaves out the time the thread
// waited for a core, the largest part of the noise in wall times.
struct Timing {
  double wall = 1e30;
  double cpu = 1e30;
};

Timing Seconds(const std::function<void()>& work, int repeats) {
  Timing best;
  for (int i = 0; i < repeats; ++i) {
    const double cpu0 = ThreadCpuSeconds();
    const auto start = std::chrono::steady_clock::now();
    work();
    const auto end = std::chrono::steady_clock::now();
    best.cpu = std::min(best.cpu, ThreadCpuSeconds() - cpu0);
    best.wall =
        std::min(best.wall, std::chrono::duration<double>(end - start).count());
  }
  return best;
}

void Report(const char* what, double seconds, double megapixels) {
  std::printf("%-34s %9.1f ms  %7.2f ms/MP\n", what, seconds * 1e3,
              seconds * 1e3 / megapixels);
}

void Report(const char* what, const Timing& t, double megapixels) {
  std::printf("%-34s %9.1f ms  %7.2f ms/MP wall, %7.2f ms/MP CPU\n", what,
              t.wall * 1e3, t.wall * 1e3 / megapixels,
              t.cpu * 1e3 / megapixels);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace dsb;
  if (std::getenv("DSB_HUGE_PAGES") != nullptr) SetHugePages(true);
  const int width = argc > 1 ? std::atoi(argv[1]) : 6000;
  const int height = argc > 2 ? std::atoi(argv[2]) : 4000;
  const std::string cfa_name = argc > 3 ? argv[3] : "rggb";
  const int level = argc > 4 ? std::atoi(argv[4]) : 2;
  const int repeats = argc > 5 ? std::max(1, std::atoi(argv[5])) : 5;
  const std::string only = argc > 6 ? argv[6] : "all";
  const bool pair_only = argc > 7 && std::strcmp(argv[7], "pair-only") == 0;
  const bool scenes = argc > 7 && std::strcmp(argv[7], "scenes") == 0;
  const bool png_only = argc > 7 && std::strcmp(argv[7], "png-only") == 0;
  const auto cfa = CfaPattern::FromName(cfa_name);
  if (!cfa || width < 64 || height < 64 ||
      (only != "all" && only != "plain" && only != "clipped" &&
       only != "photo") ||
      (argc > 7 && !pair_only && !scenes && !png_only)) {
    std::fprintf(stderr,
                 "usage: %s [width height [cfa [level [repeats "
                 "[plain|clipped|photo|all [pair-only|png-only|scenes]]]]]]\n",
                 argv[0]);
    return 2;
  }
  const double megapixels = width * static_cast<double>(height) / 1e6;
  std::printf("mask_bench: %dx%d (%.1f MP) %s, noise level %d, best of %d\n",
              width, height, megapixels, cfa->name().c_str(), level, repeats);

  // What every scene of the bench shares.
  SceneSpec base;
  base.width = width;
  base.height = height;
  base.cfa = *cfa;
  base.seed = 7;
  base.max_shift = 32;
  std::vector<SceneSpec> specs;
  for (const double clipped : {0.0, 0.02}) {
    if (only != "all" && only != (clipped > 0 ? "clipped" : "plain")) continue;
    SceneSpec spec = base;
    spec.clipped_fraction = clipped;
    specs.push_back(spec);
  }
  const std::string path = only == "all" || only == "photo"
                               ? testing::FindPhoto("motorcycle_left.png")
                               : "";
  if (!path.empty()) {
    auto photo = ReadPhoto(path);
    if (photo.ok()) {
      SceneSpec spec = base;
      spec.photo = std::make_shared<const Srgb8Image>(std::move(photo).value());
      spec.look.light = PhotoLight::kWarm;
      spec.look.exposure_ev = 2.0;
      specs.push_back(spec);
    }
  } else if (only == "all" || only == "photo") {
    std::printf("(no real-photo scene: motorcycle_left.png not in %s)\n",
                testing::PhotoDir().c_str());
  }
  int png_files = 0;  // png-only's files written
  for (const SceneSpec& spec : specs) {
    RawImage gt;
    RawImage noisy;
    CaptureSpec capture;
    capture.dy = 5;
    capture.dx = -3;
    capture.noise_level = level;
    capture.moved_object = Box{height / 3, width / 3, height / 8, width / 8};
    const auto render_start = std::chrono::steady_clock::now();
    const SyntheticScene scene(spec);
    gt = scene.RenderGt();
    noisy = scene.RenderCapture(capture);
    const double render = std::chrono::duration<double>(
                              std::chrono::steady_clock::now() - render_start)
                              .count();
    Alignment alignment;
    alignment.dy = capture.dy;
    alignment.dx = capture.dx;

    if (spec.photo) {
      std::printf("\nreal photo, %s %+.1f EV\n",
                  PhotoLightName(spec.look.light), spec.look.exposure_ev);
    } else {
      std::printf("\nclipped fraction %.2f\n", spec.clipped_fraction);
    }
    Report("render scene + GT + capture", render, megapixels);
    if (scenes) {
      // Three more captures of the scene, at other shifts.
      std::vector<RawImage> captures;
      std::vector<Alignment> alignments;
      captures.push_back(std::move(noisy));
      alignments.push_back(alignment);
      for (const auto& [dy, dx] : {std::pair{-6, 4}, {3, 9}, {0, 0}}) {
        CaptureSpec other = capture;
        other.dy = dy;
        other.dx = dx;
        other.noise_seed = static_cast<std::uint64_t>(20 + 3 * dy + dx);
        captures.push_back(scene.RenderCapture(other));
        Alignment a;
        a.dy = dy;
        a.dx = dx;
        alignments.push_back(a);
      }
      double best = 1e30;
      double total = 0;
      int pairs = 0;
      long faults = 0;
      std::thread worker([&] {
        const long faults0 = MinorFaults();
        for (int r = 0; r < repeats; ++r) {
          MaskWorkspace workspace;  // the scene's
          for (std::size_t k = 0; k < captures.size(); ++k) {
            const double cpu0 = ThreadCpuSeconds();
            auto mask =
                MakeLossMask(gt, captures[k], alignments[k], {}, &workspace);
            if (!mask.ok()) return;
            (void)EncodeGreyPng(mask->pixels.view(), "bench.png");
            workspace.Recycle(std::move(mask->pixels));
            const double seconds = ThreadCpuSeconds() - cpu0;
            best = std::min(best, seconds);
            total += seconds;
            ++pairs;
          }
        }
        faults = MinorFaults() - faults0;
      });
      worker.join();
      if (pairs == 0) return 1;
      std::printf(
          "%-34s %9.2f ms  %7.2f ms/MP CPU mean, %7.2f best; "
          "%.0f page faults a pair\n",
          "mask + PNG, scenes of 4 pairs", total / pairs * 1e3,
          total / pairs * 1e3 / megapixels, best * 1e3 / megapixels,
          static_cast<double>(faults) / pairs);
      continue;
    }
    if (png_only) {
      auto mask = MakeLossMask(gt, noisy, alignment);
      if (!mask.ok()) return 1;
      std::size_t size = 0;
      const Timing png_s = Seconds(
          [&] {
            auto bytes = EncodeGreyPng(mask->pixels.view(), "bench.png");
            size = bytes.ok() ? bytes->size() : 0;
          },
          repeats);
      Report("EncodeGreyPng", png_s, megapixels);
      auto bytes = EncodeGreyPng(mask->pixels.view(), "bench.png");
      auto decoded = bytes.ok() ? DecodeGreyPng(*bytes, "bench.png")
                                : Result<Plane<std::uint8_t>>(bytes.status());
      bool same = decoded.ok() && decoded->width() == mask->pixels.width() &&
                  decoded->height() == mask->pixels.height();
      for (int y = 0; same && y < mask->pixels.height(); ++y) {
        same = std::memcmp(decoded->row(y), mask->pixels.row(y),
                           static_cast<std::size_t>(mask->pixels.width())) == 0;
      }
      std::printf("  %zu bytes, decodes to the mask: %s\n", size,
                  same ? "yes" : "NO");
      if (!same) return 1;
      if (argc > 8) {
        const std::string out =
            std::string(argv[8]) + "." + std::to_string(png_files++) + ".png";
        std::FILE* file = std::fopen(out.c_str(), "wb");
        const bool written =
            file != nullptr &&
            std::fwrite(bytes->data(), 1, bytes->size(), file) == bytes->size();
        if (file != nullptr) std::fclose(file);
        std::printf("  written to %s: %s\n", out.c_str(),
                    written ? "yes" : "NO");
        if (!written) return 1;
      }
      continue;
    }
    if (pair_only) {
      MaskWorkspace workspace;
      const Timing pair_s = Seconds(
          [&] {
            auto mask = MakeLossMask(gt, noisy, alignment, {}, &workspace);
            if (!mask.ok()) return;
            (void)EncodeGreyPng(mask->pixels.view(), "bench.png");
            workspace.Recycle(std::move(mask->pixels));
          },
          repeats);
      Report("mask + PNG (default), reused", pair_s, megapixels);
      continue;
    }
    {
      const dsb::testing::TempDir dir;
      const std::string path = dir.Join("capture.dng");
      if (WriteCfaDng(path, noisy).ok()) {
        const Timing decode_s =
            Seconds([&] { (void)DecodeRaw(path); }, std::min(repeats, 3));
        Report("decode of the capture (LibRaw)", decode_s, megapixels);
      }
    }
    Result<LossMask> mask = Status::Internal("not run");
    const Timing mask_s =
        Seconds([&] { mask = MakeLossMask(gt, noisy, alignment); }, repeats);
    if (!mask.ok()) {
      std::fprintf(stderr, "%s\n", mask.status().ToString().c_str());
      return 1;
    }
    Report("MakeLossMask, new workspace", mask_s, megapixels);
    {
      // The pair model alone (mask/pair_model.h), built as MakeLossMask
      // builds it: a fixed cost per pair that weighs most on small frames.
      const Overlap overlap =
          ComputeOverlap(gt.height(), gt.width(), alignment.dy, alignment.dx);
      const CellRowBuilder builder(
          gt.pixels.view().crop(overlap.gt_y0, overlap.gt_x0, overlap.height,
                                overlap.width),
          noisy.pixels.view().crop(overlap.noisy_y0, overlap.noisy_x0,
                                   overlap.height, overlap.width),
          gt.cfa.Cropped(overlap.gt_y0, overlap.gt_x0),
          noisy.cfa.Cropped(overlap.noisy_y0, overlap.noisy_x0),
          gt.meta.overexposure_lb, noisy.meta.overexposure_lb, false);
      PairModel model;
      const Timing model_s = Seconds(
          [&] {
            model = FitPairModel(builder, alignment.raw_gain,
                                 gt.meta.overexposure_lb);
          },
          repeats + 1);
      std::printf("%-34s %9.2f ms wall, %7.2f ms CPU\n",
                  "  of which pair model", model_s.wall * 1e3,
                  model_s.cpu * 1e3);
      std::printf(
          "  model gain %a slope %a offset %a structure[0][0] %a %a %a\n",
          model.gain, model.slope, model.offset, model.structure[0][0][0],
          model.structure[0][0][1], model.structure[0][0][2]);
    }
    // As a scene's captures after the first: the buffers of the previous
    // mask are reused (mask/loss_mask.h MaskWorkspace).
    MaskWorkspace workspace;
    const Timing reused_s = Seconds(
        [&] {
          mask = MakeLossMask(gt, noisy, alignment, {}, &workspace);
          if (mask.ok()) workspace.Recycle(std::move(mask->pixels));
        },
        repeats + 1);
    Report("MakeLossMask, reused workspace", reused_s, megapixels);
    mask = MakeLossMask(gt, noisy, alignment);
    std::printf(
        "  mask mean %.4f, clipped px %lld, mismatch px %lld, "
        "window %d cells\n",
        mask->mean, static_cast<long long>(mask->clipped_pixels),
        static_cast<long long>(mask->mismatch_pixels), mask->window_radius);
    {
      std::size_t size = 0;
      const Timing encode_s = Seconds(
          [&] {
            auto bytes = EncodeGreyPng(mask->pixels.view(), "bench.png");
            size = bytes.ok() ? bytes->size() : 0;
          },
          repeats);
      Report("EncodeGreyPng", encode_s, megapixels);
      std::printf("  %zu bytes\n", size);
    }
    // What the build does per pair: the mask with the scene's workspace,
    // then its PNG at the default settings.
    const Timing pair_s = Seconds(
        [&] {
          mask = MakeLossMask(gt, noisy, alignment, {}, &workspace);
          if (!mask.ok()) return;
          (void)EncodeGreyPng(mask->pixels.view(), "bench.png");
          workspace.Recycle(std::move(mask->pixels));
        },
        repeats + 1);
    Report("mask + PNG (default), reused", pair_s, megapixels);
    mask = MakeLossMask(gt, noisy, alignment);
    auto bytes = EncodeGreyPng(mask->pixels.view(), "bench.png");
    Result<Plane<std::uint8_t>> decoded = Status::Internal("not run");
    const Timing decode_s =
        Seconds([&] { decoded = DecodeGreyPng(*bytes, "bench.png"); }, repeats);
    Report("DecodeGreyPng", decode_s, megapixels);
    // The PNG must decode to the mask, byte for byte.
    bool same = decoded.ok() && decoded->width() == mask->pixels.width() &&
                decoded->height() == mask->pixels.height();
    for (int y = 0; same && y < mask->pixels.height(); ++y) {
      same = std::memcmp(decoded->row(y), mask->pixels.row(y),
                         static_cast<std::size_t>(mask->pixels.width())) == 0;
    }
    std::printf("  PNG decodes to the mask: %s\n", same ? "yes" : "NO");
    if (!same) return 1;
  }
  return 0;
}
