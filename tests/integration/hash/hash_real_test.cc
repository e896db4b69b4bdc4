// HashFile through the real file system, against xxhsum's output, and
// what it does when a file changes under it.
#include <gtest/gtest.h>
#include <sys/mman.h>

#include <atomic>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "common/file_system.h"
#include "hash/fingerprint.h"
#include "hash/hash.h"
#include "hash/mapped_read.h"
#include "test_support.h"

namespace dsb {
namespace {

using ::dsb::testing::Hashed;
using ::dsb::testing::Scanned;
using ::dsb::testing::TempDir;

TEST(HashRealTest, MatchesXxhsum) {
  TempDir dir;
  std::string data(3 * 1024 * 1024 + 17, '\0');
  for (std::size_t i = 0; i < data.size(); ++i) {
    data[i] = static_cast<char>((i * 31 + 7) & 255);
  }
  std::ofstream(dir.Join("p.bin"), std::ios::binary) << data;
  HashStats stats;
  auto h = HashFile(RealFileSystem(), dir.Join("p.bin"), &stats);
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  // `xxhsum -H2 p.bin` (xxHash 0.8.1).
  EXPECT_EQ(h->ToHex(), "8413aef4e4cda21fd60b25da5ed5af00");
  EXPECT_EQ(stats.bytes_hashed.load(), data.size());
}

TEST(HashRealTest, RerunReusesHash) {
  TempDir dir;
  std::ofstream(dir.Join("a.arw"), std::ios::binary) << "raw bytes";
  FileSystem& fs = RealFileSystem();
  FileRecord file = Scanned("a.arw", *fs.Stat(dir.Join("a.arw")));
  FingerprintStats stats;
  FingerprintOptions options;
  options.stats = &stats;
  auto first = Fingerprint(fs, dir.path(), file, nullptr, options);
  ASSERT_TRUE(first.ok());
  FileRecord known = Hashed(file, first->hash_hex, first->recorded_at_ns);
  // Just written: racy now; pretend the next run is a minute later and the
  // hash was recorded then too.
  known.hashed_at_ns += 60'000'000'000LL;
  options.now_ns = known.hashed_at_ns;
  auto second = Fingerprint(fs, dir.path(), file, &known, options);
  ASSERT_TRUE(second.ok());
  EXPECT_FALSE(second->rehashed);
  EXPECT_EQ(stats.files_rehashed.load(), 1u);
}

std::string Pattern(std::size_t size) {
  std::string data(size, '\0');
  for (std::size_t i = 0; i < data.size(); ++i) {
    data[i] = static_cast<char>((i * 131 + (i >> 12) * 7 + 3) & 255);
  }
  return data;
}

// Mapped in several windows, read with small buffers, and hashed in one shot:
// the same hash (the windows' and buffers' edges fall mid-stream).
TEST(HashRealTest, MappedReadAndOneShotAgree) {
  TempDir dir;
  const std::string data = Pattern(5 * 1024 * 1024 + 4096 + 17);
  std::ofstream(dir.Join("p.bin"), std::ios::binary) << data;
  const Hash128 expected = HashBytes(data);
  for (std::size_t window : {std::size_t{0}, std::size_t{64} << 10,
                             std::size_t{1} << 20, kHashMapWindow}) {
    HashFileOptions options;
    HashStats stats;
    options.stats = &stats;
    options.map_window = window;
    options.buffer_size = 100'003;
    int blocks = 0;
    options.before_block = [&](std::uint64_t) { ++blocks; };
    auto h = HashFile(RealFileSystem(), dir.Join("p.bin"), options);
    ASSERT_TRUE(h.ok()) << h.status().ToString();
    EXPECT_EQ(*h, expected) << "window " << window;
    EXPECT_EQ(stats.bytes_hashed.load(), data.size());
    const std::size_t step = window == 0 ? 100'003 : window;
    EXPECT_GE(blocks, static_cast<int>(data.size() / step)) << window;
  }
  // An empty file: nothing to map.
  std::ofstream(dir.Join("empty.bin"), std::ios::binary) << "";
  auto empty = HashFile(RealFileSystem(), dir.Join("empty.bin"));
  ASSERT_TRUE(empty.ok()) << empty.status().ToString();
  EXPECT_EQ(*empty, HashBytes(std::string_view()));
}

// The file is cut short while a window of it is mapped and about to be
// hashed: the pages past its new end are gone (SIGBUS on touch). The hash
// fails with an error naming the file, and the process goes on (the next
// file hashes fine).
TEST(HashRealTest, FileTruncatedUnderTheHasherIsAnErrorNamingIt) {
  TempDir dir;
  const std::string path = dir.Join("cut short.dng");
  const std::size_t window = std::size_t{256} << 10;
  std::ofstream(path, std::ios::binary) << Pattern(4 * window);
  HashFileOptions options;
  options.map_window = window;
  bool truncated = false;
  options.before_block = [&](std::uint64_t done) {
    if (done == window) {  // the second window is mapped, not yet read
      std::filesystem::resize_file(path, window + 100);
      truncated = true;
    }
  };
  auto h = HashFile(RealFileSystem(), path, options);
  ASSERT_TRUE(truncated);
  ASSERT_FALSE(h.ok());
  EXPECT_EQ(h.status().code(), Status::Code::kIoError);
  EXPECT_NE(h.status().message().find(path), std::string::npos)
      << h.status().message();
  EXPECT_NE(h.status().message().find("shrank while being hashed"),
            std::string::npos)
      << h.status().message();

  // Fingerprint reports it the same way (the build fails that scene).
  std::ofstream(dir.Join("b.dng"), std::ios::binary) << Pattern(3 * window);
  auto fine = HashFile(RealFileSystem(), dir.Join("b.dng"));
  ASSERT_TRUE(fine.ok()) << fine.status().ToString();
  EXPECT_EQ(*fine, HashBytes(Pattern(3 * window)));
}

// A file cut short (and grown back) over and over by another thread while
// several threads hash it: every hash either fails naming the file or
// returns; the process survives. (The timing is left to chance; the test
// above pins the SIGBUS path down.)
TEST(HashRealTest, HashersSurviveAFileChangingUnderThem) {
  TempDir dir;
  const std::string path = dir.Join("moving.dng");
  const std::size_t size = std::size_t{6} << 20;
  std::ofstream(path, std::ios::binary) << Pattern(size);
  std::atomic<bool> stop{false};
  std::thread cutter([&] {
    std::uint64_t n = 0;
    while (!stop.load()) {
      std::filesystem::resize_file(path, (n++ % 2 == 0) ? 4096 : size);
    }
  });
  std::atomic<int> failed{0}, hashed{0};
  std::vector<std::thread> hashers;
  for (int t = 0; t < 3; ++t) {
    hashers.emplace_back([&] {
      for (int i = 0; i < 40; ++i) {
        HashFileOptions options;
        options.map_window = std::size_t{1} << 20;
        auto h = HashFile(RealFileSystem(), path, options);
        if (h.ok()) {
          ++hashed;
        } else {
          ++failed;
          EXPECT_NE(h.status().message().find(path), std::string::npos)
              << h.status().message();
        }
      }
    });
  }
  for (std::thread& t : hashers) t.join();
  stop = true;
  cutter.join();
  EXPECT_EQ(failed + hashed, 120);
}

// The guard catches only its own range on its own thread: a SIGBUS anywhere
// else still ends the process as SIGBUS does.
TEST(MappedReadDeathTest, SigbusOutsideTheGuardStillEndsTheProcess) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  TempDir dir;
  const std::string path = dir.Join("short.bin");
  const std::size_t length = std::size_t{64} << 10;
  auto touch_cut_mapping = [&](bool inside_other_guard) {
    std::ofstream(path, std::ios::binary) << Pattern(length);
    auto file = RealFileSystem().OpenForRead(path);
    if (!file.ok()) std::abort();
    auto mapping = (*file)->Map(0, length);
    if (!mapping.ok()) std::abort();
    std::filesystem::resize_file(path, 10);
    // This runs in a child that dies below, so its TempDir is never
    // destroyed: remove the folder now (the mapping keeps the cut file).
    std::filesystem::remove_all(dir.path());
    static std::span<const std::uint8_t> cut;
    cut = (*mapping)->bytes();
    auto touch = [](std::span<const std::uint8_t>, void*) {
      volatile std::uint8_t sink = cut[cut.size() - 1];
      (void)sink;
    };
    if (inside_other_guard) {
      // Guarding another range does not cover this one.
      const std::uint8_t other[16] = {};
      ReadMappedGuarded(other, touch, nullptr);
    } else {
      const std::uint8_t other[16] = {};
      ReadMappedGuarded(
          other, [](auto, void*) {}, nullptr);  // installed
      touch({}, nullptr);
    }
  };
  EXPECT_EXIT(touch_cut_mapping(false), ::testing::KilledBySignal(SIGBUS), "");
  EXPECT_EXIT(touch_cut_mapping(true), ::testing::KilledBySignal(SIGBUS), "");
}

}  // namespace
}  // namespace dsb
