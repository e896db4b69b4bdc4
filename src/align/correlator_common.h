// What both correlators share and neither owns: the search limits for an
// image size, the check that a pair can be aligned at all, the transform
// sizes, and every step after the coarse FFT (peaks, fine search,
// refinement, gain and loss), so the CPU (fftw_correlator) and GPU
// (cuda_correlator) correlators give the same answers from the same
// correlation surface. Device-neutral: no FFTW, no CUDA.
//
// Thread safety: pure functions.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "align/correlator.h"
#include "align/shift_search.h"
#include "common/result.h"
#include "core/alignment.h"
#include "core/raw_image.h"

namespace dsb {

// The limits actually searched for an image size (never more than leaves
// half of each dimension overlapping).
void EffectiveSearch(const AlignParams& params, int height, int width,
                     int* max_dy, int* max_dx);

// Checks a GT can be a reference at all (large enough to align).
Status CheckReference(const RawImage& gt);

// Checks a noisy capture can be aligned to the GT at all (same size, same
// CFA); the error names both files.
Status CheckPair(const RawImage& gt, const RawImage& noisy);

// Whether two captures hold the same pixels, bit for bit (a GT paired
// with itself, or with a copy of its file). Stops at the first difference,
// which on two real captures comes within the first few pixels.
bool SamePixels(const RawImage& a, const RawImage& b);
namespace internal {
// How many times SamePixels ran in this process (tests check a pair's
// identity is decided once per build, not once per step).
std::int64_t SamePixelsCalls();
}  // namespace internal

// A self pair: the same pixels, CFA and clipping level, so every step of
// the alignment sees the same input on both sides (the correlators then
// return SelfPairAlignment without a search). `same_pixels`: the caller's
// SamePixels answer, where it has one (a build decides it once per pair); else
// found here.
bool IsSelfPair(const RawImage& gt, const RawImage& noisy,
                std::optional<bool> same_pixels = std::nullopt);

// A self pair's alignment, known without a search: shift and sub-pixel
// shift 0, confidence 1 (the pooled correlation of a frame with itself),
// gain 1 and loss 0. Both correlators return it for every pair IsSelfPair
// accepts, before any coarse or fine step. The search found the same
// integer shift, gain and loss on every self pair, but its sub-pixel
// estimate and confidence were its own rounding (0.004 px and 1 + 1e-7 on
// the Canon G2's self pair), not a property of the pair.
Alignment SelfPairAlignment();

// Capture i's entry of SceneCorrelator::Align's `same_pixels` (nullopt
// where the span has none: the caller did not decide it).
inline std::optional<bool> SamePixelsOf(
    std::span<const std::optional<bool>> same_pixels, std::size_t i) {
  return i < same_pixels.size() ? same_pixels[i] : std::nullopt;
}

// The smallest n >= minimum whose only prime factors are 2, 3, 5 and 7 (a
// size both FFTW and cuFFT transform fast).
int FastFftSize(int minimum);
// The smallest n >= minimum of the form 2^a 3^b: for camera-sized coarse
// grids (PlanCoarse) FFTW's measured plans transform these 20-30 % faster
// than the smaller 5- and 7-smooth sizes (24 MP: 1536 x 1152 in 9-10 ms
// for both transforms vs 1536 x 1050 in 12-14 ms; 60 MP: 1728 x 1152 vs
// 1620 x 1080, 12 vs 16 ms), though up to 18 % larger.
int PowerOfTwoThreeSize(int minimum);

// Aligns one pair given the coarse correlation surface the caller computed
// (on whatever device): the part of the algorithm after the FFTs.
Result<Alignment> FinishAlignment(const RawImage& gt,
                                  const std::array<float, 3>& gt_balance,
                                  const RawImage& noisy,
                                  const CoarseGeometry& geometry,
                                  const float* surface, int max_dy, int max_dx);
// The same, with the noisy capture's ChannelBalance already computed (the
// coarse stage needs it too; computing it once saves a pass per pair).
Result<Alignment> FinishAlignment(const RawImage& gt,
                                  const std::array<float, 3>& gt_balance,
                                  const RawImage& noisy,
                                  const std::array<float, 3>& noisy_balance,
                                  const CoarseGeometry& geometry,
                                  const float* surface, int max_dy, int max_dx);
// The same where the caller already knows whether the captures hold the
// same pixels (SamePixels; nullopt: find out). A pair of identical
// captures whose fine shift is (0, 0) takes a shortcut with exactly the
// full path's values: gain 1 (every block ratio is 1), the shift kept
// (every block loss at (0, 0) is 0, so no neighbour beats it), loss 0.
// `reference`, where given, is the GT's clipping as kept per scene
// (FineReference, made once by the correlator's SetReference): the
// same result, without each pair reading the GT's rows for it.
Result<Alignment> FinishAlignment(const RawImage& gt,
                                  const std::array<float, 3>& gt_balance,
                                  const RawImage& noisy,
                                  const std::array<float, 3>& noisy_balance,
                                  const CoarseGeometry& geometry,
                                  const float* surface, int max_dy, int max_dx,
                                  std::optional<bool> same_pixels,
                                  const FineReference* reference = nullptr);

}  // namespace dsb
