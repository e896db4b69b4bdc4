// 8-bit greyscale PNG encoding and decoding for loss masks, in memory, and
// writing them atomically through FileSystem.
//
// This is the one adapter between libpng and dsb::Status: libpng reports
// errors by longjmp, so each libpng call sequence runs in a function whose
// frame holds no C++ objects with destructors, and errors come back as a
// Status naming the file and keeping libpng's message.
//
// Encoding writes the PNG itself: filter type 0 on every row (a two-level
// mask's rows are runs or periodic already), image data from
// mask/row_deflate.h (matches of whole rows and of CFA periods), CRCs from
// libdeflate. Decoding is libpng's.
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

// Encodes `image` as an 8-bit greyscale PNG. `name` only labels errors.
Result<std::vector<std::uint8_t>> EncodeGreyPng(
    PlaneView<const std::uint8_t> image, std::string_view name);

// Decodes an 8-bit greyscale PNG (other formats are kUnsupported; damaged
// data is kCorrupt). `name` only labels errors.
Result<Plane<std::uint8_t>> DecodeGreyPng(std::span<const std::uint8_t> bytes,
                                          std::string_view name);

// Encodes and writes `image` to `path` with FileSystem::WriteFileAtomically.
Status WriteGreyPng(FileSystem& fs, const std::string& path,
                    PlaneView<const std::uint8_t> image);

// Reads and decodes the PNG at `path`.
Result<Plane<std::uint8_t>> ReadGreyPng(FileSystem& fs,
                                        const std::string& path);

}  // namespace dsb
