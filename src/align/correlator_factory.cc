// The one place that knows whether the CUDA correlator was compiled in, and
// that loads it (a shared module) when the GPU path is chosen.
#include "align/correlator.h"
#include "align/fftw_correlator.h"
#include "config.h"

#if HAVE_CUDA
#include "common/shared_module.h"
#endif

namespace dsb {

#if HAVE_CUDA
namespace {

// The CUDA correlator lives in a shared module (align/cuda_module.cc) that
// is loaded on first use, so runs that never choose the GPU never load
// cuFFT and the CUDA runtime: linked into the binary they cost every
// process, each decode worker and a no-op rerun included, ~3 ms of CPU
// (2.6 of `--version`'s 8.3 ms, 3.5 of a 300-scene no-op's 41) at start-up.
using MakeCuda = void (*)(const AlignParams*,
                          Result<std::unique_ptr<SceneCorrelator>>*);

Result<MakeCuda> LoadCudaModule() {
  static const Result<MakeCuda> loaded = []() -> Result<MakeCuda> {
    DSB_ASSIGN_OR_RETURN(
        void* make,
        LoadModuleEntry("the CUDA correlator", DSB_CUDA_MODULE_PATH,
                        DSB_CUDA_MODULE, "dsb_make_cuda_correlator"));
    return reinterpret_cast<MakeCuda>(make);
  }();
  return loaded;
}

Result<std::unique_ptr<SceneCorrelator>> MakeCudaCorrelator(
    const AlignParams& params) {
  DSB_ASSIGN_OR_RETURN(MakeCuda make, LoadCudaModule());
  Result<std::unique_ptr<SceneCorrelator>> correlator =
      Status::Internal("the CUDA correlator module made nothing");
  make(&params, &correlator);
  return correlator;
}

}  // namespace
#endif

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
