// The record a decode worker process hands back to the build: either a
// decoded RawImage or the Status saying why there is none.
//
// The worker (raw/decode_worker.h) writes one record into a memfd its
// parent created; the parent (raw/isolated_decoder.h) reads it back. The
// layout is private to one dataset-build binary talking to itself, so it is
// native-endian, but it starts with a magic and a version so that a
// mismatched worker is recognised rather than misread:
//
//   offset 0   "DSBDECOD" magic, u32 version, u32 kind (image | error),
//              u32 body size, u32 reserved
//   offset 24  body. error: u32 code, u32 length, message bytes.
//              image: i32 width, i32 height, u32 CFA period, 36 colour
//              bytes (the pattern's 6x6 grid), metadata (strings as u32
//              length + bytes, floats as their bits), u32 pixel encoding
//              (1: floats; 2: raw u16 values, followed by the black
//              levels' tile height and width as u32, the white level and
//              the tile's black levels as floats; 3: as 2, then the u64
//              address and u64 row pitch (in values) of the raw values in
//              the writer's own memory), u64 pixel offset, u64 pixel bytes
//              (0 for encoding 3)
//   pixel offset (the end of the body rounded up to a 4096-byte page, so
//              the writer can map the pixels): width x height floats or
//              u16 values, row after row, and nothing after them.
//
// The decode worker writes raw u16 values and the reader normalises them
// into the image's float plane as it copies them out (raw/normalise.h,
// the same arithmetic as the in-process decoder, so the same bits): the
// record a worker keeps between files is 2 bytes a pixel instead of 4
// (115 MB less per worker at 60 MP, issue 17's memory target).
//
// A serving worker goes one step further (encoding 3): it leaves the raw
// values in LibRaw's own buffer and the reader copies them out of the
// worker's memory with process_vm_readv (a RemoteRead), so no record of
// pixels exists at all: the worker holds one buffer while it decodes and
// frees it as soon as the build has the pixels. Where this process may not
// read the worker's memory (ptrace restrictions, a seccomp filter), the
// reader says so (RemotePixels::kRefused) and the worker is asked to write
// the values into the record instead (raw/decode_worker.h).
//
// The pool goes further still (a RemoteFill): the worker normalises the
// values itself, straight into a shared plane the image then adopts
// (raw/shared_planes.h), so the build neither copies nor normalises them;
// the RemoteRead is the fallback where that cannot be.
//
// The reader treats the record as untrusted input: a worker that LibRaw
// corrupted can write anything. Every size is checked against the others
// and against the memfd's size before anything is allocated, the pixel
// count against the caller's limit, the CFA pattern against the patterns
// this tool knows; the pixels are read straight into the image's plane.
//
// Thread safety: free functions on caller-owned descriptors.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>

#include "common/result.h"
#include "common/status.h"
#include "core/cfa.h"
#include "core/plane.h"
#include "core/plane_pool.h"
#include "core/raw_image.h"
#include "raw/normalise.h"

namespace dsb {

// 4: raw u16 pixels left in the writer's memory; 3: raw u16 pixels with
// their black levels (2 had only floats, 1 had them on 64 bytes).
inline constexpr std::uint32_t kDecodeRecordVersion = 4;

// The most black levels a raw record's tile holds (a longer table, from an
// unusual black pattern, goes as floats instead).
inline constexpr std::size_t kMaxRecordBlackLevels = 4096;

// Writes `decoded` (an image, or the error a decode returned) to `fd` from
// offset 0 and sizes the file to fit it exactly.
Status WriteDecodeRecord(int fd, const Result<RawImage>& decoded);

// Writes an image record whose pixels `fill` writes into `out` (width x
// height): where `fd` can be mapped (a memfd, a regular file) `out` is the
// record's own memory, so the pixels are written once and never copied.
using PixelFill = std::function<void(PlaneView<float> out)>;

// A serving worker's record memory, kept from one record to the next: the
// memfd only grows and stays mapped, so a record no larger than one before
// costs no page allocation, zeroing or fault (on this project's VM,
// populating a fresh 96 MB record cost about as much as LibRaw's unpack of
// the 24 MP file). Records written through it do not shrink the file: the
// reader is told each record's size.
class RecordMapping {
 public:
  explicit RecordMapping(int fd) : fd_(fd) {}
  ~RecordMapping();
  RecordMapping(const RecordMapping&) = delete;
  RecordMapping& operator=(const RecordMapping&) = delete;
  // The first `bytes` bytes of the file, mapped writable (grown as needed).
  Result<std::uint8_t*> Reserve(std::size_t bytes);

 private:
  int fd_;
  std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
};

// With `mapping`, the record goes through it and its size is stored in
// `*record_size`; without, the file is sized to the record exactly.
Status WriteImageRecord(int fd, int width, int height, const CfaPattern& cfa,
                        const RawMetadata& meta, const PixelFill& fill,
                        RecordMapping* mapping = nullptr,
                        std::uint64_t* record_size = nullptr);
// An image record of raw u16 values (`fill` writes width x height of them,
// row after row, into the record's memory) that `levels` normalise;
// `levels` holds at most kMaxRecordBlackLevels levels.
using RawFill = std::function<void(std::uint16_t* out)>;
Status WriteRawImageRecord(int fd, int width, int height, const CfaPattern& cfa,
                           const RawMetadata& meta, const BlackLevels& levels,
                           const RawFill& fill,
                           RecordMapping* mapping = nullptr,
                           std::uint64_t* record_size = nullptr);
// An image record whose raw values stay in this process's memory: `rows`
// points at the first value of the first row, rows `pitch` values apart
// (pitch >= width). The reader copies them with a RemoteRead; `rows` must
// stay valid until it has.
Status WriteRemoteImageRecord(int fd, int width, int height,
                              const CfaPattern& cfa, const RawMetadata& meta,
                              const BlackLevels& levels,
                              const std::uint16_t* rows, std::size_t pitch,
                              RecordMapping* mapping = nullptr,
                              std::uint64_t* record_size = nullptr);
Status WriteErrorRecord(int fd, const Status& error,
                        RecordMapping* mapping = nullptr,
                        std::uint64_t* record_size = nullptr);

// Copies `rows` rows of `row_bytes` bytes, the first at `address` of the
// worker's memory and each `pitch_bytes` after the last, into `out`
// (contiguous). Returns 0, or the errno that stopped it.
using RemoteRead =
    std::function<int(std::uint64_t address, std::size_t pitch_bytes, int rows,
                      std::size_t row_bytes, void* out)>;

// Has the writer write an image record's pixels, left in its memory,
// itself: given the image's size, returns a plane the writer has filled
// (normalised, as the reader would; raw/shared_planes.h), kUnsupported
// where it cannot (the reader then copies the raw values with the
// RemoteRead), or another error (the writer failed: returned as it is).
using RemoteFill = std::function<Result<Plane<float>>(int width, int height)>;

// What happened to an image record's pixels left in the writer's memory.
enum class RemotePixels {
  kNone,     // the record holds its pixels (or is no image)
  kTaken,    // copied out with the RemoteRead, or written by the RemoteFill
  kRefused,  // this process may not read the worker's memory: the result
             // is an error; ask the worker for the pixels in the record
};

// Reads the record of `fd` back. Returns the image (its path set to
// `path`), the error the worker recorded, or kInternal naming `path` when
// the record is malformed. Images with more than `max_pixels` pixels are
// refused as malformed (0 = no limit). `record_size`: the record's length
// as its writer reported it (no larger than the file), 0 = the file's size.
// With `pool`, the image's plane comes from it (core/plane_pool.h: pages
// reused, not faulted in and zeroed afresh).
Result<RawImage> ReadDecodeRecord(int fd, const std::string& path,
                                  std::size_t max_pixels,
                                  std::uint64_t record_size = 0,
                                  const PlanePool* pool = nullptr,
                                  const RemoteRead* remote = nullptr,
                                  RemotePixels* remote_pixels = nullptr,
                                  const RemoteFill* fill = nullptr);

// The same, from the record's bytes mapped in this process (the pool reads
// a serving worker's memfd through a mapping it keeps, which copies the
// pixels with memcpy instead of pread's page-by-page copy). The header and
// metadata are copied out before they are checked, so a worker writing to
// the mapping meanwhile can garble pixels but not the checks; the caller
// must keep the mapping's pages valid (the pool seals the memfd against
// shrinking, so they cannot vanish under the copy).
// `remote` reads pixels a record left in the worker's memory (without it
// such a record is malformed); `*remote_pixels` says what became of them;
// `fill`, when given, is tried first.
Result<RawImage> ReadDecodeRecord(
    std::span<const std::uint8_t> mapped, const std::string& path,
    std::size_t max_pixels, std::uint64_t record_size = 0,
    const PlanePool* pool = nullptr, const RemoteRead* remote = nullptr,
    RemotePixels* remote_pixels = nullptr, const RemoteFill* fill = nullptr);

}  // namespace dsb
