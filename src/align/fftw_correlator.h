// The CPU correlator: FFTW3 for the coarse search, then the shared fine
// search and gain/loss (align/shift_search.h, align/colour_match.h).
//
// SetReference prepares the GT's coarse luminance spectrum once per scene;
// every Align call reuses it. Memory: the GT spectrum and one noisy
// capture's coarse buffers (a few MB for a 60 MP capture).
//
// Thread safety: one thread at a time per correlator (SceneCorrelator).
#pragma once

#include <array>
#include <memory>

#include "align/correlator.h"
#include "align/shift_search.h"

namespace dsb {

std::unique_ptr<SceneCorrelator> MakeFftwCorrelator(const AlignParams& params);

// Aligns one pair given the coarse correlation surface the caller computed
// (on whatever device): the part of the algorithm after the FFTs, shared by
// the CPU and GPU correlators.
Result<Alignment> FinishAlignment(const RawImage& gt,
                                  const std::array<float, 3>& gt_balance,
                                  const RawImage& noisy,
                                  const CoarseGeometry& geometry,
                                  const float* surface, int max_dy, int max_dx);
// The same, with the noisy capture's ChannelBalance already computed (the
// coarse stage needs it too; computing it once saves a pass per pair).
Result<Alignment> FinishAlignment(const RawImage& gt,
                                  const std::array<float, 3>& gt_balance,
                                  const RawImage& noisy,
                                  const std::array<float, 3>& noisy_balance,
                                  const CoarseGeometry& geometry,
                                  const float* surface, int max_dy, int max_dx);

// The limits actually searched for an image size (never more than leaves
// half of each dimension overlapping).
void EffectiveSearch(const AlignParams& params, int height, int width,
                     int* max_dy, int* max_dx);

// Checks a noisy capture can be aligned to the GT at all.
Status CheckPair(const RawImage& gt, const RawImage& noisy);

}  // namespace dsb
