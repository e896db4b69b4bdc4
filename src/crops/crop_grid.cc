#include "crops/crop_grid.h"

#include <algorithm>

namespace dsb {

CropFrame RawnindFrame(const CfaPattern& cfa, int width, int height) {
  CropFrame frame;
  if (cfa.is_xtrans()) {
    frame.width = width;
    frame.height = height;
    return frame;
  }
  // The R site's row and column inside the 2x2 cell: a Bayer frame that
  // starts elsewhere loses its first and last row/column (raw.py's
  // mono_any_to_mono_rggb), then both sizes are cut to multiples of 4.
  int r_row = 0, r_col = 0;
  for (int y = 0; y < 2; ++y) {
    for (int x = 0; x < 2; ++x) {
      if (cfa.color_at(y, x) == CfaColor::kRed) r_row = y, r_col = x;
    }
  }
  frame.top = r_row;
  frame.left = r_col;
  const int h = height - 2 * r_row;
  const int w = width - 2 * r_col;
  frame.height = h > 0 ? h - h % 4 : 0;
  frame.width = w > 0 ? w - w % 4 : 0;
  return frame;
}

std::vector<CropWindow> CropGrid(int half_width, int half_height,
                                 const CropParams& params) {
  std::vector<CropWindow> grid;
  const int step = params.crop_size - params.train_size;
  const int room = params.train_size + params.max_shift;
  const int w_end = half_width - half_width % 16;
  const int h_end = half_height - half_height % 16;
  if (step <= 0) return grid;
  for (int x = 0; x + room < w_end; x += step) {
    for (int y = 0; y + room < h_end; y += step) {
      grid.push_back({x, y, std::min(x + params.crop_size, w_end),
                      std::min(y + params.crop_size, h_end)});
    }
  }
  return grid;
}

std::string CropFingerprint(const CropParams& params) {
  return "crops-1/size=" + std::to_string(params.crop_size) +
         "/train=" + std::to_string(params.train_size) +
         "/shift=" + std::to_string(params.max_shift) +
         "/npy-f16/tif-half/ea-demosaic";
}

}  // namespace dsb
