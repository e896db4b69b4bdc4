// The colour filter array (CFA) vocabulary.
//
// A CfaPattern says which colour each sensor pixel sees, anchored at the
// origin of the visible area: color_at(0, 0) is the colour of the top-left
// visible pixel. Bayer patterns have period 2 and one of four phases; X-Trans
// has period 6. Both captures of a pair share the same pattern (same sensor),
// so a shift of the scene content never changes the pattern; the arithmetic
// here answers "which colour does pixel (y, x) of a crop starting at (y0, x0)
// see", which is what crops and overlaps need.
//
// Pure value type; thread safe.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace dsb {

enum class CfaColor : std::uint8_t { kRed = 0, kGreen = 1, kBlue = 2 };

enum class BayerOrder : std::uint8_t { kRGGB, kBGGR, kGRBG, kGBRG };

class CfaPattern {
 public:
  static constexpr int kMaxPeriod = 6;
  using Grid = std::array<std::array<CfaColor, kMaxPeriod>, kMaxPeriod>;

  CfaPattern();  // RGGB
  static CfaPattern Bayer(BayerOrder order);
  // The X-Trans pattern as used by Fujifilm X-Trans II/III/IV sensors
  // (LibRaw's xtrans_abs), anchored at its canonical origin.
  static CfaPattern StandardXTrans();
  // Any 6x6 pattern; must contain all three colours.
  static CfaPattern XTrans(const Grid& grid);
  // Parses "rggb", "bggr", "grbg", "gbrg" (any case) or "xtrans".
  static std::optional<CfaPattern> FromName(std::string_view name);

  bool is_xtrans() const { return period_ == 6; }
  int period() const { return period_; }
  std::optional<BayerOrder> bayer_order() const;

  CfaColor color_at(int y, int x) const { return grid_[Mod(y)][Mod(x)]; }
  // The pattern of the crop whose top-left is (y0, x0) of this one.
  CfaPattern Cropped(int y0, int x0) const;

  // "RGGB", "BGGR", "GRBG", "GBRG" or "XTRANS".
  std::string name() const;
  // Contract §4: "bayer" or "xtrans".
  std::string_view kind() const { return is_xtrans() ? "xtrans" : "bayer"; }

  bool operator==(const CfaPattern& other) const {
    return period_ == other.period_ && grid_ == other.grid_;
  }

 private:
  CfaPattern(int period, const Grid& grid) : period_(period), grid_(grid) {}
  int Mod(int v) const {
    int m = v % period_;
    return m < 0 ? m + period_ : m;
  }
  int period_ = 2;
  Grid grid_{};  // always filled to 6x6 so color_at needs no branch
};

std::string_view BayerOrderName(BayerOrder order);

}  // namespace dsb
