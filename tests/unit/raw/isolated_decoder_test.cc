// Decoding in worker processes: the same images and the same errors as
// decoding in this process, and every way a worker can misbehave (crash,
// exit code, garbage or truncated output, hang, missing binary) is one
// file's error naming the file, never a crash, hang or zombie here.
//
// The real worker is this test binary itself (tests/support/worker_main.cc
// answers __decode-worker); the misbehaving ones are /bin/sh scripts.
#include "raw/isolated_decoder.h"

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <span>
#include <sstream>
#include <thread>
#include <vector>

#include "common/large_pages.h"
#include "core/plane_pool.h"
#include "raw/decode_record.h"
#include "raw/decode_worker.h"
#include "raw/decoder.h"
#include "raw/raw_decoder.h"
#include "synth/dng_writer.h"
#include "synth/render.h"
#include "test_support.h"
#include "tool_process.h"

namespace dsb {
namespace {

namespace fs = std::filesystem;

void WriteBytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

// Bit for bit: pixels, CFA, every metadata field, the path.
void ExpectSameImage(const RawImage& a, const RawImage& b) {
  ASSERT_EQ(a.width(), b.width());
  ASSERT_EQ(a.height(), b.height());
  EXPECT_EQ(std::memcmp(a.pixels.data(), b.pixels.data(), a.pixels.byte_size()),
            0);
  EXPECT_EQ(a.cfa, b.cfa);
  EXPECT_EQ(a.path, b.path);
  const RawMetadata &x = a.meta, &y = b.meta;
  EXPECT_EQ(x.make, y.make);
  EXPECT_EQ(x.model, y.model);
  EXPECT_EQ(std::memcmp(&x.iso, &y.iso, sizeof(float)), 0);
  EXPECT_EQ(x.raw_width, y.raw_width);
  EXPECT_EQ(x.raw_height, y.raw_height);
  EXPECT_EQ(x.visible_top, y.visible_top);
  EXPECT_EQ(x.visible_left, y.visible_left);
  EXPECT_EQ(std::memcmp(x.black.data(), y.black.data(), sizeof(x.black)), 0);
  EXPECT_EQ(std::memcmp(&x.white, &y.white, sizeof(float)), 0);
  EXPECT_EQ(
      std::memcmp(x.wb_coeffs.data(), y.wb_coeffs.data(), sizeof(x.wb_coeffs)),
      0);
  EXPECT_EQ(std::memcmp(&x.rgb_xyz_matrix, &y.rgb_xyz_matrix,
                        sizeof(x.rgb_xyz_matrix)),
            0);
  EXPECT_EQ(std::memcmp(&x.overexposure_lb, &y.overexposure_lb, sizeof(float)),
            0);
}

int OpenDescriptors() {
  int count = 0;
  for ([[maybe_unused]] const auto& entry :
       fs::directory_iterator("/proc/self/fd")) {
    ++count;
  }
  return count;
}

// This process's children, running or zombie (from /proc: field 4 of
// /proc/PID/stat is the parent).
int Children() { return static_cast<int>(testing::ChildProcesses().size()); }

// How many decodes of `path` by `pooled`, `repeats` in each of `threads`
// threads at once (started together), failed or gave pixels other than
// `expected`'s.
int FailedParallelDecodes(const IsolatedDecoder& pooled,
                          const std::string& path, const RawImage& expected,
                          int threads, int repeats) {
  std::atomic<int> failed{0};
  std::atomic<int> ready{0};
  std::vector<std::thread> running;
  for (int t = 0; t < threads; ++t) {
    running.emplace_back([&] {
      ++ready;
      while (ready.load() < threads) std::this_thread::yield();
      for (int i = 0; i < repeats; ++i) {
        Result<RawImage> image = pooled.Decode(path, {});
        if (!image.ok() ||
            std::memcmp(image->pixels.data(), expected.pixels.data(),
                        expected.pixels.byte_size()) != 0) {
          ++failed;
        }
      }
    });
  }
  for (std::thread& thread : running) thread.join();
  return failed.load();
}

// True when this process has no child at all, running or zombie.
bool NoChildren() {
  return ::waitpid(-1, nullptr, WNOHANG) == -1 && errno == ECHILD;
}

// 12 bits with a masked sensor border and a different black level per
// CFA position: where normalisation can go wrong.
DngWriteOptions MaskedBorderAndPatternBlack() {
  DngWriteOptions options;
  options.bits = 12;
  options.black = {250, 256, 262, 254};
  options.masked_top = 4;
  options.masked_left = 8;
  options.masked_right = 6;
  options.masked_bottom = 2;
  return options;
}

class IsolatedDecoderTest : public ::testing::Test {
 protected:
  std::string Path(const std::string& name) { return dir_.Join(name); }

  std::string WriteDng(const std::string& name, const CfaPattern& cfa,
                       const DngWriteOptions& options = {}) {
    SceneSpec spec;
    spec.width = 96;
    spec.height = 72;
    spec.cfa = cfa;
    spec.clipped_fraction = 0.05;
    SyntheticScene scene(spec);
    const std::string path = Path(name);
    EXPECT_TRUE(WriteCfaDng(path, scene.RenderGt(1), options).ok());
    return path;
  }

  // A decoder whose worker is the shell script `script`.
  static IsolatedDecoder Fake(const std::string& script,
                              double timeout_seconds = 60) {
    IsolatedDecoderOptions options;
    options.worker = {"/bin/sh", "-c", script};
    options.timeout_seconds = timeout_seconds;
    options.timeout_seconds_per_mb = 0;
    return IsolatedDecoder(options);
  }

  // Decodes `path` with the fake `script` and returns the error.
  Status FakeError(const std::string& script, const std::string& path) {
    Result<RawImage> image = Fake(script).Decode(path, {});
    EXPECT_FALSE(image.ok()) << script;
    return image.status();
  }

  // A valid record of a small DNG, written as the worker would.
  std::string WriteRecord(const std::string& name) {
    const std::string dng = WriteDng(name + ".dng", CfaPattern());
    const std::string path = Path(name);
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600);
    EXPECT_GE(fd, 0);
    EXPECT_TRUE(WriteDecodeRecord(fd, DecodeRaw(dng)).ok());
    ::close(fd);
    return path;
  }

  // The same image as the serving worker writes it: raw values and their
  // black levels, normalised by the reader.
  std::string WriteRawRecord(const std::string& name,
                             const CfaPattern& cfa = CfaPattern(),
                             const DngWriteOptions& options = {}) {
    const std::string dng = WriteDng(name + ".dng", cfa, options);
    const std::string path = Path(name);
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600);
    EXPECT_GE(fd, 0);
    Result<UnpackedRaw> unpacked = UnpackRaw(dng);
    EXPECT_TRUE(unpacked.ok());
    if (unpacked.ok()) {
      EXPECT_TRUE(WriteRawImageRecord(
                      fd, unpacked->width(), unpacked->height(),
                      unpacked->cfa(), unpacked->meta(), unpacked->levels(),
                      [&](std::uint16_t* out) { unpacked->CopyRaw(out); })
                      .ok());
    }
    ::close(fd);
    return path;
  }

  testing::TempDir dir_;
  IsolatedDecoder isolated_;  // the real worker (this binary)
};

TEST_F(IsolatedDecoderTest, SameImageAsInProcessForEveryCfa) {
  std::vector<std::pair<std::string, CfaPattern>> cases = {
      {"rggb.dng", CfaPattern::Bayer(BayerOrder::kRGGB)},
      {"bggr.dng", CfaPattern::Bayer(BayerOrder::kBGGR)},
      {"grbg.dng", CfaPattern::Bayer(BayerOrder::kGRBG)},
      {"gbrg.dng", CfaPattern::Bayer(BayerOrder::kGBRG)},
      {"xtrans.dng", CfaPattern::StandardXTrans()},
  };
  for (const auto& [name, cfa] : cases) {
    SCOPED_TRACE(name);
    const std::string path = WriteDng(name, cfa);
    Result<RawImage> in_process = InProcessDecoder().Decode(path, {});
    Result<RawImage> isolated = isolated_.Decode(path, {});
    ASSERT_TRUE(in_process.ok()) << in_process.status().ToString();
    ASSERT_TRUE(isolated.ok()) << isolated.status().ToString();
    ExpectSameImage(*in_process, *isolated);
  }
}

TEST_F(IsolatedDecoderTest, SameImageWithMaskedBorderAndPatternBlack) {
  DngWriteOptions options = MaskedBorderAndPatternBlack();
  options.iso = 3200;
  options.make = "Maker";
  options.model = "Model X";
  for (const CfaPattern& cfa :
       {CfaPattern::Bayer(BayerOrder::kGBRG), CfaPattern::StandardXTrans()}) {
    const std::string path = WriteDng("border.dng", cfa, options);
    Result<RawImage> in_process = DecodeRaw(path);
    Result<RawImage> isolated = isolated_.Decode(path, {});
    ASSERT_TRUE(in_process.ok()) << in_process.status().ToString();
    ASSERT_TRUE(isolated.ok()) << isolated.status().ToString();
    EXPECT_EQ(isolated->meta.visible_top, 4);
    EXPECT_EQ(isolated->meta.model, "Model X");
    ExpectSameImage(*in_process, *isolated);
  }
}

TEST_F(IsolatedDecoderTest, SameErrorsAsInProcess) {
  WriteBytes(Path("empty.dng"), "");
  std::string random(8192, '\0');
  std::mt19937 rng(7);
  for (char& c : random) c = static_cast<char>(rng());
  WriteBytes(Path("random.NEF"), random);
  WriteBytes(Path("notes.ARW"), "not a raw file at all\n");
  WriteBytes(Path("photo.CR2"),
             std::string("\xFF\xD8\xFF\xE0\x00\x10JFIF\x00\x01\x01", 13) +
                 std::string(2000, '\x55'));
  const std::string whole = ReadBytes(WriteDng("whole.dng", CfaPattern()));
  WriteBytes(Path("truncated.dng"), whole.substr(0, whole.size() / 2));
  fs::create_directory(Path("folder.dng"));

  DecodeOptions none;
  DecodeOptions small;
  small.max_pixels = 1000;
  small.max_pixels_hint = "raise --mem to build it";
  const std::vector<std::pair<std::string, const DecodeOptions*>> cases = {
      {"missing.dng", &none}, {"empty.dng", &none},  {"random.NEF", &none},
      {"notes.ARW", &none},   {"photo.CR2", &none},  {"truncated.dng", &none},
      {"folder.dng", &none},  {"whole.dng", &small},
  };
  for (const auto& [name, options] : cases) {
    SCOPED_TRACE(name);
    Result<RawImage> in_process = DecodeRaw(Path(name), *options);
    Result<RawImage> isolated = isolated_.Decode(Path(name), *options);
    ASSERT_FALSE(in_process.ok());
    ASSERT_FALSE(isolated.ok());
    EXPECT_EQ(isolated.status().code(), in_process.status().code());
    EXPECT_EQ(isolated.status().message(), in_process.status().message());
    EXPECT_NE(isolated.status().message().find(name), std::string::npos);
  }
  Result<RawImage> big = isolated_.Decode(Path("whole.dng"), small);
  EXPECT_EQ(big.status().code(), Status::Code::kResourceExhausted);
  EXPECT_NE(big.status().message().find("raise --mem"), std::string::npos)
      << big.status().message();
}

TEST_F(IsolatedDecoderTest, CrashNamesTheFileAndTheSignal) {
  const std::string path = WriteDng("x.NEF", CfaPattern());
  Status segv = FakeError("kill -SEGV $$", path);
  EXPECT_EQ(segv.code(), Status::Code::kCorrupt);
  EXPECT_NE(segv.message().find("crashed on '" + path + "'"), std::string::npos)
      << segv.message();
  EXPECT_NE(segv.message().find("(SIGSEGV, signal 11)"), std::string::npos)
      << segv.message();
  EXPECT_NE(segv.message().find("LibRaw bug"), std::string::npos);

  Status abort = FakeError("kill -ABRT $$", path);
  EXPECT_EQ(abort.code(), Status::Code::kCorrupt);
  EXPECT_NE(abort.message().find("x.NEF"), std::string::npos);
  EXPECT_NE(abort.message().find("(SIGABRT, signal 6)"), std::string::npos)
      << abort.message();
}

// The worker reads the file through a mapping (DecodeOptions::map_file):
// SIGBUS is a file that shrank under it, which the error says.
TEST_F(IsolatedDecoderTest, BusErrorSaysTheFileShrank) {
  const std::string path = WriteDng("x.CRW", CfaPattern());
  Status bus = FakeError("kill -BUS $$", path);
  EXPECT_EQ(bus.code(), Status::Code::kCorrupt);
  EXPECT_NE(bus.message().find("crashed on '" + path + "'"), std::string::npos)
      << bus.message();
  EXPECT_NE(bus.message().find("(SIGBUS, signal 7)"), std::string::npos)
      << bus.message();
  EXPECT_NE(bus.message().find("shrank while it was read"), std::string::npos)
      << bus.message();
}

// The real worker reads the real raws through a mapping (open_buffer), the
// in-process decoder by name (open_file): the images are the same, bit for
// bit (raw/decoder_paths_test compares every field of the unpack itself).
TEST_F(IsolatedDecoderTest, SameImageAsInProcessForTheRealRaws) {
  const std::string dir = testing::RealRawDir();
  if (dir.empty()) GTEST_SKIP() << "no real raws (../shared/data/raw)";
  int decoded = 0;
  for (const char* name :
       {"bep-imagemeta__sample.nef", "rawson.js__RAW_CANON_G2.CRW",
        "gpr__Fusion_GPFR7066.converted.dng"}) {
    SCOPED_TRACE(name);
    const std::string path = dir + "/" + name;
    Result<RawImage> in_process = InProcessDecoder().Decode(path, {});
    Result<RawImage> isolated = isolated_.Decode(path, {});
    ASSERT_TRUE(in_process.ok()) << in_process.status().ToString();
    ASSERT_TRUE(isolated.ok()) << isolated.status().ToString();
    ExpectSameImage(*in_process, *isolated);
    ++decoded;
  }
  EXPECT_EQ(decoded, 3);
}

TEST_F(IsolatedDecoderTest, WorkerOutputIsQuotedInTheError) {
  const std::string path = WriteDng("x.NEF", CfaPattern());
  Status status = FakeError(
      "echo 'LibRaw: bad tile 7' >&2; echo more >&2; kill -SEGV $$", path);
  EXPECT_NE(status.message().find("decoder output: LibRaw: bad tile 7 more"),
            std::string::npos)
      << status.message();
  // Only the tail of a flood is kept.
  status = FakeError("yes flood | head -c 1000000 >&2; exit 5", path);
  EXPECT_NE(status.message().find("exit status 5"), std::string::npos);
  EXPECT_LT(status.message().size(), 1500u) << status.message();
}

// The worker runs with the build's page policy (common/large_pages.h):
// glibc's huge-page setting only under --huge-pages, LibRaw's OpenMP held
// to one thread either way, and the user's own GLIBC_TUNABLES kept.
TEST_F(IsolatedDecoderTest, WorkerEnvironmentFollowsThePagePolicy) {
  const std::string path = WriteDng("x.NEF", CfaPattern());
  const std::string script =
      "echo \"env[$OMP_NUM_THREADS|${GLIBC_TUNABLES-unset}]\" >&2; exit 4";
  const char* saved = std::getenv("GLIBC_TUNABLES");
  const std::string saved_value = saved != nullptr ? saved : "";
  ::unsetenv("GLIBC_TUNABLES");
  EXPECT_NE(FakeError(script, path).message().find("env[1|unset]"),
            std::string::npos);
  SetHugePages(true);
  EXPECT_NE(
      FakeError(script, path).message().find("env[1|glibc.malloc.hugetlb=1]"),
      std::string::npos);
  ::setenv("GLIBC_TUNABLES", "glibc.malloc.arena_max=2", 1);
  EXPECT_NE(FakeError(script, path)
                .message()
                .find("env[1|glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1]"),
            std::string::npos);
  SetHugePages(false);
  EXPECT_NE(
      FakeError(script, path).message().find("env[1|glibc.malloc.arena_max=2]"),
      std::string::npos);
  if (saved != nullptr) {
    ::setenv("GLIBC_TUNABLES", saved_value.c_str(), 1);
  } else {
    ::unsetenv("GLIBC_TUNABLES");
  }
}

TEST_F(IsolatedDecoderTest, NonzeroExitIsAnError) {
  const std::string path = WriteDng("x.NEF", CfaPattern());
  Status status = FakeError("exit 3", path);
  EXPECT_EQ(status.code(), Status::Code::kInternal);
  EXPECT_NE(status.message().find("x.NEF"), std::string::npos);
  EXPECT_NE(status.message().find("exit status 3"), std::string::npos)
      << status.message();
}

TEST_F(IsolatedDecoderTest, GarbageOrMissingOutputIsAnError) {
  const std::string path = WriteDng("x.NEF", CfaPattern());
  for (const char* script :
       {"true", "printf garbage >&3", "head -c 100000 /dev/urandom >&3",
        // A record of another version.
        "printf 'DSBDECOD\\002\\000\\000\\000\\001' >&3; "
        "head -c 15 /dev/zero >&3"}) {
    SCOPED_TRACE(script);
    Status status = FakeError(script, path);
    EXPECT_EQ(status.code(), Status::Code::kInternal);
    EXPECT_NE(status.message().find("malformed result for '" + path + "'"),
              std::string::npos)
        << status.message();
  }
}

TEST_F(IsolatedDecoderTest, TruncatedRecordsAreErrorsAndWholeOnesDecode) {
  const std::string record = WriteRecord("record");
  const std::size_t size = fs::file_size(record);
  const std::string path = Path("record.dng");
  for (std::size_t keep :
       {std::size_t{1}, std::size_t{23}, std::size_t{24}, std::size_t{100},
        std::size_t{200}, size / 2, size - 4, size - 1}) {
    SCOPED_TRACE(keep);
    Status status = FakeError(
        "head -c " + std::to_string(keep) + " '" + record + "' >&3", path);
    EXPECT_EQ(status.code(), Status::Code::kInternal);
    EXPECT_NE(status.message().find("malformed"), std::string::npos)
        << status.message();
  }
  // The same record whole, and one byte longer.
  Result<RawImage> whole = Fake("cat '" + record + "' >&3").Decode(path, {});
  ASSERT_TRUE(whole.ok()) << whole.status().ToString();
  ExpectSameImage(*whole, *DecodeRaw(path));
  EXPECT_FALSE(
      Fake("cat '" + record + "' >&3; printf x >&3").Decode(path, {}).ok());
}

// The parent reads records as untrusted: any single corrupted byte of the
// header and metadata gives an error or a consistent image, never a crash
// or an allocation the record's size does not justify.
// Both encodings: floats, and raw values with their black levels.
TEST_F(IsolatedDecoderTest, CorruptedRecordBytesNeverCrashTheReader) {
  for (const bool raw : {false, true}) {
    SCOPED_TRACE(raw ? "raw record" : "float record");
    const std::string bytes =
        ReadBytes(raw ? WriteRawRecord("raw_record") : WriteRecord("record"));
    const int fd = ::memfd_create("test", MFD_CLOEXEC);
    ASSERT_GE(fd, 0);
    int accepted = 0;
    for (std::size_t offset = 0; offset < 400 && offset < bytes.size();
         ++offset) {
      for (unsigned char value : {0x00, 0x01, 0x7f, 0x80, 0xff}) {
        std::string corrupt = bytes;
        if (static_cast<unsigned char>(corrupt[offset]) == value) continue;
        corrupt[offset] = static_cast<char>(value);
        ASSERT_EQ(::ftruncate(fd, 0), 0);
        ASSERT_EQ(::pwrite(fd, corrupt.data(), corrupt.size(), 0),
                  static_cast<ssize_t>(corrupt.size()));
        Result<RawImage> image = ReadDecodeRecord(fd, "x.dng", 1'000'000);
        // The same bytes read from memory (the pool's mapped records) give
        // the same verdict and the same pixels.
        const PlanePool pool;
        Result<RawImage> mapped = ReadDecodeRecord(
            std::span<const std::uint8_t>(
                reinterpret_cast<const std::uint8_t*>(corrupt.data()),
                corrupt.size()),
            "x.dng", 1'000'000, 0, &pool);
        ASSERT_EQ(mapped.ok(), image.ok());
        if (image.ok()) {
          ExpectSameImage(*mapped, *image);
        } else {
          EXPECT_EQ(mapped.status().message(), image.status().message());
        }
        if (image.ok()) {
          ++accepted;  // e.g. a metadata float: still a well-formed record
          EXPECT_GT(image->pixels.pixel_count(), 0u);
          // A float per value: twice a raw record's 16-bit values.
          EXPECT_LT(image->pixels.byte_size(), (raw ? 2 : 1) * corrupt.size());
        } else {
          EXPECT_NE(image.status().message().find("x.dng"), std::string::npos);
        }
      }
    }
    EXPECT_GT(accepted, 0);  // metadata values are data, not structure
    ::close(fd);
  }
}

// A raw record (what the serving worker writes) reads back as exactly the
// in-process decoder's image, by pread and from memory, with a masked
// border and per-position black levels.
TEST_F(IsolatedDecoderTest, RawRecordReadsAsTheInProcessImage) {
  DngWriteOptions options = MaskedBorderAndPatternBlack();
  for (const CfaPattern& cfa :
       {CfaPattern::Bayer(BayerOrder::kGRBG), CfaPattern::StandardXTrans()}) {
    const std::string path = WriteRawRecord("raw", cfa, options);
    Result<RawImage> expected = DecodeRaw(Path("raw.dng"));
    ASSERT_TRUE(expected.ok()) << expected.status().ToString();
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    Result<RawImage> read = ReadDecodeRecord(fd, "raw.dng", 0);
    ::close(fd);
    ASSERT_TRUE(read.ok()) << read.status().ToString();
    read->path = expected->path;
    ExpectSameImage(*read, *expected);
    const std::string bytes = ReadBytes(path);
    const PlanePool pool;
    Result<RawImage> mapped = ReadDecodeRecord(
        std::span<const std::uint8_t>(
            reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()),
        "raw.dng", 0, 0, &pool);
    ASSERT_TRUE(mapped.ok()) << mapped.status().ToString();
    mapped->path = expected->path;
    ExpectSameImage(*mapped, *expected);
    // Half the bytes of the float record of the same image.
    EXPECT_LT(bytes.size(), expected->pixels.byte_size() * 3 / 4);
  }
}

// A record whose raw values stay in the writer's memory (the pool's): the
// reader has the writer fill a plane (RemoteFill) or, where it cannot,
// copies the values (RemoteRead); the image is the in-process one bit for
// bit either way, and a fill that fails otherwise fails the read. (The
// writer here is this process, so the RemoteRead is a plain copy.)
TEST_F(IsolatedDecoderTest, RemoteRecordIsFilledOrCopiedAlike) {
  const std::string dng = WriteDng("remote.dng", CfaPattern::StandardXTrans(),
                                   MaskedBorderAndPatternBlack());
  Result<RawImage> expected = DecodeRaw(dng);
  ASSERT_TRUE(expected.ok()) << expected.status().ToString();
  Result<UnpackedRaw> unpacked = UnpackRaw(dng);
  ASSERT_TRUE(unpacked.ok()) << unpacked.status().ToString();
  const int fd = ::memfd_create("remote-record", MFD_CLOEXEC);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(WriteRemoteImageRecord(fd, unpacked->width(), unpacked->height(),
                                     unpacked->cfa(), unpacked->meta(),
                                     unpacked->levels(), unpacked->RawRows(),
                                     unpacked->raw_pitch())
                  .ok());
  int reads = 0;
  const RemoteRead copy = [&](std::uint64_t address, std::size_t pitch_bytes,
                              int rows, std::size_t row_bytes, void* out) {
    ++reads;
    for (int r = 0; r < rows; ++r) {
      std::memcpy(static_cast<char*>(out) + r * row_bytes,
                  reinterpret_cast<const void*>(address + r * pitch_bytes),
                  row_bytes);
    }
    return 0;
  };
  int fills = 0;
  auto read_with = [&](const RemoteFill* fill, RemotePixels* pixels) {
    reads = 0;
    fills = 0;
    Result<RawImage> read =
        ReadDecodeRecord(fd, dng, 0, 0, nullptr, &copy, pixels, fill);
    if (read.ok()) read->path = expected->path;
    return read;
  };
  RemotePixels pixels = RemotePixels::kNone;
  // Copied: no fill offered.
  Result<RawImage> copied = read_with(nullptr, &pixels);
  ASSERT_TRUE(copied.ok()) << copied.status().ToString();
  ExpectSameImage(*copied, *expected);
  EXPECT_GT(reads, 0);
  EXPECT_EQ(pixels, RemotePixels::kTaken);
  // Filled by the writer (as a worker does, with streaming stores): no copy.
  const RemoteFill fill = [&](int width, int height) -> Result<Plane<float>> {
    ++fills;
    Plane<float> plane(width, height);
    unpacked->Normalise(plane.view(), RowStores::kStreaming);
    return plane;
  };
  Result<RawImage> filled = read_with(&fill, &pixels);
  ASSERT_TRUE(filled.ok()) << filled.status().ToString();
  ExpectSameImage(*filled, *expected);
  EXPECT_EQ(fills, 1);
  EXPECT_EQ(reads, 0);
  EXPECT_EQ(pixels, RemotePixels::kTaken);
  // A writer that cannot fill (kUnsupported): copied instead.
  const RemoteFill refuses = [&](int, int) -> Result<Plane<float>> {
    ++fills;
    return Status::Unsupported("cannot map the plane");
  };
  Result<RawImage> fallback = read_with(&refuses, &pixels);
  ASSERT_TRUE(fallback.ok()) << fallback.status().ToString();
  ExpectSameImage(*fallback, *expected);
  EXPECT_EQ(fills, 1);
  EXPECT_GT(reads, 0);
  // A writer that failed while it filled: the read fails with its error.
  const RemoteFill dies = [&](int, int) -> Result<Plane<float>> {
    return Status::Internal("the decoder process failed");
  };
  Result<RawImage> died = read_with(&dies, &pixels);
  ASSERT_FALSE(died.ok());
  EXPECT_EQ(died.status().code(), Status::Code::kInternal);
  EXPECT_EQ(reads, 0);
  // A plane of the wrong size is never adopted.
  const RemoteFill wrong = [&](int width, int height) -> Result<Plane<float>> {
    return Plane<float>(width + 1, height);
  };
  Result<RawImage> misfilled = read_with(&wrong, &pixels);
  ASSERT_FALSE(misfilled.ok());
  EXPECT_NE(misfilled.status().message().find("wrong size"), std::string::npos);
  ::close(fd);
}

TEST_F(IsolatedDecoderTest, HangingWorkerIsKilledAfterTheTimeLimit) {
  const std::string path = WriteDng("x.NEF", CfaPattern());
  // `sleep` runs as a child of the shell: the whole group must go.
  for (const char* script : {"exec sleep 30", "sleep 30; true"}) {
    SCOPED_TRACE(script);
    const auto start = std::chrono::steady_clock::now();
    Result<RawImage> image = Fake(script, 0.3).Decode(path, {});
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
            .count();
    ASSERT_FALSE(image.ok());
    EXPECT_EQ(image.status().code(), Status::Code::kResourceExhausted);
    EXPECT_NE(image.status().message().find("'" + path + "' took longer"),
              std::string::npos)
        << image.status().message();
    EXPECT_LT(seconds, 10);
  }
  EXPECT_TRUE(NoChildren());
}

TEST_F(IsolatedDecoderTest, MissingWorkerBinaryIsAClearError) {
  const std::string path = WriteDng("x.NEF", CfaPattern());
  IsolatedDecoderOptions options;
  options.worker = {"/nonexistent/dataset-build", "__decode-worker"};
  Result<RawImage> image = IsolatedDecoder(options).Decode(path, {});
  ASSERT_FALSE(image.ok());
  EXPECT_EQ(image.status().code(), Status::Code::kInternal);
  const std::string& message = image.status().message();
  EXPECT_NE(message.find("cannot start the decoder process "
                         "'/nonexistent/dataset-build'"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("x.NEF"), std::string::npos);
  EXPECT_NE(message.find("No such file or directory"), std::string::npos);
}

TEST_F(IsolatedDecoderTest, WorksWhenTheMemfdWouldBeDescriptorThree) {
  if (::fcntl(3, F_GETFD) != -1) GTEST_SKIP() << "descriptor 3 is in use";
  const std::string path = WriteDng("x.dng", CfaPattern());
  Result<RawImage> image = isolated_.Decode(path, {});
  ASSERT_TRUE(image.ok()) << image.status().ToString();
  ExpectSameImage(*image, *DecodeRaw(path));
}

TEST_F(IsolatedDecoderTest, NoZombiesOrDescriptorsLeftAfterManyDecodes) {
  const std::string path = WriteDng("x.dng", CfaPattern());
  const int descriptors = OpenDescriptors();
  {
    const IsolatedDecoder pooled;  // its idle workers go with it
    for (int i = 0; i < 30; ++i) {
      ASSERT_TRUE(pooled.Decode(path, {}).ok());
      ASSERT_FALSE(Fake("kill -SEGV $$").Decode(path, {}).ok());
      ASSERT_FALSE(Fake("exit 3").Decode(path, {}).ok());
      if (i % 10 == 0) {
        ASSERT_FALSE(Fake("sleep 5", 0.05).Decode(path, {}).ok());
      }
    }
  }
  EXPECT_TRUE(NoChildren());
  EXPECT_EQ(OpenDescriptors(), descriptors);
}

// Pooled workers (the default worker's mode) serve file after file: a
// sequence of decodes uses one process, which is gone with the decoder.
TEST_F(IsolatedDecoderTest, PooledWorkerServesManyFilesAndLeavesNothing) {
  const std::string a = WriteDng("a.dng", CfaPattern::StandardXTrans());
  const std::string b = WriteDng("b.dng", CfaPattern());
  const int descriptors = OpenDescriptors();
  {
    const IsolatedDecoder pooled;
    for (int i = 0; i < 10; ++i) {
      const std::string& path = i % 2 ? a : b;
      Result<RawImage> image = pooled.Decode(path, {});
      ASSERT_TRUE(image.ok()) << image.status().ToString();
      ExpectSameImage(*image, *DecodeRaw(path));
      // Errors come back through the same worker, which stays usable.
      EXPECT_EQ(pooled.Decode(Path("missing.dng"), {}).status().code(),
                Status::Code::kNotFound);
    }
    EXPECT_EQ(Children(), 1);
  }
  EXPECT_TRUE(NoChildren());
  EXPECT_EQ(OpenDescriptors(), descriptors);
}

// A pooled worker that crashes or hangs fails that one file; the next file
// gets a fresh worker. The fake serves the protocol in sh (a u32 length and
// the path on descriptor 4; back 'R' and a u64 size, 0 meaning the file's)
// and decodes each file with the
// real one-file worker, unless the path says crash or hang.
TEST_F(IsolatedDecoderTest, PooledWorkerCrashFailsOneFileAndIsReplaced) {
  const std::string good = WriteDng("good.dng", CfaPattern());
  const std::string crash = WriteDng("crash.dng", CfaPattern());
  const std::string hang = WriteDng("hang.dng", CfaPattern());
  const std::string self = fs::read_symlink("/proc/self/exe").string();
  IsolatedDecoderOptions options;
  options.mode = IsolatedDecoderOptions::Mode::kPool;
  options.timeout_seconds = 2;
  options.timeout_seconds_per_mb = 0;
  options.worker = {
      "/bin/sh", "-c",
      "while :; do "
      "  len=$(dd bs=1 count=4 <&4 2>/dev/null | od -An -tu4 | tr -d ' '); "
      "  [ -n \"$len\" ] || exit 0; "
      "  path=$(dd bs=1 count=$len <&4 2>/dev/null); "
      "  case \"$path\" in *crash*) kill -SEGV $$;; *hang*) exec sleep 30;; "
      "  esac; "
      "  '" +
          self +
          "' __decode-worker --fd 3 -- \"$path\" || exit 1; "
          "  printf 'R\\000\\000\\000\\000\\000\\000\\000\\000' >&4; "
          "done",
      "fake-pool-worker"};
  {
    const IsolatedDecoder pooled(options);
    for (int round = 0; round < 2; ++round) {
      Result<RawImage> image = pooled.Decode(good, {});
      ASSERT_TRUE(image.ok()) << image.status().ToString();
      ExpectSameImage(*image, *DecodeRaw(good));
      Result<RawImage> crashed = pooled.Decode(crash, {});
      ASSERT_FALSE(crashed.ok());
      EXPECT_EQ(crashed.status().code(), Status::Code::kCorrupt);
      EXPECT_NE(crashed.status().message().find("crash.dng"),
                std::string::npos);
      EXPECT_NE(crashed.status().message().find("SIGSEGV"), std::string::npos)
          << crashed.status().message();
      image = pooled.Decode(good, {});
      ASSERT_TRUE(image.ok()) << image.status().ToString();
      ExpectSameImage(*image, *DecodeRaw(good));
    }
    Result<RawImage> hung = pooled.Decode(hang, {});
    EXPECT_EQ(hung.status().code(), Status::Code::kResourceExhausted);
    EXPECT_TRUE(pooled.Decode(good, {}).ok());
  }
  EXPECT_TRUE(NoChildren());
}

TEST_F(IsolatedDecoderTest, ConcurrentDecodesKeepTheirOwnResults) {
  std::optional<IsolatedDecoder> pooled(std::in_place);
  std::vector<std::string> paths;
  std::vector<RawImage> expected;
  for (int i = 0; i < 4; ++i) {
    paths.push_back(WriteDng("f" + std::to_string(i) + ".dng",
                             i % 2 ? CfaPattern::StandardXTrans()
                                   : CfaPattern::Bayer(BayerOrder::kBGGR)));
    expected.push_back(*DecodeRaw(paths.back()));
  }
  const IsolatedDecoder crashing = Fake("kill -SEGV $$");
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 6; ++i) {
        const std::size_t k = static_cast<std::size_t>(t + i) % paths.size();
        if (t == 0) {
          if (crashing.Decode(paths[k], {}).ok()) ++mismatches;
          continue;
        }
        Result<RawImage> image = pooled->Decode(paths[k], {});
        if (!image.ok() ||
            std::memcmp(image->pixels.data(), expected[k].pixels.data(),
                        expected[k].pixels.byte_size()) != 0) {
          ++mismatches;
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(mismatches.load(), 0);
  EXPECT_LE(Children(), 5);  // at most one pooled worker per thread
  pooled.reset();
  EXPECT_TRUE(NoChildren());
}

// Anonymous memory of process `pid`, from /proc/PID/smaps_rollup: what a
// worker holds of its own, unlike PSS, which shares the binary's pages out
// among however many processes map it.
std::int64_t AnonymousBytes(pid_t pid) {
  std::int64_t total = 0;
  std::ifstream rollup("/proc/" + std::to_string(pid) + "/smaps_rollup");
  std::string line;
  while (std::getline(rollup, line)) {
    if (line.rfind("Anonymous:", 0) == 0) {
      total += std::stoll(line.substr(10)) * 1024;
    }
  }
  return total;
}

// The same for all of this process's children (its pooled workers).
std::int64_t ChildrenAnonymousBytes() {
  std::int64_t total = 0;
  for (pid_t pid : testing::ChildProcesses()) total += AnonymousBytes(pid);
  return total;
}

// Between files, one pooled worker at a time keeps its last LibRaw buffer
// (so the next file's pages need no faulting in and zeroing), never more.
TEST_F(IsolatedDecoderTest, OnePooledWorkerKeepsItsBufferBetweenFiles) {
  const std::string small = WriteDng("small.dng", CfaPattern());
  RawImage big;
  big.cfa = CfaPattern();
  big.pixels = Plane<float>(4096, 3072, 0.25f);
  const std::string path = Path("big.dng");
  ASSERT_TRUE(WriteCfaDng(path, big).ok());
  const std::int64_t buffer_bytes = std::int64_t{4096} * 3072 * 2;
  const RawImage expected = *DecodeRaw(path);
  // A worker that never decoded a large file: what one holds at rest.
  std::int64_t base = 0;
  {
    const IsolatedDecoder pooled;
    ASSERT_TRUE(pooled.Decode(small, {}).ok());
    ASSERT_EQ(Children(), 1);
    base = ChildrenAnonymousBytes();
  }
  const IsolatedDecoder pooled;
  EXPECT_EQ(FailedParallelDecodes(pooled, path, expected, 2, 3), 0);
  const int workers = Children();
  ASSERT_GE(workers, 1);
  const std::int64_t held = ChildrenAnonymousBytes();
  const std::int64_t slack = std::int64_t{12} << 20;
  // One buffer kept: the next file reuses its pages ...
  EXPECT_GE(held, workers * base + buffer_bytes * 9 / 10)
      << workers << " workers";
  // ... and only one, however many workers decoded.
  EXPECT_LE(held, workers * base + buffer_bytes + slack)
      << workers << " workers";
  // The kept buffer serves the next file (same pixels) and stays one.
  Result<RawImage> again = pooled.Decode(path, {});
  ASSERT_TRUE(again.ok());
  ExpectSameImage(*again, expected);
  EXPECT_LE(ChildrenAnonymousBytes(), workers * base + buffer_bytes + slack);
  // A smaller file after it: the large buffer goes back to the system.
  ASSERT_TRUE(pooled.Decode(small, {}).ok());
  ASSERT_TRUE(pooled.Decode(small, {}).ok());
  EXPECT_LE(ChildrenAnonymousBytes(), workers * base + slack);
}

// Prepare starts the pool's workers in the background, once; the decodes
// that follow use them (no more workers than threads decoding at once), and
// a decode that comes while they start waits for one.
TEST_F(IsolatedDecoderTest, PrepareStartsThePoolsWorkersAhead) {
  const std::string path = WriteDng("prepared.dng", CfaPattern());
  const RawImage expected = *DecodeRaw(path);
  {
    const IsolatedDecoder pooled;
    pooled.Prepare({}, 2);
    pooled.Prepare({}, 2);  // once
    for (int i = 0; i < 500 && Children() < 2; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_EQ(Children(), 2);
    EXPECT_EQ(FailedParallelDecodes(pooled, path, expected, 2, 3), 0);
    EXPECT_EQ(Children(), 2);
  }
  EXPECT_TRUE(NoChildren());
  {
    // A decode right behind Prepare takes a worker Prepare starts.
    const IsolatedDecoder pooled;
    pooled.Prepare({}, 1);
    Result<RawImage> image = pooled.Decode(path, {});
    ASSERT_TRUE(image.ok()) << image.status().ToString();
    ExpectSameImage(*image, expected);
    EXPECT_EQ(Children(), 1);
  }
  EXPECT_TRUE(NoChildren());
  // A decoder of a worker per file has no pool to prepare.
  const IsolatedDecoder per_file = Fake("exit 0");
  per_file.Prepare({}, 2);
  EXPECT_TRUE(NoChildren());
}

// Release (the build's last scene has run) kills the idle workers without
// waiting for them: each has exited (a zombie until the decoder reaps it)
// before the decoder goes. A Decode after it starts a fresh worker and
// gives the same pixels; the destructor reaps every worker.
TEST_F(IsolatedDecoderTest, ReleaseEndsTheIdleWorkersAndDecodingStillWorks) {
  const std::string path = WriteDng("released.dng", CfaPattern());
  const RawImage expected = *DecodeRaw(path);
  const int descriptors = OpenDescriptors();
  {
    const IsolatedDecoder pooled;
    EXPECT_EQ(FailedParallelDecodes(pooled, path, expected, 2, 2), 0);
    const std::vector<pid_t> workers = testing::ChildProcesses();
    ASSERT_FALSE(workers.empty());
    pooled.Release();
    for (const pid_t worker : workers) {
      bool exited = false;
      for (int i = 0; i < 500 && !exited; ++i) {
        siginfo_t info{};
        exited = ::waitid(P_PID, static_cast<id_t>(worker), &info,
                          WEXITED | WNOHANG | WNOWAIT) == 0 &&
                 info.si_pid == worker;
        if (!exited) std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      EXPECT_TRUE(exited) << "worker " << worker << " still runs";
    }
    Result<RawImage> image = pooled.Decode(path, {});
    ASSERT_TRUE(image.ok()) << image.status().ToString();
    ExpectSameImage(*image, expected);
    pooled.Release();  // twice: as once
  }
  EXPECT_TRUE(NoChildren());
  EXPECT_EQ(OpenDescriptors(), descriptors);
}

// A small file's buffer (2 bytes a pixel, at most
// IsolatedDecoder::kKeptByEveryWorkerBytes) every pooled worker keeps, not
// only one: two workers that decoded it each hold one, and the next files
// reuse them (the same pixels).
TEST_F(IsolatedDecoderTest, EveryPooledWorkerKeepsASmallBuffer) {
  RawImage small_image;
  small_image.cfa = CfaPattern();
  small_image.pixels = Plane<float>(2048, 1536, 0.25f);
  const std::string path = Path("small3mp.dng");
  ASSERT_TRUE(WriteCfaDng(path, small_image).ok());
  const std::int64_t buffer_bytes = std::int64_t{2048} * 1536 * 2;
  const RawImage expected = *DecodeRaw(path);
  const std::string tiny = WriteDng("tiny.dng", CfaPattern());
  // A worker that never decoded a large file: what one holds at rest.
  std::int64_t base = 0;
  {
    const IsolatedDecoder pooled;
    ASSERT_TRUE(pooled.Decode(tiny, {}).ok());
    ASSERT_EQ(Children(), 1);
    base = ChildrenAnonymousBytes();
  }
  const IsolatedDecoder pooled;
  int failed = 0;
  // Two decodes at once until two workers exist (each thread holds one
  // while it decodes).
  for (int round = 0; round < 20 && Children() < 2; ++round) {
    failed += FailedParallelDecodes(pooled, path, expected, 2, 2);
  }
  EXPECT_EQ(failed, 0);
  ASSERT_EQ(Children(), 2) << "two decodes at once never ran";
  // Per worker, besides its buffer: LibRaw's smaller allocations, and the
  // last small file it read (raw/decoder.h: kKeptFileBytes; this one is
  // uncompressed, 6 MB, so it is kept, in whole MiB).
  const auto file_bytes = static_cast<std::int64_t>(fs::file_size(path));
  ASSERT_LE(file_bytes, static_cast<std::int64_t>(kKeptFileBytes));
  const std::int64_t mib = std::int64_t{1} << 20;
  const std::int64_t kept_file = (file_bytes + mib - 1) / mib * mib;
  const std::int64_t slack = kept_file + (std::int64_t{12} << 20);
  // Each worker holds a buffer: both keep theirs ...
  for (pid_t pid : testing::ChildProcesses()) {
    EXPECT_GE(AnonymousBytes(pid), base + buffer_bytes * 9 / 10)
        << "worker " << pid << " (base " << base << ")";
  }
  // ... and one each, never more.
  EXPECT_LE(ChildrenAnonymousBytes(), 2 * (base + buffer_bytes + slack));
  // The kept buffers serve the next files (same pixels).
  for (int i = 0; i < 2; ++i) {
    Result<RawImage> again = pooled.Decode(path, {});
    ASSERT_TRUE(again.ok());
    ExpectSameImage(*again, expected);
  }
  EXPECT_LE(ChildrenAnonymousBytes(), 2 * (base + buffer_bytes + slack));
}

// The mappings of process `pid` (/proc/PID/smaps) of the build's shared
// planes (raw/shared_planes.h): address, size and resident bytes.
struct PlaneMappingInfo {
  std::uintptr_t begin = 0;
  std::size_t bytes = 0;
  std::size_t resident = 0;
};
std::vector<PlaneMappingInfo> SharedPlaneMappings(const std::string& pid) {
  std::vector<PlaneMappingInfo> found;
  std::ifstream smaps("/proc/" + pid + "/smaps");
  std::string line;
  bool in_plane = false;
  while (std::getline(smaps, line)) {
    const auto dash = line.find('-');
    const bool header = dash != std::string::npos && dash > 0 &&
                        line.find(' ') > dash &&
                        std::isxdigit(static_cast<unsigned char>(line[0]));
    if (header) {
      in_plane = line.find("memfd:dsb-plane") != std::string::npos;
      if (in_plane) {
        const std::uintptr_t begin =
            std::stoull(line.substr(0, dash), nullptr, 16);
        const std::uintptr_t end =
            std::stoull(line.substr(dash + 1), nullptr, 16);
        found.push_back({begin, end - begin, 0});
      }
    } else if (in_plane && line.rfind("Rss:", 0) == 0) {
      found.back().resident = std::stoull(line.substr(4)) * 1024;
    }
  }
  return found;
}

bool InSharedPlane(const void* data) {
  const auto address = reinterpret_cast<std::uintptr_t>(data);
  for (const PlaneMappingInfo& m : SharedPlaneMappings("self")) {
    if (address >= m.begin && address < m.begin + m.bytes) return true;
  }
  return false;
}

// A pooled worker normalises straight into the build's plane, a shared
// memfd (raw/shared_planes.h): the pixels are never copied between the
// processes, and they are the in-process decoder's, bit for bit.
TEST_F(IsolatedDecoderTest, PooledDecodesWriteStraightIntoASharedPlane) {
  if (HugePagesOn()) GTEST_SKIP() << "huge pages: ordinary planes";
  std::vector<std::string> paths;
  for (const CfaPattern& cfa : testing::AllCfas()) {
    paths.push_back(WriteDng("cfa" + std::to_string(paths.size()) + ".dng", cfa,
                             MaskedBorderAndPatternBlack()));
  }
  const std::string dir = testing::RealRawDir();
  if (!dir.empty()) {
    paths.push_back(dir + "/evanoberholster-imagemeta__Hero8.converted.dng");
    paths.push_back(dir + "/bep-imagemeta__sample.nef");
  }
  for (const std::string& path : paths) {
    SCOPED_TRACE(path);
    Result<RawImage> in_process = InProcessDecoder().Decode(path, {});
    Result<RawImage> isolated = isolated_.Decode(path, {});
    ASSERT_TRUE(in_process.ok()) << in_process.status().ToString();
    ASSERT_TRUE(isolated.ok()) << isolated.status().ToString();
    EXPECT_TRUE(InSharedPlane(isolated->pixels.data()));
    EXPECT_FALSE(InSharedPlane(in_process->pixels.data()));
    ExpectSameImage(*in_process, *isolated);
  }
}

// A worker keeps its mappings of the last few planes it filled, never more,
// and a plane the build has freed keeps no pages there.
TEST_F(IsolatedDecoderTest, WorkerKeepsFewPlaneMappingsHoldingNoFreedPages) {
  if (HugePagesOn()) GTEST_SKIP() << "huge pages: ordinary planes";
  RawImage big;
  big.cfa = CfaPattern();
  big.pixels = Plane<float>(640, 480, 0.25f);
  const std::string big_path = Path("big.dng");
  ASSERT_TRUE(WriteCfaDng(big_path, big).ok());
  const std::string small = WriteDng("small.dng", CfaPattern());
  const std::size_t big_bytes = std::size_t{640} * 480 * sizeof(float);
  const IsolatedDecoder pooled;
  {
    std::vector<RawImage> held;  // six planes at once: six memfds
    for (int i = 0; i < 6; ++i) {
      Result<RawImage> image = pooled.Decode(big_path, {});
      ASSERT_TRUE(image.ok()) << image.status().ToString();
      held.push_back(std::move(image).value());
    }
    ASSERT_EQ(Children(), 1);  // one thread: one worker filled them all
    const std::string worker =
        std::to_string(testing::ChildProcesses().front());
    const std::vector<PlaneMappingInfo> mapped = SharedPlaneMappings(worker);
    EXPECT_GE(mapped.size(), 1u);
    EXPECT_LE(mapped.size(), 4u);
    for (const PlaneMappingInfo& m : mapped) EXPECT_GE(m.bytes, big_bytes);
  }
  // Another size: the pool frees the six kept planes, their pages with them,
  // even the ones the worker still maps.
  ASSERT_TRUE(pooled.Decode(small, {}).ok());
  const std::string worker = std::to_string(testing::ChildProcesses().front());
  int big_mappings = 0;
  for (const PlaneMappingInfo& m : SharedPlaneMappings(worker)) {
    if (m.bytes < big_bytes) continue;
    ++big_mappings;
    EXPECT_EQ(m.resident, 0u) << "a freed plane's pages in the worker";
  }
  EXPECT_GE(big_mappings, 1);  // not vacuous: it kept some mapped
}

// A worker is handed a free plane it filled before rather than the newest
// free one, which another worker filled: its own mapping of that plane is
// warm (raw/shared_planes.h). Two workers fill a plane each (the first is
// killed while idle, so the next file starts a second); the second's plane
// is released first, so the newest free plane is the dead worker's.
TEST_F(IsolatedDecoderTest, AWorkerIsHandedAPlaneItFilledBefore) {
  if (HugePagesOn()) GTEST_SKIP() << "huge pages: ordinary planes";
  const std::string path = WriteDng("x.dng", CfaPattern());
  const IsolatedDecoder pooled;
  auto decode = [&]() -> std::optional<RawImage> {
    Result<RawImage> image = pooled.Decode(path, {});
    EXPECT_TRUE(image.ok()) << image.status().ToString();
    if (!image.ok()) return std::nullopt;
    return std::move(image).value();
  };
  std::optional<RawImage> first = decode();
  ASSERT_TRUE(first.has_value());
  ASSERT_EQ(Children(), 1);
  const pid_t first_worker = testing::ChildProcesses().front();
  ASSERT_EQ(::kill(first_worker, SIGKILL), 0);
  // Until it has exited (a zombie until the decoder reaps it), so the next
  // Decode finds it gone and starts another worker.
  for (int i = 0; i < 500; ++i) {
    std::ifstream stat("/proc/" + std::to_string(first_worker) + "/stat");
    std::string pid, name, state;
    if (!(stat >> pid >> name >> state) || state == "Z") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  std::optional<RawImage> second = decode();
  ASSERT_TRUE(second.has_value());
  ASSERT_EQ(Children(), 1);
  const pid_t worker = testing::ChildProcesses().front();
  ASSERT_NE(worker, first_worker);
  const std::string worker_pid = std::to_string(worker);
  ASSERT_EQ(SharedPlaneMappings(worker_pid).size(), 1u);  // its own plane
  const float* own_plane = second->pixels.data();
  second.reset();  // released first, so the newest free plane is the first's
  first.reset();
  const std::optional<RawImage> third = decode();
  ASSERT_TRUE(third.has_value());
  EXPECT_EQ(third->pixels.data(), own_plane);
  EXPECT_EQ(SharedPlaneMappings(worker_pid).size(), 1u)
      << "the worker mapped another plane";
  Result<RawImage> in_process = InProcessDecoder().Decode(path, {});
  ASSERT_TRUE(in_process.ok()) << in_process.status().ToString();
  ExpectSameImage(*in_process, *third);
}

// The worker entry itself, in a forked child of this (single-threaded at
// this point) test: it decodes under an address-space cap derived from the
// pixel limit and writes a record the parent reads back.
TEST_F(IsolatedDecoderTest, WorkerDecodesUnderAnAddressSpaceCap) {
  const std::string path = WriteDng("x.dng", CfaPattern());
  const int memfd = ::memfd_create("test", MFD_CLOEXEC);
  ASSERT_GE(memfd, 0);
  const std::size_t max_pixels = 100'000;
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    std::vector<std::string> args = {std::string(kDecodeWorkerCommand),
                                     "--fd",
                                     std::to_string(memfd),
                                     "--parent",
                                     std::to_string(::getppid()),
                                     "--max-pixels",
                                     std::to_string(max_pixels),
                                     "--",
                                     path};
    std::vector<char*> argv;
    for (std::string& arg : args) argv.push_back(arg.data());
    const int status =
        RunDecodeWorker(static_cast<int>(argv.size()), argv.data());
    rlimit limit{};
    ::getrlimit(RLIMIT_AS, &limit);
    // Capped, and not far above what the worker started with.
    const bool capped =
        limit.rlim_cur != RLIM_INFINITY &&
        limit.rlim_cur <=
            WorkerAddressSpaceLimit(std::size_t{64} << 30, max_pixels);
    ::_exit(status != 0 ? 10 + status : capped ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  Result<RawImage> image = ReadDecodeRecord(memfd, path, max_pixels);
  ASSERT_TRUE(image.ok()) << image.status().ToString();
  ExpectSameImage(*image, *DecodeRaw(path));
  ::close(memfd);
}

TEST(WorkerAddressSpaceLimitTest, GrowsWithThePixelLimit) {
  EXPECT_EQ(WorkerAddressSpaceLimit(1000, 0), 0u);  // no limit, no cap
  EXPECT_EQ(WorkerAddressSpaceLimit(1000, 100),
            1000 + kWorkerHeadroomBytes + 100 * kWorkerBytesPerPixel);
  EXPECT_EQ(WorkerAddressSpaceLimit(1000, static_cast<std::size_t>(-1) / 2),
            0u);  // too large to express
}

}  // namespace
}  // namespace dsb
