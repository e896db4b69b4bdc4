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

// Distance code (0..29) of `d` (1..32768); its extra bits are
// kDistBase-relative, DistExtraBits of them.
inline int DistCode(int d) {
  if (d <= 4) return d - 1;
  const unsigned v = static_cast<unsigned>(d - 1);
  const int high = 31 - __builtin_clz(v);
  return 2 * high + static_cast<int>((v >> (high - 1)) & 1u);
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

// How many of row[0, n) differ from the next pixel (runs that end).
inline int Changes(const std::uint8_t* row, int n) {
  int changes = 0;
  for (int i = 0; i + 1 < n; ++i) changes += row[i] != row[i + 1];
  return changes;
}

// A literal byte (distance 0) or a match of `value` bytes `distance` back.
struct Token {
  std::uint16_t value;
  std::uint16_t distance;
};

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

// Bits into `out`, LSB first, through a 64-bit accumulator stored 8
// bytes at a time into room reserved ahead (Reserve): no growth check per
// code (was a vector resize per 4 bytes, a third of WriteBlock's time).
class BitWriter {
 public:
  explicit BitWriter(std::vector<std::uint8_t>& out)
      : out_(out), at_(out.size()) {}

  // Room for `bytes` more bytes of output.
  void Reserve(std::size_t bytes) {
    if (out_.size() < at_ + bytes + 8) out_.resize(at_ + bytes + 8);
  }

  // Appends the low `n` (at most 32) bits of `bits`; within the reserved
  // room.
  void Put(std::uint64_t bits, int n) {
    acc_ |= bits << count_;
    count_ += n;
    if (count_ >= 32) {
      std::uint8_t word[8];
      for (int i = 0; i < 8; ++i) {
        word[i] = static_cast<std::uint8_t>(acc_ >> (8 * i));
      }
      std::memcpy(out_.data() + at_, word, 8);
      at_ += 4;
      acc_ >>= 32;
      count_ -= 32;
    }
  }

  // Pads to a byte boundary, writes what is left and trims `out` to what
  // was written.
  void Flush() {
    Reserve(8);
    while (count_ > 0) {
      out_[at_++] = static_cast<std::uint8_t>(acc_);
      acc_ >>= 8;
      count_ -= 8;
    }
    acc_ = 0;
    count_ = 0;
    out_.resize(at_);
  }

 private:
  std::vector<std::uint8_t>& out_;
  std::size_t at_;  // bytes written
  std::uint64_t acc_ = 0;
  int count_ = 0;
};

// One deflate block with dynamic Huffman codes (RFC 1951 3.2.7).
void WriteBlock(const std::vector<Token>& tokens, bool final, BitWriter& bits) {
  constexpr int kLitCodes = 286;
  constexpr int kDistCodes = 30;
  // Counted without branches (literals and matches alternate
  // unpredictably) into four tables in turn (a run of equal symbols would
  // otherwise wait on each increment of one counter); a literal counts
  // in a distance slot past the codes.
  std::uint32_t lit_counts[4][kLitCodes] = {};
  std::uint32_t dist_counts[4][kDistCodes + 1] = {};
  for (std::size_t k = 0; k < tokens.size(); ++k) {
    const Token t = tokens[k];
    const bool literal = t.distance == 0;
    const int symbol = literal ? t.value : 257 + kLengthCode[t.value];
    const int dc = literal ? kDistCodes : DistCode(literal ? 1 : t.distance);
    ++lit_counts[k & 3][symbol];
    ++dist_counts[k & 3][dc];
  }
  std::uint32_t lit_freq[kLitCodes];
  std::uint32_t dist_freq[kDistCodes];
  for (int i = 0; i < kLitCodes; ++i) {
    lit_freq[i] = lit_counts[0][i] + lit_counts[1][i] + lit_counts[2][i] +
                  lit_counts[3][i];
  }
  for (int i = 0; i < kDistCodes; ++i) {
    dist_freq[i] = dist_counts[0][i] + dist_counts[1][i] + dist_counts[2][i] +
                   dist_counts[3][i];
  }
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
  bits.Reserve(static_cast<std::size_t>(block_bits / 8 + 8));
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
  // bits), so that a token is one or two Puts.
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
  for (const Token& t : tokens) {
    if (t.distance == 0) {
      bits.Put(lit_code[t.value], lit_len[t.value]);
      continue;
    }
    bits.Put(length_bits[t.value], length_count[t.value]);
    const int dc = DistCode(t.distance);
    bits.Put(
        dist_code[dc] | (static_cast<std::uint64_t>(t.distance - kDistBase[dc])
                         << dist_len[dc]),
        dist_len[dc] + DistExtraBits(dc));
  }
  bits.Put(lit_code[256], lit_len[256]);
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

// Match lengths at the candidate distances from positions along one row,
// each remembering where its match ended: a later position before that
// end has the same match, shorter by the distance moved (exact: the bytes
// agree up to the end and differ there), so a long match is compared once.
class RowMatches {
 public:
  static std::uint64_t Load(const std::uint8_t* p) {
    std::uint64_t v;
    std::memcpy(&v, p, 8);
    return v;
  }

  RowMatches(PlaneView<const std::uint8_t> image, int rows_back)
      : image_(image), rows_back_(rows_back) {}

  void StartRow(int y) {
    y_ = y;
    row_ = image_.row(y);
    period_end_.fill(0);
    row_end_.fill(0);
    run_start_ = 0;
    run_end_ = 0;
  }

  // The match `kRowPeriods[i]` pixels back from pixel x (x >= that).
  int InRow(int i, int x) {
    if (x < period_end_[i]) return period_end_[i] - x;
    // A run found by Run() is this match from its second pixel on.
    if (i == 0 && x > run_start_ && x < run_end_) return run_end_ - x;
    const int len =
        CommonPrefix(row_ + x, row_ + x - kRowPeriods[i], image_.width - x);
    period_end_[i] = x + len;
    return len;
  }

  // The match k rows back from byte c of the row's unit (0: the filter
  // byte, which every row shares).
  int Rows(int k, int c) {
    if (c < row_end_[k]) return row_end_[k] - c;
    const std::uint8_t* above = image_.row(y_ - k);
    const int w = image_.width;
    const int len = c == 0
                        ? 1 + CommonPrefix(row_, above, w)
                        : CommonPrefix(row_ + c - 1, above + c - 1, w + 1 - c);
    row_end_[k] = c + len;
    return len;
  }

  // The run of equal pixels that starts at pixel x.
  int Run(int x) {
    if (x < run_end_) return run_end_ - x;
    const int w = image_.width;
    run_start_ = x;
    run_end_ =
        x +
        (x + 1 < w ? 1 + CommonPrefix(row_ + x + 1, row_ + x, w - x - 1) : 1);
    return run_end_ - x;
  }

  // Whether no candidate can reach its least useful length at pixel x
  // (x + 16 <= width), read off one or two words per candidate without
  // branches: most pixels of a busy stretch are literals, and this is
  // their whole cost.
  bool NoMatchAt(int x) const {
    const std::uint8_t* at = row_ + x;
    const std::uint64_t head = Load(at);
    const std::uint64_t tail = Load(at + 4);
    constexpr std::uint64_t kInRowBytes =
        (std::uint64_t{1} << (8 * kMinInRowMatch)) - 1;
    bool hit = head == Load(at + 1);  // a run of 9 or more starts here
    for (std::size_t i = 0; i < std::size(kRowPeriods); ++i) {
      if (kRowPeriods[i] > x) break;
      hit |= ((head ^ Load(at - kRowPeriods[i])) & kInRowBytes) == 0;
    }
    const int rows_back = std::min(rows_back_, y_);
    for (int k = 1; k <= rows_back; ++k) {
      const std::uint8_t* above = image_.row(y_ - k) + x;
      hit |= ((head ^ Load(above)) | (tail ^ Load(above + 4))) == 0;
    }
    return !hit;
  }

  const std::uint8_t* row() const { return row_; }
  int rows_back() const { return std::min(rows_back_, y_); }

 private:
  PlaneView<const std::uint8_t> image_;
  int rows_back_;
  int y_ = 0;
  const std::uint8_t* row_ = nullptr;
  std::array<int, std::size(kRowPeriods)> period_end_{};
  std::array<int, kMaxRowsBack + 1> row_end_{};
  int run_start_ = 0;
  int run_end_ = 0;
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
  std::vector<Token> tokens;
  tokens.reserve(kBlockTokens);
  auto push = [&](Token t) {
    tokens.push_back(t);
    if (tokens.size() == kBlockTokens) {
      WriteBlock(tokens, false, bits);
      tokens.clear();
    }
  };
  auto match = [&](std::int64_t length, int distance) {
    while (length > 0) {
      std::int64_t n = std::min<std::int64_t>(length, kMaxMatch);
      // Never leave a remainder shorter than a match.
      if (length > kMaxMatch && length - kMaxMatch < kMinMatch) {
        n = length - kMinMatch;
      }
      push({static_cast<std::uint16_t>(n),
            static_cast<std::uint16_t>(distance)});
      length -= n;
    }
  };

  // Position: byte c of row y's unit (0: its filter byte, c: pixel c - 1).
  RowMatches matches(image, rows_back);
  RowsAdler adler(w);
  // Every row is either started (and added to the Adler-32 then) or found
  // equal to the row above by the run of matched rows below.
  auto start_row = [&](int row) {
    matches.StartRow(row);
    // A row that is one run (the encoder asks for the run at its start
    // anyway) has sums of a closed form.
    if (matches.Run(0) == w) {
      adler.AddRun(image.row(row)[0]);
    } else {
      adler.Add(image.row(row));
    }
  };
  int y = 0;
  int c = 0;
  int quiet_until = 0;  // no match of rows before byte c of this row
  start_row(0);
  while (y < h) {
    const std::uint8_t* row = matches.row();
    if (c >= 1 && c + 15 <= w && matches.NoMatchAt(c - 1)) {
      push({row[c - 1], 0});
      ++c;
      continue;
    }
    const int left = unit - c;
    int best = 0;
    int best_distance = 0;
    int best_rows = 0;
    // A long run is coded as one (distance 1: no extra bits) even where
    // a match of rows is longer (12 extra bits per 258 bytes at 6,000
    // pixels a row): the byte before it, and its first pixel, as literals.
    bool literal = false;
    if (c == 0) {
      literal = matches.Run(0) >= kLongRun;
    } else {
      const int x = c - 1;
      for (std::size_t i = 0; i < std::size(kRowPeriods); ++i) {
        if (kRowPeriods[i] > x) break;
        const int len = matches.InRow(static_cast<int>(i), x);
        if (len >= kMinInRowMatch && len > best) {
          best = len;
          best_distance = kRowPeriods[i];
        }
        if (len == left) break;
      }
      literal = best < kLongRun && matches.Run(x) >= kLongRun;
    }
    // Matches of rows cost more bits per byte: they must be longer by
    // kRowBias than the best match within the row.
    const int in_row = best;
    for (int k = 1; !literal && best < left && in_row < kLongRun &&
                    c >= quiet_until && k <= matches.rows_back();
         ++k) {
      const int len = matches.Rows(k, c);
      if (len >= kMinRowMatch && len > in_row + kRowBias && len > best) {
        best = len;
        best_distance = k * unit;
        best_rows = k;
      }
    }
    // Where the row is a few long runs, runs cost fewer bits than a match
    // of rows, whose distance takes about 16 bits per 258 bytes.
    if (best_rows > 0 && !literal) {
      const int x = std::max(c - 1, 0);
      const int span = std::min(std::min(best, kBusySpan), w - x);
      if (Changes(row + x, span) * kBitsPerRun < span / kMaxMatch * 16 + 16) {
        literal = true;
        // Not asked again over the next half of that span.
        quiet_until = c + span / 2;
      }
    }
    if (literal) best = 0;
    if (best == 0) {
      push({c == 0 ? std::uint16_t{0} : std::uint16_t{row[c - 1]}, 0});
      if (++c == unit) {
        c = 0;
        quiet_until = 0;
        if (++y < h) start_row(y);
      }
      continue;
    }
    if (best < left || best_rows == 0) {
      match(best, best_distance);
      c += best;
      if (c == unit) {
        c = 0;
        quiet_until = 0;
        if (++y < h) start_row(y);
      }
      continue;
    }
    // The rest of the row repeats the row best_rows up: so may the rows
    // below, and then the match runs on over them.
    std::int64_t length = best;
    int next = y + 1;
    c = 0;
    for (; next < h; ++next) {
      const int same =
          CommonPrefix(image.row(next), image.row(next - best_rows), w);
      if (same < w) {
        length += 1 + same;
        c = 1 + same;
        break;
      }
      if (best_rows == 1) {
        adler.Repeat();
      } else {
        adler.Add(image.row(next));
      }
      length += unit;
    }
    match(length, best_distance);
    y = next;
    quiet_until = 0;
    if (y < h) start_row(y);
  }
  WriteBlock(tokens, true, bits);
  bits.Flush();
  const std::uint32_t checksum = adler.value();
  for (int shift = 24; shift >= 0; shift -= 8) {
    out.push_back(static_cast<std::uint8_t>(checksum >> shift));
  }
}

}  // namespace dsb
