// What a pair looks like where nothing changed, measured on the pair itself
// from a sample of its cells (mask/cell_rows.h): the gain that matches the
// noisy capture to the GT, the noise of a pixel's residual as a function
// of the signal, and how much the two images' samples of a colour differ
// on sharp content because they sit at different places in a cell. The
// loss mask (mask/loss_mask.h) flags what these do not explain.
//
// The sample is about 2^16 cell colours: every cell of a small overlap, or
// evenly spaced columns of about 64 evenly spaced cell rows of a large one,
// so a 60 MP pair is fitted from a tenth of its rows.
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

// The median of `v` (the upper one for an even count); may reorder `v`.
double MedianInPlace(std::vector<float>& v);

}  // namespace dsb
