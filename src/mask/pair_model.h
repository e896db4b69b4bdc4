// What a pair looks like where nothing changed, measured on the pair itself
// from a sample of its cells (mask/cell_rows.h): the gain that matches the
// noisy capture to the GT, the noise of a pixel's residual as a function
// of the signal, and how much the two images' samples of a colour differ
// on sharp content because they sit at different places in a cell. The
// loss mask (mask/loss_mask.h) flags what these do not explain.
//
// The sample (PairModelSamples) is every cell of a small overlap, or
// evenly spaced columns of at least 64 evenly spaced cell rows of a larger
// one: 2^16 cell colours from 16.8 MP up, so a 60 MP pair is fitted from
// a tenth of its rows; below, one per 256 pixels, but never fewer than
// 2^15. The fit's cost is about proportional to the sample (a 2.7 MP
// pair: 1.9 ms with 2^15, 3.2 with 2^16, which was a third of the mask's
// time; 1.3-1.4 ms with 2^15 since its selections stopped branching), and the
// 2^15 samples of a 2-8 MP frame are still a larger share of it than 2^16 are
// of a 24 MP one.
//
// The noise is a line in the signal, a*s + b (Poisson-Gaussian), with a
// floor at black levels measured on the pair's own black cells.
//
// Thread safety: pure functions; thread safe.
#pragma once

#include <algorithm>
#include <vector>

#include "mask/cell_rows.h"

namespace dsb {

struct PairModel {
  double gain = 1;  // applied to the noisy capture
  // Variance of one pixel's residual: slope * signal + offset.
  double slope = 0;
  double offset = 0;
  double reference_level = 0;  // median GT level of the sampled cells
  // Per parity and colour: the variance of d per unit of squared local
  // step that sampling differences explain; near 0 when the samples
  // coincide (the shift is a multiple of the period).
  float structure[2][2][kCellColors] = {};

  // Black levels: below `dark_top` the variance is at least `dark_floor`,
  // the robust variance measured on the pair's black cells (0 where it has
  // too few). The line's offset is extrapolated from the frame's bulk and
  // can fall well short of it (pair_model.cc kDarkFloorBins).
  double dark_top = 0;
  double dark_floor = 0;

  double Variance(double s) const {
    const double v = slope * std::max(s, 0.0) + offset;
    return s < dark_top ? std::max(v, dark_floor) : v;
  }
};

// Fits the model. `fallback_gain` (the alignment's raw gain) is used only
// when no cell is free of clipping; `gt_lb` bounds the signal range.
PairModel FitPairModel(const CellRowBuilder& cells, double fallback_gain,
                       float gt_lb);

// How many cell colours (cells times the colours each holds) the fit
// samples from an overlap of `cell_colours` in full cells covering
// `pixels`: all of them under 2^17; else one per 256 pixels, but at least
// 2^15 and at most 2^16. (A floor of 2^14, 1.0 ms at 2.7 MP, turned the
// verdict of 2 of 720 real-photo mask_sweep cases at 1001x767 and 2000x1350,
// extreme noise: static pixels flagged.)
std::int64_t PairModelSamples(std::int64_t cell_colours, std::int64_t pixels);

// The median of `v` (the upper one for an even count); may reorder `v`.
double MedianInPlace(std::vector<float>& v);

// Tests only: the selections (MedianInPlace and the fit's) run their
// portable kernels (`portable`), or the AVX2 ones where the CPU has
// AVX-512 (`avx2`; the portable flag wins), so that every path is held to
// the same results on one machine. Returns whether the CPU (and the build)
// has the kernels asked for. Not thread safe with selections running.
bool UseSelectKernelsForTesting(bool portable, bool avx2);

}  // namespace dsb
