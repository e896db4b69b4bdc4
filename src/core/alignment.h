// What alignment produces for one (GT, noisy) pair, and the overlap geometry
// that alignment, masks and the manifest all agree on.
//
// Sign convention (docs/contract.md §2, RawNIND's): gt(y + dy, x + dx) shows
// the same scene point as noisy(y, x). Shifts are integers in full-resolution
// sensor pixels; any value is legal (odd on Bayer, non-multiples of 6 on
// X-Trans).
//
// Pure values and pure functions; thread safe.
#pragma once

#include <string>

namespace dsb {

struct Alignment {
  int dy = 0;
  int dx = 0;
  // Sub-pixel estimate of the same shift (close to dy, dx).
  double dy_subpx = 0;
  double dx_subpx = 0;
  // Higher is better; see align/README section in the top-level README for
  // its definition.
  double confidence = 0;
  // mean(gt) / mean(noisy) on normalised raw data over the overlap.
  double raw_gain = 1;
  // Mean absolute difference over the overlap after shift and gain matching.
  double loss = 0;
};

// The common visible area of a pair after the shift, sized as RawNIND sizes
// its masks (docs/contract.md §3): (H - |dy| - (dy odd)) x (W - |dx| - (dx
// odd)). For an odd dy one more row is dropped from both images: the last when
// dy > 0, the first when dy < 0; likewise columns for dx.
struct Overlap {
  int gt_y0 = 0, gt_x0 = 0;        // top-left of the overlap in the GT
  int noisy_y0 = 0, noisy_x0 = 0;  // top-left of the overlap in the noisy
  int height = 0, width = 0;
  bool empty() const { return height <= 0 || width <= 0; }
};

Overlap ComputeOverlap(int image_height, int image_width, int dy, int dx);

}  // namespace dsb
