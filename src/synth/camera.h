// The simulated camera of synthetic scenes: how its raw colour channels
// respond, written once for the procedural palette (synth/render.cc), the
// real-photo content (synth/photo_content.cc) and the files' metadata.
#pragma once

namespace dsb {

// As-shot white balance multipliers of the simulated camera: under
// daylight a neutral surface reads 1 / kCameraWbRed in red and
// 1 / kCameraWbBlue in blue relative to green, as raw data does.
inline constexpr double kCameraWbRed = 2.0;
inline constexpr double kCameraWbBlue = 1.6;

}  // namespace dsb
