// CFA-invariant signals computed straight from the mosaic.
//
// Correlating two raw mosaics directly finds the colour filter pattern
// itself: it is identical in both captures, so it peaks at (0, 0) whatever
// the scene did. Every window of one CFA period (2x2 Bayer, 6x6 X-Trans)
// holds the same number of each colour wherever it sits, so the sum of a
// period-sized window of the white-balanced mosaic is a luminance that no
// longer carries the pattern and that moves exactly with the content, at
// full resolution. Block means over multiples of the period give the same
// signal at reduced resolution for the coarse search.
//
// Thread safety: pure functions.
#pragma once

#include <array>
#include <functional>

#include "core/plane.h"
#include "core/raw_image.h"

namespace dsb {

// Per-colour multipliers that bring each colour's mean to 1 (computed over
// unclipped pixels of a row-pair sample: a quarter of the rows, at most
// about kBalanceSamples pixels), so colour casts and gains do not imprint
// the pattern.
inline constexpr double kBalanceSamples = 1e6;
std::array<float, 3> ChannelBalance(const RawImage& image);

// Mean of the balanced mosaic over box x box windows taken every `stride`
// pixels; `box` must be a multiple of the CFA period (it may exceed the
// stride: X-Trans at a stride of 2-5). Output is
// ((height - box) / stride + 1) x ((width - box) / stride + 1).
Plane<float> CoarseLuma(const RawImage& image,
                        const std::array<float, 3>& balance, int stride,
                        int box);

// The same, written into `out`, whose size must be the output size above
// (e.g. the top-left of an FFT buffer with a wider row stride).
// `rows_read`, where given, is called with each band of rows [y0, y1) just
// after they were read for the last time (still in cache), every row the
// coarse luma reads in exactly one band: a caller that wants something
// else of those rows (the GT's clipped spans, fine_reference.h) reads them
// there rather than from memory again.
void CoarseLumaInto(const RawImage& image, const std::array<float, 3>& balance,
                    int stride, int box, PlaneView<float> out,
                    const std::function<void(int, int)>& rows_read = {});

// Period-sized box sum of the balanced mosaic for the window with top-left
// (y0, x0) and the given size; every box must lie inside the image.
Plane<float> PeriodLuma(const RawImage& image,
                        const std::array<float, 3>& balance, int y0, int x0,
                        int height, int width);

}  // namespace dsb
