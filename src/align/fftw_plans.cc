#include "align/fftw_plans.h"

#include <map>
#include <mutex>
#include <tuple>

namespace dsb {

namespace {

std::mutex& PlannerMutex() {
  static std::mutex mutex;
  return mutex;
}

}  // namespace

Result<RealBuffer> AllocateReal(std::size_t count) {
  RealBuffer buffer(static_cast<float*>(fftwf_malloc(sizeof(float) * count)));
  if (!buffer) {
    return Status::ResourceExhausted("cannot allocate " +
                                     std::to_string(count * sizeof(float)) +
                                     " bytes for an FFT buffer");
  }
  return buffer;
}

Result<ComplexBuffer> AllocateComplex(std::size_t count) {
  ComplexBuffer buffer(
      static_cast<fftwf_complex*>(fftwf_malloc(sizeof(fftwf_complex) * count)));
  if (!buffer) {
    return Status::ResourceExhausted(
        "cannot allocate " + std::to_string(count * sizeof(fftwf_complex)) +
        " bytes for an FFT buffer");
  }
  return buffer;
}

Result<FftPlans> GetFftPlans(int height, int width, int threads) {
  std::lock_guard lock(PlannerMutex());
  static bool threads_ready = fftwf_init_threads() != 0;
  static std::map<std::tuple<int, int, int>, FftPlans> cache;
  const auto key = std::make_tuple(height, width, threads);
  if (auto it = cache.find(key); it != cache.end()) return it->second;

  const std::size_t real_count = static_cast<std::size_t>(height) * width;
  const std::size_t complex_count =
      static_cast<std::size_t>(height) * (width / 2 + 1);
  DSB_ASSIGN_OR_RETURN(RealBuffer real, AllocateReal(real_count));
  DSB_ASSIGN_OR_RETURN(ComplexBuffer spectrum, AllocateComplex(complex_count));
  if (threads_ready) fftwf_plan_with_nthreads(threads);
  // FFTW_ESTIMATE: measuring would cost seconds per new size at start-up
  // and overwrite the buffers; estimated plans are within ~20% here.
  FftPlans plans;
  plans.forward = fftwf_plan_dft_r2c_2d(height, width, real.get(),
                                        spectrum.get(), FFTW_ESTIMATE);
  plans.inverse = fftwf_plan_dft_c2r_2d(height, width, spectrum.get(),
                                        real.get(), FFTW_ESTIMATE);
  if (plans.forward == nullptr || plans.inverse == nullptr) {
    return Status::Internal("FFTW could not plan a " + std::to_string(height) +
                            "x" + std::to_string(width) + " transform");
  }
  cache[key] = plans;
  return plans;
}

}  // namespace dsb
