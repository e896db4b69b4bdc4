#include "align/fftw_correlator.h"

#include <algorithm>
#include <array>
#include <cmath>

#include "align/colour_match.h"
#include "align/correlator_common.h"
#include "align/fftw_plans.h"
#include "align/mosaic_luma.h"
#include "align/shift_search.h"

namespace dsb {

namespace {

class FftwCorrelator : public SceneCorrelator {
 public:
  explicit FftwCorrelator(const AlignParams& params) : params_(params) {}

  Status SetReference(const RawImage& gt) override {
    gt_ = nullptr;
    if (gt.width() < 32 || gt.height() < 32) {
      return Status::InvalidArgument(
          gt.path + ": image of " + std::to_string(gt.width()) + "x" +
          std::to_string(gt.height()) + " is too small to align");
    }
    EffectiveSearch(params_, gt.height(), gt.width(), &max_dy_, &max_dx_);
    geometry_ =
        PlanCoarse(gt.height(), gt.width(), gt.cfa.period(), max_dy_, max_dx_);
    DSB_ASSIGN_OR_RETURN(plans_,
                         GetFftPlans(geometry_.fft_height, geometry_.fft_width,
                                     std::max(1, params_.threads)));
    const std::size_t real_count =
        static_cast<std::size_t>(geometry_.fft_height) * geometry_.fft_width;
    complex_count_ = static_cast<std::size_t>(geometry_.fft_height) *
                     (geometry_.fft_width / 2 + 1);
    DSB_ASSIGN_OR_RETURN(real_, AllocateReal(real_count));
    DSB_ASSIGN_OR_RETURN(gt_spectrum_, AllocateComplex(complex_count_));
    DSB_ASSIGN_OR_RETURN(noisy_spectrum_, AllocateComplex(complex_count_));

    gt_balance_ = ChannelBalance(gt);
    const Plane<float> coarse =
        CoarseLuma(gt, gt_balance_, geometry_.stride, geometry_.box);
    PrepareCoarse(coarse, geometry_, real_.get());
    fftwf_execute_dft_r2c(plans_.forward, real_.get(), gt_spectrum_.get());
    gt_ = &gt;
    return Status::Ok();
  }

  std::vector<Result<Alignment>> Align(
      std::span<const RawImage* const> noisy) override {
    std::vector<Result<Alignment>> results;
    for (const RawImage* image : noisy) results.push_back(AlignOne(*image));
    return results;
  }

  std::string name() const override {
    return "cpu (FFTW3, " + std::to_string(std::max(1, params_.threads)) +
           (params_.threads > 1 ? " threads)" : " thread)");
  }

 private:
  Result<Alignment> AlignOne(const RawImage& noisy) {
    if (gt_ == nullptr) {
      return Status::Internal("Align called without a reference");
    }
    DSB_RETURN_IF_ERROR(CheckPair(*gt_, noisy));
    const std::array<float, 3> balance = ChannelBalance(noisy);
    const Plane<float> coarse =
        CoarseLuma(noisy, balance, geometry_.stride, geometry_.box);
    PrepareCoarse(coarse, geometry_, real_.get());
    fftwf_execute_dft_r2c(plans_.forward, real_.get(), noisy_spectrum_.get());
    CrossPower(reinterpret_cast<const float*>(gt_spectrum_.get()),
               reinterpret_cast<const float*>(noisy_spectrum_.get()),
               complex_count_, reinterpret_cast<float*>(noisy_spectrum_.get()));
    fftwf_execute_dft_c2r(plans_.inverse, noisy_spectrum_.get(), real_.get());
    return FinishAlignment(*gt_, gt_balance_, noisy, balance, geometry_,
                           real_.get(), max_dy_, max_dx_);
  }

  AlignParams params_;
  const RawImage* gt_ = nullptr;
  std::array<float, 3> gt_balance_{};
  CoarseGeometry geometry_;
  FftPlans plans_;
  std::size_t complex_count_ = 0;
  RealBuffer real_;
  ComplexBuffer gt_spectrum_, noisy_spectrum_;
  int max_dy_ = 0, max_dx_ = 0;
};

}  // namespace

std::unique_ptr<SceneCorrelator> MakeFftwCorrelator(const AlignParams& params) {
  return std::make_unique<FftwCorrelator>(params);
}

}  // namespace dsb
