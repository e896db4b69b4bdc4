// The zlib stream (RFC 1950 around deflate, RFC 1951) of a PNG's image data
// for loss masks: every row with filter type 0 (none), compressed by
// matching whole rows and in-row periods rather than by hashing.
//
// A loss mask is two-level and made of cells: long runs, rows that repeat
// the row above, and within a row, patterns of period 2, 3 or 6
// (per-sample clipping of one colour of a Bayer or X-Trans mosaic). The
// encoder tries only those distances (1, 2, 3 and 6 bytes back in the row;
// the row above while within deflate's 32 KiB window) at each position.
// Long runs are coded as runs (no extra bits); a match of rows (about 16
// bits per 258 bytes, and it runs on over every row that repeats too) only
// where the row is busy.
// Tokens get dynamic Huffman codes per block of 2^16. zlib's own deflate
// hashes every byte and its Adler-32 reads the rows once more (1.5-2.2
// ms/MP at level 1); this computes, where it reads a row, which pixels
// equal the pixel at each candidate distance, 64 to a word (from the
// rows' bit planes where they hold only 0 and 255), so that a match
// length is a count of set bits and a busy stretch's literals are found
// 53 at a time; it keeps tokens as sequences (a run of literals, then a
// match), written with a table for 8 two-level literals at a time; and it
// computes Adler-32 a row at a time (libdeflate's vectorised one) as it
// reaches the row, with no pass of its own; a row the encoder found equal
// to the row above adds the same sums unread. Any 8-bit image round-trips
// (other content just compresses less well).
//
// Thread safety: pure function; thread safe.
#pragma once

#include <cstdint>
#include <vector>

#include "core/plane.h"

namespace dsb {

// Appends to `out` the zlib stream of `image`'s rows, each preceded by
// PNG filter type 0. `image` must not be empty.
void DeflatePngRows(PlaneView<const std::uint8_t> image,
                    std::vector<std::uint8_t>& out);

}  // namespace dsb
