// In-memory synthetic scenes with known truth: the test bed for alignment and
// masks, and the pixel source of the `synth` DNG generator.
//
// A SyntheticScene is natural-image-like content (multi-scale texture with
// edges, flat regions, fine detail, some near-periodic structure, colour)
// larger than the frame by a margin, so any capture can be rendered with a
// shift of up to `max_shift` pixels. Captures are rendered straight to the
// CFA mosaic: noisy(y, x) samples the content at (y + dy, x + dx) relative
// to the GT, i.e. the contract's convention gt(y + dy, x + dx) == noisy(y, x)
// holds for the rendered pixels. Noise is Poisson-Gaussian per level.
//
// Levels: content is in normalised units where 1.0 is the white level. The
// sensor saturates at 1.0: a pixel whose signal (content / gain) is at or
// above 1.0 reads exactly 1.0 with no noise, so overexposure_lb is 1.0. The
// median scene brightness is around kMidGrey. Shifts larger than max_shift
// repeat the content's edge pixels instead of failing.
//
// Memory: one float luminance and one byte of colour (a palette index) per
// content pixel, i.e. about 5 bytes per pixel of (W + 2 max_shift) x
// (H + 2 max_shift); 24 MP needs ~130 MB, 60 MP ~320 MB. Real-photo
// content keeps three floats per content pixel (12 bytes).
//
// Deterministic: the same spec and seeds give the same pixels on every run
// and machine (no std::*_distribution, whose output is implementation-
// defined).
//
// Thread safety: a SyntheticScene is immutable after construction; Render*
// may be called from several threads.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>

#include "core/cfa.h"
#include "core/raw_image.h"
#include "synth/photo_content.h"

namespace dsb {

// Noise levels: 0 is base ISO (the GT's), kNoiseLevelCount - 1 the most
// extreme, with a signal-to-noise ratio of about 2-3 at mid-grey.
inline constexpr int kNoiseLevelCount = 5;
// Pass as a noise level to render without any noise (exact content).
inline constexpr int kNoiseless = -1;
// The normalised level SnrAtMidGrey refers to.
inline constexpr double kMidGrey = 0.18;
// Signal-to-noise ratio at mid-grey (normalised 0.18... see README) for a
// noise level; documented in the README.
double SnrAtMidGrey(int noise_level);
// The ISO a noise level is labelled with in generated files.
int IsoForNoiseLevel(int noise_level);
// Standard deviation of the noise a pixel of normalised signal `signal`
// (below saturation) gets at `noise_level`: sqrt(a * signal + b), the
// Poisson-Gaussian model. 0 for kNoiseless.
double NoiseSigma(int noise_level, double signal);

struct Box {
  int y0 = 0, x0 = 0, height = 0, width = 0;
  bool Contains(int y, int x) const {
    return y >= y0 && y < y0 + height && x >= x0 && x < x0 + width;
  }
};

struct SceneSpec {
  int width = 512;
  int height = 384;
  CfaPattern cfa;
  std::uint64_t seed = 1;
  int max_shift = 128;  // margin of content kept around the frame
  // Fraction of the GT frame that is at or above the clipping level
  // (bright regions that saturate the sensor). 0 for none.
  double clipped_fraction = 0.0;
  // Real-photo content instead of the procedural scene: this photograph,
  // linear, lit, exposed and cropped by `look` (synth/photo_content.h).
  // clipped_fraction is then ignored: the exposure decides what clips.
  std::shared_ptr<const Srgb8Image> photo;
  PhotoLook look;
};

struct CaptureSpec {
  int dy = 0;  // contract convention: gt(y + dy, x + dx) == capture(y, x)
  int dx = 0;
  // The expected raw_gain of the pair: mean(gt) / mean(capture). The
  // capture's signal is the GT's divided by gain (before clipping).
  double gain = 1.0;
  int noise_level = 0;
  // In the capture's own coordinates: content here is replaced by a
  // different object, so the pair differs in that region (another part of
  // the scene, transposed, at the same mean level, with a striped disc;
  // with real-photo content also under diagonal stripes of +-50%, so that
  // flat sky reflected onto flat sky still differs).
  std::optional<Box> moved_object;
  // Noise streams also depend on the other fields, so a GT and a capture
  // rendered with the same seed do not share noise.
  std::uint64_t noise_seed = 1;
};

class SyntheticScene {
 public:
  explicit SyntheticScene(const SceneSpec& spec);
  ~SyntheticScene();
  SyntheticScene(SyntheticScene&&) noexcept;
  SyntheticScene& operator=(SyntheticScene&&) noexcept;

  const SceneSpec& spec() const;

  // A GT capture: no shift, gain 1, the given noise level (usually 0;
  // kNoiseless for exact content).
  RawImage RenderGt(int noise_level = 0, std::uint64_t noise_seed = 1) const;
  // A capture with a known shift, gain, noise and optional moved object.
  RawImage RenderCapture(const CaptureSpec& capture) const;

  // True where the noiseless GT signal of pixel (y, x) is at or above the
  // clipping level (for checking masks).
  bool GtClippedAt(int y, int x) const;

  // The noiseless content colour `color` at GT coordinates (y, x), before
  // saturation (may exceed 1.0). (y, x) may lie in the margin, down to
  // -max_shift; beyond it the edge repeats. A noiseless capture's pixel is
  // min(ContentAt(y + dy, x + dx, cfa.color_at(y, x)) / gain, 1) outside
  // its moved object.
  float ContentAt(int y, int x, CfaColor color) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dsb
