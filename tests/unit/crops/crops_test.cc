// Unit tests of the crop geometry, file encoders and RawNIND's demosaic.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>

#include "crops/camera_rgb.h"
#include "crops/crop_files.h"
#include "crops/crop_grid.h"
#include "crops/crop_stage.h"
#include "crops/opencv_calls.h"
#include "crops/rawnind_loss.h"
#include "synth/render.h"

namespace dsb {
namespace {

TEST(CropGridTest, FollowsRawnindsGrid) {
  // crop_datasets.py: x, y = 0, 768, ... while pos + 384 < D - D % 16.
  const std::vector<CropWindow> grid = CropGrid(1200, 800);
  ASSERT_EQ(grid.size(), 2u);
  EXPECT_EQ(grid[0], (CropWindow{0, 0, 1024, 800}));
  EXPECT_EQ(grid[1], (CropWindow{768, 0, 1200, 800}));
  // 3000 x 2000 half-resolution: x 0, 768, 1536, 2304; y 0, 768, 1536
  // (1536 + 384 = 1920 < 2000); columns outer, rows inner.
  const std::vector<CropWindow> big = CropGrid(3000, 2000);
  ASSERT_EQ(big.size(), 12u);
  EXPECT_EQ(big[1], (CropWindow{0, 768, 1024, 1792}));
  EXPECT_EQ(big[2], (CropWindow{0, 1536, 1024, 2000}));
  EXPECT_EQ(big[11], (CropWindow{2304, 1536, 2992, 2000}));
  EXPECT_TRUE(CropGrid(384, 2000).empty());  // 0 + 384 < 384 fails
}

TEST(CropGridTest, RawnindFrameTrimsToRggbAndMultiplesOfFour) {
  const struct {
    BayerOrder order;
    int top, left;
  } cases[] = {{BayerOrder::kRGGB, 0, 0},
               {BayerOrder::kGBRG, 1, 0},
               {BayerOrder::kGRBG, 0, 1},
               {BayerOrder::kBGGR, 1, 1}};
  for (const auto& c : cases) {
    const CropFrame f = RawnindFrame(CfaPattern::Bayer(c.order), 2403, 1602);
    EXPECT_EQ(f.top, c.top);
    EXPECT_EQ(f.left, c.left);
    EXPECT_EQ(f.height, (1602 - 2 * c.top) / 4 * 4);
    EXPECT_EQ(f.width, (2403 - 2 * c.left) / 4 * 4);
    // The frame starts on an R site.
    EXPECT_EQ(CfaPattern::Bayer(c.order).color_at(f.top, f.left),
              CfaColor::kRed);
  }
  const CropFrame x = RawnindFrame(CfaPattern::StandardXTrans(), 2403, 1602);
  EXPECT_EQ(x.width, 2403);
  EXPECT_EQ(x.height, 1602);
}

TEST(CropFilesTest, HalvesRoundToNearestEven) {
  const std::vector<float> in = {1.0f, -2.0f, 65504.0f, 0.1f, 0.0f, 1e-8f};
  std::vector<std::uint16_t> out(in.size());
  FloatsToHalves(in, out);
  EXPECT_EQ(out[0], 0x3c00);
  EXPECT_EQ(out[1], 0xc000);
  EXPECT_EQ(out[2], 0x7bff);
  EXPECT_EQ(out[3], 0x2e66);
  EXPECT_EQ(out[4], 0x0000);
  EXPECT_EQ(out[5], 0x0000);
}

TEST(CropFilesTest, NpyHeaderIsNumpyFormatOne) {
  const std::vector<std::uint16_t> halves(4 * 3 * 5, 0x3c00);
  const std::vector<std::uint8_t> npy = EncodeNpyHalf(halves, 4, 3, 5);
  ASSERT_GT(npy.size(), 10u);
  EXPECT_EQ(std::memcmp(npy.data(), "\x93NUMPY\x01\x00", 8), 0);
  const std::size_t header_len = npy[8] | (npy[9] << 8);
  EXPECT_EQ((10 + header_len) % 64, 0u);
  const std::string header(npy.begin() + 10, npy.begin() + 10 + header_len);
  EXPECT_NE(header.find("'descr': '<f2'"), std::string::npos);
  EXPECT_NE(header.find("'shape': (4, 3, 5)"), std::string::npos);
  EXPECT_EQ(header.back(), '\n');
  EXPECT_EQ(npy.size(), 10 + header_len + halves.size() * 2);
}

TEST(CropFilesTest, HalfTiffHasItsSizeAndData) {
  const int h = 70, w = 9;  // two strips
  std::vector<std::uint16_t> halves(h * w * 3);
  for (std::size_t i = 0; i < halves.size(); ++i) halves[i] = i & 0x3fff;
  Result<std::vector<std::uint8_t>> tiff = EncodeHalfTiff(halves, h, w, "t");
  ASSERT_TRUE(tiff.ok()) << tiff.status().message();
  EXPECT_GE(tiff->size(), halves.size() * 2);
  EXPECT_TRUE(((*tiff)[0] == 'I' && (*tiff)[1] == 'I') ||
              ((*tiff)[0] == 'M' && (*tiff)[1] == 'M'));
  EXPECT_FALSE(EncodeHalfTiff(halves, h + 1, w, "t").ok());
}

// A band's rows come out exactly as a whole-frame demosaic gives them.
TEST(CameraRgbTest, BandsEqualTheWholeFrame) {
  const int w = 96, h = 80;
  Plane<float> frame(w, h);
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(-0.02f, 1.3f);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) frame.at(y, x) = u(rng);
  const PlaneView<const float> view = frame.view();
  const DemosaicScale scale = DemosaicScaleOf(view);
  EXPECT_GT(scale.black_offset, 0.0f);
  EXPECT_GT(scale.max_value, 1.0f);
  CameraRgbBand whole;
  whole.Demosaic(view, scale, 0, h);
  std::vector<float> expected, got;
  whole.Read(0, 0, h, w, expected);
  double sum = 0;
  for (int y0 = 0; y0 < h; y0 += 24) {
    const int y1 = std::min(h, y0 + 24);
    CameraRgbBand band;
    band.Demosaic(view, scale, y0, y1);
    sum += band.Sum(y0, y1);
    band.Read(y0, 0, y1 - y0, w, got);
    for (std::size_t i = 0; i < got.size(); ++i) {
      ASSERT_EQ(got[i], expected[static_cast<std::size_t>(y0) * w * 3 + i])
          << "row " << y0 + i / (w * 3);
    }
  }
  EXPECT_NEAR(sum, whole.Sum(0, h), 1e-6 * std::abs(sum) + 1e-6);
}

// A tile (any position and parity, at the frame's edges too) comes out
// exactly as a whole-frame demosaic gives it.
TEST(CameraRgbTest, TilesEqualTheWholeFrame) {
  const int w = 96, h = 80;
  Plane<float> frame(w, h);
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-0.02f, 1.3f);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) frame.at(y, x) = u(rng);
  const PlaneView<const float> view = frame.view();
  const DemosaicScale scale = DemosaicScaleOf(view);
  CameraRgbBand whole;
  whole.Demosaic(view, scale, 0, h);
  std::vector<float> expected, got;
  TileScratch scratch;
  int tiles = 0;
  for (int y = 0; y + 5 <= h; y += 7) {
    for (int x = 0; x + 9 <= w; x += 11) {
      const int th = std::min(h - y, 5 + y % 4),
                tw = std::min(w - x, 9 + x % 3);
      DemosaicTile(view, scale, y, x, th, tw, got, scratch);
      whole.Read(y, x, th, tw, expected);
      ASSERT_EQ(got, expected) << "tile at " << y << ", " << x;
      ++tiles;
    }
  }
  EXPECT_GT(tiles, 80);
}

// Tiles inside the frame take our own edge-aware kernel
// (internal::EdgeAwareRows) instead of OpenCV: on frames of a few levels
// (ties between the horizontal and vertical differences everywhere, values
// at 0 and at the maximum) and of smooth noise, at every width from 1 to 40
// (the 8-lane groups and the tail) and both parities of row and column,
// each tile is bit-identical to OpenCV's whole-frame demosaic.
TEST(CameraRgbTest, EdgeAwareKernelIsOpenCvsDemosaic) {
  const int w = 64, h = 22;
  std::mt19937 rng(11);
  for (int kind = 0; kind < 3; ++kind) {
    Plane<float> frame(w, h);
    const float levels[] = {-0.02f, 0.0f, 0.25f, 0.5f, 1.0f, 1.3f};
    std::uniform_int_distribution<int> pick(0, 5);
    std::uniform_real_distribution<float> u(0.0f, 1.0f);
    for (int y = 0; y < h; ++y) {
      for (int x = 0; x < w; ++x) {
        frame.at(y, x) = kind == 0   ? levels[pick(rng)]
                         : kind == 1 ? (x % 3 == 0 ? 1.0f : 0.5f)
                                     : u(rng);
      }
    }
    const PlaneView<const float> view = frame.view();
    const DemosaicScale scale = DemosaicScaleOf(view);
    CameraRgbBand whole;
    whole.Demosaic(view, scale, 0, h);
    std::vector<float> expected, got;
    TileScratch scratch;
    for (int tw = 1; tw <= 40; ++tw) {
      for (int y = 1; y <= 4; ++y) {
        for (int x = 1; x <= 4; ++x) {
          const int th = 1 + (tw + y) % 5;
          DemosaicTile(view, scale, y, x, th, tw, got, scratch);
          whole.Read(y, x, th, tw, expected);
          ASSERT_EQ(got, expected) << "frame " << kind << ", tile at " << y
                                   << ", " << x << ", width " << tw;
        }
      }
    }
  }
}

// rawproc.shift_images along one axis, written out again from its source:
// the GT's and the noisy capture's first overlap index and the length.
void ShiftImages(int size, int shift, int& g0, int& n0, int& length) {
  const int odd = shift % 2 != 0 ? 1 : 0;
  length = size - std::abs(shift) - odd;
  g0 = shift >= 0 ? shift : odd;
  n0 = shift >= 0 ? 0 : -shift + odd;
}

// RawNIND's best_alignment_loss by brute force: both RawNIND frames
// demosaicked whole, mean |gt - gain x noisy| over the shifted overlap.
double WholeFrameLoss(const RawImage& gt, const RawImage& noisy, int dy, int dx,
                      double gain) {
  const CropFrame f = RawnindFrame(gt.cfa, gt.width(), gt.height());
  const auto view = [&](const RawImage& image) {
    return PlaneView<const float>(
        image.pixels.view().crop(f.top, f.left, f.height, f.width));
  };
  CameraRgbBand g, n;
  g.Demosaic(view(gt), DemosaicScaleOf(view(gt)), 0, f.height);
  n.Demosaic(view(noisy), DemosaicScaleOf(view(noisy)), 0, f.height);
  int gy, ny, rows, gx, nx, cols;
  ShiftImages(f.height, dy, gy, ny, rows);
  ShiftImages(f.width, dx, gx, nx, cols);
  std::vector<float> a, b;
  g.Read(gy, gx, rows, cols, a);
  n.Read(ny, nx, rows, cols, b);
  double sum = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    sum += std::abs(a[i] - static_cast<float>(gain) * b[i]);
  }
  return sum / static_cast<double>(a.size());
}

// A GT with itself or with a bit-identical copy at (0, 0) takes the
// shortcut, whose figures are bit for bit those of the full computation
// (rgb_gain 1, loss 0), on all four Bayer phases, with and without
// clipping and negative values; a copy differing in one pixel, or another
// shift, takes the full path.
TEST(RawnindLossTest, SelfPairShortcutIsTheFullComputation) {
  int cases = 0;
  for (const char* order : {"RGGB", "GBRG", "GRBG", "BGGR"}) {
    SceneSpec spec;
    spec.width = 640;
    spec.height = 480;
    spec.cfa = *CfaPattern::FromName(order);
    spec.seed = 21 + cases;
    spec.clipped_fraction = cases % 2 ? 0.05 : 0.0;
    const RawImage gt = SyntheticScene(spec).RenderGt();
    RawImage copy = gt;
    if (cases >= 2) {
      // Values below the black level, as real captures have.
      for (int y = 0; y < copy.height(); y += 7) {
        copy.pixels.at(y, (y * 13) % copy.width()) = -0.01f;
      }
    }
    const RawImage& self = cases >= 2 ? copy : gt;
    const RawImage twin = self;  // a bit-identical copy in its own buffer
    Result<RawnindReference> reference = RawnindReference::Make(self);
    ASSERT_TRUE(reference.ok());
    for (const RawImage* noisy : {&self, &twin}) {
      Result<RawnindPairFigures> fast =
          RawnindFigures(*reference, *noisy, 0, 0);
      Result<RawnindPairFigures> full =
          internal::RawnindFiguresFull(*reference, *noisy, 0, 0);
      ASSERT_TRUE(fast.ok() && full.ok());
      EXPECT_EQ(std::memcmp(&fast->rgb_gain, &full->rgb_gain, sizeof(double)),
                0)
          << order << ": " << fast->rgb_gain << " vs " << full->rgb_gain;
      EXPECT_EQ(std::memcmp(&fast->best_alignment_loss,
                            &full->best_alignment_loss, sizeof(double)),
                0)
          << order << ": " << fast->best_alignment_loss << " vs "
          << full->best_alignment_loss;
      EXPECT_EQ(fast->rgb_gain, 1.0);
      EXPECT_EQ(fast->best_alignment_loss, 0.0);
    }
    // One pixel differs (inside the RawNIND frame): the full path.
    RawImage changed = self;
    changed.pixels.at(101, 203) += 0.25f;
    Result<RawnindPairFigures> other =
        RawnindFigures(*reference, changed, 0, 0);
    Result<RawnindPairFigures> other_full =
        internal::RawnindFiguresFull(*reference, changed, 0, 0);
    ASSERT_TRUE(other.ok() && other_full.ok());
    EXPECT_EQ(other->best_alignment_loss, other_full->best_alignment_loss);
    EXPECT_NE(other->rgb_gain, 1.0);
    // Another shift of the same pixels: the full path, a positive loss.
    Result<RawnindPairFigures> shifted = RawnindFigures(*reference, self, 0, 2);
    ASSERT_TRUE(shifted.ok());
    EXPECT_GT(shifted->best_alignment_loss, 0.0);
    ++cases;
  }
}

// With one tile per cell covering it, the figure is the whole-frame one;
// with the default sample (one 16 x 32 tile per 48 x 48 cell on this
// frame size) it stays within 5 % of it, on every Bayer phase,
// odd and even shifts of both signs, gains, noise, clipping and a moved
// object.
TEST(RawnindLossTest, SampledLossAgreesWithTheWholeFrame) {
  const RawnindSampling every{16, 32, 16, 32, 0};
  int cases = 0;
  for (const char* order : {"RGGB", "GBRG", "GRBG", "BGGR"}) {
    SceneSpec spec;
    spec.width = 1280;  // 300 cells of 64 x 64: sampled at ~1/5
    spec.height = 960;
    spec.cfa = *CfaPattern::FromName(order);
    spec.seed = 11 + cases;
    spec.clipped_fraction = 0.03;
    SyntheticScene scene(spec);
    const RawImage gt = scene.RenderGt();
    for (const auto& [dy, dx, gain] :
         {std::tuple{7, -12, 1.4}, {-30, 25, 0.6}, {0, 1, 1.0}}) {
      CaptureSpec c;
      c.dy = dy;
      c.dx = dx;
      c.gain = gain;
      c.noise_level = 1 + cases % 3;
      c.moved_object = Box{100, 200, 120, 160};
      const RawImage noisy = scene.RenderCapture(c);
      Result<RawnindPairFigures> whole =
          RawnindFigures(gt, noisy, dy, dx, every);
      ASSERT_TRUE(whole.ok()) << whole.status().message();
      const double expected =
          WholeFrameLoss(gt, noisy, dy, dx, whole->rgb_gain);
      EXPECT_NEAR(whole->best_alignment_loss, expected, 1e-5 * expected)
          << order << " shift " << dy << ", " << dx;
      Result<RawnindPairFigures> sampled = RawnindFigures(gt, noisy, dy, dx);
      ASSERT_TRUE(sampled.ok());
      EXPECT_EQ(sampled->rgb_gain, whole->rgb_gain);
      EXPECT_NEAR(sampled->best_alignment_loss / expected, 1.0, 0.05)
          << order << " shift " << dy << ", " << dx;
      ++cases;
    }
  }
  // A self pair is exactly 0; X-Trans is refused.
  SceneSpec spec;
  spec.cfa = *CfaPattern::FromName("RGGB");
  const RawImage gt = SyntheticScene(spec).RenderGt(2);
  EXPECT_EQ(RawnindFigures(gt, gt, 0, 0)->best_alignment_loss, 0.0);
  spec.cfa = CfaPattern::StandardXTrans();
  const RawImage xtrans = SyntheticScene(spec).RenderGt();
  EXPECT_FALSE(RawnindReference::Make(xtrans).ok());
}

// The vector kernels of RawnindFigures against their scalar formulas, bit
// for bit: every row count, widths and column starts of every parity
// (the 2x2 box starts on each of a Bayer mosaic's four phases), groups of 8
// with and without a tail, negative values, and the colour sums' row
// parity.
std::vector<std::vector<float>> KernelRows(int rows, int width,
                                           std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-0.05f, 1.2f);
  std::vector<std::vector<float>> out(rows, std::vector<float>(width + 1));
  for (auto& row : out)
    for (float& v : row) v = u(rng);
  return out;
}

TEST(RawnindKernelsTest, StatsRowsAreTheScalarSums) {
  for (int width : {1, 2, 7, 8, 9, 15, 16, 17, 33, 64, 101}) {
    for (int count = 1; count <= internal::kRawnindStatsRows; ++count) {
      const auto rows = KernelRows(count, width, 100 + width * 7 + count);
      const float* ptrs[internal::kRawnindStatsRows];
      for (int r = 0; r < count; ++r) ptrs[r] = rows[r].data();
      float lo = rows[0][0], hi = rows[0][0];
      double even[internal::kRawnindStatsRows],
          odd[internal::kRawnindStatsRows];
      internal::RawnindStatsRows(ptrs, count, width, lo, hi, even, odd);
      float want_lo = rows[0][0], want_hi = rows[0][0];
      for (int r = 0; r < count; ++r) {
        float lanes[8] = {};
        int x = 0;
        for (; x + 8 <= width; x += 8)
          for (int k = 0; k < 8; ++k) lanes[k] += rows[r][x + k];
        double e = lanes[0] + lanes[2] + lanes[4] + lanes[6];
        double o = lanes[1] + lanes[3] + lanes[5] + lanes[7];
        for (; x + 1 < width; x += 2) {
          e += rows[r][x];
          o += rows[r][x + 1];
        }
        for (int t = 0; t < width; ++t) {
          want_lo = std::min(want_lo, rows[r][t]);
          want_hi = std::max(want_hi, rows[r][t]);
        }
        EXPECT_EQ(even[r], e) << "width " << width << " row " << r;
        EXPECT_EQ(odd[r], o) << "width " << width << " row " << r;
      }
      EXPECT_EQ(lo, want_lo) << "width " << width;
      EXPECT_EQ(hi, want_hi) << "width " << width;
    }
  }
}

TEST(RawnindKernelsTest, ProxyRowsAreTheScalarSums) {
  const int width = 120;
  const auto g = KernelRows(internal::kRawnindProxyRows + 2, width + 1, 5);
  const auto n = KernelRows(internal::kRawnindProxyRows + 2, width + 1, 6);
  int cases = 0;
  for (int phase_y = 0; phase_y < 2; ++phase_y) {
    for (int x0 : {0, 1, 2, 3}) {
      for (int length : {0, 1, 7, 8, 9, 16, 23, 31, 32, 33, 100}) {
        const int x1 = x0 + length;
        for (int count = 1; count <= internal::kRawnindProxyRows; ++count) {
          for (float gain : {1.0f, 0.73f, 1.41f}) {
            const float* gp[internal::kRawnindProxyRows + 1];
            const float* np[internal::kRawnindProxyRows + 1];
            for (int r = 0; r <= count; ++r) {
              gp[r] = g[phase_y + r].data();
              np[r] = n[phase_y + r].data() + 1;  // a noisy offset of 1
            }
            double sums[internal::kRawnindProxyRows];
            internal::RawnindProxyRows(gp, np, count, x0, x1, gain, sums);
            for (int r = 0; r < count; ++r) {
              const float *g0 = gp[r], *g1 = gp[r + 1], *n0 = np[r],
                          *n1 = np[r + 1];
              float lanes[8] = {};
              int x = x0;
              for (; x + 8 <= x1; x += 8) {
                for (int k = 0; k < 8; ++k) {
                  const int i = x + k;
                  const float gb = g0[i] + g0[i + 1] + g1[i] + g1[i + 1];
                  const float nb = n0[i] + n0[i + 1] + n1[i] + n1[i + 1];
                  lanes[k] += std::abs(gb - gain * nb);
                }
              }
              double want = 0;
              for (; x < x1; ++x) {
                const float gb = g0[x] + g0[x + 1] + g1[x] + g1[x + 1];
                const float nb = n0[x] + n0[x + 1] + n1[x] + n1[x + 1];
                want += std::abs(gb - gain * nb);
              }
              for (float lane : lanes) want += lane;
              EXPECT_EQ(sums[r], want) << "x0 " << x0 << " length " << length
                                       << " row " << r << " of " << count;
              ++cases;
            }
          }
        }
      }
    }
  }
  EXPECT_GT(cases, 800);
}

TEST(RawnindKernelsTest, LossRowIsTheScalarSum) {
  const auto rows = KernelRows(2, 200, 9);
  for (int count : {0, 1, 7, 8, 9, 24, 95, 96, 97, 199}) {
    for (int offset : {0, 1, 3}) {
      const float* g = rows[0].data() + offset;
      const float* q = rows[1].data() + offset;
      const float gain = 1.37f;
      const double start = 0.125 * count;
      float lanes[8] = {};
      int i = 0;
      for (; i + 8 <= count; i += 8)
        for (int k = 0; k < 8; ++k)
          lanes[k] += std::abs(g[i + k] - gain * q[i + k]);
      double want = start;
      for (; i < count; ++i) want += std::abs(g[i] - gain * q[i]);
      for (float lane : lanes) want += lane;
      EXPECT_EQ(internal::RawnindAddLossRow(start, g, q, count, gain), want)
          << "count " << count << " offset " << offset;
    }
  }
}

// A tile's rows in one call add each row's terms to the sum in the order a
// call per row adds them: the same bits, at widths with and without a
// tail, from strided rows of the GT's tile and packed rows of the noisy
// one (a wrong stride or a sum restarted per row fails it).
TEST(RawnindKernelsTest, LossRowsAreOneCallPerRow) {
  const int stride = 101;
  const auto flat = [](const std::vector<std::vector<float>>& rows) {
    std::vector<float> out;
    for (const auto& row : rows) out.insert(out.end(), row.begin(), row.end());
    return out;
  };
  const std::vector<float> g = flat(KernelRows(7, stride - 1, 21));
  const std::vector<float> q = flat(KernelRows(7, stride - 1, 22));
  for (int rows : {1, 2, 7}) {
    for (int count : {1, 8, 13, 96, 100}) {
      const float gain = 0.83f;
      double want = 0.375;
      for (int r = 0; r < rows; ++r) {
        want = internal::RawnindAddLossRow(want, g.data() + r * stride + 1,
                                           q.data() + r * count, count, gain);
      }
      EXPECT_EQ(
          internal::RawnindAddLossRows(0.375, g.data() + 1, stride, q.data(),
                                       count, rows, count, gain),
          want)
          << rows << " rows of " << count;
    }
  }
}

// The row conversions (vectorised, with an AVX2 clone) give raw.demosaic's
// float32 formulas bit for bit: every uint16 value back to float, and
// floats across the scaled range (negative, in range, the maximum) into
// uint16, at lengths with and without a tail, for scales with and without
// an offset and a maximum.
TEST(CameraRgbTest, RowConversionsAreTheScalarFormulas) {
  for (const DemosaicScale scale :
       {DemosaicScale{0.0f, 1.0f}, DemosaicScale{0.0213f, 1.0f},
        DemosaicScale{0.0f, 1.37f}, DemosaicScale{0.05f, 1.2913f}}) {
    std::vector<std::uint16_t> all(65536);
    for (int v = 0; v < 65536; ++v) all[v] = static_cast<std::uint16_t>(v);
    for (int count : {65536, 65535, 13, 8, 7, 1}) {
      std::vector<float> out(count);
      internal::FromColourRow(all.data(), count, scale, out.data());
      for (int i = 0; i < count; ++i) {
        float want = static_cast<float>(all[i]) / 65535.0f;
        want = want * scale.max_value;
        want = want - scale.black_offset;
        ASSERT_EQ(out[i], want) << "value " << i;
      }
    }
    std::mt19937 rng(3);
    std::uniform_real_distribution<float> u(
        -scale.black_offset, scale.max_value - scale.black_offset);
    std::vector<float> in(10007);
    for (float& v : in) v = u(rng);
    in[0] = -scale.black_offset;
    in[1] = scale.max_value - scale.black_offset;
    for (int count : {10007, 10000, 9, 8, 1}) {
      std::vector<std::uint16_t> mono(count);
      internal::ToMonoRow(in.data(), count, scale, mono.data());
      for (int i = 0; i < count; ++i) {
        float v = in[i] + scale.black_offset;
        v = v / scale.max_value;
        v = v * 65535.0f;
        ASSERT_EQ(mono[i], static_cast<std::uint16_t>(v)) << "value " << in[i];
      }
    }
  }
}

TEST(CameraRgbTest, MatrixIsXyzToRec2020TimesInverseCamXyz) {
  // cam_xyz = XYZ->Rec2020 itself: the product is the identity.
  const std::array<std::array<float, 3>, 4> m = {{
      {1.71666343f, -0.35567332f, -0.25336809f},
      {-0.66667384f, 1.61645574f, 0.0157683f},
      {0.01764248f, -0.04277698f, 0.94224328f},
      {0, 0, 0},
  }};
  Result<Matrix3> out = CameraToLinRec2020(m);
  ASSERT_TRUE(out.ok());
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 3; ++c)
      EXPECT_NEAR((*out)[r][c], r == c ? 1.0f : 0.0f, 1e-5f);
  EXPECT_FALSE(CameraToLinRec2020({}).ok());  // no matrix
}

TEST(CropStageTest, PlansByContentHashAndParameters) {
  std::vector<CropSource> files = {{"s", "s/a.dng", std::string(32, 'a')},
                                   {"s", "s/b.dng", std::string(32, 'b')},
                                   {"s", "s/c.dng", std::string(32, 'c')},
                                   {"s", "s/d.dng", std::string(32, 'd')}};
  std::vector<CropTargetRecord> recorded(4);
  recorded[0].rel_path = "s/a.dng";  // up to date
  recorded[0].hash_hex = std::string(32, 'a');
  recorded[0].params = CropFingerprint();
  recorded[1].rel_path = "s/b.dng";  // content changed
  recorded[1].hash_hex = std::string(32, '0');
  recorded[1].params = CropFingerprint();
  recorded[2].rel_path = "s/c.dng";  // other parameters
  recorded[2].hash_hex = std::string(32, 'c');
  recorded[2].params = "crops-0";
  recorded[3].rel_path = "s/gone.dng";  // removed
  const CropPlan plan = PlanCrops(files, recorded);
  EXPECT_EQ(plan.up_to_date, 1);
  ASSERT_EQ(plan.to_crop.size(), 3u);
  EXPECT_EQ(plan.to_crop[0].rel_path, "s/b.dng");
  EXPECT_EQ(plan.to_crop[2].rel_path, "s/d.dng");
  ASSERT_EQ(plan.stale.size(), 4u);
  EXPECT_EQ(plan.stale[0].reason, "changed");
  EXPECT_EQ(plan.stale[1].reason, "params");
  EXPECT_EQ(plan.stale[2].reason, "missing");
  EXPECT_EQ(plan.stale[3].reason, "removed");
  EXPECT_EQ(plan.removed, std::vector<std::string>{"s/gone.dng"});
}

}  // namespace
}  // namespace dsb
