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
      // Each sample's squared distance to the nearest sample of its colour
      // in the other image, averaged both ways.
      double nearest2[kCellColors] = {};
      double gt_y[kCellColors] = {}, gt_x[kCellColors] = {};
      double noisy_y[kCellColors] = {}, noisy_x[kCellColors] = {};
      for (int y = pi * s; y < (pi + 1) * s; ++y) {
        for (int x = pj * s; x < (pj + 1) * s; ++x) {
          for (int from_gt = 0; from_gt < 2; ++from_gt) {
            const CfaPattern& own = from_gt ? gt_cfa : noisy_cfa;
            const CfaPattern& other = from_gt ? noisy_cfa : gt_cfa;
            const int c = ColorIndex(own, y, x);
            (from_gt ? gt_y : noisy_y)[c] += y;
            (from_gt ? gt_x : noisy_x)[c] += x;
            int best = 1 << 20;
            for (int v = pi * s; v < (pi + 1) * s; ++v) {
              for (int u = pj * s; u < (pj + 1) * s; ++u) {
                if (ColorIndex(other, v, u) != c) continue;
                best = std::min(best, (v - y) * (v - y) + (u - x) * (u - x));
              }
            }
            if (best < (1 << 20)) nearest2[c] += best;
          }
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
        if (ng > 0 && nn > 0) {
          const double dy = gt_y[c] / ng - noisy_y[c] / nn;
          const double dx = gt_x[c] / ng - noisy_x[c] / nn;
          layout_.displacement2[pi][pj][c] = static_cast<float>(
              0.5 * (nearest2[c] / (ng + nn) + dy * dy + dx * dx) / (s * s));
        }
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
  // The sums and each image's largest sample per cell and colour (clipping
  // is a comparison per cell and colour rather than per pixel). The first
  // sample of a colour and column parity writes them, the others add to
  // them, so the rows are not cleared first (that was more memory traffic
  // than reading the pixels); a colour a parity never sees is cleared below.
  // With two parities (X-Trans) the sums and peaks go to scratch laid out
  // parity by parity, `half` apart: the loops then load with a stride but
  // store contiguously (stores interleaved with a stride of two do not
  // vectorise), and one pass per colour interleaves them at the end.
  const int half = R == 1 ? cols : (cols + 1) / 2;
  for (int c = 0; c < kCellColors; ++c) {
    row.gt[c].resize(cols);
    row.noisy[c].resize(cols);
    row.gt_peak[c].resize(static_cast<std::size_t>(R) * half);
    row.noisy_peak[c].resize(static_cast<std::size_t>(R) * half);
    if constexpr (R == 2) {
      row.gt_sum[c].resize(static_cast<std::size_t>(R) * half);
      row.noisy_sum[c].resize(static_cast<std::size_t>(R) * half);
    }
  }
  auto gt_sums = [&](int c) {
    return R == 1 ? row.gt[c].data() : row.gt_sum[c].data();
  };
  auto noisy_sums = [&](int c) {
    return R == 1 ? row.noisy[c].data() : row.noisy_sum[c].data();
  };
  // Cells of parity q in this row: j = m * R + q for m < count(q).
  auto count = [&](int q) { return R == 1 ? cols : (cols - q + 1) / 2; };
  bool gt_seen[kCellColors][R] = {};
  bool noisy_seen[kCellColors][R] = {};
  // Pixels right of the last full cell are in no cell but still count for
  // the rows' clipping.
  bool gt_clipped_outside = false;
  bool noisy_clipped_outside = false;
  for (int ky = 0; ky < S; ++ky) {
    const int y = i * S + ky;
    const float* g = gt_.row(y);
    const float* n = noisy_.row(y);
    for (int q = 0; q < R; ++q) {
      const int m_end = count(q);
      for (int kx = 0; kx < S; ++kx) {
        const int x = q * S + kx;
        const int gc = ColorIndex(gt_cfa_, y, x);
        const int nc = ColorIndex(noisy_cfa_, y, x);
        // Pixel of cell m * R + q: x + m * P.
        const float* __restrict gx = g + x;
        const float* __restrict nx = n + x;
        float* __restrict gd = gt_sums(gc) + q * half;
        float* __restrict nd = noisy_sums(nc) + q * half;
        float* __restrict gp = row.gt_peak[gc].data() + q * half;
        float* __restrict np = row.noisy_peak[nc].data() + q * half;
        if (gt_seen[gc][q]) {
          for (int m = 0; m < m_end; ++m) {
            const float v = gx[m * P];
            gd[m] += v;
            gp[m] = std::max(gp[m], v);
          }
        } else {
          gt_seen[gc][q] = true;
          for (int m = 0; m < m_end; ++m) {
            const float v = gx[m * P];
            gd[m] = v;
            gp[m] = v;
          }
        }
        if (noisy_seen[nc][q]) {
          for (int m = 0; m < m_end; ++m) {
            const float v = nx[m * P];
            nd[m] += v;
            np[m] = std::max(np[m], v);
          }
        } else {
          noisy_seen[nc][q] = true;
          for (int m = 0; m < m_end; ++m) {
            const float v = nx[m * P];
            nd[m] = v;
            np[m] = v;
          }
        }
      }
    }
    for (int x = cols * S; x < gt_.width; ++x) {
      gt_clipped_outside |= g[x] >= gt_lb_;
      noisy_clipped_outside |= n[x] >= noisy_lb_;
    }
  }
  constexpr float kNone = -std::numeric_limits<float>::infinity();
  for (int c = 0; c < kCellColors; ++c) {
    for (int q = 0; q < R; ++q) {
      if (!gt_seen[c][q]) {
        std::fill_n(gt_sums(c) + q * half, count(q), 0.0f);
        std::fill_n(row.gt_peak[c].data() + q * half, count(q), kNone);
      }
      if (!noisy_seen[c][q]) {
        std::fill_n(noisy_sums(c) + q * half, count(q), 0.0f);
        std::fill_n(row.noisy_peak[c].data() + q * half, count(q), kNone);
      }
    }
  }
  row.gt_clipped.assign(cols, 0);
  row.noisy_clipped.assign(cols, 0);
  std::uint8_t* __restrict gt_bits = row.gt_clipped.data();
  std::uint8_t* __restrict noisy_bits = row.noisy_clipped.data();
  // Locals, not members: stores through the bit arrays could alias a
  // member, and the reloads that forces keep these loops from vectorising.
  const float gt_lb = gt_lb_;
  const float noisy_lb = noisy_lb_;
  for (int c = 0; c < kCellColors; ++c) {
    const float* __restrict gp = row.gt_peak[c].data();
    const float* __restrict np = row.noisy_peak[c].data();
    const std::uint8_t bit = static_cast<std::uint8_t>(1u << c);
    if constexpr (R == 1) {
      for (int j = 0; j < cols; ++j) {
        gt_bits[j] |= gp[j] >= gt_lb ? bit : 0;
        noisy_bits[j] |= np[j] >= noisy_lb ? bit : 0;
      }
    } else {
      const float* __restrict gp1 = gp + half;
      const float* __restrict np1 = np + half;
      const int pairs = cols / 2;
      for (int m = 0; m < pairs; ++m) {
        gt_bits[2 * m] |= gp[m] >= gt_lb ? bit : 0;
        gt_bits[2 * m + 1] |= gp1[m] >= gt_lb ? bit : 0;
        noisy_bits[2 * m] |= np[m] >= noisy_lb ? bit : 0;
        noisy_bits[2 * m + 1] |= np1[m] >= noisy_lb ? bit : 0;
      }
      if (cols % 2 != 0) {
        gt_bits[cols - 1] |= gp[pairs] >= gt_lb ? bit : 0;
        noisy_bits[cols - 1] |= np[pairs] >= noisy_lb ? bit : 0;
      }
    }
  }
  if (clipped_rows != nullptr) {
    // At cell-row granularity: the rows are then searched pixel by pixel.
    int gt_clipped = 0;
    int noisy_clipped = 0;
    for (int j = 0; j < cols; ++j) {
      gt_clipped += gt_bits[j] != 0;
      noisy_clipped += noisy_bits[j] != 0;
    }
    const bool shows =
        gt_clipped > 0 || gt_clipped_outside ||
        (mask_noisy_clipped_ && (noisy_clipped > 0 || noisy_clipped_outside));
    std::fill(clipped_rows + i * S, clipped_rows + (i + 1) * S, shows);
  }
  for (int c = 0; c < kCellColors; ++c) {
    float* __restrict gm = row.gt[c].data();
    float* __restrict nm = row.noisy[c].data();
    if constexpr (R == 1) {
      const float gi = gt_inv_[i % R][0][c];
      const float ni = noisy_inv_[i % R][0][c];
      for (int j = 0; j < cols; ++j) {
        gm[j] *= gi;
        nm[j] *= ni;
      }
    } else {
      // The means, interleaving the two parities' sums.
      const float gi0 = gt_inv_[i % R][0][c];
      const float gi1 = gt_inv_[i % R][1][c];
      const float ni0 = noisy_inv_[i % R][0][c];
      const float ni1 = noisy_inv_[i % R][1][c];
      const float* __restrict gs0 = row.gt_sum[c].data();
      const float* __restrict gs1 = gs0 + half;
      const float* __restrict ns0 = row.noisy_sum[c].data();
      const float* __restrict ns1 = ns0 + half;
      const int pairs = cols / 2;
      for (int m = 0; m < pairs; ++m) {
        gm[2 * m] = gs0[m] * gi0;
        gm[2 * m + 1] = gs1[m] * gi1;
        nm[2 * m] = ns0[m] * ni0;
        nm[2 * m + 1] = ns1[m] * ni1;
      }
      if (cols % 2 != 0) {
        gm[cols - 1] = gs0[pairs] * gi0;
        nm[cols - 1] = ns0[pairs] * ni0;
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
