#include "align/correlator_common.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "align/colour_match.h"
#include "align/mosaic_luma.h"

namespace dsb {

namespace {

// Coarse candidates the fine search verifies: the true peak is almost
// always first; the others catch moved objects and periodic structure.
constexpr int kCandidates = 4;
// The most RefineShift runs per pair: the first from the fine search's
// shift, each further one from where the previous one moved to (so the
// shift moves at most kRefineSteps px in each axis).
constexpr int kRefineSteps = 4;

}  // namespace

namespace {
std::atomic<std::int64_t> same_pixels_calls{0};
}  // namespace

std::int64_t internal::SamePixelsCalls() {
  return same_pixels_calls.load(std::memory_order_relaxed);
}

bool SamePixels(const RawImage& a, const RawImage& b) {
  same_pixels_calls.fetch_add(1, std::memory_order_relaxed);
  if (a.width() != b.width() || a.height() != b.height()) return false;
  if (&a == &b || a.pixels.data() == b.pixels.data()) return true;
  const std::size_t row_bytes = sizeof(float) * a.width();
  for (int y = 0; y < a.height(); ++y) {
    if (std::memcmp(a.pixels.row(y), b.pixels.row(y), row_bytes) != 0) {
      return false;
    }
  }
  return true;
}

bool IsSelfPair(const RawImage& gt, const RawImage& noisy,
                std::optional<bool> same_pixels) {
  return gt.cfa == noisy.cfa &&
         gt.meta.overexposure_lb == noisy.meta.overexposure_lb &&
         (same_pixels.has_value() ? *same_pixels : SamePixels(gt, noisy));
}

Alignment SelfPairAlignment() {
  Alignment alignment;
  alignment.dy = 0;
  alignment.dx = 0;
  alignment.dy_subpx = 0.0;
  alignment.dx_subpx = 0.0;
  alignment.confidence = 1.0;
  alignment.raw_gain = 1.0;
  alignment.loss = 0.0;
  return alignment;
}

int FastFftSize(int minimum) {
  for (int n = std::max(1, minimum);; ++n) {
    int m = n;
    for (int p : {2, 3, 5, 7}) {
      while (m % p == 0) m /= p;
    }
    if (m == 1) return n;
  }
}

int PowerOfTwoThreeSize(int minimum) {
  for (int n = std::max(1, minimum);; ++n) {
    int m = n;
    for (int p : {2, 3}) {
      while (m % p == 0) m /= p;
    }
    if (m == 1) return n;
  }
}

void EffectiveSearch(const AlignParams& params, int height, int width,
                     int* max_dy, int* max_dx) {
  *max_dy = std::max(0, std::min(params.max_shift, height / 2));
  *max_dx = std::max(0, std::min(params.max_shift, width / 2));
}

Status CheckReference(const RawImage& gt) {
  if (gt.width() < 32 || gt.height() < 32) {
    return Status::InvalidArgument(
        gt.path + ": image of " + std::to_string(gt.width()) + "x" +
        std::to_string(gt.height()) + " is too small to align");
  }
  return Status::Ok();
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
  return FinishAlignment(gt, gt_balance, noisy, balance, geometry, surface,
                         max_dy, max_dx, std::nullopt);
}

Result<Alignment> FinishAlignment(
    const RawImage& gt, const std::array<float, 3>& gt_balance,
    const RawImage& noisy, const std::array<float, 3>& balance,
    const CoarseGeometry& geometry, const float* surface, int max_dy,
    int max_dx, std::optional<bool> self_pair, const FineReference* reference) {
  const std::vector<CoarsePeak> peaks =
      FindCoarsePeaks(surface, geometry, kCandidates);
  if (peaks.empty()) {
    return Status::Internal(noisy.path + ": no correlation peak");
  }
  const int radius = FineRadius(geometry);
  const FineResult fine = FineSearch(gt, gt_balance, noisy, balance, peaks,
                                     radius, max_dy, max_dx, reference);
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
  // Not value_or(SamePixels(...)): that compares both frames in full even
  // when the caller already knows (every correlator does).
  if (fine.dy == 0 && fine.dx == 0 &&
      (self_pair.has_value() ? *self_pair : SamePixels(gt, noisy))) {
    // A self pair at shift 0: every colour-matched GT pixel is the noisy
    // pixel itself, so what the steps below compute is known exactly. Every
    // block ratio of RawGain is 1 (so is their median, and its fallback);
    // at gain 1 every block loss of RefineShift's centre is 0, so no
    // neighbour's median difference is negative and the shift stays; the
    // loss is a mean of |g - 1 * g| = 0. (SelfPairTest checks these against
    // the functions themselves.)
    alignment.raw_gain = 1.0;
    alignment.loss = 0.0;
    return alignment;
  }
  alignment.raw_gain = RawGain(gt, noisy, overlap);
  // The first run from the fine search's shift, whose sub-pixel estimate
  // may tie it with a neighbour (HalfPixelTieOf); the later runs from
  // shifts the refinement chose, without one.
  RefineResult refined =
      RefineShift(gt, noisy, fine.dy, fine.dx, alignment.raw_gain, max_dy,
                  max_dx, HalfPixelTieOf(fine));
  // A move on the half-pixel tie's plain majority stands only where the
  // neighbour's own side confirms it (TieMoveConfirmed); else the fine
  // shift stays, as before alignment revision 11 (align_bench
  // --sweep-large 100 25 --photos, pair 39: RGGB at noise level 4, the
  // truth -121 estimated at -120.54; -120 won 145 to 130 blocks at
  // -121's gain, and from -120 at its own gain -121 was worse on only 146
  // to 129, no lead: it moved 1 px off. Seed 9's pair 67, the tie rule's
  // case: from -97, -96 worse on 154 to 110, a lead).
  if (refined.on_tie_majority &&
      !TieMoveConfirmed(gt, noisy, {fine.dy, fine.dx}, refined)) {
    refined.dy = fine.dy;
    refined.dx = fine.dx;
  }
  // A refinement that moves the shift runs again from where it moved to
  // (at that shift's gain), until it keeps its centre or kRefineSteps
  // have run: on a photograph with a moved object at the most extreme
  // noise the fine surface's maximum can be 2 px off, and one step of +-1
  // left the shift 1 px short (align_bench --sweep-large 100 5 --photos:
  // 2 of 100 pairs, each 2 px off after the fine search; issue 17).
  // Each step passes the same median and sign test against its centre, so
  // a shift the refinement keeps is never moved, and a single step that
  // its next run keeps gives the same result as before, bit for bit (the
  // kept centre's loss is PairLoss's at its gain).
  for (int step = 1; step < kRefineSteps &&
                     (refined.dy != alignment.dy || refined.dx != alignment.dx);
       ++step) {
    alignment.dy = refined.dy;
    alignment.dx = refined.dx;
    overlap = ComputeOverlap(gt.height(), gt.width(), refined.dy, refined.dx);
    alignment.raw_gain = RawGain(gt, noisy, overlap);
    refined = RefineShift(gt, noisy, refined.dy, refined.dx, alignment.raw_gain,
                          max_dy, max_dx);
  }
  if (refined.dy != alignment.dy || refined.dx != alignment.dx) {
    // The last step moved the shift (kRefineSteps ran out).
    alignment.dy = refined.dy;
    alignment.dx = refined.dx;
    overlap = ComputeOverlap(gt.height(), gt.width(), refined.dy, refined.dx);
    alignment.raw_gain = RawGain(gt, noisy, overlap);
    alignment.loss = PairLoss(gt, noisy, overlap, alignment.raw_gain);
  } else {
    // The refinement's own block sums at this shift and gain: what
    // PairLoss computes, without a pass of its own.
    alignment.loss = refined.loss;
  }
  if (alignment.dy != fine.dy || alignment.dx != fine.dx) {
    // The fine surface's sub-pixel estimate, kept within half a pixel of
    // the integer shift it now belongs to.
    alignment.dy_subpx =
        std::clamp(fine.dy_subpx, alignment.dy - 0.5, alignment.dy + 0.5);
    alignment.dx_subpx =
        std::clamp(fine.dx_subpx, alignment.dx - 0.5, alignment.dx + 0.5);
  }
  return alignment;
}

}  // namespace dsb
