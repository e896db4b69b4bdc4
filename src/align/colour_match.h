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

#include <span>

#include "align/row_sample.h"
#include "core/alignment.h"
#include "core/plane.h"
#include "core/raw_image.h"

namespace dsb {

// `out` must be overlap.height x overlap.width.
void GtInNoisyColours(const RawImage& gt, const Overlap& overlap,
                      PlaneView<float> out);

// RawGain's pixels on large overlaps: about this many (SampleOf: fewer on
// overlaps under 16 MP, every row up to 1 MP); its rough first pass about
// kRoughGainSamples (and at least two rows in 16), in row pairs
// (RowPairStep).
inline constexpr double kGainSamples = 2e6;
inline constexpr double kRoughGainSamples = 0.5e6;

// mean(gt) / mean(noisy) over the overlap, colour for colour, on the pixels
// whose clean GT level keeps both captures clear of clipping (clipping would
// bias the ratio): the weighted median of per-block ratios (blocks of up
// to 64 x 64), which ignores a moved minority. Overlaps of more than
// 1 MP are measured on the bands of block rows whose index is a multiple
// of pixels / SampleOf(pixels, kGainSamples) (a 3 MP pair: every 3rd band;
// a 24 MP pair: 6 bands of 62, ~560 blocks of 64 x 64), the median taken
// over those blocks.
double RawGain(const RawImage& gt, const RawImage& noisy,
               const Overlap& overlap);
// The same on the bands of block rows with index % band_step == 0 (1:
// every row).
double RawGain(const RawImage& gt, const RawImage& noisy,
               const Overlap& overlap, int band_step);

// Mean |GtInNoisyColours - raw_gain * noisy| over the rows of the overlap
// whose index i has (i / 2) % row_step == 0 (row pairs, so every CFA row
// phase is visited when row_step is not a multiple of 3); row_step 1 is
// every row. For comparing nearby shifts cheaply on large images.
double SampledGainMatchedLoss(const RawImage& gt, const RawImage& noisy,
                              const Overlap& overlap, double raw_gain,
                              int row_step);

// The sums of |GtInNoisyColours - raw_gain * noisy| and their pixel counts
// per block of block x block pixels of the NOISY image (block (by, bx)
// covers noisy rows [by * block, (by + 1) * block)), over the sampled rows
// of the overlap (as SampledGainMatchedLoss). `sums` and `counts` must be
// ceil(height / block) x ceil(width / block) of the noisy image and are
// overwritten. Blocks in noisy coordinates let losses at nearby shifts be
// compared block by block.
void BlockGainMatchedLoss(const RawImage& gt, const RawImage& noisy,
                          const Overlap& overlap, double raw_gain, int row_step,
                          int block, Plane<double>& sums,
                          Plane<double>& counts);

// BlockGainMatchedLoss for several overlaps (nearby shifts) at once:
// sums[k] and counts[k] (sized as above) receive exactly what
// BlockGainMatchedLoss gives for overlaps[k]. The rows are visited in one
// sweep down the noisy image, so the noisy and GT rows that nearby shifts
// share come from memory once rather than once per shift.
void BlockGainMatchedLosses(const RawImage& gt, const RawImage& noisy,
                            std::span<const Overlap> overlaps, double raw_gain,
                            int row_step, int block,
                            std::span<Plane<double>> sums,
                            std::span<Plane<double>> counts);

// Mean |GtInNoisyColours - raw_gain * noisy| over the overlap.
double GainMatchedLoss(const RawImage& gt, const RawImage& noisy,
                       const Overlap& overlap, double raw_gain);

}  // namespace dsb
