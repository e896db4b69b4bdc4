#include "report/figures.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "manifest/pair_crops.h"

namespace dsb {

LoaderVerdict JudgePair(const PairRecord& pair, std::optional<int> crops) {
  LoaderVerdict verdict;
  if (pair.status != BuildStatus::kOk || !pair.alignment) return verdict;
  verdict.exported = true;
  verdict.loss_too_high = BestAlignmentLoss(pair) > kLoaderMaxLoss;
  verdict.mask_too_small = pair.mask_mean.value_or(0) < kLoaderMinMaskMean;
  if (crops) verdict.no_crops = *crops == 0;
  return verdict;
}

Result<std::vector<std::optional<int>>> LoadPairCropCounts(
    Manifest& manifest, const std::vector<PairRow>& pairs) {
  DSB_ASSIGN_OR_RETURN(std::vector<CropTargetRecord> targets,
                       manifest.LoadCropTargets());
  std::vector<std::optional<int>> counts;
  if (targets.empty()) return counts;  // no --crops build: unknown
  DSB_ASSIGN_OR_RETURN(std::vector<FileRecord> files, manifest.LoadFiles());
  const CropTargets current = CurrentCropTargets(std::move(targets), files);
  counts.reserve(pairs.size());
  for (const PairRow& row : pairs) {
    counts.push_back(static_cast<int>(PairCrops(current, row.pair).size()));
  }
  return counts;
}

int Histogram::total() const {
  return std::accumulate(counts.begin(), counts.end(), 0) + below + above;
}

Histogram MakeHistogram(const std::vector<double>& values, double lo, double hi,
                        int bins, bool closed) {
  Histogram h;
  h.lo = lo;
  h.hi = hi;
  h.closed = closed;
  h.counts.assign(static_cast<std::size_t>(std::max(bins, 1)), 0);
  const double width = (hi - lo) / h.counts.size();
  for (double v : values) {
    if (std::isnan(v)) continue;
    if (v < lo) {
      ++h.below;
    } else if (closed && v >= hi && v <= hi + 1e-6 * (hi - lo)) {
      // Rounding may put a figure bounded by hi a hair above it (the
      // confidence of a GT with itself reads 1.0000001, computed in
      // single precision): it belongs in the top bin.
      ++h.counts.back();
    } else if (v >= hi) {
      ++h.above;
    } else {
      // Computed from the bin edges so that a value on an edge (0.035 with
      // bins of 0.005) lands in the bin it starts, whatever the rounding.
      auto bin = static_cast<std::size_t>((v - lo) / width);
      bin = std::min(bin, h.counts.size() - 1);
      if (bin > 0 && v < lo + bin * width) --bin;
      if (bin + 1 < h.counts.size() && v >= lo + (bin + 1) * width) ++bin;
      ++h.counts[bin];
    }
  }
  return h;
}

double ShiftLength(const Alignment& alignment) {
  return std::hypot(static_cast<double>(alignment.dy),
                    static_cast<double>(alignment.dx));
}

Overview ComputeOverview(const std::vector<SceneRow>& scenes,
                         const std::vector<PairRow>& pairs,
                         const std::vector<std::optional<int>>& crops,
                         std::size_t weakest_count) {
  Overview o;
  o.scenes = static_cast<int>(scenes.size());
  for (const SceneRow& scene : scenes) {
    if (scene.status == "ok") ++o.scenes_ok;
    if (scene.status == "failed") ++o.scenes_failed;
    if (scene.status == "stale") ++o.scenes_stale;
  }
  std::vector<double> confidence, loss, mask_mean, shift;
  const bool crops_known = !crops.empty();
  if (crops_known) o.drop_crops = 0;
  std::vector<std::size_t> ok_pairs;
  for (std::size_t i = 0; i < pairs.size(); ++i) {
    const PairRecord& pair = pairs[i].pair;
    ++o.pairs;
    const LoaderVerdict verdict =
        JudgePair(pair, crops_known ? crops[i] : std::nullopt);
    if (!verdict.exported) {
      ++o.pairs_failed;
      continue;
    }
    ++o.pairs_ok;
    if (verdict.kept()) {
      ++o.loader_kept;
    } else {
      ++o.loader_dropped;
    }
    if (verdict.loss_too_high) ++o.drop_loss;
    if (verdict.mask_too_small) ++o.drop_mask;
    if (o.drop_crops && verdict.no_crops.value_or(false)) ++*o.drop_crops;
    const Alignment& a = *pair.alignment;
    confidence.push_back(a.confidence);
    loss.push_back(BestAlignmentLoss(pair));
    if (pair.mask_mean) mask_mean.push_back(*pair.mask_mean);
    shift.push_back(ShiftLength(a));
    if (pair.gt_path != pair.noisy_path) ok_pairs.push_back(i);
  }
  o.confidence = MakeHistogram(confidence, 0, 1, 20, /*closed=*/true);
  o.confidence.title = "confidence";
  o.confidence.unit_note = "higher is better; below ~0.5 deserves a look";
  o.loss = MakeHistogram(loss, 0, 2 * kLoaderMaxLoss, 14, /*closed=*/false);
  o.loss.title = "loss";
  o.loss.unit_note = "RawNIND's loader drops pairs above 0.035";
  o.loss.threshold = kLoaderMaxLoss;
  o.loss.ticks = 2;
  o.mask_mean = MakeHistogram(mask_mean, 0, 1, 20, /*closed=*/true);
  o.mask_mean.title = "mask_mean";
  o.mask_mean.unit_note = "RawNIND's loader drops pairs below 0.8";
  o.mask_mean.threshold = kLoaderMinMaskMean;
  // |shift| bins: up to the next power of two that holds the largest shift
  // (at least 8 px), 16 bins.
  double largest = 0;
  for (double s : shift) largest = std::max(largest, s);
  double top = 8;
  while (top < largest) top *= 2;
  o.shift = MakeHistogram(shift, 0, top, 16, /*closed=*/true);
  o.shift.title = "|shift| (px)";
  o.shift.unit_note = "sqrt(dy\xc2\xb2 + dx\xc2\xb2) in sensor pixels";

  std::stable_sort(ok_pairs.begin(), ok_pairs.end(),
                   [&pairs](std::size_t a, std::size_t b) {
                     return pairs[a].pair.alignment->confidence <
                            pairs[b].pair.alignment->confidence;
                   });
  if (ok_pairs.size() > weakest_count) ok_pairs.resize(weakest_count);
  o.weakest = std::move(ok_pairs);
  return o;
}

}  // namespace dsb
