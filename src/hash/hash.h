// hash: content hashes of raw files and of scene keys (XXH3-128).
//
// HashFile streams a file through XXH3-128: with read() into a buffer that
// stays in the core's cache or, when asked (HashFileOptions::map_window),
// through read-only mappings of the file a window at a time (no copy out of
// the page cache; a file that shrinks under the mapping is an error naming
// it, hash/mapped_read.h). XXH3 runs its widest vector code the CPU has
// (xxHash's x86 dispatch, where the library has it); the hash is the same
// on every path and every CPU (XXH3's specification). Hasher builds a
// hash from typed fields with explicit lengths and a fixed byte order, so
// the same inputs give the same hash on every machine and two different
// field lists cannot collide by concatenation.
//
// Thread safety: HashFile may be called concurrently (it keeps its buffer
// per call); HashStats counters are atomic and may be shared by threads; a
// Hasher is not thread safe.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "common/file_system.h"
#include "common/result.h"

namespace dsb {

struct Hash128 {
  std::uint64_t high = 0;
  std::uint64_t low = 0;

  // 32 lowercase hex digits, high then low: XXH128's canonical form, the
  // same text `xxhsum -H2` prints.
  std::string ToHex() const;
  // Accepts exactly 32 hex digits (either case).
  static std::optional<Hash128> FromHex(std::string_view hex);
  bool operator==(const Hash128&) const = default;
};

// Work counters, so a build can assert that a rerun hashed nothing.
struct HashStats {
  std::atomic<std::uint64_t> files_hashed{0};
  std::atomic<std::uint64_t> bytes_hashed{0};
};

// The read size where a file is read: small enough that the copy and the
// hash meet in the core's L2 (4 MiB buffers cost 0.36 core-s for 16 x 60 MP
// files against 0.31 for 256 KiB; the mappings 0.15).
inline constexpr std::size_t kDefaultHashBufferSize = 256 << 10;
// A window for map_window: the pages a hashing thread holds mapped (and so
// counts in the build's PSS) stay this few.
inline constexpr std::size_t kHashMapWindow = 8 << 20;

struct HashFileOptions {
  // Counts the file and its bytes, if given.
  HashStats* stats = nullptr;
  // The read size where the file is read (tests use small ones).
  std::size_t buffer_size = kDefaultHashBufferSize;
  // The mapping window where it is mapped (a multiple of the page size,
  // e.g. kHashMapWindow); 0: always read.
  //
  // Why read() by default: its cost does not hinge on the host, a mapping's
  // does. A read copies out of the page cache into the same 256 KiB at
  // 5-7 GB/s on this project's VM; a mapping needs no copy but new page
  // table entries for every page, and what those cost varies with the
  // host: once 16 x 60 MP files hashed in 0.15 core-s mapped against 0.36
  // read (~12 against 5 GB/s), and on 2 December 2026 the NEF copies of a
  // build (3.9 MB each) and 120 MB files hashed at 1.1-1.6 GB/s mapped
  // against 5.1-7.0 read (the first touch of a page of a new mapping cost
  // 2-30 us there). Read is never the slow one by much; mapped can be 5x.
  std::size_t map_window = 0;
  // Called before each buffer is read or mapped window is hashed (after it
  // is mapped) with the bytes hashed so far: tests change the file here.
  std::function<void(std::uint64_t)> before_block;
};

// The XXH3-128 of the file's content. The bytes hashed are the file's up to
// its end as seen at the last read; a file that shrinks while it is mapped
// is an error (kIoError) that names it.
Result<Hash128> HashFile(FileSystem& fs, const std::string& path,
                         const HashFileOptions& options);
inline Result<Hash128> HashFile(
    FileSystem& fs, const std::string& path, HashStats* stats = nullptr,
    std::size_t buffer_size = kDefaultHashBufferSize) {
  HashFileOptions options;
  options.stats = stats;
  options.buffer_size = buffer_size;
  return HashFile(fs, path, options);
}

// The XXH3-128 of `bytes` in one shot.
Hash128 HashBytes(std::span<const std::uint8_t> bytes);
Hash128 HashBytes(std::string_view bytes);

// Incremental XXH3-128 over typed fields. AddString writes the length
// (8 bytes, little-endian) before the bytes; integers are written as 8
// little-endian bytes.
class Hasher {
 public:
  Hasher();
  ~Hasher();
  Hasher(const Hasher&) = delete;
  Hasher& operator=(const Hasher&) = delete;

  Hasher& AddString(std::string_view s);
  Hasher& AddU64(std::uint64_t v);
  Hasher& AddI64(std::int64_t v) {
    return AddU64(static_cast<std::uint64_t>(v));
  }
  // Raw bytes, with no length in front (for callers that frame their own).
  Hasher& AddRaw(std::span<const std::uint8_t> bytes);
  // The hash of everything added so far; more may be added afterwards.
  Hash128 Finish() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace dsb
