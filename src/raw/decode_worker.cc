#include "raw/decode_worker.h"

#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <new>
#include <string>

#include "raw/decode_record.h"
#include "raw/decoder.h"

namespace dsb {

namespace {

struct WorkerArgs {
  int fd = -1;
  pid_t parent = 0;
  DecodeOptions options;
  std::string path;
};

bool ParseNumber(const char* text, unsigned long long& value) {
  if (text == nullptr || *text == '\0') return false;
  char* end = nullptr;
  errno = 0;
  value = std::strtoull(text, &end, 10);
  return errno == 0 && *end == '\0' && text[0] != '-';
}

// Returns false (after saying why on stderr) when the arguments are wrong.
bool ParseArgs(int argc, char** argv, WorkerArgs& args) {
  int i = 1;
  for (; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--") {
      ++i;
      break;
    }
    const char* value = i + 1 < argc ? argv[i + 1] : nullptr;
    unsigned long long number = 0;
    if (flag == "--max-pixels-hint" && value != nullptr) {
      args.options.max_pixels_hint = value;
    } else if (!ParseNumber(value, number)) {
      std::fprintf(stderr, "decode worker: bad or missing value for '%s'\n",
                   flag.c_str());
      return false;
    } else if (flag == "--fd") {
      args.fd = static_cast<int>(number);
    } else if (flag == "--parent") {
      args.parent = static_cast<pid_t>(number);
    } else if (flag == "--max-pixels") {
      args.options.max_pixels = static_cast<std::size_t>(number);
    } else {
      std::fprintf(stderr, "decode worker: unknown argument '%s'\n",
                   flag.c_str());
      return false;
    }
    ++i;
  }
  if (i != argc - 1 || args.fd < 0) {
    std::fprintf(stderr,
                 "usage: dataset-build %s --fd N --parent PID "
                 "[--max-pixels N [--max-pixels-hint TEXT]] -- PATH\n",
                 std::string(kDecodeWorkerCommand).c_str());
    return false;
  }
  args.path = argv[i];
  return true;
}

// This process's address space now (VmSize), 0 when unknown.
std::size_t AddressSpaceBytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmSize:", 0) == 0) {
      return static_cast<std::size_t>(
                 std::strtoull(line.c_str() + 7, nullptr, 10)) *
             1024;
    }
  }
  return 0;
}

std::atomic<bool> g_has_entry{false};

}  // namespace

std::optional<int> RunDecodeWorkerIfAsked(int argc, char** argv) {
  if (argc > 1 && argv[1] == kDecodeWorkerCommand) {
    return RunDecodeWorker(argc - 1, argv + 1);
  }
  g_has_entry.store(true);
  return std::nullopt;
}

bool HasDecodeWorkerEntry() { return g_has_entry.load(); }

std::size_t WorkerAddressSpaceLimit(std::size_t base_bytes,
                                    std::size_t max_pixels) {
  if (max_pixels == 0) return 0;
  const std::size_t most = static_cast<std::size_t>(-1);
  if (max_pixels >
      (most - base_bytes - kWorkerHeadroomBytes) / kWorkerBytesPerPixel) {
    return 0;  // too large to express: no cap
  }
  return base_bytes + kWorkerHeadroomBytes + kWorkerBytesPerPixel * max_pixels;
}

int RunDecodeWorker(int argc, char** argv) {
  WorkerArgs args;
  if (!ParseArgs(argc, argv, args)) return 2;
  // Die with the build. The parent may have died before this call took
  // effect, in which case we were reparented: check.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (args.parent != 0 && ::getppid() != args.parent) return 4;

  const std::size_t cap =
      WorkerAddressSpaceLimit(AddressSpaceBytes(), args.options.max_pixels);
  if (cap != 0) {
    rlimit limit{};
    if (::getrlimit(RLIMIT_AS, &limit) == 0 &&
        (limit.rlim_max == RLIM_INFINITY || limit.rlim_max > cap)) {
      limit.rlim_cur = cap;
      ::setrlimit(RLIMIT_AS, &limit);  // a failure only loses the cap
    }
  }

  // The image goes straight from LibRaw's buffer into the record: one
  // pass, no plane of our own (raw/decode_record.h: WriteImageRecord).
  Status written;
  try {
    Result<UnpackedRaw> unpacked = UnpackRaw(args.path, args.options);
    if (unpacked.ok()) {
      written = WriteImageRecord(
          args.fd, unpacked->width(), unpacked->height(), unpacked->cfa(),
          unpacked->meta(),
          [&](PlaneView<float> out) { unpacked->Normalise(out); });
    } else {
      written = WriteDecodeRecord(args.fd, unpacked.status());
    }
  } catch (const std::bad_alloc&) {
    // LibRaw reports its own allocation failures; this is ours, past the
    // cap above.
    written = WriteDecodeRecord(
        args.fd,
        Status::ResourceExhausted(
            "cannot decode '" + args.path + "': out of memory in the decoder" +
            (cap != 0 ? " (capped at " + std::to_string(cap >> 20) +
                            " MiB for its pixel limit)"
                      : std::string()) +
            "; the file's sizes are implausible or the machine is short of "
            "memory"));
  }
  if (!written.ok()) {
    std::fprintf(stderr, "decode worker: %s\n", written.message().c_str());
    return 3;
  }
  return 0;
}

}  // namespace dsb
