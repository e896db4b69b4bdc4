// The CPU correlator: FFTW3 for the coarse search, then the steps both
// correlators share (align/correlator_common.h).
//
// SetReference prepares the GT's coarse luminance spectrum once per scene;
// every Align call reuses it. Memory: the GT spectrum and one noisy
// capture's coarse buffers (a few MB for a 60 MP capture).
//
// Thread safety: one thread at a time per correlator (SceneCorrelator).
#pragma once

#include <memory>

#include "align/correlator.h"

namespace dsb {

std::unique_ptr<SceneCorrelator> MakeFftwCorrelator(const AlignParams& params);

}  // namespace dsb
