// Loss masks of self pairs: a capture that holds the GT's pixels bit for bit,
// at shift (0, 0). Every GT of a scene is paired with itself (contract §3,
// "the self-pair is the clean/clean pair RawNIND trains on"), and a build
// knows which pairs these are before their masks (it decides a pair's
// identity once, in its decode stage); MakeLossMask is told so
// (PairContent::kIdentical) and writes the mask from this module.
//
// What the full algorithm (mask/loss_mask.h) makes of such a pair, step by
// step, with g the GT's cell mean of a colour and n the capture's (the same
// samples through the same code: equal floats):
//   - the pair model's gain is the ratio of two equal sums, 1 exactly, where
//     any sample is free of clipping; where none is, the alignment's
//     raw_gain, which is why the shortcut also asks raw_gain == 1 (what the
//     aligner reports for a self pair, align/correlator_common.h);
//   - every d = g - 1 * n is 0, so every residual of the noise fit is 0:
//     no signal bin has a positive variance, and the variance falls back to
//     the fit's floor (1e-12, pair_model.cc), never 0, so d^2 / var is 0 and
//     no 0 / 0 arises; clipped colours are censored to one side of 0, which
//     leaves 0 as it is. Every cell's z is 0;
//   - a window's mean of 0 never passes its limit (at least
//     1 + threshold_sigmas * its spread under noise), so nothing is flagged,
//     opened, grown or closed.
// What is left is the clipping rule alone: per sample (the default), 0
// where the GT's sample reaches its level (and, with mask_noisy_clipped,
// where the capture's reaches its own: the same sample), 255 elsewhere;
// with ClipFootprint::kCell that grown to the cell's window. mismatch_pixels
// is 0 and mask_mean counts the clipped pixels only, as the full path
// does. tests/unit/mask/self_pair_mask_test.cc (procedural frames of every
// CFA, with and without clipping, degenerate frames) and
// tests/integration/mask/real_self_pair_test.cc (the real raws) hold both
// paths to the same pixels and figures.
//
// What the shortcut does not report: the pair model it never fits. Its
// LossMask has gain 1, noise_slope and noise_offset 0 and window_radius 0
// (the full path's are 1, 0, its variance floor and the smallest radius:
// values for logs and tuning, recorded nowhere).
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <vector>

#include "core/alignment.h"
#include "core/plane.h"
#include "mask/loss_mask.h"

namespace dsb {

// Whether MakeLossMask may write the pair's mask as a self pair's: the
// caller says the pixels are the same, the shift is (0, 0) (the overlap is
// then the whole frame on both sides) and raw_gain is 1.
bool TakesSelfPairShortcut(PairContent content, const Alignment& alignment);

// Writes every row of `mask` (frame-sized) by the per-sample clipping rule
// (mask/cell_rows.h WriteClippedRow) on `frame`, which is both images;
// returns how many pixels are 0.
std::int64_t WriteSelfPairClipping(PlaneView<const float> frame, float gt_lb,
                                   float noisy_lb, bool noisy_shows,
                                   PlaneView<std::uint8_t> mask);

// Per row of `frame`, 1 where a sample reaches `gt_lb` or `noisy_lb` (pass
// infinity where the capture's clipping is not shown), else 0.
std::vector<std::uint8_t> SelfPairClippedRows(PlaneView<const float> frame,
                                              float gt_lb, float noisy_lb);

namespace internal {
// How many masks this process wrote as self pairs' (each calls one of the
// two functions above once): tests check that a build takes the shortcut on
// exactly its self pairs.
std::int64_t SelfPairMasks();
}  // namespace internal

}  // namespace dsb
