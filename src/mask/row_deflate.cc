#include "mask/row_deflate.h"

#include <libdeflate.h>

#include <algorithm>
#include <array>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace dsb {

namespace {

constexpr int kMaxMatch = 258;
constexpr int kMinMatch = 3;
constexpr int kWindow = 32768;
// Rows back a match may reach (within the window). On the warm
// photographs' per-sample clipping masks of mask_bench, 2 to 5 rows back
// (a Bayer colour's rows repeat every 2, X-Trans ones every 2 to 6) wrote
// from 2 % fewer (X-Trans, 2 rows) to 7 % more bytes (RGGB) than the row
// above alone, in 5-25 % more time: the in-row periods already find
// those patterns, for fewer bits.
constexpr int kMaxRowsBack = 1;
// Distances tried within a row: runs, and the periods of Bayer (2) and
// X-Trans (3, 6) samples.
constexpr int kRowPeriods[] = {1, 2, 3, 6};
// Shorter matches cost more bits than the literals they replace (a
// two-level image's literals take a bit or two each).
constexpr int kMinInRowMatch = 6;
constexpr int kMinRowMatch = 12;
// ... and longer by this than the best match within the row.
constexpr int kRowBias = 32;
// A run this long is coded as a run (distance 1), never as part of a
// match of rows.
constexpr int kLongRun = 64;
// A match of rows is taken over runs only where the next kBusySpan bytes
// hold more runs than its distance costs, at about kBitsPerRun bits a
// run (literal, length, distance).
constexpr int kBusySpan = 264;
constexpr int kBitsPerRun = 9;
// Tokens per deflate block: each block gets its own Huffman codes.
constexpr std::size_t kBlockTokens = std::size_t{1} << 16;

constexpr int kLengthBase[29] = {3,  4,  5,  6,   7,   8,   9,   10,  11, 13,
                                 15, 17, 19, 23,  27,  31,  35,  43,  51, 59,
                                 67, 83, 99, 115, 131, 163, 195, 227, 258};
constexpr int kLengthExtra[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
                                  2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
constexpr int kDistBase[30] = {1,    2,    3,    4,     5,     7,    9,    13,
                               17,   25,   33,   49,    65,    97,   129,  193,
                               257,  385,  513,  769,   1025,  1537, 2049, 3073,
                               4097, 6145, 8193, 12289, 16385, 24577};

constexpr std::array<std::uint8_t, kMaxMatch + 1> MakeLengthCodes() {
  std::array<std::uint8_t, kMaxMatch + 1> codes{};
  for (int c = 0; c < 29; ++c) {
    const int end = c + 1 < 29 ? kLengthBase[c + 1] : kMaxMatch + 1;
    for (int l = kLengthBase[c]; l < end; ++l) {
      codes[l] = static_cast<std::uint8_t>(c);
    }
  }
  return codes;
}
constexpr std::array<std::uint8_t, kMaxMatch + 1> kLengthCode =
    MakeLengthCodes();

// Distance code (0..29) of `d` (1..32768) from its bits; d > 4.
constexpr int LongDistCode(int d) {
  const unsigned v = static_cast<unsigned>(d - 1);
  const int high = 31 - __builtin_clz(v);
  return 2 * high + static_cast<int>((v >> (high - 1)) & 1u);
}

// The codes of distances up to kSmallDistances, looked up: the in-row
// distances (1, 2, 3, 6) alternate at random on busy masks, and a branch
// on d <= 4 mispredicted on a good part of the matches (callgrind's
// branch simulation), in the parse's counts and in the block's writer.
constexpr int kSmallDistances = 256;
constexpr std::array<std::uint8_t, kSmallDistances + 1> MakeSmallDistCodes() {
  std::array<std::uint8_t, kSmallDistances + 1> codes{};
  for (int d = 1; d <= kSmallDistances; ++d) {
    codes[d] = static_cast<std::uint8_t>(d <= 4 ? d - 1 : LongDistCode(d));
  }
  return codes;
}
constexpr std::array<std::uint8_t, kSmallDistances + 1> kSmallDistCode =
    MakeSmallDistCodes();

// Distance code (0..29) of `d` (1..32768); its extra bits are
// kDistBase-relative, DistExtraBits of them.
inline int DistCode(int d) {
  // Longer distances (matches of rows) are rare: a predictable branch.
  if (d <= kSmallDistances) [[likely]]
    return kSmallDistCode[d];
  return LongDistCode(d);
}
inline int DistExtraBits(int code) { return code < 4 ? 0 : code / 2 - 1; }

// Length of the common prefix of a[0, n) and b[0, n): 32 bytes at a time
// with SSE2 (every x86-64 CPU has it), else 8.
inline int CommonPrefix(const std::uint8_t* a, const std::uint8_t* b, int n) {
  int i = 0;
#if defined(__SSE2__)
  while (i + 32 <= n) {
    const __m128i eq0 = _mm_cmpeq_epi8(
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(a + i)),
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + i)));
    const __m128i eq1 = _mm_cmpeq_epi8(
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(a + i + 16)),
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + i + 16)));
    const unsigned same = static_cast<unsigned>(_mm_movemask_epi8(eq0)) |
                          (static_cast<unsigned>(_mm_movemask_epi8(eq1)) << 16);
    if (same != 0xffffffffu) return i + __builtin_ctz(~same);
    i += 32;
  }
#endif
  while (i + 8 <= n) {
    std::uint64_t x, y;
    std::memcpy(&x, a + i, 8);
    std::memcpy(&y, b + i, 8);
    if (x != y) return i + __builtin_ctzll(x ^ y) / 8;
    i += 8;
  }
  while (i < n && a[i] == b[i]) ++i;
  return i;
}

// Set bits of v (the baseline x86-64 has no popcnt instruction, and
// __builtin_popcountll is then a call).
inline int PopCount(std::uint64_t v) {
  v -= (v >> 1) & 0x5555555555555555u;
  v = (v & 0x3333333333333333u) + ((v >> 2) & 0x3333333333333333u);
  v = (v + (v >> 4)) & 0x0f0f0f0f0f0f0f0fu;
  return static_cast<int>((v * 0x0101010101010101u) >> 56);
}

// Bit i set where byte i of p[0, 8) has its top bit set (255 in a mask).
inline unsigned Pattern8(const std::uint8_t* p) {
#if defined(__SSE2__)
  return static_cast<unsigned>(
      _mm_movemask_epi8(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
#else
  unsigned m = 0;
  for (int i = 0; i < 8; ++i) m |= static_cast<unsigned>(p[i] >> 7) << i;
  return m;
#endif
}

// Code lengths, at most `max_bits`, of a Huffman code for `freq[0, n)`.
// The code is always complete (as zlib's inflate requires): an alphabet
// with fewer than two used symbols gets two one-bit codes.
void HuffmanLengths(const std::uint32_t* freq, int n, int max_bits,
                    std::uint8_t* lengths) {
  std::fill(lengths, lengths + n, 0);
  std::vector<int> used;
  for (int i = 0; i < n; ++i) {
    if (freq[i] > 0) used.push_back(i);
  }
  if (used.size() < 2) {
    const int a = used.empty() ? 0 : used[0];
    lengths[a] = 1;
    lengths[a == 0 ? 1 : 0] = 1;
    return;
  }
  std::sort(used.begin(), used.end(), [&](int a, int b) {
    return freq[a] != freq[b] ? freq[a] < freq[b] : a < b;
  });
  // Two-queue construction over the sorted leaves; internal nodes follow
  // their children, so depths come from the root down in index order.
  const int m = static_cast<int>(used.size());
  std::vector<std::uint64_t> weight(2 * m - 1);
  std::vector<int> parent(2 * m - 1, 0);
  for (int i = 0; i < m; ++i) weight[i] = freq[used[i]];
  int leaf = 0;
  int inner = m;
  for (int next = m; next < 2 * m - 1; ++next) {
    auto pick = [&] {
      if (leaf < m && (inner == next || weight[leaf] <= weight[inner])) {
        return leaf++;
      }
      return inner++;
    };
    const int a = pick();
    const int b = pick();
    weight[next] = weight[a] + weight[b];
    parent[a] = next;
    parent[b] = next;
  }
  std::vector<int> depth(2 * m - 1, 0);
  for (int i = 2 * m - 3; i >= 0; --i) depth[i] = depth[parent[i]] + 1;
  std::vector<int> count(std::max(m, max_bits) + 1, 0);
  for (int i = 0; i < m; ++i) ++count[depth[i]];
  // Deeper codes folded into max_bits, then the Kraft sum restored by
  // splitting shorter codes (as miniz and zlib's trees do).
  for (std::size_t l = max_bits + 1; l < count.size(); ++l) {
    count[max_bits] += count[l];
    count[l] = 0;
  }
  std::uint64_t total = 0;
  for (int l = max_bits; l > 0; --l) {
    total += static_cast<std::uint64_t>(count[l]) << (max_bits - l);
  }
  while (total != (std::uint64_t{1} << max_bits)) {
    --count[max_bits];
    for (int l = max_bits - 1; l > 0; --l) {
      if (count[l] > 0) {
        --count[l];
        count[l + 1] += 2;
        break;
      }
    }
    --total;
  }
  // The rarest symbols get the longest codes.
  int k = 0;
  for (int l = max_bits; l > 0; --l) {
    for (int c = 0; c < count[l]; ++c) {
      lengths[used[k++]] = static_cast<std::uint8_t>(l);
    }
  }
}

// Canonical codes (RFC 1951 3.2.2), bit-reversed for an LSB-first stream.
void CanonicalCodes(const std::uint8_t* lengths, int n, std::uint16_t* codes) {
  int bl_count[16] = {};
  for (int i = 0; i < n; ++i) ++bl_count[lengths[i]];
  bl_count[0] = 0;
  int next_code[16] = {};
  int code = 0;
  for (int bits = 1; bits < 16; ++bits) {
    code = (code + bl_count[bits - 1]) << 1;
    next_code[bits] = code;
  }
  for (int i = 0; i < n; ++i) {
    const int len = lengths[i];
    if (len == 0) {
      codes[i] = 0;
      continue;
    }
    unsigned c = static_cast<unsigned>(next_code[len]++);
    unsigned reversed = 0;
    for (int b = 0; b < len; ++b) {
      reversed = (reversed << 1) | (c & 1u);
      c >>= 1;
    }
    codes[i] = static_cast<std::uint16_t>(reversed);
  }
}

// Bits into reserved room, LSB first, through a 64-bit accumulator whose
// whole bytes are stored at once after every code (8 bytes written,
// advanced by those complete): no branch per code (whether 32 bits had
// filled up was a coin's toss per code on busy masks) and codes of up to
// 56 bits (a match's length and distance in one). A block's writer keeps
// it in a local (registers): as a BitWriter's fields, reached through a
// reference, the accumulator, the count and the output's address were
// loaded and stored around every code (a byte store may alias any of
// them).
struct BitCursor {
  std::uint8_t* out;  // the next byte to write
  std::uint64_t acc;
  int count;  // bits in acc, < 8 between Puts

  static constexpr int kMaxBits = 56;

  // Appends the low `n` (at most kMaxBits) bits of `bits`; within the
  // room (8 bytes are written from `out`).
  [[gnu::always_inline]] void Put(std::uint64_t bits, int n) {
    acc |= bits << count;
    count += n;
    std::uint8_t word[8];
    for (int i = 0; i < 8; ++i) {
      word[i] = static_cast<std::uint8_t>(acc >> (8 * i));
    }
    std::memcpy(out, word, 8);
    const int whole = count & ~7;
    out += whole >> 3;
    acc >>= whole;
    count -= whole;
  }
};

// The output of BitCursors: room reserved ahead (a vector resize per 4
// bytes was a third of WriteBlock's time) and what they leave.
class BitWriter {
 public:
  explicit BitWriter(std::vector<std::uint8_t>& out)
      : out_(out), at_(out.size()) {}

  // A cursor with room for `bytes` more bytes of output; Return(it) when
  // done with it.
  BitCursor Take(std::size_t bytes) {
    if (out_.size() < at_ + bytes + 8) out_.resize(at_ + bytes + 8);
    return {out_.data() + at_, acc_, count_};
  }

  void Return(const BitCursor& cursor) {
    at_ = static_cast<std::size_t>(cursor.out - out_.data());
    acc_ = cursor.acc;
    count_ = cursor.count;
  }

  // Pads to a byte boundary, writes what is left and trims `out` to what
  // was written.
  void Flush() {
    BitCursor cursor = Take(8);
    while (cursor.count > 0) {
      *cursor.out++ = static_cast<std::uint8_t>(cursor.acc);
      cursor.acc >>= 8;
      cursor.count -= 8;
    }
    cursor.acc = 0;
    cursor.count = 0;
    Return(cursor);
    out_.resize(at_);
  }

 private:
  std::vector<std::uint8_t>& out_;
  std::size_t at_;  // bytes written
  std::uint64_t acc_ = 0;
  int count_ = 0;
};

// The tokens of a deflate block as sequences: `literals` bytes, taken in
// order from the block's literal bytes, then a match of `length` bytes
// `distance` back (length 0: none, at the end of a block). A busy stretch
// of a mask alternates short runs of literals (2.8 on average on the warm
// photographs) with matches; a token each cost a branch that mispredicts
// whenever the two alternate, in the parse, the counts and the emission.
struct Sequence {
  std::uint16_t literals;
  std::uint16_t length;
  std::uint16_t distance;
};

// Symbol of each match length in the literal/length alphabet; length 0
// (no match) counts in a slot past the alphabet.
constexpr int kNoSymbol = 286;
constexpr std::array<std::uint16_t, kMaxMatch + 1> MakeLengthSymbols() {
  std::array<std::uint16_t, kMaxMatch + 1> symbols{};
  for (int l = 0; l <= kMaxMatch; ++l) {
    symbols[l] = static_cast<std::uint16_t>(
        l < kMinMatch ? kNoSymbol : 257 + kLengthCode[l]);
  }
  return symbols;
}
constexpr std::array<std::uint16_t, kMaxMatch + 1> kLengthSymbol =
    MakeLengthSymbols();

// Adds the histogram of bytes[0, n) to `counts`. Mask bytes are 0 or 255:
// 16 of those are counted by one compare and a sum of the 255s.
void CountBytes(const std::uint8_t* bytes, std::size_t n,
                std::uint32_t* counts) {
  std::size_t i = 0;
  std::uint64_t two_level = 0;  // bytes counted 16 at a time
  std::uint64_t ones = 0;       // of which 255
#if defined(__SSE2__)
  const __m128i zero = _mm_setzero_si128();
  const __m128i all = _mm_set1_epi8(-1);
  const __m128i one = _mm_set1_epi8(1);
  __m128i ones_sum = _mm_setzero_si128();
  for (; i + 16 <= n; i += 16) {
    const __m128i v =
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(bytes + i));
    const __m128i is_all = _mm_cmpeq_epi8(v, all);
    const __m128i either = _mm_or_si128(is_all, _mm_cmpeq_epi8(v, zero));
    if (_mm_movemask_epi8(either) != 0xffff) {
      for (std::size_t k = i; k < i + 16; ++k) ++counts[bytes[k]];
      continue;
    }
    two_level += 16;
    ones_sum =
        _mm_add_epi64(ones_sum, _mm_sad_epu8(_mm_and_si128(is_all, one), zero));
  }
  std::uint64_t sums[2];
  _mm_storeu_si128(reinterpret_cast<__m128i*>(sums), ones_sum);
  ones = sums[0] + sums[1];
#endif
  for (; i < n; ++i) ++counts[bytes[i]];
  counts[255] += static_cast<std::uint32_t>(ones);
  counts[0] += static_cast<std::uint32_t>(two_level - ones);
}

// One deflate block with dynamic Huffman codes (RFC 1951 3.2.7).
// Matches' symbols as the parse makes them (counted there, between its
// mispredicted branches, rather than in a pass of their own).
struct MatchCounts {
  std::uint32_t length[kNoSymbol] = {};  // by literal/length symbol (>= 257)
  std::uint32_t distance[30] = {};

  void Add(int length_value, int distance_value) {
    ++length[kLengthSymbol[length_value]];
    ++distance[DistCode(distance_value)];
  }
};

// One deflate block with dynamic Huffman codes (RFC 1951 3.2.7).
void WriteBlock(const std::vector<Sequence>& sequences,
                const std::uint8_t* literals, std::size_t literal_count,
                const MatchCounts& matches, bool final, BitWriter& writer) {
  constexpr int kLitCodes = 286;
  constexpr int kDistCodes = 30;
  std::uint32_t lit_freq[kLitCodes];
  std::uint32_t dist_freq[kDistCodes];
  std::copy(matches.length, matches.length + kLitCodes, lit_freq);
  std::copy(matches.distance, matches.distance + kDistCodes, dist_freq);
  CountBytes(literals, literal_count, lit_freq);
  lit_freq[256] = 1;  // end of block
  std::uint8_t lit_len[kLitCodes];
  std::uint8_t dist_len[kDistCodes];
  HuffmanLengths(lit_freq, kLitCodes, 15, lit_len);
  HuffmanLengths(dist_freq, kDistCodes, 15, dist_len);
  std::uint16_t lit_code[kLitCodes];
  std::uint16_t dist_code[kDistCodes];
  CanonicalCodes(lit_len, kLitCodes, lit_code);
  CanonicalCodes(dist_len, kDistCodes, dist_code);
  int nlit = kLitCodes;
  while (nlit > 257 && lit_len[nlit - 1] == 0) --nlit;
  int ndist = kDistCodes;
  while (ndist > 1 && dist_len[ndist - 1] == 0) --ndist;

  // The two tables' code lengths as one sequence, with runs coded by 16
  // (repeat the previous 3-6 times), 17 (3-10 zeros) and 18 (11-138).
  std::vector<std::uint8_t> seq(lit_len, lit_len + nlit);
  seq.insert(seq.end(), dist_len, dist_len + ndist);
  struct LengthSymbol {
    std::uint8_t symbol;
    std::uint8_t extra;
  };
  std::vector<LengthSymbol> coded;
  for (std::size_t i = 0; i < seq.size();) {
    const std::uint8_t v = seq[i];
    std::size_t run = 1;
    while (i + run < seq.size() && seq[i + run] == v) ++run;
    if (v == 0 && run >= 3) {
      const std::size_t r = std::min<std::size_t>(run, 138);
      coded.push_back(r >= 11
                          ? LengthSymbol{18, static_cast<std::uint8_t>(r - 11)}
                          : LengthSymbol{17, static_cast<std::uint8_t>(r - 3)});
      i += r;
    } else if (v != 0 && run >= 4) {
      const std::size_t r = std::min<std::size_t>(run - 1, 6);
      coded.push_back({v, 0});
      coded.push_back({16, static_cast<std::uint8_t>(r - 3)});
      i += 1 + r;
    } else {
      coded.push_back({v, 0});
      ++i;
    }
  }
  std::uint32_t cl_freq[19] = {};
  for (const LengthSymbol& s : coded) ++cl_freq[s.symbol];
  std::uint8_t cl_len[19];
  std::uint16_t cl_code[19];
  HuffmanLengths(cl_freq, 19, 7, cl_len);
  CanonicalCodes(cl_len, 19, cl_code);
  static constexpr std::uint8_t kOrder[19] = {
      16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15};
  int nclen = 19;
  while (nclen > 4 && cl_len[kOrder[nclen - 1]] == 0) --nclen;

  // The block's exact size, so that its room is reserved once (room for
  // the worst case, 48 bits a token, made the output vector grow into
  // fresh pages).
  std::uint64_t block_bits = 3 + 14 + 3 * nclen;
  for (const LengthSymbol& s : coded) {
    block_bits += cl_len[s.symbol] + (s.symbol == 16   ? 2
                                      : s.symbol == 17 ? 3
                                      : s.symbol == 18 ? 7
                                                       : 0);
  }
  for (int i = 0; i < kLitCodes; ++i) {
    block_bits += static_cast<std::uint64_t>(lit_freq[i]) *
                  (lit_len[i] + (i > 256 ? kLengthExtra[i - 257] : 0));
  }
  for (int i = 0; i < kDistCodes; ++i) {
    block_bits += static_cast<std::uint64_t>(dist_freq[i]) *
                  (dist_len[i] + DistExtraBits(i));
  }
  BitCursor bits = writer.Take(static_cast<std::size_t>(block_bits / 8 + 8));
  bits.Put(final ? 1 : 0, 1);
  bits.Put(2, 2);  // dynamic Huffman codes
  bits.Put(static_cast<std::uint32_t>(nlit - 257), 5);
  bits.Put(static_cast<std::uint32_t>(ndist - 1), 5);
  bits.Put(static_cast<std::uint32_t>(nclen - 4), 4);
  for (int i = 0; i < nclen; ++i) bits.Put(cl_len[kOrder[i]], 3);
  for (const LengthSymbol& s : coded) {
    bits.Put(cl_code[s.symbol], cl_len[s.symbol]);
    if (s.symbol == 16) bits.Put(s.extra, 2);
    if (s.symbol == 17) bits.Put(s.extra, 3);
    if (s.symbol == 18) bits.Put(s.extra, 7);
  }
  // Each match length's code and extra bits as one field (at most 20
  // bits), so that a match is one Put with its distance's.
  std::uint32_t length_bits[kMaxMatch + 1] = {};
  std::uint8_t length_count[kMaxMatch + 1] = {};
  for (int l = kMinMatch; l <= kMaxMatch; ++l) {
    const int lc = kLengthCode[l];
    const int code_len = lit_len[257 + lc];
    length_bits[l] =
        lit_code[257 + lc] |
        (static_cast<std::uint32_t>(l - kLengthBase[lc]) << code_len);
    length_count[l] = static_cast<std::uint8_t>(code_len + kLengthExtra[lc]);
  }
  // The literals of a block of 0s and 255s whose codes take at most 4
  // bits each go out up to 8 at a time: each pattern of 8 such bytes (bit
  // i set where byte i is 255) maps to their codes end to end, with the
  // length of each prefix (a literal each was a Put, and a literal run is
  // short: a table lookup does it whole).
  bool two_level = lit_len[0] <= 4 && lit_len[255] <= 4;
  for (int i = 1; two_level && i < 255; ++i) two_level = lit_freq[i] == 0;
  struct Group {
    std::uint32_t bits;
    std::uint8_t prefix[9];  // bits of the first k codes
  };
  std::array<Group, 256> groups;
  if (two_level) {
    for (int m = 0; m < 256; ++m) {
      Group& g = groups[m];
      g.bits = 0;
      g.prefix[0] = 0;
      for (int i = 0; i < 8; ++i) {
        const int value = (m >> i) & 1 ? 255 : 0;
        g.bits |= static_cast<std::uint32_t>(lit_code[value]) << g.prefix[i];
        g.prefix[i + 1] =
            static_cast<std::uint8_t>(g.prefix[i] + lit_len[value]);
      }
    }
  }
  // Per distance code, its code's and extra bits' count.
  std::uint8_t dist_count[kDistCodes];
  for (int i = 0; i < kDistCodes; ++i) {
    dist_count[i] = static_cast<std::uint8_t>(dist_len[i] + DistExtraBits(i));
  }
  const std::uint8_t* lit = literals;
  // Up to 8 two-level literals from `lit` (n of them, 0 to 8).
  auto put_group = [&](int n) {
    const Group& g = groups[Pattern8(lit)];
    const int length = g.prefix[n];
    bits.Put(g.bits & ((std::uint64_t{1} << length) - 1), length);
    lit += n;
  };
  auto put_literals = [&](int n) {
    if (two_level) {
      // The first 16 as two groups whatever their count (a loop of 8 at
      // a time mispredicted its exit on a good part of the sequences;
      // the literals' buffer is padded, so reading 16 is safe).
      const int first = std::min(n, 8);
      const int second = std::min(n - first, 8);
      put_group(first);
      put_group(second);
      // Past 16 (rare), 8 at a time.
      for (n -= first + second; n > 0; n -= 8) put_group(std::min(n, 8));
    } else {
      for (; n > 0; --n, ++lit) bits.Put(lit_code[*lit], lit_len[*lit]);
    }
  };
  // Where most sequences have no literals (quiet masks: runs and rows),
  // those skip the literals' step; where they alternate (busy ones), the
  // step runs for every sequence rather than mispredict (two loops: a
  // test of both in one was ordered by the compiler to branch on the
  // count first).
  auto put_sequences = [&]<bool kSkipNone>() {
    for (const Sequence& s : sequences) {
      if (!kSkipNone || s.literals != 0) put_literals(s.literals);
      if (s.length == 0) continue;
      // The length's field and the distance's code and extra bits (at
      // most 20 + 28 bits) as one.
      static_assert(20 + 28 <= BitCursor::kMaxBits);
      const int dc = DistCode(s.distance);
      const std::uint64_t distance_bits =
          dist_code[dc] |
          (static_cast<std::uint64_t>(s.distance - kDistBase[dc])
           << dist_len[dc]);
      const int length_n = length_count[s.length];
      bits.Put(length_bits[s.length] | distance_bits << length_n,
               length_n + dist_count[dc]);
    }
  };
  if (literal_count < sequences.size() / 2) {
    put_sequences.template operator()<true>();
  } else {
    put_sequences.template operator()<false>();
  }
  bits.Put(lit_code[256], lit_len[256]);
  writer.Return(bits);
}

// Adler-32 (RFC 1950) of the filtered rows (a zero filter byte, then the
// row), advanced a row at a time as the encoder reaches each row, while
// the row is in the cache: a pass of its own read the whole mask once
// more after the encoder (at 24 MP, 24 MB from memory: ~2.5 ms of a
// 60 ms mask + PNG, perf). A row equal to the row before (the encoder
// has just compared them) adds the same sums again without being read.
class RowsAdler {
 public:
  explicit RowsAdler(int width) : width_(width) {}

  // Adds `row` (width bytes) after its filter byte.
  void Add(const std::uint8_t* row) {
    // From (s1, s2) = (1, 0) a row's Adler-32 is (1 + A, w + B), with A
    // the sum of its bytes and B the sum of each byte times the bytes
    // from it to the row's end.
    const std::uint32_t own = static_cast<std::uint32_t>(
        libdeflate_adler32(1, row, static_cast<std::size_t>(width_)));
    const std::uint64_t w = static_cast<std::uint64_t>(width_) % kBase;
    sum_ = ((own & 0xffffu) + kBase - 1) % kBase;
    weighted_ = ((own >> 16) + kBase - w) % kBase;
    Repeat();
  }

  // Adds a row of `width` bytes all equal to `value`, without reading it:
  // A = w v, B = v (w + (w - 1) + ... + 1).
  void AddRun(std::uint8_t value) {
    const std::uint64_t w = static_cast<std::uint64_t>(width_);
    sum_ = w % kBase * value % kBase;
    weighted_ = (w * (w + 1) / 2) % kBase * value % kBase;
    Repeat();
  }

  // Adds the row added last once more.
  void Repeat() {
    // A unit of n = width + 1 bytes moves s2 by n * s1 + B (the filter
    // byte, 0, adds nothing to either sum) and s1 by A.
    const std::uint64_t n = (static_cast<std::uint64_t>(width_) + 1) % kBase;
    s2_ = (s2_ + n * s1_ + weighted_) % kBase;
    s1_ = (s1_ + sum_) % kBase;
  }

  std::uint32_t value() const {
    return static_cast<std::uint32_t>(s2_ << 16 | s1_);
  }

 private:
  static constexpr std::uint64_t kBase = 65521;
  int width_;
  std::uint64_t s1_ = 1;
  std::uint64_t s2_ = 0;
  std::uint64_t sum_ = 0;       // A of the row added last
  std::uint64_t weighted_ = 0;  // B of the row added last
};

// The sequences of the block being written, flushed as a deflate block
// every kBlockTokens symbols (literal bytes and matches: the same blocks,
// hence the same codes, as a token at a time).
class TokenStream {
 public:
  explicit TokenStream(BitWriter& bits)
      : bits_(bits), bytes_(kBlockTokens + kBytesPad) {
    sequences_.reserve(kBlockTokens + 1);
  }

  // Appends literals p[0, n). Within a block and with room to read 64
  // bytes at p (`readable`), they are copied as 64 bytes at once.
  [[gnu::always_inline]] void Literals(const std::uint8_t* p, int n,
                                       bool readable) {
    if (readable && n <= 64 && symbols_ + n < static_cast<int>(kBlockTokens) &&
        pending_ + n < kMaxLiterals) [[likely]] {
      std::memcpy(bytes_.data() + byte_count_, p, 64);
      byte_count_ += n;
      pending_ += n;
      symbols_ += n;
      return;
    }
    SomeLiterals(p, n);
  }

  [[gnu::always_inline]] void Literal(std::uint8_t v) {
    if (symbols_ + 1 < static_cast<int>(kBlockTokens) &&
        pending_ + 1 < kMaxLiterals) [[likely]] {
      bytes_[byte_count_++] = v;
      ++pending_;
      ++symbols_;
      return;
    }
    SomeLiterals(&v, 1);
  }

 private:
  [[gnu::noinline]] void SomeLiterals(const std::uint8_t* p, int n) {
    while (n > 0) {
      const int k = std::min({n, static_cast<int>(kBlockTokens) - symbols_,
                              kMaxLiterals - pending_});
      std::memcpy(bytes_.data() + byte_count_, p, k);
      byte_count_ += k;
      pending_ += k;
      symbols_ += k;
      p += k;
      n -= k;
      if (symbols_ == static_cast<int>(kBlockTokens)) {
        Flush(false);
      } else if (pending_ == kMaxLiterals) {
        sequences_.push_back({static_cast<std::uint16_t>(pending_), 0, 0});
        pending_ = 0;
      }
    }
  }

 public:
  // Appends a match of `length` (kMinMatch to kMaxMatch) bytes `distance`
  // back, after the literals before it.
  void Match(int length, int distance) {
    sequences_.push_back({static_cast<std::uint16_t>(pending_),
                          static_cast<std::uint16_t>(length),
                          static_cast<std::uint16_t>(distance)});
    counts_.Add(length, distance);
    pending_ = 0;
    if (++symbols_ == static_cast<int>(kBlockTokens)) Flush(false);
  }

  void Finish() { Flush(true); }

 private:
  static constexpr int kMaxLiterals = 65535;    // in one sequence
  static constexpr std::size_t kBytesPad = 64;  // read past the last

  void Flush(bool final) {
    if (pending_ > 0) {
      sequences_.push_back({static_cast<std::uint16_t>(pending_), 0, 0});
    }
    WriteBlock(sequences_, bytes_.data(), byte_count_, counts_, final, bits_);
    counts_ = MatchCounts{};
    sequences_.clear();
    byte_count_ = 0;
    pending_ = 0;
    symbols_ = 0;
  }

  BitWriter& bits_;
  std::vector<Sequence> sequences_;
  MatchCounts counts_;
  std::vector<std::uint8_t> bytes_;  // the block's literals
  std::size_t byte_count_ = 0;
  int pending_ = 0;  // literals not yet in a sequence
  int symbols_ = 0;  // literals and matches in the block
};

// For each pixel of one row: whether it equals the pixel 1, 2, 3 and 6
// back (sets 0-3, kRowPeriods) and the pixel above (set kAbove), 64
// pixels to a word, computed as the encoder reaches them (a row the
// encoder matches whole is never read here). Bits past the row, and
// before a period's first pixel, are 0. Match lengths are then counts of
// set bits, and the quick test for literals is a few shifts for 52
// pixels at once.
class RowBits {
 public:
  struct PlaneWord {
    std::uint64_t bits;
    std::uint32_t serial;
    bool two_level;
  };

  static constexpr int kSets = static_cast<int>(std::size(kRowPeriods)) + 1;
  static constexpr int kAbove = kSets - 1;
  static_assert(kMaxRowsBack == 1, "one set of bits for rows back");

  explicit RowBits(int width)
      : width_(width),
        words_((width + 63) / 64),
        bits_(static_cast<std::size_t>(words_ + 2)),
        stamp_(static_cast<std::size_t>(words_ + 2), 0),
        plane_(static_cast<std::size_t>(words_ + 1)),
        above_plane_(static_cast<std::size_t>(words_ + 1)) {}

  // `above` is null where no match of rows may reach the row.
  // `above_is_last`: the row above is the row started last (its bit
  // planes are kept).
  void Start(const std::uint8_t* row, const std::uint8_t* above,
             bool above_is_last) {
    row_ = row;
    above_ = above;
    const std::uint32_t last = serial_;
    serial_ = next_serial_++;
    if (above_is_last) {
      std::swap(plane_, above_plane_);
      above_serial_ = last;
    } else {
      above_serial_ = next_serial_++;
    }
    // The words of zeros past the row.
    stamp_[words_] = serial_;
    stamp_[words_ + 1] = serial_;
    long_start_.fill(0);
    long_end_.fill(0);
  }

  bool has_above() const { return above_ != nullptr; }

  // Bits [x, x + 64) of `set`.
  [[gnu::always_inline]] std::uint64_t Bits(int set, int x) {
    Ensure(x >> 6);
    return Computed(set, x);
  }

  // How many bits of `set` are set from x on (x < width). Past the
  // first word, the bytes are compared directly (a long run needs no
  // other set's bits), and the end remembered: a later position before it
  // has the same match, shorter by the distance moved.
  [[gnu::always_inline]] int Ones(int set, int x) {
    const std::uint64_t clear = ~Bits(set, x);
    if (clear != 0) return __builtin_ctzll(clear);
    return LongOnes(set, x);
  }

  // Bits [x, x + 64) of every set (of the row above: 0 where none).
  struct Window {
    std::uint64_t set[kSets];
  };
  [[gnu::always_inline]] Window Load(int x) {
    Ensure(x >> 6);
    Window w;
    for (int k = 0; k < kSets; ++k) w.set[k] = Computed(k, x);
    return w;
  }

  // How many pixels from x on (x < width) have no candidate that could
  // reach its least useful length (6 pixels at a period or as a run, 12
  // as the row above): literals without a look further (as the test per
  // pixel before the bits found them), up to the first pixel where one
  // may, or to 53 of them, or to the row's end. `stopped`: a candidate
  // stopped them. (A run of kLongRun from the next pixel only makes the
  // pixel a literal, which it is here too; the run then stops them.)
  [[gnu::always_inline]] int Quiet(const Window& w, int x, bool& stopped) {
    auto ones6 = [](std::uint64_t v) {  // bit k: bits k..k+5 of v set
      const std::uint64_t two = v & (v >> 1);
      return two & (two >> 2) & (two >> 4);
    };
    std::uint64_t hit =
        ones6(w.set[0]) | ones6(w.set[1]) | ones6(w.set[2]) | ones6(w.set[3]);
    const std::uint64_t a = w.set[kAbove];
    const std::uint64_t a2 = a & (a >> 1);
    const std::uint64_t a4 = a2 & (a2 >> 2);
    hit |= a4 & (a4 >> 4) & (a4 >> 8);
    const int last = std::min(52, width_ - 1 - x);
    const std::uint64_t beyond = ~std::uint64_t{0} << last << 1;
    const int quiet = __builtin_ctzll(hit | beyond);
    stopped = ((hit >> quiet) & 1) != 0;
    return quiet;
  }

  // How many of the pixels x..x+n-2 differ from the next one.
  int Changes(int x, int n) {
    int same = 0;
    for (int i = 1; i < n; i += 64) {
      std::uint64_t v = Bits(0, x + i);
      if (n - i < 64) v &= (std::uint64_t{1} << (n - i)) - 1;
      same += PopCount(v);
    }
    return n - 1 - same;
  }

 private:
  [[gnu::noinline]] int LongOnes(int set, int x) {
    if (x >= long_start_[set] && x < long_end_[set]) {
      return long_end_[set] - x;
    }
    const std::uint8_t* other =
        set == kAbove ? above_ : row_ - kRowPeriods[set];
    const int end =
        x + 64 + CommonPrefix(row_ + x + 64, other + x + 64, width_ - x - 64);
    long_start_[set] = x;
    long_end_[set] = end;
    return end - x;
  }

  // Bits [x, x + 64) of `set`, once Ensure(x >> 6).
  [[gnu::always_inline]] std::uint64_t Computed(int set, int x) const {
    const int j = x >> 6;
    const int s = x & 63;
    return (bits_[j][set] >> s) | ((bits_[j + 1][set] << 1) << (63 - s));
  }

  // Words j and j + 1 of this row computed. A word not computed yet is computed
  // with the next ones, kAhead in all: the encoder reaches a new word at no
  // regular step, and the test mispredicted each time (a word at a time, a
  // fifth of the parse's mispredicted branches in callgrind's simulation). A
  // long match that skips words then costs at most kAhead - 1 words computed
  // for nothing.
  [[gnu::always_inline]] void Ensure(int j) {
    if ((stamp_[j] != serial_) | (stamp_[j + 1] != serial_)) [[unlikely]]
      ComputeAhead(j);
  }

  static constexpr int kAhead = 4;

  [[gnu::noinline]] void ComputeAhead(int j) {
    // Words past the row are stamped zeros (Start).
    const int end = std::min(j + kAhead, words_);
    for (int k = j; k < end; ++k) {
      if (stamp_[k] != serial_) Compute(k);
    }
  }

  // Word j of a row's bit plane (from `row`, of the row with `serial`).
  const PlaneWord& PlaneAt(std::vector<PlaneWord>& planes,
                           const std::uint8_t* row, int j,
                           std::uint32_t serial) {
    PlaneWord& word = planes[j];
    if (word.serial != serial) {
      word.bits = Plane(row, 64 * j, word.two_level);
      word.serial = serial;
    }
    return word;
  }

  // Bit i of the result: p[i] >= 128 (a mask's 255), for p[0, 64) (or
  // the row's pixels from x0 on, zeros past its end); `two_level`: every
  // byte 0 or 255.
  std::uint64_t Plane(const std::uint8_t* row, int x0, bool& two_level) const {
    alignas(16) std::uint8_t copy[64];
    const int inside = width_ - x0;
    const std::uint8_t* p = row + x0;
    if (inside < 64) {
      std::memset(copy, 0, sizeof copy);
      std::memcpy(copy, p, static_cast<std::size_t>(inside));
      p = copy;
    }
    const __m128i zero = _mm_setzero_si128();
    __m128i ok = _mm_cmpeq_epi8(zero, zero);
    std::uint64_t plane = 0;
    for (int part = 0; part < 64; part += 16) {
      const __m128i v =
          _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + part));
      ok = _mm_and_si128(ok, _mm_cmpeq_epi8(v, _mm_cmpgt_epi8(zero, v)));
      plane |= static_cast<std::uint64_t>(
                   static_cast<unsigned>(_mm_movemask_epi8(v)))
               << part;
    }
    two_level = _mm_movemask_epi8(ok) == 0xffff;
    return plane;
  }

  // Word j's bits of every set: from the rows' bit planes where the
  // pixels they compare are all 0 or 255 (a mask: a few shifts a set),
  // else from the bytes.
  [[gnu::noinline]] void Compute(int j) {
    stamp_[j] = serial_;
    // Fields read one by one: a copy of the whole word would load
    // together what PlaneAt stored apart (a stalled store forward: half
    // of this function's time).
    const PlaneWord& here = PlaneAt(plane_, row_, j, serial_);
    const std::uint64_t p = here.bits;
    bool two_level = here.two_level;
    std::uint64_t before = 0;
    if (j > 0) {
      const PlaneWord& word = PlaneAt(plane_, row_, j - 1, serial_);
      before = word.bits;
      two_level = two_level && word.two_level;
    }
    std::uint64_t above = 0;
    if (above_ != nullptr) {
      const PlaneWord& word = PlaneAt(above_plane_, above_, j, above_serial_);
      above = word.bits;
      two_level = two_level && word.two_level;
    }
    if (!two_level) {
      ComputeBytes(j);
      return;
    }
    std::uint64_t* out = bits_[j].data();
    for (std::size_t i = 0; i < std::size(kRowPeriods); ++i) {
      const int d = kRowPeriods[i];
      out[i] = ~(p ^ ((p << d) | (before >> (64 - d))));
    }
    out[kAbove] = above_ != nullptr ? ~(p ^ above) : 0;
    const int inside = width_ - 64 * j;
    if (inside < 64) {
      for (int k = 0; k < kSets; ++k) {
        out[k] &= (std::uint64_t{1} << inside) - 1;
      }
    }
    if (j == 0) ClearFirstPixels(out);
  }

  // Word j's bits of every set, from the bytes.
  void ComputeBytes(int j) {
    const int x0 = 64 * j;
    std::uint64_t* out = bits_[j].data();
    const int inside = width_ - x0;
    if (inside >= 64) {
      if (j == 0) {
        ComputeWord<true>(row_, above_, out);
      } else {
        ComputeWord<false>(row_ + x0, above_ != nullptr ? above_ + x0 : nullptr,
                           out);
      }
      return;
    }
    // The row (or the frame) ends within the word: from a copy, and the
    // bits past its end cleared.
    alignas(16) std::uint8_t row_copy[8 + 64] = {};
    alignas(16) std::uint8_t above_copy[64] = {};
    const int before = std::min(x0, 8);
    std::memcpy(row_copy + 8 - before, row_ + x0 - before,
                static_cast<std::size_t>(before + inside));
    if (above_ != nullptr) {
      std::memcpy(above_copy, above_ + x0, static_cast<std::size_t>(inside));
    }
    ComputeWord<false>(row_copy + 8, above_ != nullptr ? above_copy : nullptr,
                       out);
    for (int k = 0; k < kSets; ++k) {
      out[k] &= (std::uint64_t{1} << inside) - 1;
    }
    if (j == 0) ClearFirstPixels(out);
  }

  // A period's bits before its first pixel.
  static void ClearFirstPixels(std::uint64_t* out) {
    for (std::size_t i = 0; i < std::size(kRowPeriods); ++i) {
      out[i] &= ~std::uint64_t{0} << kRowPeriods[i];
    }
  }

  // The bits of row[0, 64) against the pixels before (from row[-6] on;
  // `first`: none, the row's first word) and `above` (or none).
  template <bool first>
  static void ComputeWord(const std::uint8_t* row, const std::uint8_t* above,
                          std::uint64_t* out) {
    static_assert(kRowPeriods[0] == 1 && kRowPeriods[1] == 2 &&
                  kRowPeriods[2] == 3 && kRowPeriods[3] == 6);
    auto mask = [](__m128i a, __m128i b) {
      return static_cast<std::uint64_t>(
          static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(a, b))));
    };
    auto load = [](const std::uint8_t* p) {
      return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    };
    std::uint64_t m[kSets] = {};
    for (int part = 0; part < 64; part += 16) {
      const std::uint8_t* p = row + part;
      const __m128i v = load(p);
      if (first && part == 0) {
        // Shifted in register: nothing may be read before the row.
        m[0] |= mask(v, _mm_slli_si128(v, 1));
        m[1] |= mask(v, _mm_slli_si128(v, 2));
        m[2] |= mask(v, _mm_slli_si128(v, 3));
        m[3] |= mask(v, _mm_slli_si128(v, 6));
      } else {
        m[0] |= mask(v, load(p - 1)) << part;
        m[1] |= mask(v, load(p - 2)) << part;
        m[2] |= mask(v, load(p - 3)) << part;
        m[3] |= mask(v, load(p - 6)) << part;
      }
      if (above != nullptr) m[kAbove] |= mask(v, load(above + part)) << part;
    }
    for (int k = 0; k < kSets; ++k) out[k] = m[k];
    if (first) ClearFirstPixels(out);
  }

  int width_;
  int words_;
  std::vector<std::array<std::uint64_t, kSets>> bits_;  // 2 words of 0 past
  const std::uint8_t* row_ = nullptr;
  const std::uint8_t* above_ = nullptr;
  // Words are computed where the encoder reads them (a long match skips
  // those it covers); stamp_[j] is the serial of the row whose word j
  // bits_ holds. Rows get serials from 1.
  std::vector<std::uint32_t> stamp_;
  std::uint32_t serial_ = 0;
  std::uint32_t above_serial_ = 0;
  std::uint32_t next_serial_ = 1;
  // The rows' bit planes (Plane) per word, each with its row's serial.
  std::vector<PlaneWord> plane_;
  std::vector<PlaneWord> above_plane_;
  // Per set, the last long match found: from long_start_ to long_end_.
  std::array<int, kSets> long_start_{};
  std::array<int, kSets> long_end_{};
};

}  // namespace

void DeflatePngRows(PlaneView<const std::uint8_t> image,
                    std::vector<std::uint8_t>& out) {
  const int w = image.width;
  const int h = image.height;
  const int unit = w + 1;  // a row and its filter byte
  const int rows_back = std::min(kMaxRowsBack, kWindow / unit);
  // zlib header: deflate, 32 KiB window, no dictionary, "fastest".
  out.push_back(0x78);
  out.push_back(0x01);
  BitWriter bits(out);
  TokenStream tokens(bits);
  auto match = [&](std::int64_t length, int distance) {
    // One token, inline (the loop was a call per match).
    if (length <= kMaxMatch) [[likely]] {
      tokens.Match(static_cast<int>(length), distance);
      return;
    }
    while (length > 0) {
      std::int64_t n = std::min<std::int64_t>(length, kMaxMatch);
      // Never leave a remainder shorter than a match.
      if (length > kMaxMatch && length - kMaxMatch < kMinMatch) {
        n = length - kMinMatch;
      }
      tokens.Match(static_cast<int>(n), distance);
      length -= n;
    }
  };

  // Position: byte c of row y's unit (0: its filter byte, c: pixel c - 1).
  // A row's match lengths are counts of set bits (RowBits).
  RowBits equal(w);
  RowsAdler adler(w);
  const std::uint8_t* row = nullptr;
  int last_started = -1;
  // Every row is either started (and added to the Adler-32 then) or found
  // equal to the row above by the run of matched rows below. A row that
  // is one run of kLongRun or more, started at its filter byte (not after
  // a match of rows that ended in it), is coded at once, as the steps
  // below would: its filter byte and first pixel as literals (a long run
  // starts there), then the run at distance 1; it needs no bits.
  bool one_run = false;
  auto start_row = [&](int y, int at) {
    row = image.row(y);
    one_run = w == 1 || CommonPrefix(row + 1, row, w - 1) == w - 1;
    if (one_run) {
      adler.AddRun(row[0]);
    } else {
      adler.Add(row);
    }
    if (one_run && w >= kLongRun && at == 0) return;
    one_run = false;
    equal.Start(row, y >= 1 && rows_back >= 1 ? image.row(y - 1) : nullptr,
                last_started == y - 1);
    last_started = y;
  };
  // The longest candidate at a period at pixel x, its distance, and
  // whether a run of kLongRun or more starts at x: from the bits of
  // `window`, valid for `valid` pixels from x, or past those counted on.
  struct Candidates {
    int best;
    int distance;
    bool long_run;
    int next_run;  // the run from x + 1, where long_run
  };
  auto in_row = [&](const RowBits::Window& window, int valid, int x) {
    Candidates found{0, 0, false, 0};
    auto ones = [&](int set) {
      const std::uint64_t clear = ~window.set[set];
      const int len = clear != 0 ? __builtin_ctzll(clear) : 64;
      return len < valid ? len : equal.Ones(set, x);
    };
    // The run first. Pixels x - 1 .. x + run - 1 are equal and pixel
    // x + run is not (or is past the row): a period d's match from x
    // compares that pixel with pixel x + run - d, inside the run where
    // run >= d - 1, so it ends there too. A run of 5 or more is thus
    // at least as long as every period's match (and a tie keeps the
    // run): the periods are not looked at.
    const int run = ones(0);
    static_assert(kRowPeriods[0] == 1 && kRowPeriods[3] == 6);
    if (run >= kRowPeriods[3] - 1) {
      if (run >= kMinInRowMatch) {
        found.best = run;
        found.distance = 1;
      }
    } else {
      for (std::size_t i = 1; i < std::size(kRowPeriods); ++i) {
        const int len = ones(static_cast<int>(i));
        if (len >= kMinInRowMatch && len > found.best) {
          found.best = len;
          found.distance = kRowPeriods[i];
        }
      }
    }
    // Whether a run of kLongRun or more starts at x + 1. Where pixel x
    // continues a run (run > 0), that run is run - 1 from x + 1, shorter
    // than kLongRun (else found.best would be run).
    if (found.best < kLongRun && x + 1 < w && run == 0) {
      const std::uint64_t clear = ~(window.set[0] >> 1);
      int rest = clear != 0 ? __builtin_ctzll(clear) : 64;
      if (rest >= valid - 1) rest = equal.Ones(0, x + 1);
      found.long_run = 1 + rest >= kLongRun;
      found.next_run = rest;
    }
    return found;
  };
  int y = 0;
  int c = 0;
  int quiet_until = 0;  // no match of rows before byte c of this row
  start_row(0, 0);
  while (y < h) {
    if (one_run) {
      tokens.Literal(0);
      tokens.Literal(row[0]);
      match(w - 1, 1);
      if (++y < h) start_row(y, 0);
      continue;
    }
    int best = 0;
    int best_distance = 0;
    bool literal = false;
    // The bits from pixel c - 1 on, valid for `valid` pixels (c >= 1).
    RowBits::Window window;
    int valid = 0;
    if (c == 0) {
      // A long run is coded as one (distance 1: no extra bits) even where
      // a match of rows is longer (12 extra bits per 258 bytes at 6,000
      // pixels a row): the byte before it, and its first pixel, as
      // literals.
      const int run = w > 1 ? equal.Ones(0, 1) : 0;
      literal = 1 + run >= kLongRun;
      // A run of kLongRun or more from pixel 1 is what the next steps
      // code after the two literals (its length shuts out a match of
      // rows; at kLongRun - 1 one may still win): coded here at once.
      if (run >= kLongRun) {
        tokens.Literal(0);
        tokens.Literal(row[0]);
        match(run, 1);
        c = 2 + run;
        if (c == unit) {
          c = 0;
          if (++y < h) start_row(y, 0);
        }
        continue;
      }
    } else {
      int x = c - 1;
      window = equal.Load(x);
      valid = 64;
      // Most pixels of a busy stretch are literals: those where no
      // candidate can reach its least useful length go out up to 53 at a
      // time, without looking further.
      bool stopped = false;
      const int quiet = equal.Quiet(window, x, stopped);
      if (quiet > 0) {
        tokens.Literals(row + x, quiet, x + 64 <= w);
        c += quiet;
        if (!stopped) {
          if (c == unit) {
            c = 0;
            quiet_until = 0;
            if (++y < h) start_row(y, 0);
          }
          continue;
        }
        x += quiet;
        valid -= quiet;
        for (std::uint64_t& set : window.set) set >>= quiet;
      }
      const Candidates found = in_row(window, valid, x);
      if (found.long_run && found.next_run >= kLongRun) {
        // The literal, then the run the next step would code (as at
        // c == 0 above).
        tokens.Literal(row[x]);
        match(found.next_run, 1);
        c = x + 2 + found.next_run;
        if (c == unit) {
          c = 0;
          quiet_until = 0;
          if (++y < h) start_row(y, 0);
        }
        continue;
      }
      best = found.best;
      best_distance = found.distance;
      literal = found.long_run;  // (then best < kLongRun)
    }
    const int left = unit - c;
    int best_rows = 0;
    // Matches of rows cost more bits per byte: they must be longer by
    // kRowBias than the best match within the row.
    const int in_row_best = best;
    if (!literal && best < left && best < kLongRun && c >= quiet_until &&
        equal.has_above()) {
      int len;
      if (c == 0) {
        len = 1 + equal.Ones(RowBits::kAbove, 0);
      } else {
        const std::uint64_t clear = ~window.set[RowBits::kAbove];
        len = clear != 0 ? __builtin_ctzll(clear) : 64;
        if (len >= valid) len = equal.Ones(RowBits::kAbove, c - 1);
      }
      // One branch (rarely taken), not three: len reaches 12 at random.
      if ((len >= kMinRowMatch) & (len > in_row_best + kRowBias) &
          (len > best)) {
        best = len;
        best_distance = unit;
        best_rows = 1;
      }
    }
    // Where the row is a few long runs, runs cost fewer bits than a match
    // of rows, whose distance takes about 16 bits per 258 bytes.
    if (best_rows > 0) {
      const int x = std::max(c - 1, 0);
      const int span = std::min(std::min(best, kBusySpan), w - x);
      if (equal.Changes(x, span) * kBitsPerRun < span / kMaxMatch * 16 + 16) {
        literal = true;
        // Not asked again over the next half of that span.
        quiet_until = c + span / 2;
      }
    }
    if (literal) best = 0;
    if (best == 0) {
      tokens.Literal(c == 0 ? std::uint8_t{0} : row[c - 1]);
      if (++c == unit) {
        c = 0;
        quiet_until = 0;
        if (++y < h) start_row(y, 0);
      }
      continue;
    }
    if (best < left || best_rows == 0) {
      match(best, best_distance);
      c += best;
      if (c == unit) {
        c = 0;
        quiet_until = 0;
        if (++y < h) start_row(y, 0);
      }
      continue;
    }
    // The rest of the row repeats the row above: so may the rows below,
    // and then the match runs on over them.
    std::int64_t length = best;
    int next = y + 1;
    c = 0;
    for (; next < h; ++next) {
      const int same = CommonPrefix(image.row(next), image.row(next - 1), w);
      if (same < w) {
        length += 1 + same;
        c = 1 + same;
        break;
      }
      adler.Repeat();
      length += unit;
    }
    match(length, best_distance);
    y = next;
    quiet_until = 0;
    if (y < h) start_row(y, c);
  }
  tokens.Finish();
  bits.Flush();
  const std::uint32_t checksum = adler.value();
  for (int shift = 24; shift >= 0; shift -= 8) {
    out.push_back(static_cast<std::uint8_t>(checksum >> shift));
  }
}

}  // namespace dsb
