// RawNIND's demosaiced camera RGB and its lin_rec2020 conversion, computed
// the way its raw.demosaic and camRGB_to_profiledRGB_img compute them, band
// by band so a frame never needs more than its own planes.
//
// RawNIND scales the RGGB frame into uint16 (adding -min when the minimum is
// negative and dividing by the maximum when it exceeds 1, then x 65535,
// truncated), runs OpenCV's edge-aware Bayer demosaic
// (COLOR_BayerRGGB2RGB_EA) and scales back. We do the same arithmetic in
// the same float32 order, with OpenCV's C++ library, on bands of rows with a
// margin above and below, so each band's rows come out exactly as a
// whole-frame demosaic gives them (tested). Tiles inside the frame
// (DemosaicTile) take our own vector copy of OpenCV's edge-aware integer
// formulas instead (internal::EdgeAwareRows, tested bit for bit against
// OpenCV): on 16 x 32 tiles OpenCV's per-call set-up and scalar 16-bit loop
// cost more than the arithmetic.
//
// lin_rec2020 = XYZ->Rec2020 (RawNIND's fixed matrix) x inverse of the top
// 3x3 of rgb_xyz_matrix (LibRaw's cam_xyz).
//
// Thread safety: reentrant.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/result.h"
#include "core/plane.h"

namespace dsb {

// The scaling RawNIND applies around the uint16 demosaic, from the frame's
// minimum and maximum.
struct DemosaicScale {
  float black_offset = 0;  // -min when min < 0
  float max_value = 1;     // max (after the offset) when it exceeds 1
};
DemosaicScale DemosaicScaleOf(PlaneView<const float> rggb_frame);

// Rows [y0, y1) of the frame's demosaiced camera RGB, kept as OpenCV's
// uint16 output (6 bytes per pixel, plus the input band's 2).
class CameraRgbBand {
 public:
  // Demosaics rows [y0, y1) (even) of `rggb_frame` (R at (0, 0), even size).
  void Demosaic(PlaneView<const float> rggb_frame, const DemosaicScale& scale,
                int y0, int y1);
  // Sum of the camera RGB values of rows [from, to) (inside the band), for
  // the frame's mean.
  double Sum(int from, int to) const;
  // Camera RGB of rows [y, y + h) x columns [x, x + w) (frame coordinates,
  // inside the band) as h x w x 3 floats, channels R, G, B.
  void Read(int y, int x, int h, int w, std::vector<float>& rgb) const;

 private:
  // astype(float32) / 65535.0 * max_value - black_offset, as raw.demosaic.
  float Value(std::uint16_t v) const {
    float f = static_cast<float>(v) / 65535.0f;
    f = f * scale_.max_value;
    return f - scale_.black_offset;
  }
  std::vector<std::uint16_t> mono_, colour_;
  DemosaicScale scale_;
  int width_ = 0;
  int top_ = 0;  // frame row of colour_'s first row (the margin included)
};

// Scratch buffers of DemosaicTile, which the caller may keep between tiles.
struct TileScratch {
  std::vector<std::uint16_t> mono, colour;  // OpenCV's input and output
  std::vector<std::int32_t> wide;           // the mosaic for EdgeAwareRows
};

// Demosaics the tile rows [y, y + h) x columns [x, x + w) of the frame's
// camera RGB (as h x w x 3 floats, channels R, G, B, exactly the values a
// whole-frame demosaic gives there): only the tile and a margin around it
// are converted and demosaicked.
void DemosaicTile(PlaneView<const float> rggb_frame, const DemosaicScale& scale,
                  int y, int x, int h, int w, std::vector<float>& rgb,
                  TileScratch& scratch);
// The same into rgb[0 .. h x w x 3).
void DemosaicTile(PlaneView<const float> rggb_frame, const DemosaicScale& scale,
                  int y, int x, int h, int w, float* rgb, TileScratch& scratch);

namespace internal {
// The conversions around the uint16 demosaic, a row at a time, exposed for
// their tests: out[i] = (uint16)((in[i] + black_offset) / max_value x
// 65535) and out[i] = (float)in[i] / 65535 x max_value - black_offset, in
// float32, in that order (raw.demosaic's); values outside the scale's range
// (a scale taken from some of the frame's rows) are held at 0 and 65535.
void ToMonoRow(const float* in, int count, DemosaicScale scale,
               std::uint16_t* out);
void FromColourRow(const std::uint16_t* in, int count, DemosaicScale scale,
                   float* out);
// ToMonoRow's values, widened to int32 (the input of EdgeAwareRows), of
// `rows` rows of `count` values, in[r * in_stride + i] to
// out[r * count + i]. A whole tile in one call: a call per row cost as
// much in set-up as a 34-value row's conversion.
void ToWideMonoRows(const float* in, std::ptrdiff_t in_stride, int rows,
                    int count, DemosaicScale scale, std::int32_t* out);
// OpenCV's edge-aware RGGB demosaic (COLOR_BayerRGGB2RGB_EA on uint16) of
// `rows` rows of `count` interior pixels from `first_row` on (each row's
// [-1 .. count] and the rows `stride` above and below must exist),
// converted back as FromColourRow, to rows x count x 3 floats (R, G, B).
// first_r_row: the first row is an R row (the next one a B row, and so
// on); first_even: first_row[0] is at an even column of the RGGB frame.
void EdgeAwareRows(const std::int32_t* first_row, std::ptrdiff_t stride,
                   int rows, int count, bool first_r_row, bool first_even,
                   DemosaicScale scale, float* out);
}  // namespace internal

using Matrix3 = std::array<std::array<float, 3>, 3>;

// XYZ->lin_rec2020 x inverse(rgb_xyz_matrix[:3]); an error when the matrix
// is singular (no colour matrix in the file).
Result<Matrix3> CameraToLinRec2020(
    const std::array<std::array<float, 3>, 4>& rgb_xyz_matrix);

// In place on (..., 3) interleaved floats.
void ApplyMatrix(const Matrix3& m, std::vector<float>& rgb);

}  // namespace dsb
