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
  return "align(rev=" + std::to_string(kAlignRevision) +
         ",max_shift=" + std::to_string(max_shift) + ")";
}

bool CudaCompiledIn() { return HAVE_CUDA; }

Result<Device> ChooseDevice(Device requested, const AlignParams& params,
                            [[maybe_unused]] std::string* notice) {
  if (requested == Device::kCpu) return Device::kCpu;
#if HAVE_CUDA
  auto gpu = MakeCudaCorrelator(params);
  if (gpu.ok()) {
    if (notice) *notice = "aligning on the GPU: " + (*gpu)->name();
    return Device::kGpu;
  }
  if (requested == Device::kGpu) return gpu.status();
  if (notice) {
    *notice = "no usable CUDA device (" + gpu.status().message() +
              "); aligning on the CPU";
  }
  return Device::kCpu;
#else
  (void)params;
  if (requested == Device::kGpu) {
    return Status::Unsupported(
        "--device gpu: this dataset-build was built without CUDA "
        "(reconfigure with -Dcuda=enabled on a machine with nvcc and cuFFT)");
  }
  return Device::kCpu;
#endif
}

Result<std::unique_ptr<SceneCorrelator>> MakeCorrelator(
    Device device, const AlignParams& params, std::string* notice) {
  if (device == Device::kAuto) {
    DSB_ASSIGN_OR_RETURN(device, ChooseDevice(device, params, notice));
  }
  if (device == Device::kCpu) return MakeFftwCorrelator(params);
#if HAVE_CUDA
  return MakeCudaCorrelator(params);
#else
  return Status::Unsupported(
      "--device gpu: this dataset-build was built without CUDA "
      "(reconfigure with -Dcuda=enabled on a machine with nvcc and cuFFT)");
#endif
}

}  // namespace dsb
