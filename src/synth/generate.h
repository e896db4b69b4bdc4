// The `synth` dataset generator: writes a RawNIND-like tree of CFA DNGs with
// known truth, for demos, tests and benchmarks of the alignment pipeline.
//
// Layout (docs/contract.md §1): <out>/Bayer/<scene>/gt/<GT>.dng and
// <out>/Bayer/<scene>/<noisy>.dng (X-Trans scenes under <out>/X-Trans/),
// named like RawNIND's files (Bayer_<scene>_GT_ISO100_sha1=<hex>.dng,
// Bayer_<scene>_ISO3200_sha1=<hex>.dng; the hex is a hash of the seed and
// the capture's index, not of the content; the tool must not depend on
// names). <out>/truth.json records, per noisy file, the shift (docs/contract.md
// §2 sign convention: gt(y + dy, x + dx) shows noisy(y, x)), gain, noise level,
// ISO, SNR and moved object, relative to the scene's FIRST GT.
//
// Additional GTs (gts_per_scene > 1) are rendered with shift (0, 0) and
// gain 1 at noise level 0 with their own noise seed: clean captures of the
// same scene, aligned to the first GT by construction.
//
// Everything is a function of the options (chiefly `seed`, and the
// photograph's pixels with `content`): the same options give
// byte-identical files on every run and machine.
//
// Safety: a non-empty out_dir without a truth.json written by this generator
// is refused (the user's data is never overwritten). A previously generated
// dataset is replaced: the files its truth.json lists are deleted first.
// Files are written to hidden temporaries and renamed into place.
//
// Thread safety: GenerateDataset may be called concurrently for different
// out_dirs; it renders a scene's captures on several threads itself.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "common/status.h"
#include "synth/photo_content.h"

namespace dsb {

struct SynthOptions {
  std::string out_dir;
  int scenes = 4;
  int gts_per_scene = 1;
  int noisy = 4;  // noisy captures per scene
  int width = 1536;
  int height = 1024;
  // rggb|bggr|grbg|gbrg|xtrans, or mixed: cycles rggb, bggr, grbg, gbrg,
  // xtrans over the scenes.
  std::string cfa = "mixed";
  std::uint64_t seed = 1;
  int bits = 14;  // DNG sample depth, 8..16 (the command allows 12 or 14)
  // A masked (optically black) border around the visible area, as real
  // sensors have; even offsets on Bayer, any on X-Trans.
  bool masked_border = false;
  // Upper bound on |dy| and |dx|; also capped at 20% of the smaller frame
  // side so every pair overlaps by at least 64%.
  int max_shift = 128;
  // Real-photo content (synth/photo_content.h): a PNG or JPEG photograph
  // every scene is rendered from, each scene with its own crop and zoom
  // (up to 1.3x the smallest covering scale), lit by `light` and exposed
  // `exposure_ev` stops over the metered level. Empty: procedural content.
  std::string content;
  double exposure_ev = 0;
  PhotoLight light = PhotoLight::kDaylight;
};

// What a generation produced (for the command's summary line).
struct SynthSummary {
  int scenes = 0;
  int files = 0;  // DNGs written (GTs and noisy)
  std::uint64_t bytes = 0;
  double seconds = 0;
};

// Generates the dataset. `progress`, when set, receives one line per scene
// as it is finished (no trailing newline). `summary`, when not null, is
// filled on success.
Status GenerateDataset(
    const SynthOptions& options,
    const std::function<void(const std::string&)>& progress = {},
    SynthSummary* summary = nullptr);

// The largest |dy| / |dx| GenerateDataset uses for these options.
int EffectiveMaxShift(const SynthOptions& options);

}  // namespace dsb
