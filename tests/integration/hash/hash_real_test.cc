// HashFile through the real file system, against xxhsum's output.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "common/file_system.h"
#include "hash/fingerprint.h"
#include "hash/hash.h"
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

}  // namespace
}  // namespace dsb
