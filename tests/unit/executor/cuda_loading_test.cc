// cuFFT and the CUDA runtime are loaded only when the GPU path is chosen
// (align/correlator_factory.cc loads the CUDA correlator as a shared
// module): a CPU build, each decode worker and a no-op rerun never pay for
// mapping them (~3 ms of CPU per process).
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "align/correlator.h"

namespace dsb {
namespace {

bool Mapped(const std::string& library) {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    if (line.find(library) != std::string::npos) return true;
  }
  return false;
}

TEST(CudaLoadingTest, OnlyTheGpuPathLoadsCuda) {
  AlignParams params;
  ASSERT_TRUE(ChooseDevice(Device::kCpu, params, nullptr).ok());
  ASSERT_TRUE(MakeCorrelator(Device::kCpu, params).ok());
  EXPECT_FALSE(Mapped("libcufft"));
  EXPECT_FALSE(Mapped("libcudart"));
  EXPECT_FALSE(Mapped("libdsb_cuda_correlator"));
  if (!CudaCompiledIn()) GTEST_SKIP() << "built without CUDA: nothing to load";
  // Asking for the GPU (found or not) loads the module, and cuFFT with it.
  std::string notice;
  (void)ChooseDevice(Device::kAuto, params, &notice);
  EXPECT_TRUE(Mapped("libdsb_cuda_correlator")) << notice;
  EXPECT_TRUE(Mapped("libcufft")) << notice;
}

}  // namespace
}  // namespace dsb
