// Alignment cost against its floor: for generated 12, 24 and 60 MP pairs,
// the LibRaw decode time of the same DNG files (measured in the same run, so
// a busy machine moves both), the GT preparation, and the time and CPU of
// aligning one pair (best of 3), with 1 thread and with all threads.
//
//   align_bench [megapixels...]     (default: 12 24 60)
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include "align/correlator.h"
#include "raw/decoder.h"
#include "synth/dng_writer.h"
#include "synth/render.h"
#include "test_support.h"

namespace {

using Clock = std::chrono::steady_clock;

double CpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_utime.tv_sec + usage.ru_utime.tv_usec * 1e-6 +
         usage.ru_stime.tv_sec + usage.ru_stime.tv_usec * 1e-6;
}

double Since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> sizes;
  for (int i = 1; i < argc; ++i) sizes.push_back(std::atoi(argv[i]));
  if (sizes.empty()) sizes = {12, 24, 60};
  const int cores = static_cast<int>(std::thread::hardware_concurrency());
  std::printf(
      "align_bench on %d cores; ratio = align / decode (lower is better)\n",
      cores);
  std::printf("%5s %8s %10s %10s %10s %10s %10s %8s\n", "MP", "threads",
              "decode_s", "gt_prep_s", "align_s", "align_cpu", "shift",
              "ratio");
  dsb::testing::TempDir dir;
  for (int megapixels : sizes) {
    const int width = static_cast<int>(std::sqrt(megapixels * 1.5e6)) / 6 * 6;
    const int height = megapixels * 1000000 / width / 6 * 6;
    dsb::SceneSpec spec;
    spec.width = width;
    spec.height = height;
    spec.seed = static_cast<std::uint64_t>(megapixels);
    spec.clipped_fraction = 0.03;
    dsb::SyntheticScene scene(spec);
    dsb::CaptureSpec capture;
    capture.dy = -37;
    capture.dx = 91;
    capture.gain = 1.4;
    capture.noise_level = dsb::kNoiseLevelCount - 1;
    const std::string gt_path = dir.Join("gt.dng");
    const std::string noisy_path = dir.Join("noisy.dng");
    if (!dsb::WriteCfaDng(gt_path, scene.RenderGt()).ok() ||
        !dsb::WriteCfaDng(noisy_path, scene.RenderCapture(capture)).ok()) {
      std::fprintf(stderr, "cannot write DNGs in %s\n", dir.path().c_str());
      return 1;
    }
    auto decode_start = Clock::now();
    auto gt = dsb::DecodeRaw(gt_path);
    auto noisy = dsb::DecodeRaw(noisy_path);
    const double decode_s = Since(decode_start) / 2;
    if (!gt.ok() || !noisy.ok()) {
      std::fprintf(stderr, "decode failed\n");
      return 1;
    }
    for (int threads : {1, cores}) {
      dsb::AlignParams params;
      params.threads = threads;
      auto correlator = dsb::MakeCorrelator(dsb::Device::kCpu, params);
      auto prep_start = Clock::now();
      if (!(*correlator)->SetReference(*gt).ok()) return 1;
      const double prep_s = Since(prep_start);
      const dsb::RawImage* batch[] = {&*noisy};
      // The best of kRepeats: the machine is shared, so the minimum is the
      // figure that other processes disturbed least.
      constexpr int kRepeats = 3;
      double align_s = 1e30, align_cpu = 1e30;
      std::vector<dsb::Result<dsb::Alignment>> result;
      for (int repeat = 0; repeat < kRepeats; ++repeat) {
        const double cpu_start = CpuSeconds();
        auto align_start = Clock::now();
        result = (*correlator)->Align(batch);
        align_s = std::min(align_s, Since(align_start));
        align_cpu = std::min(align_cpu, CpuSeconds() - cpu_start);
      }
      if (!result[0].ok()) return 1;
      char shift[32];
      std::snprintf(
          shift, sizeof(shift), "%d,%d%s", result[0]->dy, result[0]->dx,
          result[0]->dy == capture.dy && result[0]->dx == capture.dx ? ""
                                                                     : "!");
      std::printf("%5d %8d %10.3f %10.3f %10.3f %10.3f %10s %8.2f\n",
                  megapixels, threads, decode_s, prep_s, align_s, align_cpu,
                  shift, align_s / decode_s);
    }
  }
  return 0;
}
