// The fine search's correlation of tiles (shift_search.h, step 2): a tile
// of the noisy capture's period luma, its centring, and the sums that score
// it against the GT's luma at every offset of a window (covariance and the
// GT window's variance over the tile's unmasked pixels). Every sum is added
// in a fixed order, so a score is the same bit for bit however the loops
// are arranged for speed (align_kernels_test holds each against a plain
// loop).
//
// Thread safety: pure functions.
#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

#include "core/plane.h"

namespace dsb {

// A tile of the noisy capture's period luma, as the fine search and the
// rescoring of close candidates correlate it with the GT.
struct LumaTile {
  int y = 0, x = 0;  // top-left in the noisy image
  int h = 0, w = 0;
  Plane<float> luma;  // zero-mean over the unmasked pixels, 0 elsewhere
  // 1 (use) or 0 where clipping is near in either capture, nothing else.
  Plane<float> mask;
  double count = 0;   // unmasked pixels
  double energy = 0;  // sum of squares of luma
};

// Makes the tile's luma zero-mean over its unmasked pixels and 0 on the
// others, and fills in its count and energy (count and energy start at 0;
// the mask holds only 0s and 1s).
void CentreTile(LumaTile& tile);

// CentreTile on every tile, up to sixteen of one size at a time where they
// are (ChooseTiles' grid: all of one size).
void CentreTiles(std::vector<LumaTile>& tiles);

// An upper bound of the energy CentreTile gives a tile of this luma under
// any mask: the sum of squares about the mean of all its pixels (the mean
// of the unmasked ones minimises their sum, and masked pixels add
// nothing), widened by the rounding of both sums (float lanes here,
// CentreTile's float mean and differences). It reads no mask, so the fine
// search makes masks only for tiles that may be among the most energetic.
double CentredEnergyBound(const Plane<float>& luma);

// Window sums of `b` and `b^2` for the h x w windows at (y, x), y and x in
// [0, window) (`b` is (h + window - 1) x (w + window - 1)), from integral
// images in double: s(Y, X) = s(Y - 1, X) + the sum of row Y - 1's first X
// values. Only the rows and columns of s that windows' corners read (Y, X
// in [0, window) and [h or w, + window)) are kept; each is the very sum a
// whole integral image held. The rows' running sums, one chain of
// additions per row, run four rows at a time (RowPrefixesOfFour): one row
// at a time they were bound by the adder's latency.
class WindowSums {
 public:
  WindowSums(const Plane<float>& b, int h, int w, int window);
  // Sums over the h x w window with top-left (y, x).
  void Get(int y, int x, double* sum, double* sum_sq) const {
    const std::size_t top = Row(y), bottom = Row(window_ + y);
    const std::size_t left = x, right = window_ + x;
    *sum = s1_[bottom + right] - s1_[top + right] - s1_[bottom + left] +
           s1_[top + left];
    *sum_sq = s2_[bottom + right] - s2_[top + right] - s2_[bottom + left] +
              s2_[top + left];
  }

 private:
  std::size_t Row(int k) const {
    return static_cast<std::size_t>(k) * 2 * window_;
  }
  void Keep(int k, const std::vector<double>& run1,
            const std::vector<double>& run2) {
    std::copy(run1.begin(), run1.end(), s1_.begin() + Row(k));
    std::copy(run2.begin(), run2.end(), s2_.begin() + Row(k));
  }
  int window_;
  std::vector<double> s1_, s2_;  // 2 window x 2 window kept values
};

// sums[ox] = sum(a * b_o) for the windows b_o of `b` with top-left (oy,
// ox), ox in [0, window); each offset adds its rows in order.
void Dots(const Plane<float>& a, const Plane<float>& b, int oy, int window,
          double* sums);

// AddCorrelation for a tile with few masked pixels (or none): the same
// sums, with the window sums of b and b^2 from integral images minus the
// masked pixels' terms, instead of two more dot products per offset (`a`
// is 0 at masked pixels, so the covariance is a plain dot product).
void AddSparselyMaskedCorrelation(const Plane<float>& a,
                                  const Plane<float>& mask, double count,
                                  const Plane<float>& b, int window,
                                  double* cross, double* b_var);

// For one tile: adds to cross[o] the covariance sum(a * b_o) and to
// b_var[o] the variance of b_o, both over the tile's unmasked pixels, where
// b_o is the window of `b` with top-left (oy, ox), o = oy * window + ox, for
// every offset in [0, window)^2. `a` is h x w, zero-mean over the unmasked
// pixels and 0 at masked ones, so the covariance needs no mean of b; `mask`
// is 1 (use) or 0; `b` is (h + window - 1) x (w + window - 1).
void AddCorrelation(const Plane<float>& a, const Plane<float>& mask,
                    double count, const Plane<float>& b, int window,
                    double* cross, double* b_var);

}  // namespace dsb
