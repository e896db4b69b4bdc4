#include "hash/hash.h"

#include <xxhash.h>

#include <cstdio>
#include <memory>

namespace dsb {
namespace {

Hash128 FromXxh(XXH128_hash_t h) { return {h.high64, h.low64}; }

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

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

Result<Hash128> HashFile(FileSystem& fs, const std::string& path,
                         HashStats* stats, std::size_t buffer_size) {
  if (buffer_size == 0) buffer_size = kDefaultHashBufferSize;
  DSB_ASSIGN_OR_RETURN(std::unique_ptr<ReadableFile> file,
                       fs.OpenForRead(path));
  // Not thread_local: a multi-MB buffer per worker thread would outlive
  // the build; one allocation per raw file (tens of MB read) is noise.
  std::unique_ptr<std::uint8_t[]> buffer(new std::uint8_t[buffer_size]);
  Hasher hasher;
  std::uint64_t total = 0;
  while (true) {
    Result<std::size_t> n = file->Read({buffer.get(), buffer_size});
    if (!n.ok()) return n.status();
    if (*n == 0) break;
    hasher.AddRaw({buffer.get(), *n});
    total += *n;
  }
  if (stats != nullptr) {
    stats->files_hashed.fetch_add(1, std::memory_order_relaxed);
    stats->bytes_hashed.fetch_add(total, std::memory_order_relaxed);
  }
  return hasher.Finish();
}

}  // namespace dsb
