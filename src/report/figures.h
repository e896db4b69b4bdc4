// The numbers the report shows, computed from the manifest's rows: counts of
// scenes and pairs, what RawNIND's loader would keep or drop and why, the
// histograms of the alignment figures and the weakest alignments.
//
// RawNIND's loader (../shared/design/rawnind-loader.md, rawds.py) drops an
// entry when best_alignment_loss > 0.035, when mask_mean < 0.8 or when its
// crops list is empty; failed pairs never reach it (the export leaves them
// out). A pair may be dropped for several reasons at once: each reason is
// counted, and `dropped` counts pairs with at least one. A pair's crops
// list is the one the rawnind-yaml export writes (manifest/pair_crops.h).
// When the manifest records no crop target at all (no --crops build ran on
// it: the user did not ask for crops) the crops reason is unknown, not
// zero, and the report says so.
//
// Thread safety: pure functions over values.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "manifest/manifest.h"

namespace dsb {

inline constexpr double kLoaderMaxLoss = 0.035;
inline constexpr double kLoaderMinMaskMean = 0.8;

// What RawNIND's loader would do with one pair.
struct LoaderVerdict {
  bool exported = false;         // an ok pair (failed pairs are not exported)
  bool loss_too_high = false;    // loss > kLoaderMaxLoss
  bool mask_too_small = false;   // mask_mean < kLoaderMinMaskMean
  std::optional<bool> no_crops;  // nullopt: the manifest does not say
  bool kept() const {
    return exported && !loss_too_high && !mask_too_small &&
           !no_crops.value_or(false);
  }
};

// `crops`: the length of the pair's crops list, or nullopt when the
// manifest records no crop target at all.
LoaderVerdict JudgePair(const PairRecord& pair, std::optional<int> crops);

// The length of each pair's crops list as the rawnind-yaml export writes it
// (PairCrops of the manifest's current crop targets), one per entry of
// `pairs`; an empty vector when the manifest records no crop target at all.
Result<std::vector<std::optional<int>>> LoadPairCropCounts(
    Manifest& manifest, const std::vector<PairRow>& pairs);

// Counts of values in equal bins over [lo, hi); values below lo go to
// `below`, values at or above hi to `above` except that hi itself (and
// rounding a hair above it) falls in the last bin when `closed` (for
// figures bounded by hi, such as 1.0).
struct Histogram {
  std::string title;
  std::string unit_note;  // e.g. "dropped above 0.035"
  double lo = 0;
  double hi = 1;
  bool closed = false;
  std::vector<int> counts;
  int below = 0;
  int above = 0;
  std::optional<double> threshold;  // drawn as a line
  int ticks = 4;                    // labelled intervals on the x axis
  int total() const;
  double bin_width() const { return (hi - lo) / counts.size(); }
};

Histogram MakeHistogram(const std::vector<double>& values, double lo, double hi,
                        int bins, bool closed);

struct Overview {
  int scenes = 0, scenes_ok = 0, scenes_failed = 0, scenes_stale = 0;
  int pairs = 0, pairs_ok = 0, pairs_failed = 0;
  // Loader: over ok pairs.
  int loader_kept = 0;
  int loader_dropped = 0;  // for any reason
  int drop_loss = 0;
  int drop_mask = 0;
  std::optional<int> drop_crops;  // nullopt: crops not recorded
  Histogram confidence, loss, mask_mean, shift;
  // Indices into the pairs vector of ok pairs, lowest confidence first.
  std::vector<std::size_t> weakest;
};

// `crops[i]` belongs to pairs[i] (see JudgePair); an empty vector means the
// manifest records no crops for any pair. `weakest` keeps up to
// `weakest_count` pairs; self-pairs (a GT with itself) are left out.
Overview ComputeOverview(const std::vector<SceneRow>& scenes,
                         const std::vector<PairRow>& pairs,
                         const std::vector<std::optional<int>>& crops,
                         std::size_t weakest_count = 25);

// The length of the integer shift, sqrt(dy^2 + dx^2), in pixels.
double ShiftLength(const Alignment& alignment);

}  // namespace dsb
