// The CUDA correlator's entry point when it is loaded as a shared module
// (align/correlator_factory.cc loads it with dlopen only when the GPU path
// is chosen, so CPU-only runs never load cuFFT or the CUDA runtime).
#include "align/cuda_correlator.h"

extern "C" __attribute__((visibility("default"))) void dsb_make_cuda_correlator(
    const dsb::AlignParams* params,
    dsb::Result<std::unique_ptr<dsb::SceneCorrelator>>* correlator) {
  *correlator = dsb::MakeCudaCorrelator(*params);
}
