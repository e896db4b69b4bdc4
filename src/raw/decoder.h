// Decoding camera raws with LibRaw into a RawImage (raw/raw_image.h).
//
// DecodeRaw opens a file, checks that it is a colour-filter-array raw this
// tool can align (Bayer 2x2 or X-Trans 6x6; not Foveon, sRAW/mRAW or linear
// DNG), unpacks it and returns the visible area normalised per pixel as
// (raw - black) / (white - black), with LibRaw's common, per-channel and
// pattern black levels folded in. The CFA pattern is anchored at the
// visible origin. Every failure is a Status naming the file and the
// reason; LibRaw's data-error callback is captured, never printed.
//
// Thread safety: each call uses its own heap-allocated LibRaw object
// (libraw_r), so calls may run concurrently on different threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "common/result.h"
#include "core/cfa.h"
#include "core/plane.h"
#include "core/plane_pool.h"
#include "core/raw_image.h"
#include "raw/normalise.h"

namespace dsb {

struct DecodeOptions {
  // Files whose visible area has more pixels than this are refused with
  // kResourceExhausted before their data is read. 0 = no limit.
  std::size_t max_pixels = 0;
  // What that refusal tells the user to do (the build names its --mem).
  std::string max_pixels_hint = "raise max_pixels to decode it";
  // Hold the file whole in memory (read into a buffer the thread keeps, up
  // to kKeptFileBytes; mapped above that) and let LibRaw read it as memory
  // (open_buffer) instead of through its std::filebuf stream (open_file):
  // the same pixels, 1-12 % less of LibRaw's time (decoder.cc says where).
  // Only where a SIGBUS is survivable: a file that shrinks while it is
  // mapped faults on access, which in a decode worker fails that one file
  // and in the build's own process would end the build. So the decode
  // worker sets it; DecodeRaw in the build's process leaves it off (and its
  // threads keep no buffer).
  bool file_in_memory = false;
};

// The largest file file_in_memory holds; larger ones are read by name. A
// held file's pages count in the worker's memory while it unpacks (on top
// of LibRaw's buffer), and large files gain least: mapping the 120 MB DNGs of
// a 16 x 60 MP scene raised the peak PSS of the build and its 2 workers
// from 1,320-1,361 MB to 1,476-1,500 (the 1.5 GB target) for 3-7 % of
// LibRaw's time. 32 MiB covers the compressed raws of cameras up to ~40 MP,
// where LibRaw's byte-by-byte reading costs most (2.7 MP NEF: 9 %).
inline constexpr std::size_t kMaxInMemoryFileBytes = std::size_t{32} << 20;
// The largest file file_in_memory reads into the buffer a thread keeps
// (larger ones are mapped): what a decode worker holds between files
// beside LibRaw's buffer (raw/isolated_decoder.h), enough for the
// compressed raws of cameras up to ~12 MP.
inline constexpr std::size_t kKeptFileBytes = std::size_t{8} << 20;

// With `pool`, the image's plane comes from it (core/plane_pool.h: the
// pages of a plane released a moment ago, not fresh ones the kernel must
// fault in and zero: at 60 MP that was a third of DecodeRaw's time).
Result<RawImage> DecodeRaw(const std::string& path,
                           const DecodeOptions& options = {},
                           const PlanePool* pool = nullptr);

// DecodeRaw in two steps, for a caller that chooses where the pixels go:
// the decode worker (raw/decode_worker.h) normalises them straight into
// the memory it hands back, so the image is written once. UnpackRaw does
// every check DecodeRaw does and returns the same errors; Normalise
// writes exactly the pixels DecodeRaw would.
class UnpackedRaw {
 public:
  struct State;  // LibRaw's object and the black levels (decoder.cc)
  explicit UnpackedRaw(std::unique_ptr<State> state);
  UnpackedRaw(UnpackedRaw&&) noexcept;
  UnpackedRaw& operator=(UnpackedRaw&&) noexcept;
  ~UnpackedRaw();

  int width() const;  // the visible area
  int height() const;
  const CfaPattern& cfa() const;  // anchored at the visible origin
  const RawMetadata& meta() const;
  // Writes the visible area, normalised, into `out` (width x height);
  // `stores` as raw/normalise.h (the same bits whichever).
  void Normalise(PlaneView<float> out,
                 RowStores stores = RowStores::kAuto) const;
  // What Normalise applies (raw/normalise.h), and the visible area's raw
  // values, row after row, width x height of them into `out`: a
  // RowNormaliser over these gives exactly Normalise's pixels.
  const BlackLevels& levels() const;
  void CopyRaw(std::uint16_t* out) const;
  // The same values where LibRaw keeps them: row y of the visible area
  // starts at RawRows() + y * raw_pitch().
  const std::uint16_t* RawRows() const { return RawRow(0); }
  std::size_t raw_pitch() const;
  // The bytes of LibRaw's buffer that holds them (freed with this object).
  std::size_t raw_buffer_bytes() const;
  // Whether LibRaw read the file from memory (DecodeOptions::file_in_memory
  // and the file could be read whole) rather than by name.
  bool read_from_memory() const;

 private:
  const std::uint16_t* RawRow(int y) const;  // row y of the visible area

  std::unique_ptr<State> state_;
};

Result<UnpackedRaw> UnpackRaw(const std::string& path,
                              const DecodeOptions& options = {});

// What can be known from the header alone (no pixel data is unpacked).
struct RawInfo {
  std::string make;
  std::string model;
  int raw_width = 0, raw_height = 0;
  int visible_top = 0, visible_left = 0;
  int width = 0, height = 0;  // visible area
  CfaPattern cfa;             // anchored at the visible origin
};

Result<RawInfo> ProbeRaw(const std::string& path);

}  // namespace dsb
