// Decoding in child processes, so a LibRaw crash, hang or runaway
// allocation fails that one file instead of the whole build.
//
// Pool (the default worker's mode, Mode::kPool): long-lived workers, at
// most one per thread decoding at once, each serving one request after
// another over a socket (its descriptor 4; protocol in
// raw/decode_worker.h) and writing each record into its own memfd, kept
// mapped between requests. The image's pixels the worker writes straight
// into the plane the build keeps, a memfd it is handed for that
// (raw/shared_planes.h). Per request the same outcomes as below; a
// worker that crashed, hung, exited or wrote a malformed record is killed,
// reaped and never reused, so the next file gets a fresh one. Idle workers
// are killed and reaped with the decoder. Starting a process per file cost
// 0.11x LibRaw's unpack of a 24 MP DNG and 0.7x of a 2.7 MP NEF
// (tests/bench/decode_bench); the pool pays it once per thread.
//
// Per file (Mode::kPerFile, and any custom `worker`): as follows.
//
// Why: LibRaw's per-format decoders keep having memory-safety bugs (e.g.
// LibRaw #472 kodak_c330_load_raw, #557 raw2image_ex, both in the 0.20
// Debian ships) and the fuzzer cannot see inside the uninstrumented system
// library. A build runs for hours over files from anywhere; one hostile
// file must not take it down.
//
// How: each Decode creates a memfd, spawns the worker (by default this
// executable's hidden `__decode-worker` subcommand, raw/decode_worker.h)
// with posix_spawn, never a bare fork of this multithreaded process, and
// hands it the memfd as descriptor 3. The worker decodes and writes a
// decode record (raw/decode_record.h); the parent validates it as
// untrusted input and reads the pixels straight into the image's plane.
// Every descriptor is opened close-on-exec and only the dup2'd copies
// reach the child (the memfd is never itself descriptor 3, since dup2 onto
// the same number would leave it close-on-exec), so workers spawned
// concurrently by other threads never inherit each other's ends. The child
// gets /dev/null as stdin, a pipe as stdout and stderr (its last
// `stderr_limit` bytes are kept for the error message), default signal
// dispositions, and its own process group, so a Ctrl-C aimed at the build
// lets in-flight decodes finish and a timeout kills the whole group.
//
// Outcomes other than the worker's own record are Statuses naming the file:
// killed by a signal (kCorrupt: the file is probably damaged or hits a
// LibRaw bug), a nonzero exit or a malformed record (kInternal), the time
// limit (kResourceExhausted; the worker is killed), a worker that cannot be
// started (kInternal). The child is always reaped, on every path.
//
// PR_SET_PDEATHSIG in the worker fires when the *thread* that spawned it
// exits; that thread is blocked in Decode until the child is reaped, so
// this only matters when the whole build dies, which is the intent.
//
// Thread safety: Decode is const and may run on many threads at once.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/plane_pool.h"
#include "raw/raw_decoder.h"
#include "raw/shared_planes.h"

namespace dsb {

// The worker command line before the arguments Decode appends: this
// executable (/proc/self/exe, which names the running binary even if it
// was replaced on disk since) with the worker subcommand. Usable only in a
// program whose main() calls RunDecodeWorkerIfAsked (raw/decode_worker.h).
std::vector<std::string> DefaultDecodeWorker();

struct IsolatedDecoderOptions {
  // argv of the worker, argv[0] being the program (searched in PATH when
  // it has no '/'). Decode appends
  //   --fd 3 --parent PID [--max-pixels N --max-pixels-hint TEXT] -- PATH
  // Empty: DefaultDecodeWorker(). Tests substitute fakes such as
  // {"/bin/sh", "-c", "kill -SEGV $$"}.
  std::vector<std::string> worker;
  // Per-file time limit: timeout_seconds + timeout_seconds_per_mb for each
  // MB (10^6 bytes) of the file; the worker is killed past it.
  double timeout_seconds = 120;
  double timeout_seconds_per_mb = 1;
  // How much of the worker's stderr to keep for error messages.
  std::size_t stderr_limit = 4096;
  // kPool: long-lived workers that serve one request after another (see
  // the header); kPerFile: a process per file. kAuto: the pool for the
  // default worker, a process per file for any other `worker` (a fake
  // that handles one file per run, as the crash tests use).
  enum class Mode { kAuto, kPerFile, kPool };
  Mode mode = Mode::kAuto;
};

class IsolatedDecoder final : public RawDecoder {
 public:
  explicit IsolatedDecoder(IsolatedDecoderOptions options = {});
  ~IsolatedDecoder() override;
  IsolatedDecoder(const IsolatedDecoder&) = delete;
  IsolatedDecoder& operator=(const IsolatedDecoder&) = delete;

  Result<RawImage> Decode(const std::string& path,
                          const DecodeOptions& options) const override;
  std::string_view name() const override { return "isolated"; }
  // With the pool: starts up to `threads` workers for `options` on a thread
  // of its own, once (a later Prepare does nothing). A worker's start,
  // ~5 ms of exec and dynamic linking, then overlaps what the build does
  // before its first decode instead of delaying it; a Decode that finds no
  // idle worker while some are starting waits for one of them.
  void Prepare(const DecodeOptions& options, int threads) const override;
  // Kills the idle workers (a later Decode starts new ones) and leaves
  // them to the destructor to reap, and frees the kept shared planes on a
  // thread of its own: their exits and the planes' pages going back to the
  // kernel (~3 ms per 16 MB plane) run while the build records its end
  // (its manifest's syncs), not after it.
  void Release() const override;

 private:
  struct PooledWorker;
  std::vector<std::string> WorkerArgs(const DecodeOptions& options) const;
  double LimitSeconds(const std::string& path) const;
  Result<RawImage> DecodeInNewWorker(const std::string& path,
                                     const DecodeOptions& options) const;
  Result<RawImage> DecodePooled(const std::string& path,
                                const DecodeOptions& options) const;
  std::unique_ptr<PooledWorker> TakeWorker(const DecodeOptions& options) const;
  Result<std::unique_ptr<PooledWorker>> StartPooledWorker(
      const DecodeOptions& options, const std::string& path) const;
  // Called before `worker` is killed: it keeps no buffer any more.
  void ForgetKeeper(const PooledWorker* worker) const;

  IsolatedDecoderOptions options_;
  bool default_worker_ = false;
  // The images' planes: a capture's plane reuses the pages of one the
  // build has just released (core/plane_pool.h), instead of the kernel
  // faulting in and zeroing fresh ones for every file. Up to kKeptPlanes
  // kept: a plane is allocated only when none of its size is kept, so the
  // planes of a size never outnumber the most the build held at once
  // (plan/memory_plan.h counts those); keeping one only, two captures
  // released together lost one buffer, and faulting in fresh planes was
  // 2.4 % of a 16-copy NEF scene's CPU time (perf).
  static constexpr std::size_t kKeptPlanes = 16;
  PlanePool plane_pool_{kKeptPlanes};
  // The pool's planes: shared memory the worker normalises into
  // (raw/shared_planes.h), so the pixels are never copied between the
  // processes; plane_pool_ serves where that cannot be (no memfd, huge
  // pages, a worker that cannot map it). The same bound, kKeptPlanes.
  SharedPlanePool shared_planes_{kKeptPlanes};
  // Idle pooled workers; Decode takes one (or starts one) per request.
  mutable std::mutex pool_mutex_;
  mutable std::vector<std::unique_ptr<PooledWorker>> idle_;
  // Workers Release killed, reaped by the destructor (guarded by
  // pool_mutex_), and Release's thread freeing the kept planes (joined by
  // the destructor and by the next Release).
  mutable std::vector<std::unique_ptr<PooledWorker>> released_;
  mutable std::thread releasing_;
  // Prepare's workers still starting (guarded by pool_mutex_; `started_`
  // is signalled as each joins idle_ or fails), and its thread, joined by
  // the destructor.
  mutable int starting_ = 0;
  mutable std::condition_variable started_;
  mutable std::thread preparing_;
  // The one worker allowed to keep its last file's LibRaw buffer between
  // files (raw/decode_worker.h: kPixelsTakenKeep), null for none; Decode
  // takes it first when it is idle. Keeping the buffer spares the kernel
  // faulting in and zeroing it for every file (6-9 % of a 24 MP scene's
  // CPU); one worker only, because every worker keeping one raised the
  // peak of a 16 x 60 MP build with its workers by ~100 MB (an idle
  // worker's buffer next to the decoding one's), and one mostly serves the
  // next file (the decodes of a scene rarely overlap). Guarded by
  // pool_mutex_; only compared, never dereferenced.
  mutable const PooledWorker* keeper_ = nullptr;
  // Buffers of images up to this size (2 bytes a pixel: 8 MP) every worker
  // keeps, keeper or not. On a scene of 3.9 MP CRWs the worker without the
  // keeper's leave faulted in and zeroed its buffer for every file: 2.4 %
  // of the build's CPU (perf: canon_load_raw's page faults), which
  // LibRaw's own unpack of the same files in one process does not pay
  // (glibc reuses the freed buffer). What it costs is bounded and does
  // not grow with the image: at most this much per worker, beside each
  // worker's own ~12 MB and the last small file it read (at most
  // kKeptFileBytes, raw/decoder.h; plan/memory_plan.h leaves all three out
  // of the plan).
  static constexpr std::size_t kKeptByEveryWorkerBytes = std::size_t{16} << 20;
};

}  // namespace dsb
