// hash: content hashes of raw files and of scene keys (XXH3-128).
//
// HashFile streams a file through XXH3-128 with a large buffer (files are
// tens of MB; fewer, larger reads keep disks streaming). Hasher builds a
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

inline constexpr std::size_t kDefaultHashBufferSize = 4 << 20;

// The XXH3-128 of the file's content. `stats`, if given, counts the file
// and its bytes. `buffer_size` is the read size (tests use small ones).
Result<Hash128> HashFile(FileSystem& fs, const std::string& path,
                         HashStats* stats = nullptr,
                         std::size_t buffer_size = kDefaultHashBufferSize);

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
