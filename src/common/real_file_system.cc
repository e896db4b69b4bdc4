// The POSIX FileSystem.
//
// Every call is a thin wrapper around one or a few system calls and keeps no
// shared mutable state besides the temp-name counter (atomic), so concurrent
// calls are safe. Errors name the path and the OS reason.
#include "common/real_file_system.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <system_error>

#include "common/file_system.h"

namespace dsb {
namespace {

// Longest single path component Linux file systems accept.
constexpr std::size_t kNameMax = 255;

std::string ErrnoText(int err) {
  switch (err) {
    case ENOSPC:
      return "disk full (" + std::generic_category().message(err) + ")";
    case EDQUOT:
      return "disk quota exceeded (" + std::generic_category().message(err) +
             ")";
    case ELOOP:
      return "too many levels of symbolic links (a symlink loop?)";
    default:
      return std::generic_category().message(err);
  }
}

FileType TypeFromMode(mode_t mode) {
  if (S_ISREG(mode)) return FileType::kRegular;
  if (S_ISDIR(mode)) return FileType::kDirectory;
  if (S_ISLNK(mode)) return FileType::kSymlink;
  return FileType::kOther;
}

FileType TypeFromDType(unsigned char d_type) {
  switch (d_type) {
    case DT_REG:
      return FileType::kRegular;
    case DT_DIR:
      return FileType::kDirectory;
    case DT_LNK:
      return FileType::kSymlink;
    default:
      return FileType::kOther;
  }
}

std::string DirName(const std::string& path) {
  std::size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// Closes a descriptor on scope exit unless released.
class FdCloser {
 public:
  explicit FdCloser(int fd) : fd_(fd) {}
  ~FdCloser() {
    if (fd_ >= 0) ::close(fd_);
  }
  FdCloser(const FdCloser&) = delete;
  FdCloser& operator=(const FdCloser&) = delete;
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_;
};

class PosixFileMapping : public FileMapping {
 public:
  PosixFileMapping(void* base, std::size_t length)
      : base_(base), length_(length) {}
  ~PosixFileMapping() override { ::munmap(base_, length_); }
  std::span<const std::uint8_t> bytes() const override {
    return {static_cast<const std::uint8_t*>(base_), length_};
  }

 private:
  void* base_;
  std::size_t length_;
};

class PosixReadableFile : public ReadableFile {
 public:
  PosixReadableFile(int fd, std::string path)
      : fd_(fd), path_(std::move(path)) {}
  ~PosixReadableFile() override { ::close(fd_); }

  Result<std::size_t> Read(std::span<std::uint8_t> buffer) override {
    while (true) {
      ssize_t n = ::read(fd_, buffer.data(), buffer.size());
      if (n >= 0) return static_cast<std::size_t>(n);
      if (errno == EINTR) continue;
      return PosixFileError("cannot read", path_, errno);
    }
  }

  std::optional<std::uint64_t> MappableSize() override {
    struct stat st;
    if (::fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
    return static_cast<std::uint64_t>(st.st_size);
  }

  Result<std::unique_ptr<FileMapping>> Map(std::uint64_t offset,
                                           std::size_t length) override {
    if (length == 0) return Status::InvalidArgument("empty mapping");
    void* base = ::mmap(nullptr, length, PROT_READ, MAP_SHARED, fd_,
                        static_cast<off_t>(offset));
    if (base == MAP_FAILED) return PosixFileError("cannot map", path_, errno);
    // Mappings are read front to back in windows: start reading the next
    // window from disk while this one is read (free when it is cached).
    (void)::posix_fadvise(fd_, static_cast<off_t>(offset + length),
                          static_cast<off_t>(length), POSIX_FADV_WILLNEED);
    return std::unique_ptr<FileMapping>(
        std::make_unique<PosixFileMapping>(base, length));
  }

 private:
  int fd_;
  std::string path_;
};

// A name no other process or thread picks: pid plus a per-process random
// start and an atomic counter.
std::string UniqueTag() {
  static const std::uint64_t seed = [] {
    std::random_device rd;
    return (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
  }();
  static std::atomic<std::uint64_t> counter{0};
  std::uint64_t value = seed + counter.fetch_add(1);
  char buf[64];
  std::snprintf(buf, sizeof(buf), ".%ld.%016llx", static_cast<long>(getpid()),
                static_cast<unsigned long long>(value));
  return buf;
}

std::string TempPathFor(const std::string& path) {
  std::size_t slash = path.find_last_of('/');
  std::string dir = slash == std::string::npos ? "" : path.substr(0, slash + 1);
  std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  std::string tail = UniqueTag() + kTempSuffix;
  // Names near the 255-byte limit (mask names may be) must still get a
  // temporary name; shortening the copied part of the base keeps it legal.
  if (base.size() + tail.size() > kNameMax) {
    base.resize(kNameMax - tail.size());
  }
  return dir + base + tail;
}

Status WriteAll(int fd, std::span<const std::uint8_t> bytes,
                const std::string& target) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return PosixFileError("cannot write", target, errno);
    }
    done += static_cast<std::size_t>(n);
  }
  return Status::Ok();
}

Status SyncDirectory(const std::string& dir, const std::string& target) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return PosixFileError("cannot open directory of", target, errno);
  FdCloser closer(fd);
  // Some file systems cannot sync a directory; the rename is done, so that
  // is not worth failing the write for.
  if (::fsync(fd) != 0 && errno != EINVAL && errno != EROFS) {
    return PosixFileError("cannot sync directory of", target, errno);
  }
  return Status::Ok();
}

class PosixFileSystem : public FileSystem {
 public:
  Result<std::vector<DirEntry>> ListDirectory(
      const std::string& path) override {
    DIR* dir = ::opendir(path.c_str());  // glibc opens it O_CLOEXEC
    if (dir == nullptr) {
      return PosixFileError("cannot list directory", path, errno);
    }
    std::vector<DirEntry> entries;
    while (true) {
      errno = 0;
      // readdir on a stream no other thread uses is thread safe in glibc.
      struct dirent* ent = ::readdir(dir);
      if (ent == nullptr) {
        int err = errno;
        ::closedir(dir);
        if (err != 0) return PosixFileError("cannot list directory", path, err);
        break;
      }
      std::string_view name(ent->d_name);
      if (name == "." || name == "..") continue;
      DirEntry entry;
      entry.name = std::string(name);
      if (ent->d_type != DT_UNKNOWN) {
        entry.type = TypeFromDType(ent->d_type);
      } else {
        // Some file systems (XFS without ftype, some network ones) do not
        // fill d_type.
        struct stat st;
        if (::fstatat(dirfd(dir), ent->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
          entry.type = TypeFromMode(st.st_mode);
        }
      }
      entries.push_back(std::move(entry));
    }
    return entries;
  }

  Result<FileInfo> Stat(const std::string& path) override {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) {
      int err = errno;
      if (err == ENOENT) {
        // Tell a dangling symlink from a missing file: the user will look
        // for the file otherwise.
        struct stat lst;
        if (::lstat(path.c_str(), &lst) == 0 && S_ISLNK(lst.st_mode)) {
          return Status::NotFound("cannot stat '" + path +
                                  "': dangling symbolic link");
        }
      }
      return PosixFileError("cannot stat", path, err);
    }
    FileInfo info;
    info.type = TypeFromMode(st.st_mode);
    info.size = static_cast<std::uint64_t>(st.st_size);
    info.mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 +
                    st.st_mtim.tv_nsec;
    info.inode = static_cast<std::uint64_t>(st.st_ino);
    return info;
  }

  Result<std::unique_ptr<ReadableFile>> OpenForRead(
      const std::string& path) override {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return PosixFileError("cannot open", path, errno);
    // Hashing reads whole files front to back; let the kernel read ahead.
    (void)::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    return std::unique_ptr<ReadableFile>(
        std::make_unique<PosixReadableFile>(fd, path));
  }

  Status WriteFileAtomically(const std::string& path,
                             std::span<const std::uint8_t> bytes) override {
    std::string temp = TempPathFor(path);
    int fd =
        ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0)
      return PosixFileError("cannot create temporary file for", path, errno);
    auto fail = [&](Status status) {
      ::unlink(temp.c_str());
      return status;
    };
    {
      FdCloser closer(fd);
      Status status = WriteAll(fd, bytes, path);
      if (!status.ok()) return fail(status);
      if (::fsync(fd) != 0)
        return fail(PosixFileError("cannot sync", path, errno));
      // close() can report a deferred write error (NFS, quotas).
      if (::close(closer.release()) != 0) {
        return fail(PosixFileError("cannot close", path, errno));
      }
    }
    if (::rename(temp.c_str(), path.c_str()) != 0) {
      return fail(
          PosixFileError("cannot rename temporary file onto", path, errno));
    }
    return SyncDirectory(DirName(path), path);
  }

  Status RemoveFile(const std::string& path) override {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
      return PosixFileError("cannot remove", path, errno);
    }
    return Status::Ok();
  }

  Status CreateDirectories(const std::string& path) override {
    if (path.empty()) return Status::InvalidArgument("empty directory path");
    // Create each prefix in turn; an existing one must be a directory.
    std::size_t pos = 0;
    while (pos != std::string::npos) {
      pos = path.find('/', pos + 1);
      std::string prefix = path.substr(0, pos);
      if (prefix.empty() || prefix == "/" || prefix.back() == '/') continue;
      if (::mkdir(prefix.c_str(), 0777) == 0) continue;
      int err = errno;
      if (err != EEXIST) {
        return PosixFileError("cannot create directory", prefix, err);
      }
      struct stat st;
      if (::stat(prefix.c_str(), &st) != 0) {
        return PosixFileError("cannot create directory", prefix, errno);
      }
      if (!S_ISDIR(st.st_mode)) {
        return PosixFileError("cannot create directory", prefix, ENOTDIR);
      }
    }
    return Status::Ok();
  }

  std::int64_t NowNs() override {
    struct timespec ts;
    ::clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
  }
};

}  // namespace

// "<what> <path>: <reason>", with a code that lets callers tell a missing
// file from a failing disk.
Status PosixFileError(std::string_view what, const std::string& path, int err) {
  std::string msg;
  msg.reserve(what.size() + path.size() + 64);
  msg += what;
  msg += " '";
  msg += path;
  msg += "': ";
  msg += ErrnoText(err);
  switch (err) {
    case ENOENT:
    case ENOTDIR:
      return Status::NotFound(msg);
    case ENOSPC:
    case EDQUOT:
    case ENOMEM:
    case EMFILE:
    case ENFILE:
      return Status::ResourceExhausted(msg);
    case ENAMETOOLONG:
      return Status::InvalidArgument(msg);
    default:
      return Status::IoError(msg);
  }
}

FileSystem& RealFileSystem() {
  static PosixFileSystem* const fs = new PosixFileSystem();  // never destroyed
  return *fs;
}

}  // namespace dsb
