#include "align/shift_search.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <type_traits>

#include "align/colour_match.h"
#include "align/correlator_common.h"
#include "align/fine_reference.h"
#include "align/float_lanes.h"
#include "align/mosaic_luma.h"
#include "align/tile_correlation.h"
#include "common/prefetch.h"
#include "common/vector_clones.h"

namespace dsb {

namespace {

// About 2.5 million coarse samples: enough detail for a robust peak, small
// enough that the coarse FFT costs a few tens of milliseconds.
constexpr double kCoarseSamples = 2.5e6;
// Frames under 10 MP, which kCoarseSamples alone gives strides of 1 or 2
// (grids of 0.6-2.5 M samples: the transforms then cost 4x as much per
// pixel as a 24 MP frame's), take a stride of up to 4 for about this many
// samples: a 2.4-10 MP frame's grid has the detail of a 24 MP frame's
// stride-4 grid per sample (the fine search, at full resolution, decides
// the shift; issue 17's seventh round). Frames under 0.6 MP keep every
// sample.
constexpr double kSmallCoarseSamples = 0.6e6;
constexpr int kSmallCoarseMaxStride = 4;
// Coarse transforms of at least this many samples (those FFTW plans by
// measuring, fftw_plans.cc) are padded to sizes of 2s and 3s.
constexpr double kLargeCoarseFft = 1 << 19;
// Fine tiles: at most this many, this large.
constexpr int kTileCount = 8;
constexpr int kTileGrid = 4;
constexpr int kMaxTile = 192;
constexpr int kMinTile = 16;
// Tiles with at least this fraction unmasked correct integral-image window
// sums for their masked pixels (one dot product per offset instead of
// three); more heavily masked tiles take the dense path.
constexpr double kSparseMask = 0.9;
// RefineShift: pixels compared per shift on large overlaps (SampleOf:
// fewer on smaller ones), and the fewest blocks it decides on.
constexpr double kRefineSamples = 2e6;
// The most pixels per shift of the refinement's second look, where its
// sample left the centre and a neighbour undecided (see RefineShift):
// every row up to this size, then a row-pair step that reads about this.
constexpr double kRefineSecondLookSamples = 8e6;
// The sign test's lead on the second look, in standard deviations of a fair
// coin: stricter than the first look's. On every row the comparison
// resolves biases the sample could not, such as the GT's colours
// interpolated at an odd Bayer shift, whose noise they average away (see
// the slope test in CompareNeighbours): `align_bench --sweep-large 100 23
// --photos`, pair 89 (BGGR, noise level 4, the fine estimate 10.006 for the
// truth 10), gave 9 the lower loss on 155 of 271 blocks (2.4 sd); a shift
// 1 px off loses by 6-12 sd there (seed 21's pair 69: 208 to 62; seed 15's
// 35: 232 to 28; seed 7's 87: 192 to 87).
constexpr double kRefineSecondLookSignificance = 3.0;
constexpr std::size_t kRefineMinBlocks = 8;
// Overlaps from this size up are refined on SampleOf's whole sample,
// smaller ones over 1 MP on down to half of it (RefineSamplingOf).
constexpr double kRefineFullSampleFrom = 16e6;
// How many standard deviations of a fair coin a neighbour's lead in blocks
// must reach to win the refinement (see RefineShift).
constexpr double kRefineSignificance = 2.0;
// Fine-search maxima of different candidates are scored again on common
// tiles (see FineSearch) where they are at most this far apart in each
// axis: kSplitPeak px, or 1 / kSplitPeakShare of the frame's size where
// that is more (the common tiles then lose at most that share of each
// dimension to the shifts' spread).
constexpr int kSplitPeak = 6;
constexpr int kSplitPeakShare = 32;
// Secondary coarse peaks below this fraction of the strongest are not
// verified (see FineSearch).
constexpr float kCandidateFloor = 0.25f;
// A colour clipped in more than this share of its samples in either capture
// is left out of the fine search (see FineColours).
constexpr double kHeavilyClipped = 0.25;

double ParabolicOffset(double left, double centre, double right) {
  const double denominator = left - 2 * centre + right;
  if (std::abs(denominator) < 1e-12) return 0;
  return std::clamp(0.5 * (left - right) / denominator, -0.5, 0.5);
}

float Taper(int i, int n, int ramp) {
  if (ramp <= 0) return 1.0f;
  const int d = std::min(i, n - 1 - i);
  if (d >= ramp) return 1.0f;
  return 0.5f - 0.5f * std::cos(3.14159265f * (d + 0.5f) / ramp);
}

// Whether ClearClippedBoxes reads row y's columns [x0, x0 + in_w): not
// where its spans say the row holds no clipped pixel there.
bool ReadsRow(const ClippedSpans* spans, int y, int x0, int in_w) {
  return spans == nullptr || spans->MayHoldClipped(y, x0, x0 + in_w);
}

// Row y's hits in columns [x0, x0 + in_w) for ClearClippedBoxes: 1 where a
// pixel of a watched colour is at or above clip, else 0. False (hits left
// as they were) where the row holds no pixel at or above clip at all: its
// spans say so, or a count over the row (most rows). `watched_by_phase`
// (period rows of in_w, made on first use) and `phase_ready` keep each row
// phase's watched colours, tiled along the row.
[[gnu::always_inline]] inline bool MarkClippedRow(
    const RawImage& image, float clip, const std::array<bool, 3>& watched,
    int y, int x0, int in_w, int period, const ClippedSpans* spans,
    std::vector<std::int32_t>& watched_by_phase, std::vector<char>& phase_ready,
    std::vector<std::int32_t>& hits) {
  if (!ReadsRow(spans, y, x0, in_w)) return false;
  const float* row = image.pixels.row(y) + x0;
  int at_clip = 0;
  for (int j = 0; j < in_w; ++j) at_clip += !(row[j] < clip);
  if (at_clip == 0) return false;
  const int phase = y % period;
  if (watched_by_phase.empty()) {
    watched_by_phase.resize(static_cast<std::size_t>(period) * in_w);
  }
  std::int32_t* watched_row =
      &watched_by_phase[static_cast<std::size_t>(phase) * in_w];
  if (!phase_ready[phase]) {
    for (int j = 0; j < in_w; ++j) {
      watched_row[j] = watched[static_cast<int>(image.cfa.color_at(y, x0 + j))];
    }
    phase_ready[phase] = 1;
  }
  for (int j = 0; j < in_w; ++j) {
    hits[j] = static_cast<std::int32_t>(!(row[j] < clip)) & watched_row[j];
  }
  return true;
}

// What ClipBoxes does with an output entry whose box holds no clipped
// pixel: leave it (ClearClippedBoxes) or write 1 (UnclippedBoxes, whose
// plane is not filled first).
enum class Unclipped { kLeft, kOne };

// ClearClippedBoxes, or with Unclipped::kOne UnclippedBoxes into `out`:
// every output row is visited once, when its last input row is in, so
// writing 1s there makes the mask in one pass (a fill of 1s first, then
// the clearing, wrote each cleared row twice; the fill was ~95 % of
// UnclippedBoxes' samples in perf, issue 17's forty-first round).
DSB_VECTOR_CLONES void ClipBoxes(const RawImage& image, float clip,
                                 const std::array<bool, 3>& watched, int y0,
                                 int x0, int h, int w, int box_h, int box_w,
                                 Plane<float>& out, const ClippedSpans* spans,
                                 Unclipped unclipped) {
  const int in_h = h + box_h - 1, in_w = w + box_w - 1;
  const int period = image.cfa.period();
  // Most rows hold no clipped pixel: a branch-free count (which vectorises)
  // skips them. A row that does marks its hits (at or above clip, of a
  // watched colour: the row's colour pattern tiled once per row phase) and
  // ORs them over box_w columns, all in vector lanes. (Until issue 17's
  // tenth round: a count per clipped pixel in each of its box_h rows of
  // column counts, then a scalar window sum per touched row; 9 % of a 3 MP
  // pair's instructions with clipped highlights.)
  //
  // Output row k is cleared where a row of [k, k + box_h) has a hit in its
  // columns: where the last such row up to k + box_h - 1 (`last_hit`, per
  // column) is k or later. So each output row is cleared once, when its
  // last input row is in, rather than once per clipped row of its box
  // (box_h times: the clearing was a third of this function's instructions
  // on a 3 MP X-Trans pair, whose GT boxes are 10 rows high; issue 17).
  constexpr std::int32_t kNever = std::numeric_limits<std::int32_t>::min();
  std::vector<std::int32_t> watched_by_phase;  // period rows of in_w, lazily
  std::vector<char> phase_ready(static_cast<std::size_t>(period), 0);
  std::vector<std::int32_t> hits(static_cast<std::size_t>(in_w));
  std::vector<std::int32_t> wide(static_cast<std::size_t>(w));
  std::vector<std::int32_t> last_hit;  // w, from the first clipped row on
  int last_clipped = kNever;           // the last row MarkClippedRow marked
  const bool write_ones = unclipped == Unclipped::kOne;
  auto clear_finished_row = [&](int i) {
    const int k = i - box_h + 1;  // the output row whose box ends at row i
    if (k < 0 || k >= h) return;
    float* o = out.row(k);
    if (last_clipped < k) {  // no box of row k holds a clipped pixel
      if (write_ones) std::fill_n(o, w, 1.0f);
      return;
    }
    if (write_ones) {
      for (int j = 0; j < w; ++j) o[j] = last_hit[j] >= k ? 0.0f : 1.0f;
    } else {
      for (int j = 0; j < w; ++j) o[j] = last_hit[j] >= k ? 0.0f : o[j];
    }
  };
  for (int i = 0; i < in_h; ++i) {
    FetchRowsAhead(i, in_h, in_w, [&](int k) -> const float* {
      if (!ReadsRow(spans, y0 + k, x0, in_w)) return nullptr;
      return image.pixels.row(y0 + k) + x0;
    });
    if (MarkClippedRow(image, clip, watched, y0 + i, x0, in_w, period, spans,
                       watched_by_phase, phase_ready, hits)) {
      std::copy_n(hits.begin(), w, wide.begin());
      for (int t = 1; t < box_w; ++t) {
        const std::int32_t* shifted = hits.data() + t;
        for (int j = 0; j < w; ++j) wide[j] |= shifted[j];
      }
      if (last_hit.empty())
        last_hit.assign(static_cast<std::size_t>(w), kNever);
      for (int j = 0; j < w; ++j) last_hit[j] = wide[j] != 0 ? i : last_hit[j];
      last_clipped = i;
    }
    clear_finished_row(i);
  }
}

}  // namespace

void ClearClippedBoxes(const RawImage& image, float clip,
                       const std::array<bool, 3>& watched, int y0, int x0,
                       int h, int w, int box_h, int box_w, Plane<float>& out,
                       const ClippedSpans* spans) {
  ClipBoxes(image, clip, watched, y0, x0, h, w, box_h, box_w, out, spans,
            Unclipped::kLeft);
}

void UnclippedBoxes(const RawImage& image, float clip,
                    const std::array<bool, 3>& watched, int y0, int x0, int h,
                    int w, int box_h, int box_w, Plane<float>& out) {
  out.Resize(w, h);
  ClipBoxes(image, clip, watched, y0, x0, h, w, box_h, box_w, out, nullptr,
            Unclipped::kOne);
}

Plane<float> UnclippedBoxes(const RawImage& image, float clip,
                            const std::array<bool, 3>& watched, int y0, int x0,
                            int h, int w, int box_h, int box_w) {
  Plane<float> out;
  UnclippedBoxes(image, clip, watched, y0, x0, h, w, box_h, box_w, out);
  return out;
}

namespace {

// The kTileCount-th largest energy of the tiles made (at least that
// many); minus infinity where one is not a number (nothing is known to
// rank below it).
double LeastOfMostEnergetic(const std::vector<LumaTile>& tiles,
                            const std::vector<char>& made) {
  std::vector<double> energies;
  for (std::size_t k = 0; k < tiles.size(); ++k) {
    if (!made[k]) continue;
    if (std::isnan(tiles[k].energy)) {
      return -std::numeric_limits<double>::infinity();
    }
    energies.push_back(tiles[k].energy);
  }
  std::nth_element(energies.begin(), energies.begin() + (kTileCount - 1),
                   energies.end(), std::greater<double>());
  return energies[kTileCount - 1];
}

// Masks (mask_tile) and centres the tiles that may be among the
// kTileCount most energetic and drops the others, keeping their order. A
// tile whose CentredEnergyBound is below the energies of kTileCount
// centred tiles cannot be among them (whatever its mask), so it is never
// masked: the kTileCount tiles of highest bounds are made first, then
// those whose bound reaches the kTileCount-th largest energy made, in
// order of their bounds. (Masks and centring were
// ~30 % of the fine search on 3 MP pairs, half of them for tiles then
// dropped.) The tiles kept, and every value of theirs, are those of
// masking and centring every tile.
template <typename MaskTile>
void MaskAndCentreLikelyTiles(std::vector<LumaTile>& tiles,
                              MaskTile mask_tile) {
  const std::size_t n = tiles.size();
  std::vector<char> made(n, 0);
  auto make = [&](const std::vector<std::size_t>& which) {
    std::vector<LumaTile> batch;
    batch.reserve(which.size());
    for (const std::size_t k : which) {
      mask_tile(tiles[k]);
      batch.push_back(std::move(tiles[k]));
    }
    CentreTiles(batch);  // side by side where they are of one size
    for (std::size_t i = 0; i < which.size(); ++i) {
      tiles[which[i]] = std::move(batch[i]);
      made[which[i]] = 1;
    }
  };
  std::vector<std::size_t> order(n);
  for (std::size_t k = 0; k < n; ++k) order[k] = k;
  if (n <= kTileCount) {
    make(order);
    return;
  }
  // A bound that is not a number (a NaN in the luma) sorts first: such a
  // tile is always made.
  std::vector<double> bound(n);
  for (std::size_t k = 0; k < n; ++k) {
    const double b = CentredEnergyBound(tiles[k].luma);
    bound[k] = std::isnan(b) ? std::numeric_limits<double>::infinity() : b;
  }
  std::stable_sort(
      order.begin(), order.end(),
      [&](std::size_t a, std::size_t b) { return bound[a] > bound[b]; });
  // Then, in groups of up to four (CentreTiles centres four side by side),
  // those whose bound reaches the kTileCount-th energy of those made.
  std::size_t next = kTileCount;
  make({order.begin(), order.begin() + next});
  while (next < n) {
    const double least = LeastOfMostEnergetic(tiles, made);
    std::size_t end = next;
    while (end < n && end < next + 4 && !(bound[order[end]] < least)) ++end;
    if (end == next) break;
    make({order.begin() + next, order.begin() + end});
    next = end;
  }
  std::size_t kept = 0;
  for (std::size_t k = 0; k < n; ++k) {
    if (!made[k]) continue;
    if (kept != k) tiles[kept] = std::move(tiles[k]);
    ++kept;
  }
  tiles.resize(kept);
}

// The tiles a correlation uses inside the room_y x room_x area at (lo_y,
// lo_x): their luma made by make_luma(y, x, h, w), their mask by
// mask_tile(tile), then centred here. A small area is one tile: cheap at
// that size, and it uses every textured pixel there is (small tiles of a
// small image can all be flat). A larger one gets a grid of candidate
// tiles, those worth_preparing(y, x, size) made, and the kTileCount most
// textured (energy of the unmasked luma) kept.
template <typename MakeLuma, typename MaskTile, typename WorthPreparing>
std::vector<LumaTile> ChooseTiles(int lo_y, int lo_x, int room_y, int room_x,
                                  MakeLuma make_luma, MaskTile mask_tile,
                                  WorthPreparing worth_preparing) {
  std::vector<LumaTile> tiles;
  if (static_cast<double>(room_y) * room_x <=
      static_cast<double>(kTileCount) * kMaxTile * kMaxTile) {
    tiles.push_back(make_luma(lo_y, lo_x, room_y, room_x));
    mask_tile(tiles.back());
    CentreTile(tiles.back());
    return tiles;
  }
  const int size = std::min(kMaxTile, std::min(room_y, room_x) / 3);
  const int span_y = room_y - size;
  const int span_x = room_x - size;
  for (int gy = 0; gy < kTileGrid; ++gy) {
    for (int gx = 0; gx < kTileGrid; ++gx) {
      const int y = lo_y + span_y * (2 * gy + 1) / (2 * kTileGrid);
      const int x = lo_x + span_x * (2 * gx + 1) / (2 * kTileGrid);
      if (!worth_preparing(y, x, size)) continue;
      tiles.push_back(make_luma(y, x, size, size));
    }
  }
  MaskAndCentreLikelyTiles(tiles, mask_tile);
  std::stable_sort(
      tiles.begin(), tiles.end(),
      [](const LumaTile& a, const LumaTile& b) { return a.energy > b.energy; });
  if (tiles.size() > kTileCount) tiles.resize(kTileCount);
  return tiles;
}

}  // namespace

CoarseGeometry PlanCoarse(int height, int width, int period, int max_dy,
                          int max_dx) {
  CoarseGeometry g;
  const double pixels = static_cast<double>(height) * width;
  // The mid-size stride is even (issue 17's ninth round): X-Trans's 3
  // (2.4-5.4 MP frames; Bayer's period already rounds it to 4) made grids
  // of twice the samples, e.g. 705 x 471 at 3 MP, transformed at 750 x 525
  // (factors of 5 and 7): 2.2 ms/MP of coarse stage against a stride 4's
  // ~1.2.
  int small = std::min(
      kSmallCoarseMaxStride,
      static_cast<int>(std::ceil(std::sqrt(pixels / kSmallCoarseSamples))));
  if (small > 1) small += small % 2;
  g.stride = std::max(
      {1, static_cast<int>(std::ceil(std::sqrt(pixels / kCoarseSamples))),
       small});
  if (g.stride > period) g.stride = (g.stride + period - 1) / period * period;
  g.box = std::max(period, (g.stride + period - 1) / period * period);
  g.height = (height - g.box) / g.stride + 1;
  g.width = (width - g.box) / g.stride + 1;
  g.search_y = max_dy / g.stride + 1;
  g.search_x = max_dx / g.stride + 1;
  // Pad so a circular shift of up to the search radius never wraps image
  // content onto itself.
  g.fft_height = FastFftSize(g.height + g.search_y + 1);
  g.fft_width = FastFftSize(g.width + g.search_x + 1);
  if (g.fft_width % 2) g.fft_width = FastFftSize(g.fft_width + 1);
  if (static_cast<double>(g.fft_height) * g.fft_width >= kLargeCoarseFft) {
    // Camera-sized grids: sizes of 2s and 3s transform faster (see
    // PowerOfTwoThreeSize); the width stays even (r2c's half spectrum).
    g.fft_height = PowerOfTwoThreeSize(g.height + g.search_y + 1);
    g.fft_width = PowerOfTwoThreeSize(g.width + g.search_x + 1);
    if (g.fft_width % 2) g.fft_width = PowerOfTwoThreeSize(g.fft_width + 1);
  }
  return g;
}

int FineRadius(const CoarseGeometry& geometry) {
  // Grids of stride 4 and more (frames from 2.4 MP up) take half a sample
  // alone: their coarse peaks fall within 0.45 px (0.11 samples) of the
  // shift the search ends at (issue 17's tenth round, 119 stride-4 pairs:
  // real raws' crops, generated 3-24 MP scenes, 3 MP photographs at the
  // most extreme noise), and radius 2 keeps the shift inside the window's
  // interior for coarse errors under 1.5 px, 3x that (eleventh round: 25
  // shifts scored, not 49; 1 px more in the tenth). Finer grids (the
  // sweeps' and tests' small frames) keep 2 px more.
  return geometry.stride / 2 + (geometry.stride >= 4 ? 0 : 2);
}

void PrepareCoarse(const Plane<float>& coarse, const CoarseGeometry& geometry,
                   float* padded) {
  for (int y = 0; y < coarse.height(); ++y) {
    std::copy_n(coarse.row(y), coarse.width(),
                padded + static_cast<std::size_t>(y) * geometry.fft_width);
  }
  PrepareCoarseInPlace(geometry, coarse.height(), coarse.width(), padded);
}

// Compiled for AVX2 too: its passes are 8 floats a step there, not 4
// (issue 17: 0.72 M instructions of a 3 MP pair in the baseline code);
// the same operations on each sample, so the same floats.
DSB_VECTOR_CLONES void PrepareCoarseInPlace(const CoarseGeometry& geometry,
                                            int height, int width,
                                            float* padded) {
  const std::size_t pitch = static_cast<std::size_t>(geometry.fft_width);
  // The mean: each row in eight float lanes, rows added in double (one
  // chain of double additions over the whole grid was bound by the
  // adder's latency).
  double sum = 0;
  for (int y = 0; y < height; ++y) {
    const float* row = padded + y * pitch;
    V8 lanes = {};
    int x = 0;
    for (; x + 8 <= width; x += 8) lanes += Load8(row + x);
    double row_sum = 0;
    for (; x < width; ++x) row_sum += row[x];
    for (int l = 0; l < 8; ++l) row_sum += lanes[l];
    sum += row_sum;
  }
  const float mean =
      static_cast<float>(sum / (static_cast<double>(height) * width));
  const int ramp_y = height / 8;
  const int ramp_x = width / 8;
  std::vector<float> taper_x(static_cast<std::size_t>(width));
  for (int x = 0; x < width; ++x) taper_x[x] = Taper(x, width, ramp_x);
  for (int y = 0; y < height; ++y) {
    const float ty = Taper(y, height, ramp_y);
    float* row = padded + y * pitch;
    for (int x = 0; x < width; ++x) {
      row[x] = (row[x] - mean) * ty * taper_x[x];
    }
    std::fill(row + width, row + pitch, 0.0f);
  }
  std::fill(padded + height * pitch,
            padded + static_cast<std::size_t>(geometry.fft_height) * pitch,
            0.0f);
}

namespace {

// magnitude^-kWhitening for a normal float magnitude, in 4 lanes (the same
// expression as a scalar for the tail): magnitude = 2^e * f with f in
// [sqrt(1/2), sqrt(2)); ln f from its atanh series (|t| <= 0.172, to t^9);
// -kWhitening * (e + ln f / ln 2) split into an integer n and a remainder
// of at most 1/2 (kWhitening = kHi + kLo with kHi * e exact), 2^remainder
// from its series to degree 7. Within 2 float ulps of std::pow (measured
// over 2e7 magnitudes from 1e-20 to 1e38), at under half its cost, in
// vectors. The surface only proposes candidates; their integer positions
// do not move by such rounding.
// (Returned through `scale`: a function returning an 8-float vector
// changes its ABI between the clones, -Wpsabi.)
template <typename F, typename I>
[[gnu::always_inline]] inline void WhiteningScale(const F& magnitude,
                                                  F& scale) {
  constexpr float kLn2 = 0.693147180559945309f;
  constexpr float kHi = 0.69921875f;  // 179/256
  constexpr float kLo = kWhitening - kHi;
  const I bits = std::bit_cast<I>(magnitude);
  const I e = (bits - 0x3F3504F3) >> 23;
  const F f = std::bit_cast<F>(bits - e * (1 << 23));
  const F t = (f - 1.0f) / (f + 1.0f);
  const F t2 = t * t;
  const F ln_f =
      2.0f * t *
      (1.0f + t2 * (1.0f / 3 + t2 * (1.0f / 5 + t2 * (1.0f / 7 + t2 / 9))));
  F ef, nf;
  I n;
  if constexpr (std::is_same_v<F, float>) {
    ef = static_cast<float>(e);
  } else {
    ef = __builtin_convertvector(e, F);
  }
  const F a = -kHi * ef;
  const F b = -kLo * ef - (kWhitening / kLn2) * ln_f;
  if constexpr (std::is_same_v<F, float>) {
    n = static_cast<I>(a + b + 128.5f) - 128;
    nf = static_cast<float>(n);
  } else {
    n = __builtin_convertvector(a + b + 128.5f, I) - 128;
    nf = __builtin_convertvector(n, F);
  }
  const F x = ((a - nf) + b) * kLn2;
  const F p =
      1.0f +
      x * (1.0f + x * (0.5f + x * (1.0f / 6 +
                                   x * (1.0f / 24 +
                                        x * (1.0f / 120 +
                                             x * (1.0f / 720 + x / 5040))))));
  scale = p * std::bit_cast<F>((n + 127) * (1 << 23));
}

}  // namespace

DSB_VECTOR_CLONES void CrossPower(const float* gt_spectrum,
                                  const float* noisy_spectrum,
                                  std::size_t complex_count, float* out) {
  std::size_t k = 0;
  // Eight complex values at a time, deinterleaved into real and imaginary
  // vectors (two SSE2 registers each in the baseline build, one AVX2
  // register in its clone); every value is the scalar loop's expression
  // (the square root is correctly rounded either way).
  using V8 = float __attribute__((vector_size(32)));
  using M8 = std::int32_t __attribute__((vector_size(32)));
  for (; k + 8 <= complex_count; k += 8) {
    V8 g0, g1, n0, n1;
    std::memcpy(&g0, gt_spectrum + 2 * k, sizeof(g0));
    std::memcpy(&g1, gt_spectrum + 2 * k + 8, sizeof(g1));
    std::memcpy(&n0, noisy_spectrum + 2 * k, sizeof(n0));
    std::memcpy(&n1, noisy_spectrum + 2 * k + 8, sizeof(n1));
    const V8 gr = __builtin_shufflevector(g0, g1, 0, 2, 4, 6, 8, 10, 12, 14);
    const V8 gi = __builtin_shufflevector(g0, g1, 1, 3, 5, 7, 9, 11, 13, 15);
    const V8 nr = __builtin_shufflevector(n0, n1, 0, 2, 4, 6, 8, 10, 12, 14);
    const V8 ni = __builtin_shufflevector(n0, n1, 1, 3, 5, 7, 9, 11, 13, 15);
    // G * conj(N)
    const V8 re = gr * nr + gi * ni;
    const V8 im = gi * nr - gr * ni;
    const V8 squared = re * re + im * im;
    V8 magnitude;
    for (int l = 0; l < 8; ++l) magnitude[l] = std::sqrt(squared[l]);
    // std::pow gives 0 for an overflowed (infinite) magnitude.
    const M8 keep =
        (magnitude > 1e-20f) & (magnitude <= std::numeric_limits<float>::max());
    V8 whitening;
    WhiteningScale<V8, M8>(magnitude, whitening);
    const V8 scale = std::bit_cast<V8>(std::bit_cast<M8>(whitening) & keep);
    const V8 out_re = re * scale, out_im = im * scale;
    const V8 lo =
        __builtin_shufflevector(out_re, out_im, 0, 8, 1, 9, 2, 10, 3, 11);
    const V8 hi =
        __builtin_shufflevector(out_re, out_im, 4, 12, 5, 13, 6, 14, 7, 15);
    std::memcpy(out + 2 * k, &lo, sizeof(lo));
    std::memcpy(out + 2 * k + 8, &hi, sizeof(hi));
  }
  for (; k < complex_count; ++k) {
    const float gr = gt_spectrum[2 * k], gi = gt_spectrum[2 * k + 1];
    const float nr = noisy_spectrum[2 * k], ni = noisy_spectrum[2 * k + 1];
    // G * conj(N)
    const float re = gr * nr + gi * ni;
    const float im = gi * nr - gr * ni;
    const float magnitude = std::sqrt(re * re + im * im);
    float scale = 0.0f;
    if (magnitude > 1e-20f && magnitude <= std::numeric_limits<float>::max()) {
      WhiteningScale<float, std::int32_t>(magnitude, scale);
    }
    out[2 * k] = re * scale;
    out[2 * k + 1] = im * scale;
  }
}

std::vector<CoarsePeak> FindCoarsePeaks(const float* surface,
                                        const CoarseGeometry& g, int count) {
  const int h = g.fft_height, w = g.fft_width;
  auto at = [&](int dy, int dx) {
    const int y = (dy % h + h) % h;
    const int x = (dx % w + w) % w;
    return surface[static_cast<std::size_t>(y) * w + x];
  };
  struct Local {
    int dy, dx;
    float value;
  };
  std::vector<Local> maxima;
  // at()'s wrapped columns for dx in [-search_x - 1, search_x + 1], and
  // its rows for each dy: the same reads without two remainders each (a
  // search window of a 2.7 MP frame reads ~0.7 M values).
  std::vector<int> columns(static_cast<std::size_t>(2 * g.search_x + 3));
  for (int dx = -g.search_x - 1; dx <= g.search_x + 1; ++dx) {
    columns[dx + g.search_x + 1] = (dx % w + w) % w;
  }
  const int* column = columns.data() + g.search_x + 1;  // column[dx]
  for (int dy = -g.search_y; dy <= g.search_y; ++dy) {
    const float* rows[3];
    for (int ky = -1; ky <= 1; ++ky) {
      const int y = ((dy + ky) % h + h) % h;
      rows[ky + 1] = surface + static_cast<std::size_t>(y) * w;
    }
    for (int dx = -g.search_x; dx <= g.search_x; ++dx) {
      const float v = rows[1][column[dx]];
      bool is_max = true;
      for (int ky = -1; ky <= 1 && is_max; ++ky) {
        for (int kx = -1; kx <= 1; ++kx) {
          if ((ky || kx) && rows[ky + 1][column[dx + kx]] > v) {
            is_max = false;
            break;
          }
        }
      }
      if (is_max) maxima.push_back({dy, dx, v});
    }
  }
  std::sort(maxima.begin(), maxima.end(),
            [](const Local& a, const Local& b) { return a.value > b.value; });
  std::vector<CoarsePeak> peaks;
  for (const Local& m : maxima) {
    if (static_cast<int>(peaks.size()) >= count) break;
    CoarsePeak peak;
    const double oy =
        ParabolicOffset(at(m.dy - 1, m.dx), m.value, at(m.dy + 1, m.dx));
    const double ox =
        ParabolicOffset(at(m.dy, m.dx - 1), m.value, at(m.dy, m.dx + 1));
    peak.dy = (m.dy + oy) * g.stride;
    peak.dx = (m.dx + ox) * g.stride;
    peak.value = m.value;
    peaks.push_back(peak);
  }
  return peaks;
}

namespace {

// The reference's luma blocks where they hold the GT's luma at `weights`
// (the GT's balance, unless FineColours left a colour out), else null.
const ReferenceLuma* LumaAt(const FineReference* reference,
                            const std::array<float, 3>& weights) {
  if (reference == nullptr) return nullptr;
  for (int c = 0; c < 3; ++c) {
    if (std::bit_cast<std::uint32_t>(reference->luma.balance()[c]) !=
        std::bit_cast<std::uint32_t>(weights[c])) {
      return nullptr;
    }
  }
  return &reference->luma;
}

FineResult FineSearchOnce(
    const RawImage& gt, const std::array<float, 3>& gt_balance,
    const RawImage& noisy, const std::array<float, 3>& noisy_balance,
    const std::array<bool, 3>& used, const std::vector<CoarsePeak>& candidates,
    int radius, int max_dy, int max_dx, bool all_candidates,
    const FineReference* reference, std::vector<FineResult>* winners = nullptr,
    FineResult* strongest_own = nullptr) {
  const ClippedSpans* gt_spans =
      reference != nullptr ? &reference->spans : nullptr;
  const ReferenceLuma* gt_luma_blocks = LumaAt(reference, gt_balance);
  const int height = gt.height(), width = gt.width();
  const int period = gt.cfa.period();
  const float clip = gt.meta.overexposure_lb;
  const float strongest = candidates.empty() ? 0.0f : candidates[0].value;
  // The best score that is a local maximum inside its candidate's window,
  // and the best on a window's edge (where the score still rises outward).
  // A candidate next to a stronger peak (a side lobe of the coarse surface)
  // reaches up that peak's flank to its window's edge; on a small, noisy
  // overlap such a flank, scored on its own tiles and mask, can beat the
  // peak scored on the peak's own, so an edge wins only where no window
  // holds a maximum.
  FineResult best, best_edge;
  for (std::size_t c = 0; c < candidates.size(); ++c) {
    const CoarsePeak& candidate = candidates[c];
    // Weak secondary peaks are not worth a fine search: a moved object or
    // a periodic structure strong enough to compete makes a peak of a
    // comparable height, and those are verified.
    if (!all_candidates && c > 0 && strongest > 0 &&
        candidate.value < kCandidateFloor * strongest) {
      continue;
    }
    const int cy = std::clamp(static_cast<int>(std::lround(candidate.dy)),
                              -max_dy, max_dy);
    const int cx = std::clamp(static_cast<int>(std::lround(candidate.dx)),
                              -max_dx, max_dx);
    // Noisy tiles at t must keep t + c + [-radius, radius + size + period)
    // inside the GT and t + [0, size + period) inside the noisy image.
    const int lo_y = std::max(0, radius - cy);
    const int lo_x = std::max(0, radius - cx);
    const int room_y = height - period + 1 - std::max(0, cy + radius) - lo_y;
    const int room_x = width - period + 1 - std::max(0, cx + radius) - lo_x;
    if (room_y < kMinTile || room_x < kMinTile) continue;

    // Clipped highlights are the brightest, flattest parts of a GT and
    // would dominate a correlation they carry no position information for,
    // so they are masked: every luma sample whose period box touches a
    // clipped noisy pixel, or whose GT counterpart at any searched offset
    // does.
    //
    // A tile no clipped pixel of either capture reaches (most tiles of most
    // photographs) has a mask of 1s only: where the GT's spans and the
    // noisy window say so, its mask is one plane of 1s shared by all such
    // tiles (read only, as every tile's mask is once made), not a plane
    // filled and read per tile; the values are the same.
    std::shared_ptr<Plane<float>> ones;
    auto make_luma = [&](int y, int x, int h, int w) {
      return LumaTile{y, x, h, w, PeriodLuma(noisy, noisy_balance, y, x, h, w),
                      {}};
    };
    auto mask_tile = [&](LumaTile& t) {
      const int y = t.y, x = t.x, h = t.h, w = t.w;
      const int gy = y + cy - radius, gx = x + cx - radius;
      const int box = period + 2 * radius;
      if (gt_spans != nullptr &&
          !gt_spans->MayHoldClipped(gy, gy + h + box - 1, gx,
                                    gx + w + box - 1) &&
          !HoldsClipped(noisy, y, x, h + period - 1, w + period - 1)) {
        if (ones == nullptr) ones = std::make_shared<Plane<float>>(w, h, 1.0f);
        if (ones->width() == w && ones->height() == h) {
          t.mask = Plane<float>::Adopt(ones->data(), w, h, ones);
          return;  // ChooseTiles centres it
        }
      }
      t.mask = UnclippedBoxes(noisy, noisy.meta.overexposure_lb, used, y, x, h,
                              w, period, period);
      ClearClippedBoxes(gt, clip, used, gy, gx, h, w, box, box, t.mask,
                        gt_spans);
    };
    // Mostly clipped tiles are not worth preparing; the mask takes care of
    // clipping in the others.
    auto worth_preparing = [&](int y, int x, int size) {
      int clipped = 0;
      for (int i = 0; i < size + period; i += 2) {
        // A row without a clipped pixel there adds nothing.
        if (gt_spans != nullptr &&
            !gt_spans->MayHoldClipped(y + cy + i, x + cx,
                                      x + cx + size + period)) {
          continue;
        }
        const float* row = gt.pixels.row(y + cy + i) + x + cx;
        for (int j = 0; j < size + period; j += 2) {
          clipped +=
              row[j] >= clip &&
              used[static_cast<int>(gt.cfa.color_at(y + cy + i, x + cx + j))];
        }
      }
      return clipped * 4 <= (size + period) * (size + period) / 2;
    };
    const std::vector<LumaTile> tiles = ChooseTiles(
        lo_y, lo_x, room_y, room_x, make_luma, mask_tile, worth_preparing);
    if (tiles.empty()) continue;

    // One normalised cross-correlation over all tiles together:
    // sum(cov) / sqrt(sum(var_a) * sum(var_b)). Textured tiles weigh more
    // than flat ones, whose correlation is mostly noise.
    const int window = 2 * radius + 1;
    const std::size_t offsets = static_cast<std::size_t>(window) * window;
    std::vector<double> cross(offsets, 0.0), b_var(offsets, 0.0);
    double a_energy = 0;
    for (const LumaTile& t : tiles) {
      if (t.count < 1) continue;
      const int y0 = t.y + cy - radius, x0 = t.x + cx - radius;
      const int h = t.h + 2 * radius, w = t.w + 2 * radius;
      const Plane<float> gt_luma =
          gt_luma_blocks != nullptr ? gt_luma_blocks->Window(y0, x0, h, w)
                                    : PeriodLuma(gt, gt_balance, y0, x0, h, w);
      if (t.count >= kSparseMask * t.h * t.w) {
        AddSparselyMaskedCorrelation(t.luma, t.mask, t.count, gt_luma, window,
                                     cross.data(), b_var.data());
      } else {
        AddCorrelation(t.luma, t.mask, t.count, gt_luma, window, cross.data(),
                       b_var.data());
      }
      a_energy += t.energy;
    }
    FineResult own;  // this candidate's best interior maximum
    std::vector<double> scores(offsets, 0.0);
    for (std::size_t o = 0; o < offsets; ++o) {
      const double denominator = std::sqrt(a_energy * b_var[o]);
      scores[o] = denominator > 0 ? cross[o] / denominator : 0.0;
    }
    for (int oy = 0; oy < window; ++oy) {
      for (int ox = 0; ox < window; ++ox) {
        const double score = scores[oy * window + ox];
        const int dy = cy + oy - radius, dx = cx + ox - radius;
        if (std::abs(dy) > max_dy || std::abs(dx) > max_dx) continue;
        // On the window's edge with a searchable shift beyond it.
        const bool edge = (oy == 0 && std::abs(dy - 1) <= max_dy) ||
                          (oy == window - 1 && std::abs(dy + 1) <= max_dy) ||
                          (ox == 0 && std::abs(dx - 1) <= max_dx) ||
                          (ox == window - 1 && std::abs(dx + 1) <= max_dx);
        const bool wins_own = !edge && score > own.score;
        FineResult& slot = edge ? best_edge : best;
        if (score <= slot.score && !wins_own) continue;
        FineResult here;
        here.score = score;
        here.dy = dy;
        here.dx = dx;
        auto at = [&](int y, int x) { return scores[y * window + x]; };
        here.dy_subpx =
            dy + ((oy > 0 && oy < window - 1)
                      ? ParabolicOffset(at(oy - 1, ox), score, at(oy + 1, ox))
                      : 0.0);
        here.dx_subpx =
            dx + ((ox > 0 && ox < window - 1)
                      ? ParabolicOffset(at(oy, ox - 1), score, at(oy, ox + 1))
                      : 0.0);
        if (wins_own) own = here;
        if (score > slot.score) slot = here;
      }
    }
    if (winners != nullptr && own.score >= -1) winners->push_back(own);
    if (strongest_own != nullptr && c == 0) *strongest_own = own;
  }
  return best.score >= -1 ? best : best_edge;
}

}  // namespace

namespace {

// The pooled score of step 2 at each of `shifts` (a few, close together),
// all on one set of tiles and one clipping mask (the union of the GT's
// clipped period boxes at every one of the shifts), so the scores compare
// the shifts alone. Empty when the shifts leave no room for a tile.
std::vector<double> ScoreOnCommonTiles(
    const RawImage& gt, const std::array<float, 3>& gt_weights,
    const RawImage& noisy, const std::array<float, 3>& noisy_weights,
    const std::array<bool, 3>& used,
    const std::vector<std::pair<int, int>>& shifts,
    const FineReference* reference) {
  const ClippedSpans* gt_spans =
      reference != nullptr ? &reference->spans : nullptr;
  const ReferenceLuma* gt_luma_blocks = LumaAt(reference, gt_weights);
  const int height = gt.height(), width = gt.width();
  const int period = gt.cfa.period();
  int lo_y = 0, lo_x = 0, hi_y = 0, hi_x = 0;
  for (const auto& [dy, dx] : shifts) {
    lo_y = std::max(lo_y, -dy);
    lo_x = std::max(lo_x, -dx);
    hi_y = std::max(hi_y, dy);
    hi_x = std::max(hi_x, dx);
  }
  const int room_y = height - period + 1 - hi_y - lo_y;
  const int room_x = width - period + 1 - hi_x - lo_x;
  if (room_y < kMinTile || room_x < kMinTile) return {};
  auto make_luma = [&](int y, int x, int h, int w) {
    return LumaTile{y, x, h, w, PeriodLuma(noisy, noisy_weights, y, x, h, w),
                    {}};
  };
  auto mask_tile = [&](LumaTile& t) {
    t.mask = UnclippedBoxes(noisy, noisy.meta.overexposure_lb, used, t.y, t.x,
                            t.h, t.w, period, period);
    for (const auto& [dy, dx] : shifts) {
      ClearClippedBoxes(gt, gt.meta.overexposure_lb, used, t.y + dy, t.x + dx,
                        t.h, t.w, period, period, t.mask, gt_spans);
    }
  };
  const std::vector<LumaTile> tiles =
      ChooseTiles(lo_y, lo_x, room_y, room_x, make_luma, mask_tile,
                  [](int, int, int) { return true; });
  std::vector<double> scores;
  for (const auto& [dy, dx] : shifts) {
    double cross = 0, b_var = 0, a_energy = 0;
    for (const LumaTile& t : tiles) {
      if (t.count < 1) continue;
      const Plane<float> gt_luma =
          gt_luma_blocks != nullptr
              ? gt_luma_blocks->Window(t.y + dy, t.x + dx, t.h, t.w)
              : PeriodLuma(gt, gt_weights, t.y + dy, t.x + dx, t.h, t.w);
      AddCorrelation(t.luma, t.mask, t.count, gt_luma, 1, &cross, &b_var);
      a_energy += t.energy;
    }
    const double denominator = std::sqrt(a_energy * b_var);
    scores.push_back(denominator > 0 ? cross / denominator : 0.0);
  }
  return scores;
}

// One shift's block losses: BlockGainMatchedLoss's sums and sample counts
// per block of the noisy image.
struct BlockLosses {
  const Plane<double>& sums;
  const Plane<double>& counts;
};

// How two shifts' block losses compare, block by block: on how many
// blocks b's mean loss is lower than a's, and on how many higher.
struct BlockVotes {
  double better = 0, worse = 0;
};

// The one block-by-block comparison that both the fine search's check of
// a weaker peak (CompareOnBlocks) and the refinement (RefineShift) make:
// over the blocks that a, b and `also` (where given) each cover with at
// least half of `full` samples, so a block at the overlap's edge, seen
// through a few rows, does not vote as a whole one. Where `differences`
// is given it receives b's mean loss minus a's on each such block.
BlockVotes VoteOnBlocks(const BlockLosses& a, const BlockLosses& b, double full,
                        const BlockLosses* also = nullptr,
                        std::vector<double>* differences = nullptr) {
  BlockVotes votes;
  const double least = 0.5 * full;
  for (std::size_t k = 0; k < a.counts.pixel_count(); ++k) {
    const double na = a.counts.data()[k], nb = b.counts.data()[k];
    if (na < least || nb < least) continue;
    if (also != nullptr && also->counts.data()[k] < least) continue;
    const double difference = b.sums.data()[k] / nb - a.sums.data()[k] / na;
    votes.better += difference < 0;
    votes.worse += difference > 0;
    if (differences != nullptr) differences->push_back(difference);
  }
  return votes;
}

// The largest sample count of any block in `counts`: a block covered in
// full (VoteOnBlocks' `full`).
double FullBlock(const Plane<double>& counts) {
  double full = 0;
  for (std::size_t k = 0; k < counts.pixel_count(); ++k) {
    full = std::max(full, counts.data()[k]);
  }
  return full;
}

// The sign test: `ahead` blocks against `behind` is a clear lead, at
// least kRefineSignificance standard deviations of a fair coin, so noise
// alone does not move a shift the fine search resolved.
bool ClearLead(double ahead, double behind,
               double significance = kRefineSignificance) {
  return ahead - behind >= significance * std::sqrt(ahead + behind);
}

// A shift's overlap and the raw gain its loss is matched at.
struct ShiftAtGain {
  Overlap overlap;
  double raw_gain = 1.0;
};

// Two shifts' block losses as RefineShift compares shifts from `a`: a's
// row sample and blocks (RefineSamplingOf), each shift at its own gain.
struct TwoShiftBlocks {
  Plane<double> sums_a, counts_a, sums_b, counts_b;
  BlockLosses a() const { return {sums_a, counts_a}; }
  BlockLosses b() const { return {sums_b, counts_b}; }
};
TwoShiftBlocks BlockLossesOfTwo(const RawImage& gt, const RawImage& noisy,
                                const ShiftAtGain& a, const ShiftAtGain& b) {
  const auto [step, block] = RefineSamplingOf(a.overlap);
  const int blocks_y = (gt.height() + block - 1) / block;
  const int blocks_x = (gt.width() + block - 1) / block;
  TwoShiftBlocks blocks{{blocks_x, blocks_y},
                        {blocks_x, blocks_y},
                        {blocks_x, blocks_y},
                        {blocks_x, blocks_y}};
  BlockGainMatchedLoss(gt, noisy, a.overlap, a.raw_gain, step, block,
                       blocks.sums_a, blocks.counts_a);
  BlockGainMatchedLoss(gt, noisy, b.overlap, b.raw_gain, step, block,
                       blocks.sums_b, blocks.counts_b);
  return blocks;
}

// Shift `b` against shift `a` on the colour-matched, gain-matched
// mosaics, block by block of the noisy image as RefineShift compares
// neighbours (its row sample and blocks of a's overlap), each shift at its
// own gain (RawGain). A moved object or a clipped area sways only the
// blocks it covers.
BlockVotes CompareOnBlocks(const RawImage& gt, const RawImage& noisy,
                           const FineResult& a, const FineResult& b) {
  const Overlap overlap_a = ComputeOverlap(gt.height(), gt.width(), a.dy, a.dx);
  const Overlap overlap_b = ComputeOverlap(gt.height(), gt.width(), b.dy, b.dx);
  if (overlap_a.empty() || overlap_b.empty()) return {};
  const TwoShiftBlocks blocks =
      BlockLossesOfTwo(gt, noisy, {overlap_a, RawGain(gt, noisy, overlap_a)},
                       {overlap_b, RawGain(gt, noisy, overlap_b)});
  return VoteOnBlocks(
      blocks.a(), blocks.b(),
      std::max(FullBlock(blocks.counts_a), FullBlock(blocks.counts_b)));
}

}  // namespace

std::array<bool, 3> FineColours(const RawImage& gt, const RawImage& noisy,
                                const FineReference* reference) {
  const std::array<double, 3> gt_shares =
      reference != nullptr ? reference->shares : ClippedShares(gt);
  const std::array<double, 3> noisy_shares = ClippedShares(noisy);
  std::array<bool, 3> used{};
  bool any = false;
  for (int c = 0; c < 3; ++c) {
    used[c] = std::max(gt_shares[c], noisy_shares[c]) <= kHeavilyClipped;
    any = any || used[c];
  }
  // Every colour heavily clipped: keep them all and let the clipping mask
  // take out what it must.
  if (!any) used = {true, true, true};
  return used;
}

FineResult FineSearch(const RawImage& gt,
                      const std::array<float, 3>& gt_balance,
                      const RawImage& noisy,
                      const std::array<float, 3>& noisy_balance,
                      const std::vector<CoarsePeak>& candidates, int radius,
                      int max_dy, int max_dx, const FineReference* reference) {
  const std::array<bool, 3> used = FineColours(gt, noisy, reference);
  std::array<float, 3> gt_weights = gt_balance, noisy_weights = noisy_balance;
  for (int c = 0; c < 3; ++c) {
    if (!used[c]) gt_weights[c] = noisy_weights[c] = 0.0f;
  }
  std::vector<FineResult> winners;
  FineResult strongest_own;
  FineResult best = FineSearchOnce(gt, gt_weights, noisy, noisy_weights, used,
                                   candidates, radius, max_dy, max_dx, false,
                                   reference, &winners, &strongest_own);
  // Each candidate's window scores its shifts on its own tiles and
  // clipping mask (they depend on the shifts a window spans), so maxima of
  // different windows are not comparable to the last digit: a broad peak
  // split between windows, or two peaks a few pixels apart on a noisy
  // overlap. Those maxima are scored again on one set of tiles and one
  // mask, and the best of them wins. Maxima further apart are not: their
  // common tiles would lie on less of the frame than either window's own
  // (align_bench --sweep 120 7 --photos, pair 34, 378 x 234: a maximum 55
  // and 177 px from the truth won on the common area). (Until
  // kAlignRevision 10 only within kSplitPeak, 6 px: --sweep-large 100 9
  // --photos, pair 69, 1794 x 1080, X-Trans at the most extreme noise: the
  // true shift's window scored 0.2313 on its own tiles, a window 7 px away
  // 0.2356 on its own; on common tiles 0.2275 against 0.2234.)
  const int split_y = std::max(kSplitPeak, gt.height() / kSplitPeakShare);
  const int split_x = std::max(kSplitPeak, gt.width() / kSplitPeakShare);
  if (best.score >= -1) {
    std::vector<FineResult> maxima = {best};
    for (const FineResult& w : winners) {
      bool seen = false;
      for (const FineResult& m : maxima) {
        seen = seen || (w.dy == m.dy && w.dx == m.dx);
      }
      if (!seen && std::abs(w.dy - best.dy) <= split_y &&
          std::abs(w.dx - best.dx) <= split_x) {
        maxima.push_back(w);
      }
    }
    if (maxima.size() > 1) {
      std::vector<std::pair<int, int>> shifts;
      for (const FineResult& m : maxima) shifts.emplace_back(m.dy, m.dx);
      const std::vector<double> scores = ScoreOnCommonTiles(
          gt, gt_weights, noisy, noisy_weights, used, shifts, reference);
      if (!scores.empty()) {
        const std::size_t k =
            std::max_element(scores.begin(), scores.end()) - scores.begin();
        best = maxima[k];
      }
    }
  }
  // A maximum of a weaker coarse peak's window that beats the strongest
  // peak's own maximum on the pooled score must also beat it on the
  // blocks' direct comparison (CompareOnBlocks: lower loss on more blocks
  // than higher). The pooled score weighs tiles by their energy, so a few
  // tiles can carry it: align_bench --sweep-large 100 17 --photos, pair
  // 53 (GRBG 1956x1326, gain 0.5, 4 % clipped highlights, a moved
  // object): the strongest peak was the truth (-109.74,126.14, the next
  // ones 0.35 and 0.25 of it), but three of its window's 8 tiles lay on
  // the moved object, 80 % masked by clipping, and tilted its score
  // (0.3316 at -111,126, rising to the window's edge) below a weaker
  // peak's -88,124 (0.3958; on their common tiles too), from which the
  // refinement walked to -92,127; -111,126 has the lower loss on 243 of
  // 260 blocks. The refinement then moves the kept maximum as usual.
  if (best.score >= -1 && strongest_own.score >= -1 &&
      (best.dy != strongest_own.dy || best.dx != strongest_own.dx)) {
    const BlockVotes votes = CompareOnBlocks(gt, noisy, strongest_own, best);
    // Too few blocks to tell (RefineShift's least): the score decides.
    if (votes.better + votes.worse >= kRefineMinBlocks &&
        votes.better <= votes.worse) {
      best = strongest_own;
    }
  }
  if (best.score < -1) {
    // The strong candidates left no room for tiles: try the weak ones.
    best = FineSearchOnce(gt, gt_weights, noisy, noisy_weights, used,
                          candidates, radius, max_dy, max_dx, true, reference);
  }
  return best;
}

RefineSampling RefineSamplingOf(const Overlap& overlap) {
  const double pixels = static_cast<double>(overlap.height) * overlap.width;
  double samples = SampleOf(pixels, kRefineSamples);
  // Overlaps over 1 MP, which SampleOf already thins: half of its sample
  // up to 4 MP, rising as the square root of the pixels to all of it at
  // 16 MP (where it reaches kRefineSamples), so the row-pair step grows
  // from 4 at 1 MP to 8 at 4 MP, stays 8 up to 16 MP and is SampleOf's
  // above (24 and 60 MP as before). Issue 17's eleventh round: at 3 MP
  // the refinement was a quarter of a pair's alignment; its ~256 blocks
  // (the sign test and the median) stay, each of half the pixels.
  if (RowPairStep(pixels, samples) > 1) {
    samples *= std::clamp(std::sqrt(pixels / kRefineFullSampleFrom), 0.5, 1.0);
  }
  // About 256 blocks, so a moved object of 10% of the frame (a larger
  // share of a small overlap) stays a minority of them.
  return {RowPairStep(pixels, samples),
          std::clamp(static_cast<int>(std::sqrt(pixels / 256)), 16, 256)};
}

namespace {

// The mean loss of BlockGainMatchedLoss's sums: the blocks' sums and
// counts added in order.
double MeanOfBlocks(const Plane<double>& sums, const Plane<double>& counts) {
  double total = 0, count = 0;
  for (std::size_t k = 0; k < sums.pixel_count(); ++k) {
    total += sums.data()[k];
    count += counts.data()[k];
  }
  return count > 0 ? total / count : 0.0;
}

}  // namespace

double PairLoss(const RawImage& gt, const RawImage& noisy,
                const Overlap& overlap, double raw_gain) {
  if (overlap.empty()) return 0.0;
  const RefineSampling sampling = RefineSamplingOf(overlap);
  Plane<double> sums((gt.width() + sampling.block - 1) / sampling.block,
                     (gt.height() + sampling.block - 1) / sampling.block);
  Plane<double> counts(sums.width(), sums.height());
  BlockGainMatchedLoss(gt, noisy, overlap, raw_gain, sampling.row_step,
                       sampling.block, sums, counts);
  return MeanOfBlocks(sums, counts);
}

HalfPixelTie HalfPixelTieOf(const FineResult& fine) {
  auto side = [](double subpx, int shift) {
    const double off = subpx - shift;
    if (std::abs(off) < 0.5 - kHalfPixelTie) return 0;
    return off < 0 ? -1 : 1;
  };
  return {side(fine.dy_subpx, fine.dy), side(fine.dx_subpx, fine.dx)};
}

namespace {

using Shift = std::pair<int, int>;

// RefineShift's comparison on one row sample (`sampling`) of the shifts,
// a move needing a lead of `significance` standard deviations: the centre
// (dy, dx) against the neighbours in `candidates` (all eight within the
// search range where it is null). Appends to `open` the
// neighbours the sample could not rule out: not worse than the centre on
// clearly more blocks (the sign test's lead for the centre), where `open`
// is not null.
RefineResult CompareNeighbours(const RawImage& gt, const RawImage& noisy,
                               int dy, int dx, double raw_gain, int max_dy,
                               int max_dx, HalfPixelTie tie,
                               RefineSampling sampling, double significance,
                               const std::vector<Shift>* candidates,
                               std::vector<Shift>* open) {
  const Overlap centre = ComputeOverlap(gt.height(), gt.width(), dy, dx);
  RefineResult best{dy, dx, 0.0};
  const auto [step, block] = sampling;
  const int blocks_y = (gt.height() + block - 1) / block;
  const int blocks_x = (gt.width() + block - 1) / block;
  // The centre and its neighbours within the search range (the shifts it
  // may move to: shifts[1, movable)), then the opposites of those not
  // among them (compared against, never moved to; see the slope test
  // below), their block losses in one sweep (BlockGainMatchedLosses).
  std::vector<Overlap> overlaps = {centre};
  std::vector<Shift> shifts = {{dy, dx}};
  auto in_range = [&](int y, int x) {
    return std::abs(y) <= max_dy && std::abs(x) <= max_dx;
  };
  for (int ny = dy - 1; ny <= dy + 1; ++ny) {
    for (int nx = dx - 1; nx <= dx + 1; ++nx) {
      if ((ny == dy && nx == dx) || !in_range(ny, nx)) continue;
      if (candidates != nullptr &&
          std::find(candidates->begin(), candidates->end(), Shift{ny, nx}) ==
              candidates->end()) {
        continue;
      }
      overlaps.push_back(ComputeOverlap(gt.height(), gt.width(), ny, nx));
      shifts.emplace_back(ny, nx);
    }
  }
  const std::size_t movable = shifts.size();
  for (std::size_t s = 1; s < movable; ++s) {
    const Shift o{2 * dy - shifts[s].first, 2 * dx - shifts[s].second};
    if (std::find(shifts.begin(), shifts.end(), o) != shifts.end()) continue;
    const Overlap beyond =
        ComputeOverlap(gt.height(), gt.width(), o.first, o.second);
    if (beyond.empty()) continue;
    overlaps.push_back(beyond);
    shifts.push_back(o);
  }
  std::vector<Plane<double>> sums(overlaps.size(),
                                  Plane<double>(blocks_x, blocks_y));
  std::vector<Plane<double>> counts(overlaps.size(),
                                    Plane<double>(blocks_x, blocks_y));
  BlockGainMatchedLosses(gt, noisy, overlaps, raw_gain, step, block, sums,
                         counts);
  const Plane<double>& centre_sums = sums[0];
  const Plane<double>& centre_counts = counts[0];
  best.loss = MeanOfBlocks(centre_sums, centre_counts);
  const BlockLosses centre_losses{centre_sums, centre_counts};
  const double full = FullBlock(centre_counts);
  // Each neighbour's opposite: its index in shifts (0 where it has no
  // overlap with the GT).
  std::vector<std::size_t> opposite(movable, 0);
  for (std::size_t s = 1; s < movable; ++s) {
    for (std::size_t t = 1; t < shifts.size(); ++t) {
      if (shifts[t].first == 2 * dy - shifts[s].first &&
          shifts[t].second == 2 * dx - shifts[s].second) {
        opposite[s] = t;
      }
    }
  }
  double best_median = 0;
  std::vector<double> differences;
  for (std::size_t s = 1; s < movable; ++s) {
    // Blocks (in noisy coordinates) that both shifts cover well.
    const BlockLosses neighbour{sums[s], counts[s]};
    differences.clear();
    const auto [better, worse] =
        VoteOnBlocks(centre_losses, neighbour, full, nullptr, &differences);
    if (differences.size() < kRefineMinBlocks) continue;
    if (open != nullptr && !ClearLead(worse, better)) {
      open->push_back(shifts[s]);
    }
    // A sign test (ClearLead): the neighbour must be better on clearly
    // more blocks than it is worse on, not merely on half of them.
    // A neighbour on the half pixel's side of a fine estimate at the half
    // pixel (HalfPixelTie): a plain majority (align_bench --sweep-large 100
    // 9 --photos, pair 67: sub-pixel -96.48 for the truth -97, whose
    // blocks beat -96's 142 to 122, short of the lead of 32.5).
    const int sy = shifts[s].first - dy, sx = shifts[s].second - dx;
    const bool tied = (sy == 0 || sy == tie.dy) && (sx == 0 || sx == tie.dx);
    if (tied ? better <= worse : !ClearLead(better, worse, significance)) {
      continue;
    }
    // A slope, not a bump: along the line from the opposite neighbour
    // (the centre mirrored through this one) through the centre to this
    // one the loss must fall throughout: the opposite no better than the
    // centre on most blocks, and this neighbour better than the opposite
    // on clearly more blocks (the same sign test). A misalignment of 1 px
    // makes such a slope (the opposite is then 2 px off); a bias of the
    // centre's own makes a bump instead: at an even Bayer shift the GT's
    // colours are compared as they are, at an odd one interpolated, which
    // averages their noise away on smooth content and lowers the loss of
    // both neighbours (align_bench --sweep-large 100 9 --photos, pairs 1
    // and 85: the true shift lost to both x neighbours, on 156-162 and
    // 141-147 of ~260 blocks; seed 11's pair 41 and seed 13's pair 9
    // passed one of the two tests, not both). An opposite beyond the
    // search range is compared all the same (never moved to).
    if (const std::size_t o = opposite[s]; o != 0) {
      // Both on the blocks the centre, this neighbour and the opposite
      // all cover well.
      const BlockLosses opposite_losses{sums[o], counts[o]};
      const auto [o_lower, o_higher] =
          VoteOnBlocks(centre_losses, opposite_losses, full, &neighbour);
      const auto [ahead, behind] =
          VoteOnBlocks(opposite_losses, neighbour, full, &centre_losses);
      if (o_lower > o_higher || !ClearLead(ahead, behind, significance)) {
        continue;
      }
    }
    auto middle = differences.begin() + differences.size() / 2;
    std::nth_element(differences.begin(), middle, differences.end());
    if (*middle < best_median) {
      best_median = *middle;
      best.dy = shifts[s].first;
      best.dx = shifts[s].second;
      best.on_tie_majority = tied && !ClearLead(better, worse, significance);
    }
  }
  return best;
}

// A denser sample for the refinement's second look: every row up to
// kRefineSecondLookSamples pixels, about that many above.
RefineSampling SecondLookSamplingOf(const Overlap& overlap,
                                    RefineSampling first) {
  const double pixels = static_cast<double>(overlap.height) * overlap.width;
  const int step = RowPairStep(pixels, kRefineSecondLookSamples);
  return {std::min(step, first.row_step), first.block};
}

}  // namespace

RefineResult RefineShift(const RawImage& gt, const RawImage& noisy, int dy,
                         int dx, double raw_gain, int max_dy, int max_dx,
                         HalfPixelTie tie) {
  const Overlap centre = ComputeOverlap(gt.height(), gt.width(), dy, dx);
  if (centre.empty()) return {dy, dx, 0.0};
  // SampleOf(pixels, kRefineSamples) pixels per shift, in ~256 blocks.
  const RefineSampling sampling = RefineSamplingOf(centre);
  std::vector<Shift> open;
  const RefineResult first =
      CompareNeighbours(gt, noisy, dy, dx, raw_gain, max_dy, max_dx, tie,
                        sampling, kRefineSignificance, nullptr, &open);
  const RefineSampling denser = SecondLookSamplingOf(centre, sampling);
  const bool kept = first.dy == dy && first.dx == dx;
  if (!kept || open.empty() || denser.row_step == sampling.row_step) {
    return first;
  }
  // A second look where the sample kept the centre without ruling out
  // every neighbour: the same comparison of the centre and the neighbours
  // left open (a sequential test: those the sample ruled out stay out), on
  // a denser sample, with a stricter lead (kRefineSecondLookSignificance).
  // At the most extreme noise the half sample of 1-4 MP frames leaves the
  // truth's blocks split ~130 to 135 against the centre 1 px off, where all
  // rows give it the lead (align_bench --sweep-large 100 21 --photos, pair
  // 69; seed 15's pair 35, seed 7's pair 87). About one pair in ten of
  // those sweeps looks again, most at noise level 4. The centre's loss
  // stays the first sample's (PairLoss's).
  RefineResult second =
      CompareNeighbours(gt, noisy, dy, dx, raw_gain, max_dy, max_dx, tie,
                        denser, kRefineSecondLookSignificance, &open, nullptr);
  second.loss = first.loss;
  return second;
}

bool TieMoveConfirmed(const RawImage& gt, const RawImage& noisy,
                      const RefineResult& from, const RefineResult& to) {
  const Overlap there = ComputeOverlap(gt.height(), gt.width(), to.dy, to.dx);
  const Overlap back =
      ComputeOverlap(gt.height(), gt.width(), from.dy, from.dx);
  if (there.empty() || back.empty()) return false;
  // RefineShift's comparison from `to`: its sample, blocks and gain.
  const double raw_gain = RawGain(gt, noisy, there);
  const TwoShiftBlocks blocks =
      BlockLossesOfTwo(gt, noisy, {there, raw_gain}, {back, raw_gain});
  const auto [better, worse] =
      VoteOnBlocks(blocks.a(), blocks.b(), FullBlock(blocks.counts_a));
  return ClearLead(worse, better);
}

}  // namespace dsb
