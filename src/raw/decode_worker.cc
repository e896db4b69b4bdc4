#include "raw/decode_worker.h"

#include <malloc.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <new>
#include <optional>
#include <string>
#include <vector>

#include "raw/decode_record.h"
#include "raw/decoder.h"

namespace dsb {

namespace {

struct WorkerArgs {
  int fd = -1;
  int control = -1;  // serving: requests come here (see the header)
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
    } else if (flag == "--control") {
      args.control = static_cast<int>(number);
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
  if (args.control >= 0 && i == argc && args.fd >= 0) return true;
  if (i != argc - 1 || args.fd < 0) {
    std::fprintf(stderr,
                 "usage: dataset-build %s --fd N --parent PID "
                 "[--max-pixels N [--max-pixels-hint TEXT]] "
                 "(-- PATH | --control FD)\n",
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

namespace {

// Decodes `path` and writes its record into `fd`: the image's raw values
// straight from LibRaw's buffer into the record, one pass, no plane of our
// own
// (raw/decode_record.h: WriteImageRecord). With `mapping` (serving),
// through the kept mapping; the record's size goes to `*record_size`.
// With `kept` (serving), an image's raw values stay in LibRaw's buffer,
// which moves to `*kept` (raw/decode_record.h: WriteRemoteImageRecord).
Status DecodeInto(int fd, const std::string& path, const DecodeOptions& options,
                  std::size_t cap, RecordMapping* mapping = nullptr,
                  std::uint64_t* record_size = nullptr,
                  std::optional<UnpackedRaw>* kept = nullptr) {
  try {
    Result<UnpackedRaw> unpacked = UnpackRaw(path, options);
    if (!unpacked.ok()) {
      return WriteErrorRecord(fd, unpacked.status(), mapping, record_size);
    }
    if (kept != nullptr &&
        unpacked->levels().black.size() <= kMaxRecordBlackLevels) {
      DSB_RETURN_IF_ERROR(WriteRemoteImageRecord(
          fd, unpacked->width(), unpacked->height(), unpacked->cfa(),
          unpacked->meta(), unpacked->levels(), unpacked->RawRows(),
          unpacked->raw_pitch(), mapping, record_size));
      kept->emplace(std::move(unpacked).value());
      return Status::Ok();
    }
    // Raw values and their levels: half the bytes of floats, normalised by
    // the reader (raw/decode_record.h); a black table too long for a
    // record (no camera we know) goes as floats.
    if (unpacked->levels().black.size() <= kMaxRecordBlackLevels) {
      return WriteRawImageRecord(
          fd, unpacked->width(), unpacked->height(), unpacked->cfa(),
          unpacked->meta(), unpacked->levels(),
          [&](std::uint16_t* out) { unpacked->CopyRaw(out); }, mapping,
          record_size);
    }
    return WriteImageRecord(
        fd, unpacked->width(), unpacked->height(), unpacked->cfa(),
        unpacked->meta(),
        [&](PlaneView<float> out) { unpacked->Normalise(out); }, mapping,
        record_size);
  } catch (const std::bad_alloc&) {
    // LibRaw reports its own allocation failures; this is ours, past the
    // cap.
    return WriteErrorRecord(
        fd,
        Status::ResourceExhausted(
            "cannot decode '" + path + "': out of memory in the decoder" +
            (cap != 0 ? " (capped at " + std::to_string(cap >> 20) +
                            " MiB for its pixel limit)"
                      : std::string()) +
            "; the file's sizes are implausible or the machine is short "
            "of memory"),
        mapping, record_size);
  }
}

// Reads exactly `size` bytes; false at end of file or on an error.
bool ReadExactly(int fd, void* data, std::size_t size) {
  auto* bytes = static_cast<char*>(data);
  while (size > 0) {
    const ssize_t n = ::read(fd, bytes, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

// A serving worker's heap can keep the pages of its last file's LibRaw
// buffer for the next file, when the parent says so (kPixelsTakenKeep).
//
// Why: LibRaw allocates a fresh buffer for every file (2 bytes a pixel),
// and glibc maps a buffer that large afresh each time, so the kernel
// faulted in and zeroed every page of it again: 6-9 % of a 24 MP scene's
// build CPU (perf: clear_page_erms under LibRaw's adobe_copy_pixel). The
// allocations go through LibRaw's own allocator, so the worker's malloc is
// told instead: no mapping of its own for large blocks (they come from the
// heap, whose freed pages stay resident) and no trimming on free. After a
// file the parent let it keep, the heap keeps its free memory only while
// that is at most one buffer of the size just released (plus slack); after
// any other request, or when more is free (the sizes changed), all of it
// goes back to the system (malloc_trim). So a worker holds at most its
// last file's buffer between files, and only with the parent's leave (the
// parent lets one worker at a time keep one, raw/isolated_decoder.h). The
// worker is its own process: these settings reach nothing but LibRaw's and
// the record's allocations.
class KeptHeap {
 public:
  KeptHeap() {
    ::mallopt(M_MMAP_MAX, 0);
    ::mallopt(M_TRIM_THRESHOLD, std::numeric_limits<int>::max());
  }
  // After a request; `kept_bytes`: the size of the buffer the parent let
  // it keep, 0 for none.
  void Settle(std::size_t kept_bytes) {
    if (kept_bytes == 0 || ::mallinfo2().fordblks > kept_bytes + kSlackBytes) {
      ::malloc_trim(0);
    }
  }

 private:
  // Free memory kept besides the buffer (LibRaw's smaller allocations).
  static constexpr std::size_t kSlackBytes = std::size_t{8} << 20;
};

// The parent's planes (kPixelsFill, raw/shared_planes.h) this worker has
// mapped, the last few kept mapped between requests.
//
// Why: the build's plane pool hands out the same few memfds again and
// again; mapping one (populating its page tables) and unmapping it for
// every file cost 13 % of a 12 MP DNG's isolated decode (perf:
// unmap_page_range, next_uptodate_folio). A memfd is known again by its
// inode: while we map it, it cannot be freed and its number reused. The
// parent punches a plane's pages out when it frees it, so a kept mapping of
// a freed plane holds no memory, only address space. That address space
// counts under the worker's cap (WorkerAddressSpaceLimit), so the kept
// mappings stay within kKeptBytes, half the cap's headroom (a 60 MP plane
// is 240 MB: one is kept; a larger one is unmapped once filled), and a
// mapping the cap refuses drops the kept ones and is tried again.
class PlaneMappings {
 public:
  // Its memory is taken before the first file: allocated later, above
  // LibRaw's buffer, it would split the free block a kept buffer leaves
  // (KeptHeap), and the next file's buffer would no longer fit in it.
  PlaneMappings() { kept_.reserve(kKept); }
  PlaneMappings(const PlaneMappings&) = delete;
  PlaneMappings& operator=(const PlaneMappings&) = delete;
  ~PlaneMappings() { Drop(); }

  // The first `bytes` bytes of memfd `fd`, mapped writable (null and errno
  // set when it is smaller or cannot be mapped).
  float* Map(int fd, std::size_t bytes) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) return nullptr;
    if (st.st_size < 0 || static_cast<std::size_t>(st.st_size) < bytes) {
      errno = EINVAL;
      return nullptr;
    }
    for (std::size_t i = 0; i < kept_.size(); ++i) {
      const Mapped m = kept_[i];
      if (m.device == st.st_dev && m.inode == st.st_ino && m.bytes >= bytes) {
        kept_.erase(kept_.begin() + static_cast<std::ptrdiff_t>(i));
        kept_.push_back(m);  // most recently used last
        return static_cast<float*>(m.data);
      }
    }
    // MAP_POPULATE: every page is written (the parent's pages, already
    // there: only our page tables are filled, in one call).
    const auto size = static_cast<std::size_t>(st.st_size);
    void* data = ::mmap(nullptr, size, PROT_READ | PROT_WRITE,
                        MAP_SHARED | MAP_POPULATE, fd, 0);
    if (data == MAP_FAILED && errno == ENOMEM && !kept_.empty()) {
      Drop();
      data = ::mmap(nullptr, size, PROT_READ | PROT_WRITE,
                    MAP_SHARED | MAP_POPULATE, fd, 0);
    }
    if (data == MAP_FAILED) return nullptr;
    while (!kept_.empty() &&
           (kept_.size() >= kKept || KeptBytes() + size > kKeptBytes)) {
      DropOldest();
    }
    kept_.push_back({st.st_dev, st.st_ino, data, size});
    return static_cast<float*>(data);
  }

  // After a fill: a plane over the budget is not kept.
  void Settle() {
    while (KeptBytes() > kKeptBytes) DropOldest();
  }

  void Drop() {
    for (const Mapped& m : kept_) ::munmap(m.data, m.bytes);
    kept_.clear();
  }

 private:
  // A few: the planes one worker fills in turn while a scene's captures
  // are held (more would only hold address space).
  static constexpr std::size_t kKept = 4;
  static constexpr std::size_t kKeptBytes = kWorkerHeadroomBytes / 2;

  std::size_t KeptBytes() const {
    std::size_t bytes = 0;
    for (const Mapped& m : kept_) bytes += m.bytes;
    return bytes;
  }
  void DropOldest() {
    ::munmap(kept_.front().data, kept_.front().bytes);
    kept_.erase(kept_.begin());
  }

  struct Mapped {
    dev_t device;
    ino_t inode;
    void* data;
    std::size_t bytes;
  };
  std::vector<Mapped> kept_;
};

// Normalises `raw` into the plane of memfd `fd` (kPixelsFill); returns 0
// or the errno that stopped it before anything was written. With streaming
// stores whatever the size (the same bits, raw/normalise.h): the plane is
// written for the build's process, not for this one's caches; on the
// GoPro DNG (48 MB plane) 1.14-1.20x the floor against 1.17-1.24x with
// ordinary stores, alike on the NEF and KDC (decode_bench).
int FillPlane(const UnpackedRaw& raw, int fd, PlaneMappings& mappings) {
  const std::size_t bytes = static_cast<std::size_t>(raw.width()) *
                            static_cast<std::size_t>(raw.height()) *
                            sizeof(float);
  float* data = mappings.Map(fd, bytes);
  if (data == nullptr) return errno != 0 ? errno : EINVAL;
  raw.Normalise(PlaneView<float>{data, raw.width(), raw.height(), raw.width()},
                RowStores::kStreaming);
  mappings.Settle();
  return 0;
}

// Tells the parent the record is ready; false when the parent is gone.
bool Answer(int control, std::uint64_t record_size) {
  char answer[kAnswerSize] = {kRecordReady};
  std::memcpy(answer + 1, &record_size, sizeof(record_size));
  while (::write(control, answer, sizeof(answer)) < 0) {
    if (errno != EINTR) return false;
  }
  return true;
}

// Serving: one request after another until the parent closes its end.
int Serve(const WorkerArgs& args, std::size_t cap) {
  RecordMapping mapping(args.fd);
  PlaneMappings planes;
  KeptHeap heap;
  while (true) {
    std::uint32_t length = 0;
    if (!ReadExactly(args.control, &length, sizeof(length))) return 0;
    if (length == 0 || length > kMaxRequestPath) {
      std::fprintf(stderr, "decode worker: bad request of %u bytes\n", length);
      return 2;
    }
    std::string path(length, '\0');
    if (!ReadExactly(args.control, path.data(), length)) return 0;
    std::uint64_t record_size = 0;
    std::optional<UnpackedRaw> kept;
    std::size_t keep_bytes = 0;  // of LibRaw's buffer, when allowed to
    Status written = DecodeInto(args.fd, path, args.options, cap, &mapping,
                                &record_size, &kept);
    if (written.ok() && !Answer(args.control, record_size)) return 0;
    if (written.ok() && kept.has_value()) {
      // The raw values stay until the parent has them (or wants them in
      // the record).
      char word = 0;
      int fd = -1;
      if (!ReadControlWord(args.control, &word, &fd)) return 0;
      while (word == kPixelsFill) {
        // The parent's plane: normalised into it, then the next word.
        const int error = fd >= 0 ? FillPlane(*kept, fd, planes) : EBADF;
        if (fd >= 0) ::close(fd);
        if (!Answer(args.control, static_cast<std::uint64_t>(error)) ||
            !ReadControlWord(args.control, &word, &fd)) {
          return 0;
        }
      }
      if (fd >= 0) ::close(fd);  // a descriptor with any other word
      if (word == kPixelsInRecord) {
        written = WriteRawImageRecord(
            args.fd, kept->width(), kept->height(), kept->cfa(), kept->meta(),
            kept->levels(), [&](std::uint16_t* out) { kept->CopyRaw(out); },
            &mapping, &record_size);
        if (written.ok() && !Answer(args.control, record_size)) return 0;
      } else if (word == kPixelsTakenKeep) {
        keep_bytes = kept->raw_buffer_bytes();
      } else if (word != kPixelsTaken) {
        std::fprintf(stderr, "decode worker: bad word %d\n", word);
        return 2;
      }
      kept.reset();  // LibRaw's buffer is freed (and kept or not, below)
    }
    heap.Settle(keep_bytes);
    if (!written.ok()) {
      std::fprintf(stderr, "decode worker: %s\n", written.message().c_str());
      return 3;
    }
  }
}

}  // namespace

namespace {

// One control word as the socket carries it: a byte, and room for one
// descriptor beside it (SCM_RIGHTS). Both ends build their message here.
struct WordMessage {
  explicit WordMessage(char* word) : data{word, 1} {
    header.msg_iov = &data;
    header.msg_iovlen = 1;
    header.msg_control = space;
    header.msg_controllen = sizeof(space);
  }
  WordMessage(const WordMessage&) = delete;
  WordMessage& operator=(const WordMessage&) = delete;

  iovec data;
  alignas(cmsghdr) char space[CMSG_SPACE(sizeof(int))] = {};
  msghdr header{};
};

}  // namespace

bool SendControlWord(int control, char word, int fd) {
  WordMessage message(&word);
  cmsghdr* c = CMSG_FIRSTHDR(&message.header);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(c), &fd, sizeof(int));
  while (true) {
    const ssize_t n = ::sendmsg(control, &message.header, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    return n == 1;
  }
}

bool ReadControlWord(int control, char* word, int* fd) {
  *fd = -1;
  while (true) {
    WordMessage message(word);
    const ssize_t n = ::recvmsg(control, &message.header, MSG_CMSG_CLOEXEC);
    if (n < 0 && errno == EINTR) continue;
    if (n != 1) return false;
    for (cmsghdr* c = CMSG_FIRSTHDR(&message.header); c != nullptr;
         c = CMSG_NXTHDR(&message.header, c)) {
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
          c->cmsg_len >= CMSG_LEN(sizeof(int))) {
        std::memcpy(fd, CMSG_DATA(c), sizeof(int));
      }
    }
    return true;
  }
}

int RunDecodeWorker(int argc, char** argv) {
  WorkerArgs args;
  if (!ParseArgs(argc, argv, args)) return 2;
  // A worker holds the files it decodes in memory (raw/decoder.h:
  // file_in_memory), small ones in one buffer it keeps (it decodes one file
  // at a time): a file that shrinks under a mapping crashes this process
  // only, which fails that one file (raw/isolated_decoder.cc says so for
  // SIGBUS).
  args.options.file_in_memory = true;
  // Die with the build. The parent may have died before this call took
  // effect, in which case we were reparented: check. A serving worker
  // outlives the thread that started it (PR_SET_PDEATHSIG would fire when
  // that thread exits): it leaves when its control socket closes instead,
  // which the build's death does too.
  if (args.control < 0) ::prctl(PR_SET_PDEATHSIG, SIGKILL);
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
  if (args.control >= 0) return Serve(args, cap);

  const Status written = DecodeInto(args.fd, args.path, args.options, cap);
  if (!written.ok()) {
    std::fprintf(stderr, "decode worker: %s\n", written.message().c_str());
    return 3;
  }
  return 0;
}

}  // namespace dsb
