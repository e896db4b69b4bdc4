// Row-pair samples of an image or overlap: the rows i with
// (i / 2) % step == 0. Pairs of rows, with a step that is never a multiple
// of 3, visit every CFA row phase (Bayer's 2, X-Trans's 6), so a sample
// holds every colour in its usual proportions. The estimates that sample
// (channel balance, gain, refinement and loss) take about a fixed number
// of pixels on large images; under 8x that many, a sample that grows as
// the square root of the pixel count (SampleOf), so that what they cost
// per pixel falls with the frame's size, without a size at which it jumps.
//
// Thread safety: pure functions.
#pragma once

#include <algorithm>
#include <cmath>

namespace dsb {

// The step that samples about `samples` of `pixels` pixels: 1 (every row)
// up to 2 * samples pixels.
inline int RowPairStep(double pixels, double samples) {
  int step = std::max(1, static_cast<int>(pixels / samples));
  if (step % 3 == 0) ++step;
  return step;
}

// How many of `pixels` pixels an estimate that wants `samples` on large
// frames reads: sqrt(pixels * samples / 8), `samples` from 8 x samples
// pixels up. A 2 M-sample estimate thus reads every row up to 1 MP (the
// sweeps' and tests' small frames), 0.87 M of a 3 MP frame (row pairs 4
// apart), 2 M from 16 MP up (issue 17's ninth round: what a frame of 2-4
// MP paid for every row was most of its alignment). The block estimates
// that sample (refinement, gain) decide on ~256 blocks at any size; a
// block then holds ~3,000 pixels at 3 MP, ~8,000 from 16 MP up. (The
// refinement takes half this sample on 1-4 MP overlaps, since issue 17's
// eleventh round: RefineSamplingOf in shift_search.h.)
inline double SampleOf(double pixels, double samples) {
  return std::min(samples, std::sqrt(pixels * samples / 8));
}

}  // namespace dsb
