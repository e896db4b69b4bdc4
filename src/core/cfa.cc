#include "core/cfa.h"

#include <algorithm>
#include <cctype>

namespace dsb {

namespace {

constexpr CfaColor R = CfaColor::kRed;
constexpr CfaColor G = CfaColor::kGreen;
constexpr CfaColor B = CfaColor::kBlue;

CfaPattern::Grid Tile2x2(CfaColor a, CfaColor b, CfaColor c, CfaColor d) {
  CfaPattern::Grid grid{};
  for (int y = 0; y < CfaPattern::kMaxPeriod; ++y) {
    for (int x = 0; x < CfaPattern::kMaxPeriod; ++x) {
      grid[y][x] = (y % 2 == 0) ? (x % 2 == 0 ? a : b) : (x % 2 == 0 ? c : d);
    }
  }
  return grid;
}

}  // namespace

CfaPattern::CfaPattern() : CfaPattern(Bayer(BayerOrder::kRGGB)) {}

CfaPattern CfaPattern::Bayer(BayerOrder order) {
  switch (order) {
    case BayerOrder::kRGGB:
      return CfaPattern(2, Tile2x2(R, G, G, B));
    case BayerOrder::kBGGR:
      return CfaPattern(2, Tile2x2(B, G, G, R));
    case BayerOrder::kGRBG:
      return CfaPattern(2, Tile2x2(G, R, B, G));
    case BayerOrder::kGBRG:
      return CfaPattern(2, Tile2x2(G, B, R, G));
  }
  return CfaPattern(2, Tile2x2(R, G, G, B));
}

CfaPattern CfaPattern::StandardXTrans() {
  static constexpr Grid kGrid = {{
      {G, G, R, G, G, B},
      {G, G, B, G, G, R},
      {B, R, G, R, B, G},
      {G, G, B, G, G, R},
      {G, G, R, G, G, B},
      {R, B, G, B, R, G},
  }};
  return CfaPattern(6, kGrid);
}

CfaPattern CfaPattern::XTrans(const Grid& grid) { return CfaPattern(6, grid); }

std::optional<CfaPattern> CfaPattern::FromName(std::string_view name) {
  std::string lower(name);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  if (lower == "rggb") return Bayer(BayerOrder::kRGGB);
  if (lower == "bggr") return Bayer(BayerOrder::kBGGR);
  if (lower == "grbg") return Bayer(BayerOrder::kGRBG);
  if (lower == "gbrg") return Bayer(BayerOrder::kGBRG);
  if (lower == "xtrans" || lower == "x-trans") return StandardXTrans();
  return std::nullopt;
}

std::optional<BayerOrder> CfaPattern::bayer_order() const {
  if (is_xtrans()) return std::nullopt;
  for (BayerOrder order : {BayerOrder::kRGGB, BayerOrder::kBGGR,
                           BayerOrder::kGRBG, BayerOrder::kGBRG}) {
    if (Bayer(order) == *this) return order;
  }
  return std::nullopt;
}

CfaPattern CfaPattern::Cropped(int y0, int x0) const {
  Grid grid{};
  for (int y = 0; y < kMaxPeriod; ++y) {
    for (int x = 0; x < kMaxPeriod; ++x) grid[y][x] = color_at(y + y0, x + x0);
  }
  return CfaPattern(period_, grid);
}

std::string CfaPattern::name() const {
  if (is_xtrans()) return "XTRANS";
  return std::string(BayerOrderName(*bayer_order()));
}

std::string_view BayerOrderName(BayerOrder order) {
  switch (order) {
    case BayerOrder::kRGGB:
      return "RGGB";
    case BayerOrder::kBGGR:
      return "BGGR";
    case BayerOrder::kGRBG:
      return "GRBG";
    case BayerOrder::kGBRG:
      return "GBRG";
  }
  return "?";
}

}  // namespace dsb
