// Deterministic random numbers for the synthetic renderer and generator.
//
// std::*_distribution output is implementation-defined, so the same seed
// would give different scenes with different standard libraries; these
// generators are written out here so every machine gets the same bits
// (xoshiro256** seeded by splitmix64, Box-Muller normals, inversion
// Poisson).
//
// Thread safety: a Rng is a plain value; give each thread its own.
#pragma once

#include <cmath>
#include <cstdint>

namespace dsb::synth {

inline std::uint64_t SplitMix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// A stateless mix of several words, for per-row / per-object seeds and for
// position hashes.
inline std::uint64_t HashMix(std::uint64_t a, std::uint64_t b = 0,
                             std::uint64_t c = 0, std::uint64_t d = 0) {
  std::uint64_t s = a * 0xD6E8FEB86659FD93ull;
  std::uint64_t h = SplitMix64(s);
  s = h ^ b;
  h = SplitMix64(s);
  s = h ^ c;
  h = SplitMix64(s);
  s = h ^ d;
  return SplitMix64(s);
}

class Rng {
 public:
  explicit Rng(std::uint64_t seed) {
    for (auto& word : s_) word = SplitMix64(seed);
  }

  std::uint64_t Next() {
    const std::uint64_t result = Rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = Rotl(s_[3], 45);
    return result;
  }
  // Uniform in [0, 1).
  double Uniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }
  double Uniform(double lo, double hi) { return lo + (hi - lo) * Uniform(); }
  // Uniform integer in [lo, hi].
  int UniformInt(int lo, int hi) {
    const std::uint64_t span = static_cast<std::uint64_t>(hi - lo) + 1;
    return lo + static_cast<int>(Next() % span);
  }
  bool Bernoulli(double p) { return Uniform() < p; }
  // Standard normal (Box-Muller; the second value is kept for the next
  // call).
  double Normal() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    double u1 = Uniform();
    const double u2 = Uniform();
    if (u1 < 1e-300) u1 = 1e-300;
    const double r = std::sqrt(-2.0 * std::log(u1));
    const double theta = 6.283185307179586 * u2;
    spare_ = r * std::sin(theta);
    has_spare_ = true;
    return r * std::cos(theta);
  }
  // Poisson with mean `lambda`: exact inversion for small means, the normal
  // approximation above (where the two are indistinguishable here).
  double Poisson(double lambda) {
    if (lambda <= 0) return 0;
    if (lambda > 64) {
      const double v = lambda + std::sqrt(lambda) * Normal();
      return v < 0 ? 0 : v;
    }
    const double u = Uniform();
    double p = std::exp(-lambda);
    double cdf = p;
    int k = 0;
    while (u > cdf && k < 1000) {
      ++k;
      p *= lambda / k;
      cdf += p;
    }
    return k;
  }

 private:
  static std::uint64_t Rotl(std::uint64_t x, int k) {
    return (x << k) | (x >> (64 - k));
  }
  std::uint64_t s_[4];
  double spare_ = 0;
  bool has_spare_ = false;
};

}  // namespace dsb::synth
