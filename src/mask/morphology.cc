#include "mask/morphology.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "common/vector_clones.h"

namespace dsb {

namespace {

// Up to this radius a window is reduced directly, with AND or OR over its
// shifted rows (2r+1 byte operations per pixel, 32 pixels to a vector
// instruction); beyond it, with running counts (a handful of scalar
// operations per pixel whatever the radius). Masks use radii 1 to 8.
constexpr int kDirectRadius = 16;

// dst = dst AND src (erosion) or dst OR src (dilation), element-wise.
inline void Combine(std::uint8_t* dst, const std::uint8_t* src, int n,
                    bool erode) {
  if (erode) {
    for (int x = 0; x < n; ++x) dst[x] &= src[x];
  } else {
    for (int x = 0; x < n; ++x) dst[x] |= src[x];
  }
}

// One horizontal pass of a min/max filter on a 0/1 plane. Outside pixels
// count as set for erosion and unset for dilation.
DSB_VECTOR_CLONES void RowPass(PlaneView<std::uint8_t> plane, int radius,
                               bool erode) {
  const int w = plane.width;
  std::vector<std::uint8_t> line(static_cast<std::size_t>(w) + 2 * radius);
  const std::uint8_t outside = erode ? 1 : 0;
  const int window = 2 * radius + 1;
  const int need = erode ? window : 1;
  for (int y = 0; y < plane.height; ++y) {
    std::uint8_t* row = plane.row(y);
    // An empty row stays empty under both (masks are mostly empty).
    if (std::memchr(row, 1, w) == nullptr) continue;
    std::fill(line.begin(), line.begin() + radius, outside);
    std::copy(row, row + w, line.begin() + radius);
    std::fill(line.begin() + radius + w, line.end(), outside);
    if (radius <= kDirectRadius) {
      std::copy(line.begin(), line.begin() + w, row);
      for (int k = 1; k < window; ++k) Combine(row, line.data() + k, w, erode);
      continue;
    }
    // `count` holds how many set pixels lie in the window; the output is
    // set when it reaches `need`.
    int count = 0;
    for (int i = 0; i < window - 1; ++i) count += line[i];
    for (int x = 0; x < w; ++x) {
      count += line[x + window - 1];
      row[x] = count >= need ? 1 : 0;
      count -= line[x];
    }
  }
}

// The vertical pass. Rows are overwritten as we go, so the last `window`
// input rows are kept in a ring.
DSB_VECTOR_CLONES void ColumnPass(PlaneView<std::uint8_t> plane, int radius,
                                  bool erode) {
  const int w = plane.width;
  const int h = plane.height;
  const int window = 2 * radius + 1;
  const int need = erode ? window : 1;
  const std::uint8_t outside = erode ? 1 : 0;
  std::vector<std::uint8_t> ring(static_cast<std::size_t>(w) * window);
  auto slot = [&](int y) {
    return ring.data() +
           static_cast<std::size_t>((y % window + window) % window) * w;
  };
  auto load = [&](int y) {
    std::uint8_t* s = slot(y);
    if (y < 0 || y >= h) {
      std::fill(s, s + w, outside);
    } else {
      std::copy(plane.row(y), plane.row(y) + w, s);
    }
    return s;
  };
  if (radius <= kDirectRadius) {
    // Most rows of a mask's flags are empty: an empty row adds nothing to a
    // dilation and empties an erosion's windows, so it is neither copied nor
    // combined. Rows outside count as empty for dilation and as full (the
    // identity of AND) for erosion.
    std::vector<std::uint8_t> empty(h);
    for (int y = 0; y < h; ++y) {
      empty[y] = std::memchr(plane.row(y), 1, w) == nullptr;
    }
    auto keep = [&](int y) {
      if (y >= 0 && y < h && !empty[y]) {
        std::copy(plane.row(y), plane.row(y) + w, slot(y));
      }
    };
    for (int y = -radius; y < radius; ++y) keep(y);
    for (int y = 0; y < h; ++y) {
      // The ring holds the non-empty rows of y - radius .. y + radius once
      // this is kept.
      keep(y + radius);
      const int v0 = std::max(y - radius, 0);
      const int v1 = std::min(y + radius, h - 1);
      std::uint8_t* out = plane.row(y);
      bool all = true;
      bool any = false;
      for (int v = v0; v <= v1; ++v) {
        all &= !empty[v];
        any |= !empty[v];
      }
      if (erode ? !all : !any) {
        // Empty: already so where row y was.
        if (!empty[y]) std::fill(out, out + w, 0);
        continue;
      }
      bool first = true;
      for (int v = v0; v <= v1; ++v) {
        if (empty[v]) continue;
        if (first) {
          std::copy(slot(v), slot(v) + w, out);
          first = false;
        } else {
          Combine(out, slot(v), w, erode);
        }
      }
    }
    return;
  }
  std::vector<std::uint16_t> count(w, 0);
  for (int y = -radius; y < radius; ++y) {
    const std::uint8_t* s = load(y);
    for (int x = 0; x < w; ++x) count[x] += s[x];
  }
  for (int y = 0; y < h; ++y) {
    // The slot of y + radius held row y - radius - 1, already subtracted.
    const std::uint8_t* enter = load(y + radius);
    const std::uint8_t* leave = slot(y - radius);
    std::uint8_t* out = plane.row(y);
    for (int x = 0; x < w; ++x) {
      const int c = count[x] + enter[x];
      out[x] = c >= need ? 1 : 0;
      count[x] = static_cast<std::uint16_t>(c - leave[x]);
    }
  }
}

void Filter(PlaneView<std::uint8_t> plane, int radius, bool erode) {
  if (radius <= 0 || plane.empty()) return;
  RowPass(plane, radius, erode);
  ColumnPass(plane, radius, erode);
}

}  // namespace

void DilateBinary(PlaneView<std::uint8_t> plane, int radius) {
  Filter(plane, radius, false);
}

void ErodeBinary(PlaneView<std::uint8_t> plane, int radius) {
  Filter(plane, radius, true);
}

void OpenBinary(PlaneView<std::uint8_t> plane, int radius) {
  ErodeBinary(plane, radius);
  DilateBinary(plane, radius);
}

void CloseBinary(PlaneView<std::uint8_t> plane, int radius) {
  DilateBinary(plane, radius);
  ErodeBinary(plane, radius);
}

DSB_VECTOR_CLONES void WindowSums(
    PlaneView<const float> values, PlaneView<const std::uint8_t> weights,
    int radius,
    const std::function<void(int y, const float* sums, const float* counts)>&
        row_out) {
  const int w = values.width;
  const int h = values.height;
  if (w <= 0 || h <= 0) return;
  // Column sums over rows [y - r, y + r], kept running in double (and
  // int) so that adding and removing rows does not drift, then a
  // horizontal window.
  std::vector<double> col_sum(w, 0.0);
  std::vector<int> col_count(w, 0);
  std::vector<float> sums(w);
  std::vector<float> counts(w);
  auto add_row = [&](int y) {
    const float* v = values.row(y);
    const std::uint8_t* m = weights.row(y);
    for (int x = 0; x < w; ++x) {
      col_sum[x] += m[x] ? static_cast<double>(v[x]) : 0.0;
      col_count[x] += m[x];
    }
  };
  auto remove_row = [&](int y) {
    const float* v = values.row(y);
    const std::uint8_t* m = weights.row(y);
    for (int x = 0; x < w; ++x) {
      col_sum[x] -= m[x] ? static_cast<double>(v[x]) : 0.0;
      col_count[x] -= m[x];
    }
  };
  // Small windows: shifted copies of the column sums added directly
  // vectorise (zero beyond both ends: windows are clipped at the borders).
  // Large ones: prefix sums, one long dependency chain but O(1) per pixel.
  const bool direct = radius <= kDirectRadius;
  std::vector<float> padded_sum(direct ? w + 2 * radius : 0, 0.0f);
  std::vector<float> padded_count(direct ? w + 2 * radius : 0, 0.0f);
  std::vector<double> prefix_sum(direct ? 0 : w + 1, 0.0);
  std::vector<int> prefix_count(direct ? 0 : w + 1, 0);
  for (int y = 0; y < std::min(radius, h); ++y) add_row(y);
  // The direct path moves the column sums on by a row in one pass: the row
  // that left the window after the previous output is taken out, the one
  // that enters is added (in that order, as two passes would), and the
  // sums are copied out for the horizontal window.
  auto slide = [&](int leaving, int entering) {
    const float* lv = leaving >= 0 ? values.row(leaving) : nullptr;
    const std::uint8_t* lm = leaving >= 0 ? weights.row(leaving) : nullptr;
    const float* ev = entering >= 0 ? values.row(entering) : nullptr;
    const std::uint8_t* em = entering >= 0 ? weights.row(entering) : nullptr;
    float* ps = padded_sum.data() + radius;
    float* pc = padded_count.data() + radius;
    if (lv != nullptr && ev != nullptr) {
      for (int x = 0; x < w; ++x) {
        double c = col_sum[x];
        c -= lm[x] ? static_cast<double>(lv[x]) : 0.0;
        c += em[x] ? static_cast<double>(ev[x]) : 0.0;
        const int n = col_count[x] - lm[x] + em[x];
        col_sum[x] = c;
        col_count[x] = n;
        ps[x] = static_cast<float>(c);
        pc[x] = static_cast<float>(n);
      }
      return;
    }
    if (lv != nullptr) remove_row(leaving);
    if (ev != nullptr) add_row(entering);
    for (int x = 0; x < w; ++x) {
      ps[x] = static_cast<float>(col_sum[x]);
      pc[x] = static_cast<float>(col_count[x]);
    }
  };
  for (int y = 0; y < h; ++y) {
    if (direct) {
      slide(y - 1 - radius, y + radius < h ? y + radius : -1);
      std::fill(sums.begin(), sums.end(), 0.0f);
      std::fill(counts.begin(), counts.end(), 0.0f);
      for (int k = 0; k <= 2 * radius; ++k) {
        const float* ps = padded_sum.data() + k;
        const float* pc = padded_count.data() + k;
        for (int x = 0; x < w; ++x) {
          sums[x] += ps[x];
          counts[x] += pc[x];
        }
      }
    } else {
      if (y + radius < h) add_row(y + radius);
      for (int x = 0; x < w; ++x) {
        prefix_sum[x + 1] = prefix_sum[x] + col_sum[x];
        prefix_count[x + 1] = prefix_count[x] + col_count[x];
      }
      for (int x = 0; x < w; ++x) {
        const int lo = std::max(x - radius, 0);
        const int hi = std::min(x + radius + 1, w);
        sums[x] = static_cast<float>(prefix_sum[hi] - prefix_sum[lo]);
        counts[x] = static_cast<float>(prefix_count[hi] - prefix_count[lo]);
      }
    }
    row_out(y, sums.data(), counts.data());
    if (!direct && y - radius >= 0) remove_row(y - radius);
  }
}

}  // namespace dsb
