#include "mask/self_pair_mask.h"

#include <algorithm>
#include <atomic>

#include "mask/cell_rows.h"

namespace dsb {

namespace {
std::atomic<std::int64_t> self_pair_masks{0};
}  // namespace

std::int64_t internal::SelfPairMasks() {
  return self_pair_masks.load(std::memory_order_relaxed);
}

bool TakesSelfPairShortcut(PairContent content, const Alignment& alignment) {
  return content == PairContent::kIdentical && alignment.dy == 0 &&
         alignment.dx == 0 && alignment.raw_gain == 1.0;
}

std::int64_t WriteSelfPairClipping(PlaneView<const float> frame, float gt_lb,
                                   float noisy_lb, bool noisy_shows,
                                   PlaneView<std::uint8_t> mask) {
  self_pair_masks.fetch_add(1, std::memory_order_relaxed);
  std::int64_t clipped = 0;
  for (int y = 0; y < frame.height; ++y) {
    const float* row = frame.row(y);
    clipped += WriteClippedRow(row, row, frame.width, gt_lb, noisy_lb,
                               noisy_shows, mask.row(y));
  }
  return clipped;
}

std::vector<std::uint8_t> SelfPairClippedRows(PlaneView<const float> frame,
                                              float gt_lb, float noisy_lb) {
  self_pair_masks.fetch_add(1, std::memory_order_relaxed);
  const float lb = std::min(gt_lb, noisy_lb);
  std::vector<std::uint8_t> rows(frame.height, 0);
  for (int y = 0; y < frame.height; ++y) {
    const float* row = frame.row(y);
    rows[y] =
        std::any_of(row, row + frame.width, [lb](float v) { return v >= lb; });
  }
  return rows;
}

}  // namespace dsb
