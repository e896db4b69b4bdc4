#include "raw/normalise.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <vector>

#include "common/vector_clones.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define DSB_STREAMING_STORES 1
#else
#define DSB_STREAMING_STORES 0
#endif

namespace dsb {

namespace {

// The formula, one pixel: the same operations in the same order as every
// vector lane below (an IEEE subtraction and division round alike at any
// width), so every path gives the same bits.
inline float Normalised(std::uint16_t raw, float black, float range) {
  return (static_cast<float>(raw) - black) / range;
}

// Ordinary stores. Compiled for AVX2 too (common/vector_clones.h): the
// division is most of the arithmetic, and AVX2 divides 8 floats at once
// where SSE2 divides 4.
DSB_VECTOR_CLONES void CachedRow(int width, const std::uint16_t* __restrict in,
                                 const float* __restrict blacks,
                                 const float* __restrict ranges,
                                 float* __restrict out) {
  for (int x = 0; x < width; ++x) {
    out[x] = (static_cast<float>(in[x]) - blacks[x]) / ranges[x];
  }
}

#if DSB_STREAMING_STORES

// Non-temporal stores need aligned addresses: the pixels before the first
// `alignment`-byte boundary of `out` (at most the whole row) are written
// one at a time.
int HeadPixels(const float* out, int width, std::size_t alignment) {
  const auto misaligned = reinterpret_cast<std::uintptr_t>(out) % alignment;
  const int head =
      misaligned == 0
          ? 0
          : static_cast<int>((alignment - misaligned) / sizeof(float));
  return head < width ? head : width;
}

__attribute__((target("avx2"))) void StreamedRowAvx2(
    int width, const std::uint16_t* __restrict in,
    const float* __restrict blacks, const float* __restrict ranges,
    float* __restrict out) {
  int x = HeadPixels(out, width, 32);
  for (int i = 0; i < x; ++i) out[i] = Normalised(in[i], blacks[i], ranges[i]);
  for (; x + 8 <= width; x += 8) {
    const __m128i raw =
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(in + x));
    const __m256 value = _mm256_cvtepi32_ps(_mm256_cvtepu16_epi32(raw));
    const __m256 difference = _mm256_sub_ps(value, _mm256_loadu_ps(blacks + x));
    _mm256_stream_ps(out + x,
                     _mm256_div_ps(difference, _mm256_loadu_ps(ranges + x)));
  }
  for (; x < width; ++x) out[x] = Normalised(in[x], blacks[x], ranges[x]);
  _mm_sfence();
}

// Baseline x86-64 (SSE2): 4 floats at a time.
void StreamedRowSse2(int width, const std::uint16_t* __restrict in,
                     const float* __restrict blacks,
                     const float* __restrict ranges, float* __restrict out) {
  int x = HeadPixels(out, width, 16);
  for (int i = 0; i < x; ++i) out[i] = Normalised(in[i], blacks[i], ranges[i]);
  const __m128i zero = _mm_setzero_si128();
  for (; x + 4 <= width; x += 4) {
    const __m128i raw =
        _mm_loadl_epi64(reinterpret_cast<const __m128i*>(in + x));
    const __m128 value = _mm_cvtepi32_ps(_mm_unpacklo_epi16(raw, zero));
    const __m128 difference = _mm_sub_ps(value, _mm_loadu_ps(blacks + x));
    _mm_stream_ps(out + x, _mm_div_ps(difference, _mm_loadu_ps(ranges + x)));
  }
  for (; x < width; ++x) out[x] = Normalised(in[x], blacks[x], ranges[x]);
  _mm_sfence();
}

bool HasAvx2() {
  static const bool avx2 = __builtin_cpu_supports("avx2");
  return avx2;
}

#endif

}  // namespace

RowNormaliser::RowNormaliser(const BlackLevels& levels, int width, int height,
                             RowStores stores)
    : width_(width), tile_height_(levels.height), stores_(stores) {
  if (stores_ == RowStores::kAuto) {
    const std::size_t bytes = static_cast<std::size_t>(width) *
                              static_cast<std::size_t>(height) * sizeof(float);
    stores_ = bytes >= kStreamingPlaneBytes ? RowStores::kStreaming
                                            : RowStores::kCached;
  }
  if (!DSB_STREAMING_STORES) stores_ = RowStores::kCached;
  const auto w = static_cast<std::size_t>(width);
  black_rows_.resize(static_cast<std::size_t>(levels.height) * w);
  range_rows_.resize(black_rows_.size());
  for (int ty = 0; ty < levels.height; ++ty) {
    for (int x = 0; x < width; ++x) {
      const float black =
          levels.black[static_cast<std::size_t>(ty) * levels.width +
                       static_cast<std::size_t>(x % levels.width)];
      black_rows_[ty * w + x] = black;
      range_rows_[ty * w + x] = levels.white - black;
    }
  }
}

void RowNormaliser::PrepareDestination(void* data, std::size_t bytes) {
  if (stores_ == RowStores::kCached || bytes == 0) return;
  // The whole pages the plane spans (mincore and madvise take page-aligned
  // ranges; the bytes around the plane on its first and last page belong
  // to the same allocation or to the allocator, and populating maps them
  // without changing them).
  const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  const auto begin = reinterpret_cast<std::uintptr_t>(data) / page * page;
  const auto end =
      (reinterpret_cast<std::uintptr_t>(data) + bytes + page - 1) / page * page;
  auto* start = reinterpret_cast<void*>(begin);
  const std::size_t length = end - begin;
  std::vector<unsigned char> resident(length / page);
  if (::mincore(start, length, resident.data()) == 0) {
    bool all = true;
    for (const unsigned char r : resident) all = all && (r & 1) != 0;
    if (all) return;  // a reused plane: stream into it
  }
#ifdef MADV_POPULATE_WRITE
  if (::madvise(start, length, MADV_POPULATE_WRITE) == 0) return;
#endif
  stores_ = RowStores::kCached;
}

void RowNormaliser::Row(int y, const std::uint16_t* in, float* out) const {
  const std::size_t tile_row = static_cast<std::size_t>(y % tile_height_) *
                               static_cast<std::size_t>(width_);
  const float* blacks = black_rows_.data() + tile_row;
  const float* ranges = range_rows_.data() + tile_row;
#if DSB_STREAMING_STORES
  if (stores_ != RowStores::kCached) {
    if (stores_ == RowStores::kStreaming && HasAvx2()) {
      StreamedRowAvx2(width_, in, blacks, ranges, out);
    } else {
      StreamedRowSse2(width_, in, blacks, ranges, out);
    }
    return;
  }
#endif
  CachedRow(width_, in, blacks, ranges, out);
}

}  // namespace dsb
