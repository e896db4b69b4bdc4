// fingerprint: the content hash of a scanned file, recomputed only when the
// cheap check says the file may have changed.
//
// Like git's index and ninja's logs: a recorded hash is reused when the
// file's size, mtime and inode are what they were, unless the mtime is
// "racy". A file modified in the same timestamp tick as (or after) the
// moment its hash was taken could change again without its mtime moving, so
// a hash is trusted only for files whose mtime is clearly older than the
// time the hash was recorded. Such files are rehashed, and the new record
// (taken before reading) settles them on the next run.
//
// Thread safety: Fingerprint may be called concurrently; FingerprintStats
// counters are atomic.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "common/file_system.h"
#include "common/result.h"
#include "core/file_record.h"
#include "hash/hash.h"

namespace dsb {

struct FingerprintStats {
  std::atomic<std::uint64_t> files_checked{0};
  std::atomic<std::uint64_t> files_reused{0};
  std::atomic<std::uint64_t> files_rehashed{0};
  std::atomic<std::uint64_t> bytes_hashed{0};
};

struct FingerprintOptions {
  // --verify: rehash every file whatever the records say.
  bool verify = false;
  // "Now" for the racy check; 0 means ask the FileSystem.
  std::int64_t now_ns = 0;
  // A file whose mtime is not older than recorded_at - racy_window_ns is
  // racy. One second covers file systems with 1 s timestamps; FAT's 2 s
  // needs more (set it).
  std::int64_t racy_window_ns = 1'000'000'000;
  // A file modified within this long before now is still being written,
  // or may be; its hash is not reused.
  std::int64_t recent_window_ns = 2'000'000'000;
  FingerprintStats* stats = nullptr;
  std::size_t buffer_size = kDefaultHashBufferSize;
};

struct FingerprintResult {
  std::string hash_hex;
  bool rehashed = false;
  // Why it was rehashed: "new", "size changed", "mtime changed",
  // "inode changed", "racy", "--verify", "no hash recorded"; "" if reused.
  std::string why;
  // What to store as FileRecord::hashed_at_ns: the time before reading,
  // or the known record's when reused.
  std::int64_t recorded_at_ns = 0;
};

// The hash of root/file.rel_path. `file` is as scanned now (its stat
// fields are read); `known` is the manifest's record of the same rel_path
// from the last build, or nullptr. A file whose size changes while it is read
// is an error (the build fails the scene and retries it next time).
Result<FingerprintResult> Fingerprint(FileSystem& fs, const std::string& root,
                                      const FileRecord& file,
                                      const FileRecord* known,
                                      const FingerprintOptions& options);

// When Fingerprint would reuse `known`'s hash for `file`: copies it (and
// when it was taken) into `file`, counts the file as checked and reused,
// and returns true. Otherwise returns false and leaves `file` and the
// counters alone (Fingerprint then hashes it). No I/O: the build settles
// every unchanged file this way without starting a thread.
bool ReuseRecordedHash(FileSystem& fs, FileRecord& file,
                       const FileRecord* known,
                       const FingerprintOptions& options);

// The reason Fingerprint would rehash `file` given `known`, or "" when the
// recorded hash can be reused. No I/O.
std::string RehashReason(const FileRecord& file, const FileRecord* known,
                         const FingerprintOptions& options,
                         std::int64_t now_ns);

}  // namespace dsb
