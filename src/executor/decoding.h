// How a build decodes its raws: in a pool of worker processes (the default)
// or in this process, and how large a file it accepts.
//
// The pixel limit keeps one file within the machine: a scene needs at least
// one decoded GT and one capture in memory (plan/memory_plan.h:
// kBytesPerScenePixel), so a file with more pixels than MaxPixelsFor(physical
// memory) cannot be built here and is refused up front with kResourceExhausted,
// before its pixel data is read, instead of running the machine out of memory.
// --mem does not refuse files: it bounds how much is in flight, down to one
// capture at a time (executor/executor.h). Whatever the machine, nothing above
// kMaxDecodePixels (larger than any camera's sensor) is decoded: such a header
// is damaged or hostile.
//
// Thread safety: the decoder is shared by every scene's threads (its Decode
// is const and thread safe).
#pragma once

#include <cstddef>
#include <memory>

#include "executor/build_options.h"
#include "plan/memory_plan.h"
#include "raw/decoder.h"
#include "raw/raw_decoder.h"

namespace dsb {

inline constexpr std::size_t kMaxDecodePixels = 400'000'000;

struct BuildDecoding {
  std::unique_ptr<RawDecoder> decoder;
  DecodeOptions options;  // the pixel limit and what its refusal says
};

// `physical_memory` is the machine's RAM in bytes.
BuildDecoding MakeBuildDecoding(const BuildOptions& options,
                                std::size_t physical_memory);

}  // namespace dsb
