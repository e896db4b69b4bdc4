#include "mask/morphology.h"

#include <algorithm>
#include <cstring>
#include <vector>

namespace dsb {

namespace {

// One horizontal pass of a min/max filter on a 0/1 plane: `count` holds
// how many set pixels lie in the window; the output is set when it reaches
// `need` (1 for dilation, the window size for erosion). Outside pixels
// count as set for erosion and unset for dilation.
void RowPass(PlaneView<std::uint8_t> plane, int radius, bool erode) {
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
    int count = 0;
    for (int i = 0; i < window - 1; ++i) count += line[i];
    for (int x = 0; x < w; ++x) {
      count += line[x + window - 1];
      row[x] = count >= need ? 1 : 0;
      count -= line[x];
    }
  }
}

// The vertical pass, with per-column counts. Rows are overwritten as we
// go, so the last `window` input rows are kept in a ring.
void ColumnPass(PlaneView<std::uint8_t> plane, int radius, bool erode) {
  const int w = plane.width;
  const int h = plane.height;
  const int window = 2 * radius + 1;
  const int need = erode ? window : 1;
  const std::uint8_t outside = erode ? 1 : 0;
  std::vector<std::uint16_t> count(w, 0);
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

void WindowSums(PlaneView<const float> values,
                PlaneView<const std::uint8_t> weights, int radius,
                const std::function<void(int y, const float* sums,
                                         const float* counts)>& row_out) {
  const int w = values.width;
  const int h = values.height;
  if (w <= 0 || h <= 0) return;
  // Column sums over rows [y - r, y + r] in double, so that adding and
  // removing rows does not drift; then a horizontal window by prefix sums.
  std::vector<double> col_sum(w, 0.0);
  std::vector<int> col_count(w, 0);
  std::vector<double> prefix_sum(w + 1, 0.0);
  std::vector<int> prefix_count(w + 1, 0);
  std::vector<float> sums(w);
  std::vector<float> counts(w);
  auto add_row = [&](int y, int sign) {
    const float* v = values.row(y);
    const std::uint8_t* m = weights.row(y);
    for (int x = 0; x < w; ++x) {
      col_sum[x] += m[x] ? sign * static_cast<double>(v[x]) : 0.0;
      col_count[x] += sign * m[x];
    }
  };
  for (int y = 0; y < std::min(radius, h); ++y) add_row(y, +1);
  for (int y = 0; y < h; ++y) {
    if (y + radius < h) add_row(y + radius, +1);
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
    row_out(y, sums.data(), counts.data());
    if (y - radius >= 0) add_row(y - radius, -1);
  }
}

}  // namespace dsb
