#include "mask/morphology.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "common/vector_clones.h"

namespace dsb {

namespace {

// Up to this radius WindowSums adds shifted rows directly; beyond it, it
// uses prefix sums.
constexpr int kDirectRadius = 16;

// Byte b of kSpread[v] is bit b of v (little-endian: the pixels' order).
constexpr std::array<std::uint64_t, 256> MakeSpread() {
  std::array<std::uint64_t, 256> table{};
  for (int v = 0; v < 256; ++v) {
    for (int b = 0; b < 8; ++b) {
      table[v] |= static_cast<std::uint64_t>((v >> b) & 1) << (8 * b);
    }
  }
  return table;
}
constexpr std::array<std::uint64_t, 256> kSpread = MakeSpread();

using Word = BitPlane::Word;
constexpr int kWordBits = BitPlane::kWordBits;

// 64 bytes, 0 or not, as the bits of a word.
Word PackWord(const std::uint8_t* p) {
#if defined(__SSE2__)
  const __m128i zero = _mm_setzero_si128();
  Word w = 0;
  for (int i = 0; i < 4; ++i) {
    const __m128i v =
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16 * i));
    const unsigned zeros =
        static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(v, zero)));
    w |= static_cast<Word>(~zeros & 0xffffu) << (16 * i);
  }
  return w;
#else
  Word w = 0;
  for (int i = 0; i < kWordBits; ++i) w |= Word{p[i] != 0} << i;
  return w;
#endif
}

// The filters of DilateBinary and the others, on bits: `first`, then its
// opposite where `twice`.
void FilterBytes(PlaneView<std::uint8_t> plane, int radius, bool erode_first,
                 bool twice) {
  if (radius <= 0 || plane.empty()) return;
  BitPlane bits;
  bits.Reset(plane.width, plane.height);
  // An empty plane stays empty under both.
  if (!bits.Pack(plane)) return;
  if (erode_first) {
    bits.Erode(radius);
    if (twice) bits.Dilate(radius);
  } else {
    bits.Dilate(radius);
    if (twice) bits.Erode(radius);
  }
  bits.Unpack(plane);
}

}  // namespace

void BitPlane::Reset(int width, int height) {
  width_ = std::max(width, 0);
  height_ = std::max(height, 0);
  words_ = (width_ + kWordBits - 1) / kWordBits;
  bits_.assign(static_cast<std::size_t>(words_) * height_, 0);
  had_.assign(height_, 0);
}

Word BitPlane::Padding() const {
  return width_ % kWordBits == 0 ? 0 : ~((Word{1} << (width_ % kWordBits)) - 1);
}

void BitPlane::PackRow(int y, const std::uint8_t* bytes) {
  Word* out = Row(y);
  int q = 0;
  for (; (q + 1) * kWordBits <= width_; ++q) {
    out[q] = PackWord(bytes + q * kWordBits);
  }
  if (q < words_) {
    Word w = 0;
    for (int x = q * kWordBits; x < width_; ++x) {
      w |= Word{bytes[x] != 0} << (x - q * kWordBits);
    }
    out[q] = w;
  }
}

bool BitPlane::Pack(PlaneView<const std::uint8_t> plane) {
  bool any = false;
  for (int y = 0; y < height_; ++y) {
    PackRow(y, plane.row(y));
    Word seen = 0;
    const Word* row = Row(y);
    for (int q = 0; q < words_; ++q) seen |= row[q];
    had_[y] = seen != 0;
    any |= seen != 0;
  }
  return any;
}

void BitPlane::Unpack(PlaneView<std::uint8_t> plane) const {
  const Word tail = ~Padding();
  for (int y = 0; y < height_; ++y) {
    const Word* in = Row(y);
    Word seen = 0;
    for (int q = 0; q + 1 < words_; ++q) seen |= in[q];
    if (words_ > 0) seen |= in[words_ - 1] & tail;
    if (seen == 0 && !had_[y]) continue;  // all 0 already
    std::uint8_t* row = plane.row(y);
    for (int q = 0; q < words_; ++q) {
      const Word w = in[q];
      const int x0 = q * kWordBits;
      const int n = std::min(kWordBits, width_ - x0);
      if (n == kWordBits) {
        for (int b = 0; b < 8; ++b) {
          const std::uint64_t spread = kSpread[(w >> (8 * b)) & 0xff];
          std::memcpy(row + x0 + 8 * b, &spread, 8);
        }
      } else {
        for (int i = 0; i < n; ++i) {
          row[x0 + i] = static_cast<std::uint8_t>((w >> i) & 1);
        }
      }
    }
  }
}

bool BitPlane::Any() const {
  const Word tail = ~Padding();
  for (int y = 0; y < height_; ++y) {
    const Word* row = Row(y);
    Word seen = 0;
    for (int q = 0; q + 1 < words_; ++q) seen |= row[q];
    if (words_ > 0) seen |= row[words_ - 1] & tail;
    if (seen != 0) return true;
  }
  return false;
}

void BitPlane::ForEachRun(int y,
                          const std::function<void(int, int)>& fn) const {
  const Word* row = Row(y);
  const Word tail = ~Padding();
  int start = -1;  // of the run open, if any
  for (int q = 0; q < words_; ++q) {
    const Word w = q + 1 == words_ ? row[q] & tail : row[q];
    const int x0 = q * kWordBits;
    // The next change from `at` on: shifting in zeros reads the bits past
    // the word as unset (looking for a set one) or as set (looking for an
    // unset one, in ~w): neither ends the word's search early.
    int at = 0;
    while (at < kWordBits) {
      const Word rest = (start < 0 ? w : ~w) >> at;
      if (rest == 0) break;
      at += __builtin_ctzll(rest);
      if (start < 0) {
        start = x0 + at;
      } else {
        fn(start, x0 + at);
        start = -1;
      }
    }
  }
  if (start >= 0) fn(start, width_);
}

void BitPlane::Open(int radius) {
  Erode(radius);
  Dilate(radius);
}

void BitPlane::Close(int radius) {
  Dilate(radius);
  Erode(radius);
}

void BitPlane::Filter(int radius, bool erode) {
  if (radius <= 0 || empty()) return;
  RowPass(radius, erode);
  ColumnPass(radius, erode);
}

void BitPlane::RowPass(int radius, bool erode) {
  const Word outside = erode ? ~Word{0} : 0;
  const Word pad = Padding();
  // The row with guard words of the outside value each side, so that the
  // shifts read their neighbours without bounds checks.
  const int guard = radius / kWordBits + 1;
  line_.resize(static_cast<std::size_t>(words_) + 2 * guard);
  std::fill(line_.begin(), line_.begin() + guard, outside);
  std::fill(line_.end() - guard, line_.end(), outside);
  const Word* line = line_.data() + guard;
  const int n = words_;
  for (int y = 0; y < height_; ++y) {
    Word* __restrict row = Row(y);
    std::copy(row, row + n, line_.data() + guard);
    // The bits past the width read as the outside too.
    line_[guard + n - 1] = (line[n - 1] & ~pad) | (outside & pad);
    std::copy(line, line + n, row);
    // The pixels k to the right (bit i of word q: pixel 64 q + i + k) and
    // k to the left of each, one k at a time over the row (the shift is
    // then the same for every word: the loops vectorise).
    for (int k = 1; k <= radius; ++k) {
      const int a = k / kWordBits;
      const int b = k % kWordBits;
      const Word* right = line + a;
      const Word* left = line - a;
      if (b == 0) {
        for (int q = 0; q < n; ++q) {
          row[q] =
              erode ? row[q] & right[q] & left[q] : row[q] | right[q] | left[q];
        }
        continue;
      }
      for (int q = 0; q < n; ++q) {
        const Word r = (right[q] >> b) | (right[q + 1] << (kWordBits - b));
        const Word l = (left[q] << b) | (left[q - 1] >> (kWordBits - b));
        row[q] = erode ? row[q] & r & l : row[q] | r | l;
      }
    }
  }
}

// Rows outside count as the identity (set for AND, unset for OR): only
// the rows inside are combined.
void BitPlane::ColumnPass(int radius, bool erode) {
  scratch_.resize(bits_.size());
  for (int y = 0; y < height_; ++y) {
    const int v0 = std::max(y - radius, 0);
    const int v1 = std::min(y + radius, height_ - 1);
    Word* out = scratch_.data() + static_cast<std::size_t>(y) * words_;
    std::copy(Row(v0), Row(v0) + words_, out);
    for (int v = v0 + 1; v <= v1; ++v) {
      const Word* in = Row(v);
      if (erode) {
        for (int q = 0; q < words_; ++q) out[q] &= in[q];
      } else {
        for (int q = 0; q < words_; ++q) out[q] |= in[q];
      }
    }
  }
  bits_.swap(scratch_);
}

// A breadth-first growth moves its front one step at a time, and a pixel
// it reaches at step s is one 4-connected to the set pixels of step
// s - 1: the set pixels' 4-neighbours within `within`, each step (those of
// pixels set earlier are set already).
void BitPlane::GrowWithin(const BitPlane& within, int steps) {
  if (empty()) return;
  const Word pad = Padding();
  scratch_.resize(bits_.size());
  for (int step = 0; step < steps; ++step) {
    bool grew = false;
    for (int y = 0; y < height_; ++y) {
      const Word* row = Row(y);
      const Word* up = y > 0 ? Row(y - 1) : nullptr;
      const Word* down = y + 1 < height_ ? Row(y + 1) : nullptr;
      const Word* allowed = within.Row(y);
      Word* out = scratch_.data() + static_cast<std::size_t>(y) * words_;
      for (int q = 0; q < words_; ++q) {
        const Word w = row[q];
        // Pixel x's left neighbour is x - 1 (the bit below), its right
        // one x + 1; outside the row nothing is set.
        Word near = (w << 1) | (w >> 1);
        if (q > 0) near |= row[q - 1] >> (kWordBits - 1);
        if (q + 1 < words_) near |= row[q + 1] << (kWordBits - 1);
        if (up != nullptr) near |= up[q];
        if (down != nullptr) near |= down[q];
        if (q + 1 == words_) near &= ~pad;
        const Word next = w | (near & allowed[q]);
        grew |= next != w;
        out[q] = next;
      }
    }
    bits_.swap(scratch_);
    if (!grew) break;
  }
}

void DilateBinary(PlaneView<std::uint8_t> plane, int radius) {
  FilterBytes(plane, radius, false, false);
}

void ErodeBinary(PlaneView<std::uint8_t> plane, int radius) {
  FilterBytes(plane, radius, true, false);
}

void OpenBinary(PlaneView<std::uint8_t> plane, int radius) {
  FilterBytes(plane, radius, true, true);
}

void CloseBinary(PlaneView<std::uint8_t> plane, int radius) {
  FilterBytes(plane, radius, false, true);
}

DSB_VECTOR_CLONES void WindowSums(
    PlaneView<const float> values, PlaneView<const std::uint8_t> weights,
    int radius,
    const std::function<void(int y, const float* sums, const float* counts)>&
        row_out) {
  const int w = values.width;
  const int h = values.height;
  if (w <= 0 || h <= 0) return;
  // Column sums over rows [y - r, y + r], kept running in double (and
  // int) so that adding and removing rows does not drift, then a
  // horizontal window.
  std::vector<double> col_sum(w, 0.0);
  std::vector<int> col_count(w, 0);
  std::vector<float> sums(w);
  std::vector<float> counts(w);
  auto add_row = [&](int y) {
    const float* v = values.row(y);
    const std::uint8_t* m = weights.row(y);
    for (int x = 0; x < w; ++x) {
      col_sum[x] += m[x] ? static_cast<double>(v[x]) : 0.0;
      col_count[x] += m[x];
    }
  };
  auto remove_row = [&](int y) {
    const float* v = values.row(y);
    const std::uint8_t* m = weights.row(y);
    for (int x = 0; x < w; ++x) {
      col_sum[x] -= m[x] ? static_cast<double>(v[x]) : 0.0;
      col_count[x] -= m[x];
    }
  };
  // Small windows: shifted copies of the column sums added directly
  // vectorise (zero beyond both ends: windows are clipped at the borders).
  // Large ones: prefix sums, one long dependency chain but O(1) per pixel.
  const bool direct = radius <= kDirectRadius;
  std::vector<float> padded_sum(direct ? w + 2 * radius : 0, 0.0f);
  std::vector<float> padded_count(direct ? w + 2 * radius : 0, 0.0f);
  std::vector<double> prefix_sum(direct ? 0 : w + 1, 0.0);
  std::vector<int> prefix_count(direct ? 0 : w + 1, 0);
  for (int y = 0; y < std::min(radius, h); ++y) add_row(y);
  // The direct path moves the column sums on by a row in one pass: the row
  // that left the window after the previous output is taken out, the one
  // that enters is added (in that order, as two passes would), and the
  // sums are copied out for the horizontal window.
  auto slide = [&](int leaving, int entering) {
    const float* lv = leaving >= 0 ? values.row(leaving) : nullptr;
    const std::uint8_t* lm = leaving >= 0 ? weights.row(leaving) : nullptr;
    const float* ev = entering >= 0 ? values.row(entering) : nullptr;
    const std::uint8_t* em = entering >= 0 ? weights.row(entering) : nullptr;
    float* ps = padded_sum.data() + radius;
    float* pc = padded_count.data() + radius;
    if (lv != nullptr && ev != nullptr) {
      for (int x = 0; x < w; ++x) {
        double c = col_sum[x];
        c -= lm[x] ? static_cast<double>(lv[x]) : 0.0;
        c += em[x] ? static_cast<double>(ev[x]) : 0.0;
        const int n = col_count[x] - lm[x] + em[x];
        col_sum[x] = c;
        col_count[x] = n;
        ps[x] = static_cast<float>(c);
        pc[x] = static_cast<float>(n);
      }
      return;
    }
    if (lv != nullptr) remove_row(leaving);
    if (ev != nullptr) add_row(entering);
    for (int x = 0; x < w; ++x) {
      ps[x] = static_cast<float>(col_sum[x]);
      pc[x] = static_cast<float>(col_count[x]);
    }
  };
  for (int y = 0; y < h; ++y) {
    if (direct) {
      slide(y - 1 - radius, y + radius < h ? y + radius : -1);
      std::fill(sums.begin(), sums.end(), 0.0f);
      std::fill(counts.begin(), counts.end(), 0.0f);
      for (int k = 0; k <= 2 * radius; ++k) {
        const float* ps = padded_sum.data() + k;
        const float* pc = padded_count.data() + k;
        for (int x = 0; x < w; ++x) {
          sums[x] += ps[x];
          counts[x] += pc[x];
        }
      }
    } else {
      if (y + radius < h) add_row(y + radius);
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
    }
    row_out(y, sums.data(), counts.data());
    if (!direct && y - radius >= 0) remove_row(y - radius);
  }
}

}  // namespace dsb
