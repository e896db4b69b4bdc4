#include "align/fftw_correlator.h"

#include <algorithm>
#include <array>
#include <cmath>

#include "align/colour_match.h"
#include "align/fftw_plans.h"
#include "align/mosaic_luma.h"
#include "align/shift_search.h"

namespace dsb {

namespace {

// Coarse candidates the fine search verifies: the true peak is almost
// always first; the others catch moved objects and periodic structure.
constexpr int kCandidates = 4;

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

void EffectiveSearch(const AlignParams& params, int height, int width,
                     int* max_dy, int* max_dx) {
  *max_dy = std::max(0, std::min(params.max_shift, height / 2));
  *max_dx = std::max(0, std::min(params.max_shift, width / 2));
}

Status CheckPair(const RawImage& gt, const RawImage& noisy) {
  if (gt.width() != noisy.width() || gt.height() != noisy.height()) {
    return Status::InvalidArgument(
        noisy.path + " is " + std::to_string(noisy.width()) + "x" +
        std::to_string(noisy.height()) + " but its GT " + gt.path + " is " +
        std::to_string(gt.width()) + "x" + std::to_string(gt.height()) +
        "; captures of one scene must come from one camera");
  }
  if (!(gt.cfa == noisy.cfa)) {
    return Status::InvalidArgument(
        noisy.path + " has CFA " + noisy.cfa.name() + " but its GT " + gt.path +
        " has " + gt.cfa.name() +
        "; captures of one scene must come from one camera");
  }
  return Status::Ok();
}

Result<Alignment> FinishAlignment(const RawImage& gt,
                                  const std::array<float, 3>& gt_balance,
                                  const RawImage& noisy,
                                  const CoarseGeometry& geometry,
                                  const float* surface, int max_dy,
                                  int max_dx) {
  return FinishAlignment(gt, gt_balance, noisy, ChannelBalance(noisy), geometry,
                         surface, max_dy, max_dx);
}

Result<Alignment> FinishAlignment(const RawImage& gt,
                                  const std::array<float, 3>& gt_balance,
                                  const RawImage& noisy,
                                  const std::array<float, 3>& balance,
                                  const CoarseGeometry& geometry,
                                  const float* surface, int max_dy,
                                  int max_dx) {
  const std::vector<CoarsePeak> peaks =
      FindCoarsePeaks(surface, geometry, kCandidates);
  if (peaks.empty()) {
    return Status::Internal(noisy.path + ": no correlation peak");
  }
  // The coarse estimate is good to about one coarse sample.
  const int radius = geometry.stride + 1;
  const FineResult fine =
      FineSearch(gt, gt_balance, noisy, balance, peaks, radius, max_dy, max_dx);
  if (fine.score < -1) {
    return Status::InvalidArgument(noisy.path + ": too little overlap with " +
                                   gt.path + " to verify any shift within ±" +
                                   std::to_string(max_dy) + " x ±" +
                                   std::to_string(max_dx) + " px");
  }
  Alignment alignment;
  alignment.dy = fine.dy;
  alignment.dx = fine.dx;
  alignment.dy_subpx = fine.dy_subpx;
  alignment.dx_subpx = fine.dx_subpx;
  alignment.confidence = fine.score;
  Overlap overlap = ComputeOverlap(gt.height(), gt.width(), fine.dy, fine.dx);
  alignment.raw_gain = RawGain(gt, noisy, overlap);
  const RefineResult refined = RefineShift(gt, noisy, fine.dy, fine.dx,
                                           alignment.raw_gain, max_dy, max_dx);
  if (refined.dy != fine.dy || refined.dx != fine.dx) {
    alignment.dy = refined.dy;
    alignment.dx = refined.dx;
    // The fine surface's sub-pixel estimate, kept within half a pixel of
    // the integer shift it now belongs to.
    alignment.dy_subpx =
        std::clamp(fine.dy_subpx, refined.dy - 0.5, refined.dy + 0.5);
    alignment.dx_subpx =
        std::clamp(fine.dx_subpx, refined.dx - 0.5, refined.dx + 0.5);
    overlap = ComputeOverlap(gt.height(), gt.width(), refined.dy, refined.dx);
    alignment.raw_gain = RawGain(gt, noisy, overlap);
  }
  alignment.loss = GainMatchedLoss(gt, noisy, overlap, alignment.raw_gain);
  return alignment;
}

std::unique_ptr<SceneCorrelator> MakeFftwCorrelator(const AlignParams& params) {
  return std::make_unique<FftwCorrelator>(params);
}

}  // namespace dsb
