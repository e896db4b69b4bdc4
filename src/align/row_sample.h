// Row-pair samples of an image or overlap: the rows i with
// (i / 2) % step == 0. Pairs of rows, with a step that is never a multiple
// of 3, visit every CFA row phase (Bayer's 2, X-Trans's 6), so a sample
// holds every colour in its usual proportions. The estimates that sample
// (channel balance, gain, refinement and loss) take about a fixed number
// of pixels: every row on small images, a sample on large ones.
//
// Thread safety: pure functions.
#pragma once

#include <algorithm>

namespace dsb {

// The step that samples about `samples` of `pixels` pixels: 1 (every row)
// up to 2 * samples pixels.
inline int RowPairStep(double pixels, double samples) {
  int step = std::max(1, static_cast<int>(pixels / samples));
  if (step % 3 == 0) ++step;
  return step;
}

}  // namespace dsb
