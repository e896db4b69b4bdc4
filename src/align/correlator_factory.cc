// The one place that knows whether the CUDA correlator was compiled in.
#include "align/correlator.h"
#include "align/fftw_correlator.h"
#include "config.h"

#if HAVE_CUDA
#include "align/cuda_correlator.h"
#endif

namespace dsb {

std::string AlignParams::Fingerprint() const {
  // Every field that changes results; `threads` and the GPU budget do not.
  // `rev` names the algorithm's revision: bump it whenever a change to
  // align/ can change a stored result (shift, gain, loss, confidence), so
  // that scenes built by the old code are rebuilt.
  // rev 2: masked, energy-pooled fine search; block-median refinement.
  return "align(rev=2,max_shift=" + std::to_string(max_shift) + ")";
}

bool CudaCompiledIn() { return HAVE_CUDA; }

Result<std::unique_ptr<SceneCorrelator>> MakeCorrelator(
    Device device, const AlignParams& params,
    [[maybe_unused]] std::string* notice) {
  if (device == Device::kCpu) return MakeFftwCorrelator(params);
#if HAVE_CUDA
  std::string why;
  auto gpu = MakeCudaCorrelator(params, &why);
  if (gpu.ok()) {
    if (notice) *notice = "aligning on the GPU: " + (*gpu)->name();
    return gpu;
  }
  if (device == Device::kGpu) return gpu.status();
  if (notice) {
    *notice = "no usable CUDA device (" + gpu.status().message() +
              "); aligning on the CPU";
  }
  return MakeFftwCorrelator(params);
#else
  if (device == Device::kGpu) {
    return Status::Unsupported(
        "--device gpu: this dataset-build was built without CUDA "
        "(reconfigure with -Dcuda=enabled on a machine with nvcc and cuFFT)");
  }
  return MakeFftwCorrelator(params);
#endif
}

}  // namespace dsb
