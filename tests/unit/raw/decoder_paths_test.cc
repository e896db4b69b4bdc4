// LibRaw's two ways in give the same decode: a file read by name
// (open_file, DecodeOptions::file_in_memory off: the build's own process)
// and a file read whole into memory (open_buffer, file_in_memory on: the
// decode workers, which normalise with streaming stores; one buffer per
// thread, reused and grown from file to file, as the files below are
// decoded one after another). Every raw value, every
// normalised pixel, the CFA, the black levels and every metadata field
// must be equal, on the real raws of ../shared/data/raw and on generated
// DNGs; a file that fails must fail the same way, naming the file.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "raw/decoder.h"
#include "synth/dng_writer.h"
#include "synth/render.h"
#include "test_support.h"

namespace dsb {
namespace {

namespace fs = std::filesystem;

DecodeOptions Options(bool file_in_memory) {
  DecodeOptions options;
  options.file_in_memory = file_in_memory;
  return options;
}

// Float fields compared by their bits: "equal" must not hide a NaN or -0.
bool SameBits(float a, float b) {
  return std::memcmp(&a, &b, sizeof(float)) == 0;
}

void ExpectSameMetadata(const RawMetadata& a, const RawMetadata& b,
                        const std::string& what) {
  EXPECT_EQ(a.make, b.make) << what;
  EXPECT_EQ(a.model, b.model) << what;
  EXPECT_TRUE(SameBits(a.iso, b.iso)) << what;
  EXPECT_EQ(a.raw_width, b.raw_width) << what;
  EXPECT_EQ(a.raw_height, b.raw_height) << what;
  EXPECT_EQ(a.visible_top, b.visible_top) << what;
  EXPECT_EQ(a.visible_left, b.visible_left) << what;
  for (int c = 0; c < 3; ++c) {
    EXPECT_TRUE(SameBits(a.black[c], b.black[c])) << what << " black " << c;
    EXPECT_TRUE(SameBits(a.wb_coeffs[c], b.wb_coeffs[c])) << what << " wb";
  }
  EXPECT_TRUE(SameBits(a.white, b.white)) << what;
  for (int r = 0; r < 4; ++r) {
    for (int c = 0; c < 3; ++c) {
      EXPECT_TRUE(SameBits(a.rgb_xyz_matrix[r][c], b.rgb_xyz_matrix[r][c]))
          << what << " matrix " << r << "," << c;
    }
  }
  EXPECT_TRUE(SameBits(a.overexposure_lb, b.overexposure_lb)) << what;
}

// Decodes `path` both ways and compares everything; returns whether it
// decoded (false: both failed alike).
bool ExpectSameDecode(const std::string& path) {
  Result<UnpackedRaw> by_name = UnpackRaw(path, Options(false));
  Result<UnpackedRaw> in_memory = UnpackRaw(path, Options(true));
  EXPECT_EQ(by_name.ok(), in_memory.ok())
      << path << ": by name "
      << (by_name.ok() ? "ok" : by_name.status().ToString()) << ", in memory "
      << (in_memory.ok() ? "ok" : in_memory.status().ToString());
  if (!by_name.ok() || !in_memory.ok()) {
    if (!by_name.ok() && !in_memory.ok()) {
      EXPECT_EQ(by_name.status().code(), in_memory.status().code()) << path;
      EXPECT_EQ(by_name.status().message(), in_memory.status().message());
    }
    return false;
  }
  const UnpackedRaw& a = *by_name;
  const UnpackedRaw& b = *in_memory;
  EXPECT_FALSE(a.read_from_memory()) << path;
  EXPECT_TRUE(b.read_from_memory()) << path << ": not read from memory";
  EXPECT_EQ(a.width(), b.width()) << path;
  EXPECT_EQ(a.height(), b.height()) << path;
  EXPECT_TRUE(a.cfa() == b.cfa()) << path;
  ExpectSameMetadata(a.meta(), b.meta(), path);
  EXPECT_EQ(a.levels().height, b.levels().height) << path;
  EXPECT_EQ(a.levels().width, b.levels().width) << path;
  EXPECT_TRUE(SameBits(a.levels().white, b.levels().white)) << path;
  EXPECT_EQ(a.levels().black, b.levels().black) << path;
  if (a.width() != b.width() || a.height() != b.height()) return true;

  const std::size_t pixels = static_cast<std::size_t>(a.width()) * a.height();
  std::vector<std::uint16_t> raw_a(pixels), raw_b(pixels);
  a.CopyRaw(raw_a.data());
  b.CopyRaw(raw_b.data());
  std::size_t raw_differ = 0;
  for (std::size_t i = 0; i < pixels; ++i) raw_differ += raw_a[i] != raw_b[i];
  EXPECT_EQ(raw_differ, 0u) << path << ": raw values that differ";

  Plane<float> norm_a(a.width(), a.height()), norm_b(b.width(), b.height());
  a.Normalise(norm_a.view());
  b.Normalise(norm_b.view());
  std::size_t norm_differ = 0;
  for (int y = 0; y < a.height(); ++y) {
    norm_differ += std::memcmp(norm_a.row(y), norm_b.row(y),
                               a.width() * sizeof(float)) != 0;
  }
  EXPECT_EQ(norm_differ, 0u) << path << ": normalised rows that differ";
  // A pooled decode worker normalises its mapped read with streaming
  // stores into the build's shared plane (raw/decode_worker.h:
  // kPixelsFill): the same bits as the build's own decode by name.
  Plane<float> streamed(b.width(), b.height());
  b.Normalise(streamed.view(), RowStores::kStreaming);
  std::size_t streamed_differ = 0;
  for (int y = 0; y < a.height(); ++y) {
    streamed_differ += std::memcmp(norm_a.row(y), streamed.row(y),
                                   a.width() * sizeof(float)) != 0;
  }
  EXPECT_EQ(streamed_differ, 0u) << path << ": streamed rows that differ";
  // Not a vacuous comparison: the file has content.
  std::size_t nonzero = 0;
  for (std::uint16_t v : raw_a) nonzero += v != 0;
  EXPECT_GT(nonzero, pixels / 2) << path;
  return true;
}

TEST(DecoderPathsTest, RealRawsDecodeBitForBitAlikeByNameAndMapped) {
  const std::string dir = testing::RealRawDir();
  if (dir.empty()) GTEST_SKIP() << "no real raws (../shared/data/raw)";
  int files = 0, decoded = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (!entry.is_regular_file() || entry.path().extension() == ".md") {
      continue;
    }
    ++files;
    decoded += ExpectSameDecode(entry.path().string());
  }
  EXPECT_GE(files, 8) << dir;
  // Every real raw there is one this tool decodes (the CRWs, the NEF, the
  // DNGs, the KDC): none may be skipped by failing both ways.
  EXPECT_EQ(decoded, files);
}

TEST(DecoderPathsTest, GeneratedDngsDecodeBitForBitAlikeByNameAndMapped) {
  testing::TempDir dir;
  int n = 0;
  for (const CfaPattern& cfa : testing::AllCfas()) {
    SceneSpec spec;
    spec.width = 120;
    spec.height = 84;
    spec.cfa = cfa;
    spec.seed = 11 + n;
    SyntheticScene scene(spec);
    DngWriteOptions options;
    options.bits = n % 2 ? 12 : 14;
    options.black = {500 + n, 510, 520 - n, 530};
    options.masked_top = 2 * (n % 3);
    options.masked_left = 4;
    options.masked_right = 2;
    options.iso = 100 << n;
    const std::string path = dir.Join("scene" + std::to_string(n++) + ".dng");
    ASSERT_TRUE(WriteCfaDng(path, scene.RenderGt(), options).ok()) << path;
    EXPECT_TRUE(ExpectSameDecode(path)) << path;
  }
}

// A small generated DNG (96x64 RGGB) at `path`.
void WriteSmallDng(const std::string& path) {
  SceneSpec spec;
  spec.width = 96;
  spec.height = 64;
  SyntheticScene scene(spec);
  const Status written = WriteCfaDng(path, scene.RenderGt());
  ASSERT_TRUE(written.ok()) << path << ": " << written.ToString();
}

// A file over the limit is read by name, whatever file_in_memory says.
// (A small DNG padded past the limit: LibRaw ignores what follows the
// data it points to.)
TEST(DecoderPathsTest, FilesOverTheLimitAreReadByName) {
  testing::TempDir dir;
  const std::string path = dir.Join("padded.dng");
  ASSERT_NO_FATAL_FAILURE(WriteSmallDng(path));
  Result<UnpackedRaw> small = UnpackRaw(path, Options(true));
  ASSERT_TRUE(small.ok()) << small.status().ToString();
  EXPECT_TRUE(small->read_from_memory());
  fs::resize_file(path, kMaxInMemoryFileBytes + 1);
  Result<UnpackedRaw> padded = UnpackRaw(path, Options(true));
  ASSERT_TRUE(padded.ok()) << padded.status().ToString();
  EXPECT_FALSE(padded->read_from_memory());
  std::vector<std::uint16_t> a(96 * 64), b(96 * 64);
  small->CopyRaw(a.data());
  padded->CopyRaw(b.data());
  EXPECT_EQ(a, b);
}

void WriteBytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

// A damaged file fails the same way whichever way LibRaw reads it, and the
// error names the file.
void ExpectSameFailure(const std::string& path) {
  for (bool in_memory : {false, true}) {
    Result<UnpackedRaw> unpacked = UnpackRaw(path, Options(in_memory));
    ASSERT_FALSE(unpacked.ok()) << path << " in memory " << in_memory;
    EXPECT_NE(unpacked.status().message().find(fs::path(path).filename()),
              std::string::npos)
        << unpacked.status().message();
  }
  EXPECT_FALSE(ExpectSameDecode(path));
}

TEST(DecoderPathsTest, TruncatedAndGarbageFilesFailAlikeNamingTheFile) {
  testing::TempDir dir;
  const std::string whole = dir.Join("whole.dng");
  ASSERT_NO_FATAL_FAILURE(WriteSmallDng(whole));
  std::ifstream in(whole, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), {});
  const std::string truncated = dir.Join("truncated.dng");
  WriteBytes(truncated, bytes.substr(0, bytes.size() / 2));
  ExpectSameFailure(truncated);

  std::string random(64 * 1024, '\0');
  std::mt19937 rng(17);
  for (char& c : random) c = static_cast<char>(rng());
  const std::string garbage = dir.Join("garbage.NEF");
  WriteBytes(garbage, random);
  ExpectSameFailure(garbage);

  // A real compressed raw cut short, when there is one.
  const std::string real = testing::RealRawDir();
  if (!real.empty()) {
    std::ifstream crw(real + "/rawson.js__RAW_CANON_G2.CRW", std::ios::binary);
    const std::string crw_bytes((std::istreambuf_iterator<char>(crw)), {});
    ASSERT_GT(crw_bytes.size(), 1000u);
    const std::string cut = dir.Join("cut.CRW");
    WriteBytes(cut, crw_bytes.substr(0, crw_bytes.size() * 2 / 3));
    ExpectSameFailure(cut);
  }
}

}  // namespace
}  // namespace dsb
