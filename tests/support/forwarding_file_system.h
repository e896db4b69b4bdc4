// The real file system, for fakes that change one or two of its calls:
// derive from this, override those, and everything else reaches
// RealFileSystem() unchanged (tests of what a build does when a disk fills
// or a file shrinks under it).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/file_system.h"

namespace dsb::testing {

class ForwardingFileSystem : public FileSystem {
 public:
  Result<std::vector<DirEntry>> ListDirectory(
      const std::string& path) override {
    return real_.ListDirectory(path);
  }
  Result<FileInfo> Stat(const std::string& path) override {
    return real_.Stat(path);
  }
  Result<std::unique_ptr<ReadableFile>> OpenForRead(
      const std::string& path) override {
    return real_.OpenForRead(path);
  }
  Status WriteFileAtomically(const std::string& path,
                             std::span<const std::uint8_t> bytes) override {
    return real_.WriteFileAtomically(path, bytes);
  }
  Status RemoveFile(const std::string& path) override {
    return real_.RemoveFile(path);
  }
  Status CreateDirectories(const std::string& path) override {
    return real_.CreateDirectories(path);
  }
  std::int64_t NowNs() override { return real_.NowNs(); }

 protected:
  FileSystem& real_ = RealFileSystem();
};

}  // namespace dsb::testing
