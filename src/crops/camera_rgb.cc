#include "crops/camera_rgb.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "common/vector_clones.h"
#include "crops/opencv_calls.h"

namespace dsb {

namespace {

// Rows demosaiced above and below a band so that its own rows do not see
// OpenCV's image-border handling (its edge-aware kernel reaches 2 rows; 0 fails
// the band test, 2 passes it; 4 for safety).
constexpr int kBandMargin = 4;
// Around a tile (DemosaicTile): the kernel's reach, tested by
// TilesEqualTheWholeFrame (0 fails it, 1 passes; 2 leaves headroom).
constexpr int kTileMargin = 2;

// raw.demosaic's scaling into uint16, in float32 in its order: += offset,
// /= max, *= 65535, astype(uint16) (truncation). Values outside the scale's
// range (a scale from a sample of the frame's rows, RawnindFigures) are
// held at 0 and 65535 (NaN at 65535); inside it this is raw.demosaic's
// arithmetic unchanged. (The lower bound on the truncated integer: one
// vector maximum.)
inline std::uint16_t ToMono(float in, const DemosaicScale& scale) {
  float v = in + scale.black_offset;
  v = v / scale.max_value;
  v = v * 65535.0f;
  v = v < 65535.0f ? v : 65535.0f;
  const std::int32_t i = static_cast<std::int32_t>(v);
  return static_cast<std::uint16_t>(i > 0 ? i : 0);
}

// astype(float32) / 65535.0 * max_value - black_offset, as raw.demosaic.
inline float FromColour(std::uint16_t v, const DemosaicScale& scale) {
  float f = static_cast<float>(v) / 65535.0f;
  f = f * scale.max_value;
  return f - scale.black_offset;
}

// Eight lanes of int32 / float as GCC vectors (one AVX2 register
// each in the DSB_VECTOR_CLONES clones). Integer lanes compute OpenCV's
// integer formulas exactly; float lanes do FromColour's three IEEE
// operations in its order (-ffp-contract=off), so each lane gives the
// scalar formula's bits.
using I8 = std::int32_t __attribute__((vector_size(32)));
using F8 = float __attribute__((vector_size(32)));

// Always inlined: a 32-byte vector passed by value has another ABI in the
// AVX2 clones (-Wpsabi), so no out-of-line copy may be shared by both.
[[gnu::always_inline]] inline I8 Load8(const std::int32_t* p) {
  I8 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

[[gnu::always_inline]] inline F8 FromColour8(I8 v, const DemosaicScale& s) {
  F8 f = __builtin_convertvector(v, F8) / 65535.0f;
  f = f * s.max_value;
  return f - s.black_offset;
}

// OpenCV's edge-aware demosaic (COLOR_BayerRGGB2RGB_EA, 16-bit) at one
// interior pixel of an RGGB mosaic, in its integer formulas: `p` points at
// the pixel, `stride` to the next row; the colour at the site itself, the
// rounded mean of its horizontal, vertical and diagonal neighbours, and
// green from the pair (horizontal or vertical) that differs less, the
// horizontal one on a tie.
inline void EdgeAwarePixel(const std::int32_t* p, std::ptrdiff_t stride,
                           bool r_row, bool even_col, int out[3]) {
  const int c = p[0];
  const int l = p[-1], r = p[1], a = p[-stride], b = p[stride];
  const int h = (l + r + 1) >> 1, v = (a + b + 1) >> 1;
  const int d =
      (p[-stride - 1] + p[-stride + 1] + p[stride - 1] + p[stride + 1] + 2) >>
      2;
  const int g = std::abs(l - r) > std::abs(b - a) ? v : h;
  if (r_row) {
    out[0] = even_col ? c : h;
    out[1] = even_col ? g : c;
    out[2] = even_col ? d : v;
  } else {
    out[0] = even_col ? v : d;
    out[1] = even_col ? c : g;
    out[2] = even_col ? h : c;
  }
}

// One row of EdgeAwareRows (inlined into it: a call per row cost a tenth
// of a 16 x 32 tile's demosaic in set-up alone).
[[gnu::always_inline]] inline void EdgeAwareRowBody(
    const std::int32_t* row, std::ptrdiff_t stride, int count, bool r_row,
    bool first_even, I8 even, const DemosaicScale& scale, float* out) {
  int i = 0;
  for (; i + 8 <= count; i += 8) {
    const std::int32_t* p = row + i;
    const I8 c = Load8(p), l = Load8(p - 1), r = Load8(p + 1);
    const I8 a = Load8(p - stride), b = Load8(p + stride);
    const I8 h = (l + r + 1) >> 1, v = (a + b + 1) >> 1;
    const I8 d = (Load8(p - stride - 1) + Load8(p - stride + 1) +
                  Load8(p + stride - 1) + Load8(p + stride + 1) + 2) >>
                 2;
    const I8 lr = l - r, ba = b - a;
    const I8 abs_lr = lr < 0 ? -lr : lr, abs_ba = ba < 0 ? -ba : ba;
    const I8 g = abs_lr > abs_ba ? v : h;
    I8 red, green, blue;
    if (r_row) {
      red = even ? c : h;
      green = even ? g : c;
      blue = even ? d : v;
    } else {
      red = even ? v : d;
      green = even ? c : g;
      blue = even ? h : c;
    }
    const F8 rf = FromColour8(red, scale), gf = FromColour8(green, scale),
             bf = FromColour8(blue, scale);
    // Interleaved R, G, B of the 8 pixels: three vectors of two shuffles
    // each.
    const F8 rg0 = __builtin_shuffle(rf, gf, I8{0, 8, 0, 1, 9, 0, 2, 10});
    const F8 o0 = __builtin_shuffle(rg0, bf, I8{0, 1, 8, 3, 4, 9, 6, 7});
    const F8 rg1 = __builtin_shuffle(rf, gf, I8{0, 3, 11, 0, 4, 12, 0, 5});
    const F8 o1 = __builtin_shuffle(rg1, bf, I8{10, 1, 2, 11, 4, 5, 12, 7});
    const F8 rg2 = __builtin_shuffle(rf, gf, I8{13, 0, 6, 14, 0, 7, 15, 0});
    const F8 o2 = __builtin_shuffle(rg2, bf, I8{0, 13, 2, 3, 14, 5, 6, 15});
    float* o = out + static_cast<std::ptrdiff_t>(i) * 3;
    std::memcpy(o, &o0, sizeof o0);
    std::memcpy(o + 8, &o1, sizeof o1);
    std::memcpy(o + 16, &o2, sizeof o2);
  }
  for (; i < count; ++i) {
    int rgb[3];
    EdgeAwarePixel(row + i, stride, r_row, first_even == (i % 2 == 0), rgb);
    for (int k = 0; k < 3; ++k) {
      out[3 * i + k] = FromColour(static_cast<std::uint16_t>(rgb[k]), scale);
    }
  }
}

}  // namespace

namespace internal {

DSB_VECTOR_CLONES void EdgeAwareRows(const std::int32_t* first_row,
                                     std::ptrdiff_t stride, int rows, int count,
                                     bool first_r_row, bool first_even,
                                     DemosaicScale scale, float* out) {
  // Lanes at even columns of the frame.
  const I8 even = first_even ? I8{-1, 0, -1, 0, -1, 0, -1, 0}
                             : I8{0, -1, 0, -1, 0, -1, 0, -1};
  for (int r = 0; r < rows; ++r) {
    EdgeAwareRowBody(first_row + r * stride, stride, count,
                     first_r_row == (r % 2 == 0), first_even, even, scale,
                     out + static_cast<std::ptrdiff_t>(r) * count * 3);
  }
}

// Compiled for AVX2 too (common/vector_clones.h): the library builds with
// -ffp-contract=off, and IEEE addition, division, multiplication and the
// conversions round alike at any width, so both clones give the scalar
// formulas' values (tested).
DSB_VECTOR_CLONES void ToMonoRow(const float* in, int count,
                                 DemosaicScale scale, std::uint16_t* out) {
  for (int i = 0; i < count; ++i) out[i] = ToMono(in[i], scale);
}

DSB_VECTOR_CLONES void ToWideMonoRows(const float* in, std::ptrdiff_t in_stride,
                                      int rows, int count, DemosaicScale scale,
                                      std::int32_t* out) {
  const F8 offset = F8{} + scale.black_offset, max = F8{} + scale.max_value;
  const F8 top = F8{} + 65535.0f;
  for (int r = 0; r < rows; ++r, in += in_stride, out += count) {
    if (count < 8) {
      for (int i = 0; i < count; ++i) out[i] = ToMono(in[i], scale);
      continue;
    }
    // Whole vectors, the last one ending at the row's end (overlapping the
    // one before it: each value is its own formula, so the overlap writes
    // the same values again instead of a scalar tail).
    for (int i = 0;; i += 8) {
      if (i > count - 8) i = count - 8;
      F8 v;
      std::memcpy(&v, in + i, sizeof v);
      v = v + offset;
      v = v / max;
      v = v * top;
      v = v < top ? v : top;                  // NaN too
      I8 m = __builtin_convertvector(v, I8);  // truncation, as the cast
      m = m > 0 ? m : 0;
      std::memcpy(out + i, &m, sizeof m);
      if (i == count - 8) break;
    }
  }
}

DSB_VECTOR_CLONES void FromColourRow(const std::uint16_t* in, int count,
                                     DemosaicScale scale, float* out) {
  for (int i = 0; i < count; ++i) out[i] = FromColour(in[i], scale);
}

}  // namespace internal

DemosaicScale DemosaicScaleOf(PlaneView<const float> frame) {
  float lo = 0, hi = 0;
  if (!frame.empty()) lo = hi = frame.row(0)[0];
  for (int y = 0; y < frame.height; ++y) {
    const float* row = frame.row(y);
    float row_lo = lo, row_hi = hi;
    for (int x = 0; x < frame.width; ++x) {
      row_lo = row[x] < row_lo ? row[x] : row_lo;
      row_hi = row[x] > row_hi ? row[x] : row_hi;
    }
    lo = row_lo;
    hi = row_hi;
  }
  DemosaicScale scale;
  // raw.demosaic: black_offset = 0 if min >= 0 else -min; the maximum is
  // taken after adding it.
  scale.black_offset = lo >= 0.0f ? 0.0f : -lo;
  const float shifted_max = hi + scale.black_offset;
  scale.max_value = shifted_max <= 1.0f ? 1.0f : shifted_max;
  return scale;
}

void CameraRgbBand::Demosaic(PlaneView<const float> frame,
                             const DemosaicScale& scale, int y0, int y1) {
  scale_ = scale;
  width_ = frame.width;
  // Even bounds keep the band's first row an R row.
  top_ = std::max(0, (y0 - kBandMargin) & ~1);
  const int bottom = std::min(frame.height, y1 + kBandMargin);
  const int rows = bottom - top_;
  mono_.resize(static_cast<std::size_t>(rows) * width_);
  for (int y = top_; y < bottom; ++y) {
    const float* in = frame.row(y);
    internal::ToMonoRow(
        in, width_, scale,
        mono_.data() + static_cast<std::size_t>(y - top_) * width_);
  }
  colour_.resize(mono_.size() * 3);
  DemosaicRggbEdgeAware(mono_.data(), rows, width_, colour_.data());
}

double CameraRgbBand::Sum(int from, int to) const {
  double sum = 0;
  for (int y = from; y < to; ++y) {
    const std::uint16_t* in =
        colour_.data() + static_cast<std::size_t>(y - top_) * width_ * 3;
    // Float partial sums per 8 lanes (vectorised), double per row.
    float lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    const int n = width_ * 3;
    int i = 0;
    for (; i + 8 <= n; i += 8) {
      for (int k = 0; k < 8; ++k) lanes[k] += Value(in[i + k]);
    }
    double row_sum = 0;
    for (; i < n; ++i) row_sum += Value(in[i]);
    for (float lane : lanes) row_sum += lane;
    sum += row_sum;
  }
  return sum;
}

void CameraRgbBand::Read(int y, int x, int h, int w,
                         std::vector<float>& rgb) const {
  rgb.resize(static_cast<std::size_t>(h) * w * 3);
  for (int r = 0; r < h; ++r) {
    const std::uint16_t* in =
        colour_.data() +
        (static_cast<std::size_t>(y + r - top_) * width_ + x) * 3;
    internal::FromColourRow(in, w * 3, scale_,
                            rgb.data() + static_cast<std::size_t>(r) * w * 3);
  }
}

void DemosaicTile(PlaneView<const float> frame, const DemosaicScale& scale,
                  int y, int x, int h, int w, std::vector<float>& rgb,
                  TileScratch& scratch) {
  rgb.resize(static_cast<std::size_t>(h) * w * 3);
  DemosaicTile(frame, scale, y, x, h, w, rgb.data(), scratch);
}

void DemosaicTile(PlaneView<const float> frame, const DemosaicScale& scale,
                  int y, int x, int h, int w, float* rgb,
                  TileScratch& scratch) {
  if (y >= 1 && x >= 1 && y + h <= frame.height - 1 &&
      x + w <= frame.width - 1) {
    // Inside the frame's interior every pixel is OpenCV's interior formula
    // of its 3 x 3 neighbourhood: only the tile and one pixel around it
    // are converted, and the demosaic, its conversion back and the
    // interleaving are one pass (EdgeAwareRow), without OpenCV's per-call
    // set-up, which cost as much as the arithmetic on 16 x 32 tiles.
    const int rows = h + 2, cols = w + 2;
    std::vector<std::int32_t>& wide = scratch.wide;
    wide.resize(static_cast<std::size_t>(rows) * cols);
    internal::ToWideMonoRows(frame.row(y - 1) + x - 1, frame.stride, rows, cols,
                             scale, wide.data());
    internal::EdgeAwareRows(wide.data() + cols + 1, cols, h, w, y % 2 == 0,
                            x % 2 == 0, scale, rgb);
    return;
  }
  // At the frame's edges OpenCV's border handling applies: the tile and a
  // margin go through OpenCV itself.
  // Even starts keep the tile's first pixel an R site of the RGGB frame.
  const int top = std::max(0, (y - kTileMargin) & ~1);
  const int left = std::max(0, (x - kTileMargin) & ~1);
  const int bottom = std::min(frame.height, y + h + kTileMargin);
  const int right = std::min(frame.width, x + w + kTileMargin);
  const int rows = bottom - top, cols = right - left;
  std::vector<std::uint16_t>& mono = scratch.mono;
  std::vector<std::uint16_t>& colour = scratch.colour;
  mono.resize(static_cast<std::size_t>(rows) * cols);
  for (int r = 0; r < rows; ++r) {
    const float* in = frame.row(top + r) + left;
    internal::ToMonoRow(in, cols, scale,
                        mono.data() + static_cast<std::size_t>(r) * cols);
  }
  colour.resize(mono.size() * 3);
  DemosaicRggbEdgeAware(mono.data(), rows, cols, colour.data());
  for (int r = 0; r < h; ++r) {
    const std::uint16_t* in =
        colour.data() +
        (static_cast<std::size_t>(y - top + r) * cols + (x - left)) * 3;
    internal::FromColourRow(in, w * 3, scale,
                            rgb + static_cast<std::size_t>(r) * w * 3);
  }
}

Result<Matrix3> CameraToLinRec2020(
    const std::array<std::array<float, 3>, 4>& cam_xyz) {
  // raw.get_XYZ_to_profiledRGB_matrix("lin_rec2020").
  static const double kXyzToRec2020[3][3] = {
      {1.71666343, -0.35567332, -0.25336809},
      {-0.66667384, 1.61645574, 0.0157683},
      {0.01764248, -0.04277698, 0.94224328}};
  const auto& m = cam_xyz;
  const double det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) -
                     m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0]) +
                     m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
  if (!(std::abs(det) > 1e-12)) {
    return Status::Unsupported(
        "the file has no usable colour matrix (rgb_xyz_matrix is singular), "
        "so it cannot be converted to lin_rec2020");
  }
  double inv[3][3];
  for (int r = 0; r < 3; ++r) {
    for (int c = 0; c < 3; ++c) {
      // Cofactor of (c, r) over the determinant.
      const int r1 = (c + 1) % 3, r2 = (c + 2) % 3;
      const int c1 = (r + 1) % 3, c2 = (r + 2) % 3;
      inv[r][c] = (m[r1][c1] * m[r2][c2] - m[r1][c2] * m[r2][c1]) / det;
    }
  }
  Matrix3 out{};
  for (int r = 0; r < 3; ++r) {
    for (int c = 0; c < 3; ++c) {
      double v = 0;
      for (int k = 0; k < 3; ++k) v += kXyzToRec2020[r][k] * inv[k][c];
      out[r][c] = static_cast<float>(v);
    }
  }
  return out;
}

void ApplyMatrix(const Matrix3& m, std::vector<float>& rgb) {
  for (std::size_t i = 0; i + 2 < rgb.size(); i += 3) {
    const float r = rgb[i], g = rgb[i + 1], b = rgb[i + 2];
    rgb[i] = m[0][0] * r + m[0][1] * g + m[0][2] * b;
    rgb[i + 1] = m[1][0] * r + m[1][1] * g + m[1][2] * b;
    rgb[i + 2] = m[2][0] * r + m[2][1] * g + m[2][2] * b;
  }
}

}  // namespace dsb
