// The steps of the shift search that do not depend on where the FFTs run,
// shared by the CPU and GPU correlators so both give the same answers.
// (FinishAlignment in correlator_common.h runs steps 2-4 for both.)
//
// 1. Coarse: both images become a CFA-invariant luminance (mosaic_luma.h)
//    averaged over box x box windows every `stride` pixels (~2.5 M samples
//    on frames over 10 MP, 0.15-0.6 M on 2.4-10 MP ones at stride 4,
//    every pixel under 0.6 MP); their partially whitened cross-power
//    spectrum gives a correlation surface whose strongest local maxima
//    within the search radius are candidate shifts. The GT's spectrum is
//    computed once per scene.
// 2. Fine: around each candidate (secondary ones only when their coarse
//    peak is at least a quarter of the strongest, or when the strongest
//    cannot be scored), every integer
//    shift within FineRadius (stride / 2, or + 2 under stride 4) is scored
//    by the normalised
//    cross-correlation
//    of the full-resolution period luminance (PeriodLuma: period x period
//    box sums, CFA-invariant, so odd and X-Trans shifts are resolved).
//    Large overlaps use the 8 most textured of a 4x4 grid of tiles of up
//    to 192 px; small overlaps (<= 8 such tiles) use all of it as one tile.
//    Samples whose period box is near clipping in either capture are
//    masked out (clipped highlights are bright, flat and would dominate).
//    The score pools the tiles: sum(cov) / sqrt(sum(var_noisy) *
//    sum(var_gt)), so flat tiles, mostly noise, weigh little. This rejects
//    coarse peaks caused by moved objects or periodic structure, because
//    it is a direct comparison. Colours clipped over much of the frame
//    are left out (FineColours); a window's edge maximum loses to any
//    interior one, and maxima of different windows close together
//    (within 6 px or 1/32 of the frame) are compared again on one set of
//    tiles and one mask. A winner other than the strongest coarse peak's
//    own (interior) maximum must also have a lower loss than that maximum
//    on more blocks of the colour-matched mosaics than a higher one (as
//    RefineShift compares neighbours), or that maximum wins: the pooled
//    score weighs tiles by energy, and a few tiles (a moved object next
//    to clipping) can carry it.
// 3. Refine: see RefineShift below.
// 4. Gain and loss on the overlap (colour_match.h).
//
// The score of step 2 at the final shift is the pair's confidence: 1 is
// a perfect match, 0 no relation; higher is better.
//
// Thread safety: pure functions.
#pragma once

#include <array>
#include <vector>

#include "core/alignment.h"
#include "core/plane.h"
#include "core/raw_image.h"

namespace dsb {

struct FineReference;  // align/fine_reference.h
class ClippedSpans;    // align/fine_reference.h

// How the coarse grid is laid out for an image size and CFA.
struct CoarseGeometry {
  int stride = 1;             // full-res pixels between coarse samples
  int box = 2;                // averaging window (a multiple of the CFA period)
  int height = 0, width = 0;  // coarse image size
  int fft_height = 0, fft_width = 0;  // padded transform size
  int search_y = 0, search_x = 0;     // coarse search radius
};
CoarseGeometry PlanCoarse(int height, int width, int period, int max_dy,
                          int max_dx);

// Copies `coarse` into the top-left of a fft_height x fft_width buffer,
// zero-mean and tapered at its edges (so the image border is no feature),
// zeros elsewhere.
void PrepareCoarse(const Plane<float>& coarse, const CoarseGeometry& geometry,
                   float* padded);
// The same where the coarse image (height x width) was written straight
// into the top-left of `padded` (row pitch fft_width; CoarseLumaInto), so
// it is neither kept nor copied on its own.
void PrepareCoarseInPlace(const CoarseGeometry& geometry, int height, int width,
                          float* padded);

// Partial whitening of the cross-power spectrum in place:
// out = G * conj(N) / (|G| |N|)^kWhitening. Full phase correlation
// (exponent 1) amplifies noise at high ISO; plain correlation (0) gives a
// broad peak; 0.7 keeps a sharp peak robust to noise and gain.
inline constexpr float kWhitening = 0.7f;
void CrossPower(const float* gt_spectrum, const float* noisy_spectrum,
                std::size_t complex_count, float* out);

struct CoarsePeak {
  double dy = 0, dx = 0;  // in full-resolution pixels (sub-pixel)
  float value = 0;
};
// The strongest local maxima of the circular correlation surface within
// the search radius, best first. Only the surface's rows within
// search_y + 1 of row 0 (circularly) are read (the CPU correlator
// transforms only those back).
std::vector<CoarsePeak> FindCoarsePeaks(const float* surface,
                                        const CoarseGeometry& geometry,
                                        int count);

// Sets out(i, j) to 0 where a pixel of `image` of a `watched` colour at or
// above `clip` lies in the box of box_h x box_w whose top-left is (y0 + i,
// x0 + j), for i < h, j < w (out is h x w); leaves the rest. On a mask of
// 0s and 1s that is the product with UnclippedBoxes' plane, without making
// that plane (a fill of 1s) and multiplying (a pass) per tile. `spans`,
// where given, are the image's ClippedSpans at `clip` (the GT's, kept per
// scene): rows whose spans hold no clipped pixel are not read at all.
void ClearClippedBoxes(const RawImage& image, float clip,
                       const std::array<bool, 3>& watched, int y0, int x0,
                       int h, int w, int box_h, int box_w, Plane<float>& out,
                       const ClippedSpans* spans = nullptr);

// 1 where no pixel of `image` of a `watched` colour at or above `clip` lies
// in the box of box_h x box_w whose top-left is (y0 + i, x0 + j), for
// i < h, j < w; 0 elsewhere (the fine search's tile masks).
Plane<float> UnclippedBoxes(const RawImage& image, float clip,
                            const std::array<bool, 3>& watched, int y0, int x0,
                            int h, int w, int box_h, int box_w);
// The same into `out`, resized to w x h: its storage is reused and every
// entry written (nothing is filled first).
void UnclippedBoxes(const RawImage& image, float clip,
                    const std::array<bool, 3>& watched, int y0, int x0, int h,
                    int w, int box_h, int box_w, Plane<float>& out);

// The colours the fine search compares: those clipped in at most a quarter
// of their samples in both captures (every colour when all are). A colour
// clipped over most of the frame (the red of a warm or overexposed
// photograph, a capture brighter than its GT) would otherwise put a
// clipped pixel in almost every period box and mask out nearly every
// sample; left out, the others carry the comparison (every period box
// holds a fixed number of each colour, so a luminance of some colours is
// as CFA-invariant as one of all three).
// `reference`, where given, is the GT's FineReference (its shares kept
// per scene; the same values ClippedShares reads here otherwise).
std::array<bool, 3> FineColours(const RawImage& gt, const RawImage& noisy,
                                const FineReference* reference = nullptr);

struct FineResult {
  int dy = 0, dx = 0;
  double dy_subpx = 0, dx_subpx = 0;
  // Pooled normalised cross-correlation of the tiles (see 2 above); -2
  // when no candidate could be scored (too little overlap).
  double score = -2;
};
// The fine search's radius around a coarse peak: half a coarse sample
// (the parabola through the surface's maximum and its neighbours places
// the peak within that) and 2 px, stride / 2 + 2, on grids of stride 1-2;
// half a sample alone from stride 4 up, stride / 2 (measured: such peaks
// fall within 0.45 px of the final shift; radius 2 holds it inside the
// window for errors under 1.5 px). Until issue 17's ninth round stride + 1
// (121 shifts scored at stride 4), then stride / 2 + 2 (81), in the tenth
// stride / 2 + 1 (49), since the eleventh 2 (25; 3 at 60 MP's stride 6).
int FineRadius(const CoarseGeometry& geometry);

// Scores every integer shift within `radius` of each candidate on
// full-resolution tiles and returns the best (see 2 above). The sub-pixel
// estimate is a parabola through the score and its neighbours on each axis.
// `reference`, where given, is the GT's FineReference (kept per scene):
// the result is the same, bit for bit, with or without it; with it the
// GT's rows are not read for clipping where its spans hold none.
FineResult FineSearch(const RawImage& gt,
                      const std::array<float, 3>& gt_balance,
                      const RawImage& noisy,
                      const std::array<float, 3>& noisy_balance,
                      const std::vector<CoarsePeak>& candidates, int radius,
                      int max_dy, int max_dx,
                      const FineReference* reference = nullptr);

// 3. Refine: the fine search compares low-passed luminance, whose peak is
//    broad; at the most extreme noise on a small overlap its argmax can be one
//    pixel off. The direct comparison of the colour-matched mosaics
//    (GainMatchedLoss, full resolution) decides between (dy, dx) and its 8
//    neighbours: per block of the noisy image, the loss at the neighbour minus
//    the loss at (dy, dx); a neighbour wins when the median of those
//    differences over the blocks is negative (and the most negative wins). The
//    median ignores blocks a moved object or changed light dominates, which
//    would bias a plain total; it must also win clearly more blocks than it
//    loses (a sign test), and the loss must fall along the line through the
//    centre: the opposite neighbour (the centre mirrored through the winner;
//    compared even beyond the search range) no better than the centre on most
//    blocks, the winner better than the opposite (the same sign test). An even
//    and an odd Bayer shift compare the GT's colours as they are and
//    interpolated; the interpolation averages noise away, so at low noise on
//    smooth content both neighbours of the true shift can beat it, a bump the
//    slope test rejects. Overlaps over 1 MP are compared on a subsample of row
//    pairs (RefineSamplingOf: half of SampleOf's up to 4 MP, 0.43 M of 3 MP,
//    rising to all of it, 2 M per shift, from 16 MP up); where that sample
//    keeps the centre but leaves a neighbour not clearly worse, the centre
//    and the neighbours left open are compared again on every row (at most
//    8 M pixels per shift), a sequential test whose second look needs a
//    lead of 3 sd, not 2 (on every row a bias such as the odd shifts'
//    interpolation shows at 2-2.5 sd). FinishAlignment runs
//    it again from the shift it moved to, until it keeps its centre (at most
//    kRefineSteps runs, correlator_common.cc).
//    A neighbour the fine search could not tell from the centre (its
//    sub-pixel estimate within kHalfPixelTie of the half pixel towards it,
//    HalfPixelTie) needs only a plain majority of blocks, not the sign
//    test's lead (the median and the slope test stay): there the fine
//    surface's two maxima differ by its noise alone, and the blocks'
//    direct comparison is the better evidence. Only
//    that neighbour and the centre (and the diagonal between two such
//    axes), so the odd neighbours of a true even Bayer shift still need
//    the lead unless the fine search put the shift on the half pixel.
//    Such a move stands only where the neighbour, at its own gain, finds
//    the fine shift worse with the lead (TieMoveConfirmed): a clear
//    verdict from one side or the other.
struct RefineResult {
  int dy = 0, dx = 0;
  // PairLoss at the shift given (the centre), at raw_gain: its block sums
  // are computed for the comparison anyway.
  double loss = 0;
  // The shift moved to the half-pixel tie's neighbour on a plain majority
  // of blocks, short of the sign test's lead (TieMoveConfirmed decides
  // whether it stands).
  bool on_tie_majority = false;
};
// The half-pixel tie of a fine result: per axis -1 or +1 where the
// sub-pixel estimate lies within kHalfPixelTie px of the half pixel on that
// side of the integer shift, else 0.
struct HalfPixelTie {
  int dy = 0, dx = 0;
};
inline constexpr double kHalfPixelTie = 0.05;
HalfPixelTie HalfPixelTieOf(const FineResult& fine);

RefineResult RefineShift(const RawImage& gt, const RawImage& noisy, int dy,
                         int dx, double raw_gain, int max_dy, int max_dx,
                         HalfPixelTie tie = {});

// A move of RefineShift's on a half-pixel tie's plain majority
// (RefineResult::on_tie_majority), from `from` to `to`, seen from `to` at
// its own gain (RawGain) as RefineShift would compare them from there: it
// stands only where `from` is worse there on clearly more blocks (the sign
// test's lead). The majority at `from`'s gain is evidence the fine surface
// could not give, but not enough alone: at the most extreme noise the
// blocks split ~145 to 130 either way (docs/performance.md, issue 17w).
bool TieMoveConfirmed(const RawImage& gt, const RawImage& noisy,
                      const RefineResult& from, const RefineResult& to);

// RefineShift's sample of an overlap: the row-pair step (RowPairStep of
// SampleOf(pixels, kRefineSamples), halved from 1 to 4 MP and rising to it
// at 16 MP: every row up to 1 MP, row pairs 7 apart at 3 MP, 8 at 4-16 MP)
// and the block size (about 256 blocks).
struct RefineSampling {
  int row_step = 1;
  int block = 16;
};
RefineSampling RefineSamplingOf(const Overlap& overlap);

// The pair's reported loss: mean |GtInNoisyColours - raw_gain * noisy| over
// RefineShift's row sample of the overlap (every pixel on overlaps up to
// 1 MP), from BlockGainMatchedLoss's block sums added in order, so it is
// bit for bit RefineResult::loss where the refinement keeps the shift.
// Against every row (GainMatchedLoss) it differs by rounding where nothing
// is sampled, and on larger overlaps by the sample's error
// (docs/performance.md, *Alignment cost*).
double PairLoss(const RawImage& gt, const RawImage& noisy,
                const Overlap& overlap, double raw_gain);

}  // namespace dsb
