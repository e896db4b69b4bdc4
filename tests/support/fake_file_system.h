// An in-memory FileSystem for unit tests, in the manner of ninja's
// VirtualFileSystem: a tree of files (bytes, mtime, inode), directories and
// symlinks (loops included), a clock the test sets, and logs of every stat,
// listing, open, write and remove so a test can assert that a rerun did no
// work ("read nothing", "stat()ed each file once"). Writes can be made to
// fail (disk full after n writes, or under a path prefix) to test error
// paths.
//
// Paths are absolute byte strings ("/data/scene/gt/a.arw"); "." components
// and repeated slashes are ignored, ".." goes to the parent. Symlink targets
// may be relative (to the link's directory) or absolute.
//
// Thread safety: every method takes one internal mutex, so concurrent calls
// (a multi-threaded build under test) are safe. Files from OpenForRead read
// a snapshot of the bytes at open time and must not outlive the fake.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/file_system.h"

namespace dsb::testing {

class FakeFileSystem : public FileSystem {
 public:
  // What the code under test asked of the disk since the last
  // ResetCounters().
  struct Counters {
    std::uint64_t stats = 0;
    std::uint64_t lists = 0;
    std::uint64_t opens = 0;
    std::uint64_t bytes_read = 0;
    std::uint64_t writes = 0;  // successful WriteFileAtomically calls
    std::uint64_t failed_writes = 0;
    std::uint64_t removes = 0;
    std::uint64_t mkdirs = 0;  // CreateDirectories calls
  };

  // The clock starts at a fixed, realistic time (2023-11-14).
  static constexpr std::int64_t kStartNs = 1'700'000'000'000'000'000;

  FakeFileSystem();
  ~FakeFileSystem() override;

  // --- Setting up the tree (not counted, not logged) ---

  // Creates or overwrites a file, creating parent directories. An
  // overwritten file keeps its inode (like writing in place); `mtime_ns`
  // defaults to the clock.
  void AddFile(const std::string& path, std::string_view bytes,
               std::optional<std::int64_t> mtime_ns = std::nullopt);
  void AddDirectory(const std::string& path);
  // `target` is stored verbatim, as symlink(2) would.
  void AddSymlink(const std::string& path, const std::string& target);
  // Sets a file's mtime (default: the clock), like touch(1). Aborts the
  // test if `path` does not exist.
  void Touch(const std::string& path,
             std::optional<std::int64_t> mtime_ns = std::nullopt);
  // Gives the file a new inode, as a copy-and-rename over it would.
  void ChangeInode(const std::string& path);
  // Removes a file, symlink or directory tree (no-op if absent).
  void Remove(const std::string& path);
  // ListDirectory / OpenForRead of `path` fail with "permission denied".
  void SetUnreadable(const std::string& path, bool unreadable = true);

  // --- Fault injection ---

  // The next `n` writes succeed; every later one fails with `error` (for
  // example Status::ResourceExhausted("disk full")) and leaves the disk as
  // it was.
  void FailWritesAfter(int n, Status error);
  // Writes to any path starting with `path_prefix` fail with `error`.
  void SetWriteError(const std::string& path_prefix, Status error);
  void ClearWriteFaults();

  // --- The clock ---

  void SetNowNs(std::int64_t now_ns);
  void AdvanceNs(std::int64_t delta_ns);

  // --- Inspection (not counted, not logged) ---

  bool Exists(const std::string& path) const;  // without following the last
  // The file's bytes (following symlinks), or nullopt.
  std::optional<std::string> Contents(const std::string& path) const;
  // Every path in the tree, sorted, directories with a trailing '/'.
  std::vector<std::string> AllPaths() const;

  Counters counters() const;
  void ResetCounters();
  // Paths passed to each operation, in call order, since ResetCounters().
  std::vector<std::string> stat_log() const;
  std::vector<std::string> list_log() const;
  std::vector<std::string> open_log() const;
  std::vector<std::string> write_log() const;
  std::vector<std::string> remove_log() const;
  // How many times Stat(path) was called with exactly this string.
  int StatCount(const std::string& path) const;

  // --- FileSystem ---

  Result<std::vector<DirEntry>> ListDirectory(const std::string& path) override;
  Result<FileInfo> Stat(const std::string& path) override;
  Result<std::unique_ptr<ReadableFile>> OpenForRead(
      const std::string& path) override;
  Status WriteFileAtomically(const std::string& path,
                             std::span<const std::uint8_t> bytes) override;
  Status RemoveFile(const std::string& path) override;
  Status CreateDirectories(const std::string& path) override;
  std::int64_t NowNs() override;

 private:
  struct Node;
  struct WriteFault {
    std::string prefix;
    Status error;
  };

  // Finds the node for `path`; symlinks in the middle are always followed,
  // the last component only when `follow_last`.
  Result<Node*> Lookup(const std::string& path, bool follow_last) const;
  // Creates missing directories along `path` (following symlinks) and
  // returns the last one.
  Result<Node*> MakeDirs(const std::string& path);
  // The parent directory node and the last component of `path`.
  Result<std::pair<Node*, std::string>> Parent(const std::string& path);
  std::unique_ptr<Node> NewNode(int type);

  mutable std::mutex mu_;
  std::unique_ptr<Node> root_;
  std::int64_t now_ns_ = kStartNs;
  std::uint64_t next_inode_ = 1000;
  Counters counters_;
  std::vector<std::string> stat_log_, list_log_, open_log_, write_log_,
      remove_log_;
  std::optional<int> writes_before_failure_;
  Status write_failure_;
  std::vector<WriteFault> write_faults_;
};

}  // namespace dsb::testing
