// RawNIND's training-crop geometry: which part of a decoded frame its
// crop_datasets.py step uses and where its crops sit.
//
// RawNIND reads a Bayer raw as the visible area, forces RGGB by trimming one
// row (G first in the row order: GBRG, BGGR) and/or one column (GRBG, BGGR)
// at both edges, and truncates both sizes to multiples of 4. X-Trans frames
// are used whole. Crops are laid out in half-resolution units (one unit =
// one RGGB cell): positions 0, 768, 1536, ... along each axis while
// pos + 256 + 128 < D - D % 16 (D the frame's half-resolution size), each
// spanning [pos, min(pos + 1024, D - D % 16)). A Bayer crop is that window
// of the 4-channel RGGB image; a lin_rec2020 crop is the full-resolution
// window at twice the coordinates.
//
// Pure functions; thread safe.
#pragma once

#include <string>
#include <vector>

#include "core/cfa.h"

namespace dsb {

// RawNIND's crop parameters (crop_datasets.py: PREPROCESS_RAW_SIZE,
// TRAIN_SIZE, rawproc.MAX_SHIFT_SEARCH).
struct CropParams {
  int crop_size = 1024;  // half-resolution units
  int train_size = 256;  // the grid steps by crop_size - train_size
  int max_shift = 128;   // a crop must have train_size + max_shift room
};

// The part of our visible frame that RawNIND's frame covers, in
// full-resolution pixels of the visible area.
struct CropFrame {
  int top = 0;   // 1 when a Bayer row trim was needed
  int left = 0;  // 1 when a Bayer column trim was needed
  int height = 0;
  int width = 0;
};

// One crop, in half-resolution units of the frame: [x, x2) x [y, y2).
struct CropWindow {
  int x = 0, y = 0, x2 = 0, y2 = 0;
  bool operator==(const CropWindow&) const = default;
};

// RawNIND's frame for a visible area of `width` x `height` with pattern
// `cfa` (anchored at the visible area's top-left pixel).
CropFrame RawnindFrame(const CfaPattern& cfa, int width, int height);

// The crop grid over a frame of half-resolution size `half_width` x
// `half_height`, in RawNIND's order (columns outer, rows inner).
std::vector<CropWindow> CropGrid(int half_width, int half_height,
                                 const CropParams& params = CropParams());

// The text hashed into every crop target's key with the file's content
// hash: bump the version when crop output changes.
std::string CropFingerprint(const CropParams& params = CropParams());

}  // namespace dsb
