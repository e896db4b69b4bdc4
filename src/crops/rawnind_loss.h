// RawNIND's own alignment figures for a Bayer pair, so the exported
// best_alignment_loss and rgb_gain keep RawNIND's meaning.
//
// RawNIND (rawproc.get_best_alignment_compute_gain_and_make_loss_mask)
// demosaics both RGGB frames (raw.demosaic: OpenCV's edge-aware demosaic),
// scales the noisy one by rgb_gain = mean(gt_rgb) / mean(noisy_rgb) (whole
// frames), cuts both to their overlap at the shift (rawproc.shift_images)
// and takes the mean |gt - gain x noisy| over it; its loader drops pairs
// above 0.035.
//
// We compute the same quantity, with two economies that keep it within a
// few per cent (tested against the snapshot's rawproc on generated pairs):
// the gain comes from the mosaic's colour means (the demosaic keeps each
// colour's mean), and the mean |difference| is taken over evenly spaced
// bands of rows (8 of every 32, each demosaicked exactly as a whole-frame
// demosaic would be, crops/camera_rgb.h), a quarter of the overlap.
//
// Thread safety: reentrant.
#pragma once

#include "common/result.h"
#include "core/raw_image.h"

namespace dsb {

// Bumped when these figures change (part of every scene's key through
// AlgorithmVersion, executor/build_options.h).
inline constexpr int kRawnindFiguresRevision = 1;

struct RawnindPairFigures {
  double rgb_gain = 1;             // mean(gt_rgb) / mean(noisy_rgb)
  double best_alignment_loss = 0;  // at (dy, dx)
};

// `gt` and `noisy` are Bayer captures of one sensor (same pattern and
// size); (dy, dx) follows the contract's sign convention, which is
// RawNIND's. Fails when the overlap is empty or the frames are not Bayer.
Result<RawnindPairFigures> RawnindFigures(const RawImage& gt,
                                          const RawImage& noisy, int dy,
                                          int dx);

}  // namespace dsb
