// Every way a file can fail to decode gives a typed error naming the file
// and the reason, and never takes the process down.
#include <gtest/gtest.h>
#include <tiffio.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "raw/decoder.h"
#include "synth/dng_writer.h"
#include "synth/render.h"
#include "test_support.h"

namespace dsb {
namespace {

namespace fs = std::filesystem;

void WriteBytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

void ExpectError(const std::string& path, Status::Code code,
                 const DecodeOptions& options = {}) {
  Result<RawImage> image = DecodeRaw(path, options);
  ASSERT_FALSE(image.ok()) << path;
  EXPECT_EQ(image.status().code(), code)
      << path << ": " << image.status().ToString();
  EXPECT_NE(image.status().message().find(fs::path(path).filename().string()),
            std::string::npos)
      << image.status().message();
}

class DecoderErrorsTest : public ::testing::Test {
 protected:
  std::string Path(const std::string& name) { return dir_.Join(name); }

  std::string WriteDng(const std::string& name) {
    SceneSpec spec;
    spec.width = 96;
    spec.height = 64;
    SyntheticScene scene(spec);
    const std::string path = Path(name);
    EXPECT_TRUE(WriteCfaDng(path, scene.RenderGt()).ok());
    return path;
  }

  testing::TempDir dir_;
};

TEST_F(DecoderErrorsTest, MissingFile) {
  ExpectError(Path("missing.dng"), Status::Code::kNotFound);
}

TEST_F(DecoderErrorsTest, EmptyFile) {
  WriteBytes(Path("empty.dng"), "");
  Result<RawImage> image = DecodeRaw(Path("empty.dng"));
  ASSERT_FALSE(image.ok());
  EXPECT_NE(image.status().message().find("empty"), std::string::npos);
}

TEST_F(DecoderErrorsTest, RandomBytesAndTextAreNotRawFiles) {
  std::string random(8192, '\0');
  std::mt19937 rng(7);
  for (char& c : random) c = static_cast<char>(rng());
  WriteBytes(Path("random.NEF"), random);
  WriteBytes(Path("notes.ARW"), "not a raw file at all\n");
  for (const char* name : {"random.NEF", "notes.ARW"}) {
    Result<RawImage> image = DecodeRaw(Path(name));
    ASSERT_FALSE(image.ok()) << name;
    EXPECT_NE(image.status().message().find(name), std::string::npos);
  }
}

TEST_F(DecoderErrorsTest, JpegNamedLikeARaw) {
  // A JPEG's first bytes (SOI, APP0 JFIF) and nothing LibRaw can decode.
  WriteBytes(Path("photo.CR2"),
             std::string("\xFF\xD8\xFF\xE0\x00\x10JFIF\x00\x01\x01", 13) +
                 std::string(2000, '\x55'));
  Result<RawImage> image = DecodeRaw(Path("photo.CR2"));
  ASSERT_FALSE(image.ok());
  EXPECT_NE(image.status().message().find("photo.CR2"), std::string::npos);
}

TEST_F(DecoderErrorsTest, TruncatedDngIsCorruptOrUnsupported) {
  const std::string whole = WriteDng("whole.dng");
  ASSERT_TRUE(DecodeRaw(whole).ok());
  std::ifstream in(whole, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  WriteBytes(Path("truncated.dng"), bytes.substr(0, bytes.size() / 2));
  Result<RawImage> image = DecodeRaw(Path("truncated.dng"));
  ASSERT_FALSE(image.ok());
  EXPECT_NE(image.status().message().find("truncated.dng"), std::string::npos);
}

TEST_F(DecoderErrorsTest, ImageLargerThanTheLimit) {
  const std::string path = WriteDng("big.dng");
  DecodeOptions options;
  options.max_pixels = 1000;
  ExpectError(path, Status::Code::kResourceExhausted, options);
}

TEST_F(DecoderErrorsTest, LinearDemosaicedDngIsUnsupported) {
  // A DNG whose pixels are already RGB (PhotometricInterpretation
  // LinearRaw, 3 samples): no mosaic to align on.
  const std::string path = Path("linear.dng");
  TIFF* tiff = TIFFOpen(path.c_str(), "w");
  ASSERT_NE(tiff, nullptr);
  const int width = 64, height = 48;
  static const TIFFFieldInfo kDngVersion[] = {
      {50706, 4, 4, TIFF_BYTE, FIELD_CUSTOM, 1, 0,
       const_cast<char*>("DNGVersion")}};
  TIFFMergeFieldInfo(tiff, kDngVersion, 1);
  TIFFSetField(tiff, TIFFTAG_SUBFILETYPE, 0);
  TIFFSetField(tiff, TIFFTAG_IMAGEWIDTH, width);
  TIFFSetField(tiff, TIFFTAG_IMAGELENGTH, height);
  TIFFSetField(tiff, TIFFTAG_BITSPERSAMPLE, 16);
  TIFFSetField(tiff, TIFFTAG_SAMPLESPERPIXEL, 3);
  TIFFSetField(tiff, TIFFTAG_PHOTOMETRIC, 34892);  // LinearRaw
  TIFFSetField(tiff, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
  TIFFSetField(tiff, TIFFTAG_MAKE, "Test");
  TIFFSetField(tiff, TIFFTAG_MODEL, "Linear");
  const unsigned char version[4] = {1, 4, 0, 0};
  TIFFSetField(tiff, 50706, version);
  std::vector<std::uint16_t> row(static_cast<std::size_t>(width) * 3, 1000);
  for (int y = 0; y < height; ++y) TIFFWriteScanline(tiff, row.data(), y, 0);
  TIFFClose(tiff);
  Result<RawImage> image = DecodeRaw(path);
  ASSERT_FALSE(image.ok());
  EXPECT_EQ(image.status().code(), Status::Code::kUnsupported)
      << image.status().ToString();
  EXPECT_NE(image.status().message().find("linear.dng"), std::string::npos);
}

}  // namespace
}  // namespace dsb
