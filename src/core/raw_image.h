// A decoded RAW capture: the visible sensor mosaic as normalised floats, its
// CFA pattern and the metadata the rest of the pipeline needs.
//
// Produced by the decoder (raw/decoder.h) and by the synthetic generator for
// in-memory tests (synth/). Pixels are (raw - black[channel]) / (white -
// black[channel]) per CFA channel, so 0 is black and 1 is the white level;
// values may fall slightly below 0 (noise around black) and are never
// clipped by the decoder.
//
// Thread safety: a plain value; share read-only between threads.
#pragma once

#include <array>
#include <string>

#include "core/cfa.h"
#include "core/plane.h"

namespace dsb {

struct RawMetadata {
  std::string make;
  std::string model;
  float iso = 0;
  // Size of the whole sensor readout and where the visible area starts in
  // it (the masked border, DNG ActiveArea).
  int raw_width = 0;
  int raw_height = 0;
  int visible_top = 0;
  int visible_left = 0;
  // Black level per colour (R, G, B) after folding in LibRaw's per-channel
  // and pattern black levels; white level (the sensor's saturation value).
  std::array<float, 3> black{};
  float white = 0;
  // As-shot white balance multipliers (R, G, B), normalised so G == 1.
  std::array<float, 3> wb_coeffs{1, 1, 1};
  // LibRaw's rgb_cam / cam_xyz: camera-to-XYZ matrix, 4 rows x 3 columns
  // (RawNIND's rgb_xyz_matrix). Zero when the file has none.
  std::array<std::array<float, 3>, 4> rgb_xyz_matrix{};
  // Normalised level at and above which a pixel counts as clipped
  // (docs/contract.md §2: the camera's linear maximum when LibRaw reports one,
  // as a fraction of the normalised range, else 1.0).
  float overexposure_lb = 1.0f;
};

struct RawImage {
  Plane<float> pixels;  // the visible area, normalised
  CfaPattern cfa;       // anchored at pixels(0, 0)
  RawMetadata meta;
  std::string path;  // for error messages; relative to the dataset root

  int width() const { return pixels.width(); }
  int height() const { return pixels.height(); }
};

}  // namespace dsb
