#include "align/colour_match.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <utility>
#include <vector>

#include "align/float_lanes.h"
#include "align/float_threshold.h"
#include "common/prefetch.h"
#include "common/vector_clones.h"

namespace dsb {

namespace {

struct Offset {
  int dy, dx;
};

// The offsets of one (phase, colour) of NeighbourTable, in a fixed array:
// the most a ring of radius 2 holds off its straight lines is 12. A table
// of std::vectors cost 108 allocations per colour matcher (X-Trans), about
// a third of a matcher's construction (issue 17).
class OffsetList {
 public:
  static constexpr int kCapacity = 12;
  void push_back(const Offset& offset) { items_[size_++] = offset; }
  bool empty() const { return size_ == 0; }
  std::size_t size() const { return static_cast<std::size_t>(size_); }
  const Offset& operator[](std::size_t k) const { return items_[k]; }
  const Offset* begin() const { return items_.data(); }
  const Offset* end() const { return items_.data() + size_; }

 private:
  std::array<Offset, kCapacity> items_{};
  int size_ = 0;
};

// For a pixel at CFA phase (py, px) and a wanted colour: the offsets of the
// nearest pixels of that colour (the pixel itself when it has it). Bayer
// always finds them in the 3x3 neighbourhood; X-Trans may need 5x5. It
// depends on the CFA alone, so the matchers of one sweep share one
// (BlockGainMatchedLosses: nine shifts, one table).
class NeighbourTable {
 public:
  explicit NeighbourTable(const CfaPattern& cfa) : period_(cfa.period()) {
    for (int py = 0; py < period_; ++py) {
      for (int px = 0; px < period_; ++px) {
        for (int c = 0; c < 3; ++c) {
          OffsetList& list = offsets_[Index(py, px, c)];
          const CfaColor colour = static_cast<CfaColor>(c);
          if (cfa.color_at(py, px) == colour) {
            list.push_back({0, 0});
            continue;
          }
          for (int radius = 1; radius <= 2 && list.empty(); ++radius) {
            // Prefer the four direct neighbours, then the diagonals: the
            // bilinear demosaic's choice.
            for (int pass = 0; pass < 2 && list.empty(); ++pass) {
              for (int dy = -radius; dy <= radius; ++dy) {
                for (int dx = -radius; dx <= radius; ++dx) {
                  const bool straight = dy == 0 || dx == 0;
                  if ((pass == 0) != straight) continue;
                  if (std::max(std::abs(dy), std::abs(dx)) != radius) continue;
                  if (cfa.color_at(py + dy, px + dx) == colour) {
                    list.push_back({dy, dx});
                  }
                }
              }
            }
          }
        }
      }
    }
  }
  const OffsetList& Get(int y, int x, CfaColor colour) const {
    return offsets_[Index(Mod(y), Mod(x), static_cast<int>(colour))];
  }
  // The farthest any estimate reaches, in rows and in columns: a matched
  // GT row i reads GT rows i - Reach() to i + Reach() (what is fetched
  // ahead for it).
  int Reach() const {
    int reach = 0;
    for (const OffsetList& list : offsets_) {
      for (const Offset& offset : list) {
        reach = std::max({reach, std::abs(offset.dy), std::abs(offset.dx)});
      }
    }
    return reach;
  }

 private:
  int Mod(int v) const {
    const int m = v % period_;
    return m < 0 ? m + period_ : m;
  }
  static int Index(int py, int px, int c) { return (py * 6 + px) * 3 + c; }
  int period_;
  std::array<OffsetList, 6 * 6 * 3> offsets_;
};

// Eight floats (V8, align/float_lanes.h), and eight lane masks, as GCC
// vectors (two SSE2 registers in the baseline build, one AVX2 register in
// its clones).
using M8 = std::int32_t __attribute__((vector_size(32)));

// Colour-matches one overlap row at a time. The neighbour table and the
// per-phase kernels are built once per overlap, not per row: masks and the
// loss call this for every row of a 60 MP overlap.
class ColourMatcher {
 public:
  // `table` is NeighbourTable(gt.cfa), and outlives the matcher.
  ColourMatcher(const RawImage& gt, const Overlap& overlap,
                const NeighbourTable& table)
      : gt_(gt), overlap_(overlap), table_(table) {
    // Columns whose whole neighbourhood (|dx| <= 2) lies inside the GT; the
    // rest take the bounds-checked path.
    inner_begin_ = std::clamp(2 - overlap.gt_x0, 0, overlap.width);
    inner_end_ =
        std::clamp(gt.width() - 2 - overlap.gt_x0, inner_begin_, overlap.width);
    for (int phase = 0; phase < gt.cfa.period(); ++phase) {
      same_colours_[phase] = SameColoursOf(phase);
    }
    PlanXTransPhases();
  }

  // out[j] for j in [0, overlap.width): row i of GtInNoisyColours.
  void Row(int i, float* out) const {
    if (SameColours(i)) {
      std::copy_n(GtRow(i), overlap_.width, out);
      return;
    }
    Interpolate(i, out);
  }

  // Row i of GtInNoisyColours where only reading it is needed: the GT's
  // own row where the shift keeps every colour in place (no copy; the
  // loss and gain passes over a pair with an even shift read one row
  // fewer per row), else `scratch`, filled as Row does.
  const float* Matched(int i, float* scratch) const {
    if (SameColours(i)) return GtRow(i);
    Interpolate(i, scratch);
    return scratch;
  }

  // X-Trans rows are then matched kMatchChunk columns at a time, with a
  // Step of `ahead` after each: the refinement's rows ahead are fetched
  // during its colour matching too, not only during its loss runs (issued
  // there alone, the prefetches came faster than memory served them and
  // held the loss runs, perf). A multiple of XTransVectors' 24-column
  // cycle; 32 cycles, so that each chunk's setup (XTransCycles copies its
  // masks) stays a few per cent of its ~770 vectors' work.
  static constexpr int kMatchChunk = 24 * 32;
  void FetchAhead(PrefetchQueue* ahead) { ahead_ = ahead; }

 private:
  const float* GtRow(int i) const {
    return gt_.pixels.row(overlap_.gt_y0 + i) + overlap_.gt_x0;
  }

  // Shifts that keep every colour in place (even for Bayer, multiples of 6
  // for X-Trans): the row is the GT's own row. The answer repeats every
  // CFA period of rows (the GT and noisy rows keep their distance), so it
  // is looked up once per row phase (a colour and a table lookup per
  // column of a period was ~190 instructions per X-Trans row).
  bool SameColours(int i) const { return same_colours_[i % gt_.cfa.period()]; }
  bool SameColoursOf(int i) const {
    const int gy = overlap_.gt_y0 + i;
    const int ny = overlap_.noisy_y0 + i;
    const int count = std::min(gt_.cfa.period(), overlap_.width);
    for (int k = 0; k < count; ++k) {
      const CfaColor wanted = gt_.cfa.color_at(ny, overlap_.noisy_x0 + k);
      const OffsetList& all = table_.Get(gy, overlap_.gt_x0 + k, wanted);
      if (all.size() != 1 || all[0].dy != 0 || all[0].dx != 0) return false;
    }
    return true;
  }

  // Row for a row that is not the GT's own.
  DSB_VECTOR_CLONES void Interpolate(int i, float* out) const {
    const int period = gt_.cfa.period();
    const int height = gt_.height();
    const int gy = overlap_.gt_y0 + i;
    const int ny = overlap_.noisy_y0 + i;
    const int count = std::min(period, overlap_.width);
    if (period == 2 && count == 2 && BayerRow(gy, ny, out)) return;
    if (period == 6 && count == 6 && XTransRow(gy, ny, out)) return;
    for (int k = 0; k < count; ++k) {
      const CfaColor wanted = gt_.cfa.color_at(ny, overlap_.noisy_x0 + k);
      const OffsetList& all = table_.Get(gy, overlap_.gt_x0 + k, wanted);
      // Rows outside the GT drop out for the whole row (the mean of the
      // neighbours that exist), so the kernel is fixed along the row.
      const float* src[kMaxNeighbours] = {};
      int n = 0;
      for (const Offset& offset : all) {
        const int y = gy + offset.dy;
        if (y < 0 || y >= height || n == kMaxNeighbours) continue;
        src[n++] = gt_.pixels.row(y) + overlap_.gt_x0 + offset.dx;
      }
      // Edge columns: per pixel, with bounds checks.
      auto slow = [&](int j) {
        out[j] = EdgePixel(gy, overlap_.gt_x0 + j, all, wanted);
      };
      int j = k;
      for (; j < inner_begin_; j += period) slow(j);
      // Local copies of the pointers: `out` is captured by `slow`, and
      // the compiler then reloaded it from the stack for every pixel.
      float* const o = out;
      const float* const s0 = src[0];
      const float* const s1 = src[1];
      const float* const s2 = src[2];
      const float* const s3 = src[3];
      const int end = inner_end_;
      switch (n) {
        case 1:
          for (; j < end; j += period) o[j] = s0[j];
          break;
        case 2:
          for (; j < end; j += period) o[j] = (s0[j] + s1[j]) * 0.5f;
          break;
        case 3:
          for (; j < end; j += period) o[j] = (s0[j] + s1[j] + s2[j]) / 3.0f;
          break;
        case 4:
          for (; j < end; j += period) {
            o[j] = ((s0[j] + s1[j]) + (s2[j] + s3[j])) * 0.25f;
          }
          break;
        default:
          for (; j < end; j += period) slow(j);
          break;
      }
      for (; j < overlap_.width; j += period) slow(j);
    }
  }

  // The kernel of up to 4 neighbours, the same expressions as in Row, for
  // one float or a vector of them.
  // Returned through `out`: a function returning an 8-float vector changes
  // its ABI between the clones (-Wpsabi).
  template <int N, typename T>
  static void Kernel(const float* const* src, int x, T& out) {
    T v0, v1, v2, v3;
    std::memcpy(&v0, src[0] + x, sizeof(T));
    if constexpr (N >= 2) std::memcpy(&v1, src[1] + x, sizeof(T));
    if constexpr (N >= 3) std::memcpy(&v2, src[2] + x, sizeof(T));
    if constexpr (N >= 4) std::memcpy(&v3, src[3] + x, sizeof(T));
    if constexpr (N == 1) {
      out = v0;
    } else if constexpr (N == 2) {
      out = (v0 + v1) * 0.5f;
    } else if constexpr (N == 3) {
      out = (v0 + v1 + v2) / 3.0f;
    } else {
      out = ((v0 + v1) + (v2 + v3)) * 0.25f;
    }
  }
  static float Kernel(int n, const float* const* src, int x) {
    float out = 0;
    switch (n) {
      case 1:
        Kernel<1>(src, x, out);
        break;
      case 2:
        Kernel<2>(src, x, out);
        break;
      case 3:
        Kernel<3>(src, x, out);
        break;
      default:
        Kernel<4>(src, x, out);
        break;
    }
    return out;
  }

  // out[j..end) eight at a time from an even j,
  // phase 0's kernel (n0 neighbours) at even columns, phase 1's at odd;
  // returns the first column not written.
  template <int N0, int N1>
  DSB_VECTOR_CLONES static int BayerVectors(const float* const* src0,
                                            const float* const* src1, int j,
                                            int end, float* out) {
    const float* a[4] = {};
    const float* b[4] = {};
    for (int k = 0; k < N0; ++k) a[k] = src0[k];
    for (int k = 0; k < N1; ++k) b[k] = src1[k];
    const M8 even = {-1, 0, -1, 0, -1, 0, -1, 0};
    for (; j + 8 <= end; j += 8) {
      V8 ka, kb;
      Kernel<N0>(a, j, ka);
      Kernel<N1>(b, j, kb);
      const V8 v = reinterpret_cast<V8>((reinterpret_cast<M8>(ka) & even) |
                                        (reinterpret_cast<M8>(kb) & ~even));
      std::memcpy(out + j, &v, sizeof(v));
    }
    return j;
  }

  // Row for Bayer where both column phases have 1-4 neighbours in the
  // image's rows: the inner columns four at a time, both phases' kernels
  // computed for all four and the right one kept per column (the strided
  // per-phase loops do not vectorise). The same values as the generic
  // path. False (nothing written) where the generic path must do it.
  bool BayerRow(int gy, int ny, float* out) const {
    const float* src[2][kMaxNeighbours];
    int n[2] = {0, 0};
    std::array<const OffsetList*, 2> lists{};
    std::array<CfaColor, 2> wanted{};
    for (int k = 0; k < 2; ++k) {
      wanted[k] = gt_.cfa.color_at(ny, overlap_.noisy_x0 + k);
      lists[k] = &table_.Get(gy, overlap_.gt_x0 + k, wanted[k]);
      for (const Offset& offset : *lists[k]) {
        const int y = gy + offset.dy;
        if (y < 0 || y >= gt_.height() || n[k] == 4) continue;
        src[k][n[k]++] = gt_.pixels.row(y) + overlap_.gt_x0 + offset.dx;
      }
      // The generic path takes a list longer than 4 to its slow loop.
      if (n[k] < 1 || lists[k]->size() > 4) return false;
    }
    auto slow = [&](int j) {
      const int k = j & 1;
      out[j] = EdgePixel(gy, overlap_.gt_x0 + j, *lists[k], wanted[k]);
    };
    int j = 0;
    for (; j < inner_begin_; ++j) slow(j);
    if (j < inner_end_ && (j & 1)) {
      out[j] = Kernel(n[1], src[1], j);
      ++j;
    }
    // One loop per pair of kernel sizes, so neither the sizes nor the
    // source pointers are reloaded per vector.
    using Loop =
        int (*)(const float* const*, const float* const*, int, int, float*);
    static constexpr Loop kLoops[4][4] = {
        {&BayerVectors<1, 1>, &BayerVectors<1, 2>, &BayerVectors<1, 3>,
         &BayerVectors<1, 4>},
        {&BayerVectors<2, 1>, &BayerVectors<2, 2>, &BayerVectors<2, 3>,
         &BayerVectors<2, 4>},
        {&BayerVectors<3, 1>, &BayerVectors<3, 2>, &BayerVectors<3, 3>,
         &BayerVectors<3, 4>},
        {&BayerVectors<4, 1>, &BayerVectors<4, 2>, &BayerVectors<4, 3>,
         &BayerVectors<4, 4>}};
    j = kLoops[n[0] - 1][n[1] - 1](src[0], src[1], j, inner_end_, out);
    for (; j < inner_end_; ++j) out[j] = Kernel(n[j & 1], src[j & 1], j);
    for (; j < overlap_.width; ++j) slow(j);
    return true;
  }

  // How XTransVectors divides one vector's sums by their divisors: not at
  // all where all are 1, a product where all are powers of two (x * 0.5f
  // and x / 2 are the same correctly rounded value, so are x * 0.25f and
  // x / 4), else the division (a lane divides by 3).
  struct Division {
    enum Kind { kNone, kProduct, kQuotient } kind;
    V8 divisor;     // for kQuotient
    V8 reciprocal;  // for kProduct: 1, 0.5f or 0.25f
  };
  static Division PlanDivision(const V8& divisor) {
    Division division{Division::kNone, divisor, {}};
    for (int l = 0; l < 8; ++l) {
      const float d = divisor[l];
      division.reciprocal[l] = 1.0f / d;
      if (d == 2.0f || d == 4.0f) {
        division.kind = std::max(division.kind, Division::kProduct);
      } else if (d != 1.0f) {
        division.kind = Division::kQuotient;
      }
    }
    return division;
  }
  // What XTransRow needs of a row beyond its GT row pointers: each phase's
  // neighbour list and the offsets of its neighbours inside the image, and
  // per slot the offsets its phases share with the lanes that take each.
  // It depends on the row only through its CFA row phase (the noisy row
  // keeps a fixed distance from the GT row within an overlap) and, at the
  // top and bottom, on which neighbour rows exist; interior rows of a phase
  // share one (PlanXTransPhases), where planning it for every row was ~2 k
  // instructions a row, a fifth of the X-Trans colour matching. Interior
  // plans also hold their edge columns' neighbours: with the pointers as
  // distances and the scalar columns' pointers made per column, a row's
  // own setup and edges fell from ~700 instructions to ~390.
  struct XTransPlan {
    static constexpr int kPeriod = 6;
    static constexpr int kSlots = 4;
    static constexpr int kMaxPairs = kPeriod;  // per slot: one per phase
    bool planned = false;        // this phase's interior plan exists
    bool usable = false;         // false: the generic path must do the row
    int min_dy = 0, max_dy = 0;  // of every neighbour of every phase
    int n[kPeriod] = {};
    std::array<const OffsetList*, kPeriod> lists{};
    std::array<CfaColor, kPeriod> wanted{};
    Offset src[kPeriod][kSlots] = {};
    Offset pointer[kSlots][kMaxPairs] = {};
    M8 lanes[kSlots][kMaxPairs][3];
    M8 empty[kSlots][3];
    int pairs[kSlots] = {};
    Division division[3];
    // src and pointer as distances in floats from the row's column 0
    // (FromRow): a row's pointers are one addition each.
    std::ptrdiff_t src_at[kPeriod][kSlots] = {};
    std::ptrdiff_t pointer_at[kSlots][kMaxPairs] = {};
    // Interior plans: the edge columns' (up to kEdgeSide a side) neighbours
    // inside the image, in EdgePixel's order (PlanXTransEdges).
    static constexpr int kEdgeSide = 2;
    struct EdgeColumn {
      int used = 0;
      std::ptrdiff_t at[kSlots] = {};  // from the row's column 0
    };
    bool edges_planned = false;
    EdgeColumn edge[2 * kEdgeSide];
  };

  // The distance in floats from the GT pixel at column 0 of the overlap's
  // row gy to the one at `offset` from it: the same for every row.
  std::ptrdiff_t FromRow(int gy, const Offset& offset) const {
    return GtNeighbourRow(gy, offset) - GtNeighbourRow(gy, Offset{0, 0});
  }

  // Plans row (gy, ny) as XTransRow did for each row: neighbours in rows
  // outside the GT dropped. False (plan.usable false) where the generic
  // path must do the row.
  bool PlanXTransRow(int gy, int ny, XTransPlan& plan) const {
    constexpr int kPeriod = XTransPlan::kPeriod;
    constexpr int kSlots = XTransPlan::kSlots;
    plan.usable = false;
    for (int k = 0; k < kPeriod; ++k) {
      plan.wanted[k] = gt_.cfa.color_at(ny, overlap_.noisy_x0 + k);
      plan.lists[k] = &table_.Get(gy, overlap_.gt_x0 + k, plan.wanted[k]);
      if (plan.lists[k]->size() > kSlots) return false;
      plan.n[k] = 0;
      for (const Offset& offset : *plan.lists[k]) {
        plan.min_dy = std::min(plan.min_dy, offset.dy);
        plan.max_dy = std::max(plan.max_dy, offset.dy);
        const int y = gy + offset.dy;
        if (y < 0 || y >= gt_.height()) continue;
        plan.src_at[k][plan.n[k]] = FromRow(gy, offset);
        plan.src[k][plan.n[k]++] = offset;
      }
      if (plan.n[k] < 1) return false;
    }
    V8 divisor[3];
    for (int v = 0; v < 3; ++v) {
      for (int l = 0; l < 8; ++l) {
        divisor[v][l] = static_cast<float>(plan.n[(8 * v + l) % kPeriod]);
      }
    }
    for (int v = 0; v < 3; ++v) plan.division[v] = PlanDivision(divisor[v]);
    for (int sl = 0; sl < kSlots; ++sl) {
      plan.pairs[sl] = 0;
      for (int v = 0; v < 3; ++v) {
        for (int l = 0; l < 8; ++l) {
          const int k = (8 * v + l) % kPeriod;
          plan.empty[sl][v][l] =
              sl < plan.n[k] ? 0 : std::bit_cast<std::int32_t>(-0.0f);
        }
      }
      for (int k = 0; k < kPeriod; ++k) {
        if (sl >= plan.n[k]) continue;
        int p = 0;
        // Phases whose neighbour in this slot is at the same offset from
        // them read the same GT row at the same shift: one load.
        const Offset& offset = plan.src[k][sl];
        while (p < plan.pairs[sl] && (plan.pointer[sl][p].dy != offset.dy ||
                                      plan.pointer[sl][p].dx != offset.dx)) {
          ++p;
        }
        if (p == plan.pairs[sl]) {
          plan.pointer[sl][p] = offset;
          plan.pointer_at[sl][p] = FromRow(gy, offset);
          for (int v = 0; v < 3; ++v) plan.lanes[sl][p][v] = M8{};
          ++plan.pairs[sl];
        }
        for (int v = 0; v < 3; ++v) {
          for (int l = 0; l < 8; ++l) {
            if ((8 * v + l) % kPeriod == k) plan.lanes[sl][p][v][l] = -1;
          }
        }
      }
    }
    plan.usable = true;
    return true;
  }

  // One plan per CFA row phase, from the overlap's first interior row of
  // that phase (every neighbour row inside the GT); XTransRow uses it for
  // every row whose neighbour rows all exist.
  void PlanXTransPhases() {
    if (gt_.cfa.period() != 6 || overlap_.width < 6) return;
    xtrans_plans_ = std::make_unique<XTransPlan[]>(XTransPlan::kPeriod);
    int found = 0;
    for (int i = 0; i < overlap_.height && found < XTransPlan::kPeriod; ++i) {
      const int gy = overlap_.gt_y0 + i;
      XTransPlan& plan = xtrans_plans_[gy % XTransPlan::kPeriod];
      if (plan.planned) continue;
      XTransPlan candidate;
      PlanXTransRow(gy, overlap_.noisy_y0 + i, candidate);
      if (gy + candidate.min_dy < 0 || gy + candidate.max_dy >= gt_.height()) {
        continue;  // an edge row: its neighbours differ from the others'
      }
      candidate.planned = true;
      if (candidate.usable) PlanXTransEdges(gy, candidate);
      plan = candidate;
      ++found;
    }
  }

  // Row for X-Trans where every column phase has 1-4 neighbours in the
  // image's rows: the same values as the generic path (whose strided
  // per-phase loops are scalar), the inner columns 24 (lcm of 6 and 8) at
  // a time. Along a row a phase's neighbours sit at fixed offsets from the
  // pixel, and the six phases share few of them (at most 5 pairs of slot and
  // offset per row over all shifts), so slot s of a vector of 8 columns is
  // the OR of a contiguous load per offset, masked to the lanes whose phase
  // takes that offset there. Lanes where a phase has fewer than s + 1
  // neighbours hold -0.0f, and x + -0.0f == x for every x (signed zeros
  // included), so ((a0 + a1) + (a2 + a3)) / n is bit for bit each case of
  // the generic path: a0; (a0 + a1) * 0.5f; (a0 + a1 + a2) / 3; ((a0 + a1) +
  // (a2 + a3)) * 0.25f (dividing by 1, 2 or 4 is exact, like the products).
  // False (nothing written) where the generic path must do it.
  bool XTransRow(int gy, int ny, float* out) const {
    constexpr int kPeriod = XTransPlan::kPeriod;
    constexpr int kSlots = XTransPlan::kSlots;
    const XTransPlan* plan = nullptr;
    if (xtrans_plans_ != nullptr && gy >= 0) {
      const XTransPlan& shared = xtrans_plans_[gy % kPeriod];
      if (shared.planned && gy + shared.min_dy >= 0 &&
          gy + shared.max_dy < gt_.height()) {
        plan = &shared;
      }
    }
    std::unique_ptr<XTransPlan> own;
    if (plan == nullptr) {
      own = std::make_unique<XTransPlan>();
      PlanXTransRow(gy, ny, *own);
      plan = own.get();
    }
    if (!plan->usable) return false;
    const float* const base = GtNeighbourRow(gy, Offset{0, 0});
    const float* pointer[kSlots][XTransPlan::kMaxPairs];
    for (int sl = 0; sl < kSlots; ++sl) {
      for (int p = 0; p < plan->pairs[sl]; ++p) {
        pointer[sl][p] = base + plan->pointer_at[sl][p];
      }
    }
    int j = 0;
    for (; j < inner_begin_; ++j) out[j] = XTransEdge(*plan, gy, base, j);
    for (; j < inner_end_ && j % kPeriod != 0; ++j) {
      out[j] = XTransColumn(*plan, base, j);
    }
    const int first_vector = j;
    // Whole cycles, chunk by chunk, until one ends short of its stop (the
    // partial cycle left at the end is done below).
    const int chunk = ahead_ != nullptr ? kMatchChunk : inner_end_;
    for (int stop = j; stop == j && j < inner_end_;) {
      stop = std::min(inner_end_, j + chunk);
      j = XTransVectors(pointer, plan->lanes, plan->empty, plan->pairs,
                        plan->division, j, stop, out);
      if (ahead_ != nullptr) ahead_->Step();
    }
    // The last, partial cycle (up to 23 columns, ~a third of this function's
    // instructions when they were scalar kernels): its whole vectors, then
    // one vector that ends at most one column short of inner_end_, starting
    // at an even column (phase 0, 2 or 4: vector 0, 1 or 2 of a cycle),
    // overlapping columns already written with the same values.
    for (int v = 0; j + 8 <= inner_end_; ++v, j += 8) {
      XTransVector(pointer, plan->lanes, plan->empty, plan->pairs,
                   plan->division, v, j, out);
    }
    if (j < inner_end_ && inner_end_ - 9 >= first_vector) {
      const int x = (inner_end_ - 8) & ~1;
      XTransVector(pointer, plan->lanes, plan->empty, plan->pairs,
                   plan->division, (x % kPeriod) / 2, x, out);
      j = x + 8;
    }
    for (; j < inner_end_; ++j) out[j] = XTransColumn(*plan, base, j);
    for (; j < overlap_.width; ++j) out[j] = XTransEdge(*plan, gy, base, j);
    return true;
  }

  // The edge columns of an interior plan's rows (row gy's among them):
  // which of each column's neighbours lie inside the image depends on the
  // column alone there (every neighbour row exists), so XTransEdge sums
  // them without EdgePixel's bounds checks. None planned where a side has
  // more than kEdgeSide edge columns (a GT a few columns wide).
  void PlanXTransEdges(int gy, XTransPlan& plan) const {
    constexpr int kSide = XTransPlan::kEdgeSide;
    if (inner_begin_ > kSide || overlap_.width - inner_end_ > kSide) return;
    for (int e = 0; e < 2 * kSide; ++e) {
      const int j = e < kSide ? e : inner_end_ + e - kSide;
      if (e < kSide ? j >= inner_begin_ : j >= overlap_.width) continue;
      XTransPlan::EdgeColumn& column = plan.edge[e];
      column.used = 0;
      for (const Offset& offset : *plan.lists[j % XTransPlan::kPeriod]) {
        const int x = overlap_.gt_x0 + j + offset.dx;
        if (x < 0 || x >= gt_.width()) continue;
        column.at[column.used++] = FromRow(gy, offset) + j;
      }
    }
    plan.edges_planned = true;
  }

  // Edge column j of row gy (column 0 at `base`): EdgePixel's value, from
  // the planned neighbours where the plan has them.
  float XTransEdge(const XTransPlan& plan, int gy, const float* base,
                   int j) const {
    constexpr int kSide = XTransPlan::kEdgeSide;
    if (plan.edges_planned) {
      const XTransPlan::EdgeColumn& column =
          plan.edge[j < inner_begin_ ? j : kSide + j - inner_end_];
      if (column.used > 0) {
        float sum = 0;
        for (int u = 0; u < column.used; ++u) sum += base[column.at[u]];
        return MeanOf(sum, column.used);
      }
    }
    const int k = j % XTransPlan::kPeriod;
    return EdgePixel(gy, overlap_.gt_x0 + j, *plan.lists[k], plan.wanted[k]);
  }

  // Inner column j of row gy (column 0 at `base`) alone, for the few
  // columns the vectors leave: its phase's pointers are made here, not for
  // every phase of every row.
  static float XTransColumn(const XTransPlan& plan, const float* base, int j) {
    const int k = j % XTransPlan::kPeriod;
    const float* src[XTransPlan::kSlots] = {};
    for (int sl = 0; sl < plan.n[k]; ++sl) src[sl] = base + plan.src_at[k][sl];
    return Kernel(plan.n[k], src, j);
  }

  // The GT pixel at `offset` from column 0 of the overlap's row gy.
  const float* GtNeighbourRow(int gy, const Offset& offset) const {
    return gt_.pixels.row(gy + offset.dy) + overlap_.gt_x0 + offset.dx;
  }

  // XTransRow's inner columns from j (of phase 0) in cycles of 24; returns
  // the first column not written. Rows whose slots hold the usual numbers
  // of offsets (every row of the standard X-Trans: 1-3 in slot 0, 0-3 in
  // slot 1, 0-1 in slot 2, none in slot 3) take a loop compiled for those
  // numbers, which keeps the pointers in registers and leaves out the empty
  // slots (a slot empty in every lane is -0.0 there, and adding -0.0
  // changes nothing); others take the general loop. Both give the same
  // values.
  DSB_VECTOR_CLONES static int XTransVectors(
      const float* const (&pointer)[4][6], const M8 (&lanes)[4][6][3],
      const M8 (&empty)[4][3], const int (&pairs)[4],
      const Division (&division)[3], int j, int end, float* out) {
    if (pairs[3] == 0 && pairs[0] >= 1 && pairs[0] <= 3 && pairs[1] <= 3 &&
        pairs[2] <= 1 && (pairs[1] > 0 || pairs[2] == 0)) {
      using Loop =
          int (*)(const float* const(&)[4][6], const M8(&)[4][6][3],
                  const M8(&)[4][3], const Division(&)[3], int, int, float*);
      static constexpr Loop kLoops[3][4][2] = {
          {{&XTransCycles<1, 0, 0>, nullptr},
           {&XTransCycles<1, 1, 0>, &XTransCycles<1, 1, 1>},
           {&XTransCycles<1, 2, 0>, &XTransCycles<1, 2, 1>},
           {&XTransCycles<1, 3, 0>, &XTransCycles<1, 3, 1>}},
          {{&XTransCycles<2, 0, 0>, nullptr},
           {&XTransCycles<2, 1, 0>, &XTransCycles<2, 1, 1>},
           {&XTransCycles<2, 2, 0>, &XTransCycles<2, 2, 1>},
           {&XTransCycles<2, 3, 0>, &XTransCycles<2, 3, 1>}},
          {{&XTransCycles<3, 0, 0>, nullptr},
           {&XTransCycles<3, 1, 0>, &XTransCycles<3, 1, 1>},
           {&XTransCycles<3, 2, 0>, &XTransCycles<3, 2, 1>},
           {&XTransCycles<3, 3, 0>, &XTransCycles<3, 3, 1>}},
      };
      return kLoops[pairs[0] - 1][pairs[1]][pairs[2]](pointer, lanes, empty,
                                                      division, j, end, out);
    }
    for (; j + 24 <= end; j += 24) {
      for (int v = 0; v < 3; ++v) {
        XTransVectorAt(pointer, lanes, empty, pairs, division, v, j + 8 * v,
                       out);
      }
    }
    return j;
  }

  // Vector v (0-2) of a cycle of XTransVectors' general loop, alone, at
  // column x (of phase 2 * v): the same values.
  DSB_VECTOR_CLONES static void XTransVector(
      const float* const (&pointer)[4][6], const M8 (&lanes)[4][6][3],
      const M8 (&empty)[4][3], const int (&pairs)[4],
      const Division (&division)[3], int v, int x, float* out) {
    XTransVectorAt(pointer, lanes, empty, pairs, division, v, x, out);
  }

  // The body of both: inlined, so each clone compiles it for its target.
  [[gnu::always_inline]] static inline void XTransVectorAt(
      const float* const (&pointer)[4][6], const M8 (&lanes)[4][6][3],
      const M8 (&empty)[4][3], const int (&pairs)[4],
      const Division (&division)[3], int v, int x, float* out) {
    M8 a[4];
    for (int sl = 0; sl < 4; ++sl) {
      M8 acc = empty[sl][v];
      for (int p = 0; p < pairs[sl]; ++p) {
        M8 loaded;
        std::memcpy(&loaded, pointer[sl][p] + x, sizeof(loaded));
        acc |= loaded & lanes[sl][p][v];
      }
      a[sl] = acc;
    }
    const V8 sum = (reinterpret_cast<V8>(a[0]) + reinterpret_cast<V8>(a[1])) +
                   (reinterpret_cast<V8>(a[2]) + reinterpret_cast<V8>(a[3]));
    V8 value;
    Divide(sum, division[v], value);
    std::memcpy(out + x, &value, sizeof(value));
  }

  // Returned through `out` (see Kernel).
  [[gnu::always_inline]] static inline void Divide(const V8& sum,
                                                   const Division& division,
                                                   V8& out) {
    switch (division.kind) {
      case Division::kNone:
        out = sum;
        break;
      case Division::kProduct:
        out = sum * division.reciprocal;
        break;
      default:
        out = sum / division.divisor;
        break;
    }
  }

  // Slot `sl`'s values for the vector v of a cycle at column x, from its P
  // offsets: the OR of each offset's load masked to its lanes, -0.0f in
  // the lanes of phases without that slot.
  template <int P>
  [[gnu::always_inline]] static inline void Slot(
      const float* const (&pointer)[P > 0 ? P : 1], const M8 (&lanes)[6][3],
      const M8& empty, int v, int x, M8& out) {
    if constexpr (P == 1) {
      // One offset: its lanes are all but the empty ones.
      M8 loaded;
      std::memcpy(&loaded, pointer[0] + x, sizeof(loaded));
      out = (loaded & lanes[0][v]) | empty;
    } else {
      M8 acc = empty;
      for (int p = 0; p < P; ++p) {
        M8 loaded;
        std::memcpy(&loaded, pointer[p] + x, sizeof(loaded));
        acc |= loaded & lanes[p][v];
      }
      out = acc;
    }
  }

  // A slot's masks of its P offsets (XTransCycles' locals).
  template <int P>
  [[gnu::always_inline]] static inline void CopyLanes(const M8 (&from)[6][3],
                                                      M8 (&to)[6][3]) {
    for (int p = 0; p < P; ++p) {
      for (int v = 0; v < 3; ++v) to[p][v] = from[p][v];
    }
  }

  // XTransVectors' loop for slots of P0, P1 and P2 offsets and an empty
  // slot 3, whose -0.0f lanes leave a2 + a3 == a2; an empty slot 2 (or 1
  // and 2) the same. The sums are those of the general loop, bit for bit.
  // The masks and divisors are copied into locals first: read through the
  // references, they were loaded again for every vector (the stores to
  // `out` may alias them), where the AVX-512 clone keeps them in its 32
  // registers and merges each AND and OR into one vpternlogd (the
  // refinement's X-Trans colour matching, issue 17's 12 MP frames).
  template <int P0, int P1, int P2>
  DSB_WIDE_VECTOR_CLONES static int XTransCycles(
      const float* const (&pointer)[4][6], const M8 (&lanes)[4][6][3],
      const M8 (&empty)[4][3], const Division (&division)[3], int j, int end,
      float* out) {
    const float* p0[P0];
    const float* p1[P1 > 0 ? P1 : 1] = {};
    const float* p2[P2 > 0 ? P2 : 1] = {};
    for (int p = 0; p < P0; ++p) p0[p] = pointer[0][p];
    for (int p = 0; p < P1; ++p) p1[p] = pointer[1][p];
    for (int p = 0; p < P2; ++p) p2[p] = pointer[2][p];
    M8 lanes0[6][3], lanes1[6][3], lanes2[6][3], empty0[3], empty1[3],
        empty2[3];
    CopyLanes<P0>(lanes[0], lanes0);
    CopyLanes<P1>(lanes[1], lanes1);
    CopyLanes<P2>(lanes[2], lanes2);
    for (int v = 0; v < 3; ++v) {
      empty0[v] = empty[0][v];
      empty1[v] = empty[1][v];
      empty2[v] = empty[2][v];
    }
    const Division divisions[3] = {division[0], division[1], division[2]};
    for (; j + 24 <= end; j += 24) {
      for (int v = 0; v < 3; ++v) {
        const int x = j + 8 * v;
        M8 a0, a1, a2;
        Slot<P0>(p0, lanes0, empty0[v], v, x, a0);
        V8 sum = reinterpret_cast<V8>(a0);
        if constexpr (P1 > 0) {
          Slot<P1>(p1, lanes1, empty1[v], v, x, a1);
          sum = sum + reinterpret_cast<V8>(a1);
        }
        if constexpr (P2 > 0) {
          Slot<P2>(p2, lanes2, empty2[v], v, x, a2);
          sum = sum + reinterpret_cast<V8>(a2);
        }
        V8 value;
        Divide(sum, divisions[v], value);
        std::memcpy(out + x, &value, sizeof(value));
      }
    }
    return j;
  }

  // An edge column's value, with bounds checks: the mean of the pixels of
  // `list` around (gy, gx) that lie inside the GT, else NearestInside.
  float EdgePixel(int gy, int gx, const OffsetList& list,
                  CfaColor wanted) const {
    float sum = 0;
    int used = 0;
    for (const Offset& offset : list) {
      const int y = gy + offset.dy;
      const int x = gx + offset.dx;
      if (y < 0 || y >= gt_.height() || x < 0 || x >= gt_.width()) continue;
      sum += gt_.pixels.row(y)[x];
      ++used;
    }
    return used > 0 ? MeanOf(sum, used) : NearestInside(gy, gx, wanted);
  }
  // The edge columns' mean (EdgePixel's and XTransEdge's): the running sum
  // of the neighbours inside, in list order, divided by their count.
  static float MeanOf(float sum, int used) {
    return sum / static_cast<float>(used);
  }

  // At a corner the table's nearest pixels of a colour can all lie
  // outside the image (X-Trans): the mean of the nearest ones inside.
  float NearestInside(int gy, int gx, CfaColor wanted) const {
    for (int radius = 1; radius <= 2 * CfaPattern::kMaxPeriod; ++radius) {
      float sum = 0;
      int used = 0;
      for (int y = gy - radius; y <= gy + radius; ++y) {
        for (int x = gx - radius; x <= gx + radius; ++x) {
          if (y < 0 || y >= gt_.height() || x < 0 || x >= gt_.width()) continue;
          if (gt_.cfa.color_at(y, x) != wanted) continue;
          sum += gt_.pixels.row(y)[x];
          ++used;
        }
      }
      if (used > 0) return sum / static_cast<float>(used);
    }
    return gt_.pixels.row(gy)[gx];
  }

  // Bayer needs at most 4 (the diagonals of R/B); X-Trans at most 4 too
  // (radius 1 or 2, straight before diagonal).
  static constexpr int kMaxNeighbours = 8;
  const RawImage& gt_;
  Overlap overlap_;
  const NeighbourTable& table_;
  int inner_begin_ = 0, inner_end_ = 0;
  // SameColoursOf(i) for the rows i of each phase i % period.
  std::array<bool, CfaPattern::kMaxPeriod> same_colours_{};
  // X-Trans: one XTransPlan per row phase (PlanXTransPhases), else null.
  std::unique_ptr<XTransPlan[]> xtrans_plans_;
  PrefetchQueue* ahead_ = nullptr;
};

}  // namespace

void GtInNoisyColours(const RawImage& gt, const Overlap& overlap,
                      PlaneView<float> out) {
  if (overlap.empty()) return;
  const NeighbourTable table(gt.cfa);
  const ColourMatcher matcher(gt, overlap, table);
  for (int i = 0; i < overlap.height; ++i) matcher.Row(i, out.row(i));
}

double RawGain(const RawImage& gt, const RawImage& noisy,
               const Overlap& overlap) {
  if (overlap.empty()) return 1.0;
  const double pixels = static_cast<double>(overlap.height) * overlap.width;
  return RawGain(
      gt, noisy, overlap,
      std::max(1, static_cast<int>(pixels / SampleOf(pixels, kGainSamples))));
}

DSB_VECTOR_CLONES double RawGain(const RawImage& gt, const RawImage& noisy,
                                 const Overlap& overlap, int band_step) {
  // Compared colour for colour (GT values in the noisy pixels' colours).
  // Two things would bias a plain ratio of means:
  // - pixels near clipping: noise decides which of them reach the white
  //   level. So pixels are chosen by their clean GT level alone, kept where
  //   the noisy counterpart stays below its clipping level at the measured
  //   gain (a rough gain from a histogram of a row sample sets that limit);
  // - moved objects and changed light: the gain is the median of per-block
  //   ratios (weighted by signal), which ignores a changed minority.
  if (overlap.empty()) return 1.0;
  band_step = std::max(1, band_step);
  constexpr int kLevels = 16;
  // Blocks of 64x64 on big overlaps; smaller where the overlap is small
  // (a large shift on a small image), so that there are always about 256
  // blocks and a moved object of 10% of the frame, which can be a much
  // larger share of a small overlap, still stays a minority of them.
  const int kBlock = std::clamp(
      static_cast<int>(std::sqrt(static_cast<double>(overlap.height) *
                                 overlap.width / 256.0)),
      16, 64);
  const float top = std::max(gt.meta.overexposure_lb, 1e-6f);
  const float noisy_clip = 0.95f * noisy.meta.overexposure_lb;
  const NeighbourTable table(gt.cfa);
  const ColourMatcher matcher(gt, overlap, table);
  std::vector<float> row(static_cast<std::size_t>(overlap.width));

  // Pass 1, rough gain from two rows in every 16 (every CFA row phase
  // appears, for Bayer and X-Trans; on overlaps of more than 8 x
  // kRoughGainSamples pixels, row pairs about kRoughGainSamples pixels
  // apart): the sums over noisy pixels that are not clipped whose GT level
  // is below 15/16 of clipping (the lowest 15 of kLevels levels), in eight
  // float lanes, rows added in double.
  // Loads through a reference: a lambda returning an 8-float vector would
  // change its ABI between the clones (-Wpsabi).
  auto load = [](V8& v, const float* p) { std::memcpy(&v, p, sizeof(v)); };
  const float levels_per_top = static_cast<float>(kLevels);
  const float lowest_levels = static_cast<float>(kLevels - 1);
  // g / top * levels_per_top < lowest_levels, without a division per
  // pixel (it was a tenth of RawGain's time): the same as g < below_levels.
  const float below_levels = LeastFailing(
      [&](float g) { return g / top * levels_per_top < lowest_levels; });
  auto rough_keep = [&](float g, float n) {
    return n < noisy_clip && g < below_levels;
  };
  double rough_gt = 0, rough_noisy = 0;
  const int rough_step = std::max(
      8, RowPairStep(static_cast<double>(overlap.height) * overlap.width,
                     kRoughGainSamples));
  // Pass 2 reads the rows of its bands (below); those of pass 1's rows
  // that lie in them are matched once, here, and kept for it, in row
  // order (a 3 MP X-Trans pair: ~55 of ~600 matched rows, ~0.5 MB; issue
  // 17).
  auto in_band = [&](int i) { return (i / kBlock) % band_step == 0; };
  int rows_kept = 0;
  for (int pair = 0; pair < overlap.height; pair += 2 * rough_step) {
    for (int i = pair; i < std::min(overlap.height, pair + 2); ++i) {
      rows_kept += in_band(i);
    }
  }
  // Not zeroed first (a fill of ~0.5 MB cost more than the rows saved).
  const auto kept_rows = std::make_unique_for_overwrite<float[]>(
      static_cast<std::size_t>(rows_kept) * overlap.width);
  std::vector<std::pair<int, const float*>> kept;
  kept.reserve(static_cast<std::size_t>(rows_kept));
  for (int i = 0; i < overlap.height; ++i) {
    if ((i / 2) % rough_step != 0) continue;
    const bool keep = in_band(i);
    float* out = keep ? &kept_rows[kept.size() * overlap.width] : row.data();
    const float* g = matcher.Matched(i, out);
    if (keep) kept.emplace_back(i, g);
    const float* n = noisy.pixels.row(overlap.noisy_y0 + i) + overlap.noisy_x0;
    V8 lanes_g = {}, lanes_n = {};
    int j = 0;
    for (; j + 8 <= overlap.width; j += 8) {
      V8 gv, nv;
      load(gv, g + j);
      load(nv, n + j);
      const M8 keep = (nv < noisy_clip) & (gv < below_levels);
      lanes_g += reinterpret_cast<V8>(reinterpret_cast<M8>(gv) & keep);
      lanes_n += reinterpret_cast<V8>(reinterpret_cast<M8>(nv) & keep);
    }
    double sum_g = 0, sum_n = 0;
    for (; j < overlap.width; ++j) {
      if (rough_keep(g[j], n[j])) {
        sum_g += g[j];
        sum_n += n[j];
      }
    }
    for (int l = 0; l < 8; ++l) {
      sum_g += lanes_g[l];
      sum_n += lanes_n[l];
    }
    rough_gt += sum_g;
    rough_noisy += sum_n;
  }
  const double rough =
      (rough_gt > 0 && rough_noisy > 0) ? rough_gt / rough_noisy : 1.0;
  // noisy ~ gt / gain, so GT levels below gain * 0.85 * clip are safe;
  // quantised to the histogram's levels so that the sample's noise rarely
  // moves the threshold.
  const double limit =
      std::min(15.0 / 16, rough * 0.85 * noisy.meta.overexposure_lb / top);
  const int levels = std::max(1, static_cast<int>(limit * kLevels));
  const float threshold = static_cast<float>(levels) / kLevels * top;

  // Pass 2, the bands of kBlock rows whose index is a multiple of
  // band_step (every row when it is 1): per-block sums of the pixels below
  // the threshold, in eight float lanes (one 8-float vector, two halves on
  // SSE2: the compiler left the select of a plain loop scalar), rows and
  // blocks added in double. A sampled block is the very block every row
  // gives, so the median is taken over a subset of the same block ratios
  // (blocks of rows sampled across the frame would hold other content
  // and shift the median), and whole bands stream from memory.
  const int blocks_y = (overlap.height + kBlock - 1) / kBlock;
  const int blocks_x = (overlap.width + kBlock - 1) / kBlock;
  struct Sums {
    double gt = 0, noisy = 0;
  };
  std::vector<Sums> per_block(static_cast<std::size_t>(blocks_y) * blocks_x);
  std::size_t next_kept = 0;
  for (int i = 0; i < overlap.height; ++i) {
    if (!in_band(i)) {
      i = (i / kBlock + 1) * kBlock - 1;  // on to the next band
      continue;
    }
    const bool was_kept = next_kept < kept.size() && kept[next_kept].first == i;
    const float* g =
        was_kept ? kept[next_kept++].second : matcher.Matched(i, row.data());
    const float* n = noisy.pixels.row(overlap.noisy_y0 + i) + overlap.noisy_x0;
    Sums* block_row =
        &per_block[static_cast<std::size_t>(i / kBlock) * blocks_x];
    // A block's lanes over [begin, end) and, from 0, the sums of the
    // columns past its last full vector.
    auto block_lanes = [&](int begin, int end, V8& lanes_g, V8& lanes_n,
                           double& tail_g, double& tail_n) {
      lanes_g = V8{};
      lanes_n = V8{};
      int j = begin;
      for (; j + 8 <= end; j += 8) {
        V8 gv, nv;
        load(gv, g + j);
        load(nv, n + j);
        const M8 keep = gv < threshold;
        lanes_g += reinterpret_cast<V8>(reinterpret_cast<M8>(gv) & keep);
        lanes_n += reinterpret_cast<V8>(reinterpret_cast<M8>(nv) & keep);
      }
      tail_g = 0;
      tail_n = 0;
      for (; j < end; ++j) {
        if (g[j] < threshold) {
          tail_g += g[j];
          tail_n += n[j];
        }
      }
    };
    // Four whole blocks side by side: their lanes transposed into double
    // lanes (TransposeToDoubles), each block's tail and then its lanes 0..7
    // added in that order, as one block alone adds them (each block's 16
    // conversions and additions one by one: RawGain's own instructions
    // -6 % on a 3 MP pair, issue 17).
    int bx = 0;
    for (; bx + 4 <= blocks_x && (bx + 4) * kBlock <= overlap.width; bx += 4) {
      V8 lanes_g[4], lanes_n[4];
      double tails_g[4], tails_n[4];
      for (int r = 0; r < 4; ++r) {
        block_lanes((bx + r) * kBlock, (bx + r + 1) * kBlock, lanes_g[r],
                    lanes_n[r], tails_g[r], tails_n[r]);
      }
      D4 columns_g[8], columns_n[8];
      TransposeToDoubles(lanes_g, columns_g);
      TransposeToDoubles(lanes_n, columns_n);
      D4 sum_g = {tails_g[0], tails_g[1], tails_g[2], tails_g[3]};
      D4 sum_n = {tails_n[0], tails_n[1], tails_n[2], tails_n[3]};
      for (int c = 0; c < 8; ++c) {
        sum_g += columns_g[c];
        sum_n += columns_n[c];
      }
      for (int r = 0; r < 4; ++r) {
        block_row[bx + r].gt += sum_g[r];
        block_row[bx + r].noisy += sum_n[r];
      }
    }
    for (; bx < blocks_x; ++bx) {
      const int begin = bx * kBlock;
      const int end = std::min(overlap.width, begin + kBlock);
      V8 lanes_g, lanes_n;
      double sum_g, sum_n;
      block_lanes(begin, end, lanes_g, lanes_n, sum_g, sum_n);
      for (int l = 0; l < 8; ++l) {
        sum_g += lanes_g[l];
        sum_n += lanes_n[l];
      }
      block_row[bx].gt += sum_g;
      block_row[bx].noisy += sum_n;
    }
  }
  struct Ratio {
    double value, weight;
  };
  std::vector<Ratio> ratios;
  double total_gt = 0, total_noisy = 0;
  for (const Sums& sums : per_block) {
    total_gt += sums.gt;
    total_noisy += sums.noisy;
    if (sums.gt > 0 && sums.noisy > 0) {
      ratios.push_back({sums.gt / sums.noisy, sums.noisy});
    }
  }
  if (ratios.empty()) {
    return (total_gt > 0 && total_noisy > 0) ? total_gt / total_noisy : 1.0;
  }
  std::sort(ratios.begin(), ratios.end(),
            [](const Ratio& a, const Ratio& b) { return a.value < b.value; });
  double half = 0;
  for (const Ratio& r : ratios) half += r.weight;
  half /= 2;
  for (const Ratio& r : ratios) {
    half -= r.weight;
    if (half <= 0) return r.value;
  }
  return ratios.back().value;
}

namespace {

// sum |g - gain * n| over one row: eight independent float partial sums so
// the compiler can vectorise (a single running sum is a serial chain),
// added in double; rows are added in double too, so rounding stays far
// below what the 0.035 threshold needs.
DSB_VECTOR_CLONES double RowLoss(const float* g, const float* n, int width,
                                 float gain) {
  constexpr int kLanes = 8;
  float lanes[kLanes] = {};
  int j = 0;
  for (; j + kLanes <= width; j += kLanes) {
    for (int l = 0; l < kLanes; ++l) {
      lanes[l] += std::abs(g[j + l] - gain * n[j + l]);
    }
  }
  double sum = 0;
  for (; j < width; ++j) sum += std::abs(g[j] - gain * n[j]);
  for (float lane : lanes) sum += lane;
  return sum;
}

}  // namespace

double SampledGainMatchedLoss(const RawImage& gt, const RawImage& noisy,
                              const Overlap& overlap, double raw_gain,
                              int row_step) {
  if (overlap.empty()) return 0;
  row_step = std::max(1, row_step);
  const NeighbourTable table(gt.cfa);
  const ColourMatcher matcher(gt, overlap, table);
  std::vector<float> row(static_cast<std::size_t>(overlap.width));
  const float gain = static_cast<float>(raw_gain);
  double total = 0;
  double rows = 0;
  for (int i = 0; i < overlap.height; ++i) {
    if ((i / 2) % row_step != 0) continue;
    total += RowLoss(matcher.Matched(i, row.data()),
                     noisy.pixels.row(overlap.noisy_y0 + i) + overlap.noisy_x0,
                     overlap.width, gain);
    ++rows;
  }
  return rows > 0 ? total / (rows * overlap.width) : 0;
}

namespace {

// sum |g - gain * n| over [begin[r], begin[r] + len) for N runs of one
// row: per run eight float lanes, then its tail and its lanes added in
// double, exactly as for one run alone (the absolute value clears the sign
// bit, as std::abs does). N runs at once keep N independent chains of
// additions in flight; one run's lanes are a single chain, bound by the
// adder's latency. With kScaled, n already holds gain * n (the same float
// products, made once per noisy row for all the shifts that read it).
// Each run's lanes are a register of their own, copied out for the tail's
// sum: an array of them indexed by run was zero-filled on the stack with
// `rep stos` per call, 11 % of this function's samples in perf.
template <int N, bool kScaled>
[[gnu::always_inline]] inline void BlockLossRuns(const float* g, const float* n,
                                                 const int* begin, int len,
                                                 float gain, double* out) {
  const M8 magnitude = {0x7fffffff, 0x7fffffff, 0x7fffffff, 0x7fffffff,
                        0x7fffffff, 0x7fffffff, 0x7fffffff, 0x7fffffff};
  const V8 zero = {};
  V8 lanes0 = zero, lanes1 = zero, lanes2 = zero, lanes3 = zero;
  static_assert(N == 1 || N == 4);
  auto term = [&](int at) {
    V8 gv, nv;
    std::memcpy(&gv, g + at, sizeof(gv));
    std::memcpy(&nv, n + at, sizeof(nv));
    const V8 d = kScaled ? gv - nv : gv - gain * nv;
    return reinterpret_cast<V8>(reinterpret_cast<M8>(d) & magnitude);
  };
  int k = 0;
  for (; k + 8 <= len; k += 8) {
    lanes0 += term(begin[0] + k);
    if constexpr (N == 4) {
      lanes1 += term(begin[1] + k);
      lanes2 += term(begin[2] + k);
      lanes3 += term(begin[3] + k);
    }
  }
  if constexpr (N == 4) {
    // The four runs' sums side by side in double lanes, each lane adding
    // its run's tail, then its eight float lanes, in the order of the loop
    // below (callgrind: that per-run reduction was about half of this
    // function's instructions at the ~100-column blocks of 2-4 MP frames).
    D4 sums = {};
    for (int t = k; t < len; ++t) {
      float d[4];
      for (int r = 0; r < 4; ++r) {
        const int at = begin[r] + t;
        d[r] = std::abs(kScaled ? g[at] - n[at] : g[at] - gain * n[at]);
      }
      sums += D4{d[0], d[1], d[2], d[3]};
    }
    const V8 rows[4] = {lanes0, lanes1, lanes2, lanes3};
    D4 columns[8];
    TransposeToDoubles(rows, columns);
    for (int l = 0; l < 8; ++l) sums += columns[l];
    for (int r = 0; r < 4; ++r) out[r] = sums[r];
    return;
  }
  const V8 all[1] = {lanes0};
  for (int r = 0; r < N; ++r) {
    double sum = 0;
    for (int t = begin[r] + k; t < begin[r] + len; ++t) {
      sum += std::abs(kScaled ? g[t] - n[t] : g[t] - gain * n[t]);
    }
    float lane[8];
    std::memcpy(lane, &all[r], sizeof(lane));
    for (int l = 0; l < 8; ++l) sum += lane[l];
    out[r] = sum;
  }
}

// Row i of the overlap into BlockGainMatchedLoss's sums (see there).
// `noisy_row` is the noisy row's pixels, or with kScaled their products
// with the gain.
// The first and last runs and each four blocks between take a Step of
// `ahead` (the rows of a later sampled row fetched between the runs'
// arithmetic; BlockGainMatchedLosses' steps_of counts them).
template <bool kScaled>
[[gnu::always_inline]] inline void AddBlockLossRowOf(
    const float* row, const float* noisy_row, const Overlap& overlap, int i,
    float gain, int block, Plane<double>& sums, Plane<double>& counts,
    PrefetchQueue& ahead) {
  const int ny = overlap.noisy_y0 + i;
  const float* g = row;
  const float* n = noisy_row + overlap.noisy_x0;
  double* block_sums = sums.row(ny / block);
  double* block_counts = counts.row(ny / block);
  // Runs of columns that fall in one block, each summed on its own (see
  // BlockLossRuns); the whole blocks between the first and the last run,
  // all `block` long, four at a time.
  auto add = [&](int j, int end, double sum) {
    const int bx = (overlap.noisy_x0 + j) / block;
    block_sums[bx] += sum;
    block_counts[bx] += end - j;
  };
  int j = 0;
  double sum[4];
  // The first run, up to the first block boundary.
  {
    const int bx = overlap.noisy_x0 / block;
    const int end =
        std::min(overlap.width, (bx + 1) * block - overlap.noisy_x0);
    BlockLossRuns<1, kScaled>(g, n, &j, end - j, gain, sum);
    add(j, end, sum[0]);
    j = end;
    ahead.Step();
  }
  for (; j + 4 * block <= overlap.width; j += 4 * block) {
    const int begin[4] = {j, j + block, j + 2 * block, j + 3 * block};
    BlockLossRuns<4, kScaled>(g, n, begin, block, gain, sum);
    for (int r = 0; r < 4; ++r) add(begin[r], begin[r] + block, sum[r]);
    ahead.Step();
  }
  for (; j < overlap.width;) {
    const int end = std::min(overlap.width, j + block);
    BlockLossRuns<1, kScaled>(g, n, &j, end - j, gain, sum);
    add(j, end, sum[0]);
    j = end;
    ahead.Step();
  }
}

DSB_VECTOR_CLONES void AddBlockLossRow(const float* row, const float* noisy_row,
                                       const Overlap& overlap, int i,
                                       float gain, int block,
                                       Plane<double>& sums,
                                       Plane<double>& counts,
                                       PrefetchQueue& ahead) {
  AddBlockLossRowOf<false>(row, noisy_row, overlap, i, gain, block, sums,
                           counts, ahead);
}

DSB_VECTOR_CLONES void AddScaledBlockLossRow(
    const float* row, const float* scaled_row, const Overlap& overlap, int i,
    float gain, int block, Plane<double>& sums, Plane<double>& counts,
    PrefetchQueue& ahead) {
  AddBlockLossRowOf<true>(row, scaled_row, overlap, i, gain, block, sums,
                          counts, ahead);
}

// gain * n for a noisy row, the products BlockLossRuns would make.
DSB_VECTOR_CLONES void ScaleRow(const float* n, int width, float gain,
                                float* out) {
  for (int x = 0; x < width; ++x) out[x] = gain * n[x];
}

}  // namespace

void BlockGainMatchedLoss(const RawImage& gt, const RawImage& noisy,
                          const Overlap& overlap, double raw_gain, int row_step,
                          int block, Plane<double>& sums,
                          Plane<double>& counts) {
  BlockGainMatchedLosses(gt, noisy, std::span<const Overlap>(&overlap, 1),
                         raw_gain, row_step, block,
                         std::span<Plane<double>>(&sums, 1),
                         std::span<Plane<double>>(&counts, 1));
}

// How far ahead BlockGainMatchedLosses fetches rows, in sampled rows: the
// next row pair's (sampled rows come in pairs). On 12-24 MP frames the
// refinement's pairs lie 16-22 rows apart, too far for the hardware
// prefetcher, and its nine shifts' work on one pair (~50 us) is time
// enough for the next pair's ~8 rows to arrive.
constexpr std::size_t kRowsAhead = 2;

void BlockGainMatchedLosses(const RawImage& gt, const RawImage& noisy,
                            std::span<const Overlap> overlaps, double raw_gain,
                            int row_step, int block,
                            std::span<Plane<double>> sums,
                            std::span<Plane<double>> counts) {
  row_step = std::max(1, row_step);
  const float gain = static_cast<float>(raw_gain);
  // Overlaps that share their rows and whose column shifts differ by a
  // multiple of the Bayer period (the refinement's dx - 1 and dx + 1) see
  // the same colour-matched values at a GT column: a GT pixel's estimate
  // depends on its position and the colour wanted, and the wanted colour
  // repeats every two noisy columns. So such a group is colour-matched once
  // per row, over the union of its GT columns (a matcher of its own), and
  // each member reads its columns out of that row. X-Trans's period of 6
  // never pairs neighbours.
  //
  // Groups of rows two apart (the refinement's dy - 1 and dy + 1) colour-
  // match the same GT row two noisy rows apart; where they span the same
  // GT columns and want the same colours there, the later one reads the
  // earlier one's row (each group keeps its last kKept rows, and computes
  // at most one per noisy row, so a row matched two noisy rows earlier is
  // still there). The colours wanted along a row repeat every period
  // columns, so those wanted at the first `period` GT columns are the key
  // (`wanted`): for Bayer they agree where the shifts agree modulo 2 in
  // both axes; for X-Trans, whose rows 1 and 3 (and 4 and 6) are the same,
  // where the noisy rows are those and the column shifts agree modulo 6.
  constexpr int kKept = 3;
  struct Group {
    std::unique_ptr<ColourMatcher> matcher;
    Overlap reach;  // the union of the members' columns
    std::array<std::vector<float>, kKept> rows;
    std::array<int, kKept> kept_gy;  // GT row held by rows[k], or -1
    std::array<std::uint32_t, kKept> kept_wanted{};  // its colours' key
    std::array<const float*, kKept> kept{};
    int next = 0;
    std::vector<int> partners;  // groups whose rows this one may read
    // The key (`wanted`, below) of the noisy rows of each CFA row phase.
    std::array<std::uint32_t, CfaPattern::kMaxPeriod> wanted_of_phase{};
  };
  std::vector<Group> groups;
  std::vector<int> group_of(overlaps.size(), -1);
  auto shift_x = [](const Overlap& o) { return o.gt_x0 - o.noisy_x0; };
  int first = noisy.height(), last = 0;
  for (std::size_t k = 0; k < overlaps.size(); ++k) {
    std::fill(sums[k].data(), sums[k].data() + sums[k].pixel_count(), 0.0);
    std::fill(counts[k].data(), counts[k].data() + counts[k].pixel_count(),
              0.0);
    const Overlap& overlap = overlaps[k];
    if (overlap.empty()) continue;
    first = std::min(first, overlap.noisy_y0);
    last = std::max(last, overlap.noisy_y0 + overlap.height);
    for (std::size_t g = 0; g < groups.size() && group_of[k] < 0; ++g) {
      const Overlap& reach = groups[g].reach;
      if (gt.cfa.period() == 2 && reach.noisy_y0 == overlap.noisy_y0 &&
          reach.gt_y0 == overlap.gt_y0 && reach.height == overlap.height &&
          (shift_x(reach) - shift_x(overlap)) % 2 == 0) {
        group_of[k] = static_cast<int>(g);
      }
    }
    if (group_of[k] < 0) {
      group_of[k] = static_cast<int>(groups.size());
      groups.push_back({nullptr, overlap, {}, {}, {}, {}, 0, {}, {}});
      continue;
    }
    Overlap& reach = groups[group_of[k]].reach;
    const int lo = std::min(reach.gt_x0, overlap.gt_x0);
    const int hi =
        std::max(reach.gt_x0 + reach.width, overlap.gt_x0 + overlap.width);
    reach.noisy_x0 += lo - reach.gt_x0;
    reach.gt_x0 = lo;
    reach.width = hi - lo;
  }
  const int period = gt.cfa.period();
  // The colours a noisy row ny wants at a group's first `period` GT
  // columns, 2 bits each: with the GT row, all a matched row depends on.
  // They repeat every `period` noisy rows, so each group keeps one key per
  // row phase (they were made per matched row, a colour lookup per
  // column).
  auto wanted = [&](const Overlap& reach, int ny) {
    std::uint32_t key = 0;
    for (int k = 0; k < period; ++k) {
      key = key << 2 |
            static_cast<std::uint32_t>(gt.cfa.color_at(ny, reach.noisy_x0 + k));
    }
    return key;
  };
  const NeighbourTable table(gt.cfa);
  PrefetchQueue ahead;
  for (std::size_t g = 0; g < groups.size(); ++g) {
    Group& group = groups[g];
    group.matcher = std::make_unique<ColourMatcher>(gt, group.reach, table);
    group.matcher->FetchAhead(&ahead);
    for (int phase = 0; phase < period; ++phase) {
      group.wanted_of_phase[phase] = wanted(group.reach, phase);
    }
    for (std::vector<float>& row : group.rows) {
      row.resize(static_cast<std::size_t>(group.reach.width));
    }
    group.kept_gy.fill(-1);
    for (std::size_t p = 0; p < groups.size(); ++p) {
      const Overlap& a = group.reach;
      const Overlap& b = groups[p].reach;
      if (p != g && a.gt_x0 == b.gt_x0 && a.width == b.width) {
        group.partners.push_back(static_cast<int>(p));
      }
    }
  }
  // GT row gy as group g matches it: kept by g or a partner wanting the
  // same colours, else matched now and kept.
  auto matched_row = [&](int g, int i) -> const float* {
    Group& group = groups[g];
    const int gy = group.reach.gt_y0 + i;
    for (int k = 0; k < kKept; ++k) {
      if (group.kept_gy[k] == gy) return group.kept[k];
    }
    const std::uint32_t key =
        group.wanted_of_phase[(group.reach.noisy_y0 + i) % period];
    for (int p : group.partners) {
      const Group& partner = groups[p];
      for (int k = 0; k < kKept; ++k) {
        if (partner.kept_gy[k] == gy && partner.kept_wanted[k] == key) {
          return partner.kept[k];
        }
      }
    }
    const int slot = group.next;
    group.next = (group.next + 1) % kKept;
    group.kept_gy[slot] = gy;
    group.kept_wanted[slot] = key;
    group.kept[slot] = group.matcher->Matched(i, group.rows[slot].data());
    return group.kept[slot];
  };
  std::vector<const float*> matched(groups.size());
  // With several overlaps (the refinement's nine shifts) each noisy row's
  // products with the gain are made once, not once per shift: perf of a
  // 3 MP scene had this function at a fifth of alignment's samples, and
  // the multiply was one of its four vector operations per 8 pixels.
  const bool share_scaled = overlaps.size() > 1;
  std::vector<float> scaled(
      share_scaled ? static_cast<std::size_t>(noisy.width()) : 0);
  // Whether overlap k samples noisy row y.
  auto samples = [&](std::size_t k, int y) {
    const Overlap& overlap = overlaps[k];
    const int i = y - overlap.noisy_y0;
    return !overlap.empty() && i >= 0 && i < overlap.height &&
           (i / 2) % row_step == 0;
  };
  // The noisy rows some overlap samples, in order: the sweep below visits
  // those alone (a 3 MP pair samples one row in 8; visiting every row and
  // testing it against each of nine overlaps, with the keys above made per
  // matched row, was ~30 % of this function's own instructions on a 3 MP
  // X-Trans pair, callgrind).
  std::vector<char> sampled(
      static_cast<std::size_t>(std::max(0, last - first)));
  for (const Overlap& overlap : overlaps) {
    if (overlap.empty()) continue;
    for (int i = 0; i < overlap.height; i += 2 * row_step) {
      sampled[overlap.noisy_y0 + i - first] = 1;
      if (i + 1 < overlap.height) sampled[overlap.noisy_y0 + i + 1 - first] = 1;
    }
  }
  std::vector<int> rows;
  for (int y = first; y < last; ++y) {
    if (sampled[y - first]) rows.push_back(y);
  }
  // The rows a sampled noisy row reads (the noisy row, and the GT rows the
  // overlaps sampling it colour-match from, over the overlaps' columns and
  // their neighbours) are fetched while the row kRowsAhead before it is
  // worked on (see kRowsAhead).
  const int reach = table.Reach();
  int gt_x0 = gt.width(), gt_x1 = 0;
  for (const Overlap& overlap : overlaps) {
    if (overlap.empty()) continue;
    gt_x0 = std::min(gt_x0, std::max(0, overlap.gt_x0 - reach));
    gt_x1 = std::min(gt.width(),
                     std::max(gt_x1, overlap.gt_x0 + overlap.width + reach));
  }
  // The Steps an overlap's work on a row takes: its loss runs
  // (AddBlockLossRowOf: about one per four blocks) and, for X-Trans, its
  // colour matching (XTransRow, one per kMatchChunk columns).
  auto steps_of = [&](const Overlap& overlap) {
    const int matching =
        period == 6 ? overlap.width / ColourMatcher::kMatchChunk : 0;
    return static_cast<std::size_t>(overlap.width / (4 * block) + 2 + matching);
  };
  // With one overlap (PairLoss) a row's work is one shift's: too little
  // to hide the prefetches in, and its rows are mostly still cached from
  // the refinement that ran just before on the same rows (--stages, 12 MP
  // X-Trans: PairLoss 0.071-0.086 ms/MP without, 0.090-0.124 with them).
  const bool fetch_ahead = overlaps.size() > 1;
  int gt_queued_end = 0;  // GT rows above it are queued already
  auto queue_rows_of = [&](int y) {
    const float* n = noisy.pixels.row(y);
    ahead.Add(n, n + noisy.width());
    int lo = gt.height(), hi = -1;
    for (std::size_t k = 0; k < overlaps.size(); ++k) {
      if (!samples(k, y)) continue;
      const int gy = overlaps[k].gt_y0 + (y - overlaps[k].noisy_y0);
      lo = std::min(lo, gy - reach);
      hi = std::max(hi, gy + reach);
    }
    hi = std::min(hi, gt.height() - 1);
    for (int gy = std::max({lo, 0, gt_queued_end}); gy <= hi; ++gy) {
      ahead.Add(gt.pixels.row(gy) + gt_x0, gt.pixels.row(gy) + gt_x1);
    }
    gt_queued_end = std::max(gt_queued_end, hi + 1);
  };
  // One sweep down the noisy image: each noisy row (and the GT rows near
  // it) is used by every overlap that samples it while it is in cache. Each
  // overlap still adds its rows in order, so its sums are the same.
  for (std::size_t t = 0; t < rows.size(); ++t) {
    const int y = rows[t];
    if (fetch_ahead && t + kRowsAhead < rows.size()) {
      queue_rows_of(rows[t + kRowsAhead]);
    }
    // Spread over the steps of this row's work (with what the last row
    // left, if it took fewer steps than counted).
    std::size_t steps = 0;
    for (std::size_t k = 0; k < overlaps.size(); ++k) {
      if (samples(k, y)) steps += steps_of(overlaps[k]);
    }
    ahead.Pace(steps);
    std::fill(matched.begin(), matched.end(), nullptr);
    bool scaled_made = false;
    for (std::size_t k = 0; k < overlaps.size(); ++k) {
      if (!samples(k, y)) continue;
      const Overlap& overlap = overlaps[k];
      const int i = y - overlap.noisy_y0;
      const Group& group = groups[group_of[k]];
      const float*& row = matched[group_of[k]];
      if (row == nullptr) row = matched_row(group_of[k], i);
      const float* g = row + (overlap.gt_x0 - group.reach.gt_x0);
      if (!share_scaled) {
        AddBlockLossRow(g, noisy.pixels.row(y), overlap, i, gain, block,
                        sums[k], counts[k], ahead);
        continue;
      }
      if (!scaled_made) {
        ScaleRow(noisy.pixels.row(y), noisy.width(), gain, scaled.data());
        scaled_made = true;
      }
      AddScaledBlockLossRow(g, scaled.data(), overlap, i, gain, block, sums[k],
                            counts[k], ahead);
    }
  }
}

double GainMatchedLoss(const RawImage& gt, const RawImage& noisy,
                       const Overlap& overlap, double raw_gain) {
  return SampledGainMatchedLoss(gt, noisy, overlap, raw_gain, 1);
}

}  // namespace dsb
