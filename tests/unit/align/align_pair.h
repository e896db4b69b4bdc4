// One pair aligned the way a build aligns it on the CPU: a fresh FFTW
// correlator, the GT as its reference, the capture as a batch of one.
// Shared by the align tests that check a pair's result against its truth.
#pragma once

#include <utility>
#include <vector>

#include "align/correlator.h"
#include "common/result.h"
#include "core/alignment.h"
#include "core/raw_image.h"

namespace dsb::testing {

inline Result<Alignment> AlignPair(const RawImage& gt, const RawImage& noisy,
                                   const AlignParams& params = {}) {
  auto correlator = MakeCorrelator(Device::kCpu, params);
  if (!correlator.ok()) return correlator.status();
  if (Status s = (*correlator)->SetReference(gt); !s.ok()) return s;
  const RawImage* batch[] = {&noisy};
  std::vector<Result<Alignment>> results = (*correlator)->Align(batch);
  return std::move(results.at(0));
}

}  // namespace dsb::testing
