// The gpu suite: the CUDA correlator must give the CPU's answers. Every test
// skips, visibly and with the reason, where no CUDA device is present or the
// build has no CUDA; on a GPU machine they all run.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "align/correlator.h"
#include "align/correlator_common.h"
#include "synth/render.h"

namespace dsb {
namespace {

class CudaCorrelatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!CudaCompiledIn()) {
      GTEST_SKIP() << "this build has no CUDA correlator (-Dcuda=disabled or "
                      "no nvcc/cuFFT at configure time)";
    }
    std::string notice;
    auto gpu = MakeCorrelator(Device::kGpu, params_, &notice);
    if (!gpu.ok()) {
      GTEST_SKIP() << "no usable CUDA device: " << gpu.status().message();
    }
    gpu_ = std::move(gpu).value();
    auto cpu = MakeCorrelator(Device::kCpu, params_);
    ASSERT_TRUE(cpu.ok()) << cpu.status().ToString();
    cpu_ = std::move(cpu).value();
  }

  // Aligns the captures on both devices and checks they agree exactly on
  // the integer shift, within 0.01 px on the sub-pixel estimate and within
  // 1% on confidence (issue 6), and that both match the truth.
  void ExpectSameAnswers(const RawImage& gt, const std::vector<RawImage>& noisy,
                         const std::vector<CaptureSpec>& truth) {
    std::vector<const RawImage*> batch;
    for (const RawImage& image : noisy) batch.push_back(&image);
    ASSERT_TRUE(cpu_->SetReference(gt).ok());
    ASSERT_TRUE(gpu_->SetReference(gt).ok());
    auto cpu = cpu_->Align(batch);
    auto gpu = gpu_->Align(batch);
    ASSERT_EQ(cpu.size(), batch.size());
    ASSERT_EQ(gpu.size(), batch.size());
    for (std::size_t i = 0; i < batch.size(); ++i) {
      ASSERT_TRUE(cpu[i].ok()) << cpu[i].status().ToString();
      ASSERT_TRUE(gpu[i].ok()) << gpu[i].status().ToString();
      EXPECT_EQ(gpu[i]->dy, truth[i].dy) << "capture " << i;
      EXPECT_EQ(gpu[i]->dx, truth[i].dx) << "capture " << i;
      EXPECT_EQ(gpu[i]->dy, cpu[i]->dy);
      EXPECT_EQ(gpu[i]->dx, cpu[i]->dx);
      EXPECT_NEAR(gpu[i]->dy_subpx, cpu[i]->dy_subpx, 0.01);
      EXPECT_NEAR(gpu[i]->dx_subpx, cpu[i]->dx_subpx, 0.01);
      EXPECT_NEAR(gpu[i]->confidence, cpu[i]->confidence,
                  0.01 * std::abs(cpu[i]->confidence) + 1e-9);
      EXPECT_NEAR(gpu[i]->raw_gain, cpu[i]->raw_gain, 1e-3);
      EXPECT_NEAR(gpu[i]->loss, cpu[i]->loss, 1e-4);
    }
  }

  AlignParams params_;
  std::unique_ptr<SceneCorrelator> gpu_, cpu_;
};

TEST_F(CudaCorrelatorTest, SameAnswersAsTheCpuOnEveryCfaAndNoiseLevel) {
  const char* cfas[] = {"rggb", "bggr", "grbg", "gbrg", "xtrans"};
  int seed = 1;
  for (const char* cfa : cfas) {
    SceneSpec spec;
    spec.width = 768;
    spec.height = 512;
    spec.cfa = *CfaPattern::FromName(cfa);
    spec.seed = static_cast<std::uint64_t>(seed++);
    spec.clipped_fraction = 0.05;
    SyntheticScene scene(spec);
    const RawImage gt = scene.RenderGt();
    std::vector<CaptureSpec> truth;
    std::vector<RawImage> noisy;
    const int shifts[][2] = {{0, 0}, {1, -1}, {-7, 12}, {33, -65}, {-127, 127}};
    for (int level = 1; level < kNoiseLevelCount; ++level) {
      CaptureSpec capture;
      capture.dy = shifts[level][0];
      capture.dx = shifts[level][1];
      capture.noise_level = level;
      capture.gain = level % 2 ? 0.5 : 2.0;
      capture.noise_seed = static_cast<std::uint64_t>(seed * 10 + level);
      if (level == 2) capture.moved_object = Box{100, 200, 120, 160};
      truth.push_back(capture);
      noisy.push_back(scene.RenderCapture(capture));
    }
    SCOPED_TRACE(cfa);
    ExpectSameAnswers(gt, noisy, truth);
  }
}

TEST_F(CudaCorrelatorTest, TinyGpuMemoryForcesSubBatchesWithIdenticalResults) {
  SceneSpec spec;
  spec.width = 1024;
  spec.height = 768;
  spec.seed = 42;
  SyntheticScene scene(spec);
  const RawImage gt = scene.RenderGt();
  std::vector<CaptureSpec> truth;
  std::vector<RawImage> noisy;
  for (int i = 0; i < 6; ++i) {
    CaptureSpec capture;
    capture.dy = 3 * i - 8;
    capture.dx = 11 - 5 * i;
    capture.noise_level = 1 + i % 4;
    capture.noise_seed = 100 + i;
    truth.push_back(capture);
    noisy.push_back(scene.RenderCapture(capture));
  }
  params_.gpu_memory_bytes = 48u << 20;  // room for about one capture
  auto small = MakeCorrelator(Device::kGpu, params_);
  ASSERT_TRUE(small.ok()) << small.status().ToString();
  gpu_ = std::move(small).value();
  ExpectSameAnswers(gt, noisy, truth);
}

// A self pair in a batch (the GT, and a copy of it, among shifted
// captures): both devices return SelfPairAlignment for it without a
// transform, exactly, and the other captures' answers stay the CPU's.
TEST_F(CudaCorrelatorTest, SelfPairsInABatchAreTheIdentityOnBothDevices) {
  SceneSpec spec;
  spec.width = 768;
  spec.height = 512;
  spec.seed = 9;
  spec.clipped_fraction = 0.05;
  SyntheticScene scene(spec);
  const RawImage gt = scene.RenderGt();
  const RawImage copy = scene.RenderGt();  // the same pixels, another buffer
  std::vector<RawImage> shifted;
  for (int i = 0; i < 2; ++i) {
    CaptureSpec capture;
    capture.dy = 5 - 9 * i;
    capture.dx = 13 * i - 3;
    capture.noise_level = 2 + i;
    capture.noise_seed = 50 + i;
    shifted.push_back(scene.RenderCapture(capture));
  }
  const std::vector<const RawImage*> batch = {&shifted[0], &gt, &copy,
                                              &shifted[1]};
  ASSERT_TRUE(cpu_->SetReference(gt).ok());
  ASSERT_TRUE(gpu_->SetReference(gt).ok());
  const auto cpu = cpu_->Align(batch);
  const auto gpu = gpu_->Align(batch);
  ASSERT_EQ(gpu.size(), batch.size());
  const Alignment identity = SelfPairAlignment();
  for (std::size_t i : {std::size_t{1}, std::size_t{2}}) {
    SCOPED_TRACE(i);
    ASSERT_TRUE(gpu[i].ok()) << gpu[i].status().ToString();
    EXPECT_EQ(gpu[i]->dy, identity.dy);
    EXPECT_EQ(gpu[i]->dx, identity.dx);
    EXPECT_EQ(gpu[i]->dy_subpx, identity.dy_subpx);
    EXPECT_EQ(gpu[i]->dx_subpx, identity.dx_subpx);
    EXPECT_EQ(gpu[i]->confidence, identity.confidence);
    EXPECT_EQ(gpu[i]->raw_gain, identity.raw_gain);
    EXPECT_EQ(gpu[i]->loss, identity.loss);
  }
  for (std::size_t i : {std::size_t{0}, std::size_t{3}}) {
    SCOPED_TRACE(i);
    ASSERT_TRUE(cpu[i].ok() && gpu[i].ok());
    EXPECT_EQ(gpu[i]->dy, cpu[i]->dy);
    EXPECT_EQ(gpu[i]->dx, cpu[i]->dx);
    EXPECT_LT(gpu[i]->confidence, 1.0);
  }
}

}  // namespace
}  // namespace dsb
