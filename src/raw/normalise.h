// Raw sensor values to the floats the build works on: for every pixel of
// the visible area, (raw - black) / (white - black), with black taken from
// a small tile of levels anchored at the visible origin (LibRaw's common,
// per-channel and pattern black folded together; raw/decoder.h).
//
// One definition, used by the in-process decoder and by the build when it
// reads a decode worker's record, which carries the raw 16-bit values and
// these levels instead of floats (raw/decode_record.h): half the bytes in
// the worker's memory and in the copy, and the same bits either way.
//
// Thread safety: a RowNormaliser is immutable once made; Row may run on
// many threads at once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace dsb {

struct BlackLevels {
  int height = 0;            // the tile: the CFA period, or its lcm with
  int width = 0;             // the black pattern's
  std::vector<float> black;  // height x width, row after row
  float white = 0;
};

class RowNormaliser {
 public:
  // For rows `width` pixels wide; `levels` has a non-empty tile.
  RowNormaliser(const BlackLevels& levels, int width);

  // Writes row `y` (of the visible area): out[x] for x < width from in[x].
  void Row(int y, const std::uint16_t* in, float* out) const;

 private:
  int width_;
  int tile_height_;
  // The tile's black levels and denominators spread over whole rows, one
  // pair of rows per tile row, so the loop has no modulo and vectorises.
  std::vector<float> black_rows_;
  std::vector<float> range_rows_;
};

}  // namespace dsb
