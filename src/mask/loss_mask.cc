#include "mask/loss_mask.h"

#include <algorithm>
#include <array>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "common/prefetch.h"
#include "common/vector_clones.h"
#include "mask/cell_rows.h"
#include "mask/morphology.h"
#include "mask/pair_model.h"
#include "mask/self_pair_mask.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && \
    defined(__ELF__)
#include <immintrin.h>
#define DSB_MASK_LOOKUP_AVX512 1
#endif

namespace dsb {
namespace {

constexpr int kColors = kCellColors;

// The smallest radius >= `radius` whose windows all hold every colour (a
// window as wide as the period always does, if the pattern has them all).
int ClipRadiusForCfa(const CfaPattern& cfa, int radius) {
  const int period = cfa.period();
  const int start = std::max(radius, 0);
  for (int r = start; r < start + period; ++r) {
    bool all = true;
    for (int y0 = 0; y0 < period && all; ++y0) {
      for (int x0 = 0; x0 < period && all; ++x0) {
        bool seen[kColors] = {false, false, false};
        for (int y = y0 - r; y <= y0 + r; ++y) {
          for (int x = x0 - r; x <= x0 + r; ++x) {
            seen[static_cast<int>(cfa.color_at(y, x))] = true;
          }
        }
        all = seen[0] && seen[1] && seen[2];
      }
    }
    if (all) return r;
  }
  return start + period;
}

// The window radius (cells) that finds a relative change of
// `detect_change` at the reference level with the mean of z rising by
// twice the threshold.
int WindowRadius(const PairModel& model, const CellLayout& layout,
                 const MaskParams& params) {
  const double s = model.reference_level;
  const double delta = params.detect_change * s;
  int radius = params.min_window_radius;
  if (delta > 0) {
    // The typical variance factor of a cell mean over the colours.
    double factor = 0;
    int present = 0;
    for (int pi = 0; pi < layout.parity; ++pi) {
      for (int pj = 0; pj < layout.parity; ++pj) {
        for (int c = 0; c < kColors; ++c) {
          if (layout.var_factor[pi][pj][c] > 0) {
            factor += layout.var_factor[pi][pj][c];
            ++present;
          }
        }
      }
    }
    factor = present > 0 ? factor / present : 1.0;
    const double q = model.Variance(s) * factor / (delta * delta);
    const double n = std::pow(2 * params.threshold_sigmas * q, 2) * 2.0 / 3.0;
    const double side = std::sqrt(n);
    radius = static_cast<int>(std::ceil((side - 1) / 2));
  }
  return std::clamp(radius, params.min_window_radius, params.max_window_radius);
}

// One colour's d^2 / var counts at most this much: a cell that differs
// a lot and one that differs hugely are equally changed, and one extreme
// cell must not carry a whole window.
constexpr float kTermCap = 16.0f;

// A cell's weight in the window tests, in half colour terms: each colour
// compared both ways counts 2, one compared one way only (censored by
// clipping) 1, so a cell without clipping weighs 6.
constexpr int kFullWeight = 2 * kColors;

// z is kept per cell as a fixed-point number, z * kScoreScale rounded
// (at most 65535: z reaches 16 only where every colour's term is capped).
// The window tests then add integers, exactly and in any order, 16 lanes
// to a vector rather than 8 doubles; a window's sum moves by at most
// (2R + 1)^2 / 2 / 4096 (0.001 at R = 1, 0.035 at R = 8) against limits
// that sit 2.5 standard deviations of the window's sum above its mean
// (about 2.5 and 42): only windows that close to a limit can turn.
constexpr float kScoreScale = 4096.0f;

inline __attribute__((always_inline)) std::uint32_t QuantizedScore(float z) {
  const float q = z * kScoreScale + 0.5f;
  return static_cast<std::uint32_t>(q < 65535.0f ? q : 65535.0f);
}

// What a plane's storage was sized for (ResizeWithin): its data then and
// its entries.
struct Reserve {
  const void* data = nullptr;
  std::size_t entries = 0;
};

}  // namespace

// What the mismatch test needs of the whole overlap, at cell resolution:
// z per cell (see loss_mask.h; 0 where the cell has no evidence), its
// weight (in half colour terms, 0..6), which cells hold clipping the mask
// shows (about 1.75 bytes per pixel for Bayer, 0.8 for X-Trans), the flags
// (bits), and the mask's pixels.
struct MaskWorkspace::Buffers {
  Plane<std::uint16_t> z;  // z * kScoreScale, rounded
  Plane<std::uint8_t> weight;
  Plane<std::uint8_t> clipped;
  BitPlane flags;
  BitPlane weak;                       // windows past the lower, edge limit
  std::vector<std::uint8_t> flag_row;  // a row of either, as bytes
  Plane<std::uint8_t> pixels;          // the next mask's, when recycled
  Plane<std::uint8_t> band;            // rows near clipping, at full resolution
  // What ResizeWithin sized z, weight and the mask's pixels for.
  Reserve z_reserve, weight_reserve, pixels_reserve;
  bool scored = false;  // z and weight hold this workspace's last mask's
};

namespace {

// The buffers of workspaces that were destroyed, for the next ones: the
// build makes a workspace per thread and scene, so each scene's first
// masks found none and faulted theirs in afresh (a 2.7 MP mask's planes
// are ~1,500 pages, at ~1.4 us a page here). At most one set per hardware
// thread is kept, each as large as the largest mask it made.
class BufferPool {
 public:
  std::unique_ptr<MaskWorkspace::Buffers> Take() {
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      if (!free_.empty()) {
        std::unique_ptr<MaskWorkspace::Buffers> buffers =
            std::move(free_.back());
        free_.pop_back();
        // A new workspace shows no scores until it has made a mask.
        buffers->scored = false;
        return buffers;
      }
    }
    return std::make_unique<MaskWorkspace::Buffers>();
  }

  void Give(std::unique_ptr<MaskWorkspace::Buffers> buffers) {
    const std::size_t keep =
        std::max<std::size_t>(2, std::thread::hardware_concurrency());
    const std::lock_guard<std::mutex> lock(mutex_);
    if (free_.size() < keep) free_.push_back(std::move(buffers));
  }

 private:
  std::mutex mutex_;
  std::vector<std::unique_ptr<MaskWorkspace::Buffers>> free_;
};

BufferPool& Pool() {
  // Never destroyed: a workspace may outlive static destruction's order.
  static BufferPool* const pool = new BufferPool;
  return *pool;
}

}  // namespace

MaskWorkspace::MaskWorkspace() : buffers_(Pool().Take()) {}
MaskWorkspace::~MaskWorkspace() {
  if (buffers_ != nullptr) Pool().Give(std::move(buffers_));
}
MaskWorkspace::MaskWorkspace(MaskWorkspace&&) noexcept = default;
MaskWorkspace& MaskWorkspace::operator=(MaskWorkspace&&) noexcept = default;

void MaskWorkspace::Recycle(Plane<std::uint8_t> pixels) {
  buffers_->pixels = std::move(pixels);
}

PlaneView<const std::uint16_t> MaskWorkspace::scores() const {
  if (!buffers_->scored) return {};
  return buffers_->z.view();
}

PlaneView<const std::uint8_t> MaskWorkspace::weights() const {
  if (!buffers_->scored) return {};
  return buffers_->weight.view();
}

namespace {

using Buffers = MaskWorkspace::Buffers;

// Makes `plane` width x height (entries unwritten) on storage of at least
// `capacity` entries: the overlaps of a scene's pairs differ a little in
// size with their shifts, and a plane that grew from one pair to the next
// was copied into fresh memory and faulted in again; sized once for the
// whole frame it never grows into new storage within a scene. `reserve`
// remembers which storage was sized so (a plane's vector cannot tell its
// capacity): only a plane that must grow and is not that storage is
// replaced, emptied first so that nothing is copied. (Emptying and growing
// it again on every call cost ~4 ms a 24 MP pair: the growth runs over
// every entry.)
template <typename T>
void ResizeWithin(Plane<T>& plane, int width, int height, std::size_t capacity,
                  Reserve& reserve) {
  const std::size_t n = static_cast<std::size_t>(width) * height;
  const std::size_t wanted = std::max(capacity, n);
  if (n > plane.pixel_count() &&
      !(plane.data() != nullptr && reserve.data == plane.data() &&
        reserve.entries >= wanted)) {
    plane.Resize(0, 0);
    plane.Resize(static_cast<int>(wanted), 1);
    reserve = {plane.data(), wanted};
  }
  plane.Resize(width, height);
}

struct Constants {
  float slope, offset, gain, rho2, dark_top, dark_floor;
};

// The pixel rows the next cell row will be built from: fetched into the
// cache while a row is scored (arithmetic), so that the build (memory)
// finds them there.
struct Ahead {
  const char* rows[6] = {};
  int count = 0;
  int bytes_per_cell = 0;

  void Fetch(int j0, int j1) const {
    for (int r = 0; r < count; ++r) {
      PrefetchBytes(rows[r] + j0 * bytes_per_cell,
                    rows[r] + j1 * bytes_per_cell);
    }
  }
};

// What one row of cells is scored from: per colour the GT's and the
// capture's cell means in the row and the rows above and below, the
// variance factor (0: the cell lacks the colour) and the structure term
// (structure tolerance^2 * k) per column; the colours the GT clips in
// each cell of the three rows and those the capture clips in the row.
struct RowInputs {
  const float* gt_up[kColors];
  const float* gt[kColors];
  const float* gt_down[kColors];
  const float* noisy_up[kColors];
  const float* noisy[kColors];
  const float* noisy_down[kColors];
  const float* factor[kColors];
  const float* structure[kColors];
  // The same where every column has them (Bayer: one cell parity).
  float uniform_factor[kColors];
  float uniform_structure[kColors];
  const ClipBits* gt_clipped_up;
  const ClipBits* gt_clipped;
  const ClipBits* gt_clipped_down;
  const ClipBits* noisy_clipped;
};

// How the variance terms vary along a row (RowScorer): per column, with
// cells that lack a colour (exotic patterns only); per column, every cell
// holding every colour (X-Trans); one value per colour (Bayer), held in
// registers rather than loaded per cell.
enum Columns { kSomeLack = 0, kPerColumn = 1, kUniform = 2 };

// The larger and the smaller of a and b, written as x86's maxps and minps
// compute them, so that each compiles to one instruction (std::max and
// std::min keep their own order for NaN and signed zeros, which turns a
// chain of them into compares and blends). They differ from std::max and
// std::min only in which zero they return for +0 and -0, and for NaN.
inline __attribute__((always_inline)) float Max(float a, float b) {
  return a > b ? a : b;
}
inline __attribute__((always_inline)) float Min(float a, float b) {
  return a < b ? a : b;
}

// The largest absolute difference of v[j] to its 4-neighbours; `left` and
// `right` are j's neighbours in the row, or j itself at the row's ends (a
// missing neighbour adds nothing).
inline __attribute__((always_inline)) float Step(const float* up,
                                                 const float* v,
                                                 const float* down, int j,
                                                 int left, int right) {
  const float horizontal =
      std::max(std::fabs(v[j] - v[left]), std::fabs(v[right] - v[j]));
  return std::max(std::max(std::fabs(up[j] - v[j]), std::fabs(down[j] - v[j])),
                  horizontal);
}

// Cells per chunk of a row: the unit of the choice between the loops with
// and without censoring.
constexpr int kChunk = 64;
// Cells per step of a chunk: the unit of prefetching (Ahead). The next
// cell row's pixel rows are fetched a step at a time (Bayer: 2 cache lines
// of each of its 4 pixel rows) between the steps' arithmetic, not a
// chunk's 32 (Bayer) or 72 (X-Trans) lines in one burst: on the 24 MP warm
// photo the burst held
// the scorer on its prefetches (perf: 20 % of its samples there, 9 % in
// steps), and the cell build then missed more of the rows it reads. A full
// step is a loop of a known 16 cells, one AVX-512 vector (two AVX2 ones).
constexpr int kStep = 16;

// Colour c's term of cell j's z (whose row neighbours are `left` and
// `right`: j itself at the ends), from the GT's step of the colour there
// and the largest of the GT's steps; with Censored and a colour some cells
// lack, adds its half terms to `w` (ScoreCell counts them otherwise).
template <bool Censored, bool Dark, int Kind>
inline __attribute__((always_inline)) float ColourTerm(
    const RowInputs& in, const Constants& k, int c, int j, int left, int right,
    float g_step_c, float g_any, ClipBits near, ClipBits noisy_bits, float& w) {
  constexpr float kInf = std::numeric_limits<float>::infinity();
  constexpr bool AllPresent = Kind != kSomeLack;
  const float term_weight = 1.0f / kColors;
  const float* n = in.noisy[c];
  const float g = in.gt[c][j];
  const float factor =
      Kind == kUniform ? in.uniform_factor[c] : in.factor[c][j];
  // The capture's step, as the GT's.
  const float n_step =
      Step(in.noisy_up[c], n, in.noisy_down[c], j, left, right);
  const float s = Max(g, 0.0f);
  const float line = k.slope * s + k.offset;
  const float noise_var =
      (Dark && s < k.dark_top ? std::max(line, k.dark_floor) : line) * factor;
  // Structure seen only by the noisy capture's samples of this colour
  // (a thin line between the GT's samples) is tolerated too, as far as
  // the GT shows structure there in any colour: the noisy step less
  // what its noise alone would make (3 sigma of a difference of two
  // cell means), capped by the GT's.
  // (Not floored at 0: the GT's step, which is, bounds e from below.)
  const float n_clean = k.gain * n_step - 3.0f * std::sqrt(2.0f * noise_var);
  const float e = Max(Min(n_clean, g_any), g_step_c);
  float d = g - k.gain * n[j];
  if constexpr (Censored) {
    // Where the GT clips this colour in the cell or next to it, its cell
    // mean under-reads (or its step misses the slope up to the clipped
    // samples): only a capture darker than the GT is evidence (d > 0).
    // Where the capture clips it, the capture under-reads: only a
    // capture brighter than the GT is (d < 0). A one-sided term weighs
    // half (its mean under noise is half); a colour the cell lacks
    // counts in full.
    if constexpr (AllPresent) {
      // d clamped to [0, inf) on the GT's side and to (-inf, 0] on the
      // capture's, as the clamps below: 0 where d's sign (that of -0
      // too) is on a clipped side. Colour c's bits moved to the sign
      // bit and picked by d's sign are a select or two per colour (the
      // clamps took compares, blends and constants that AVX2's 16
      // registers spilled). The same d wherever d is not NaN (cell
      // means of finite samples never are), and d enters z only as d^2.
      const std::int32_t gt_sign = static_cast<std::int32_t>(near << (31 - c));
      const std::int32_t noisy_sign =
          static_cast<std::int32_t>(noisy_bits << (31 - c));
      const std::int32_t cut =
          std::bit_cast<std::int32_t>(d) < 0 ? gt_sign : noisy_sign;
      d = cut < 0 ? 0.0f : d;
    } else {
      const ClipBits bit = ClipBits{1u} << c;
      const bool gt_side = (near & bit) != 0;
      const bool noisy_side = (noisy_bits & bit) != 0;
      const float lo = gt_side ? 0.0f : -kInf;
      const float hi = noisy_side ? 0.0f : kInf;
      d = Min(Max(d, lo), hi);
      const float half_terms =
          2.0f - (gt_side ? 1.0f : 0.0f) - (noisy_side ? 1.0f : 0.0f);
      w += factor > 0 ? half_terms : 2.0f;
    }
  }
  const float structure =
      Kind == kUniform ? in.uniform_structure[c] : in.structure[c][j];
  const float var = noise_var + structure * e * e + k.rho2 * s * s;
  // A colour the cell lacks counts as agreeing (z's mean under noise
  // alone); only exotic patterns lack any.
  const float term = term_weight * Min(d * d / var, kTermCap);
  return AllPresent || factor > 0 ? term : term_weight;
}

// The weight of a cell (in half colour terms) whose colours are all
// compared, from the colours clipped near it in the GT and in the
// capture: two half terms per colour, less one for each side that clips
// it, i.e. 6 less the set bits of each side's three (a 3-bit v holds
// v - v/2 - v/4 of them). Small integers: the per-colour float sums it
// replaced were exact, so this is the same weight.
inline __attribute__((always_inline)) float AllPresentWeight(
    ClipBits near, ClipBits noisy_bits) {
  static_assert(kColors == 3, "a 3-bit count");
  const std::int32_t g3 = static_cast<std::int32_t>(near & 7u);
  const std::int32_t n3 = static_cast<std::int32_t>(noisy_bits & 7u);
  return static_cast<float>(2 * kColors - (g3 - (g3 >> 1) - (g3 >> 2)) -
                            (n3 - (n3 >> 1) - (n3 >> 2)));
}

// z and the weight (in half colour terms, with Censored) of cell j, whose
// row neighbours are `left` and `right` (j itself at the ends).
// One cell and all its colours at a time (the ends of a row and its
// partial steps; ScoreStep does full steps the same way, bit for bit).
template <bool Censored, bool Dark, int Kind>
inline __attribute__((always_inline)) void ScoreCell(
    const RowInputs& in, const Constants& k, int j, int left, int right,
    std::uint32_t* __restrict z, float* __restrict weight) {
  constexpr bool AllPresent = Kind != kSomeLack;
  // The GT's step per colour and the largest of them.
  float g_step[kColors];
  float g_any = 0.0f;
#pragma GCC unroll 3
  for (int c = 0; c < kColors; ++c) {
    g_step[c] = Step(in.gt_up[c], in.gt[c], in.gt_down[c], j, left, right);
    g_any = Max(g_step[c], g_any);
  }
  // The colours the GT clips in the cell or a 4-neighbour.
  const ClipBits near = in.gt_clipped[j] | in.gt_clipped_up[j] |
                        in.gt_clipped_down[j] | in.gt_clipped[left] |
                        in.gt_clipped[right];
  const ClipBits noisy_bits = in.noisy_clipped[j];
  float sum = 0.0f;
  float w = 0.0f;
#pragma GCC unroll 3
  for (int c = 0; c < kColors; ++c) {
    sum += ColourTerm<Censored, Dark, Kind>(in, k, c, j, left, right, g_step[c],
                                            g_any, near, noisy_bits, w);
  }
  if constexpr (Censored) {
    if constexpr (AllPresent) w = AllPresentWeight(near, noisy_bits);
    weight[j] = w;
    z[j] = QuantizedScore(w > 0 ? sum : 0.0f);
  } else {
    z[j] = QuantizedScore(sum);
  }
}

// ScoreCell for the kStep cells from s0 (s0 >= 1, s0 + kStep < cols), a
// colour at a time over the step: the same operations in the same order
// per cell (the colours' terms summed in order), so the same z and
// weights. A cell at a time held every colour's row pointers (22 with the
// clipping rows) and intermediates at once, more than AVX2's 16 vector
// and 16 general registers: with AVX2 a censored step of 16 cells took
// 716 instructions, a quarter of them moves to and from the stack, and
// takes 568 this way (callgrind, the 2.7 MP warm photo of mask_bench).
// The colour loops must be unrolled: indexed at run time, the row
// pointers defeated the vectoriser (3.9x the instructions).
template <bool Censored, bool Dark, int Kind>
inline __attribute__((always_inline)) void ScoreStep(
    const RowInputs& in, const Constants& k, int s0,
    std::uint32_t* __restrict z, float* __restrict weight) {
  constexpr bool AllPresent = Kind != kSomeLack;
  float g_step[kColors][kStep];
  float g_any[kStep];
  ClipBits near[kStep];
  ClipBits noisy_bits[kStep];
  float sum[kStep];
  float w[kStep];
#pragma GCC ivdep
  for (int q = 0; q < kStep; ++q) {
    const int j = s0 + q;
    g_any[q] = 0.0f;
    sum[q] = 0.0f;
    w[q] = 0.0f;
    near[q] = in.gt_clipped[j] | in.gt_clipped_up[j] | in.gt_clipped_down[j] |
              in.gt_clipped[j - 1] | in.gt_clipped[j + 1];
    noisy_bits[q] = in.noisy_clipped[j];
  }
#pragma GCC unroll 3
  for (int c = 0; c < kColors; ++c) {
#pragma GCC ivdep
    for (int q = 0; q < kStep; ++q) {
      const int j = s0 + q;
      g_step[c][q] =
          Step(in.gt_up[c], in.gt[c], in.gt_down[c], j, j - 1, j + 1);
      g_any[q] = Max(g_step[c][q], g_any[q]);
    }
  }
#pragma GCC unroll 3
  for (int c = 0; c < kColors; ++c) {
#pragma GCC ivdep
    for (int q = 0; q < kStep; ++q) {
      const int j = s0 + q;
      sum[q] += ColourTerm<Censored, Dark, Kind>(in, k, c, j, j - 1, j + 1,
                                                 g_step[c][q], g_any[q],
                                                 near[q], noisy_bits[q], w[q]);
    }
  }
  // Not unrolled: GCC unrolled this 16-cell loop in full before its loop
  // vectoriser ran, and the straight-line code then stored each cell's z
  // alone (a lane extract, scalar multiply, add, compare, convert and
  // store per cell, in every clone: the AVX-512 Bayer step without
  // censoring took 348 instructions, 215 with the loop kept). Kept a loop,
  // it is one vector convert and store (two with AVX2).
#pragma GCC ivdep
#pragma GCC unroll 1
  for (int q = 0; q < kStep; ++q) {
    const int j = s0 + q;
    if constexpr (Censored) {
      const float wq =
          AllPresent ? AllPresentWeight(near[q], noisy_bits[q]) : w[q];
      weight[j] = wq;
      z[j] = QuantizedScore(wq > 0 ? sum[q] : 0.0f);
    } else {
      z[j] = QuantizedScore(sum[q]);
    }
  }
}

// z as the window tests keep it (16 bits), the weights as bytes (all
// kFullWeight in a row without censoring), and the cells whose clipping
// the mask shows (where `clipped` is given).
DSB_VECTOR_CLONES void FinishRow(const std::uint32_t* __restrict wide_z,
                                 const float* __restrict w,
                                 const ClipBits* __restrict gt_clipped,
                                 const ClipBits* __restrict noisy_clipped,
                                 ClipBits noisy_shows, int cols, bool censored,
                                 std::uint16_t* __restrict z,
                                 std::uint8_t* __restrict weight,
                                 std::uint8_t* __restrict clipped) {
  for (int j = 0; j < cols; ++j) z[j] = static_cast<std::uint16_t>(wide_z[j]);
  if (censored) {
    for (int j = 0; j < cols; ++j) {
      weight[j] = static_cast<std::uint8_t>(w[j]);
    }
  } else {
    for (int j = 0; j < cols; ++j) weight[j] = kFullWeight;
  }
  if (clipped == nullptr) return;
  for (int j = 0; j < cols; ++j) {
    clipped[j] = (gt_clipped[j] | (noisy_clipped[j] & noisy_shows)) != 0;
  }
}

// Whether any cell in [j0, j1) of the row, or of its neighbours above and
// below, holds clipping of the GT, or the row of the capture: a superset
// of what censors the cells of [j0 + 1, j1 - 1).
// Inlined into the scorer's clones (a call from one clone to another goes
// through the resolver's indirect jump every time).
inline __attribute__((always_inline)) bool ChunkClipped(const RowInputs& in,
                                                        int j0, int j1) {
  const ClipBits* __restrict up = in.gt_clipped_up;
  const ClipBits* __restrict mid = in.gt_clipped;
  const ClipBits* __restrict down = in.gt_clipped_down;
  const ClipBits* __restrict noisy = in.noisy_clipped;
  ClipBits any = 0;
  for (int j = j0; j < j1; ++j) any |= up[j] | mid[j] | down[j] | noisy[j];
  return any != 0;
}

// z for one cell row from the row and its neighbours.
class RowScorer {
 public:
  RowScorer(const CellLayout& layout, const PairModel& model,
            const MaskParams& params)
      : layout_(layout),
        cols_(layout.cols),
        k_{static_cast<float>(model.slope),
           static_cast<float>(model.offset),
           static_cast<float>(model.gain),
           static_cast<float>(params.relative_tolerance *
                              params.relative_tolerance),
           static_cast<float>(model.dark_top),
           static_cast<float>(model.dark_floor)},
        noisy_shows_(params.mask_noisy_clipped ? ~ClipBits{0} : 0),
        // The floor at black levels changes a variance only where it is
        // above the line's lowest value, its offset (the slope is >= 0).
        dark_(k_.dark_floor > k_.offset) {
    weight_.assign(cols_, 0.0f);
    wide_z_.assign(cols_, 0);
    const float tau2 = static_cast<float>(params.structure_tolerance *
                                          params.structure_tolerance);
    // Variance of a cell's d: the pixel model times the cell's factor, and
    // the structure term, per column; they depend only on the row's parity
    // and the colour, so they are laid out once here, not per row.
    for (int pi = 0; pi < layout.parity; ++pi) {
      all_present_[pi] = true;
      for (int c = 0; c < kColors; ++c) {
        for (int q = 0; q < layout.parity; ++q) {
          all_present_[pi] &= layout.var_factor[pi][q][c] > 0;
        }
        std::vector<float>& factor = factor_[pi][c];
        std::vector<float>& structure = structure_[pi][c];
        factor.assign(cols_, 0.0f);
        structure.assign(cols_, 0.0f);
        for (int q = 0; q < layout.parity; ++q) {
          const float f = layout.var_factor[pi][q][c];
          const float t = tau2 * model.structure[pi][q][c];
          for (int j = q; j < cols_; j += layout.parity) {
            factor[j] = f;
            structure[j] = t;
          }
        }
      }
    }
  }

  // z, the weight (kFullWeight for a cell whose every colour is compared
  // both ways) and whether the mask shows clipping in it, for each cell of
  // row `mid`.
  void Score(const CellRow& up, const CellRow& mid, const CellRow& down,
             const Ahead& ahead, std::uint16_t* z, std::uint8_t* weight,
             std::uint8_t* clipped) {
    const int pi = mid.index % layout_.parity;
    RowInputs in;
    for (int c = 0; c < kColors; ++c) {
      in.gt_up[c] = up.gt[c].data();
      in.gt[c] = mid.gt[c].data();
      in.gt_down[c] = down.gt[c].data();
      in.noisy_up[c] = up.noisy[c].data();
      in.noisy[c] = mid.noisy[c].data();
      in.noisy_down[c] = down.noisy[c].data();
      in.factor[c] = factor_[pi][c].data();
      in.structure[c] = structure_[pi][c].data();
      in.uniform_factor[c] = factor_[pi][c][0];
      in.uniform_structure[c] = structure_[pi][c][0];
    }
    in.gt_clipped_up = up.gt_clipped.data();
    in.gt_clipped = mid.gt_clipped.data();
    in.gt_clipped_down = down.gt_clipped.data();
    in.noisy_clipped = mid.noisy_clipped.data();
    // Most rows have no clipping near them: they skip the censoring.
    const bool censored =
        (up.gt_any | mid.gt_any | down.gt_any | mid.noisy_any) != 0;
    using Fn = void (*)(const RowInputs&, const Constants&, const Ahead&, int,
                        std::uint32_t*, float*);
    static constexpr Fn kRows[12] = {
        ScoreRow<false, false, kSomeLack>, ScoreRow<false, false, kPerColumn>,
        ScoreRow<false, false, kUniform>,  ScoreRow<false, true, kSomeLack>,
        ScoreRow<false, true, kPerColumn>, ScoreRow<false, true, kUniform>,
        ScoreRow<true, false, kSomeLack>,  ScoreRow<true, false, kPerColumn>,
        ScoreRow<true, false, kUniform>,   ScoreRow<true, true, kSomeLack>,
        ScoreRow<true, true, kPerColumn>,  ScoreRow<true, true, kUniform>};
    const int kind = !all_present_[pi]     ? kSomeLack
                     : layout_.parity == 1 ? kUniform
                                           : kPerColumn;
    kRows[(censored ? 6 : 0) + (dark_ ? 3 : 0) + kind](
        in, k_, ahead, cols_, wide_z_.data(), weight_.data());
    FinishRow(wide_z_.data(), weight_.data(), in.gt_clipped, in.noisy_clipped,
              noisy_shows_, cols_, censored, z, weight, clipped);
  }

 private:
  template <bool Censored, bool Dark, int Kind>
  DSB_WIDE_VECTOR_CLONES static void ScoreRow(const RowInputs& inputs,
                                              const Constants& constants,
                                              const Ahead& ahead, int cols,
                                              std::uint32_t* __restrict z,
                                              float* __restrict weight) {
    // Local copies, so that the loop vectorises: the pointers and constants
    // stay in registers (a conditional load of a constant through a
    // reference is a masked load the vectoriser refuses).
    const RowInputs in = inputs;
    const Constants k = constants;
    if (cols == 1) {
      ScoreCell<Censored, Dark, Kind>(in, k, 0, 0, 0, z, weight);
      return;
    }
    ScoreCell<Censored, Dark, Kind>(in, k, 0, 0, 1, z, weight);
    for (int j0 = 1; j0 + 1 < cols; j0 += kChunk) {
      const int j1 = std::min(j0 + kChunk, cols - 1);
      // A row with clipping somewhere holds it in a few chunks at most:
      // the others take the loop without censoring, which gives the same
      // z and the full weight where no clipping is near (about 2/3 of the
      // instructions).
      const bool censor = Censored && ChunkClipped(in, j0 - 1, j1 + 1);
      // The outputs are not among the inputs; without `ivdep` the
      // vectoriser would check every pair of them for overlap (too many to
      // version).
      for (int s0 = j0; s0 < j1; s0 += kStep) {
        const int s1 = std::min(s0 + kStep, j1);
        // Every cell of the next row, the row's end cells with the first
        // and last steps.
        ahead.Fetch(s0 == 1 ? 0 : s0, s1 + 1 == cols ? cols : s1);
        if (s1 - s0 == kStep) {
          if (censor) {
            ScoreStep<Censored, Dark, Kind>(in, k, s0, z, weight);
          } else {
            ScoreStep<false, Dark, Kind>(in, k, s0, z, weight);
#pragma GCC ivdep
            for (int q = 0; q < kStep; ++q) weight[s0 + q] = kFullWeight;
          }
        } else if (censor) {
#pragma GCC ivdep
          for (int j = s0; j < s1; ++j) {
            ScoreCell<Censored, Dark, Kind>(in, k, j, j - 1, j + 1, z, weight);
          }
        } else {
#pragma GCC ivdep
          for (int j = s0; j < s1; ++j) {
            ScoreCell<false, Dark, Kind>(in, k, j, j - 1, j + 1, z, weight);
            weight[j] = kFullWeight;
          }
        }
      }
    }
    ScoreCell<Censored, Dark, Kind>(in, k, cols - 1, cols - 2, cols - 1, z,
                                    weight);
  }

  const CellLayout& layout_;
  const int cols_;
  const Constants k_;
  const ClipBits noisy_shows_;
  const bool dark_;
  // Per row parity: whether every cell holds every colour.
  bool all_present_[2] = {};
  // Per row parity and colour.
  std::vector<float> factor_[2][kColors];
  std::vector<float> structure_[2][kColors];
  std::vector<float> weight_;
  // z of the row being scored, before FinishRow narrows it to 16 bits: with
  // 32-bit outputs the scorer's vectors hold as many cells as its floats
  // (16 with AVX-512), so that a step of kStep cells is one vector (with
  // 16-bit outputs the compiler took 32 cells an iteration).
  std::vector<std::uint32_t> wide_z_;
};

// One pass over both overlaps, a cell row at a time (each row's cells are
// built once and dropped two rows later): z, the weights and the cells
// holding clipping into `buffers`, and the mask's pixels into `sink` if
// given; returns which pixel rows hold clipping.
std::vector<std::uint8_t> ScoreCells(const CellRowBuilder& builder,
                                     const PairModel& model,
                                     const MaskParams& params,
                                     int overlap_height,
                                     std::size_t frame_cells, Buffers& buffers,
                                     ClipSink* sink) {
  const CellLayout& layout = builder.layout();
  std::vector<std::uint8_t> clipped_rows(overlap_height, 0);
  // Every entry is written below (an empty layout leaves them empty, not
  // holding a previous mask's cells).
  const int rows = layout.empty() ? 0 : layout.rows;
  const int cols = layout.empty() ? 0 : layout.cols;
  ResizeWithin(buffers.z, cols, rows, frame_cells, buffers.z_reserve);
  ResizeWithin(buffers.weight, cols, rows, frame_cells, buffers.weight_reserve);
  buffers.scored = true;
  // Which cells hold clipping: only the cell footprint (ApplyClipping)
  // asks; clipping per sample is written into the pixels (`sink`).
  buffers.clipped.Resize(sink == nullptr ? cols : 0,
                         sink == nullptr ? rows : 0);
  if (!layout.empty()) {
    RowScorer scorer(layout, model, params);
    CellRowCache cache(builder, clipped_rows.data(), sink);
    for (int i = 0; i < layout.rows; ++i) {
      const CellRow& up = cache.Get(std::max(i - 1, 0));
      const CellRow& mid = cache.Get(i);
      const CellRow& down = cache.Get(std::min(i + 1, layout.rows - 1));
      // The next row built is i + 2 (at the next i).
      Ahead ahead;
      if (i + 2 < layout.rows) {
        const float* rows[6];
        ahead.count = builder.SourceRows(i + 2, rows);
        for (int r = 0; r < ahead.count; ++r) {
          ahead.rows[r] = reinterpret_cast<const char*>(rows[r]);
        }
        ahead.bytes_per_cell = builder.SourceBytesPerCell();
      }
      scorer.Score(up, mid, down, ahead, buffers.z.row(i),
                   buffers.weight.row(i),
                   sink == nullptr ? buffers.clipped.row(i) : nullptr);
    }
  }
  builder.MarkRowsWithoutCells(clipped_rows.data(), sink);
  return clipped_rows;
}

// The window test's column sums of the quantized z and of the weights
// moved on by a row: the row that left the window is taken out, the one
// that enters is added (integers: exact). z is 0 wherever the weight is
// (RowScorer).
template <bool Leave, bool Enter>
DSB_WIDE_VECTOR_CLONES void SlideColumns(
    const std::uint16_t* __restrict leave_z,
    const std::uint8_t* __restrict leave_w,
    const std::uint16_t* __restrict enter_z,
    const std::uint8_t* __restrict enter_w, int cols,
    std::int32_t* __restrict sums, std::int32_t* __restrict counts) {
  for (int x = 0; x < cols; ++x) {
    std::int32_t c = sums[x];
    std::int32_t n = counts[x];
    if constexpr (Leave) {
      c -= leave_z[x];
      n -= leave_w[x];
    }
    if constexpr (Enter) {
      c += enter_z[x];
      n += enter_w[x];
    }
    sums[x] = c;
    counts[x] = n;
  }
}

bool portable_window_test = false;  // UsePortableWindowTestForTesting

#ifdef DSB_MASK_LOOKUP_AVX512
// What TestRow's lookup pass writes (out[x] = 1 where weight[x] > 0 and
// window[x] > limit[weight[x]]), for a table of `size` <= 64 limits, 16
// windows at a time: the table sits in four registers and each window's
// limit is picked by two two-register permutes and a blend. The compiler
// emits that lookup as one load per window (gathers are slow here and it
// does not use them). Returns how many windows it did (a multiple of 16);
// the caller does the rest. Same bytes as the scalar loop.
constexpr int kRegisterLimits = 64;
__attribute__((target("avx512f"))) int TestLimitsAvx512(
    const std::int32_t* window, const std::int32_t* weight, int cols,
    const std::int32_t* limit, int size, std::uint8_t* out) {
  alignas(64) std::int32_t table[kRegisterLimits] = {};
  std::copy(limit, limit + size, table);
  const __m512i t0 = _mm512_load_si512(table);
  const __m512i t1 = _mm512_load_si512(table + 16);
  const __m512i t2 = _mm512_load_si512(table + 32);
  const __m512i t3 = _mm512_load_si512(table + 48);
  const __m512i upper_half = _mm512_set1_epi32(32);
  const __m512i zero = _mm512_setzero_si512();
  const __m512i one = _mm512_set1_epi32(1);
  int x = 0;
  for (; x + 16 <= cols; x += 16) {
    const __m512i n = _mm512_loadu_si512(weight + x);
    const __m512i w = _mm512_loadu_si512(window + x);
    // The permutes read the index's low 5 bits: entry n & 31 of
    // [t0, t1] and of [t2, t3].
    const __m512i low = _mm512_permutex2var_epi32(t0, n, t1);
    const __m512i high = _mm512_permutex2var_epi32(t2, n, t3);
    const __m512i lim = _mm512_mask_blend_epi32(
        _mm512_cmpge_epi32_mask(n, upper_half), low, high);
    const __mmask16 pass =
        _mm512_cmpgt_epi32_mask(w, lim) & _mm512_cmpgt_epi32_mask(n, zero);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + x),
                     _mm512_mask_cvtepi32_epi8(_mm_setzero_si128(), pass, one));
  }
  return x;
}

// The same for tables too large for registers (radius 2 and up: 151 to
// 1,735 limits), each window's limit gathered (vpgatherdd): the compiler's
// code for the scalar loop moved each index out of a vector and loaded
// its limit alone, and TestRow<6> took half as long this way on noise
// level 4 pairs at 2.7 MP (perf: 1,934-1,995 -> 1,013-1,051 samples).
__attribute__((target("avx512f"))) int TestLimitsGather(
    const std::int32_t* window, const std::int32_t* weight, int cols,
    const std::int32_t* limit, std::uint8_t* out) {
  const __m512i zero = _mm512_setzero_si512();
  const __m512i one = _mm512_set1_epi32(1);
  int x = 0;
  for (; x + 16 <= cols; x += 16) {
    const __m512i n = _mm512_loadu_si512(weight + x);
    const __m512i w = _mm512_loadu_si512(window + x);
    // The masked form with a source given: the plain one trips GCC 12's
    // -Wmaybe-uninitialized inside its header.
    const __m512i lim =
        _mm512_mask_i32gather_epi32(zero, __mmask16{0xffff}, n, limit, 4);
    const __mmask16 pass =
        _mm512_cmpgt_epi32_mask(w, lim) & _mm512_cmpgt_epi32_mask(n, zero);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + x),
                     _mm512_mask_cvtepi32_epi8(_mm_setzero_si128(), pass, one));
  }
  return x;
}
#endif

// TestRow's windows of less than the full weight `kFull` (`partial`, of
// which there are `partials`) tested against limit[their weight] into
// `out`.
template <std::int32_t kFull>
inline __attribute__((always_inline)) void LookUpPartials(
    const std::int32_t* __restrict window,
    const std::int32_t* __restrict weight,
    const std::uint8_t* __restrict partial, int partials, int cols,
    const std::int32_t* __restrict limit, std::uint8_t* __restrict out) {
  // Where the CPU picks 16 limits at once from registers (AVX-512, radius
  // 0 or 1), a pass over the row pays from a 64th of its windows on: on
  // the 24 MP procedural pairs, whose captures clip here and there, the
  // one-by-one lookups below (each found with memchr) took a quarter of
  // the window test (perf: TestRow and memchr 445 samples, 300 with the
  // pass from a 64th on). Elsewhere from a 16th.
  bool registers = false;
#ifdef DSB_MASK_LOOKUP_AVX512
  // The default radius (1: 55 limits) and 0; wider windows' tables do
  // not fit in four registers.
  if constexpr (kFull < kRegisterLimits) {
    static const bool avx512 = __builtin_cpu_supports("avx512f");
    registers = avx512 && !portable_window_test;
  }
#endif
  if (partials > cols / (registers ? 64 : 16)) {
    int x = 0;
#ifdef DSB_MASK_LOOKUP_AVX512
    if constexpr (kFull < kRegisterLimits) {
      if (registers) {
        x = TestLimitsAvx512(window, weight, cols, limit, kFull + 1, out);
      }
    } else {
      static const bool avx512 = __builtin_cpu_supports("avx512f");
      if (avx512 && !portable_window_test) {
        x = TestLimitsGather(window, weight, cols, limit, out);
      }
    }
#endif
    for (; x < cols; ++x) {
      const std::int32_t n = weight[x];
      // limit[0] is read but not used (no branch, so that it vectorises).
      out[x] = (n > 0) & (window[x] > limit[n]);
    }
    return;
  }
  const std::uint8_t* const end = partial + cols;
  for (const std::uint8_t* p = partial; p < end; ++p) {
    p = static_cast<const std::uint8_t*>(std::memchr(p, 1, end - p));
    if (p == nullptr) break;
    const int x = static_cast<int>(p - partial);
    const std::int32_t n = weight[x];
    out[x] = n > 0 && window[x] > limit[n];
  }
}

// One row of the window test: the window's sum of the quantized z and of
// the weights (its column sums added; `sums` and `counts` padded with R
// zeros each side), and 1 in `out` where the sum passes limit[weight] (the
// limits in the same fixed point, rounded down: an integer passes a limit
// exactly where it passes its floor); where `edge_limit` is given, the same
// against it in `edge_out`, from the same sums (a second call added them up
// again: 2R + 1 columns a window, up to 17). `window`, `weight` and
// `partial`: scratch of `cols`.
template <int R>
DSB_WIDE_VECTOR_CLONES void TestRow(
    const std::int32_t* __restrict sums, const std::int32_t* __restrict counts,
    int cols, const std::int32_t* __restrict limit,
    std::uint8_t* __restrict out, const std::int32_t* __restrict edge_limit,
    std::uint8_t* __restrict edge_out, std::int32_t* __restrict window,
    std::int32_t* __restrict weight, std::uint8_t* __restrict partial) {
  // Most windows hold the full weight of (2R+1)^2 unclipped cells: all are
  // first compared with its one limit (a lookup per window does not
  // vectorise well), and the others then look theirs up, one by one where
  // they are few, in a pass over the row where they are not (clipped
  // areas).
  constexpr std::int32_t kFull = kFullWeight * (2 * R + 1) * (2 * R + 1);
  const std::int32_t full_limit = limit[kFull];
  int partials = 0;
  for (int x = 0; x < cols; ++x) {
    std::int32_t s = 0;
    std::int32_t c = 0;
#pragma GCC unroll 17
    for (int k = 0; k <= 2 * R; ++k) {
      s += sums[x + k];
      c += counts[x + k];
    }
    window[x] = s;
    weight[x] = c;
    out[x] = s > full_limit;
    partial[x] = c != kFull;
    partials += c != kFull;
  }
  if (edge_limit != nullptr) {
    const std::int32_t full_edge_limit = edge_limit[kFull];
    for (int x = 0; x < cols; ++x) edge_out[x] = window[x] > full_edge_limit;
  }
  if (partials == 0) return;
  LookUpPartials<kFull>(window, weight, partial, partials, cols, limit, out);
  if (edge_limit != nullptr) {
    LookUpPartials<kFull>(window, weight, partial, partials, cols, edge_limit,
                          edge_out);
  }
}

using TestRowFn = void (*)(const std::int32_t*, const std::int32_t*, int,
                           const std::int32_t*, std::uint8_t*,
                           const std::int32_t*, std::uint8_t*, std::int32_t*,
                           std::int32_t*, std::uint8_t*);
constexpr int kMaxTestRadius = 8;  // the default max_window_radius
constexpr TestRowFn kTestRow[kMaxTestRadius + 1] = {
    TestRow<0>, TestRow<1>, TestRow<2>, TestRow<3>, TestRow<4>,
    TestRow<5>, TestRow<6>, TestRow<7>, TestRow<8>};

// flags (and weak, where `edge_limit` is given) for every cell: the window
// sums of z and the weights over (2 radius + 1)^2 cells (clipped at the
// borders) against the limits (fixed point, see TestRow). Windows up to
// kMaxTestRadius in one pass per row; wider ones (never with the default
// parameters) through WindowSums, on z as floats.
void WindowTest(PlaneView<const std::uint16_t> z,
                PlaneView<const std::uint8_t> weight, int radius,
                const std::vector<std::int32_t>& limit,
                const std::int32_t* edge_limit, BitPlane& flags, BitPlane& weak,
                std::vector<std::uint8_t>& row) {
  const int rows = z.height;
  const int cols = z.width;
  if (rows <= 0 || cols <= 0) return;
  // Each row's flags are tested into bytes, then packed into bits while
  // the row is in the cache.
  row.resize(2 * static_cast<std::size_t>(cols));
  std::uint8_t* const out = row.data();
  std::uint8_t* const edge_out = row.data() + cols;
  if (radius > kMaxTestRadius) {
    Plane<float> values(cols, rows);
    for (int i = 0; i < rows; ++i) {
      for (int j = 0; j < cols; ++j) {
        values.row(i)[j] = static_cast<float>(z.row(i)[j]);
      }
    }
    // A float sum of integers below 2^24 is exact; beyond, it is within
    // rounding of the integer sum.
    WindowSums(
        values.view(), weight, radius,
        [&](int i, const float* sums, const float* counts) {
          for (int j = 0; j < cols; ++j) {
            const int n = static_cast<int>(counts[j]);
            out[j] = (n > 0 && sums[j] > static_cast<float>(limit[n])) ? 1 : 0;
          }
          flags.PackRow(i, out);
          if (edge_limit == nullptr) return;
          for (int j = 0; j < cols; ++j) {
            const int n = static_cast<int>(counts[j]);
            out[j] =
                (n > 0 && sums[j] > static_cast<float>(edge_limit[n])) ? 1 : 0;
          }
          weak.PackRow(i, out);
        });
    return;
  }
  std::vector<std::int32_t> sums(cols + 2 * radius, 0);
  std::vector<std::int32_t> counts(cols + 2 * radius, 0);
  std::int32_t* s = sums.data() + radius;
  std::int32_t* c = counts.data() + radius;
  std::vector<std::int32_t> window(cols);
  std::vector<std::int32_t> window_weight(cols);
  std::vector<std::uint8_t> partial(cols);
  for (int y = 0; y < std::min(radius, rows); ++y) {
    SlideColumns<false, true>(nullptr, nullptr, z.row(y), weight.row(y), cols,
                              s, c);
  }
  for (int y = 0; y < rows; ++y) {
    const int leaving = y - 1 - radius;
    const int entering = y + radius < rows ? y + radius : -1;
    if (leaving >= 0 && entering >= 0) {
      SlideColumns<true, true>(z.row(leaving), weight.row(leaving),
                               z.row(entering), weight.row(entering), cols, s,
                               c);
    } else if (leaving >= 0) {
      SlideColumns<true, false>(z.row(leaving), weight.row(leaving), nullptr,
                                nullptr, cols, s, c);
    } else if (entering >= 0) {
      SlideColumns<false, true>(nullptr, nullptr, z.row(entering),
                                weight.row(entering), cols, s, c);
    }
    kTestRow[radius](sums.data(), counts.data(), cols, limit.data(), out,
                     edge_limit, edge_out, window.data(), window_weight.data(),
                     partial.data());
    flags.PackRow(y, out);
    if (edge_limit != nullptr) weak.PackRow(y, edge_out);
  }
}

// 1 where the window mean of z is beyond what noise explains (`cell`:
// the cells' size in pixels). Writes buffers.flags.
DSB_VECTOR_CLONES void FlagMismatch(Buffers& cells, int radius, int cell,
                                    const MaskParams& params) {
  const int rows = cells.z.height();
  const int cols = cells.z.width();
  const int window = (2 * radius + 1) * (2 * radius + 1);
  // Under noise alone each term is about a chi-square with 3 degrees of
  // freedom over 3 (mean 1, variance 2/3). Sampling differences on sharp
  // content make the tail heavier than that; the pair's own window means
  // (median and MAD over the static majority of the frame) say how much.
  // Each cell counts by its weight (a censored colour term has half the
  // mean and half the weight of a full one), in windows that hold at
  // least half the weight of a window of unclipped cells.
  // Neighbouring windows overlap almost entirely; a sparse grid of them
  // gives the same median for a fraction of the sorting: about 2^16 from
  // 16.8 MP up, one per 256 pixels below, never fewer than 2^14 (as the
  // pair model's sample, mask/pair_model.h, which keeps 2^15; at 2.7 MP the
  // grid of 2^16 and its two medians took 0.3-0.5 ms of the mask's 6).
  const double pixels = static_cast<double>(rows) * cols * cell * cell;
  const double grid = std::clamp(pixels / 256, 16384.0, 65536.0);
  const int stride = std::max(
      2, static_cast<int>(std::sqrt(static_cast<double>(rows) * cols / grid)));
  std::vector<float> full;
  std::vector<std::int32_t> column_sum(cols);
  std::vector<std::int32_t> column_count(cols);
  for (int i = radius; i + radius < rows; i += stride) {
    // Column sums over the window's rows first (vectorised), then each
    // sampled window adds its 2R+1 columns (integers: exact).
    std::fill(column_sum.begin(), column_sum.end(), 0);
    std::fill(column_count.begin(), column_count.end(), 0);
    for (int v = i - radius; v <= i + radius; ++v) {
      const std::uint16_t* zr = cells.z.row(v);
      const std::uint8_t* f = cells.weight.row(v);
      for (int u = 0; u < cols; ++u) {
        column_sum[u] += zr[u];
        column_count[u] += f[u];
      }
    }
    for (int j = radius; j + radius < cols; j += stride) {
      std::int64_t sum = 0;
      std::int32_t n = 0;
      for (int u = j - radius; u <= j + radius; ++u) {
        sum += column_sum[u];
        n += column_count[u];
      }
      if (2 * n >= kFullWeight * window) {
        full.push_back(static_cast<float>(
            kFullWeight * (static_cast<double>(sum) / kScoreScale) / n));
      }
    }
  }
  double centre = 1.0;
  double spread = std::sqrt(2.0 / 3.0 / window);
  if (full.size() >= 64) {
    const double median = MedianInPlace(full);
    for (float& v : full) v = std::fabs(v - static_cast<float>(median));
    const double mad = 1.4826 * MedianInPlace(full);
    centre = std::max(centre, median);
    spread = std::max(spread, mad);
  }
  // The limit for a window holding `t` half terms, i.e. t / kFullWeight
  // cells' worth of evidence.
  // The edge limit: a window centred on the edge of a changed region
  // holds about half of it, so its excess over the centre is half that of
  // the windows inside. Where the change is weak (a dark object at high
  // noise, found only by large windows) the full limit flagged only the
  // windows well inside, and the object's rim, up to a window radius deep,
  // stayed in the mask.
  // Both in z's fixed point, rounded down (TestRow).
  auto fixed = [](double limit) {
    return static_cast<std::int32_t>(std::min(
        std::floor(limit * kScoreScale),
        static_cast<double>(std::numeric_limits<std::int32_t>::max())));
  };
  std::vector<std::int32_t> limit(kFullWeight * window + 1, 0);
  std::vector<std::int32_t> edge_limit(kFullWeight * window + 1, 0);
  for (int t = 1; t <= kFullWeight * window; ++t) {
    const double n = static_cast<double>(t) / kFullWeight;
    const double excess = spread * std::sqrt(window * n);
    limit[t] = fixed(n * centre + params.threshold_sigmas * excess);
    edge_limit[t] = fixed(n * centre + 0.5 * params.threshold_sigmas * excess);
  }
  BitPlane& flags = cells.flags;
  BitPlane& weak = cells.weak;
  flags.Reset(cols, rows);
  // Only windows wider than one cell each side grow (see CleanFlags).
  const bool edges = radius > 1;
  weak.Reset(edges ? cols : 0, edges ? rows : 0);
  WindowTest(cells.z.view(), cells.weight.view(), radius, limit,
             edges ? edge_limit.data() : nullptr, flags, weak, cells.flag_row);
}

// Opening, growing the flagged regions into the 4-connected cells that
// pass the edge limit, at most `depth` cells (hysteresis: a region's rim
// belongs to it, a weak window far from any flagged one does not), then
// closing. On bits (mask/morphology.h), over the whole cell grid.
void CleanFlags(BitPlane& flags, const BitPlane& weak, int depth,
                const MaskParams& params) {
  if (!flags.Any()) return;
  flags.Open(params.opening_radius);
  if (depth > 0) flags.GrowWithin(weak, depth);
  flags.Close(params.closing_radius);
}

// Zeroes the mask wherever a clipped pixel of either image lies within
// `radius` (> 0; the clipped pixels alone are written while the cells are
// built, mask/cell_rows.h ClipSink), working only on bands of rows near
// clipped rows. Clipped pixels are looked for only in cells that
// `holds` (cell size `cell`; may be empty) marks, and outside the cells:
// the cells were tested with the same levels; an infinite `noisy_lb` (the
// capture's clipping not shown) leaves the capture unread. Returns the
// number of pixels so flagged and, in `already`, how many of them the
// mismatch test had flagged too.
DSB_VECTOR_CLONES std::int64_t ApplyClipping(
    PlaneView<const float> gt, PlaneView<const float> noisy, float gt_lb,
    float noisy_lb, int radius, const std::vector<std::uint8_t>& clipped_rows,
    const Plane<std::uint8_t>& holds, int cell, Plane<std::uint8_t>& mask,
    Plane<std::uint8_t>& band, std::int64_t* already) {
  // Pixel row v's clipped pixels in columns [x0, x1), into `out`.
  // An infinite level: the capture's clipping is not shown (the default).
  const bool noisy_shows = noisy_lb < std::numeric_limits<float>::infinity();
  auto test = [&](int v, int x0, int x1, std::uint8_t* out) {
    const float* g = gt.row(v);
    const float* n = noisy.row(v);
    if (!noisy_shows) {
      for (int x = x0; x < x1; ++x) out[x] = g[x] >= gt_lb;
      return;
    }
    for (int x = x0; x < x1; ++x) out[x] = (g[x] >= gt_lb) | (n[x] >= noisy_lb);
  };
  const int cell_rows = holds.empty() ? 0 : holds.height();
  const int cell_cols = holds.empty() ? 0 : holds.width();
  const int h = gt.height;
  const int w = gt.width;
  std::int64_t clipped = 0;
  *already = 0;
  int y = 0;
  while (y < h) {
    if (!clipped_rows[y]) {
      ++y;
      continue;
    }
    // The band: a run of rows with clipping (gaps up to 2r rows joined),
    // plus r rows each side that dilation reaches.
    int last = y;
    for (int v = y + 1; v < h && v <= last + 2 * radius + 1; ++v) {
      if (clipped_rows[v]) last = v;
    }
    const int b0 = std::max(0, y - radius);
    const int b1 = std::min(h, last + radius + 1);
    band.Reset(w, b1 - b0, 0);
    for (int v = b0; v < b1; ++v) {
      if (!clipped_rows[v]) continue;
      std::uint8_t* out = band.row(v - b0);
      const int i = cell > 0 ? v / cell : cell_rows;
      if (i >= cell_rows) {
        test(v, 0, w, out);
        continue;
      }
      // Only the cells that hold clipping (1 in `holds`), found with
      // memchr, and the columns right of the last cell.
      const std::uint8_t* cells = holds.row(i);
      const std::uint8_t* end = cells + cell_cols;
      for (const std::uint8_t* p = cells; p < end; ++p) {
        p = static_cast<const std::uint8_t*>(std::memchr(p, 1, end - p));
        if (p == nullptr) break;
        const int x0 = static_cast<int>(p - cells) * cell;
        test(v, x0, x0 + cell, out);
      }
      test(v, cell_cols * cell, w, out);
    }
    if (radius > 0) DilateBinary(band.view(), radius);
    for (int v = b0; v < b1; ++v) {
      const std::uint8_t* c = band.row(v - b0);
      std::uint8_t* out = mask.row(v);
      for (int x = 0; x < w; ++x) {
        clipped += c[x];
        *already += c[x] & (out[x] == 0);
        out[x] = c[x] ? 0 : out[x];
      }
    }
    y = last + 1;
  }
  return clipped;
}

// The mask of a self pair (mask/self_pair_mask.h): the clipping rule alone,
// which is what the full path leaves of such a pair, written without the
// pair model, the cells or the window test. `frame` is both images.
LossMask SelfPairMask(PlaneView<const float> frame, const CfaPattern& cfa,
                      float gt_lb, float noisy_lb, const MaskParams& params,
                      Buffers& buffers) {
  LossMask mask;
  mask.cell_size = cfa.period() == 2 ? 2 : 3;  // CellLayout's size
  mask.pixels = std::move(buffers.pixels);
  const std::size_t frame_pixels =
      static_cast<std::size_t>(frame.width) * frame.height;
  ResizeWithin(mask.pixels, frame.width, frame.height, frame_pixels,
               buffers.pixels_reserve);
  if (params.clip_footprint == ClipFootprint::kSample) {
    mask.clipped_pixels = WriteSelfPairClipping(
        frame, gt_lb, noisy_lb, params.mask_noisy_clipped, mask.pixels.view());
  } else {
    std::fill(mask.pixels.data(),
              mask.pixels.data() + mask.pixels.pixel_count(), 255);
    const float shown_noisy_lb = params.mask_noisy_clipped
                                     ? noisy_lb
                                     : std::numeric_limits<float>::infinity();
    // No cells: ApplyClipping then looks at every pixel of the rows marked.
    static const Plane<std::uint8_t> kNoCells;
    std::int64_t already = 0;
    mask.clipped_pixels = ApplyClipping(
        frame, frame, gt_lb, shown_noisy_lb, ClipRadiusForCfa(cfa, 1),
        SelfPairClippedRows(frame, gt_lb, shown_noisy_lb), kNoCells, 0,
        mask.pixels, buffers.band, &already);
  }
  const std::int64_t total = static_cast<std::int64_t>(frame_pixels);
  mask.mean = static_cast<double>(total - mask.clipped_pixels) /
              static_cast<double>(total);
  // The workspace's scores are not this mask's.
  buffers.scored = false;
  return mask;
}

Status CheckParams(const MaskParams& p) {
  auto bad = [](const char* what) {
    return Status::InvalidArgument(std::string("mask parameters: ") + what);
  };
  if (p.overexposure_lb && !(*p.overexposure_lb > 0)) {
    return bad("overexposure_lb must be positive");
  }
  if (p.clip_footprint != ClipFootprint::kSample &&
      p.clip_footprint != ClipFootprint::kCell) {
    return bad("clip_footprint must be sample or cell");
  }
  if (!(p.threshold_sigmas > 0)) return bad("threshold_sigmas must be > 0");
  if (!(p.relative_tolerance >= 0)) {
    return bad("relative_tolerance must be >= 0");
  }
  if (!(p.structure_tolerance >= 0)) {
    return bad("structure_tolerance must be >= 0");
  }
  if (!(p.detect_change > 0)) return bad("detect_change must be > 0");
  if (p.min_window_radius < 0 || p.max_window_radius < p.min_window_radius ||
      p.max_window_radius > 256) {
    return bad("window radii must satisfy 0 <= min <= max <= 256");
  }
  if (p.opening_radius < 0 || p.opening_radius > 256 || p.closing_radius < 0 ||
      p.closing_radius > 256) {
    return bad("opening and closing radii must be in 0..256");
  }
  return Status::Ok();
}

void AppendNumber(std::string& out, std::string_view name, double value) {
  char buffer[64];
  const auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  out += name;
  out += '=';
  out.append(buffer, result.ptr);
  out += ';';
}

}  // namespace

void UsePortableWindowTestForTesting(bool portable) {
  portable_window_test = portable;
}

const char* ClipFootprintName(ClipFootprint footprint) {
  return footprint == ClipFootprint::kCell ? "cell" : "sample";
}

std::optional<ClipFootprint> ParseClipFootprint(std::string_view name) {
  if (name == "sample") return ClipFootprint::kSample;
  if (name == "cell") return ClipFootprint::kCell;
  return std::nullopt;
}

std::string MaskParams::Fingerprint() const {
  std::string out = "mask/v" + std::to_string(kMaskRevision) + ";";
  if (overexposure_lb) {
    AppendNumber(out, "overexposure_lb", *overexposure_lb);
  } else {
    out += "overexposure_lb=gt;";
  }
  out += "clip_footprint=";
  out += ClipFootprintName(clip_footprint);
  out += ';';
  AppendNumber(out, "mask_noisy_clipped", mask_noisy_clipped ? 1 : 0);
  AppendNumber(out, "threshold_sigmas", threshold_sigmas);
  AppendNumber(out, "relative_tolerance", relative_tolerance);
  AppendNumber(out, "structure_tolerance", structure_tolerance);
  AppendNumber(out, "detect_change", detect_change);
  AppendNumber(out, "min_window_radius", min_window_radius);
  AppendNumber(out, "max_window_radius", max_window_radius);
  AppendNumber(out, "opening_radius", opening_radius);
  AppendNumber(out, "closing_radius", closing_radius);
  return out;
}

Result<LossMask> MakeLossMask(const RawImage& gt, const RawImage& noisy,
                              const Alignment& alignment,
                              const MaskParams& params,
                              MaskWorkspace* workspace, PairContent content) {
  const std::string pair = gt.path + " vs " + noisy.path;
  DSB_RETURN_IF_ERROR(CheckParams(params).WithContext(pair));
  if (gt.width() != noisy.width() || gt.height() != noisy.height()) {
    return Status::InvalidArgument(
        pair + ": images differ in size (" + std::to_string(gt.width()) + "x" +
        std::to_string(gt.height()) + " vs " + std::to_string(noisy.width()) +
        "x" + std::to_string(noisy.height()) + ")");
  }
  if (!(gt.cfa == noisy.cfa)) {
    return Status::InvalidArgument(pair + ": CFA patterns differ (" +
                                   gt.cfa.name() + " vs " + noisy.cfa.name() +
                                   ")");
  }
  const Overlap overlap =
      ComputeOverlap(gt.height(), gt.width(), alignment.dy, alignment.dx);
  if (overlap.empty()) {
    return Status::InvalidArgument(
        pair + ": the shift (" + std::to_string(alignment.dy) + ", " +
        std::to_string(alignment.dx) + ") leaves no overlap");
  }
  const float gt_lb = params.overexposure_lb.value_or(gt.meta.overexposure_lb);
  const float noisy_lb = noisy.meta.overexposure_lb;
  if (!(gt_lb > 0) || !(noisy_lb > 0)) {
    return Status::InvalidArgument(pair + ": overexposure level must be > 0");
  }

  const PlaneView<const float> gt_view = gt.pixels.view().crop(
      overlap.gt_y0, overlap.gt_x0, overlap.height, overlap.width);
  const PlaneView<const float> noisy_view = noisy.pixels.view().crop(
      overlap.noisy_y0, overlap.noisy_x0, overlap.height, overlap.width);
  const CfaPattern gt_cfa = gt.cfa.Cropped(overlap.gt_y0, overlap.gt_x0);
  const CfaPattern noisy_cfa =
      noisy.cfa.Cropped(overlap.noisy_y0, overlap.noisy_x0);
  if (gt.cfa.period() != 2 && gt.cfa.period() != 6) {
    return Status::Unsupported(pair + ": CFA period " +
                               std::to_string(gt.cfa.period()) +
                               " is not 2 or 6");
  }
  std::optional<MaskWorkspace> local;
  if (workspace == nullptr) workspace = &local.emplace();
  if (TakesSelfPairShortcut(content, alignment)) {
    return SelfPairMask(gt_view, gt.cfa, gt_lb, noisy_lb, params,
                        *workspace->buffers_);
  }

  // Two passes over the cells: a sampled one fits the pair's model, a full
  // one scores every cell row against it. Neither keeps more than three
  // rows of cells.
  const CellRowBuilder builder(gt_view, noisy_view, gt_cfa, noisy_cfa, gt_lb,
                               noisy_lb, params.mask_noisy_clipped);
  const CellLayout& layout = builder.layout();
  const int cell = layout.size;
  const PairModel model = FitPairModel(builder, alignment.raw_gain, gt_lb);
  LossMask mask;
  mask.cell_size = cell;
  mask.gain = model.gain;
  mask.noise_slope = model.slope;
  mask.noise_offset = model.offset;
  Buffers& buffers = *workspace->buffers_;
  // Clipping per sample goes into the mask's pixels as the cells are built
  // (every pixel written there); the cell footprint is applied at the end,
  // on a plane that starts usable.
  const bool per_sample = params.clip_footprint == ClipFootprint::kSample;
  mask.pixels = std::move(buffers.pixels);
  const std::size_t frame_pixels =
      static_cast<std::size_t>(gt.width()) * gt.height();
  ResizeWithin(mask.pixels, overlap.width, overlap.height, frame_pixels,
               buffers.pixels_reserve);
  if (!per_sample) {
    std::fill(mask.pixels.data(),
              mask.pixels.data() + mask.pixels.pixel_count(), 255);
  }
  ClipSink sink{mask.pixels.view()};
  const std::vector<std::uint8_t> clipped_rows =
      ScoreCells(builder, model, params, overlap.height,
                 frame_pixels / (static_cast<std::size_t>(cell) * cell),
                 buffers, per_sample ? &sink : nullptr);
  BitPlane& flags = buffers.flags;
  if (layout.empty()) {
    flags.Reset(0, 0);
  } else {
    mask.window_radius = WindowRadius(model, layout, params);
    FlagMismatch(buffers, mask.window_radius, cell, params);
    // The rim a window test can miss is at most a window radius deep; at
    // radius 1 (clean pairs) the opening and closing already work at
    // that scale, so the growth is one cell short of the radius.
    CleanFlags(flags, buffers.weak, mask.window_radius - 1, params);
  }

  // Full resolution: the cell decisions (partial cells at the right and
  // bottom edges take their full neighbour's); only flagged runs are
  // written. `both`: pixels flagged for clipping and mismatch alike (with
  // clipping per sample, the zeros a flagged run holds already).
  std::int64_t mismatch_zeroed = 0;
  std::int64_t both = 0;
  for (int i = 0; i < flags.height(); ++i) {
    const int y0 = i * cell;
    const int y1 = i + 1 == flags.height() ? overlap.height : y0 + cell;
    // Runs of flagged cells (most cells are not).
    flags.ForEachRun(i, [&](int j0, int j1) {
      const int x0 = j0 * cell;
      const int x1 = j1 == flags.width() ? overlap.width : j1 * cell;
      for (int y = y0; y < y1; ++y) {
        std::uint8_t* row = mask.pixels.row(y);
        if (per_sample) both += std::count(row + x0, row + x1, 0);
        std::fill(row + x0, row + x1, 0);
      }
      mismatch_zeroed += static_cast<std::int64_t>(y1 - y0) * (x1 - x0);
    });
  }
  if (per_sample) {
    mask.clipped_pixels = sink.clipped;
  } else {
    // The smallest window around each clipped sample that holds every
    // colour (radius 1 for Bayer).
    mask.clipped_pixels = ApplyClipping(
        gt_view, noisy_view, gt_lb,
        params.mask_noisy_clipped ? noisy_lb
                                  : std::numeric_limits<float>::infinity(),
        ClipRadiusForCfa(gt.cfa, 1), clipped_rows, buffers.clipped, cell,
        mask.pixels, buffers.band, &both);
  }
  mask.mismatch_pixels = mismatch_zeroed - both;
  const std::int64_t total =
      static_cast<std::int64_t>(overlap.height) * overlap.width;
  const std::int64_t usable =
      total - mask.mismatch_pixels - mask.clipped_pixels;
  mask.mean = static_cast<double>(usable) / static_cast<double>(total);
  return mask;
}

}  // namespace dsb
