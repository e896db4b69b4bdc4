#include "mask/cell_rows.h"

#include <algorithm>
#include <limits>

#include "common/vector_clones.h"

namespace dsb {

namespace {

int ColorIndex(const CfaPattern& cfa, int y, int x) {
  return static_cast<int>(cfa.color_at(y, x));
}

}  // namespace

CellRowBuilder::CellRowBuilder(PlaneView<const float> gt,
                               PlaneView<const float> noisy,
                               const CfaPattern& gt_cfa,
                               const CfaPattern& noisy_cfa, float gt_lb,
                               float noisy_lb, bool mask_noisy_clipped)
    : gt_(gt),
      noisy_(noisy),
      gt_cfa_(gt_cfa),
      noisy_cfa_(noisy_cfa),
      gt_lb_(gt_lb),
      noisy_lb_(noisy_lb),
      mask_noisy_clipped_(mask_noisy_clipped) {
  const int period = gt_cfa.period();
  if (period != 2 && period != 6) return;  // layout stays empty
  const int s = period == 2 ? 2 : 3;
  layout_.size = s;
  layout_.parity = period / s;
  layout_.rows = gt.height / s;
  layout_.cols = gt.width / s;
  for (int pi = 0; pi < layout_.parity; ++pi) {
    for (int pj = 0; pj < layout_.parity; ++pj) {
      int gt_count[kCellColors] = {};
      int noisy_count[kCellColors] = {};
      for (int y = pi * s; y < (pi + 1) * s; ++y) {
        for (int x = pj * s; x < (pj + 1) * s; ++x) {
          ++gt_count[ColorIndex(gt_cfa, y, x)];
          ++noisy_count[ColorIndex(noisy_cfa, y, x)];
        }
      }
      for (int c = 0; c < kCellColors; ++c) {
        const int ng = gt_count[c];
        const int nn = noisy_count[c];
        layout_.gt_samples[pi][pj][c] = ng;
        layout_.noisy_samples[pi][pj][c] = nn;
        gt_inv_[pi][pj][c] = ng > 0 ? 1.0f / ng : 0.0f;
        noisy_inv_[pi][pj][c] = nn > 0 ? 1.0f / nn : 0.0f;
        layout_.var_factor[pi][pj][c] =
            ng > 0 && nn > 0 ? 0.5f * (1.0f / ng + 1.0f / nn) : 0.0f;
      }
    }
  }
}

template <int S, int P>
DSB_VECTOR_CLONES void CellRowBuilder::BuildRow(
    int i, CellRow& row, std::uint8_t* clipped_rows) const {
  // S and P are template parameters so the strided loops vectorise.
  constexpr int R = P / S;
  static_assert(R == 1 || R == 2);
  const int cols = layout_.cols;
  for (int c = 0; c < kCellColors; ++c) {
    row.gt[c].assign(cols, 0.0f);
    row.noisy[c].assign(cols, 0.0f);
  }
  // Each image's largest sample per cell: clipping is a comparison per
  // cell rather than per pixel.
  row.gt_peak.assign(cols, -std::numeric_limits<float>::infinity());
  row.noisy_peak.assign(cols, -std::numeric_limits<float>::infinity());
  float* gp = row.gt_peak.data();
  float* np = row.noisy_peak.data();
  // Pixels right of the last full cell are in no cell but still count for
  // the rows' clipping.
  bool gt_clipped_outside = false;
  bool noisy_clipped_outside = false;
  for (int ky = 0; ky < S; ++ky) {
    const int y = i * S + ky;
    const float* g = gt_.row(y);
    const float* n = noisy_.row(y);
    for (int q = 0; q < R; ++q) {
      for (int kx = 0; kx < S; ++kx) {
        const int x = q * S + kx;
        float* gd = row.gt[ColorIndex(gt_cfa_, y, x)].data();
        float* nd = row.noisy[ColorIndex(noisy_cfa_, y, x)].data();
        for (int j = q; j < cols; j += R) {
          const float v = g[j * S + kx];
          gd[j] += v;
          gp[j] = std::max(gp[j], v);
        }
        for (int j = q; j < cols; j += R) {
          const float v = n[j * S + kx];
          nd[j] += v;
          np[j] = std::max(np[j], v);
        }
      }
    }
    for (int x = cols * S; x < gt_.width; ++x) {
      gt_clipped_outside |= g[x] >= gt_lb_;
      noisy_clipped_outside |= n[x] >= noisy_lb_;
    }
  }
  row.valid.resize(cols);
  row.fit.resize(cols);
  std::uint8_t* valid = row.valid.data();
  std::uint8_t* fit = row.fit.data();
  int gt_clipped = 0;
  int noisy_clipped = 0;
  // Locals, not members: stores through `valid` could alias a member, and
  // the reloads that forces keep this loop from vectorising.
  const float gt_lb = gt_lb_;
  const float noisy_lb = noisy_lb_;
  const std::uint8_t mask_noisy = mask_noisy_clipped_ ? 1 : 0;
  for (int j = 0; j < cols; ++j) {
    const std::uint8_t gt_hit = gp[j] >= gt_lb;
    const std::uint8_t noisy_hit = np[j] >= noisy_lb;
    valid[j] = !(gt_hit | (mask_noisy & noisy_hit));
    fit[j] = !(gt_hit | noisy_hit);
    gt_clipped += gt_hit;
    noisy_clipped += noisy_hit;
  }
  if (clipped_rows != nullptr) {
    // At cell-row granularity: the rows are then searched pixel by pixel.
    const bool shows =
        gt_clipped > 0 || gt_clipped_outside ||
        (mask_noisy_clipped_ && (noisy_clipped > 0 || noisy_clipped_outside));
    std::fill(clipped_rows + i * S, clipped_rows + (i + 1) * S, shows);
  }
  for (int c = 0; c < kCellColors; ++c) {
    float* gm = row.gt[c].data();
    float* nm = row.noisy[c].data();
    for (int q = 0; q < R; ++q) {
      const float gi = gt_inv_[i % R][q][c];
      const float ni = noisy_inv_[i % R][q][c];
      for (int j = q; j < cols; j += R) {
        gm[j] *= gi;
        nm[j] *= ni;
      }
    }
  }
  row.index = i;
}

void CellRowBuilder::Build(int i, CellRow& row,
                           std::uint8_t* clipped_rows) const {
  if (layout_.size == 2) {
    BuildRow<2, 2>(i, row, clipped_rows);
  } else {
    BuildRow<3, 6>(i, row, clipped_rows);
  }
}

void CellRowBuilder::MarkRowsWithoutCells(std::uint8_t* clipped_rows) const {
  const int first = layout_.empty() ? 0 : layout_.rows * layout_.size;
  for (int y = first; y < gt_.height; ++y) {
    const float* g = gt_.row(y);
    const float* n = noisy_.row(y);
    int gt_hits = 0;
    int noisy_hits = 0;
    for (int x = 0; x < gt_.width; ++x) {
      gt_hits += g[x] >= gt_lb_;
      noisy_hits += n[x] >= noisy_lb_;
    }
    clipped_rows[y] = gt_hits > 0 || (mask_noisy_clipped_ && noisy_hits > 0);
  }
}

const CellRow& CellRowCache::Get(int i) {
  CellRow& slot = slots_[i % 3];
  if (slot.index != i) builder_.Build(i, slot, clipped_rows_);
  return slot;
}

}  // namespace dsb
