#include "raw/isolated_decoder.h"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "common/large_pages.h"
#include "raw/decode_record.h"
#include "raw/decode_worker.h"

extern char** environ;

namespace dsb {

namespace {

using Clock = std::chrono::steady_clock;

// The descriptors the worker finds its memfd and (serving) its control
// socket at.
constexpr int kWorkerFd = 3;
constexpr int kControlFd = 4;
// How much of the worker's output a message quotes.
constexpr std::size_t kQuotedOutput = 512;

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) {
      Reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { Reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  void Reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

// A close-on-exec descriptor of the same file numbered above kControlFd.
// dup2 in the child then always changes the number, which is what clears
// close-on-exec on the child's copy: dup2(3, 3) would leave it set (before
// glibc 2.29 posix_spawn did exactly that) and the worker would find no
// descriptor 3.
UniqueFd AboveWorkerFd(int fd) {
  if (fd < 0 || fd > kControlFd) return UniqueFd(fd);
  const int moved = ::fcntl(fd, F_DUPFD_CLOEXEC, kControlFd + 1);
  ::close(fd);
  return UniqueFd(moved);
}

// Owns a spawned child until it is reaped: if Decode leaves early (an
// exception), the child and its process group are killed and reaped.
class Child {
 public:
  explicit Child(pid_t pid) : pid_(pid) {}
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() {
    if (reaped_) return;
    KillGroup();
    (void)Reap();
  }

  pid_t pid() const { return pid_; }
  // SIGKILL to the worker's process group (it leads its own), which also
  // stops anything it started. Only called while the child is unreaped,
  // so the group id cannot have been reused.
  void KillGroup() const {
    ::kill(-pid_, SIGKILL);
    ::kill(pid_, SIGKILL);
  }
  // True when the child has exited (it stays a zombie until Reap).
  bool Exited() const {
    siginfo_t info{};
    return ::waitid(P_PID, static_cast<id_t>(pid_), &info,
                    WEXITED | WNOHANG | WNOWAIT) == 0 &&
           info.si_pid == pid_;
  }
  // Waits for the child and returns its wait status.
  int Reap() {
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0) {
      if (errno != EINTR) {
        status = -1;
        break;
      }
    }
    reaped_ = true;
    return status;
  }

 private:
  pid_t pid_;
  bool reaped_ = false;
};

// Keeps the last `limit` bytes of what the worker printed.
class OutputTail {
 public:
  explicit OutputTail(std::size_t limit) : limit_(limit) {}
  // Reads what the non-blocking pipe has; false at end of file or error.
  bool Drain(int fd) {
    char buffer[4096];
    while (true) {
      const ssize_t n = ::read(fd, buffer, sizeof(buffer));
      if (n > 0) {
        text_.append(buffer, static_cast<std::size_t>(n));
        if (text_.size() > limit_) text_.erase(0, text_.size() - limit_);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
    }
  }
  // "; decoder output: ..." on one line, or "" when it printed nothing.
  std::string Quote() const {
    std::string line;
    for (char c : text_) {
      const bool space = static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
      if (space && (line.empty() || line.back() == ' ')) continue;
      line.push_back(space ? ' ' : c);
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    if (line.empty()) return "";
    if (line.size() > kQuotedOutput) {
      line = "..." + line.substr(line.size() - kQuotedOutput);
    }
    return "; decoder output: " + line;
  }

 private:
  std::size_t limit_;
  std::string text_;
};

std::string SignalName(int signal_number) {
  const char* abbrev = ::sigabbrev_np(signal_number);
  return abbrev != nullptr ? std::string("SIG") + abbrev : "signal";
}

std::string Seconds(double seconds) {
  char text[32];
  std::snprintf(text, sizeof(text), seconds < 10 ? "%.1f" : "%.0f", seconds);
  return text;
}

// posix_spawn's attribute and file-action objects, destroyed on every path.
struct SpawnSetup {
  SpawnSetup() {
    ::posix_spawn_file_actions_init(&actions);
    ::posix_spawnattr_init(&attr);
  }
  ~SpawnSetup() {
    ::posix_spawn_file_actions_destroy(&actions);
    ::posix_spawnattr_destroy(&attr);
  }
  SpawnSetup(const SpawnSetup&) = delete;
  SpawnSetup& operator=(const SpawnSetup&) = delete;
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
};

// glibc malloc setting for a worker when the build runs with huge pages
// (common/large_pages.h): large allocations, LibRaw's buffer among them,
// on transparent huge pages. Keeping LibRaw's freed buffers between files
// (no mmap for large blocks, no trimming) saved ~10 % of a 24 MP decode's
// CPU time but raised the peak memory of a 16 x 60 MP build with its
// workers by ~150-200 MB (each idle worker holding its last file's
// buffers), so it is not done.
constexpr const char* kWorkerHugePages = "glibc.malloc.hugetlb=1";

// The worker's environment: ours, with LibRaw's OpenMP loops held to one
// thread (the build already runs --jobs decodes at once, and the
// address-space cap need not allow for OpenMP threads' stacks and malloc
// arenas; results do not depend on it) and, when the build runs with huge
// pages, glibc's malloc asked for them too.
struct WorkerEnvironment {
  std::vector<std::string> settings;
  std::vector<char*> pointers;

  WorkerEnvironment() {
    std::string tunables;
    for (char** entry = environ; entry != nullptr && *entry != nullptr;
         ++entry) {
      const std::string_view text(*entry);
      if (text.starts_with("OMP_NUM_THREADS=")) continue;
      if (text.starts_with("GLIBC_TUNABLES=")) {
        tunables = std::string(text);
        continue;
      }
      pointers.push_back(*entry);
    }
    if (HugePagesOn()) {
      tunables = tunables.empty()
                     ? std::string("GLIBC_TUNABLES=") + kWorkerHugePages
                     : tunables + ":" + kWorkerHugePages;
    }
    settings = {"OMP_NUM_THREADS=1"};
    if (!tunables.empty()) settings.push_back(tunables);
    for (std::string& setting : settings) pointers.push_back(setting.data());
    pointers.push_back(nullptr);
  }
};

// A started worker: its process, the read end of its output and (where
// the kernel has them) a pidfd that says when it exits.
struct Started {
  std::unique_ptr<Child> child;
  UniqueFd output_read;
  UniqueFd pidfd;
};

// Starts `args` with /dev/null as stdin, a pipe as stdout and stderr,
// `memfd` as descriptor 3 and, when valid, `control` as descriptor 4.
// Returns the spawn step that failed and its errno otherwise.
Result<Started> StartWorker(std::vector<std::string> args, int memfd,
                            int control, const std::string& what) {
  auto cannot_start = [&](const std::string& step, int err) {
    return Status::Internal("cannot start the decoder process '" +
                            args.front() + "' for " + what + ": " + step +
                            ": " + std::strerror(err) +
                            " (--decode-in-process decodes without one)");
  };
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return cannot_start("pipe", errno);
  Started started;
  started.output_read = AboveWorkerFd(pipe_fds[0]);
  UniqueFd output_write = AboveWorkerFd(pipe_fds[1]);
  if (!started.output_read.valid() || !output_write.valid()) {
    return cannot_start("fcntl", errno);
  }
  // Only our end is non-blocking: the worker's writes may block as usual.
  ::fcntl(started.output_read.get(), F_SETFL,
          ::fcntl(started.output_read.get(), F_GETFL) | O_NONBLOCK);

  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  WorkerEnvironment env;

  SpawnSetup setup;
  // Descriptors 0-4 are set up explicitly and everything else is closed,
  // whatever other libraries in this process left without close-on-exec
  // (the manifest lock must not outlive the build in a stray worker).
  ::posix_spawn_file_actions_addopen(&setup.actions, STDIN_FILENO, "/dev/null",
                                     O_RDONLY, 0);
  ::posix_spawn_file_actions_adddup2(&setup.actions, output_write.get(),
                                     STDOUT_FILENO);
  ::posix_spawn_file_actions_adddup2(&setup.actions, output_write.get(),
                                     STDERR_FILENO);
  ::posix_spawn_file_actions_adddup2(&setup.actions, memfd, kWorkerFd);
  if (control >= 0) {
    ::posix_spawn_file_actions_adddup2(&setup.actions, control, kControlFd);
  }
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 34)
  ::posix_spawn_file_actions_addclosefrom_np(
      &setup.actions, control >= 0 ? kControlFd + 1 : kWorkerFd + 1);
#endif
  sigset_t signals;
  sigemptyset(&signals);
  ::posix_spawnattr_setsigmask(&setup.attr, &signals);
  sigfillset(&signals);
  ::posix_spawnattr_setsigdefault(&setup.attr, &signals);
  ::posix_spawnattr_setpgroup(&setup.attr, 0);
  ::posix_spawnattr_setflags(&setup.attr, POSIX_SPAWN_SETSIGMASK |
                                              POSIX_SPAWN_SETSIGDEF |
                                              POSIX_SPAWN_SETPGROUP);
  pid_t pid = 0;
  const int spawned =
      ::posix_spawnp(&pid, argv.front(), &setup.actions, &setup.attr,
                     argv.data(), env.pointers.data());
  if (spawned != 0) return cannot_start("spawn", spawned);
  started.child = std::make_unique<Child>(pid);
  started.pidfd = UniqueFd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  return started;
}

enum class Waited { kReady, kExited, kTimedOut };

// Waits until the worker exits, or (with `control` valid) answers
// kRecordReady and the record's size (into `*record_size`) on it, or the
// deadline passes, collecting its output.
Waited WaitForWorker(Started& worker, int control, Clock::time_point deadline,
                     OutputTail& output, std::uint64_t* record_size = nullptr) {
  bool control_open = control >= 0;
  while (!worker.child->Exited()) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - Clock::now());
    if (left.count() <= 0) return Waited::kTimedOut;
    pollfd fds[3];
    nfds_t count = 0;
    if (worker.output_read.valid()) {
      fds[count++] = {worker.output_read.get(), POLLIN, 0};
    }
    if (worker.pidfd.valid()) fds[count++] = {worker.pidfd.get(), POLLIN, 0};
    if (control_open) fds[count++] = {control, POLLIN, 0};
    int wait_ms = static_cast<int>(
        std::min<std::chrono::milliseconds::rep>(left.count() + 1, INT_MAX));
    if (!worker.pidfd.valid()) wait_ms = std::min(wait_ms, 10);
    if (::poll(fds, count, wait_ms) < 0 && errno != EINTR) {
      wait_ms = std::min(wait_ms, 10);  // should not happen: do not spin
      ::poll(nullptr, 0, wait_ms);
    }
    if (worker.output_read.valid() && !output.Drain(worker.output_read.get())) {
      worker.output_read.Reset();  // end of output; keep waiting for the exit
    }
    if (control_open && (fds[count - 1].revents & (POLLIN | POLLHUP)) != 0) {
      char answer[kAnswerSize] = {};
      ssize_t n = ::recv(control, answer, 1, MSG_DONTWAIT);
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      if (n == 1 && answer[0] == kRecordReady) {
        // The rest was written with the first byte: wait for it.
        n = ::recv(control, answer + 1, kAnswerSize - 1, MSG_WAITALL);
        if (n == static_cast<ssize_t>(kAnswerSize - 1)) {
          if (record_size != nullptr) {
            std::memcpy(record_size, answer + 1, sizeof(*record_size));
          }
          return Waited::kReady;
        }
      }
      // End of file or a wrong answer: the worker is dying or broken; from
      // here on only its exit (or the deadline) counts.
      control_open = false;
      if (n > 0) worker.child->KillGroup();
    }
  }
  return Waited::kExited;
}

// Why a worker that did not hand back a record failed `path`.
Status WorkerFailure(const std::string& path, int status, bool timed_out,
                     double limit_seconds, const OutputTail& output) {
  if (timed_out) {
    return Status::ResourceExhausted(
        "decoding '" + path + "' took longer than the limit of " +
        Seconds(limit_seconds) +
        " s and was stopped; the file may make LibRaw loop forever (raise "
        "--decode-timeout if it is only very large)" +
        output.Quote());
  }
  if (status == -1) {
    return Status::Internal("lost track of the decoder process for '" + path +
                            "': " + std::strerror(errno));
  }
  if (WIFSIGNALED(status)) {
    const int signal_number = WTERMSIG(status);
    const std::string which =
        SignalName(signal_number) + ", signal " + std::to_string(signal_number);
    if (signal_number == SIGKILL) {
      return Status::ResourceExhausted(
          "the decoder was killed on '" + path + "' (" + which +
          "), most likely by the system for lack of memory" + output.Quote());
    }
    // The worker maps the file (raw/decoder.h: map_file): SIGBUS is what
    // reading a page past a file's new end gives.
    const std::string cause =
        signal_number == SIGBUS
            ? "the file shrank while it was read, or is on a failing disk"
            : "the file is probably damaged or hits a LibRaw bug";
    return Status::Corrupt("the decoder crashed on '" + path + "' (" + which +
                           "); " + cause + output.Quote());
  }
  return Status::Internal(
      "the decoder process failed on '" + path + "' (exit status " +
      std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : status) +
      "); this is a bug in dataset-build" + output.Quote());
}

}  // namespace

// A serving worker of the pool: its process, the memfd its records go to
// and our end of its control socket.
struct IsolatedDecoder::PooledWorker {
  Started started;
  UniqueFd memfd;
  UniqueFd control;
  DecodeOptions options;  // the limit its address-space cap was set for
  // Our read-only mapping of the memfd, kept between requests (the pages
  // stay mapped), when the memfd is sealed against shrinking: the worker
  // can then never pull pages from under a copy (which would be SIGBUS
  // here). The record's pixels are copied out of it with memcpy, which
  // cost about half of pread's copy (its per-page lookups) in perf.
  const std::uint8_t* view = nullptr;
  std::size_t view_size = 0;
  bool can_map = false;

  PooledWorker() = default;
  PooledWorker(const PooledWorker&) = delete;
  PooledWorker& operator=(const PooledWorker&) = delete;
  ~PooledWorker() {
    if (view != nullptr) {
      ::munmap(const_cast<std::uint8_t*>(view), view_size);
    }
  }

  // The memfd's bytes, mapped (grown to its current size as needed); empty
  // when it cannot be mapped (the caller then reads it with pread).
  std::span<const std::uint8_t> View() {
    if (!can_map) return {};
    struct stat st {};
    if (::fstat(memfd.get(), &st) != 0 || st.st_size <= 0) return {};
    const auto size = static_cast<std::size_t>(st.st_size);
    if (size > view_size) {
      if (view != nullptr) {
        ::munmap(const_cast<std::uint8_t*>(view), view_size);
      }
      view = nullptr;
      view_size = 0;
      void* mapped = ::mmap(nullptr, size, PROT_READ, MAP_SHARED | MAP_POPULATE,
                            memfd.get(), 0);
      if (mapped == MAP_FAILED) return {};
      view = static_cast<const std::uint8_t*>(mapped);
      view_size = size;
    }
    // Only what the file holds now: it never shrinks (sealed), and what it
    // grew by since we mapped it is not read.
    return {view, std::min(size, view_size)};
  }
};

std::vector<std::string> DefaultDecodeWorker() {
  return {"/proc/self/exe", std::string(kDecodeWorkerCommand)};
}

IsolatedDecoder::IsolatedDecoder(IsolatedDecoderOptions options)
    : options_(std::move(options)) {
  if (options_.worker.empty()) {
    options_.worker = DefaultDecodeWorker();
    default_worker_ = true;
  }
}

// Idle workers are killed and reaped (Child's destructor): none outlives
// the decoder. All are signalled before the first is waited for, so their
// exits run side by side.
IsolatedDecoder::~IsolatedDecoder() {
  if (preparing_.joinable()) preparing_.join();
  if (releasing_.joinable()) releasing_.join();
  {
    std::lock_guard<std::mutex> lock(pool_mutex_);
    for (std::unique_ptr<PooledWorker>& worker : idle_) {
      worker->started.child->KillGroup();
    }
  }
  released_.clear();  // reaped
}

void IsolatedDecoder::Release() const {
  {
    std::lock_guard<std::mutex> lock(pool_mutex_);
    for (std::unique_ptr<PooledWorker>& worker : idle_) {
      if (keeper_ == worker.get()) keeper_ = nullptr;
      worker->started.child->KillGroup();
      released_.push_back(std::move(worker));
    }
    idle_.clear();
  }
  if (releasing_.joinable()) releasing_.join();
  try {
    releasing_ = std::thread([this] { shared_planes_.FreeKept(); });
  } catch (const std::system_error&) {
    shared_planes_.FreeKept();  // no thread: here
  }
}

void IsolatedDecoder::Prepare(const DecodeOptions& options, int threads) const {
  const bool pool =
      options_.mode == IsolatedDecoderOptions::Mode::kPool ||
      (options_.mode == IsolatedDecoderOptions::Mode::kAuto && default_worker_);
  if (!pool || (default_worker_ && !HasDecodeWorkerEntry())) return;
  int count = 0;
  {
    std::lock_guard<std::mutex> lock(pool_mutex_);
    if (preparing_.joinable()) return;  // once
    count = std::max(0, threads - static_cast<int>(idle_.size()));
    starting_ = count;
    if (count == 0) return;
    try {
      preparing_ = std::thread([this, options, count] {
        for (int i = 0; i < count; ++i) {
          // A worker that cannot start is left to Decode, which reports why.
          Result<std::unique_ptr<PooledWorker>> worker =
              StartPooledWorker(options, "(starting decoder processes)");
          std::lock_guard<std::mutex> lock(pool_mutex_);
          if (worker.ok()) idle_.push_back(std::move(worker).value());
          --starting_;
          started_.notify_all();
        }
      });
    } catch (const std::system_error&) {
      starting_ = 0;  // no thread: Decode starts its workers, as without
    }
  }
}

std::vector<std::string> IsolatedDecoder::WorkerArgs(
    const DecodeOptions& options) const {
  std::vector<std::string> args = options_.worker;
  args.insert(args.end(), {"--fd", std::to_string(kWorkerFd), "--parent",
                           std::to_string(::getpid())});
  if (options.max_pixels != 0) {
    args.insert(args.end(), {"--max-pixels", std::to_string(options.max_pixels),
                             "--max-pixels-hint", options.max_pixels_hint});
  }
  return args;
}

double IsolatedDecoder::LimitSeconds(const std::string& path) const {
  // The time limit grows with the file: big raws take longer.
  struct stat st {};
  const double megabytes = ::stat(path.c_str(), &st) == 0
                               ? static_cast<double>(st.st_size) / 1e6
                               : 0.0;
  return options_.timeout_seconds + options_.timeout_seconds_per_mb * megabytes;
}

Result<RawImage> IsolatedDecoder::Decode(const std::string& path,
                                         const DecodeOptions& options) const {
  if (default_worker_ && !HasDecodeWorkerEntry()) {
    return Status::Internal(
        "cannot decode '" + path +
        "' in a worker process: this program has no decode-worker entry (its "
        "main() must call RunDecodeWorkerIfAsked, see raw/decode_worker.h); "
        "decode in-process instead");
  }
  const bool pool =
      options_.mode == IsolatedDecoderOptions::Mode::kPool ||
      (options_.mode == IsolatedDecoderOptions::Mode::kAuto && default_worker_);
  if (pool) return DecodePooled(path, options);
  return DecodeInNewWorker(path, options);
}

Result<RawImage> IsolatedDecoder::DecodeInNewWorker(
    const std::string& path, const DecodeOptions& options) const {
  const double limit_seconds = LimitSeconds(path);
  UniqueFd memfd = AboveWorkerFd(::memfd_create("dsb-decode", MFD_CLOEXEC));
  if (!memfd.valid()) {
    return Status::Internal("cannot create the decode record for '" + path +
                            "': memfd_create: " + std::strerror(errno));
  }
  std::vector<std::string> args = WorkerArgs(options);
  args.insert(args.end(), {"--", path});
  DSB_ASSIGN_OR_RETURN(Started worker, StartWorker(std::move(args), memfd.get(),
                                                   -1, "'" + path + "'"));
  OutputTail output(options_.stderr_limit);
  const auto deadline =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(
                         std::chrono::duration<double>(limit_seconds));
  const bool timed_out =
      WaitForWorker(worker, -1, deadline, output) == Waited::kTimedOut;
  // Whatever the worker started dies with it (the real worker starts
  // nothing; a fake one may).
  worker.child->KillGroup();
  const int status = worker.child->Reap();
  if (worker.output_read.valid()) output.Drain(worker.output_read.get());
  if (timed_out || status == -1 || !WIFEXITED(status) ||
      WEXITSTATUS(status) != 0) {
    return WorkerFailure(path, status, timed_out, limit_seconds, output);
  }
  return ReadDecodeRecord(memfd.get(), path, options.max_pixels, 0,
                          &plane_pool_);
}

std::unique_ptr<IsolatedDecoder::PooledWorker> IsolatedDecoder::TakeWorker(
    const DecodeOptions& options) const {
  std::unique_lock<std::mutex> lock(pool_mutex_);
  // Prepare's workers are on their way: one of them, not one more.
  started_.wait(lock, [&] { return !idle_.empty() || starting_ == 0; });
  // The worker that kept its buffer goes first: its next file reuses it.
  for (std::size_t i = 0; i + 1 < idle_.size(); ++i) {
    if (idle_[i].get() == keeper_) {
      std::swap(idle_[i], idle_.back());
      break;
    }
  }
  while (!idle_.empty()) {
    std::unique_ptr<PooledWorker> worker = std::move(idle_.back());
    idle_.pop_back();
    // One that died idle (e.g. killed for memory) is reaped and dropped.
    if (worker->started.child->Exited()) {
      if (worker.get() == keeper_) keeper_ = nullptr;
      continue;
    }
    if (worker->options.max_pixels == options.max_pixels &&
        worker->options.max_pixels_hint == options.max_pixels_hint) {
      return worker;
    }
    if (worker.get() == keeper_) keeper_ = nullptr;
  }
  return nullptr;
}

Result<std::unique_ptr<IsolatedDecoder::PooledWorker>>
IsolatedDecoder::StartPooledWorker(const DecodeOptions& options,
                                   const std::string& path) const {
  auto worker = std::make_unique<PooledWorker>();
  worker->options = options;
  worker->memfd = AboveWorkerFd(
      ::memfd_create("dsb-decode", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  // Sealed before the worker ever sees it: the record may grow, never
  // shrink, so our mapping of it stays valid (see PooledWorker).
  worker->can_map =
      worker->memfd.valid() && ::fcntl(worker->memfd.get(), F_ADD_SEALS,
                                       F_SEAL_SHRINK | F_SEAL_SEAL) == 0;
  int sockets[2];
  if (!worker->memfd.valid() ||
      ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sockets) != 0) {
    return Status::Internal("cannot start a decoder process for '" + path +
                            "': " + std::strerror(errno));
  }
  worker->control = AboveWorkerFd(sockets[0]);
  UniqueFd theirs = AboveWorkerFd(sockets[1]);
  std::vector<std::string> args = WorkerArgs(options);
  args.insert(args.end(), {"--control", std::to_string(kControlFd)});
  DSB_ASSIGN_OR_RETURN(worker->started,
                       StartWorker(std::move(args), worker->memfd.get(),
                                   theirs.get(), "'" + path + "'"));
  return worker;
}

void IsolatedDecoder::ForgetKeeper(const PooledWorker* worker) const {
  std::lock_guard<std::mutex> lock(pool_mutex_);
  if (keeper_ == worker) keeper_ = nullptr;
}

Result<RawImage> IsolatedDecoder::DecodePooled(
    const std::string& path, const DecodeOptions& options) const {
  const double limit_seconds = LimitSeconds(path);
  if (path.empty() || path.size() > kMaxRequestPath) {
    return Status::InvalidArgument("cannot decode '" + path +
                                   "': the path is too long");
  }
  // An idle worker may have gone since (its request then fails to send):
  // one more try with a fresh one.
  std::unique_ptr<PooledWorker> worker;
  for (int attempt = 0; attempt < 2 && worker == nullptr; ++attempt) {
    worker = attempt == 0 ? TakeWorker(options) : nullptr;
    if (worker == nullptr) {
      DSB_ASSIGN_OR_RETURN(worker, StartPooledWorker(options, path));
    }
    std::string request(sizeof(std::uint32_t), '\0');
    const auto length = static_cast<std::uint32_t>(path.size());
    std::memcpy(request.data(), &length, sizeof(length));
    request += path;
    std::size_t sent = 0;
    while (sent < request.size()) {
      const ssize_t n = ::send(worker->control.get(), request.data() + sent,
                               request.size() - sent, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      sent += static_cast<std::size_t>(n);
    }
    if (sent != request.size()) {
      ForgetKeeper(worker.get());
      worker.reset();  // killed and reaped
    }
  }
  if (worker == nullptr) {
    return Status::Internal("cannot hand '" + path +
                            "' to a decoder process: it exited at once");
  }

  OutputTail output(options_.stderr_limit);
  const auto deadline =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(
                         std::chrono::duration<double>(limit_seconds));
  std::uint64_t record_size = 0;
  Waited waited = WaitForWorker(worker->started, worker->control.get(),
                                deadline, output, &record_size);
  // The record's pixels may still be in the worker's memory (its LibRaw
  // buffer, raw/decode_record.h): copied straight out of it, so the worker
  // never holds a second copy.
  const pid_t pid = worker->started.child->pid();
  const RemoteRead remote = [pid](std::uint64_t address,
                                  std::size_t pitch_bytes, int rows,
                                  std::size_t row_bytes, void* out) -> int {
    iovec local{out, row_bytes * static_cast<std::size_t>(rows)};
    std::vector<iovec> theirs(static_cast<std::size_t>(rows));
    for (int r = 0; r < rows; ++r) {
      theirs[r] = {reinterpret_cast<void*>(address + r * pitch_bytes),
                   row_bytes};
    }
    const ssize_t n =
        ::process_vm_readv(pid, &local, 1, theirs.data(), theirs.size(), 0);
    if (n < 0) return errno;
    return static_cast<std::size_t>(n) == local.iov_len ? 0 : EFAULT;
  };
  // Or, better, the worker normalises them straight into a shared plane
  // the image adopts (raw/shared_planes.h): no copy at all. Under
  // --huge-pages planes stay ordinary (huge) memory.
  Waited filled = Waited::kReady;  // how the worker's fill went
  const RemoteFill fill = [&](int width, int height) -> Result<Plane<float>> {
    // A plane this worker filled before, when one is free: its mapping
    // there is warm (raw/shared_planes.h says why that matters).
    Result<SharedPlanePool::Lease> lease =
        shared_planes_.Acquire(width, height, static_cast<std::uint64_t>(pid));
    if (!lease.ok()) return lease.status();  // kUnsupported: copied instead
    if (!SendControlWord(worker->control.get(), kPixelsFill, lease->fd)) {
      filled = Waited::kExited;
      return Status::Internal("the decoder process is gone");
    }
    std::uint64_t error = 0;
    filled = WaitForWorker(worker->started, worker->control.get(), deadline,
                           output, &error);
    if (filled != Waited::kReady) {
      return Status::Internal("the decoder process failed");
    }
    if (error != 0) {
      return Status::Unsupported("the decoder process cannot map the plane");
    }
    return std::move(lease->plane);
  };
  const bool shared = !HugePagesOn();
  auto read_record = [&](const RemoteRead* from, RemotePixels* pixels) {
    const std::span<const std::uint8_t> mapped = worker->View();
    const RemoteFill* fill_from = from != nullptr && shared ? &fill : nullptr;
    return mapped.empty()
               ? ReadDecodeRecord(worker->memfd.get(), path, options.max_pixels,
                                  record_size, &plane_pool_, from, pixels,
                                  fill_from)
               : ReadDecodeRecord(mapped, path, options.max_pixels, record_size,
                                  &plane_pool_, from, pixels, fill_from);
  };
  auto tell = [&](char word) {
    return ::send(worker->control.get(), &word, 1, MSG_NOSIGNAL) == 1;
  };
  // A worker that leaves this function other than back in idle_ is
  // killed and reaped: it keeps nothing any more.
  struct KeeperRelease {
    const IsolatedDecoder* decoder;
    const std::unique_ptr<PooledWorker>& worker;
    ~KeeperRelease() {
      if (worker != nullptr) decoder->ForgetKeeper(worker.get());
    }
  } keeper_release{this, worker};
  Result<RawImage> image = Status::Internal("no record");
  if (waited == Waited::kReady) {
    RemotePixels pixels = RemotePixels::kNone;
    image = read_record(&remote, &pixels);
    // A worker that died or hung while it filled the plane: as below.
    if (filled != Waited::kReady) {
      waited = filled;
      pixels = RemotePixels::kNone;
    }
    bool keep = false;
    if (pixels == RemotePixels::kTaken) {
      // A small buffer is kept by every worker, a larger one by one worker
      // at a time (see keeper_).
      std::lock_guard<std::mutex> lock(pool_mutex_);
      keep = keeper_ == nullptr || keeper_ == worker.get();
      if (keep) keeper_ = worker.get();
      keep = keep || (image.ok() &&
                      image->pixels.pixel_count() * sizeof(std::uint16_t) <=
                          kKeptByEveryWorkerBytes);
    }
    if (pixels == RemotePixels::kTaken &&
        !tell(keep ? kPixelsTakenKeep : kPixelsTaken)) {
      worker->started.child->KillGroup();  // replaced next time
    }
    if (pixels == RemotePixels::kRefused) {
      // Not allowed to read another process's memory here: the worker
      // writes the values into the record instead.
      waited = tell(kPixelsInRecord)
                   ? WaitForWorker(worker->started, worker->control.get(),
                                   deadline, output, &record_size)
                   : Waited::kExited;
      if (waited == Waited::kReady) image = read_record(nullptr, nullptr);
    }
  }
  if (waited == Waited::kReady) {
    // A malformed record means a worker whose memory may be corrupt: it
    // is not reused. Its output of this request is not carried over.
    if (image.ok() || image.status().code() != Status::Code::kInternal) {
      if (worker->started.output_read.valid()) {
        output.Drain(worker->started.output_read.get());
      }
      std::lock_guard<std::mutex> lock(pool_mutex_);
      idle_.push_back(std::move(worker));
    }
    return image;
  }
  // Crashed, exited or too slow: this file fails, the worker is replaced
  // (the next request starts a fresh one).
  worker->started.child->KillGroup();
  const int status = worker->started.child->Reap();
  if (worker->started.output_read.valid()) {
    output.Drain(worker->started.output_read.get());
  }
  const bool clean_exit =
      status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  return WorkerFailure(path, clean_exit ? (1 << 8) : status,
                       waited == Waited::kTimedOut, limit_seconds, output);
}

}  // namespace dsb
