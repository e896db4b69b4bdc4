// The steps of the shift search that do not depend on where the FFTs run,
// shared by the CPU and GPU correlators so both give the same answers.
//
// 1. Coarse: both images become a CFA-invariant luminance (mosaic_luma.h)
//    sampled every `stride` pixels; their partially whitened cross-power
//    spectrum gives a correlation surface whose peaks are candidate shifts.
// 2. Fine: around each candidate, the exact full-resolution integer shift is
//    the one that maximises the normalised cross-correlation of the
//    full-resolution period luminance on a few textured, unclipped tiles.
//    This resolves what the coarse grid cannot (odd shifts, any X-Trans
//    shift) and rejects coarse peaks caused by moved objects or periodic
//    structure, because the verification is a direct comparison.
//
// Thread safety: pure functions.
#pragma once

#include <array>
#include <vector>

#include "common/plane.h"
#include "raw/raw_image.h"

namespace dsb {

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
// the search radius, best first.
std::vector<CoarsePeak> FindCoarsePeaks(const float* surface,
                                        const CoarseGeometry& geometry,
                                        int count);

struct FineResult {
  int dy = 0, dx = 0;
  double dy_subpx = 0, dx_subpx = 0;
  double score = -2;  // mean normalised cross-correlation over the tiles
};
// Searches every integer shift within `radius` of each candidate on
// full-resolution tiles and returns the best.
FineResult FineSearch(const RawImage& gt,
                      const std::array<float, 3>& gt_balance,
                      const RawImage& noisy,
                      const std::array<float, 3>& noisy_balance,
                      const std::vector<CoarsePeak>& candidates, int radius,
                      int max_dy, int max_dx);

}  // namespace dsb
