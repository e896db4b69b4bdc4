#include "raw/normalise.h"

#include "common/vector_clones.h"

namespace dsb {

RowNormaliser::RowNormaliser(const BlackLevels& levels, int width)
    : width_(width), tile_height_(levels.height) {
  const auto w = static_cast<std::size_t>(width);
  black_rows_.resize(static_cast<std::size_t>(levels.height) * w);
  range_rows_.resize(black_rows_.size());
  for (int ty = 0; ty < levels.height; ++ty) {
    for (int x = 0; x < width; ++x) {
      const float black =
          levels.black[static_cast<std::size_t>(ty) * levels.width +
                       static_cast<std::size_t>(x % levels.width)];
      black_rows_[ty * w + x] = black;
      range_rows_[ty * w + x] = levels.white - black;
    }
  }
}

// Compiled for AVX2 too (common/vector_clones.h): the division is most of
// the cost, and AVX2 divides 8 floats at once where SSE2 divides 4 (an
// IEEE division rounds the same at any width: same bits).
DSB_VECTOR_CLONES void RowNormaliser::Row(int y,
                                          const std::uint16_t* __restrict in,
                                          float* __restrict out) const {
  const std::size_t tile_row = static_cast<std::size_t>(y % tile_height_) *
                               static_cast<std::size_t>(width_);
  const float* __restrict blacks = black_rows_.data() + tile_row;
  const float* __restrict ranges = range_rows_.data() + tile_row;
  // The same arithmetic per pixel as ever, so values are bit for bit what
  // they were.
  for (int x = 0; x < width_; ++x) {
    out[x] = (static_cast<float>(in[x]) - blacks[x]) / ranges[x];
  }
}

}  // namespace dsb
