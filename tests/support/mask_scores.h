// Scoring a loss mask against the generator's truth, and the seeded moved-
// object cases that the mask tests and the mask_sweep benchmark share.
//
// Thread safety: plain functions over values.
#pragma once

#include <cstdint>
#include <vector>

#include "core/cfa.h"
#include "mask/loss_mask.h"
#include "synth/render.h"

namespace dsb::testing {

// What a mask got right and wrong, against the generator's truth.
struct MaskScores {
  double moved_flagged = 1;  // of the moved object's pixels
  double static_kept = 1;    // of the pixels that should be kept
  std::int64_t clipped_total = 0;
  std::int64_t clipped_kept = 0;  // clipped GT pixels the mask kept: 0
};

// Static pixels are those of the overlap that are neither clipped in the
// GT nor in the capture (within 2 pixels), nor within `margin` pixels of
// the moved object: the mask decides in CFA cells and closes flagged
// regions, so it may reach a few cells past an object.
MaskScores ScoreMask(const SyntheticScene& scene, const RawImage& capture,
                     const CaptureSpec& spec, const LossMask& mask, int margin);

// The pass marks of the loss-mask issue for one scored case.
bool MeetsMaskTargets(const MaskScores& scores, int noise_level);

// One scene per (cfa, seed) and one capture per noise level, with the
// shift (within +-8) and a moved object (56-96 px a side, at most 10% of
// the frame) drawn from a per-seed stream. Small frames keep sweeps fast.
struct SweepScene {
  SceneSpec spec;
  std::vector<CaptureSpec> captures;  // levels 0, 2 and the most extreme
};
SweepScene MakeSweepScene(const CfaPattern& cfa, std::uint64_t seed,
                          int width = 320, int height = 240);

// The scoring margin for a capture of `noise_level`, in pixels: the mask's
// windows grow with the noise.
int SweepMargin(const CfaPattern& cfa, int noise_level);

}  // namespace dsb::testing
