// Loss masks (docs/contract.md §3): which pixels of an aligned (GT, noisy) pair
// are fit to train on.
//
// The mask covers exactly the pair's overlap (align/alignment.h
// ComputeOverlap) at full sensor resolution; 255 = usable, 0 = ignore. A
// pixel is ignored when
//   - clipped: the GT sample is at or above its overexposure level
//     (optionally also the capture's sample at its own,
//     MaskParams::mask_noisy_clipped). By default per sample, as RawNIND
//     rules: a clipped red does not take its unclipped green and blue
//     neighbours with it; ClipFootprint::kCell widens each clipped sample
//     to the smallest window that holds every colour. Never opened away.
//   - mismatched: the aligned, gain-matched pair differs by more than the
//     pair's own noise explains (moved objects, changed light).
//
// Mismatch is decided on cells anchored at the overlap's origin: the 2x2
// Bayer period, or 3x3 half periods of X-Trans (every 3x3 X-Trans window
// holds all three colours, and finer cells see finer changes). A cell of
// the GT and the cell of the noisy capture at the same overlap position
// cover the same scene area, so comparing their per-colour means needs no
// demosaicing and no interpolation (it is exact when the shift is a
// multiple of the period; otherwise the samples sit up to a pixel or two
// apart inside the cell, which the structure tolerance below absorbs).
// Per cell and colour:
//
//   d = gt_mean - gain * noisy_mean, with the gain matched over unclipped
//       cells (alignment.raw_gain is only a fallback: it counts clipped
//       pixels, which bias it);
//   var = noise(s) / n + structure_tolerance^2 * k * step^2
//         + (relative_tolerance * s)^2,
//
// where s is the GT level, n the colour's sample count in the cell (the
// two images' counts averaged as 1/n = (1/n_gt + 1/n_noisy) / 2),
// noise(s) = a*s + b the Poisson-Gaussian variance of one pixel's residual,
// fitted from the pair itself (robust per-level MAD in signal bins, then
// weighted least squares; at black levels never below the variance the
// pair's black cells show), step the largest difference to a neighbouring
// cell of that colour in the GT, or in the gain-matched noisy capture less
// its noise but no more than the GT's largest step in any colour there (a
// thin line that falls between the GT's samples of one colour is structure
// if the GT shows structure there at all), and k the variance per unit of
// step^2 that the samples' different positions explain, measured on the
// pair per cell parity and colour (0 when the shift is a multiple of the
// period; it depends on the pattern, the shift and how sharp the content
// is, so no fixed tolerance fits every pair).
// k is fitted so that d^2 matches noise + k * step^2 on average over the
// 90% of cells that fit best (the pair is mostly static, as the noise fit
// assumes too). z = mean over colours of min(d^2 / var, 16) is then about 1
// where the pair agrees; the cap keeps one extreme cell from carrying a
// window. The mean of z over a window of (2R+1)^2 cells is compared with
// median + threshold_sigmas * spread of the pair's own window means
// (MAD), but never less than 1 + threshold_sigmas * sd(window mean under
// noise alone): sampling differences on sharp content give a heavier tail
// than noise, and the pair shows how much. R grows with the measured noise
// so that a change of `detect_change` (relative) at the median level is
// still found at extreme ISO. Flagged cells are then opened (drops specks)
// and closed (makes moved objects solid), in cells.
//
// Clipping censors a colour of a cell, not the cell: the cell is still
// compared on the colours neither image clips, so a moved object in a
// bright, partly clipped region is still found. A colour the GT clips in
// the cell or a 4-neighbour (its mean under-reads, or its step misses the
// slope up to the clipped samples) counts only where the capture is
// darker than the GT (d > 0): the GT's true level is at least what it
// reads. A colour the capture clips (high gain, or noise at the white
// level; the GT need not clip there) counts only where the capture is
// brighter than the GT predicts (d < 0), never because it reads darker.
// A one-sided term weighs half a two-sided one in the window tests (its
// mean under noise is half); a colour clipped in both carries nothing.
// Censored colours are left out of the model fits. The capture's clipping
// alone never masks a pixel by default (MaskParams::mask_noisy_clipped).
//
// Cost: a sampled pass over a tenth of the cell rows fits the gain, noise
// and structure (mask/pair_model.h); one pass over both images then builds
// the cells a row at a time and keeps only z and two flags per cell
// (mask/cell_rows.h), writing the mask's pixel rows as it goes (255, or 0
// for a sample clipped per sample: compared with the levels only in cell
// rows that hold clipping); the window test works on the cell grid (1/4
// or 1/9 of the pixels) and packs its flags into bits, on which the
// morphology works (mask/morphology.h BitPlane); flagged runs are then
// zeroed; the cell footprint adds bands of rows near clipping. Rows of cells
// with no clipping near them skip the censoring, and so do the chunks of 64
// cells of other rows that hold none; while a row is scored, the pixel rows of
// the next row to be built are fetched into the cache, 16 cells' worth
// between the arithmetic of every 16 cells (the scoring is arithmetic, the
// building waits on memory). About 1.6-2.0 ms per megapixel on
// one core with a reused workspace (tests/bench/mask_bench); working memory
// about 1.75 bytes per pixel (Bayer) besides the mask, and up to 1 more for the
// rows near clipping with the cell footprint.
//
// Thread safety: MakeLossMask is a pure function; call it from any number
// of threads, each with its own workspace. It uses one thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"
#include "core/alignment.h"
#include "core/plane.h"
#include "core/raw_image.h"

namespace dsb {

// The revision of mask/'s algorithm: bump it when a change makes different
// masks (or mask_mean) from equal parameters. It enters
// MaskParams::Fingerprint and the build's algorithm version
// (executor/build_options.h). 5: clipping per sample and colour
// (clip_footprint), cells with clipped samples still tested on the rest.
// 7: the noise model's floor at black levels (mask/pair_model.h). 8: z
// kept per cell in fixed point (1/4096) for the window tests. 9: under
// 16.8 MP, the pair model's sample and the window limits' grid scale with
// the frame (at least 2^15 and 2^14); X-Trans samples hold both row
// parities.
inline constexpr int kMaskRevision = 9;

// What the caller of MakeLossMask knows of the pair's pixels before the
// mask (a build decides it once per pair, in its decode stage).
enum class PairContent {
  kUnknown,
  // The capture holds the GT's pixels bit for bit (align/correlator_common.h
  // SamePixels): a self pair, every GT's clean/clean pair (contract §3).
  kIdentical,
};

// What a clipped GT sample takes out of the mask (--clip-footprint).
enum class ClipFootprint {
  // The sample alone (default): contract §3 and RawNIND's own rule; its
  // unclipped neighbours, of other colours, are still fit to train on.
  kSample,
  // Every pixel within the smallest window around it that holds all three
  // colours (3x3 for Bayer): for losses computed on demosaiced RGB, where
  // a pixel next to a clipped sample interpolates the clipped value.
  kCell,
};
// "sample" or "cell".
const char* ClipFootprintName(ClipFootprint footprint);
// The footprint named `name`, or nullopt.
std::optional<ClipFootprint> ParseClipFootprint(std::string_view name);

struct MaskParams {
  // Normalised level at and above which a GT pixel is clipped; unset: the
  // GT's own meta.overexposure_lb (docs/contract.md §2). The noisy capture uses
  // its own meta.overexposure_lb.
  std::optional<float> overexposure_lb;
  // What a clipped GT sample (and, with mask_noisy_clipped, a clipped
  // capture sample) takes out of the mask.
  ClipFootprint clip_footprint = ClipFootprint::kSample;
  // Also ignore pixels where the noisy capture reaches its own
  // overexposure level. Off by default: at high ISO, noise alone pushes
  // bright pixels to the white level and those are legitimate training
  // input; where the capture is truly saturated and the GT is not, the
  // gain-matched pair differs and the mismatch test flags it.
  bool mask_noisy_clipped = false;

  // How far above the noise-only level, in standard deviations of the
  // window mean, a window must be to count as mismatched.
  double threshold_sigmas = 2.5;
  // Local brightness differences up to this fraction of the signal are not
  // content changes (vignetting, slight light flicker).
  double relative_tolerance = 0.03;
  // Multiple of the sampling difference measured on the pair (colour
  // samples sit up to a pixel or two apart within a cell) that is
  // tolerated, in standard deviations.
  double structure_tolerance = 1.5;
  // Relative change (of the median signal level) that the window must be
  // large enough to detect reliably; sets the window radius from the noise.
  double detect_change = 0.3;
  // Bounds of that window radius, in cells.
  int min_window_radius = 1;
  int max_window_radius = 8;
  // Morphology on the mismatch flags, in cells: opening removes isolated
  // flagged specks, closing fills holes in moved objects.
  int opening_radius = 1;
  int closing_radius = 3;

  // Text naming every field (all of them change results): part of each
  // scene's key, so changing any parameter invalidates the scene's masks.
  std::string Fingerprint() const;
};

struct LossMask {
  Plane<std::uint8_t> pixels;  // overlap-sized; 255 usable, 0 ignore
  double mean = 0;             // fraction of usable pixels (contract mask_mean)
  std::int64_t clipped_pixels = 0;   // ignored for clipping
  std::int64_t mismatch_pixels = 0;  // ignored for mismatch only

  // What the mask measured, for logs and tuning.
  double gain = 1;         // gain applied to the noisy capture
  double noise_slope = 0;  // residual variance per pixel: slope * s + offset
  double noise_offset = 0;
  int cell_size = 0;      // CFA period
  int window_radius = 0;  // cells
};

// The buffers a loss mask needs (about 1.75 bytes per pixel for Bayer,
// 0.8 for X-Trans, up to 1 more for rows near clipping, plus the mask
// itself), kept from one call to the next:
// the captures of a scene share a size, and memory a process has not
// touched yet costs a page fault per 4 KiB to clear (far more on virtual
// machines), as much as the mask's arithmetic. The planes are sized for
// the whole frame, so that overlaps of different sizes (pairs at other
// shifts) do not grow them again. Use one per thread at a time. When a
// workspace is destroyed its buffers go to a pool of the process, from
// which the next workspace takes them (the build makes one per thread and
// scene; each scene's first masks faulted theirs in afresh: at 24 MP
// 4,400 page faults a pair in scenes of 4 pairs, against 730, mask_bench
// `scenes`); the pool keeps at most one set per hardware thread (at least
// two), each as large as the largest frame it served, until the process
// ends. scores() and weights() are empty until the workspace made a mask.
class MaskWorkspace {
 public:
  MaskWorkspace();
  ~MaskWorkspace();
  MaskWorkspace(MaskWorkspace&&) noexcept;
  MaskWorkspace& operator=(MaskWorkspace&&) noexcept;

  // Hands a finished mask's pixels back, to be the next mask's.
  void Recycle(Plane<std::uint8_t> pixels);

  // z (times 4096, rounded, at most 65535: the window tests add these
  // integers) and the weight (in half colour terms, 6 for a cell compared
  // both ways in every colour) of each cell of the last mask made with
  // this workspace, until the next: for tests and tuning.
  PlaneView<const std::uint16_t> scores() const;
  PlaneView<const std::uint8_t> weights() const;

  struct Buffers;  // defined by loss_mask.cc only

 private:
  friend Result<LossMask> MakeLossMask(const RawImage&, const RawImage&,
                                       const Alignment&, const MaskParams&,
                                       MaskWorkspace*, PairContent);
  std::unique_ptr<Buffers> buffers_;
};

// Builds the loss mask of `noisy` against `gt` under `alignment` (dy, dx;
// raw_gain only as a fallback). Both images must have the same size and CFA
// pattern and a non-empty overlap; errors name both files. `workspace`, if
// given, lends its buffers (the result does not depend on it). `content`:
// what the caller already knows of the pair (mask/self_pair_mask.h); a
// self pair's mask is then written without the mismatch test, the same
// mask.
Result<LossMask> MakeLossMask(const RawImage& gt, const RawImage& noisy,
                              const Alignment& alignment,
                              const MaskParams& params = {},
                              MaskWorkspace* workspace = nullptr,
                              PairContent content = PairContent::kUnknown);

// Tests only: the window test looks its limits up with the portable loop
// even where the CPU has AVX-512 (which picks them from registers or
// gathers them), so that both paths are held to the same masks on one
// machine. Not thread safe with MakeLossMask running.
void UsePortableWindowTestForTesting(bool portable);

}  // namespace dsb
