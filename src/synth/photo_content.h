// Real photographs as the content of synthetic scenes (synth/render.h):
// an 8-bit sRGB photograph (synth/photo_reader.h) becomes linear camera
// raw colour, lit and exposed like a capture, at the content's size.
//
//   1. Linearise: the sRGB transfer function inverted (IEC 61966-2-1).
//   2. Light: multiply by the light's colour relative to daylight (linear
//      sRGB primaries): daylight (1, 1, 1), or warm tungsten-like light
//      (CIE illuminant A relative to D65: 2.235, 1, 0.282), under which
//      red reads above green, as in sunsets and indoor light.
//   3. Camera: multiply by the camera's raw response (1 / kCameraWbRed,
//      1, 1 / kCameraWbBlue; synth/camera.h), so daylight raw reads red
//      and blue below green as real raw data does.
//   4. Expose: scale so the median green level is kMidGrey * 2^exposure_ev.
//      Levels at and above 1.0 saturate the sensor when rendered; with a
//      warm light and an exposure of +1 or more, red clips over wide areas
//      while green and blue mostly do not.
//   5. Resample: the photograph, scaled by `zoom` times the smallest scale
//      that covers the content area, is cropped at (offset_y, offset_x)
//      (0..1 of the spare room) and filtered with a tent filter as wide as
//      the scale step (area-like when shrinking, bilinear when enlarging).
//
// Thread safety: pure functions.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "synth/photo_reader.h"

namespace dsb {

enum class PhotoLight { kDaylight, kWarm };
// "daylight" or "warm".
const char* PhotoLightName(PhotoLight light);
bool ParsePhotoLight(const std::string& name, PhotoLight& light);

struct PhotoLook {
  double exposure_ev = 0;
  PhotoLight light = PhotoLight::kDaylight;
  double zoom = 1.0;  // >= 1
  double offset_y = 0.5;
  double offset_x = 0.5;
};

// Linear camera colour, three planes of width x height.
struct CameraContent {
  int width = 0;
  int height = 0;
  std::array<std::vector<float>, 3> planes;  // red, green, blue
  float at(int c, int y, int x) const {
    return planes[c][static_cast<std::size_t>(y) * width + x];
  }
};

// The sRGB decoding function: 8-bit code value to linear [0, 1].
float SrgbToLinear(std::uint8_t code);

// The per-channel multipliers of steps 2 and 3 (before exposure).
std::array<double, 3> PhotoChannelGains(PhotoLight light);

// Steps 1-5 for a content area of width x height (both >= 1).
CameraContent MakePhotoContent(const Srgb8Image& photo, int width, int height,
                               const PhotoLook& look);

}  // namespace dsb
