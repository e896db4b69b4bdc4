#include "mask/png_writer.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "fake_file_system.h"

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
    for (int level : {0, 1, 2, 9}) {
      auto bytes = EncodeGreyPng(plane.view(), "t.png", {level});
      ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
      auto decoded = DecodeGreyPng(*bytes, "t.png");
      ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
      ExpectEqualPlanes(plane, *decoded);
    }
  }
}

TEST(PngWriterTest, EncodesStridedViews) {
  const Plane<std::uint8_t> plane = TestPattern(40, 30);
  const PlaneView<const std::uint8_t> crop = plane.view().crop(5, 7, 20, 13);
  auto bytes = EncodeGreyPng(crop, "crop.png");
  ASSERT_TRUE(bytes.ok());
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
  auto bytes = EncodeGreyPng(plane.view(), "t.png", {0});
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
