#include "hash/hash.h"

#include <xxhash.h>
#if defined(DSB_XXH_DISPATCH)
// XXH3's entry points replaced by the library's dispatching ones (AVX2 or
// AVX-512 where the CPU has them; the same hashes).
#include <xxh_x86dispatch.h>
#endif

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>

#include "hash/mapped_read.h"

namespace dsb {
namespace {

Hash128 FromXxh(XXH128_hash_t h) { return {h.high64, h.low64}; }

// Each byte's hex digit value, -1 for a byte that is none: a table, since
// every run checks the recorded hash of every file (32 digits each) and the
// comparisons' branches mispredicted on random digits.
constexpr std::array<std::int8_t, 256> kHexValues = [] {
  std::array<std::int8_t, 256> values{};
  values.fill(-1);
  for (int c = '0'; c <= '9'; ++c)
    values[c] = static_cast<std::int8_t>(c - '0');
  for (int c = 'a'; c <= 'f'; ++c) {
    values[c] = static_cast<std::int8_t>(c - 'a' + 10);
    values[c - 'a' + 'A'] = static_cast<std::int8_t>(c - 'a' + 10);
  }
  return values;
}();

int HexValue(char c) { return kHexValues[static_cast<unsigned char>(c)]; }

}  // namespace

std::string Hash128::ToHex() const {
  char buf[33];
  std::snprintf(buf, sizeof(buf), "%016llx%016llx",
                static_cast<unsigned long long>(high),
                static_cast<unsigned long long>(low));
  return std::string(buf, 32);
}

std::optional<Hash128> Hash128::FromHex(std::string_view hex) {
  if (hex.size() != 32) return std::nullopt;
  Hash128 out;
  for (std::size_t i = 0; i < 32; ++i) {
    int v = HexValue(hex[i]);
    if (v < 0) return std::nullopt;
    std::uint64_t& word = i < 16 ? out.high : out.low;
    word = (word << 4) | static_cast<std::uint64_t>(v);
  }
  return out;
}

struct Hasher::State {
  XXH3_state_t* xxh = nullptr;
};

Hasher::Hasher() : state_(std::make_unique<State>()) {
  state_->xxh = XXH3_createState();
  if (state_->xxh == nullptr) std::abort();  // out of memory
  XXH3_128bits_reset(state_->xxh);
}

Hasher::~Hasher() { XXH3_freeState(state_->xxh); }

Hasher& Hasher::AddRaw(std::span<const std::uint8_t> bytes) {
  XXH3_128bits_update(state_->xxh, bytes.data(), bytes.size());
  return *this;
}

Hasher& Hasher::AddU64(std::uint64_t v) {
  // Little-endian whatever the host, so keys agree across machines.
  std::uint8_t bytes[8];
  for (int i = 0; i < 8; ++i)
    bytes[i] = static_cast<std::uint8_t>(v >> (8 * i));
  return AddRaw(bytes);
}

Hasher& Hasher::AddString(std::string_view s) {
  AddU64(s.size());
  return AddRaw({reinterpret_cast<const std::uint8_t*>(s.data()), s.size()});
}

Hash128 Hasher::Finish() const {
  return FromXxh(XXH3_128bits_digest(state_->xxh));
}

Hash128 HashBytes(std::span<const std::uint8_t> bytes) {
  return FromXxh(XXH3_128bits(bytes.data(), bytes.size()));
}

Hash128 HashBytes(std::string_view bytes) {
  return FromXxh(XXH3_128bits(bytes.data(), bytes.size()));
}

namespace {

void AddBytes(std::span<const std::uint8_t> bytes, void* state) {
  XXH3_128bits_update(static_cast<XXH3_state_t*>(state), bytes.data(),
                      bytes.size());
}

// Hashes `file` window by window until its end as its size says after each
// window (so a file that grows while it is hashed is hashed to its new end,
// as read() would). nullopt: the file cannot be mapped (read it instead).
std::optional<Result<std::uint64_t>> HashMapped(
    ReadableFile& file, const std::string& path, XXH3_state_t* state,
    const HashFileOptions& options) {
  std::optional<std::uint64_t> size = file.MappableSize();
  if (!size.has_value()) return std::nullopt;
  std::uint64_t done = 0;
  while (done < *size) {
    const auto length = static_cast<std::size_t>(
        std::min<std::uint64_t>(options.map_window, *size - done));
    Result<std::unique_ptr<FileMapping>> mapping = file.Map(done, length);
    if (!mapping.ok()) {
      // Nothing hashed yet: a file that cannot be mapped is read instead.
      if (done == 0) return std::nullopt;
      return Result<std::uint64_t>(mapping.status());
    }
    if (options.before_block) options.before_block(done);
    if (!ReadMappedGuarded((*mapping)->bytes(), AddBytes, state)) {
      return Result<std::uint64_t>(Status::IoError(
          "'" + path + "' shrank while being hashed (part of its bytes " +
          std::to_string(done) + "-" + std::to_string(done + length) +
          " was gone when read; is something rewriting or truncating it?)"));
    }
    done += length;
    size = file.MappableSize();
    if (!size.has_value()) {
      return Result<std::uint64_t>(
          Status::IoError("'" + path + "' could not be stat'ed while hashed"));
    }
  }
  return Result<std::uint64_t>(done);
}

}  // namespace

Result<Hash128> HashFile(FileSystem& fs, const std::string& path,
                         const HashFileOptions& options) {
  const std::size_t buffer_size =
      options.buffer_size == 0 ? kDefaultHashBufferSize : options.buffer_size;
  DSB_ASSIGN_OR_RETURN(std::unique_ptr<ReadableFile> file,
                       fs.OpenForRead(path));
  XXH3_state_t* state = XXH3_createState();
  if (state == nullptr) std::abort();  // out of memory
  std::unique_ptr<XXH3_state_t, XXH_errorcode (*)(XXH3_state_t*)> owned(
      state, XXH3_freeState);
  XXH3_128bits_reset(state);
  std::uint64_t total = 0;
  std::optional<Result<std::uint64_t>> mapped;
  if (options.map_window > 0) {
    mapped = HashMapped(*file, path, state, options);
  }
  if (mapped.has_value()) {
    if (!mapped->ok()) return mapped->status();
    total = **mapped;
  } else {
    // Not thread_local: a buffer per worker thread would outlive the build;
    // one allocation per raw file (tens of MB read) is noise.
    std::unique_ptr<std::uint8_t[]> buffer(new std::uint8_t[buffer_size]);
    while (true) {
      if (options.before_block) options.before_block(total);
      Result<std::size_t> n = file->Read({buffer.get(), buffer_size});
      if (!n.ok()) return n.status();
      if (*n == 0) break;
      XXH3_128bits_update(state, buffer.get(), *n);
      total += *n;
    }
  }
  if (options.stats != nullptr) {
    options.stats->files_hashed.fetch_add(1, std::memory_order_relaxed);
    options.stats->bytes_hashed.fetch_add(total, std::memory_order_relaxed);
  }
  return FromXxh(XXH3_128bits_digest(state));
}

}  // namespace dsb
