// The narrow file-system interface the build goes through.
//
// Scanning, fingerprinting and mask writing reach the disk only through
// FileSystem, so tests can substitute an in-memory fake with a controllable
// clock, and fault-injecting wrappers can prove what survives a full disk or
// a crash mid-write. (LibRaw and SQLite open their files themselves.)
//
// Paths are plain std::string byte strings: dataset names may be any bytes
// the OS allows (spaces, newlines, non-UTF-8); nothing here interprets them.
//
// Thread safety: implementations must allow concurrent calls.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/result.h"

namespace dsb {

enum class FileType : std::uint8_t { kRegular, kDirectory, kSymlink, kOther };

struct FileInfo {
  FileType type = FileType::kOther;
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;
  std::uint64_t inode = 0;
};

struct DirEntry {
  std::string name;                  // a single path component
  FileType type = FileType::kOther;  // of the entry itself (not followed)
};

// Bytes of a file mapped read-only (ReadableFile::Map); unmapped when
// destroyed.
class FileMapping {
 public:
  virtual ~FileMapping() = default;
  virtual std::span<const std::uint8_t> bytes() const = 0;
};

// A file opened for sequential reading.
class ReadableFile {
 public:
  virtual ~ReadableFile() = default;
  // Reads up to buffer.size() bytes; returns the count, 0 at end of file.
  virtual Result<std::size_t> Read(std::span<std::uint8_t> buffer) = 0;
  // For a reader that scans a large file once (hashing: no copy out of the
  // page cache). The file's size now, or nullopt when it cannot be mapped
  // (the default: fakes, pipes); the reader then uses Read.
  virtual std::optional<std::uint64_t> MappableSize() { return std::nullopt; }
  // Bytes [offset, offset + length) mapped read-only, within MappableSize.
  // Touching a page past the file's end (it shrank since) raises SIGBUS:
  // read a mapping only under hash/mapped_read.h's guard.
  virtual Result<std::unique_ptr<FileMapping>> Map(std::uint64_t offset,
                                                   std::size_t length) {
    (void)offset;
    (void)length;
    return Status::Unsupported("this file cannot be mapped");
  }
};

class FileSystem {
 public:
  virtual ~FileSystem() = default;

  virtual Result<std::vector<DirEntry>> ListDirectory(
      const std::string& path) = 0;
  // Follows symlinks (a dangling or looping link is an error).
  virtual Result<FileInfo> Stat(const std::string& path) = 0;
  virtual Result<std::unique_ptr<ReadableFile>> OpenForRead(
      const std::string& path) = 0;
  // Writes `bytes` to a temporary name in the same directory, syncs it and
  // renames it over `path`, so readers see the old file or the new one,
  // never a part.
  virtual Status WriteFileAtomically(const std::string& path,
                                     std::span<const std::uint8_t> bytes) = 0;
  // Removing a file that does not exist is not an error.
  virtual Status RemoveFile(const std::string& path) = 0;
  virtual Status CreateDirectories(const std::string& path) = 0;
  // Wall-clock now, in the same epoch and unit as FileInfo::mtime_ns.
  virtual std::int64_t NowNs() = 0;
};

// The process-wide POSIX implementation.
FileSystem& RealFileSystem();

// The suffix WriteFileAtomically gives its temporary files, so a build can
// sweep up leftovers from a crash.
inline constexpr const char* kTempSuffix = ".dsb-tmp";

}  // namespace dsb
