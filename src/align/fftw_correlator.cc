#include "align/fftw_correlator.h"

#include <tbb/enumerable_thread_specific.h>
#include <tbb/parallel_for.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <functional>
#include <memory>
#include <optional>

#include "align/colour_match.h"
#include "align/correlator_common.h"
#include "align/fftw_plans.h"
#include "align/fine_reference.h"
#include "align/mosaic_luma.h"
#include "align/shift_search.h"

namespace dsb {

namespace {

// See SetReference: frames up to this many pixels find the GT's clipped
// spans with its coarse luma (the mid-size frames of shift_search.cc's
// kSmallCoarseSamples, 0.6-10 MP, and smaller).
constexpr double kEagerSpansPixels = 10e6;

class FftwCorrelator : public SceneCorrelator {
 public:
  explicit FftwCorrelator(const AlignParams& params) : params_(params) {}

  Status SetReference(const RawImage& gt) override {
    gt_ = nullptr;
    gt_fine_.reset();
    DSB_RETURN_IF_ERROR(CheckReference(gt));
    EffectiveSearch(params_, gt.height(), gt.width(), &max_dy_, &max_dx_);
    geometry_ =
        PlanCoarse(gt.height(), gt.width(), gt.cfa.period(), max_dy_, max_dx_);
    DSB_ASSIGN_OR_RETURN(
        forward_,
        GetColumnMajorForward(geometry_.fft_height, geometry_.fft_width,
                              geometry_.height, std::max(1, params_.threads)));
    // FindCoarsePeaks reads the surface's rows within search_y + 1 of row
    // 0 (circularly): where those are a small part of the grid (camera-
    // sized frames: ~70 of ~1150), only they are transformed back.
    const int top = geometry_.search_y + 2, bottom = geometry_.search_y + 1;
    partial_ = std::nullopt;
    if (2 * (top + bottom) <= geometry_.fft_height) {
      DSB_ASSIGN_OR_RETURN(
          partial_,
          GetPartialInverse(geometry_.fft_height, geometry_.fft_width, top,
                            bottom, std::max(1, params_.threads)));
    } else {
      DSB_ASSIGN_OR_RETURN(
          inverse_, GetFftPlans(geometry_.fft_height, geometry_.fft_width,
                                std::max(1, params_.threads)));
    }
    complex_count_ = static_cast<std::size_t>(geometry_.fft_height) *
                     (geometry_.fft_width / 2 + 1);
    DSB_ASSIGN_OR_RETURN(gt_spectrum_, AllocateComplex(complex_count_));
    DSB_RETURN_IF_ERROR(Fit(own_));

    gt_balance_ = ChannelBalance(gt);
    auto fine = std::make_unique<FineReference>(gt, gt_balance_);
    // On frames up to kEagerSpansPixels the GT's clipped spans are found as
    // its coarse luma reads its rows (in cache then), not by the scene's
    // first pairs from memory (their fine search's fixed cost is a large
    // share of such a pair). On larger frames the tiles' rows are a small
    // part of the frame: finding every row's spans cost ~0.13 ms/MP once
    // per GT at 24 MP, more than the pairs' lazy finding of theirs.
    std::function<void(int, int)> find_spans;
    if (static_cast<double>(gt.height()) * gt.width() <= kEagerSpansPixels) {
      find_spans = [&](int y0, int y1) { fine->spans.FindRows(y0, y1); };
    }
    PrepareLuma(gt, gt_balance_, own_.real.get(), find_spans);
    ExecuteColumnMajorForward(forward_, own_.real.get(), own_.spectrum.get(),
                              gt_spectrum_.get());
    gt_fine_ = std::move(fine);
    gt_ = &gt;
    return Status::Ok();
  }

  // A batch is aligned in parallel, each thread with its own coarse buffers
  // (the GT's spectrum and the cached plans are shared read-only); every
  // result is what aligning that capture alone gives. The threads' buffers
  // are kept for the next batch: a build hands a scene's captures over in
  // batches of a few, and buffers made afresh for each batch were faulted
  // in and zeroed again each time (two 1-7 MB buffers per thread and batch).
  using SceneCorrelator::Align;
  std::vector<Result<Alignment>> Align(
      std::span<const RawImage* const> noisy,
      std::span<const std::optional<bool>> same_pixels) override {
    std::vector<Result<Alignment>> results(noisy.size(),
                                           Status::Internal("not aligned"));
    if (noisy.size() <= 1) {
      for (std::size_t i = 0; i < noisy.size(); ++i) {
        results[i] = AlignOne(*noisy[i], SamePixelsOf(same_pixels, i), own_);
      }
      return results;
    }
    tbb::parallel_for(std::size_t{0}, noisy.size(), [&](std::size_t i) {
      results[i] = AlignOne(*noisy[i], SamePixelsOf(same_pixels, i),
                            per_thread_.local());
    });
    return results;
  }

  std::string name() const override {
    return "cpu (FFTW3, " + std::to_string(std::max(1, params_.threads)) +
           (params_.threads > 1 ? " threads)" : " thread)");
  }

 private:
  // One capture's coarse buffers, sized for the current reference.
  struct Buffers {
    std::size_t real_count = 0, complex_count = 0;
    RealBuffer real;
    ComplexBuffer spectrum;
  };

  Status Fit(Buffers& buffers) const {
    // Large enough to take a column-major spectrum (see AlignOne).
    const std::size_t real_count =
        ColumnMajorRealCount(geometry_.fft_height, geometry_.fft_width);
    if (buffers.real_count != real_count ||
        buffers.complex_count != complex_count_) {
      DSB_ASSIGN_OR_RETURN(buffers.real, AllocateReal(real_count));
      DSB_ASSIGN_OR_RETURN(buffers.spectrum, AllocateComplex(complex_count_));
      buffers.real_count = real_count;
      buffers.complex_count = complex_count_;
    }
    return Status::Ok();
  }

  // The coarse luminance straight into the FFT buffer, made zero-mean,
  // tapered and padded there (no separate coarse plane).
  // `rows_read`: see CoarseLumaInto.
  void PrepareLuma(const RawImage& image, const std::array<float, 3>& balance,
                   float* real,
                   const std::function<void(int, int)>& rows_read = {}) const {
    const PlaneView<float> top_left{real, geometry_.width, geometry_.height,
                                    geometry_.fft_width};
    CoarseLumaInto(image, balance, geometry_.stride, geometry_.box, top_left,
                   rows_read);
    PrepareCoarseInPlace(geometry_, geometry_.height, geometry_.width, real);
  }

  Result<Alignment> AlignOne(const RawImage& noisy,
                             std::optional<bool> same_pixels,
                             Buffers& buffers) const {
    if (gt_ == nullptr) {
      return Status::Internal("Align called without a reference");
    }
    DSB_RETURN_IF_ERROR(CheckPair(*gt_, noisy));
    // Decided once here (the caller usually knows): FinishAlignment asks
    // again for pairs of equal pixels at another clipping level.
    const bool same =
        same_pixels.has_value() ? *same_pixels : SamePixels(*gt_, noisy);
    if (IsSelfPair(*gt_, noisy, same)) return SelfPairAlignment();
    DSB_RETURN_IF_ERROR(Fit(buffers));
    const std::array<float, 3> balance = ChannelBalance(noisy);
    // The coarse luma in `real`; its spectrum (column-major, the rows'
    // transforms in `spectrum` on the way) over it; the cross-power
    // spectrum in `spectrum`; the surface in `real` (partial inverse) or,
    // through the spectrum's rows in `real`, in `spectrum` (whole inverse).
    float* real = buffers.real.get();
    auto* real_as_complex = reinterpret_cast<fftwf_complex*>(real);
    PrepareLuma(noisy, balance, real);
    ExecuteColumnMajorForward(forward_, real, buffers.spectrum.get(),
                              real_as_complex);
    CrossPower(reinterpret_cast<const float*>(gt_spectrum_.get()), real,
               complex_count_,
               reinterpret_cast<float*>(buffers.spectrum.get()));
    const float* surface = real;
    if (partial_) {
      ExecutePartialInverse(*partial_, buffers.spectrum.get(), real);
    } else {
      ColumnMajorToRows(buffers.spectrum.get(), geometry_.fft_height,
                        geometry_.fft_width, real_as_complex);
      float* whole = reinterpret_cast<float*>(buffers.spectrum.get());
      fftwf_execute_dft_c2r(inverse_.inverse, real_as_complex, whole);
      surface = whole;
    }
    return FinishAlignment(*gt_, gt_balance_, noisy, balance, geometry_,
                           surface, max_dy_, max_dx_, same, gt_fine_.get());
  }

  AlignParams params_;
  const RawImage* gt_ = nullptr;
  std::array<float, 3> gt_balance_{};
  CoarseGeometry geometry_;
  ColumnMajorForward forward_;
  // The surface's rows near row 0 alone (see SetReference), else the whole
  // inverse (inverse_.inverse; inverse_.forward is not used).
  std::optional<PartialInverse> partial_;
  FftPlans inverse_;
  std::size_t complex_count_ = 0;
  ComplexBuffer gt_spectrum_;
  // The GT as the fine search reads it, once per scene (clipped spans and
  // luma blocks found as pairs ask; read by a batch's threads at once).
  std::unique_ptr<FineReference> gt_fine_;
  Buffers own_;  // for SetReference and single captures
  // For batches, one set per thread, kept between calls (see Align).
  tbb::enumerable_thread_specific<Buffers> per_thread_;
  int max_dy_ = 0, max_dx_ = 0;
};

}  // namespace

std::unique_ptr<SceneCorrelator> MakeFftwCorrelator(const AlignParams& params) {
  return std::make_unique<FftwCorrelator>(params);
}

}  // namespace dsb
