// Binary morphology and windowed sums on planes, for loss masks.
//
// Square structuring elements of side 2r+1, done separably with running
// counts, so each operation costs O(1) per pixel whatever the radius.
// Binary planes hold 0 (unset) or 1 (set). At the borders of the view,
// erosion treats the outside as set and dilation as unset, so neither
// invents or removes pixels just because they are near the edge. Working
// on views lets callers restrict the work to the bounding box of what is
// set.
//
// Thread safety: pure functions over caller-owned planes; thread safe.
#pragma once

#include <cstdint>
#include <functional>

#include "core/plane.h"

namespace dsb {

// Each pixel becomes 1 if any pixel within `radius` (Chebyshev) is set.
void DilateBinary(PlaneView<std::uint8_t> plane, int radius);
// Each pixel becomes 1 only if every pixel within `radius` is set.
void ErodeBinary(PlaneView<std::uint8_t> plane, int radius);
// Opening (erode, then dilate): removes set regions smaller than the
// structuring element.
void OpenBinary(PlaneView<std::uint8_t> plane, int radius);
// Closing (dilate, then erode): fills unset holes and gaps smaller than the
// structuring element.
void CloseBinary(PlaneView<std::uint8_t> plane, int radius);

// For each row y of `values`, the sums over the (2r+1)^2 window around each
// pixel (clipped at the borders) of the `values` whose `weights` entry is
// set, and how many those were,
// handed to `row_out(y, sums, counts)` in row order; the arrays hold
// `values.width` entries and are valid during the call only. Needs
// O(width) memory, no intermediate planes.
void WindowSums(PlaneView<const float> values,
                PlaneView<const std::uint8_t> weights, int radius,
                const std::function<void(int y, const float* sums,
                                         const float* counts)>& row_out);

}  // namespace dsb
