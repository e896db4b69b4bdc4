// What isolating the decoder costs: the same generated DNG decoded in this
// process (DecodeRaw) and through IsolatedDecoder, alternately so a busy
// machine moves both, one file at a time. Reports the median and best wall
// time per file and the overhead.
//
//   decode_bench [--worker PATH] [MP [REPS]]     (default: 24 MP, 9 reps)
//
// The worker is this benchmark itself (it answers __decode-worker) unless
// --worker names another binary, e.g. build/dataset-build, whose start-up
// (its shared libraries) is then part of the figure.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "raw/decode_worker.h"
#include "raw/decoder.h"
#include "raw/isolated_decoder.h"
#include "synth/dng_writer.h"
#include "synth/render.h"
#include "test_support.h"

namespace {

using Clock = std::chrono::steady_clock;

double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  if (auto worker = dsb::RunDecodeWorkerIfAsked(argc, argv)) return *worker;
  std::vector<std::string> worker = dsb::DefaultDecodeWorker();
  std::vector<std::string> rest;
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--worker" && i + 1 < argc) {
      worker = {argv[++i], std::string(dsb::kDecodeWorkerCommand)};
    } else {
      rest.push_back(argv[i]);
    }
  }
  const int megapixels = rest.size() > 0 ? std::atoi(rest[0].c_str()) : 24;
  const int reps = rest.size() > 1 ? std::atoi(rest[1].c_str()) : 9;

  dsb::SceneSpec spec;
  spec.width = static_cast<int>(std::sqrt(megapixels * 1.5e6)) / 6 * 6;
  spec.height = megapixels * 1000000 / spec.width / 6 * 6;
  dsb::SyntheticScene scene(spec);
  dsb::testing::TempDir dir;
  const std::string path = dir.Join("capture.dng");
  if (!dsb::WriteCfaDng(path, scene.RenderGt()).ok()) {
    std::fprintf(stderr, "cannot write %s\n", path.c_str());
    return 1;
  }
  dsb::DecodeOptions options;
  options.max_pixels = 400'000'000;
  dsb::IsolatedDecoderOptions isolated_options;
  isolated_options.worker = worker;
  const dsb::IsolatedDecoder isolated(isolated_options);

  auto time_one = [&](bool in_process) {
    const auto start = Clock::now();
    auto image = in_process ? dsb::DecodeRaw(path, options)
                            : isolated.Decode(path, options);
    const double ms =
        std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    if (!image.ok()) {
      std::fprintf(stderr, "decode failed: %s\n",
                   image.status().ToString().c_str());
      std::exit(1);
    }
    return ms;
  };
  time_one(true);  // warm the page cache and the worker binary
  time_one(false);
  std::vector<double> in_process_ms, isolated_ms;
  for (int rep = 0; rep < reps; ++rep) {
    in_process_ms.push_back(time_one(true));
    isolated_ms.push_back(time_one(false));
  }
  const double a = Median(in_process_ms), b = Median(isolated_ms);
  const double a_best =
      *std::min_element(in_process_ms.begin(), in_process_ms.end());
  const double b_best =
      *std::min_element(isolated_ms.begin(), isolated_ms.end());
  std::printf("%d MP (%dx%d), %d reps, worker %s\n", megapixels, spec.width,
              spec.height, reps, worker.front().c_str());
  std::printf("  in-process: median %7.1f ms, best %7.1f ms\n", a, a_best);
  std::printf("  isolated:   median %7.1f ms, best %7.1f ms\n", b, b_best);
  std::printf(
      "  overhead:   median %+7.1f ms (%+.1f %%), best %+7.1f ms "
      "(%+.1f %%)\n",
      b - a, 100 * (b - a) / a, b_best - a_best,
      100 * (b_best - a_best) / a_best);
  return 0;
}
