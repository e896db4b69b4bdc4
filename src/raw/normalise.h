// Raw sensor values to the floats the build works on: for every pixel of
// the visible area, (raw - black) / (white - black), with black taken from
// a small tile of levels anchored at the visible origin (LibRaw's common,
// per-channel and pattern black folded together; raw/decoder.h).
//
// One definition, used by the in-process decoder, by a pooled decode
// worker writing the build's shared plane (raw/shared_planes.h), and by the
// build when it copies a worker's raw 16-bit values out instead (a record
// carries them and these levels, raw/decode_record.h): the same bits
// whichever.
//
// Writing the floats is most of the cost, not the arithmetic: a 60 MP
// plane is 240 MB, far past any cache, and ordinary stores read every line
// of it from memory before they overwrite it. A normaliser made for a large
// image (`streaming`) writes with non-temporal stores instead, which skip
// that read: a 60 MP plane took 17 ms instead of 61 (the same divisions, so
// the same bits). Small images keep ordinary stores, which leave the plane
// in the cache for the stage that reads it next. Into pages not yet faulted
// in, non-temporal stores cost more than ordinary ones (the kernel zeroes
// each page in the cache, which is then written back and overwritten: 160
// ms against 135 for a fresh 240 MB plane), so the plane's missing pages
// are populated first, in one call (75 ms with the stores); a plane reused
// from core/plane_pool.h has none missing.
//
// Thread safety: a RowNormaliser is immutable once made; Row may run on
// many threads at once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace dsb {

struct BlackLevels {
  int height = 0;            // the tile: the CFA period, or its lcm with
  int width = 0;             // the black pattern's
  std::vector<float> black;  // height x width, row after row
  float white = 0;
};

// Planes of at least this many bytes are written with non-temporal stores
// (16 M floats, 64 MB: 16 times the largest L2 cache we run on).
inline constexpr std::size_t kStreamingPlaneBytes = std::size_t{64} << 20;

// Which stores Row uses: kAuto chooses by the image's size (above); the
// others are for tests (kStreamingBaseline: the SSE2 path even where the
// CPU has AVX2; both are ordinary stores off x86-64).
enum class RowStores { kAuto, kCached, kStreaming, kStreamingBaseline };

class RowNormaliser {
 public:
  // For rows `width` pixels wide of an image `height` rows high (which
  // chooses the stores, above); `levels` has a non-empty tile.
  RowNormaliser(const BlackLevels& levels, int width, int height,
                RowStores stores = RowStores::kAuto);

  // For a streaming normaliser, before its rows are written: makes the
  // `bytes` bytes at `data` (the plane Row writes) resident. Where the
  // kernel cannot populate them (before Linux 5.14), it falls back to
  // ordinary stores. A no-op for an ordinary normaliser.
  void PrepareDestination(void* data, std::size_t bytes);

  // Writes row `y` (of the visible area): out[x] for x < width from in[x].
  // A streaming normaliser's stores are complete (fenced) when Row returns.
  void Row(int y, const std::uint16_t* in, float* out) const;

  bool streaming() const { return stores_ != RowStores::kCached; }

 private:
  int width_;
  int tile_height_;
  RowStores stores_;  // never kAuto
  // The tile's black levels and denominators spread over whole rows, one
  // pair of rows per tile row, so the loop has no modulo and vectorises.
  std::vector<float> black_rows_;
  std::vector<float> range_rows_;
};

}  // namespace dsb
