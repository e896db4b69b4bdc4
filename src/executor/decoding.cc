#include "executor/decoding.h"

#include <algorithm>
#include <cstdio>
#include <string>
#include <utility>

#include "raw/isolated_decoder.h"

namespace dsb {

namespace {

std::string HumanBytes(std::size_t bytes) {
  char text[32];
  if (bytes >= (std::size_t{1} << 30)) {
    std::snprintf(text, sizeof(text), "%.1f GiB",
                  static_cast<double>(bytes) / (1ull << 30));
  } else if (bytes >= (std::size_t{1} << 20)) {
    std::snprintf(text, sizeof(text), "%.0f MiB",
                  static_cast<double>(bytes) / (1ull << 20));
  } else {
    std::snprintf(text, sizeof(text), "%zu bytes", bytes);
  }
  return text;
}

}  // namespace

BuildDecoding MakeBuildDecoding(const BuildOptions& options,
                                std::size_t physical_memory) {
  BuildDecoding decoding;
  if (options.decode_in_process) {
    decoding.decoder = std::make_unique<InProcessDecoder>();
  } else {
    IsolatedDecoderOptions isolated;
    isolated.worker = options.decode_worker;
    if (options.decode_timeout_s > 0) {
      isolated.timeout_seconds = options.decode_timeout_s;
    }
    decoding.decoder = std::make_unique<IsolatedDecoder>(std::move(isolated));
  }
  const std::size_t by_memory = MaxPixelsFor(physical_memory);
  if (by_memory < kMaxDecodePixels) {
    decoding.options.max_pixels = by_memory;
    decoding.options.max_pixels_hint =
        "building a file needs about " + std::to_string(kBytesPerScenePixel) +
        " bytes of memory per pixel and this machine has " +
        HumanBytes(physical_memory);
  } else {
    decoding.options.max_pixels = kMaxDecodePixels;
    decoding.options.max_pixels_hint =
        "larger than any camera's sensor: the file's header is probably "
        "damaged";
  }
  return decoding;
}

}  // namespace dsb
