// RealFileSystem against a temp dir, and the FakeFileSystem the other unit
// tests rely on.
#include "common/file_system.h"

#include <dirent.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "common/real_file_system.h"
#include "fake_file_system.h"
#include "test_support.h"

namespace dsb {
namespace {

using ::dsb::testing::FakeFileSystem;
using ::dsb::testing::TempDir;

std::span<const std::uint8_t> Bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

std::string ReadAll(FileSystem& fs, const std::string& path) {
  auto file = fs.OpenForRead(path);
  EXPECT_TRUE(file.ok()) << file.status().ToString();
  if (!file.ok()) return "";
  std::string out;
  std::vector<std::uint8_t> buf(3);  // small, to exercise repeated reads
  while (true) {
    auto n = (*file)->Read(buf);
    EXPECT_TRUE(n.ok());
    if (!n.ok() || *n == 0) break;
    out.append(reinterpret_cast<const char*>(buf.data()), *n);
  }
  return out;
}

std::vector<std::string> Names(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return names;
  while (dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(n);
  }
  closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

TEST(RealFileSystemTest, AtomicWriteReplacesContentAndLeavesNoTemp) {
  TempDir dir;
  FileSystem& fs = RealFileSystem();
  std::string path = dir.Join("mask.png");
  ASSERT_TRUE(fs.WriteFileAtomically(path, Bytes("first")).ok());
  auto before = fs.Stat(path);
  ASSERT_TRUE(before.ok());
  ASSERT_TRUE(fs.WriteFileAtomically(path, Bytes("second!")).ok());
  EXPECT_EQ(ReadAll(fs, path), "second!");
  auto after = fs.Stat(path);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->type, FileType::kRegular);
  EXPECT_EQ(after->size, 7u);
  EXPECT_NE(after->inode, before->inode);  // a rename, not an overwrite
  EXPECT_EQ(Names(dir.path()), std::vector<std::string>{"mask.png"});
}

TEST(RealFileSystemTest, AtomicWriteOfLongNameStillFits) {
  TempDir dir;
  std::string name(250, 'm');
  ASSERT_TRUE(
      RealFileSystem().WriteFileAtomically(dir.Join(name), Bytes("x")).ok());
  EXPECT_EQ(Names(dir.path()), std::vector<std::string>{name});
}

TEST(RealFileSystemTest, FailedWriteNamesPathAndLeavesNoTemp) {
  TempDir dir;
  std::string sub = dir.Join("ro");
  ASSERT_EQ(mkdir(sub.c_str(), 0555), 0);
  if (access(sub.c_str(), W_OK) == 0) {
    // root ignores directory permissions; a missing directory still fails.
    std::string path = dir.Join("missing/out.png");
    Status s = RealFileSystem().WriteFileAtomically(path, Bytes("x"));
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.message().find(path), std::string::npos) << s.ToString();
    EXPECT_EQ(Names(dir.path()), std::vector<std::string>{"ro"});
    // /proc refuses new files even to root.
    s = RealFileSystem().WriteFileAtomically("/proc/dsb-out.png", Bytes("x"));
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.message().find("/proc/dsb-out.png"), std::string::npos);
    return;
  }
  std::string path = sub + "/out.png";
  Status s = RealFileSystem().WriteFileAtomically(path, Bytes("x"));
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find(path), std::string::npos) << s.ToString();
  EXPECT_NE(s.message().find("ermission"), std::string::npos) << s.ToString();
  EXPECT_TRUE(Names(sub).empty());
  chmod(sub.c_str(), 0755);
}

TEST(RealFileSystemTest, ErrnoMessages) {
  Status full = PosixFileError("cannot write", "/d/m.png", ENOSPC);
  EXPECT_EQ(full.code(), Status::Code::kResourceExhausted);
  EXPECT_NE(full.message().find("'/d/m.png'"), std::string::npos);
  EXPECT_NE(full.message().find("disk full"), std::string::npos);
  EXPECT_EQ(PosixFileError("cannot stat", "/x", ENOENT).code(),
            Status::Code::kNotFound);
  EXPECT_NE(PosixFileError("cannot stat", "/x", ELOOP).message().find("loop"),
            std::string::npos);
  EXPECT_EQ(PosixFileError("cannot open", "/x", EIO).code(),
            Status::Code::kIoError);
}

TEST(RealFileSystemTest, RenameFailureRemovesTemp) {
  // Renaming a file over a non-empty directory fails after the temp file
  // was written: the temp must be gone.
  TempDir dir;
  std::string target = dir.Join("target");
  ASSERT_TRUE(RealFileSystem().CreateDirectories(target + "/inside").ok());
  Status s = RealFileSystem().WriteFileAtomically(target, Bytes("data"));
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find(target), std::string::npos) << s.ToString();
  EXPECT_EQ(Names(dir.path()), std::vector<std::string>{"target"});
}

TEST(RealFileSystemTest, ListStatAndSymlinks) {
  TempDir dir;
  FileSystem& fs = RealFileSystem();
  ASSERT_TRUE(fs.CreateDirectories(dir.Join("a/b/c")).ok());
  ASSERT_TRUE(fs.CreateDirectories(dir.Join("a/b/c")).ok());  // idempotent
  ASSERT_TRUE(fs.WriteFileAtomically(dir.Join("a/f.arw"), Bytes("raw")).ok());
  ASSERT_EQ(symlink("f.arw", dir.Join("a/link").c_str()), 0);
  ASSERT_EQ(symlink("loop2", dir.Join("a/loop1").c_str()), 0);
  ASSERT_EQ(symlink("loop1", dir.Join("a/loop2").c_str()), 0);
  ASSERT_EQ(symlink("nowhere", dir.Join("a/dangling").c_str()), 0);

  auto entries = fs.ListDirectory(dir.Join("a"));
  ASSERT_TRUE(entries.ok()) << entries.status().ToString();
  std::map<std::string, FileType> types;
  for (const auto& e : *entries) types[e.name] = e.type;
  EXPECT_EQ(types.size(), 6u);
  EXPECT_EQ(types["b"], FileType::kDirectory);
  EXPECT_EQ(types["f.arw"], FileType::kRegular);
  EXPECT_EQ(types["link"], FileType::kSymlink);

  auto via_link = fs.Stat(dir.Join("a/link"));
  ASSERT_TRUE(via_link.ok());
  EXPECT_EQ(via_link->type, FileType::kRegular);
  EXPECT_EQ(via_link->size, 3u);
  EXPECT_GT(via_link->mtime_ns, 0);

  auto loop = fs.Stat(dir.Join("a/loop1"));
  ASSERT_FALSE(loop.ok());
  EXPECT_NE(loop.status().message().find(dir.Join("a/loop1")),
            std::string::npos);
  EXPECT_NE(loop.status().message().find("symbolic links"), std::string::npos)
      << loop.status().ToString();

  auto dangling = fs.Stat(dir.Join("a/dangling"));
  ASSERT_FALSE(dangling.ok());
  EXPECT_EQ(dangling.status().code(), Status::Code::kNotFound);
  EXPECT_NE(dangling.status().message().find("dangling"), std::string::npos);

  auto missing = fs.Stat(dir.Join("nope"));
  EXPECT_EQ(missing.status().code(), Status::Code::kNotFound);
  EXPECT_NE(missing.status().message().find(dir.Join("nope")),
            std::string::npos);

  EXPECT_FALSE(fs.ListDirectory(dir.Join("nope")).ok());
  EXPECT_FALSE(fs.OpenForRead(dir.Join("nope")).ok());
}

TEST(RealFileSystemTest, RemoveFileAndClock) {
  TempDir dir;
  FileSystem& fs = RealFileSystem();
  std::string path = dir.Join("x");
  ASSERT_TRUE(fs.WriteFileAtomically(path, Bytes("1")).ok());
  EXPECT_TRUE(fs.RemoveFile(path).ok());
  EXPECT_TRUE(fs.RemoveFile(path).ok());  // ENOENT is fine
  EXPECT_TRUE(Names(dir.path()).empty());

  ASSERT_TRUE(fs.WriteFileAtomically(path, Bytes("1")).ok());
  auto info = fs.Stat(path);
  std::int64_t now = fs.NowNs();
  // Same epoch and unit as mtimes.
  EXPECT_LT(std::abs(now - info->mtime_ns), 60'000'000'000LL);
}

TEST(RealFileSystemTest, CreateDirectoriesOverFileFails) {
  TempDir dir;
  FileSystem& fs = RealFileSystem();
  ASSERT_TRUE(fs.WriteFileAtomically(dir.Join("f"), Bytes("1")).ok());
  Status s = fs.CreateDirectories(dir.Join("f/sub"));
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find(dir.Join("f")), std::string::npos);
}

TEST(FakeFileSystemTest, FilesDirsAndCounters) {
  FakeFileSystem fs;
  fs.AddFile("/d/s/a.arw", "hello", 42);
  auto info = fs.Stat("/d/s/a.arw");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->size, 5u);
  EXPECT_EQ(info->mtime_ns, 42);
  EXPECT_EQ(fs.Stat("/d/./s//a.arw")->inode, info->inode);
  EXPECT_EQ(ReadAll(fs, "/d/s/a.arw"), "hello");
  auto c = fs.counters();
  EXPECT_EQ(c.stats, 2u);
  EXPECT_EQ(c.opens, 1u);
  EXPECT_EQ(c.bytes_read, 5u);
  EXPECT_EQ(fs.StatCount("/d/s/a.arw"), 1);
  fs.ResetCounters();
  EXPECT_EQ(fs.counters().stats, 0u);

  fs.Touch("/d/s/a.arw", 99);
  EXPECT_EQ(fs.Stat("/d/s/a.arw")->mtime_ns, 99);
  fs.AddFile("/d/s/a.arw", "changed");  // in place: same inode
  EXPECT_EQ(fs.Stat("/d/s/a.arw")->inode, info->inode);
  EXPECT_EQ(fs.Stat("/d/s/a.arw")->mtime_ns, FakeFileSystem::kStartNs);
  fs.ChangeInode("/d/s/a.arw");
  EXPECT_NE(fs.Stat("/d/s/a.arw")->inode, info->inode);
}

TEST(FakeFileSystemTest, SymlinksAndLoops) {
  FakeFileSystem fs;
  fs.AddFile("/d/real/f", "x");
  fs.AddSymlink("/d/rel", "real/f");
  fs.AddSymlink("/d/abs", "/d/real");
  fs.AddSymlink("/d/up", "..");
  fs.AddSymlink("/d/l1", "l2");
  fs.AddSymlink("/d/l2", "l1");
  EXPECT_EQ(fs.Stat("/d/rel")->type, FileType::kRegular);
  EXPECT_EQ(fs.Stat("/d/abs/f")->type, FileType::kRegular);
  EXPECT_EQ(fs.Stat("/d/up/d/up/d/real/f")->type, FileType::kRegular);
  auto loop = fs.Stat("/d/l1");
  ASSERT_FALSE(loop.ok());
  EXPECT_NE(loop.status().message().find("symbolic links"), std::string::npos);
  auto entries = fs.ListDirectory("/d");
  ASSERT_TRUE(entries.ok());
  EXPECT_EQ(entries->size(), 6u);
  EXPECT_FALSE(fs.Stat("/d/missing").ok());
}

TEST(FakeFileSystemTest, WritesAndFaults) {
  FakeFileSystem fs;
  fs.AddDirectory("/out");
  ASSERT_TRUE(fs.WriteFileAtomically("/out/a", Bytes("1")).ok());
  EXPECT_EQ(fs.Contents("/out/a"), "1");
  fs.FailWritesAfter(1, Status::ResourceExhausted("disk full"));
  EXPECT_TRUE(fs.WriteFileAtomically("/out/b", Bytes("2")).ok());
  Status s = fs.WriteFileAtomically("/out/c", Bytes("3"));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), Status::Code::kResourceExhausted);
  EXPECT_NE(s.message().find("/out/c"), std::string::npos);
  EXPECT_NE(s.message().find("disk full"), std::string::npos);
  EXPECT_FALSE(fs.Exists("/out/c"));
  fs.ClearWriteFaults();
  fs.SetWriteError("/out/masks/", Status::IoError("read-only"));
  EXPECT_FALSE(fs.WriteFileAtomically("/out/masks/x", Bytes("3")).ok());
  EXPECT_TRUE(fs.WriteFileAtomically("/out/c", Bytes("3")).ok());
  EXPECT_EQ(fs.counters().writes, 3u);
  EXPECT_EQ(fs.counters().failed_writes, 2u);
  EXPECT_FALSE(fs.WriteFileAtomically("/nodir/x", Bytes("3")).ok());
  EXPECT_TRUE(fs.RemoveFile("/out/a").ok());
  EXPECT_TRUE(fs.RemoveFile("/out/a").ok());
  EXPECT_FALSE(fs.Exists("/out/a"));
  EXPECT_TRUE(fs.CreateDirectories("/out/x/y").ok());
  EXPECT_TRUE(fs.Exists("/out/x/y"));
  fs.AdvanceNs(5);
  EXPECT_EQ(fs.NowNs(), FakeFileSystem::kStartNs + 5);
}

}  // namespace
}  // namespace dsb
