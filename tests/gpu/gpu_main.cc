// The gpu suite's main: runs the tests (each skips with its reason where no
// CUDA device is usable) and then exits 77, meson's "skipped", when there
// was no device, so a CPU-only run shows the suite as SKIP rather than OK.
#include <gtest/gtest.h>

#include <cstdio>

#include "align/correlator.h"

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  const int status = RUN_ALL_TESTS();
  std::string notice;
  const bool have_gpu =
      dsb::CudaCompiledIn() &&
      dsb::MakeCorrelator(dsb::Device::kGpu, dsb::AlignParams(), &notice).ok();
  if (status == 0 && !have_gpu) {
    std::printf("gpu suite skipped: no usable CUDA device%s\n",
                dsb::CudaCompiledIn() ? "" : " (built without CUDA)");
    return 77;
  }
  return status;
}
