#include "hash/hash.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "fake_file_system.h"
#include "hash/fingerprint.h"
#include "test_support.h"

namespace dsb {
namespace {

using ::dsb::testing::FakeFileSystem;
using ::dsb::testing::Hashed;
using ::dsb::testing::Scanned;

constexpr std::int64_t kSecond = 1'000'000'000;

std::string Pattern(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i)
    s[i] = static_cast<char>((i * 31 + 7) & 255);
  return s;
}

TEST(HashTest, KnownVectors) {
  // From `xxhsum -H2` (xxHash 0.8.1).
  EXPECT_EQ(HashBytes("").ToHex(), "99aa06d3014798d86001c324468d497f");
  EXPECT_EQ(HashBytes("abc").ToHex(), "06b05ab6733a618578af5f94892f3950");
  EXPECT_EQ(HashBytes("The quick brown fox jumps over the lazy dog").ToHex(),
            "ddd650205ca3e7fa24a1cc2e3a8a7651");
  FakeFileSystem fs;
  fs.AddFile("/p.bin", Pattern(3 * 1024 * 1024 + 17));
  auto h = HashFile(fs, "/p.bin");
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->ToHex(), "8413aef4e4cda21fd60b25da5ed5af00");
}

TEST(HashTest, HexRoundTrip) {
  Hash128 h{0x0123456789abcdefULL, 0xfedcba9876543210ULL};
  EXPECT_EQ(h.ToHex(), "0123456789abcdeffedcba9876543210");
  EXPECT_EQ(Hash128::FromHex(h.ToHex()), h);
  EXPECT_EQ(Hash128::FromHex("0123456789ABCDEFFEDCBA9876543210"), h);
  EXPECT_FALSE(Hash128::FromHex("0123").has_value());
  EXPECT_FALSE(
      Hash128::FromHex("0123456789abcdeffedcba987654321g").has_value());
  EXPECT_FALSE(Hash128::FromHex("").has_value());
}

// FromHex takes exactly the 22 hex digits, in any position, and refuses
// every other byte (its digit values come from a table).
TEST(HashTest, FromHexAcceptsExactlyTheHexDigits) {
  for (int byte = 0; byte < 256; ++byte) {
    const char c = static_cast<char>(byte);
    const bool digit = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
                       (c >= 'A' && c <= 'F');
    const int value = c <= '9'   ? c - '0'
                      : c <= 'F' ? c - 'A' + 10
                                 : c - 'a' + 10;
    for (std::size_t position :
         {std::size_t{0}, std::size_t{15}, std::size_t{16}, std::size_t{31}}) {
      std::string hex(32, '0');
      hex[position] = c;
      const std::optional<Hash128> parsed = Hash128::FromHex(hex);
      ASSERT_EQ(parsed.has_value(), digit) << "byte " << byte;
      if (!digit) continue;
      const int shift = 4 * static_cast<int>(15 - position % 16);
      const std::uint64_t word = position < 16 ? parsed->high : parsed->low;
      EXPECT_EQ(word, static_cast<std::uint64_t>(value) << shift)
          << "byte " << byte << " at " << position;
      EXPECT_EQ(position < 16 ? parsed->low : parsed->high, 0u);
    }
  }
}

TEST(HashTest, StreamingEqualsOneShotAroundBufferBoundaries) {
  FakeFileSystem fs;
  const std::size_t mib = 1 << 20;
  std::string data = Pattern(2 * std::max(kDefaultHashBufferSize, mib) + 2);
  for (std::size_t size :
       {std::size_t{0}, std::size_t{1}, std::size_t{239}, std::size_t{240},
        std::size_t{241}, mib - 1, mib, mib + 1, kDefaultHashBufferSize - 1,
        kDefaultHashBufferSize, kDefaultHashBufferSize + 1,
        2 * kDefaultHashBufferSize + 1}) {
    std::string_view content(data.data(), size);
    fs.AddFile("/f", content);
    Hash128 expected = HashBytes(content);
    for (std::size_t buffer :
         {std::size_t{1000}, mib, kDefaultHashBufferSize}) {
      if (buffer == 1000 && size > 2 * mib) continue;  // keep the test fast
      HashStats stats;
      auto h = HashFile(fs, "/f", &stats, buffer);
      ASSERT_TRUE(h.ok());
      EXPECT_EQ(*h, expected) << "size " << size << " buffer " << buffer;
      EXPECT_EQ(stats.bytes_hashed.load(), size);
      EXPECT_EQ(stats.files_hashed.load(), 1u);
    }
  }
}

TEST(HashTest, MissingFileNamesPath) {
  FakeFileSystem fs;
  auto h = HashFile(fs, "/no/such.arw");
  ASSERT_FALSE(h.ok());
  EXPECT_NE(h.status().message().find("/no/such.arw"), std::string::npos);
}

TEST(HasherTest, FramingPreventsConcatenationCollisions) {
  auto two = [](std::string_view a, std::string_view b) {
    Hasher h;
    h.AddString(a).AddString(b);
    return h.Finish();
  };
  EXPECT_NE(two("ab", "c"), two("a", "bc"));
  EXPECT_NE(two("", "abc"), two("abc", ""));
  Hasher a, b;
  a.AddU64(1).AddI64(-1);
  b.AddU64(1).AddI64(-1);
  EXPECT_EQ(a.Finish(), b.Finish());
  b.AddString("");
  EXPECT_NE(a.Finish(), b.Finish());
  // Fixed little-endian encoding: stable across hosts.
  Hasher c;
  c.AddU64(0x0807060504030201ULL);
  EXPECT_EQ(c.Finish(),
            HashBytes(std::string_view("\x01\x02\x03\x04\x05\x06\x07\x08", 8)));
}

class FingerprintTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs_.SetNowNs(100 * kSecond);
    fs_.AddFile("/d/s/a.arw", "content a", 10 * kSecond);
    Rescan();
    // The first build: hashed at t = 100 s.
    auto r = Fingerprint(fs_, "/d", file_, nullptr, Options());
    EXPECT_TRUE(r.ok());
    known_ = Hashed(file_, r->hash_hex, r->recorded_at_ns);
    fs_.AdvanceNs(50 * kSecond);
    stats_ = std::make_unique<FingerprintStats>();
  }
  void Rescan() { file_ = Scanned("s/a.arw", *fs_.Stat("/d/s/a.arw")); }
  FingerprintOptions Options() {
    FingerprintOptions o;
    o.stats = stats_.get();
    return o;
  }
  FingerprintResult Run(const FingerprintOptions& o) {
    auto r = Fingerprint(fs_, "/d", file_, &known_, o);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : FingerprintResult();
  }

  FakeFileSystem fs_;
  FileRecord file_;
  FileRecord known_;
  std::unique_ptr<FingerprintStats> stats_;
};

TEST_F(FingerprintTest, NewFileIsHashed) {
  auto r = Fingerprint(fs_, "/d", file_, nullptr, Options());
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->rehashed);
  EXPECT_EQ(r->why, "new");
  EXPECT_EQ(r->hash_hex, HashBytes("content a").ToHex());
  EXPECT_EQ(r->recorded_at_ns, fs_.NowNs());
  EXPECT_EQ(stats_->bytes_hashed.load(), 9u);
}

TEST_F(FingerprintTest, UnchangedRerunHashesNothing) {
  fs_.ResetCounters();
  auto r = Run(Options());
  EXPECT_FALSE(r.rehashed);
  EXPECT_EQ(r.why, "");
  EXPECT_EQ(r.hash_hex, known_.hash_hex);
  EXPECT_EQ(r.recorded_at_ns, known_.hashed_at_ns);
  EXPECT_EQ(fs_.counters().opens, 0u);
  EXPECT_EQ(fs_.counters().bytes_read, 0u);
  EXPECT_EQ(stats_->bytes_hashed.load(), 0u);
  EXPECT_EQ(stats_->files_rehashed.load(), 0u);
  EXPECT_EQ(stats_->files_reused.load(), 1u);
}

TEST_F(FingerprintTest, SizeChange) {
  fs_.AddFile("/d/s/a.arw", "longer content a", 10 * kSecond);
  Rescan();
  auto r = Run(Options());
  EXPECT_TRUE(r.rehashed);
  EXPECT_EQ(r.why, "size changed");
  EXPECT_EQ(r.hash_hex, HashBytes("longer content a").ToHex());
}

TEST_F(FingerprintTest, MtimeChange) {
  fs_.AddFile("/d/s/a.arw", "CONTENT A", 11 * kSecond);
  Rescan();
  auto r = Run(Options());
  EXPECT_EQ(r.why, "mtime changed");
  EXPECT_EQ(r.hash_hex, HashBytes("CONTENT A").ToHex());
}

TEST_F(FingerprintTest, InodeChange) {
  // Same size and mtime (cp -p / rsync -t): only the inode tells.
  fs_.AddFile("/d/s/a.arw", "CONTENT A", 10 * kSecond);
  fs_.ChangeInode("/d/s/a.arw");
  Rescan();
  auto r = Run(Options());
  EXPECT_EQ(r.why, "inode changed");
  EXPECT_EQ(r.hash_hex, HashBytes("CONTENT A").ToHex());
}

TEST_F(FingerprintTest, Verify) {
  auto o = Options();
  o.verify = true;
  auto r = Run(o);
  EXPECT_TRUE(r.rehashed);
  EXPECT_EQ(r.why, "--verify");
  EXPECT_EQ(r.hash_hex, known_.hash_hex);
}

TEST_F(FingerprintTest, RacyWhenModifiedInTheTickOfHashing) {
  // The hash was recorded at 100 s; a file with mtime 99.5 s may have been
  // rewritten after hashing within the same coarse timestamp.
  known_.mtime_ns = file_.mtime_ns = 99 * kSecond + kSecond / 2;
  fs_.Touch("/d/s/a.arw", file_.mtime_ns);
  auto r = Run(Options());
  EXPECT_TRUE(r.rehashed);
  EXPECT_EQ(r.why, "racy");
  // After the rehash the record is from 150 s: settled.
  known_.hashed_at_ns = r.recorded_at_ns;
  EXPECT_FALSE(Run(Options()).rehashed);
}

TEST_F(FingerprintTest, RacyWhenRecordTimeUnknown) {
  known_.hashed_at_ns = 0;
  EXPECT_EQ(Run(Options()).why, "racy");
}

TEST_F(FingerprintTest, RacyWhenModifiedJustNow) {
  // A clock that jumped back: mtime is older than the record but within
  // two seconds of now.
  fs_.SetNowNs(11 * kSecond);
  EXPECT_EQ(Run(Options()).why, "racy");
  auto o = Options();
  o.now_ns = 200 * kSecond;  // an explicit "now" wins over the clock
  EXPECT_EQ(Run(o).why, "");
}

TEST_F(FingerprintTest, BadRecordedHashIsRehashed) {
  known_.hash_hex = "garbage";
  auto r = Run(Options());
  EXPECT_EQ(r.why, "no hash recorded");
  EXPECT_EQ(r.hash_hex, HashBytes("content a").ToHex());
}

// ReuseRecordedHash takes exactly the hashes Fingerprint would reuse, with
// no I/O, and leaves every other file (and the counters) for Fingerprint.
TEST_F(FingerprintTest, ReuseRecordedHashDecidesAsFingerprint) {
  fs_.ResetCounters();
  FileRecord file = file_;
  ASSERT_TRUE(ReuseRecordedHash(fs_, file, &known_, Options()));
  EXPECT_EQ(file.hash_hex, known_.hash_hex);
  EXPECT_EQ(file.hashed_at_ns, known_.hashed_at_ns);
  EXPECT_EQ(stats_->files_checked.load(), 1u);
  EXPECT_EQ(stats_->files_reused.load(), 1u);
  EXPECT_EQ(fs_.counters().opens, 0u);

  struct Case {
    const char* why;
    void (*make)(FileRecord&, FileRecord&, FingerprintOptions&);
  };
  const std::vector<Case> cases = {
      {"size changed",
       [](FileRecord& f, FileRecord&, FingerprintOptions&) { f.size += 1; }},
      {"mtime changed", [](FileRecord& f, FileRecord&,
                           FingerprintOptions&) { f.mtime_ns += 1; }},
      {"inode changed",
       [](FileRecord& f, FileRecord&, FingerprintOptions&) { f.inode += 1; }},
      {"--verify", [](FileRecord&, FileRecord&,
                      FingerprintOptions& o) { o.verify = true; }},
      {"racy", [](FileRecord&, FileRecord& k,
                  FingerprintOptions&) { k.hashed_at_ns = 0; }},
      {"no hash recorded", [](FileRecord&, FileRecord& k,
                              FingerprintOptions&) { k.hash_hex = "x"; }},
  };
  for (const Case& c : cases) {
    FileRecord scanned = file_;
    FileRecord known = known_;
    FingerprintOptions options = Options();
    c.make(scanned, known, options);
    EXPECT_EQ(RehashReason(scanned, &known, options, fs_.NowNs()), c.why);
    FileRecord untouched = scanned;
    EXPECT_FALSE(ReuseRecordedHash(fs_, scanned, &known, options)) << c.why;
    EXPECT_EQ(scanned, untouched) << c.why;
  }
  FileRecord unknown = file_;
  EXPECT_FALSE(ReuseRecordedHash(fs_, unknown, nullptr, Options()));
  EXPECT_EQ(stats_->files_checked.load(), 1u);
  EXPECT_EQ(stats_->files_reused.load(), 1u);
}

TEST_F(FingerprintTest, FileChangedSinceScanIsAnError) {
  fs_.AddFile("/d/s/a.arw", "grown since the scan", 10 * kSecond);
  auto o = Options();
  o.verify = true;
  auto r = Fingerprint(fs_, "/d", file_, &known_, o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("/d/s/a.arw"), std::string::npos);
}

TEST_F(FingerprintTest, ManyFilesRerunHashesNothing) {
  for (int i = 0; i < 20; ++i) {
    fs_.AddFile("/d/s/f" + std::to_string(i), Pattern(1000 + i), 5 * kSecond);
  }
  fs_.AdvanceNs(10 * kSecond);
  std::vector<FileRecord> known;
  for (int i = 0; i < 20; ++i) {
    FileRecord f = Scanned("s/f" + std::to_string(i),
                           *fs_.Stat("/d/s/f" + std::to_string(i)));
    auto r = Fingerprint(fs_, "/d", f, nullptr, Options());
    ASSERT_TRUE(r.ok());
    known.push_back(Hashed(f, r->hash_hex, r->recorded_at_ns));
  }
  EXPECT_EQ(stats_->files_rehashed.load(), 20u);
  fs_.AdvanceNs(kSecond);
  fs_.ResetCounters();
  auto before = stats_->bytes_hashed.load();
  for (int i = 0; i < 20; ++i) {
    FileRecord f = Scanned("s/f" + std::to_string(i),
                           *fs_.Stat("/d/s/f" + std::to_string(i)));
    auto r = Fingerprint(fs_, "/d", f, &known[i], Options());
    ASSERT_TRUE(r.ok());
    EXPECT_FALSE(r->rehashed);
  }
  EXPECT_EQ(stats_->bytes_hashed.load(), before);
  EXPECT_EQ(fs_.counters().bytes_read, 0u);
  EXPECT_EQ(fs_.counters().opens, 0u);
}

TEST(FingerprintConcurrencyTest, ThreadsShareFakeAndStats) {
  FakeFileSystem fs;
  for (int i = 0; i < 64; ++i) {
    fs.AddFile("/d/f" + std::to_string(i), Pattern(5000 + i), kSecond);
  }
  fs.AdvanceNs(100 * kSecond);
  FingerprintStats stats;
  FingerprintOptions options;
  options.stats = &stats;
  options.buffer_size = 1024;
  std::vector<std::string> hashes(64);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = t; i < 64; i += 4) {
        std::string path = "/d/f" + std::to_string(i);
        FileRecord f = Scanned("f" + std::to_string(i), *fs.Stat(path));
        auto r = Fingerprint(fs, "/d", f, nullptr, options);
        if (r.ok()) hashes[i] = r->hash_hex;
      }
    });
  }
  for (auto& t : threads) t.join();
  std::uint64_t bytes = 0;
  for (int i = 0; i < 64; ++i) {
    EXPECT_EQ(hashes[i], HashBytes(Pattern(5000 + i)).ToHex());
    bytes += 5000 + i;
  }
  EXPECT_EQ(stats.files_rehashed.load(), 64u);
  EXPECT_EQ(stats.bytes_hashed.load(), bytes);
  EXPECT_EQ(fs.counters().bytes_read, bytes);
}

}  // namespace
}  // namespace dsb
