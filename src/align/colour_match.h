// Comparing a pair pixel by pixel on the mosaic, colour for colour.
//
// With an odd shift the GT pixel that shows the same scene point as a noisy
// pixel usually sits under a different colour filter. GtInNoisyColours gives,
// for every overlap pixel, the GT's value of the colour the noisy pixel sees:
// the GT pixel itself where the colours match, else the mean of the GT's
// nearest pixels of that colour (bilinear on the CFA grid). Loss and masks
// are computed on that, never across colours.
//
// Thread safety: pure functions.
#pragma once

#include "align/alignment.h"
#include "common/plane.h"
#include "raw/raw_image.h"

namespace dsb {

// `out` must be overlap.height x overlap.width.
void GtInNoisyColours(const RawImage& gt, const Overlap& overlap,
                      PlaneView<float> out);

// mean(gt) / mean(noisy) over the overlap, colour for colour, on the pixels
// whose clean GT level keeps both captures clear of clipping (clipping would
// bias the ratio).
double RawGain(const RawImage& gt, const RawImage& noisy,
               const Overlap& overlap);

// Mean |GtInNoisyColours - raw_gain * noisy| over the overlap.
double GainMatchedLoss(const RawImage& gt, const RawImage& noisy,
                       const Overlap& overlap, double raw_gain);

}  // namespace dsb
