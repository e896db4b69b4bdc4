// The build against its floors: a full build of one generated scene
// against a decode-only pass (InProcessDecoder) and against LibRaw's own
// open_file + unpack of the same files (the true floor, issue 17), with the
// same threads, measured in the same run, each in a child process so its
// peak RSS and CPU time (decode workers included) are its own.
//
//   build_bench [NOISYxMP | NOISYxFILE ...]
//
// NOISYxMP: a generated scene of 1 GT and NOISY captures of MP megapixels
// (default: 8x24; try 15x60 with disk space). NOISYxFILE (a path): a scene
// of 1 + NOISY copies of that raw file (issue 17's compressed real raws:
// 15x../shared/data/raw/bep-imagemeta__sample.nef).
//
// NOISYxDIR (a directory): an existing dataset (e.g. made once with `synth`),
// every file of it; NOISY is ignored. Its manifest and masks go to a temp
// directory, so each run is a first build and DIR is left as it was.
//
// DSB_BUILD_BINARIES="OLD NEW ...": each spec's build is run by each of these
// dataset-build binaries in turn (the whole process: its start included),
// instead of this binary's own build; one row per binary, all against the
// same floors (old against new, interleaved, in one run).
//
// Memory: build_MB is the build process's own peak RSS (getrusage, as the
// build reports it); all_MB is the peak of the build and its decode workers
// together (the sum of their PSS, sampled every 20 ms): the workers' memory
// is real but is not in the build's own figure. all_MB comes from a second
// build of its own, never from the timed one: walking the tree's page
// tables every 20 ms takes the build's mmap lock and a share of a core, and
// made the timed 16 x 60 MP build ~0.8 s (about 18 %) slower than the same
// build unobserved, which no user sees.
#include <libraw/libraw.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <tbb/global_control.h>
#include <tbb/parallel_for.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "executor/build_observer.h"
#include "executor/executor.h"
#include "process_memory.h"
#include "raw/decode_worker.h"
#include "raw/decoder.h"
#include "raw/raw_decoder.h"
#include "synth/generate.h"
#include "test_support.h"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

struct Measured {
  double seconds = 0;
  double cpu_seconds = 0;
  double peak_rss_mb = 0;
  double peak_all_mb = 0;  // with descendants, by PSS
  int status = -1;
};

enum class Observe { kTimeOnly, kTreeMemory };

template <typename Fn>
Measured InChild(Fn fn, Observe observe = Observe::kTimeOnly) {
  std::fflush(stdout);
  const auto start = Clock::now();
  const pid_t pid = fork();
  if (pid == 0) _exit(fn());
  int status = 0;
  rusage usage{};
  long peak_all_kb = 0;
  if (observe == Observe::kTimeOnly) {
    while (wait4(pid, &status, 0, &usage) < 0 && errno == EINTR) {
    }
  } else {
    while (wait4(pid, &status, WNOHANG, &usage) == 0) {
      peak_all_kb =
          std::max(peak_all_kb, dsb::testing::TreePssBytes(pid) / 1024);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  Measured m;
  m.peak_all_mb = peak_all_kb / 1024.0;
  m.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  m.peak_rss_mb = usage.ru_maxrss / 1024.0;
  m.cpu_seconds = usage.ru_utime.tv_sec + usage.ru_stime.tv_sec +
                  (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
  m.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return m;
}

}  // namespace

int main(int argc, char** argv) {
  // The build decodes in worker processes: this binary is its own worker.
  if (auto worker = dsb::RunDecodeWorkerIfAsked(argc, argv)) return *worker;
  std::vector<std::string> specs(argv + 1, argv + argc);
  if (specs.empty()) specs = {"8x24"};
  const int jobs = static_cast<int>(std::thread::hardware_concurrency());
  std::printf("build_bench on %d cores (jobs = %d)\n", jobs, jobs);
  std::printf("%8s %9s %9s %9s %8s %8s %9s %9s %10s %10s %10s\n", "scene",
              "unpack_s", "decode_s", "build_s", "b/unpack", "b/decode",
              "cpu b/u", "cpu d/u", "decode_MB", "build_MB", "all_MB");
  for (const std::string& spec : specs) {
    const int noisy = std::atoi(spec.c_str());
    const std::string what = spec.substr(spec.find('x') + 1);
    dsb::testing::TempDir dir;
    dsb::SynthOptions synth;
    synth.out_dir = dir.Join("data");
    std::string label = spec;
    std::vector<std::string> skip_dirs;  // not raws: a manifest, masks
    if (fs::is_directory(what)) {
      synth.out_dir = what;
      label = fs::path(what).filename().string();
    } else if (fs::is_regular_file(what)) {
      // A scene of copies of a real raw: the GT and NOISY captures.
      const std::string ext = fs::path(what).extension();
      const fs::path scene = fs::path(synth.out_dir) / "Bayer" / "copies";
      fs::create_directories(scene / "gt");
      fs::copy_file(what, scene / "gt" / ("GT_ISO100" + ext));
      for (int i = 0; i < noisy; ++i) {
        fs::copy_file(what, scene / ("ISO" + std::to_string(200 + i) + ext));
      }
      label = std::to_string(noisy) + "x" + fs::path(what).extension().string();
    } else {
      const int megapixels = std::atoi(what.c_str());
      synth.scenes = 1;
      synth.noisy = noisy;
      synth.width = static_cast<int>(std::sqrt(megapixels * 1.5e6)) / 6 * 6;
      synth.height = megapixels * 1000000 / synth.width / 6 * 6;
      synth.cfa = "rggb";
      if (!dsb::GenerateDataset(synth).ok()) return 1;
    }
    std::vector<std::string> files;
    for (const auto& entry : fs::recursive_directory_iterator(synth.out_dir)) {
      const std::string ext = entry.path().extension().string();
      const std::string name = entry.path().string();
      if (entry.is_regular_file() && ext != ".json" && ext != ".png" &&
          name.find("dataset-build.db") == std::string::npos) {
        files.push_back(entry.path());
      }
    }
    const Measured unpack = InChild([&] {
      tbb::global_control threads(tbb::global_control::max_allowed_parallelism,
                                  static_cast<std::size_t>(jobs));
      std::atomic<int> failures{0};
      tbb::parallel_for(std::size_t{0}, files.size(), [&](std::size_t i) {
        auto raw = std::make_unique<LibRaw>(LIBRAW_OPTIONS_NONE);
        if (raw->open_file(files[i].c_str()) != LIBRAW_SUCCESS ||
            raw->unpack() != LIBRAW_SUCCESS) {
          ++failures;
        }
      });
      return failures.load() == 0 ? 0 : 1;
    });
    const Measured decode = InChild([&] {
      tbb::global_control threads(tbb::global_control::max_allowed_parallelism,
                                  static_cast<std::size_t>(jobs));
      std::atomic<int> failures{0};
      // As a build decoding in process does (--decode-in-process): its
      // planes reuse the pages of released ones (raw/raw_decoder.h).
      const dsb::InProcessDecoder decoder;
      tbb::parallel_for(std::size_t{0}, files.size(), [&](std::size_t i) {
        if (!decoder.Decode(files[i], {}).ok()) ++failures;
      });
      return failures.load() == 0 ? 0 : 1;
    });
    std::vector<std::string> binaries;  // "": this binary's own build
    if (const char* listed = std::getenv("DSB_BUILD_BINARIES")) {
      std::istringstream words(listed);
      for (std::string word; words >> word;) binaries.push_back(word);
    }
    if (binaries.empty()) binaries.push_back("");
    for (const std::string& binary : binaries) {
      // A first build into `out` (its manifest and masks).
      auto build_into = [&](const dsb::testing::TempDir& out) {
        dsb::BuildOptions options;
        options.root = synth.out_dir;
        options.db_path = out.Join("dataset-build.db");
        options.masks_dir = out.Join("masks");
        options.jobs = jobs;
        options.quiet = true;
        options.device = dsb::Device::kCpu;
        if (!binary.empty()) {
          std::freopen("/dev/null", "w", stdout);  // its summary line
          const std::string jobs_text = std::to_string(jobs);
          execl(binary.c_str(), binary.c_str(), options.root.c_str(), "--db",
                options.db_path.c_str(), "--masks", options.masks_dir.c_str(),
                "--jobs", jobs_text.c_str(), "--device", "cpu", "-q",
                static_cast<char*>(nullptr));
          return 127;
        }
        options.ResolveDefaults();
        dsb::BuildObserver progress;  // silent
        auto report = dsb::RunBuild(options, dsb::RealFileSystem(), progress);
        return report.ok() ? report->ExitCode() : 2;
      };
      const dsb::testing::TempDir timed_out;
      Measured build = InChild([&] { return build_into(timed_out); });
      const dsb::testing::TempDir observed_out;
      const Measured observed = InChild(
          [&] { return build_into(observed_out); }, Observe::kTreeMemory);
      build.peak_all_mb = observed.peak_all_mb;
      if (build.status == 0) build.status = observed.status;
      std::string row = label;
      if (!binary.empty()) row += " " + fs::path(binary).filename().string();
      std::printf(
          "%8s %9.2f %9.2f %9.2f %8.2f %8.2f %9.2f %9.2f %10.0f %10.0f "
          "%10.0f%s\n",
          row.c_str(), unpack.seconds, decode.seconds, build.seconds,
          build.seconds / unpack.seconds, build.seconds / decode.seconds,
          build.cpu_seconds / unpack.cpu_seconds,
          decode.cpu_seconds / unpack.cpu_seconds, decode.peak_rss_mb,
          build.peak_rss_mb, build.peak_all_mb,
          unpack.status || decode.status || build.status ? "  (a run failed)"
                                                         : "");
    }
  }
  return 0;
}
