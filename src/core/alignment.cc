#include "core/alignment.h"

#include <cstdlib>

namespace dsb {

namespace {

struct Span1D {
  int gt_start = 0;
  int noisy_start = 0;
  int length = 0;
};

// One axis of the overlap. For d > 0 the GT is read from d onwards; for
// d < 0 the noisy is. An odd |d| drops one more sample so the length stays
// even (RawNIND packs masks 2x2): at the end for d > 0, at the start for
// d < 0.
Span1D Axis(int size, int d) {
  Span1D span;
  const int odd = std::abs(d) % 2;
  span.length = size - std::abs(d) - odd;
  if (d >= 0) {
    span.gt_start = d;
    span.noisy_start = 0;
  } else {
    span.gt_start = odd;
    span.noisy_start = -d + odd;
  }
  return span;
}

}  // namespace

Overlap ComputeOverlap(int image_height, int image_width, int dy, int dx) {
  const Span1D rows = Axis(image_height, dy);
  const Span1D cols = Axis(image_width, dx);
  Overlap overlap;
  overlap.gt_y0 = rows.gt_start;
  overlap.noisy_y0 = rows.noisy_start;
  overlap.height = rows.length;
  overlap.gt_x0 = cols.gt_start;
  overlap.noisy_x0 = cols.noisy_start;
  overlap.width = cols.length;
  return overlap;
}

}  // namespace dsb
