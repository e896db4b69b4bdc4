#include "align/fine_reference.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <mutex>

#include "align/float_lanes.h"
#include "align/mosaic_luma.h"
#include "common/prefetch.h"
#include "common/vector_clones.h"

namespace dsb {

namespace {

// ClippedShares counts clipping on about this many pairs of rows (plenty
// for three shares).
constexpr int kClipCountRowPairs = 64;

// The clipped pixels of one row at each column modulo 24 (a multiple of
// both CFA periods), 24 columns at a time in three vectors of counters:
// counts, so any order gives the same.
DSB_VECTOR_CLONES void ClippedByColumn(const float* row, int width, float clip,
                                       std::array<int, 24>& counts) {
  using M8 = std::int32_t __attribute__((vector_size(32)));
  M8 c[3] = {};
  int x = 0;
  for (; x + 24 <= width; x += 24) {
    for (int v = 0; v < 3; ++v) {
      V8 values;
      std::memcpy(&values, row + x + 8 * v, sizeof(values));
      c[v] -= values >= clip;  // -1 where clipped
    }
  }
  for (int l = 0; l < 24; ++l) counts[l] = c[l / 8][l % 8];
  for (; x < width; ++x) counts[x % 24] += row[x] >= clip;
}

// Whether any of `n` values is at or above `clip` or NaN (!(v < clip)),
// eight at a time. Inlined into each clone below, so each runs it with its
// own instruction set and the per-span loop makes no call per span.
inline __attribute__((always_inline)) bool AnyNotBelowInline(
    const float* values, int n, float clip) {
  using M8 = std::int32_t __attribute__((vector_size(32)));
  M8 any = {};
  int j = 0;
  for (; j + 8 <= n; j += 8) any |= !(Load8(values + j) < clip);
  std::uint64_t parts[4];
  std::memcpy(parts, &any, sizeof(parts));
  bool found = (parts[0] | parts[1] | parts[2] | parts[3]) != 0;
  for (; j < n; ++j) found = found || !(values[j] < clip);
  return found;
}

DSB_VECTOR_CLONES bool AnyNotBelow(const float* values, int n, float clip) {
  return AnyNotBelowInline(values, n, clip);
}

// AnyNotBelow for each span of `span` columns of a row of `width`, in one
// call per row (flags[s] for columns [s * span, (s + 1) * span)).
DSB_VECTOR_CLONES void AnyNotBelowBySpan(const float* row, int width, int span,
                                         float clip, bool* flags) {
  for (int begin = 0, s = 0; begin < width; begin += span, ++s) {
    flags[s] =
        AnyNotBelowInline(row + begin, std::min(span, width - begin), clip);
  }
}

}  // namespace

std::array<double, 3> ClippedShares(const RawImage& image) {
  const int period = image.cfa.period();
  const float clip = image.meta.overexposure_lb;
  std::array<double, 3> clipped{}, total{};
  auto add_row = [&](int y) {
    const float* row = image.pixels.row(y);
    std::array<int, 24> by_column;
    ClippedByColumn(row, image.width(), clip, by_column);
    for (int k = 0; k < period && k < image.width(); ++k) {
      // The columns k, k + period, ... of the row.
      const int n = (image.width() - k + period - 1) / period;
      int c = 0;
      for (int l = k; l < 24; l += period) c += by_column[l];
      const int colour = static_cast<int>(image.cfa.color_at(y, k));
      clipped[colour] += c;
      total[colour] += n;
    }
  };
  // Rows 2k * step and 2k * step + 1 for about kClipCountRowPairs values
  // of k; an even step that is not a multiple of 3 visits every row phase
  // of Bayer and X-Trans.
  int step = std::max(4, image.height() / kClipCountRowPairs / 2 * 2);
  if (step % 3 == 0) step += 2;
  for (int y = 0; y < image.height(); y += step) {
    add_row(y);
    if (y + 1 < image.height()) add_row(y + 1);
  }
  std::array<double, 3> shares{};
  for (int c = 0; c < 3; ++c) {
    shares[c] = total[c] > 0 ? clipped[c] / total[c] : 0.0;
  }
  return shares;
}

bool HoldsClipped(const RawImage& image, int y0, int x0, int height,
                  int width) {
  const float clip = image.meta.overexposure_lb;
  for (int i = 0; i < height; ++i) {
    FetchRowsAhead(i, height, width,
                   [&](int k) { return image.pixels.row(y0 + k) + x0; });
    if (AnyNotBelow(image.pixels.row(y0 + i) + x0, width, clip)) return true;
  }
  return false;
}

ClippedSpans::ClippedSpans(const RawImage& image)
    : image_(&image),
      spans_per_row_((image.width() + kSpan - 1) / kSpan),
      state_(new std::atomic<std::uint8_t>[static_cast<std::size_t>(
          std::max(1, image.height() * spans_per_row_))]) {
  const std::size_t n =
      static_cast<std::size_t>(image.height()) * spans_per_row_;
  for (std::size_t k = 0; k < n; ++k) {
    state_[k].store(kUnknown, std::memory_order_relaxed);
  }
}

void ClippedSpans::FindRows(int y0, int y1) {
  const float clip = image_->meta.overexposure_lb;
  std::unique_ptr<bool[]> flags(new bool[spans_per_row_]);
  for (int y = y0; y < y1; ++y) {
    AnyNotBelowBySpan(image_->pixels.row(y), image_->width(), kSpan, clip,
                      flags.get());
    std::atomic<std::uint8_t>* spans =
        &state_[static_cast<std::size_t>(y) * spans_per_row_];
    for (int s = 0; s < spans_per_row_; ++s) {
      spans[s].store(flags[s] ? kClipped : kClean, std::memory_order_relaxed);
    }
  }
}

bool ClippedSpans::MayHoldClipped(int y, int x0, int x1) const {
  if (x1 <= x0) return false;
  const float clip = image_->meta.overexposure_lb;
  const float* row = image_->pixels.row(y);
  std::atomic<std::uint8_t>* spans =
      &state_[static_cast<std::size_t>(y) * spans_per_row_];
  for (int s = x0 / kSpan; s <= (x1 - 1) / kSpan; ++s) {
    std::uint8_t state = spans[s].load(std::memory_order_relaxed);
    if (state == kUnknown) {
      const int begin = s * kSpan;
      const int end = std::min(image_->width(), begin + kSpan);
      state = AnyNotBelow(row + begin, end - begin, clip) ? kClipped : kClean;
      spans[s].store(state, std::memory_order_relaxed);
    }
    if (state == kClipped) return true;
  }
  return false;
}

ReferenceLuma::ReferenceLuma(const RawImage& image,
                             const std::array<float, 3>& balance)
    : image_(&image),
      balance_(balance),
      luma_height_(std::max(0, image.height() - image.cfa.period() + 1)),
      luma_width_(std::max(0, image.width() - image.cfa.period() + 1)),
      blocks_y_((luma_height_ + kBlock - 1) / kBlock),
      blocks_x_((luma_width_ + kBlock - 1) / kBlock),
      made_(new std::once_flag[static_cast<std::size_t>(
          std::max(1, blocks_y_ * blocks_x_))]),
      blocks_(new Plane<float>[static_cast<std::size_t>(
          std::max(1, blocks_y_ * blocks_x_))]) {}

const Plane<float>& ReferenceLuma::Block(int by, int bx) const {
  const std::size_t k = static_cast<std::size_t>(by) * blocks_x_ + bx;
  std::call_once(made_[k], [&] {
    const int y0 = by * kBlock, x0 = bx * kBlock;
    blocks_[k] = PeriodLuma(*image_, balance_, y0, x0,
                            std::min(kBlock, luma_height_ - y0),
                            std::min(kBlock, luma_width_ - x0));
  });
  return blocks_[k];
}

Plane<float> ReferenceLuma::Window(int y0, int x0, int height,
                                   int width) const {
  Plane<float> window;
  window.Resize(width, height);
  for (int by = y0 / kBlock; by * kBlock < y0 + height; ++by) {
    const int top = std::max(y0, by * kBlock);
    const int bottom = std::min(y0 + height, (by + 1) * kBlock);
    for (int bx = x0 / kBlock; bx * kBlock < x0 + width; ++bx) {
      const int left = std::max(x0, bx * kBlock);
      const int right = std::min(x0 + width, (bx + 1) * kBlock);
      const Plane<float>& block = Block(by, bx);
      for (int y = top; y < bottom; ++y) {
        std::memcpy(window.row(y - y0) + (left - x0),
                    block.row(y - by * kBlock) + (left - bx * kBlock),
                    sizeof(float) * (right - left));
      }
    }
  }
  return window;
}

}  // namespace dsb
