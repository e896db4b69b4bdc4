#include "synth/render.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstring>
#include <functional>
#include <thread>
#include <vector>

#include "synth/camera.h"
#include "synth/parallel.h"
#include "synth/random.h"

namespace dsb {

namespace {

using synth::HashMix;
using synth::Rng;

// Signal-to-noise ratio at kMidGrey per level, and the ISO each is labelled
// with. Level 0 is the clean GT; level 4 is the extreme RawNIND-like
// ISO 51200 capture where the noise is half the signal.
constexpr std::array<double, kNoiseLevelCount> kSnr = {120, 40, 16, 6.5, 2.5};
constexpr std::array<int, kNoiseLevelCount> kIso = {100, 800, 3200, 12800,
                                                    51200};
// Share of the noise variance at mid-grey that is photon (shot) noise; the
// rest is signal-independent read noise.
constexpr double kShotShare = 0.75;

// Base content (everything that is not a light) stays below this, so only
// the lights saturate a gain-1 capture.
constexpr float kBaseMax = 0.97f;
// Palette index reserved for lights: neutral, and the only content at or
// above saturation.
constexpr std::uint8_t kLightId = 0;

struct NoiseModel {
  double a = 0;  // shot-noise variance per unit signal
  double b = 0;  // read-noise variance
};

NoiseModel ModelFor(int level) {
  if (level < 0) return {};
  level = std::min(level, kNoiseLevelCount - 1);
  const double sigma = kMidGrey / kSnr[level];
  const double var = sigma * sigma;
  return {kShotShare * var / kMidGrey, (1 - kShotShare) * var};
}

float Smooth(float t) { return t * t * (3 - 2 * t); }

// One octave of value noise: random values on a lattice of `cell` pixels,
// interpolated; the lattice is materialised so a pixel costs a few flops.
class ValueNoiseOctave {
 public:
  ValueNoiseOctave(int width, int height, int cell, std::uint64_t seed)
      : cell_(cell), lw_(width / cell + 2), lh_(height / cell + 2) {
    lattice_.resize(static_cast<std::size_t>(lw_) * lh_);
    Rng rng(seed);
    for (float& v : lattice_) v = static_cast<float>(rng.Uniform(-1, 1));
  }
  float At(int y, int x) const {
    const int iy = y / cell_, ix = x / cell_;
    const float fy = Smooth(static_cast<float>(y - iy * cell_) / cell_);
    const float fx = Smooth(static_cast<float>(x - ix * cell_) / cell_);
    const float* r0 = &lattice_[static_cast<std::size_t>(iy) * lw_ + ix];
    const float* r1 = r0 + lw_;
    const float top = r0[0] + (r0[1] - r0[0]) * fx;
    const float bottom = r1[0] + (r1[1] - r1[0]) * fx;
    return top + (bottom - top) * fy;
  }

 private:
  int cell_, lw_, lh_;
  std::vector<float> lattice_;
};

// Value noise computed from a position hash, for textures inside shapes
// (no storage; used on a fraction of the pixels only).
float HashNoise(int y, int x, int cell, std::uint64_t seed) {
  auto lattice = [&](int ly, int lx) {
    const std::uint64_t h = HashMix(seed, static_cast<std::uint32_t>(ly),
                                    static_cast<std::uint32_t>(lx));
    return static_cast<float>(h >> 40) * (2.0f / 16777216.0f) - 1.0f;
  };
  const int iy = (y >= 0 ? y : y - cell + 1) / cell;
  const int ix = (x >= 0 ? x : x - cell + 1) / cell;
  const float fy = Smooth(static_cast<float>(y - iy * cell) / cell);
  const float fx = Smooth(static_cast<float>(x - ix * cell) / cell);
  const float a = lattice(iy, ix), b = lattice(iy, ix + 1);
  const float c = lattice(iy + 1, ix), d = lattice(iy + 1, ix + 1);
  const float top = a + (b - a) * fx, bottom = c + (d - c) * fx;
  return top + (bottom - top) * fy;
}

enum class ShapeKind : std::uint8_t { kDisc, kRect, kEllipse, kLine };
enum class Texture : std::uint8_t {
  kFlat,
  kFineNoise,
  kGradient,
  kStripes,
  kChecker
};

struct Shape {
  ShapeKind kind;
  Texture texture;
  std::uint8_t id;
  float lum;
  // Geometry in content coordinates: centre, half extents (rx along the
  // rotated x axis), rotation (cos, sin). Lines use rx as half length and
  // ry as half width.
  float cy, cx, ry, rx, cos_t, sin_t;
  int y0, y1, x0, x1;  // inclusive bounding box, clipped to the content
  // Texture parameters: period / cell, contrast, direction.
  float period, contrast, tcos, tsin, chirp;
  std::uint64_t seed;
};

}  // namespace

double SnrAtMidGrey(int noise_level) {
  if (noise_level < 0) return INFINITY;
  return kSnr[std::min(noise_level, kNoiseLevelCount - 1)];
}

int IsoForNoiseLevel(int noise_level) {
  return kIso[std::clamp(noise_level, 0, kNoiseLevelCount - 1)];
}

double NoiseSigma(int noise_level, double signal) {
  const NoiseModel model = ModelFor(noise_level);
  return std::sqrt(model.a * std::max(signal, 0.0) + model.b);
}

struct SyntheticScene::Impl {
  SceneSpec spec;
  int margin = 0;
  int cw = 0, ch = 0;  // content size
  std::vector<float> lum;
  std::vector<std::uint8_t> id;
  std::array<std::array<float, 3>, 256> palette{};
  // Real-photo content, when the spec has a photograph (then lum and id
  // stay empty).
  bool from_photo = false;
  CameraContent photo;

  std::size_t Index(int cy, int cx) const {
    return static_cast<std::size_t>(cy) * cw + cx;
  }
  // GT coordinates, edge-clamped.
  float At(int y, int x, int c) const {
    const int cy = std::clamp(y + margin, 0, ch - 1);
    const int cx = std::clamp(x + margin, 0, cw - 1);
    if (from_photo) return photo.at(c, cy, cx);
    const std::size_t i = Index(cy, cx);
    return lum[i] * palette[id[i]][c];
  }

  void Build();
  void MakePalette(Rng& rng);
  void PaintBackground();
  std::vector<Shape> MakeShapes(Rng& rng) const;
  void PaintShapes(const std::vector<Shape>& shapes);
  void PaintShapeRow(const Shape& s, int y);
  void AddLights(Rng& rng);

  RawImage Render(int dy, int dx, double gain, int level,
                  const std::optional<Box>& moved, std::uint64_t stream) const;
};

void SyntheticScene::Impl::MakePalette(Rng& rng) {
  palette[kLightId] = {1, 1, 1};
  for (int i = 1; i < 256; ++i) {
    // Mostly muted colours with some saturated ones, as in real scenes;
    // gains are relative to the luminance, green near 1.
    const double sat = rng.Bernoulli(0.25) ? 0.7 : 0.25;
    double r = std::exp(sat * rng.Normal());
    double b = std::exp(sat * rng.Normal());
    const double g = std::exp(0.1 * rng.Normal());
    // Raw data is not white balanced: red and blue read lower than green
    // (the inverse of the as-shot multipliers in the metadata).
    r /= kCameraWbRed;
    b /= kCameraWbBlue;
    const double norm = (r + 2 * g + b) / 4;
    palette[i] = {static_cast<float>(r / norm), static_cast<float>(g / norm),
                  static_cast<float>(b / norm)};
  }
}

void SyntheticScene::Impl::PaintBackground() {
  // Multi-scale (1/f-like) log-luminance, with large patches of colour.
  std::vector<ValueNoiseOctave> octaves;
  std::vector<float> amps;
  float total = 0;
  int octave = 0;
  for (int cell = 256; cell >= 2; cell /= 2, ++octave) {
    octaves.emplace_back(cw, ch, cell, HashMix(spec.seed, 2, octave));
    amps.push_back(std::sqrt(static_cast<float>(cell)) / 16.0f);
    total += amps.back();
  }
  ValueNoiseOctave colour(cw, ch, 96, HashMix(spec.seed, 3));
  synth::ParallelRows(ch, [&](int y0, int y1) {
    for (int y = y0; y < y1; ++y) {
      for (int x = 0; x < cw; ++x) {
        float v = 0;
        for (std::size_t o = 0; o < octaves.size(); ++o) {
          v += amps[o] * octaves[o].At(y, x);
        }
        const std::size_t i = Index(y, x);
        lum[i] = 0.18f * std::exp(2.2f * v / total);
        id[i] = static_cast<std::uint8_t>(
            1 + static_cast<int>((colour.At(y, x) + 1) * 127) % 255);
      }
    }
  });
}

std::vector<Shape> SyntheticScene::Impl::MakeShapes(Rng& rng) const {
  // Dead leaves: occluding shapes with radii distributed as r^-3, the
  // classic model of natural-image statistics (scale invariance, sharp
  // edges, flat regions between them).
  const double r_min = 2.5;
  const double r_max = std::max(4.0, std::min(cw, ch) / 5.0);
  const double area_target = 2.2 * static_cast<double>(cw) * ch;
  const double q = 1 - (r_min / r_max) * (r_min / r_max);
  std::vector<Shape> shapes;
  double area = 0;
  while (area < area_target && shapes.size() < 20'000'000) {
    Shape s{};
    const double r = r_min / std::sqrt(1 - rng.Uniform() * q);
    const double kind = rng.Uniform();
    s.kind = kind < 0.38   ? ShapeKind::kDisc
             : kind < 0.66 ? ShapeKind::kRect
             : kind < 0.9  ? ShapeKind::kEllipse
                           : ShapeKind::kLine;
    s.cy = static_cast<float>(rng.Uniform(-r, ch + r));
    s.cx = static_cast<float>(rng.Uniform(-r, cw + r));
    const double aspect = std::exp(rng.Uniform(-0.8, 0.8));
    s.ry = static_cast<float>(r * std::sqrt(aspect));
    s.rx = static_cast<float>(r / std::sqrt(aspect));
    double angle = rng.Uniform(0, 3.14159265358979);
    if (s.kind == ShapeKind::kDisc) s.ry = s.rx = static_cast<float>(r);
    if (s.kind == ShapeKind::kRect) angle = 0;
    if (s.kind == ShapeKind::kLine) {
      s.rx = static_cast<float>(r * rng.Uniform(2, 5));
      s.ry = static_cast<float>(rng.Uniform(0.5, 1.6));
    }
    s.cos_t = static_cast<float>(std::cos(angle));
    s.sin_t = static_cast<float>(std::sin(angle));
    const double extent = std::max(s.rx, s.ry) + 1.0;
    s.y0 = std::max(0, static_cast<int>(std::floor(s.cy - extent)));
    s.y1 = std::min(ch - 1, static_cast<int>(std::ceil(s.cy + extent)));
    s.x0 = std::max(0, static_cast<int>(std::floor(s.cx - extent)));
    s.x1 = std::min(cw - 1, static_cast<int>(std::ceil(s.cx + extent)));
    // Log-uniform brightness: mean about 0.2 of white, like a metered
    // exposure.
    s.lum = static_cast<float>(
        std::exp(rng.Uniform(std::log(0.025), std::log(0.9))));
    s.id = static_cast<std::uint8_t>(rng.UniformInt(1, 255));
    const double t = rng.Uniform();
    // Periodic textures need room for a few periods.
    const bool big = r > 12;
    s.texture = t < 0.45          ? Texture::kFlat
                : t < 0.65        ? Texture::kFineNoise
                : t < 0.78        ? Texture::kGradient
                : t < 0.92 && big ? Texture::kStripes
                : big             ? Texture::kChecker
                                  : Texture::kFineNoise;
    s.period = static_cast<float>(rng.Uniform(4, 32));
    s.contrast = static_cast<float>(rng.Uniform(0.2, 0.75));
    const double tangle = rng.Uniform(0, 6.28318530718);
    s.tcos = static_cast<float>(std::cos(tangle));
    s.tsin = static_cast<float>(std::sin(tangle));
    s.chirp = static_cast<float>(rng.Uniform(-0.15, 0.15) / std::max(r, 1.0));
    s.seed = rng.Next();
    area += 3.14159 * s.rx * s.ry;
    if (s.y0 <= s.y1 && s.x0 <= s.x1) shapes.push_back(s);
  }
  return shapes;
}

void SyntheticScene::Impl::PaintShapeRow(const Shape& s, int y) {
  const float fy = static_cast<float>(y) + 0.5f - s.cy;
  int xa = s.x0, xb = s.x1;
  if (s.kind == ShapeKind::kDisc) {
    const float d = s.rx * s.rx - fy * fy;
    if (d < 0) return;
    const float half = std::sqrt(d);
    xa = std::max(xa, static_cast<int>(std::ceil(s.cx - half - 0.5f)));
    xb = std::min(xb, static_cast<int>(std::floor(s.cx + half - 0.5f)));
  } else if (s.kind == ShapeKind::kRect) {
    if (std::abs(fy) > s.ry) return;
    xa = std::max(xa, static_cast<int>(std::ceil(s.cx - s.rx - 0.5f)));
    xb = std::min(xb, static_cast<int>(std::floor(s.cx + s.rx - 0.5f)));
  }
  float* lrow = &lum[Index(y, 0)];
  std::uint8_t* irow = &id[Index(y, 0)];
  for (int x = xa; x <= xb; ++x) {
    const float fx = static_cast<float>(x) + 0.5f - s.cx;
    if (s.kind == ShapeKind::kEllipse || s.kind == ShapeKind::kLine) {
      const float u = fx * s.cos_t + fy * s.sin_t;
      const float v = -fx * s.sin_t + fy * s.cos_t;
      if (s.kind == ShapeKind::kEllipse) {
        const float e = (u * u) / (s.rx * s.rx) + (v * v) / (s.ry * s.ry);
        if (e > 1) continue;
      } else if (std::abs(u) > s.rx || std::abs(v) > s.ry) {
        continue;
      }
    }
    float value = s.lum;
    switch (s.texture) {
      case Texture::kFlat:
        break;
      case Texture::kFineNoise:
        value *=
            1 + s.contrast * 0.5f *
                    HashNoise(y, x, 3 + static_cast<int>(s.seed % 4), s.seed);
        break;
      case Texture::kGradient: {
        const float g =
            (fx * s.tcos + fy * s.tsin) / (std::max(s.rx, s.ry) + 1);
        value *= std::max(0.15f, 1 + s.contrast * g);
        break;
      }
      case Texture::kStripes: {
        const float along = fx * s.tcos + fy * s.tsin;
        const float phase = along / (s.period * (1 + s.chirp * along));
        value *= (phase - std::floor(phase)) < 0.5f ? 1.0f : s.contrast;
        break;
      }
      case Texture::kChecker: {
        const int cell = static_cast<int>(s.period);
        const int a = static_cast<int>(std::floor(fx / cell));
        const int b = static_cast<int>(std::floor(fy / cell));
        value *= ((a + b) & 1) ? s.contrast : 1.0f;
        break;
      }
    }
    lrow[x] = value;
    irow[x] = s.id;
  }
}

void SyntheticScene::Impl::PaintShapes(const std::vector<Shape>& shapes) {
  // Each band paints every shape in list order, restricted to its rows, so
  // the result does not depend on the number of threads.
  synth::ParallelRows(ch, [&](int y0, int y1) {
    for (const Shape& s : shapes) {
      if (s.y1 < y0 || s.y0 >= y1) continue;
      const int ya = std::max(s.y0, y0), yb = std::min(s.y1, y1 - 1);
      for (int y = ya; y <= yb; ++y) PaintShapeRow(s, y);
    }
  });
  // Keep the base content below saturation (lights are added after) and
  // above zero.
  synth::ParallelRows(ch, [&](int y0, int y1) {
    for (int y = y0; y < y1; ++y) {
      for (int x = 0; x < cw; ++x) {
        const std::size_t i = Index(y, x);
        const auto& p = palette[id[i]];
        const float limit = kBaseMax / std::max({p[0], p[1], p[2]});
        lum[i] = std::clamp(lum[i], 0.004f, limit);
      }
    }
  });
}

void SyntheticScene::Impl::AddLights(Rng& rng) {
  const double frame_area = static_cast<double>(spec.width) * spec.height;
  const double target =
      std::clamp(spec.clipped_fraction, 0.0, 1.0) * frame_area;
  if (target <= 0) return;
  double covered = 0;
  // Lights of a few sizes, each much smaller than the target area, so the
  // last one overshoots little.
  const double typical_r = std::max(2.0, std::sqrt(target / (3.14159 * 6)));
  int guard = 0;
  while (covered < target && ++guard < 1'000'000) {
    const double remaining = target - covered;
    double r = typical_r * rng.Uniform(0.4, 1.3);
    r = std::min(r, std::sqrt(remaining / 3.14159) + 1.0);
    const bool disc = rng.Bernoulli(0.6);
    const double cy = margin + rng.Uniform(0, spec.height);
    const double cx = margin + rng.Uniform(0, spec.width);
    const double ry = disc ? r : r * rng.Uniform(0.5, 1.0);
    const double rx = disc            ? r
                      : remaining < 4 ? 1.0
                                      : r * rng.Uniform(0.6, 1.5);
    const float level = static_cast<float>(rng.Uniform(1.3, 3.0));
    const int y0 = std::max(margin, static_cast<int>(cy - ry));
    const int y1 =
        std::min(margin + spec.height - 1, static_cast<int>(cy + ry));
    const int x0 = std::max(margin, static_cast<int>(cx - rx));
    const int x1 = std::min(margin + spec.width - 1, static_cast<int>(cx + rx));
    for (int y = y0; y <= y1 && covered < target; ++y) {
      for (int x = x0; x <= x1 && covered < target; ++x) {
        const double fy = y + 0.5 - cy, fx = x + 0.5 - cx;
        if (disc && fy * fy + fx * fx > r * r) continue;
        const std::size_t i = Index(y, x);
        if (id[i] != kLightId) covered += 1;
        id[i] = kLightId;
        // A little structure inside the light, all of it saturated.
        lum[i] = level * (1 + 0.1f * HashNoise(y, x, 4, spec.seed));
      }
    }
  }
}

void SyntheticScene::Impl::Build() {
  margin = std::max(0, spec.max_shift);
  cw = spec.width + 2 * margin;
  ch = spec.height + 2 * margin;
  if (spec.photo != nullptr) {
    from_photo = true;
    photo = MakePhotoContent(*spec.photo, cw, ch, spec.look);
    return;
  }
  const std::size_t n = static_cast<std::size_t>(cw) * ch;
  lum.assign(n, 0.0f);
  id.assign(n, 1);
  Rng rng(HashMix(spec.seed, 1));
  MakePalette(rng);
  PaintBackground();
  PaintShapes(MakeShapes(rng));
  AddLights(rng);
}

RawImage SyntheticScene::Impl::Render(int dy, int dx, double gain, int level,
                                      const std::optional<Box>& moved,
                                      std::uint64_t stream) const {
  const int w = spec.width, h = spec.height;
  const CfaPattern& cfa = spec.cfa;
  RawImage image;
  image.pixels = Plane<float>(w, h);
  image.cfa = cfa;
  image.path = "synthetic";
  RawMetadata& meta = image.meta;
  meta.make = "dataset-build";
  meta.model = "synthetic";
  meta.iso = static_cast<float>(IsoForNoiseLevel(std::max(level, 0)));
  meta.raw_width = w;
  meta.raw_height = h;
  meta.black = {0, 0, 0};
  meta.white = 1.0f;
  meta.wb_coeffs = {static_cast<float>(kCameraWbRed), 1.0f,
                    static_cast<float>(kCameraWbBlue)};
  // sRGB's XYZ-to-RGB matrix stands in for a camera's.
  meta.rgb_xyz_matrix = {{{3.2406f, -1.5372f, -0.4986f},
                          {-0.9689f, 1.8758f, 0.0415f},
                          {0.0557f, -0.2040f, 1.0570f},
                          {0, 0, 0}}};
  meta.overexposure_lb = 1.0f;

  // The moved object: the box shows another part of the scene, transposed,
  // scaled to the same mean brightness, with a striped disc on top, so it
  // differs in content but not trivially in brightness.
  Box box{};
  bool has_box = false;
  float box_scale = 1, disc_level = 0;
  int src_y0 = 0, src_x0 = 0;
  if (moved.has_value()) {
    box.y0 = std::clamp(moved->y0, 0, h);
    box.x0 = std::clamp(moved->x0, 0, w);
    box.height = std::clamp(moved->y0 + moved->height, 0, h) - box.y0;
    box.width = std::clamp(moved->x0 + moved->width, 0, w) - box.x0;
    has_box = box.height > 0 && box.width > 0;
  }
  if (has_box) {
    // Reflected through the frame centre, in GT coordinates.
    src_y0 = std::clamp(h - (box.y0 + dy) - box.width, -margin,
                        h + margin - box.width);
    src_x0 = std::clamp(w - (box.x0 + dx) - box.height, -margin,
                        w + margin - box.height);
    double orig = 0, repl = 0;
    for (int y = box.y0; y < box.y0 + box.height; ++y) {
      for (int x = box.x0; x < box.x0 + box.width; ++x) {
        const int c = static_cast<int>(cfa.color_at(y, x));
        orig += At(y + dy, x + dx, c);
        repl += At(src_y0 + (x - box.x0), src_x0 + (y - box.y0), c);
      }
    }
    box_scale =
        static_cast<float>(std::clamp(orig / std::max(repl, 1e-9), 0.25, 4.0));
    disc_level = static_cast<float>(orig / box.height / box.width);
  }
  auto moved_value = [&](int y, int x, int c) {
    const int u = y - box.y0, v = x - box.x0;
    const float ru = u + 0.5f - box.height * 0.5f;
    const float rv = v + 0.5f - box.width * 0.5f;
    const float radius = std::min(box.height, box.width) * 0.3f;
    if (ru * ru + rv * rv < radius * radius) {
      const bool stripe = (static_cast<int>(std::floor((u + v) / 6.0f)) & 1);
      return disc_level * (stripe ? 1.6f : 0.4f);
    }
    const float replaced = box_scale * At(src_y0 + v, src_x0 + u, c);
    if (from_photo) {
      // A photograph's flat areas (sky, walls) reflected onto flat areas
      // would be no change at all: stripes of +-50% across the whole box
      // make every part of the object differ, at the same mean level.
      const bool stripe = (static_cast<int>(std::floor((u - v) / 8.0f)) & 1);
      return replaced * (stripe ? 1.5f : 0.5f);
    }
    return replaced;
  };

  const NoiseModel model = ModelFor(level);
  const double read_sigma = std::sqrt(model.b);
  const double inv_gain = 1.0 / gain;
  synth::ParallelRows(h, [&](int y0, int y1) {
    for (int y = y0; y < y1; ++y) {
      Rng rng(HashMix(stream, static_cast<std::uint64_t>(y)));
      float* out = image.pixels.row(y);
      for (int x = 0; x < w; ++x) {
        const int c = static_cast<int>(cfa.color_at(y, x));
        const float content = has_box && box.Contains(y, x)
                                  ? moved_value(y, x, c)
                                  : At(y + dy, x + dx, c);
        const double signal = content * inv_gain;
        if (signal >= 1.0) {
          out[x] = 1.0f;  // saturated: the sensor reads its white level
          continue;
        }
        double value = signal;
        if (level >= 0) {
          value = model.a * rng.Poisson(signal / model.a) +
                  read_sigma * rng.Normal();
        }
        out[x] = static_cast<float>(std::min(value, 1.0));
      }
    }
  });
  return image;
}

SyntheticScene::SyntheticScene(const SceneSpec& spec)
    : impl_(std::make_unique<Impl>()) {
  impl_->spec = spec;
  impl_->spec.width = std::max(spec.width, 1);
  impl_->spec.height = std::max(spec.height, 1);
  impl_->Build();
}

SyntheticScene::~SyntheticScene() = default;
SyntheticScene::SyntheticScene(SyntheticScene&&) noexcept = default;
SyntheticScene& SyntheticScene::operator=(SyntheticScene&&) noexcept = default;

const SceneSpec& SyntheticScene::spec() const { return impl_->spec; }

RawImage SyntheticScene::RenderGt(int noise_level,
                                  std::uint64_t noise_seed) const {
  return impl_->Render(0, 0, 1.0, noise_level, std::nullopt,
                       HashMix(noise_seed, 0x4754, noise_level + 7));
}

RawImage SyntheticScene::RenderCapture(const CaptureSpec& capture) const {
  const std::uint64_t stream = HashMix(
      capture.noise_seed,
      (static_cast<std::uint64_t>(static_cast<std::uint32_t>(capture.dy))
       << 32) |
          static_cast<std::uint32_t>(capture.dx),
      std::bit_cast<std::uint64_t>(capture.gain),
      static_cast<std::uint64_t>(capture.noise_level + 7) ^ 0xCA97u);
  return impl_->Render(capture.dy, capture.dx,
                       capture.gain > 0 ? capture.gain : 1.0,
                       capture.noise_level, capture.moved_object, stream);
}

bool SyntheticScene::GtClippedAt(int y, int x) const {
  return impl_->At(y, x, static_cast<int>(impl_->spec.cfa.color_at(y, x))) >=
         1.0f;
}

float SyntheticScene::ContentAt(int y, int x, CfaColor color) const {
  return impl_->At(y, x, static_cast<int>(color));
}

}  // namespace dsb
