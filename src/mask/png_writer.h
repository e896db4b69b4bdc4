// 8-bit greyscale PNG encoding and decoding for loss masks, in memory, and
// writing them atomically through FileSystem.
//
// This is the one adapter between libpng and dsb::Status: libpng reports
// errors by longjmp, so each libpng call sequence runs in a function whose
// frame holds no C++ objects with destructors, and errors come back as a
// Status naming the file and keeping libpng's message.
//
// Masks are two-level, so encoding uses no filter and zlib level 1, with
// run-length matching (Z_RLE) for masks of long runs and full matching for
// those of short ones (per-sample clipping: png_writer.cc HasShortRuns).
//
// Thread safety: all functions are reentrant (libpng state is per call).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/file_system.h"
#include "common/result.h"
#include "core/plane.h"

namespace dsb {

struct PngOptions {
  // zlib level, 0 (store) to 9 (smallest, slowest).
  int compression_level = 1;
};

// Encodes `image` as an 8-bit greyscale PNG. `name` only labels errors.
Result<std::vector<std::uint8_t>> EncodeGreyPng(
    PlaneView<const std::uint8_t> image, std::string_view name,
    const PngOptions& options = {});

// Decodes an 8-bit greyscale PNG (other formats are kUnsupported; damaged
// data is kCorrupt). `name` only labels errors.
Result<Plane<std::uint8_t>> DecodeGreyPng(std::span<const std::uint8_t> bytes,
                                          std::string_view name);

// Encodes and writes `image` to `path` with FileSystem::WriteFileAtomically.
Status WriteGreyPng(FileSystem& fs, const std::string& path,
                    PlaneView<const std::uint8_t> image,
                    const PngOptions& options = {});

// Reads and decodes the PNG at `path`.
Result<Plane<std::uint8_t>> ReadGreyPng(FileSystem& fs,
                                        const std::string& path);

}  // namespace dsb
