#include "mask/png_writer.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "core/alignment.h"
#include "fake_file_system.h"
#include "mask/loss_mask.h"
#include "mask_scores.h"
#include "photos.h"
#include "synth/render.h"
#include "test_support.h"

namespace dsb {
namespace {

Plane<std::uint8_t> TestPattern(int width, int height) {
  Plane<std::uint8_t> plane(width, height, 255);
  std::uint32_t state = 12345;
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      state = state * 1664525u + 1013904223u;
      // Mostly 255, a block of 0 and some arbitrary grey values.
      if (y > height / 3 && y < height / 2 && x > width / 4) {
        plane.at(y, x) = 0;
      } else if ((state >> 24) < 8) {
        plane.at(y, x) = static_cast<std::uint8_t>(state >> 16);
      }
    }
  }
  return plane;
}

void ExpectEqualPlanes(const Plane<std::uint8_t>& a,
                       const Plane<std::uint8_t>& b) {
  ASSERT_EQ(a.width(), b.width());
  ASSERT_EQ(a.height(), b.height());
  for (int y = 0; y < a.height(); ++y) {
    for (int x = 0; x < a.width(); ++x) {
      ASSERT_EQ(a.at(y, x), b.at(y, x)) << "at " << y << "," << x;
    }
  }
}

TEST(PngWriterTest, RoundTripInMemory) {
  for (const auto& [w, h] : std::vector<std::pair<int, int>>{
           {1, 1}, {2, 2}, {7, 3}, {317, 211}, {1024, 8}}) {
    const Plane<std::uint8_t> plane = TestPattern(w, h);
    auto bytes = EncodeGreyPng(plane.view(), "t.png");
    ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
    auto decoded = DecodeGreyPng(*bytes, "t.png");
    ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
    ExpectEqualPlanes(plane, *decoded);
  }
}

// The PNG's image data inflated by zlib itself (which checks the stream's
// Adler-32), against the rows each behind a filter byte 0.
void ExpectZlibInflatesToRows(const std::vector<std::uint8_t>& png,
                              const Plane<std::uint8_t>& plane,
                              const std::string& what) {
  std::vector<std::uint8_t> idat;
  for (std::size_t at = 8; at + 12 <= png.size();) {
    const std::uint32_t length =
        (std::uint32_t{png[at]} << 24) | (std::uint32_t{png[at + 1]} << 16) |
        (std::uint32_t{png[at + 2]} << 8) | png[at + 3];
    const std::string type(png.begin() + at + 4, png.begin() + at + 8);
    ASSERT_LE(at + 12 + length, png.size()) << what;
    // Every chunk's CRC-32, by zlib.
    const std::uint32_t crc =
        static_cast<std::uint32_t>(crc32(0, png.data() + at + 4, length + 4));
    const std::size_t end = at + 8 + length;
    EXPECT_EQ(crc, (std::uint32_t{png[end]} << 24) |
                       (std::uint32_t{png[end + 1]} << 16) |
                       (std::uint32_t{png[end + 2]} << 8) | png[end + 3])
        << what << " " << type;
    if (type == "IDAT") {
      idat.insert(idat.end(), png.begin() + at + 8, png.begin() + end);
    }
    at = end + 4;
  }
  const std::size_t unit = static_cast<std::size_t>(plane.width()) + 1;
  std::vector<std::uint8_t> rows(unit * plane.height() + 1);
  uLongf size = rows.size();
  ASSERT_EQ(uncompress(rows.data(), &size, idat.data(), idat.size()), Z_OK)
      << what;
  ASSERT_EQ(size, unit * plane.height()) << what;
  for (int y = 0; y < plane.height(); ++y) {
    ASSERT_EQ(rows[y * unit], 0) << what << " filter byte of row " << y;
    ASSERT_EQ(std::memcmp(&rows[y * unit + 1], plane.row(y), plane.width()), 0)
        << what << " row " << y;
  }
}

// Encodes `plane`, then checks it with zlib and with libpng's decoder.
void ExpectExactRoundTrip(const Plane<std::uint8_t>& plane,
                          const std::string& what) {
  auto bytes = EncodeGreyPng(plane.view(), what);
  ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
  ExpectZlibInflatesToRows(*bytes, plane, what);
  auto decoded = DecodeGreyPng(*bytes, what);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  ExpectEqualPlanes(plane, *decoded);
}

// Two-level masks of the shapes the encoder matches (runs, repeated rows,
// CFA periods) and of none (random), at widths around its word sizes and
// around deflate's 32 KiB window (a row and its filter byte of 32,768
// bytes can still be matched, one more cannot).
TEST(PngWriterTest, TwoLevelMasksDecodeExactly) {
  using Fill = std::function<bool(int y, int x, std::uint32_t random)>;
  const std::vector<std::pair<std::string, Fill>> shapes = {
      {"all 0", [](int, int, std::uint32_t) { return false; }},
      {"all 255", [](int, int, std::uint32_t) { return true; }},
      {"alternating", [](int, int x, std::uint32_t) { return x % 2 == 0; }},
      {"checkerboard",
       [](int y, int x, std::uint32_t) { return (x + y) % 2 == 0; }},
      {"bayer red clipped",
       [](int y, int x, std::uint32_t) {
         return !(y % 2 == 0 && x % 2 == 0 && x > 9 && y < 40);
       }},
      {"x-trans period",
       [](int y, int x, std::uint32_t) { return (x * 7 + y * 3) % 6 != 2; }},
      {"cells and objects",
       [](int y, int x, std::uint32_t) {
         const int i = y / 2, j = x / 2;
         return !((i * 31 + j * 17) % 23 == 0 ||
                  (y > 10 && y < 30 && x > 20 && x < 90));
       }},
      {"random half", [](int, int, std::uint32_t r) { return r % 2 == 0; }},
      {"random sparse", [](int, int, std::uint32_t r) { return r % 37 != 0; }},
  };
  const std::vector<std::pair<int, int>> sizes = {
      {1, 1},    {1, 300},  {2, 5},     {3, 64},    {5, 7},
      {7, 3},    {8, 9},    {15, 40},   {16, 33},   {17, 31},
      {63, 20},  {64, 21},  {65, 19},   {257, 13},  {1001, 6},
      {5461, 7}, {6554, 9}, {32767, 3}, {32768, 3}, {40000, 2}};
  for (const auto& [name, fill] : shapes) {
    for (const auto& [w, h] : sizes) {
      Plane<std::uint8_t> plane(w, h, 0);
      std::uint32_t state = 99;
      for (int y = 0; y < h; ++y) {
        for (int x = 0; x < w; ++x) {
          state = state * 1664525u + 1013904223u;
          plane.at(y, x) = fill(y, x, state >> 16) ? 255 : 0;
        }
      }
      ExpectExactRoundTrip(
          plane, name + " " + std::to_string(w) + "x" + std::to_string(h));
    }
  }
}

// The Adler-32 is advanced row by row, and a row equal to the row above
// (which the encoder matches whole) adds its sums again without being
// read: rows of arbitrary bytes (large sums, wrapping modulo 65521 many
// times) repeated 1 to 40 times, at widths up to the last one whose rows
// can be matched. zlib checks the checksum.
TEST(PngWriterTest, RepeatedRowsKeepTheChecksum) {
  for (const int w : {1, 2, 3, 100, 4093, 32767}) {
    const int h = w > 1000 ? 90 : 600;
    Plane<std::uint8_t> plane(w, h, 0);
    std::uint32_t state = 7;
    int left = 0;
    for (int y = 0; y < h; ++y) {
      if (left-- > 0) {
        std::memcpy(plane.row(y), plane.row(y - 1), w);
        continue;
      }
      state = state * 1664525u + 1013904223u;
      left = static_cast<int>(state >> 16) % 40;
      for (int x = 0; x < w; ++x) {
        state = state * 1664525u + 1013904223u;
        // Long runs too, so that rows are busy or quiet.
        plane.at(y, x) =
            (state >> 28) < 4 ? static_cast<std::uint8_t>(state >> 16) : 255;
      }
    }
    ExpectExactRoundTrip(plane, "repeated rows " + std::to_string(w));
  }
}

// Over 2^16 tokens (a random mask: mostly literals) take several deflate
// blocks, each with its own codes.
TEST(PngWriterTest, LongStreamsSpanSeveralBlocks) {
  Plane<std::uint8_t> plane(701, 333, 0);
  std::uint32_t state = 5;
  for (int y = 0; y < plane.height(); ++y) {
    for (int x = 0; x < plane.width(); ++x) {
      state = state * 1664525u + 1013904223u;
      plane.at(y, x) = (state >> 20) & 1 ? 255 : 0;
    }
  }
  ExpectExactRoundTrip(plane, "random 701x333");
}

// Bytes with Fibonacci frequencies: an unlimited Huffman code would need
// codes of over 20 bits, deflate allows 15.
TEST(PngWriterTest, SkewedFrequenciesKeepCodesWithinDeflateLimits) {
  std::vector<std::uint8_t> bytes;
  std::uint64_t a = 1, b = 1;
  for (int value = 0; value < 24; ++value) {
    bytes.insert(bytes.end(), a, static_cast<std::uint8_t>(value * 10));
    const std::uint64_t next = a + b;
    a = b;
    b = next;
  }
  std::uint32_t state = 17;
  for (std::size_t i = bytes.size(); i > 1; --i) {
    state = state * 1664525u + 1013904223u;
    std::swap(bytes[i - 1], bytes[(state >> 8) % i]);
  }
  const int w = 1000;
  const int h = static_cast<int>(bytes.size() / w);
  Plane<std::uint8_t> plane(w, h, 0);
  for (int y = 0; y < h; ++y) {
    std::memcpy(plane.row(y), bytes.data() + y * w, w);
  }
  ExpectExactRoundTrip(plane, "fibonacci");
}

// X-Trans per-sample clipping: one colour's samples zeroed in a period of
// 6 both ways (6 rows back is past the window at this width): the in-row
// period still finds it. 19.5 KB; zlib level 1 writes 20 KB with full
// matching, 387 KB with run-length matching only.
TEST(PngWriterTest, XTransClippingMasksAreSmall) {
  Plane<std::uint8_t> plane(6000, 600, 255);
  static constexpr int kRed[6][6] = {{0, 0, 1, 0, 0, 0}, {0, 0, 0, 0, 0, 1},
                                     {0, 1, 0, 1, 0, 0}, {0, 0, 0, 0, 0, 1},
                                     {0, 0, 1, 0, 0, 0}, {1, 0, 0, 0, 1, 0}};
  for (int y = 0; y < 500; ++y) {
    for (int x = 0; x < 5000; ++x) {
      if (kRed[y % 6][x % 6]) plane.at(y, x) = 0;
    }
  }
  auto bytes = EncodeGreyPng(plane.view(), "xtrans.png");
  ASSERT_TRUE(bytes.ok());
  EXPECT_LT(bytes->size(), plane.width() * plane.height() / 150u);
  ExpectExactRoundTrip(plane, "xtrans.png");
}

// Masks like those of warm photographs: per-sample clipping of one
// colour of a Bayer or X-Trans mosaic wherever a smooth scene (plus
// noise) passes a level, flagged blocks, and stretches where the clipped
// samples come and go every few pixels (the encoder's busiest case:
// short runs of literals between short matches). zlib and libpng must
// both decode them to the same pixels.
TEST(PngWriterTest, BusyPhotoLikeMasksDecodeExactly) {
  static constexpr int kXTransRed[6][6] = {
      {0, 0, 1, 0, 0, 0}, {0, 0, 0, 0, 0, 1}, {0, 1, 0, 1, 0, 0},
      {0, 0, 0, 0, 0, 1}, {0, 0, 1, 0, 0, 0}, {1, 0, 0, 0, 1, 0}};
  for (const bool xtrans : {false, true}) {
    for (const auto& [w, h] : std::vector<std::pair<int, int>>{
             {997, 211}, {2000, 64}, {64, 300}, {131, 97}, {6000, 12}}) {
      Plane<std::uint8_t> plane(w, h, 255);
      std::uint32_t state = 2024 + w;
      for (int y = 0; y < h; ++y) {
        for (int x = 0; x < w; ++x) {
          state = state * 1664525u + 1013904223u;
          const bool red = xtrans ? kXTransRed[y % 6][x % 6] != 0
                                  : (y % 2 == 0 && x % 2 == 0);
          // A smooth field crossing the clipping level in bands, and
          // noise that makes samples near the level flicker.
          const double field = std::sin(x * 0.013 + y * 0.007) +
                               0.5 * std::sin(x * 0.051 - y * 0.033);
          const double noise = ((state >> 16) % 1000) / 1000.0 - 0.5;
          if (red && field + 0.6 * noise > 0.2) plane.at(y, x) = 0;
          if ((x / 37 + y / 23) % 11 == 0) plane.at(y, x) = 0;  // flagged
        }
      }
      ExpectExactRoundTrip(plane, std::string(xtrans ? "x-trans " : "bayer ") +
                                      std::to_string(w) + "x" +
                                      std::to_string(h));
      auto bytes = EncodeGreyPng(plane.view(), "busy.png");
      ASSERT_TRUE(bytes.ok());
      // Per-sample clipping compresses (a literal per pixel would be a
      // bit a pixel at best).
      EXPECT_LT(bytes->size(), plane.pixel_count() / 8 + 1024) << w << "x" << h;
    }
  }
}

// The masks the build writes: every mask of the procedural sweep (all
// CFAs, noise levels 0, 2 and the most extreme; 3 seeds; the default
// parameters, the cell footprint and noisy-clipped masking) and of the
// real-photo sweep (every look, CFA and capture of mask_sweep --photos,
// at 320x240 and, warm +2 EV, at 1001x767: red clipped per sample over
// wide areas, the encoder's busiest rows), each encoded and decoded by
// zlib and libpng to exactly its pixels (mask_sweep --dump and a build
// before a change of the encoder compare the bytes themselves).
std::vector<MaskParams> SweepParams() {
  MaskParams cell;
  cell.clip_footprint = ClipFootprint::kCell;
  MaskParams noisy_clipped;
  noisy_clipped.mask_noisy_clipped = true;
  return {MaskParams{}, cell, noisy_clipped};
}

void ExpectMasksRoundTrip(const RawImage& gt, const RawImage& noisy,
                          const CaptureSpec& capture, const std::string& what) {
  Alignment alignment;
  alignment.dy = capture.dy;
  alignment.dx = capture.dx;
  alignment.raw_gain = capture.gain;
  for (const MaskParams& params : SweepParams()) {
    auto mask = MakeLossMask(gt, noisy, alignment, params);
    ASSERT_TRUE(mask.ok()) << what << ": " << mask.status().ToString();
    ExpectExactRoundTrip(
        mask->pixels, what + " " + ClipFootprintName(params.clip_footprint) +
                          (params.mask_noisy_clipped ? " noisy-clipped" : ""));
  }
}

TEST(PngWriterTest, SweepMasksRoundTripExactly) {
  for (const CfaPattern& cfa : testing::AllCfas()) {
    for (std::uint64_t seed = 111; seed < 114; ++seed) {
      const auto sweep = testing::MakeSweepScene(cfa, seed, 320, 240);
      const SyntheticScene scene(sweep.spec);
      const RawImage gt = scene.RenderGt();
      for (const CaptureSpec& capture : sweep.captures) {
        ExpectMasksRoundTrip(gt, scene.RenderCapture(capture), capture,
                             cfa.name() + " seed " + std::to_string(seed) +
                                 " level " +
                                 std::to_string(capture.noise_level));
      }
    }
  }
}

TEST(PngWriterTest, PhotoSweepMasksRoundTripExactly) {
  const auto photo = testing::LoadPhoto("motorcycle_left.png");
  if (photo == nullptr) {
    GTEST_SKIP() << testing::PhotoMissing("motorcycle_left.png");
  }
  for (const PhotoLook& look : testing::SweepLooks()) {
    for (const CfaPattern& cfa : testing::AllCfas()) {
      const bool large = look.exposure_ev >= 2;
      const auto sweep = testing::MakePhotoSweepScene(
          photo, look, cfa, 111, large ? 1001 : 320, large ? 767 : 240);
      const RawImage gt = sweep.scene->RenderGt();
      for (const CaptureSpec& capture : sweep.captures) {
        ExpectMasksRoundTrip(gt, sweep.scene->RenderCapture(capture), capture,
                             testing::DescribeLook(look) + " " + cfa.name() +
                                 " level " +
                                 std::to_string(capture.noise_level));
      }
    }
  }
}

// A match of rows that runs on over repeated rows ends in the first row
// that differs, part way into it; that row may be one run of pixels (which,
// started at its filter byte, the encoder codes at once): it must go on
// from where the match ended. Rows: a busy row B (its first `same` pixels
// 255, then 0), B again, then one-run rows and B once more.
TEST(PngWriterTest, RowMatchesEndingInOneRunRows) {
  for (const int w : {64, 65, 100, 1000}) {
    for (const int same : {0, 1, 30, w - 1}) {
      Plane<std::uint8_t> plane(w, 8, 255);
      std::uint32_t state = 31 * w + same;
      for (int x = 0; x < w; ++x) {
        state = state * 1664525u + 1013904223u;
        const std::uint8_t v =
            x < same ? 255 : (x == same || (state >> 20) & 1 ? 0 : 255);
        plane.at(0, x) = v;
        plane.at(1, x) = v;
        plane.at(5, x) = v;
        plane.at(6, x) = v;
      }
      // Rows 2-4 all 255; row 7 all 0.
      for (int x = 0; x < w; ++x) plane.at(7, x) = 0;
      ExpectExactRoundTrip(plane, "rows into a run " + std::to_string(w) + " " +
                                      std::to_string(same));
    }
  }
}

// Arbitrary bytes (no two-level words, hardly a match): literals only,
// more of them in a row than one sequence of the encoder holds (65,535),
// across several blocks.
TEST(PngWriterTest, LongStretchesOfLiteralsDecodeExactly) {
  Plane<std::uint8_t> plane(400, 400, 0);
  std::uint32_t state = 77;
  for (int y = 0; y < plane.height(); ++y) {
    for (int x = 0; x < plane.width(); ++x) {
      state = state * 1664525u + 1013904223u;
      plane.at(y, x) = static_cast<std::uint8_t>(state >> 24);
    }
  }
  ExpectExactRoundTrip(plane, "random bytes 400x400");
}

// Two-level rows alternating stretches of random literals of every length
// from 0 to 40 (the block writer puts 8 at a time, the first 16 without a
// branch on their count, the rest in a loop) with matches at every
// in-row distance (1, 2, 3, 6: looked up codes) and, every fifth row, a
// copy of the row above (a distance past that table's, computed).
TEST(PngWriterTest, LiteralStretchesOfEveryLengthBetweenMatches) {
  Plane<std::uint8_t> plane(1001, 60, 0);
  constexpr int kPeriods[] = {1, 2, 3, 6};
  std::uint32_t state = 5;
  for (int y = 0; y < plane.height(); ++y) {
    if (y % 5 == 4) {
      for (int x = 0; x < plane.width(); ++x) {
        plane.at(y, x) = plane.at(y - 1, x);
      }
      continue;
    }
    int x = 0;
    for (int k = 0; x < plane.width(); ++k) {
      const int literals = (7 * y + k) % 41;
      for (int i = 0; i < literals && x < plane.width(); ++i, ++x) {
        state = state * 1664525u + 1013904223u;
        plane.at(y, x) = (state >> 31) != 0 ? 255 : 0;
      }
      const int d = kPeriods[(y + k) % 4];
      for (int i = 0; i < 20 && x < plane.width(); ++i, ++x) {
        plane.at(y, x) = x >= d ? plane.at(y, x - d) : 255;
      }
    }
  }
  ExpectExactRoundTrip(plane, "literal stretches 1001x60");
}

TEST(PngWriterTest, EncodesStridedViews) {
  const Plane<std::uint8_t> plane = TestPattern(40, 30);
  const PlaneView<const std::uint8_t> crop = plane.view().crop(5, 7, 20, 13);
  auto bytes = EncodeGreyPng(crop, "crop.png");
  ASSERT_TRUE(bytes.ok());
  Plane<std::uint8_t> copy(13, 20);
  for (int y = 0; y < 20; ++y) std::memcpy(copy.row(y), crop.row(y), 13);
  ExpectZlibInflatesToRows(*bytes, copy, "crop.png");
  auto decoded = DecodeGreyPng(*bytes, "crop.png");
  ASSERT_TRUE(decoded.ok());
  ASSERT_EQ(decoded->width(), 13);
  ASSERT_EQ(decoded->height(), 20);
  for (int y = 0; y < 20; ++y) {
    for (int x = 0; x < 13; ++x) {
      ASSERT_EQ(decoded->at(y, x), plane.at(y + 5, x + 7));
    }
  }
}

TEST(PngWriterTest, ConstantMaskIsSmall) {
  const Plane<std::uint8_t> plane(2000, 1500, 255);
  auto bytes = EncodeGreyPng(plane.view(), "c.png");
  ASSERT_TRUE(bytes.ok());
  EXPECT_LT(bytes->size(), 20000u);
}

// A mask whose clipping is per sample: over most of the frame every red of
// an RGGB mosaic is zeroed (one pixel in four, runs of one pixel), as on a
// warm photograph. Run-length matching alone wrote about a fifth of the
// pixel count; the encoder finds the period. Both kinds of mask round-trip.
TEST(PngWriterTest, PerSampleClippingMasksAreSmall) {
  Plane<std::uint8_t> plane(1200, 800, 255);
  for (int y = 0; y < 700; y += 2) {
    for (int x = 0; x < 1200; x += 2) plane.at(y, x) = 0;
  }
  auto bytes = EncodeGreyPng(plane.view(), "clipped.png");
  ASSERT_TRUE(bytes.ok());
  EXPECT_LT(bytes->size(), plane.width() * plane.height() / 50u);
  auto decoded = DecodeGreyPng(*bytes, "clipped.png");
  ASSERT_TRUE(decoded.ok());
  ExpectEqualPlanes(plane, *decoded);
}

TEST(PngWriterTest, ErrorsAreStatusesNamingTheFile) {
  const Plane<std::uint8_t> empty;
  auto encoded = EncodeGreyPng(empty.view(), "empty.png");
  ASSERT_FALSE(encoded.ok());
  EXPECT_NE(encoded.status().message().find("empty.png"), std::string::npos);

  const std::vector<std::uint8_t> junk = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  auto decoded = DecodeGreyPng(junk, "junk.png");
  ASSERT_FALSE(decoded.ok());
  EXPECT_EQ(decoded.status().code(), Status::Code::kCorrupt);
  EXPECT_NE(decoded.status().message().find("junk.png"), std::string::npos);

  // A valid PNG cut short: libpng's own error, via longjmp, as a Status.
  const Plane<std::uint8_t> plane = TestPattern(200, 100);
  auto bytes = EncodeGreyPng(plane.view(), "t.png");
  ASSERT_TRUE(bytes.ok());
  for (std::size_t keep : {std::size_t{8}, std::size_t{40}, bytes->size() / 2,
                           bytes->size() - 13}) {
    const std::vector<std::uint8_t> cut(bytes->begin(), bytes->begin() + keep);
    auto truncated = DecodeGreyPng(cut, "cut.png");
    ASSERT_FALSE(truncated.ok()) << keep;
    EXPECT_EQ(truncated.status().code(), Status::Code::kCorrupt);
    EXPECT_NE(truncated.status().message().find("cut.png"), std::string::npos);
  }
  // Flipped bytes in the image data: CRC or zlib errors, never a crash.
  std::vector<std::uint8_t> damaged = *bytes;
  for (std::size_t i = 60; i < damaged.size(); i += 97) damaged[i] ^= 0x5a;
  auto bad = DecodeGreyPng(damaged, "bad.png");
  EXPECT_FALSE(bad.ok());
}

TEST(PngWriterTest, WritesAtomicallyThroughFileSystem) {
  testing::FakeFileSystem fs;
  fs.AddDirectory("/masks");
  const Plane<std::uint8_t> plane = TestPattern(64, 48);
  ASSERT_TRUE(WriteGreyPng(fs, "/masks/a.png", plane.view()).ok());
  EXPECT_EQ(fs.counters().writes, 1u);
  auto read = ReadGreyPng(fs, "/masks/a.png");
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  ExpectEqualPlanes(plane, *read);
  for (const std::string& path : fs.AllPaths()) {
    EXPECT_EQ(path.find(kTempSuffix), std::string::npos) << path;
  }
}

TEST(PngWriterTest, WriteFailureIsReported) {
  testing::FakeFileSystem fs;
  fs.AddDirectory("/masks");
  fs.FailWritesAfter(0, Status::ResourceExhausted("disk full"));
  const Plane<std::uint8_t> plane = TestPattern(16, 16);
  const Status status = WriteGreyPng(fs, "/masks/a.png", plane.view());
  EXPECT_EQ(status.code(), Status::Code::kResourceExhausted);
  EXPECT_FALSE(fs.Exists("/masks/a.png"));
}

}  // namespace
}  // namespace dsb
