// Scoring a loss mask against the generator's truth, and the seeded moved-
// object cases that the mask tests and the mask_sweep benchmark share:
// procedural scenes, and scenes rendered from real photographs (the
// photographs of python3-skimage's data folder, tests/support/photos.h).
//
// Thread safety: plain functions over values.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/cfa.h"
#include "mask/loss_mask.h"
#include "synth/render.h"

namespace dsb::testing {

// What a mask got right and wrong, against the generator's truth.
struct MaskScores {
  double moved_flagged = 1;  // of the moved object's samples
  double static_kept = 1;    // of the static samples
  std::int64_t clipped_total = 0;
  std::int64_t clipped_kept = 0;  // clipped GT samples the mask kept: 0
  // Of the moved object's samples the GT does not clip (those the
  // mismatch test alone must find).
  double moved_unclipped_flagged = 1;
  std::int64_t moved_total = 0;
  std::int64_t moved_clipped = 0;
  std::int64_t static_total = 0;
  // Per GT colour (0 red, 1 green, 2 blue): the fraction of the overlap's
  // samples of that colour that the GT clips.
  double clipped_share[3] = {0, 0, 0};
};

// Scored per sample of the overlap, by the GT as rendered (what the mask
// sees): a clipped sample is one whose own GT value is at or above the
// GT's overexposure_lb, a moved one lies in the moved object's box, and
// every other sample is static, except those within `margin` pixels of
// the box (the mask decides in CFA cells and closes flagged regions, so
// it may reach a few cells past an object). Nothing else is left out:
// not the neighbours of clipped samples, nor where the capture clips.
MaskScores ScoreMask(const RawImage& gt, const RawImage& capture,
                     const CaptureSpec& spec, const LossMask& mask, int margin);

// The pass marks of the loss-mask issues for one scored case.
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

// Real-photo sweep cases: a scene rendered from `photo` under `look`
// (crop and zoom drawn from the seed), and six captures: noise levels 0
// to the most extreme, gains 0.5 to 2, shifts within +-8 with odd and even
// components, and a moved object (56-96 px a side, at most 10% of the
// frame) in the brightest region the capture's frame offers (with gains
// 1 to 2) or in a dark one (the first quartile of placements).
struct PhotoSweepScene {
  std::unique_ptr<SyntheticScene> scene;
  std::vector<CaptureSpec> captures;
  std::vector<bool> bright;  // per capture: the object is in a bright region
};
PhotoSweepScene MakePhotoSweepScene(
    const std::shared_ptr<const Srgb8Image>& photo, const PhotoLook& look,
    const CfaPattern& cfa, std::uint64_t seed, int width = 320,
    int height = 240);

// The looks the photo sweeps cover: daylight at the metered exposure,
// warm light at +1 EV, and warm light at +2 EV (red clips over wide
// areas, green and blue far less).
std::vector<PhotoLook> SweepLooks();
std::string DescribeLook(const PhotoLook& look);

}  // namespace dsb::testing
