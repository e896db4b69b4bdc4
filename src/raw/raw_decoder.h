// The decoder interface the build uses, so it can choose where decoding runs
// and tests can substitute a fake.
//
// Two implementations: InProcessDecoder (below) calls DecodeRaw
// (raw/decoder.h) in the calling thread; IsolatedDecoder
// (raw/isolated_decoder.h) decodes in worker processes (a pool of
// long-lived ones, or one per file), so a
// LibRaw crash fails that one file instead of the whole build. Both return
// the same RawImage for the same file, bit for bit, and the same errors.
//
// Thread safety: Decode is const and may be called from many threads at
// once.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "common/result.h"
#include "core/plane_pool.h"
#include "core/raw_image.h"
#include "raw/decoder.h"

namespace dsb {

class RawDecoder {
 public:
  virtual ~RawDecoder() = default;
  virtual Result<RawImage> Decode(const std::string& path,
                                  const DecodeOptions& options) const = 0;
  // For logs and benchmarks: "in-process" or "isolated".
  virtual std::string_view name() const = 0;
  // A hint before the first Decode: decodes with `options` on up to
  // `threads` threads at once are coming. A decoder may get ready in the
  // background (the isolated decoder starts its worker processes); never
  // required, and the default does nothing.
  virtual void Prepare(const DecodeOptions& options, int threads) const {
    (void)options;
    (void)threads;
  }
  // A hint after the last Decode for now: nothing more is coming soon. A
  // decoder may let go of what it keeps for the next file, without waiting
  // for it (the isolated decoder signals its idle worker processes to end,
  // so they exit while the build records its results). A later Decode
  // still works (it gets ready again). The default does nothing.
  virtual void Release() const {}
};

class InProcessDecoder final : public RawDecoder {
 public:
  Result<RawImage> Decode(const std::string& path,
                          const DecodeOptions& options) const override {
    return DecodeRaw(path, options, &plane_pool_);
  }
  std::string_view name() const override { return "in-process"; }

 private:
  // The images' planes reuse the pages of ones the build has released, as
  // the isolated decoder's do (raw/isolated_decoder.h says why, and why
  // this many).
  static constexpr std::size_t kKeptPlanes = 16;
  PlanePool plane_pool_{kKeptPlanes};
};

}  // namespace dsb
