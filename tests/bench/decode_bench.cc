// The decode path against its floor: LibRaw's own open_file + unpack of the
// same file, in this process, in the same run. For each file, alternately
// (so a busy machine moves every figure alike):
//   floor       LibRaw open_file + unpack, a fresh LibRaw object each time
//   in-process  InProcessDecoder (the floor + checks + normalisation to
//               floats, the planes from its pool, as a build decoding in
//               process gets them)
//   isolated    IsolatedDecoder (the decode path a build uses by default:
//               a worker process, the record handed back)
//   spawn       IsolatedDecoder on a missing file: a request and its error
//               record, no pixels (the fixed cost; with --per-file, starting
//               a worker)
// and prints best-of-N and median per mode with its ratio to the floor.
// Absolute times on a shared machine mean little; the ratios are the
// figures (issue 17's target: isolated <= 1.3x floor).
//
//   decode_bench [--worker PATH] [--per-file] [--reps N] [--mp N[,N...]]
//                [--only floor|in-process|isolated] [FILE...]
//
// --only runs that one mode N times and prints nothing else, the workload
// to profile (perf record -g -- decode_bench --only isolated ...).
//
// The isolated path uses the build's pool of long-lived workers, or with
// --per-file one worker process per file.
//
// Defaults: 9 reps, a generated 24 MP uncompressed DNG, and the real CRW
// and NEF of $DSB_REAL_RAW_DIR (else ../shared/data/raw) when it exists. The
// worker is this benchmark itself (it answers __decode-worker) unless --worker
// names another binary, e.g. build/dataset-build, whose start-up (its shared
// libraries) is then part of the figure.
#include <libraw/libraw.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "raw/decode_worker.h"
#include "raw/decoder.h"
#include "raw/isolated_decoder.h"
#include "synth/dng_writer.h"
#include "synth/render.h"
#include "test_support.h"
#include "tool_process.h"

namespace {

using Clock = std::chrono::steady_clock;

double Best(const std::vector<double>& values) {
  return *std::min_element(values.begin(), values.end());
}

// CPU time of this process's live children (pooled workers), in ms: the
// children are found in /proc (field 4 of /proc/PID/stat is the parent),
// their time read from their CPU clocks (nanoseconds, where /proc's ticks
// are 10 ms).
double LiveChildrenCpuMs() {
  double ms = 0;
  for (const pid_t child : dsb::testing::ChildProcesses()) {
    clockid_t clock{};
    timespec t{};
    if (::clock_getcpuclockid(child, &clock) == 0 &&
        ::clock_gettime(clock, &t) == 0) {
      ms += t.tv_sec * 1e3 + t.tv_nsec / 1e6;
    }
  }
  return ms;
}

// CPU time of this process and its children (the workers, reaped or still
// serving), in ms: on a loaded machine far steadier than wall time, and it
// counts the worker's work where wall time would hide it behind waiting.
double CpuMs() {
  double ms = LiveChildrenCpuMs();
  for (int who : {RUSAGE_SELF, RUSAGE_CHILDREN}) {
    rusage usage{};
    ::getrusage(who, &usage);
    ms += (usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1e3 +
          (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e3;
  }
  return ms;
}

// Measures one run: wall ms, and CPU ms in `cpu`.
struct Timer {
  Clock::time_point wall = Clock::now();
  double cpu = CpuMs();
  double Wall() const {
    return std::chrono::duration<double, std::milli>(Clock::now() - wall)
        .count();
  }
  double Cpu() const { return CpuMs() - cpu; }
};

// LibRaw's own work on the file: the floor no decode path can beat.
struct Ms {
  double wall = 0, cpu = 0;
};

Ms FloorMs(const std::string& path) {
  const Timer timer;
  auto raw = std::make_unique<LibRaw>(LIBRAW_OPTIONS_NONE);
  if (raw->open_file(path.c_str()) != LIBRAW_SUCCESS ||
      raw->unpack() != LIBRAW_SUCCESS) {
    std::fprintf(stderr, "LibRaw cannot unpack %s\n", path.c_str());
    std::exit(1);
  }
  raw.reset();
  return {timer.Wall(), timer.Cpu()};
}

}  // namespace

int main(int argc, char** argv) {
  if (auto worker = dsb::RunDecodeWorkerIfAsked(argc, argv)) return *worker;
  std::vector<std::string> worker = dsb::DefaultDecodeWorker();
  std::vector<int> megapixels;
  std::vector<std::string> files;
  int reps = 9;
  bool per_file = false;
  std::string only;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--worker" && i + 1 < argc) {
      worker = {argv[++i], std::string(dsb::kDecodeWorkerCommand)};
    } else if (arg == "--only" && i + 1 < argc) {
      only = argv[++i];
    } else if (arg == "--per-file") {
      per_file = true;
    } else if (arg == "--reps" && i + 1 < argc) {
      reps = std::max(1, std::atoi(argv[++i]));
    } else if (arg == "--mp" && i + 1 < argc) {
      std::stringstream list(argv[++i]);
      std::string item;
      while (std::getline(list, item, ',')) {
        if (std::atoi(item.c_str()) > 0)
          megapixels.push_back(std::atoi(item.c_str()));
      }
    } else {
      files.push_back(arg);
    }
  }
  if (megapixels.empty() && files.empty()) {
    megapixels = {24};
    std::string real = dsb::testing::RealRawDir();  // $DSB_REAL_RAW_DIR
    if (real.empty() && std::filesystem::is_directory("../shared/data/raw")) {
      real = "../shared/data/raw";
    }
    if (!real.empty()) {
      files = {real + "/evanoberholster-imagemeta__CRW.CRW",
               real + "/bep-imagemeta__sample.nef"};
    }
  }

  dsb::testing::TempDir dir;
  struct Subject {
    std::string label;
    std::string path;
  };
  std::vector<Subject> subjects;
  for (int mp : megapixels) {
    dsb::SceneSpec spec;
    spec.width = static_cast<int>(std::sqrt(mp * 1.5e6)) / 6 * 6;
    spec.height = mp * 1000000 / spec.width / 6 * 6;
    dsb::SyntheticScene scene(spec);
    const std::string path = dir.Join(std::to_string(mp) + "mp.dng");
    if (!dsb::WriteCfaDng(path, scene.RenderGt()).ok()) {
      std::fprintf(stderr, "cannot write %s\n", path.c_str());
      return 1;
    }
    subjects.push_back({std::to_string(mp) + " MP DNG (" +
                            std::to_string(spec.width) + "x" +
                            std::to_string(spec.height) + ", uncompressed)",
                        path});
  }
  for (const std::string& file : files) {
    subjects.push_back({file.substr(file.rfind('/') + 1), file});
  }

  dsb::DecodeOptions options;
  options.max_pixels = 400'000'000;
  dsb::IsolatedDecoderOptions isolated_options;
  isolated_options.worker = worker;
  isolated_options.mode = per_file ? dsb::IsolatedDecoderOptions::Mode::kPerFile
                                   : dsb::IsolatedDecoderOptions::Mode::kPool;
  const dsb::IsolatedDecoder isolated(isolated_options);
  const dsb::InProcessDecoder in_process_decoder;
  const std::string missing = dir.Join("missing.dng");

  auto decode = [&](const std::string& path, bool in_process) {
    const Timer timer;
    auto image = in_process ? in_process_decoder.Decode(path, options)
                            : isolated.Decode(path, options);
    if (!image.ok() && path != missing) {
      std::fprintf(stderr, "decode failed: %s\n",
                   image.status().ToString().c_str());
      std::exit(1);
    }
    image = dsb::Status::Cancelled("freed");  // freeing is part of the cost
    return Ms{timer.Wall(), timer.Cpu()};
  };

  if (!only.empty()) {
    for (const Subject& subject : subjects) {
      for (int rep = 0; rep < reps; ++rep) {
        if (only == "floor") {
          FloorMs(subject.path);
        } else {
          decode(subject.path, only == "in-process");
        }
      }
    }
    return 0;
  }
  std::printf(
      "decode path vs LibRaw open_file+unpack (the floor), %d reps "
      "interleaved, best of N; worker %s, %s\n"
      "cpu = CPU time of this process and its workers (steadier on a loaded "
      "machine); wall = elapsed\n",
      reps, worker.front().c_str(),
      per_file ? "one process per file" : "pooled (long-lived)");
  std::printf("%-40s %-10s %9s %9s %9s %9s\n", "file", "mode", "cpu ms",
              "x floor", "wall ms", "x floor");
  for (const Subject& subject : subjects) {
    // Warm the page cache, the worker binary and the allocator.
    FloorMs(subject.path);
    decode(subject.path, true);
    decode(subject.path, false);
    std::vector<Ms> floor, in_process, isolated_ms, spawn;
    for (int rep = 0; rep < reps; ++rep) {
      floor.push_back(FloorMs(subject.path));
      in_process.push_back(decode(subject.path, true));
      isolated_ms.push_back(decode(subject.path, false));
      spawn.push_back(decode(missing, false));
    }
    auto best = [](const std::vector<Ms>& ms, double Ms::*field) {
      std::vector<double> values;
      for (const Ms& m : ms) values.push_back(m.*field);
      return Best(values);
    };
    const double f_cpu = best(floor, &Ms::cpu), f_wall = best(floor, &Ms::wall);
    auto row = [&](const char* mode, const std::vector<Ms>& ms) {
      const double cpu = best(ms, &Ms::cpu), wall = best(ms, &Ms::wall);
      std::printf("%-40s %-10s %9.1f %9.2f %9.1f %9.2f\n",
                  subject.label.substr(0, 40).c_str(), mode, cpu, cpu / f_cpu,
                  wall, wall / f_wall);
    };
    row("floor", floor);
    row("in-process", in_process);
    row("isolated", isolated_ms);
    row("spawn", spawn);
  }
  return 0;
}
