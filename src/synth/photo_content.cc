#include "synth/photo_content.h"

#include <algorithm>
#include <cmath>

#include "synth/camera.h"
#include "synth/render.h"

namespace dsb {

namespace {

// Taps of a 1-D resampling from `in` samples to `out` samples at `scale`
// (output per input sample) starting `origin` input samples in: for each
// output sample, the first input index and normalised weights.
struct Taps {
  std::vector<int> first;
  std::vector<int> count;
  std::vector<float> weights;  // count[i] per output sample, in order
  std::vector<std::size_t> start;
};

Taps MakeTaps(int in, int out, double scale, double origin) {
  Taps t;
  // The tent is one input sample wide when enlarging, one output sample
  // wide (in input units) when shrinking.
  const double radius = std::max(1.0, 1.0 / scale);
  for (int i = 0; i < out; ++i) {
    const double centre = origin + (i + 0.5) / scale - 0.5;
    int lo = static_cast<int>(std::ceil(centre - radius));
    int hi = static_cast<int>(std::floor(centre + radius));
    lo = std::clamp(lo, 0, in - 1);
    hi = std::clamp(hi, 0, in - 1);
    t.start.push_back(t.weights.size());
    t.first.push_back(lo);
    double sum = 0;
    const std::size_t begin = t.weights.size();
    for (int k = lo; k <= hi; ++k) {
      const double w = std::max(0.0, 1.0 - std::fabs(k - centre) / radius);
      t.weights.push_back(static_cast<float>(w));
      sum += w;
    }
    if (!(sum > 0)) {  // beyond the edge: the nearest sample
      t.weights.resize(begin);
      t.first.back() =
          std::clamp(static_cast<int>(std::lround(centre)), 0, in - 1);
      t.weights.push_back(1.0f);
      sum = 1;
    }
    for (std::size_t k = begin; k < t.weights.size(); ++k) {
      t.weights[k] = static_cast<float>(t.weights[k] / sum);
    }
    t.count.push_back(static_cast<int>(t.weights.size() - begin));
  }
  return t;
}

}  // namespace

const char* PhotoLightName(PhotoLight light) {
  return light == PhotoLight::kWarm ? "warm" : "daylight";
}

bool ParsePhotoLight(const std::string& name, PhotoLight& light) {
  if (name == "daylight") {
    light = PhotoLight::kDaylight;
  } else if (name == "warm") {
    light = PhotoLight::kWarm;
  } else {
    return false;
  }
  return true;
}

float SrgbToLinear(std::uint8_t code) {
  const double v = code / 255.0;
  return static_cast<float>(v <= 0.04045 ? v / 12.92
                                         : std::pow((v + 0.055) / 1.055, 2.4));
}

std::array<double, 3> PhotoChannelGains(PhotoLight light) {
  // CIE illuminant A (x 0.4476, y 0.4074) in linear sRGB, relative to
  // D65 and normalised to green.
  const std::array<double, 3> warm = {2.235, 1.0, 0.282};
  const std::array<double, 3> lit =
      light == PhotoLight::kWarm ? warm : std::array<double, 3>{1, 1, 1};
  return {lit[0] / kCameraWbRed, lit[1], lit[2] / kCameraWbBlue};
}

CameraContent MakePhotoContent(const Srgb8Image& photo, int width, int height,
                               const PhotoLook& look) {
  CameraContent out;
  out.width = std::max(width, 1);
  out.height = std::max(height, 1);
  const int pw = std::max(photo.width, 1);
  const int ph = std::max(photo.height, 1);
  const double zoom = std::max(look.zoom, 1.0);
  const double scale = zoom * std::max(static_cast<double>(out.width) / pw,
                                       static_cast<double>(out.height) / ph);
  // Spare room, in photo pixels, and where the crop starts in it.
  const double spare_x = pw - out.width / scale;
  const double spare_y = ph - out.height / scale;
  const double x0 = std::clamp(look.offset_x, 0.0, 1.0) * spare_x;
  const double y0 = std::clamp(look.offset_y, 0.0, 1.0) * spare_y;
  const Taps tx = MakeTaps(pw, out.width, scale, x0);
  const Taps ty = MakeTaps(ph, out.height, scale, y0);

  float lut[256];
  for (int v = 0; v < 256; ++v)
    lut[v] = SrgbToLinear(static_cast<std::uint8_t>(v));
  const std::array<double, 3> gains = PhotoChannelGains(look.light);

  // Horizontal pass over every photo row, then vertical.
  std::array<std::vector<float>, 3> wide;
  for (auto& p : wide) p.assign(static_cast<std::size_t>(out.width) * ph, 0);
  for (int y = 0; y < ph && !photo.rgb.empty(); ++y) {
    const std::uint8_t* row =
        photo.rgb.data() + static_cast<std::size_t>(y) * pw * 3;
    for (int x = 0; x < out.width; ++x) {
      const float* w = tx.weights.data() + tx.start[x];
      double acc[3] = {0, 0, 0};
      for (int k = 0; k < tx.count[x]; ++k) {
        const std::uint8_t* px = row + 3 * (tx.first[x] + k);
        for (int c = 0; c < 3; ++c) acc[c] += w[k] * lut[px[c]];
      }
      for (int c = 0; c < 3; ++c) {
        wide[c][static_cast<std::size_t>(y) * out.width + x] =
            static_cast<float>(acc[c] * gains[c]);
      }
    }
  }
  for (auto& p : out.planes) {
    p.assign(static_cast<std::size_t>(out.width) * out.height, 0);
  }
  for (int y = 0; y < out.height; ++y) {
    const float* w = ty.weights.data() + ty.start[y];
    for (int c = 0; c < 3; ++c) {
      float* dst =
          out.planes[c].data() + static_cast<std::size_t>(y) * out.width;
      for (int k = 0; k < ty.count[y]; ++k) {
        const float* src =
            wide[c].data() +
            static_cast<std::size_t>(ty.first[y] + k) * out.width;
        for (int x = 0; x < out.width; ++x) dst[x] += w[k] * src[x];
      }
    }
  }

  // Exposure: the median green at kMidGrey * 2^ev.
  std::vector<float> green = out.planes[1];
  auto mid = green.begin() + green.size() / 2;
  std::nth_element(green.begin(), mid, green.end());
  const double median = std::max(static_cast<double>(*mid), 1e-4);
  const float k =
      static_cast<float>(kMidGrey * std::exp2(look.exposure_ev) / median);
  for (auto& p : out.planes) {
    for (float& v : p) v *= k;
  }
  return out;
}

}  // namespace dsb
