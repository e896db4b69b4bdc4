// Real-photo content: reading PNG and JPEG (synth/photo_reader.h), turning a
// photograph into lit, exposed camera colour (synth/photo_content.h),
// rendering scenes from it and `synth --content` (synth/generate.h).
#include <gtest/gtest.h>
#include <jpeglib.h>
#include <png.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "photos.h"
#include "synth/generate.h"
#include "synth/photo_content.h"
#include "synth/photo_reader.h"
#include "synth/render.h"
#include "test_support.h"

namespace dsb {
namespace {

namespace fs = std::filesystem;

Srgb8Image Uniform(int w, int h, std::uint8_t r, std::uint8_t g,
                   std::uint8_t b) {
  Srgb8Image image;
  image.width = w;
  image.height = h;
  for (int i = 0; i < w * h; ++i) image.rgb.insert(image.rgb.end(), {r, g, b});
  return image;
}

// Left half black, right half white.
Srgb8Image Split(int w, int h) {
  Srgb8Image image = Uniform(w, h, 0, 0, 0);
  for (int y = 0; y < h; ++y) {
    for (int x = w / 2; x < w; ++x) {
      for (int c = 0; c < 3; ++c) image.rgb[3 * (y * w + x) + c] = 255;
    }
  }
  return image;
}

void WritePng(const std::string& path, const Srgb8Image& image) {
  png_image png{};
  png.version = PNG_IMAGE_VERSION;
  png.width = image.width;
  png.height = image.height;
  png.format = PNG_FORMAT_RGB;
  ASSERT_TRUE(png_image_write_to_file(&png, path.c_str(), 0, image.rgb.data(),
                                      0, nullptr))
      << png.message;
}

void WriteJpeg(const std::string& path, const Srgb8Image& image) {
  FILE* file = std::fopen(path.c_str(), "wb");
  ASSERT_NE(file, nullptr);
  jpeg_compress_struct cinfo;
  jpeg_error_mgr error;
  cinfo.err = jpeg_std_error(&error);
  jpeg_create_compress(&cinfo);
  jpeg_stdio_dest(&cinfo, file);
  cinfo.image_width = image.width;
  cinfo.image_height = image.height;
  cinfo.input_components = 3;
  cinfo.in_color_space = JCS_RGB;
  jpeg_set_defaults(&cinfo);
  jpeg_set_quality(&cinfo, 100, TRUE);
  jpeg_start_compress(&cinfo, TRUE);
  while (cinfo.next_scanline < cinfo.image_height) {
    JSAMPROW row =
        const_cast<std::uint8_t*>(image.rgb.data()) +
        static_cast<std::size_t>(cinfo.next_scanline) * 3 * image.width;
    jpeg_write_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  std::fclose(file);
}

TEST(PhotoReaderTest, ReadsPngAndJpegByContent) {
  testing::TempDir dir;
  Srgb8Image image = Uniform(24, 16, 200, 120, 40);
  image.rgb[0] = 7;  // one different byte, to see it come back
  // The names lie about the format: the signature decides.
  WritePng(dir.Join("photo.jpg"), image);
  auto png = ReadPhoto(dir.Join("photo.jpg"));
  ASSERT_TRUE(png.ok()) << png.status().ToString();
  EXPECT_EQ(png->width, 24);
  EXPECT_EQ(png->height, 16);
  EXPECT_EQ(png->rgb, image.rgb);

  WriteJpeg(dir.Join("photo.png"), Uniform(32, 24, 200, 120, 40));
  auto jpeg = ReadPhoto(dir.Join("photo.png"));
  ASSERT_TRUE(jpeg.ok()) << jpeg.status().ToString();
  ASSERT_EQ(jpeg->width, 32);
  ASSERT_EQ(jpeg->height, 24);
  ASSERT_EQ(jpeg->rgb.size(), 32u * 24 * 3);
  for (std::size_t i = 0; i < jpeg->rgb.size(); i += 3) {
    EXPECT_NEAR(jpeg->rgb[i], 200, 3);
    EXPECT_NEAR(jpeg->rgb[i + 1], 120, 3);
    EXPECT_NEAR(jpeg->rgb[i + 2], 40, 3);
  }
}

TEST(PhotoReaderTest, BadFilesAreErrorsNamingTheFile) {
  testing::TempDir dir;
  auto missing = ReadPhoto(dir.Join("none.png"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), Status::Code::kNotFound);
  EXPECT_NE(missing.status().message().find("none.png"), std::string::npos);

  std::ofstream(dir.Join("text.png")) << "not an image at all";
  auto text = ReadPhoto(dir.Join("text.png"));
  ASSERT_FALSE(text.ok());
  EXPECT_EQ(text.status().code(), Status::Code::kUnsupported);
  EXPECT_NE(text.status().message().find("text.png"), std::string::npos);

  // Truncated files of both formats.
  WritePng(dir.Join("full.png"), Uniform(64, 64, 1, 2, 3));
  WriteJpeg(dir.Join("full.jpg"), Split(64, 64));
  for (const char* name : {"full.png", "full.jpg"}) {
    SCOPED_TRACE(name);
    std::ifstream in(dir.Join(name), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)),
                      std::istreambuf_iterator<char>());
    const std::string cut = dir.Join(std::string("cut-") + name);
    std::ofstream(cut, std::ios::binary) << bytes.substr(0, bytes.size() / 3);
    auto damaged = ReadPhoto(cut);
    ASSERT_FALSE(damaged.ok());
    EXPECT_EQ(damaged.status().code(), Status::Code::kCorrupt);
    EXPECT_NE(damaged.status().message().find("cut-"), std::string::npos);
  }
}

TEST(PhotoContentTest, LinearisesLightsAndExposes) {
  EXPECT_EQ(SrgbToLinear(0), 0.0f);
  EXPECT_FLOAT_EQ(SrgbToLinear(255), 1.0f);
  EXPECT_NEAR(SrgbToLinear(128), 0.2158, 1e-4);
  EXPECT_NEAR(SrgbToLinear(10), 10 / 255.0 / 12.92, 1e-6);
  // A neutral grey photograph: every content pixel alike, green metered at
  // kMidGrey * 2^ev, red and blue by the light and the camera.
  const Srgb8Image grey = Uniform(40, 30, 128, 128, 128);
  for (PhotoLight light : {PhotoLight::kDaylight, PhotoLight::kWarm}) {
    for (double ev : {0.0, 1.5}) {
      PhotoLook look;
      look.light = light;
      look.exposure_ev = ev;
      const CameraContent content = MakePhotoContent(grey, 50, 20, look);
      ASSERT_EQ(content.width, 50);
      ASSERT_EQ(content.height, 20);
      const float g = kMidGrey * std::exp2(ev);
      const auto gains = PhotoChannelGains(light);
      for (int y = 0; y < 20; ++y) {
        for (int x = 0; x < 50; ++x) {
          EXPECT_NEAR(content.at(1, y, x), g, 1e-5 * g);
          EXPECT_NEAR(content.at(0, y, x), g * gains[0] / gains[1], 1e-4);
          EXPECT_NEAR(content.at(2, y, x), g * gains[2] / gains[1], 1e-4);
        }
      }
    }
  }
  // Daylight raw reads red and blue below green; warm light reads red above
  // it.
  EXPECT_LT(PhotoChannelGains(PhotoLight::kDaylight)[0], 1.0);
  EXPECT_LT(PhotoChannelGains(PhotoLight::kDaylight)[2], 1.0);
  EXPECT_GT(PhotoChannelGains(PhotoLight::kWarm)[0], 1.0);
  EXPECT_LT(PhotoChannelGains(PhotoLight::kWarm)[2], 0.5);
}

TEST(PhotoContentTest, ResamplesAndCropsWithoutMovingContent) {
  // Black | white, shrunk and enlarged: the edge stays in the middle, each
  // side stays flat away from it.
  for (const auto& [w, h] :
       std::vector<std::pair<int, int>>{{40, 20}, {400, 200}}) {
    SCOPED_TRACE(std::to_string(w) + "x" + std::to_string(h));
    PhotoLook look;
    const CameraContent c = MakePhotoContent(Split(120, 60), w, h, look);
    for (int y = 0; y < h; y += 7) {
      EXPECT_NEAR(c.at(1, y, 0), 0.0f, 1e-6);
      EXPECT_NEAR(c.at(1, y, w / 4), 0.0f, 1e-6);
      EXPECT_GT(c.at(1, y, 3 * w / 4), 0.0f);
      EXPECT_FLOAT_EQ(c.at(1, y, 3 * w / 4), c.at(1, y, w - 1));
      for (int x = 1; x < w; ++x) {
        EXPECT_GE(c.at(1, y, x) + 1e-6f, c.at(1, y, x - 1));
      }
    }
  }
  // Zoom and offset move the crop: the far right of a zoomed crop at the
  // left (offset 0) shows less of the white half than at the right.
  PhotoLook left, right;
  left.zoom = right.zoom = 1.3;
  left.offset_x = 0.0;
  right.offset_x = 1.0;
  const CameraContent a = MakePhotoContent(Split(120, 60), 60, 30, left);
  const CameraContent b = MakePhotoContent(Split(120, 60), 60, 30, right);
  int white_a = 0, white_b = 0;
  for (int x = 0; x < 60; ++x) {
    white_a += a.at(1, 15, x) > 0.5f * b.at(1, 15, 59);
    white_b += b.at(1, 15, x) > 0.5f * b.at(1, 15, 59);
  }
  EXPECT_LT(white_a, white_b);
}

TEST(PhotoContentTest, ScenesRenderThePhotographWithTheContractShift) {
  SceneSpec spec;
  spec.width = 64;
  spec.height = 48;
  spec.max_shift = 8;
  spec.cfa = CfaPattern::Bayer(BayerOrder::kGRBG);
  Srgb8Image photo = Split(90, 60);
  for (int i = 0; i < 90 * 60 * 3; i += 7) photo.rgb[i] = 90;  // some texture
  spec.photo = std::make_shared<const Srgb8Image>(photo);
  spec.look.light = PhotoLight::kWarm;
  spec.look.exposure_ev = 3;
  const SyntheticScene scene(spec);
  const RawImage gt = scene.RenderGt(kNoiseless);
  CaptureSpec capture;
  capture.dy = 3;
  capture.dx = -5;
  capture.noise_level = kNoiseless;
  const RawImage noisy = scene.RenderCapture(capture);
  int clipped = 0;
  for (int y = 0; y < spec.height; ++y) {
    for (int x = 0; x < spec.width; ++x) {
      const CfaColor c = spec.cfa.color_at(y, x);
      EXPECT_EQ(gt.pixels.at(y, x), std::min(scene.ContentAt(y, x, c), 1.0f));
      EXPECT_EQ(noisy.pixels.at(y, x),
                std::min(scene.ContentAt(y + 3, x - 5, c), 1.0f));
      EXPECT_EQ(scene.GtClippedAt(y, x), scene.ContentAt(y, x, c) >= 1.0f);
      clipped += scene.GtClippedAt(y, x);
    }
  }
  EXPECT_GT(clipped, 0);  // +3 EV of white clips
}

TEST(GenerateTest, ContentRendersEveryScenesFromThePhotograph) {
  testing::TempDir dir;
  WritePng(dir.Join("photo.png"), Split(300, 200));
  SynthOptions o;
  o.out_dir = dir.Join("out");
  o.scenes = 2;
  o.noisy = 2;
  o.width = 128;
  o.height = 96;
  o.cfa = "xtrans";
  o.content = dir.Join("photo.png");
  o.exposure_ev = 1;
  o.light = PhotoLight::kWarm;
  ASSERT_TRUE(GenerateDataset(o).ok());
  std::ifstream in(o.out_dir + "/truth.json");
  const nlohmann::json truth = nlohmann::json::parse(in);
  EXPECT_EQ(truth["options"]["content"], o.content);
  EXPECT_EQ(truth["options"]["light"], "warm");
  EXPECT_EQ(truth["options"]["exposure_ev"], 1.0);
  EXPECT_EQ(truth["scenes"][0]["content"], o.content);
  EXPECT_EQ(truth["files"].size(), 4u);

  // A photograph that cannot be read fails naming it, and writes nothing.
  o.out_dir = dir.Join("other");
  o.content = dir.Join("missing.jpg");
  const Status status = GenerateDataset(o);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("missing.jpg"), std::string::npos);
  EXPECT_FALSE(fs::exists(o.out_dir));
}

// The tests' photograph, where python3-skimage is installed.
TEST(PhotoReaderTest, ReadsTheTestPhotograph) {
  const std::string path = testing::FindPhoto("motorcycle_left.png");
  if (path.empty()) {
    GTEST_SKIP() << "motorcycle_left.png not in " << testing::PhotoDir()
                 << " (apt-get install python3-skimage)";
  }
  auto photo = ReadPhoto(path);
  ASSERT_TRUE(photo.ok()) << photo.status().ToString();
  EXPECT_EQ(photo->width, 741);
  EXPECT_EQ(photo->height, 500);
}

}  // namespace
}  // namespace dsb
