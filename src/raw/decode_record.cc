#include "raw/decode_record.h"

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <functional>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

namespace dsb {

namespace {

constexpr char kMagic[8] = {'D', 'S', 'B', 'D', 'E', 'C', 'O', 'D'};
constexpr std::size_t kPrefixSize = 24;
// Metadata is a few hundred bytes; anything near this is not ours.
constexpr std::uint32_t kMaxBodySize = 64 * 1024;
constexpr std::uint32_t kMaxStringSize = 4096;
// No sensor is 1M pixels on a side; the limit keeps width * height * 4
// far from overflowing.
constexpr std::int32_t kMaxSide = 1 << 20;
// Pixels start on a page boundary so the writer can map them (mmap offsets
// are page multiples).
constexpr std::size_t kPixelAlignment = 4096;

enum class Kind : std::uint32_t { kImage = 1, kError = 2 };
enum class Encoding : std::uint32_t { kFloat = 1, kRaw16 = 2, kRemote16 = 3 };
// A black level tile is at most this many pixels on a side.
constexpr std::uint32_t kMaxLevelSide = 4096;
// Raw values are normalised this many rows at a time when read with pread.
constexpr int kRowsPerRead = 16;

class Writer {
 public:
  template <typename T>
  void Put(const T& value) {
    static_assert(std::is_trivially_copyable_v<T>);
    const auto* bytes = reinterpret_cast<const std::uint8_t*>(&value);
    bytes_.insert(bytes_.end(), bytes, bytes + sizeof(T));
  }
  void PutString(const std::string& text) {
    Put(static_cast<std::uint32_t>(text.size()));
    bytes_.insert(bytes_.end(), text.begin(), text.end());
  }
  std::vector<std::uint8_t>& bytes() { return bytes_; }

 private:
  std::vector<std::uint8_t> bytes_;
};

// Reads fields from an untrusted byte range; the first read past the end
// sets failed() and every later read returns zeros.
class Reader {
 public:
  Reader(const std::uint8_t* data, std::size_t size)
      : data_(data), left_(size) {}
  template <typename T>
  T Get() {
    T value{};
    if (left_ < sizeof(T)) {
      failed_ = true;
      return value;
    }
    std::memcpy(&value, data_, sizeof(T));
    data_ += sizeof(T);
    left_ -= sizeof(T);
    return value;
  }
  std::string GetString() {
    const std::uint32_t size = Get<std::uint32_t>();
    if (failed_ || size > kMaxStringSize || size > left_) {
      failed_ = true;
      return {};
    }
    std::string text(reinterpret_cast<const char*>(data_), size);
    data_ += size;
    left_ -= size;
    return text;
  }
  bool failed() const { return failed_; }
  std::size_t left() const { return left_; }

 private:
  const std::uint8_t* data_;
  std::size_t left_;
  bool failed_ = false;
};

std::size_t PixelOffset(std::size_t body_size) {
  const std::size_t end = kPrefixSize + body_size;
  return (end + kPixelAlignment - 1) / kPixelAlignment * kPixelAlignment;
}

Status WriteAll(int fd, const void* data, std::size_t size, off_t offset) {
  const auto* bytes = static_cast<const std::uint8_t*>(data);
  while (size > 0) {
    const ssize_t n = ::pwrite(fd, bytes, size, offset);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      return Status::IoError(std::string("cannot write the decode record: ") +
                             std::strerror(n < 0 ? errno : EIO));
    }
    bytes += n;
    size -= static_cast<std::size_t>(n);
    offset += n;
  }
  return Status::Ok();
}

// Reads exactly `size` bytes at `offset`; false on a short read or error.
bool ReadAll(int fd, void* data, std::size_t size, off_t offset) {
  auto* bytes = static_cast<std::uint8_t*>(data);
  while (size > 0) {
    const ssize_t n = ::pread(fd, bytes, size, offset);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes += n;
    size -= static_cast<std::size_t>(n);
    offset += n;
  }
  return true;
}

Status MalformedRecord(const std::string& path, const std::string& why) {
  return Status::Internal(
      "the decoder process returned a malformed result for '" + path + "' (" +
      why +
      "); this is a bug in dataset-build, or the file corrupted the "
      "decoder's memory");
}

std::optional<Status> StatusFromCode(std::uint32_t code,
                                     const std::string& message) {
  using Code = Status::Code;
  switch (static_cast<Code>(code)) {
    case Code::kNotFound:
      return Status::NotFound(message);
    case Code::kInvalidArgument:
      return Status::InvalidArgument(message);
    case Code::kIoError:
      return Status::IoError(message);
    case Code::kCorrupt:
      return Status::Corrupt(message);
    case Code::kUnsupported:
      return Status::Unsupported(message);
    case Code::kResourceExhausted:
      return Status::ResourceExhausted(message);
    case Code::kCancelled:
      return Status::Cancelled(message);
    case Code::kBusy:
      return Status::Busy(message);
    case Code::kInternal:
      return Status::Internal(message);
    case Code::kOk:
      break;
  }
  return std::nullopt;  // kOk is not an error; other values are not codes
}

// The pattern a period and 6x6 grid describe, if it is one this tool
// handles (the same ones the decoder produces).
std::optional<CfaPattern> PatternFrom(std::uint32_t period,
                                      const std::uint8_t (&colors)[36]) {
  CfaPattern::Grid grid{};
  bool seen[3] = {false, false, false};
  for (int i = 0; i < 36; ++i) {
    if (colors[i] > 2) return std::nullopt;
    grid[i / 6][i % 6] = static_cast<CfaColor>(colors[i]);
    seen[colors[i]] = true;
  }
  if (period == 6) {
    if (!seen[0] || !seen[1] || !seen[2]) return std::nullopt;
    return CfaPattern::XTrans(grid);
  }
  if (period != 2) return std::nullopt;
  for (BayerOrder order : {BayerOrder::kRGGB, BayerOrder::kBGGR,
                           BayerOrder::kGRBG, BayerOrder::kGBRG}) {
    const CfaPattern bayer = CfaPattern::Bayer(order);
    bool same = true;
    for (int i = 0; i < 36 && same; ++i) {
      same = bayer.color_at(i / 6, i % 6) == grid[i / 6][i % 6];
    }
    if (same) return bayer;
  }
  return std::nullopt;
}

}  // namespace

namespace {

// The record's prefix and body for an image (pixels not included).
// Where the raw values of a kRemote16 record are.
struct RemoteRows {
  std::uint64_t address = 0;
  std::uint64_t pitch = 0;  // values
};

// `levels`: null for float pixels, else the raw values' levels; `remote`:
// where they are when not in the record.
std::vector<std::uint8_t> ImageHeader(int width, int height,
                                      const CfaPattern& cfa,
                                      const RawMetadata& meta,
                                      const BlackLevels* levels,
                                      const RemoteRows* remote = nullptr) {
  Writer body;
  body.Put(static_cast<std::int32_t>(width));
  body.Put(static_cast<std::int32_t>(height));
  body.Put(static_cast<std::uint32_t>(cfa.period()));
  for (int i = 0; i < 36; ++i) {
    body.Put(static_cast<std::uint8_t>(cfa.color_at(i / 6, i % 6)));
  }
  body.PutString(meta.make.substr(0, kMaxStringSize));
  body.PutString(meta.model.substr(0, kMaxStringSize));
  body.Put(meta.iso);
  body.Put(static_cast<std::int32_t>(meta.raw_width));
  body.Put(static_cast<std::int32_t>(meta.raw_height));
  body.Put(static_cast<std::int32_t>(meta.visible_top));
  body.Put(static_cast<std::int32_t>(meta.visible_left));
  body.Put(meta.black);
  body.Put(meta.white);
  body.Put(meta.wb_coeffs);
  body.Put(meta.rgb_xyz_matrix);
  body.Put(meta.overexposure_lb);
  body.Put(levels == nullptr   ? Encoding::kFloat
           : remote == nullptr ? Encoding::kRaw16
                               : Encoding::kRemote16);
  if (levels != nullptr) {
    body.Put(static_cast<std::uint32_t>(levels->height));
    body.Put(static_cast<std::uint32_t>(levels->width));
    body.Put(levels->white);
    for (float black : levels->black) body.Put(black);
  }
  if (remote != nullptr) {
    body.Put(remote->address);
    body.Put(remote->pitch);
  }
  const std::size_t body_size = body.bytes().size() + 2 * sizeof(std::uint64_t);
  const std::size_t pixel_bytes =
      remote != nullptr
          ? 0
          : static_cast<std::size_t>(width) * static_cast<std::size_t>(height) *
                (levels == nullptr ? sizeof(float) : sizeof(std::uint16_t));
  body.Put(static_cast<std::uint64_t>(PixelOffset(body_size)));
  body.Put(static_cast<std::uint64_t>(pixel_bytes));

  Writer record;
  for (char c : kMagic) record.Put(c);
  record.Put(kDecodeRecordVersion);
  record.Put(static_cast<std::uint32_t>(Kind::kImage));
  record.Put(static_cast<std::uint32_t>(body.bytes().size()));
  record.Put(std::uint32_t{0});
  std::vector<std::uint8_t>& bytes = record.bytes();
  bytes.insert(bytes.end(), body.bytes().begin(), body.bytes().end());
  bytes.resize(PixelOffset(body.bytes().size()), 0);
  return std::move(bytes);
}

}  // namespace

RecordMapping::~RecordMapping() {
  if (data_ != nullptr) ::munmap(data_, size_);
}

Result<std::uint8_t*> RecordMapping::Reserve(std::size_t bytes) {
  if (bytes <= size_) return data_;
  if (data_ != nullptr) ::munmap(data_, size_);
  data_ = nullptr;
  size_ = 0;
  if (::ftruncate(fd_, static_cast<off_t>(bytes)) != 0) {
    return Status::IoError(std::string("cannot size the decode record: ") +
                           std::strerror(errno));
  }
  // MAP_POPULATE allocates the pages in one call, not one trap per page.
  void* mapped = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                        MAP_SHARED | MAP_POPULATE, fd_, 0);
  if (mapped == MAP_FAILED) {
    return Status::IoError(std::string("cannot map the decode record: ") +
                           std::strerror(errno));
  }
  data_ = static_cast<std::uint8_t*>(mapped);
  size_ = bytes;
  return data_;
}

namespace {

Status CheckLevels(const BlackLevels& levels) {
  if (levels.height <= 0 || levels.width <= 0 ||
      levels.black.size() != static_cast<std::size_t>(levels.height) *
                                 static_cast<std::size_t>(levels.width) ||
      levels.black.size() > kMaxRecordBlackLevels) {
    return Status::Internal("black levels of " + std::to_string(levels.height) +
                            "x" + std::to_string(levels.width) +
                            " do not fit a decode record");
  }
  return Status::Ok();
}

// Writes an image record whose `pixel_bytes` of pixels `fill` writes into
// the memory it is given (see WriteImageRecord).
Status WritePixelRecord(int fd, const std::vector<std::uint8_t>& header,
                        std::size_t pixel_bytes,
                        const std::function<void(void*)>& fill,
                        RecordMapping* mapping, std::uint64_t* record_size) {
  const std::size_t total = header.size() + pixel_bytes;
  if (record_size != nullptr) *record_size = total;
  if (mapping != nullptr) {
    DSB_ASSIGN_OR_RETURN(std::uint8_t * data, mapping->Reserve(total));
    fill(data + header.size());
    std::memcpy(data, header.data(), header.size());
    return Status::Ok();
  }
  // Sizing first lets the kernel allocate the memfd's pages in one go.
  if (::ftruncate(fd, static_cast<off_t>(total)) != 0) {
    return Status::IoError(std::string("cannot size the decode record: ") +
                           std::strerror(errno));
  }
  // The pixels are written once, straight into the record's pages
  // (MAP_POPULATE faults them in with one call, not one trap per page).
  void* mapped =
      ::mmap(nullptr, pixel_bytes, PROT_READ | PROT_WRITE,
             MAP_SHARED | MAP_POPULATE, fd, static_cast<off_t>(header.size()));
  if (mapped != MAP_FAILED) {
    fill(mapped);
    ::munmap(mapped, pixel_bytes);
  } else {
    // Not mappable (not a memfd or regular file): through a buffer.
    std::vector<std::uint8_t> pixels(pixel_bytes);
    fill(pixels.data());
    DSB_RETURN_IF_ERROR(WriteAll(fd, pixels.data(), pixel_bytes,
                                 static_cast<off_t>(header.size())));
  }
  return WriteAll(fd, header.data(), header.size(), 0);
}

}  // namespace

Status WriteImageRecord(int fd, int width, int height, const CfaPattern& cfa,
                        const RawMetadata& meta, const PixelFill& fill,
                        RecordMapping* mapping, std::uint64_t* record_size) {
  const std::size_t pixel_bytes = static_cast<std::size_t>(width) *
                                  static_cast<std::size_t>(height) *
                                  sizeof(float);
  return WritePixelRecord(
      fd, ImageHeader(width, height, cfa, meta, nullptr), pixel_bytes,
      [&](void* data) {
        fill(PlaneView<float>{static_cast<float*>(data), width, height, width});
      },
      mapping, record_size);
}

Status WriteRawImageRecord(int fd, int width, int height, const CfaPattern& cfa,
                           const RawMetadata& meta, const BlackLevels& levels,
                           const RawFill& fill, RecordMapping* mapping,
                           std::uint64_t* record_size) {
  DSB_RETURN_IF_ERROR(CheckLevels(levels));
  const std::size_t pixel_bytes = static_cast<std::size_t>(width) *
                                  static_cast<std::size_t>(height) *
                                  sizeof(std::uint16_t);
  return WritePixelRecord(
      fd, ImageHeader(width, height, cfa, meta, &levels), pixel_bytes,
      [&](void* data) { fill(static_cast<std::uint16_t*>(data)); }, mapping,
      record_size);
}

Status WriteRemoteImageRecord(int fd, int width, int height,
                              const CfaPattern& cfa, const RawMetadata& meta,
                              const BlackLevels& levels,
                              const std::uint16_t* rows, std::size_t pitch,
                              RecordMapping* mapping,
                              std::uint64_t* record_size) {
  DSB_RETURN_IF_ERROR(CheckLevels(levels));
  const RemoteRows remote{reinterpret_cast<std::uintptr_t>(rows), pitch};
  return WritePixelRecord(
      fd, ImageHeader(width, height, cfa, meta, &levels, &remote), 0,
      [](void*) {}, mapping, record_size);
}

Status WriteErrorRecord(int fd, const Status& error, RecordMapping* mapping,
                        std::uint64_t* record_size) {
  Writer record;
  for (char c : kMagic) record.Put(c);
  const std::string message = error.message().substr(0, kMaxStringSize);
  record.Put(kDecodeRecordVersion);
  record.Put(static_cast<std::uint32_t>(Kind::kError));
  record.Put(
      static_cast<std::uint32_t>(2 * sizeof(std::uint32_t) + message.size()));
  record.Put(std::uint32_t{0});
  record.Put(static_cast<std::uint32_t>(error.code()));
  record.PutString(message);
  const std::vector<std::uint8_t>& bytes = record.bytes();
  if (record_size != nullptr) *record_size = bytes.size();
  if (mapping != nullptr) {
    DSB_ASSIGN_OR_RETURN(std::uint8_t * data, mapping->Reserve(bytes.size()));
    std::memcpy(data, bytes.data(), bytes.size());
    return Status::Ok();
  }
  if (::ftruncate(fd, static_cast<off_t>(bytes.size())) != 0) {
    return Status::IoError(std::string("cannot size the decode record: ") +
                           std::strerror(errno));
  }
  return WriteAll(fd, bytes.data(), bytes.size(), 0);
}

Status WriteDecodeRecord(int fd, const Result<RawImage>& decoded) {
  if (!decoded.ok()) return WriteErrorRecord(fd, decoded.status());
  const RawImage& image = *decoded;
  return WriteImageRecord(
      fd, image.width(), image.height(), image.cfa, image.meta,
      [&](PlaneView<float> out) {
        for (int y = 0; y < image.height(); ++y) {
          std::memcpy(out.row(y), image.pixels.row(y),
                      static_cast<std::size_t>(image.width()) * sizeof(float));
        }
      });
}

namespace {

// Reads `size` bytes at `offset` of a record into `data`; false on a short
// read.
using RecordRead =
    std::function<bool(void* data, std::size_t size, std::uint64_t offset)>;

// The record of `file_size` bytes that `read` gives, parsed and checked
// (see ReadDecodeRecord).
// `direct`: the record's bytes in memory, when it is mapped (the pixels
// are then read in place), else null.
Result<RawImage> ParseRecord(std::uint64_t file_size, const RecordRead& read,
                             const std::uint8_t* direct,
                             const std::string& path, std::size_t max_pixels,
                             const PlanePool* pool,
                             const RemoteRead* remote = nullptr,
                             RemotePixels* remote_pixels = nullptr,
                             const RemoteFill* fill = nullptr);

}  // namespace

Result<RawImage> ReadDecodeRecord(
    int fd, const std::string& path, std::size_t max_pixels,
    std::uint64_t record_size, const PlanePool* pool, const RemoteRead* remote,
    RemotePixels* remote_pixels, const RemoteFill* fill) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    return Status::Internal("cannot read the decode result for '" + path +
                            "': " + std::strerror(errno));
  }
  if (record_size > static_cast<std::uint64_t>(st.st_size)) {
    return MalformedRecord(path, "a record of " + std::to_string(record_size) +
                                     " bytes in a file of " +
                                     std::to_string(st.st_size));
  }
  // From here on the record is the file's first file_size bytes.
  const auto file_size =
      record_size != 0 ? record_size : static_cast<std::uint64_t>(st.st_size);
  return ParseRecord(
      file_size,
      [fd](void* data, std::size_t size, std::uint64_t offset) {
        return ReadAll(fd, data, size, static_cast<off_t>(offset));
      },
      nullptr, path, max_pixels, pool, remote, remote_pixels, fill);
}

Result<RawImage> ReadDecodeRecord(
    std::span<const std::uint8_t> mapped, const std::string& path,
    std::size_t max_pixels, std::uint64_t record_size, const PlanePool* pool,
    const RemoteRead* remote, RemotePixels* remote_pixels,
    const RemoteFill* fill) {
  if (record_size > mapped.size()) {
    return MalformedRecord(path, "a record of " + std::to_string(record_size) +
                                     " bytes in a file of " +
                                     std::to_string(mapped.size()));
  }
  const std::uint64_t file_size =
      record_size != 0 ? record_size : mapped.size();
  return ParseRecord(
      file_size,
      [mapped](void* data, std::size_t size, std::uint64_t offset) {
        if (offset > mapped.size() || size > mapped.size() - offset) {
          return false;
        }
        std::memcpy(data, mapped.data() + offset, size);
        return true;
      },
      mapped.data(), path, max_pixels, pool, remote, remote_pixels, fill);
}

namespace {

Result<RawImage> ParseRecord(std::uint64_t file_size, const RecordRead& read,
                             const std::uint8_t* direct,
                             const std::string& path, std::size_t max_pixels,
                             const PlanePool* pool, const RemoteRead* remote,
                             RemotePixels* remote_pixels,
                             const RemoteFill* fill) {
  if (remote_pixels != nullptr) *remote_pixels = RemotePixels::kNone;
  auto malformed = [&](const std::string& why) {
    return MalformedRecord(path, why);
  };
  if (file_size == 0) return malformed("no output");
  if (file_size < kPrefixSize) {
    return malformed("only " + std::to_string(file_size) + " bytes");
  }
  std::uint8_t prefix[kPrefixSize];
  if (!read(prefix, kPrefixSize, 0)) return malformed("short read");
  if (std::memcmp(prefix, kMagic, sizeof(kMagic)) != 0) {
    return malformed("no record header");
  }
  Reader head(prefix + sizeof(kMagic), kPrefixSize - sizeof(kMagic));
  const auto version = head.Get<std::uint32_t>();
  const auto kind = static_cast<Kind>(head.Get<std::uint32_t>());
  const auto body_size = head.Get<std::uint32_t>();
  if (version != kDecodeRecordVersion) {
    return malformed("record version " + std::to_string(version) +
                     ", expected " + std::to_string(kDecodeRecordVersion) +
                     ": the worker is a different dataset-build");
  }
  if (body_size > kMaxBodySize || kPrefixSize + body_size > file_size) {
    return malformed("body of " + std::to_string(body_size) +
                     " bytes in a record of " + std::to_string(file_size));
  }
  std::vector<std::uint8_t> body_bytes(body_size);
  if (!read(body_bytes.data(), body_size, kPrefixSize)) {
    return malformed("short read");
  }
  Reader body(body_bytes.data(), body_bytes.size());

  if (kind == Kind::kError) {
    const auto code = body.Get<std::uint32_t>();
    std::string message = body.GetString();
    if (body.failed() || body.left() != 0 ||
        file_size != kPrefixSize + body_size) {
      return malformed("inconsistent error record");
    }
    std::optional<Status> status = StatusFromCode(code, message);
    if (!status) return malformed("error code " + std::to_string(code));
    return *status;
  }
  if (kind != Kind::kImage) {
    return malformed("record kind " +
                     std::to_string(static_cast<std::uint32_t>(kind)));
  }

  const auto width = body.Get<std::int32_t>();
  const auto height = body.Get<std::int32_t>();
  const auto period = body.Get<std::uint32_t>();
  std::uint8_t colors[36];
  for (std::uint8_t& color : colors) color = body.Get<std::uint8_t>();
  RawImage image;
  RawMetadata& meta = image.meta;
  meta.make = body.GetString();
  meta.model = body.GetString();
  meta.iso = body.Get<float>();
  meta.raw_width = body.Get<std::int32_t>();
  meta.raw_height = body.Get<std::int32_t>();
  meta.visible_top = body.Get<std::int32_t>();
  meta.visible_left = body.Get<std::int32_t>();
  meta.black = body.Get<decltype(meta.black)>();
  meta.white = body.Get<float>();
  meta.wb_coeffs = body.Get<decltype(meta.wb_coeffs)>();
  meta.rgb_xyz_matrix = body.Get<decltype(meta.rgb_xyz_matrix)>();
  meta.overexposure_lb = body.Get<float>();
  const auto encoding = body.Get<Encoding>();
  BlackLevels levels;
  const bool raw16 =
      encoding == Encoding::kRaw16 || encoding == Encoding::kRemote16;
  if (raw16) {
    const auto level_height = body.Get<std::uint32_t>();
    const auto level_width = body.Get<std::uint32_t>();
    if (level_height == 0 || level_width == 0 || level_height > kMaxLevelSide ||
        level_width > kMaxLevelSide ||
        std::size_t{level_height} * level_width > kMaxRecordBlackLevels) {
      return malformed("black level tile of " + std::to_string(level_height) +
                       "x" + std::to_string(level_width));
    }
    levels.height = static_cast<int>(level_height);
    levels.width = static_cast<int>(level_width);
    levels.white = body.Get<float>();
    levels.black.resize(std::size_t{level_height} * level_width);
    for (float& black : levels.black) black = body.Get<float>();
  } else if (encoding != Encoding::kFloat) {
    return malformed("pixel encoding " +
                     std::to_string(static_cast<std::uint32_t>(encoding)));
  }
  RemoteRows rows;
  if (encoding == Encoding::kRemote16) {
    rows.address = body.Get<std::uint64_t>();
    rows.pitch = body.Get<std::uint64_t>();
  }
  const std::size_t sample_bytes = encoding == Encoding::kRemote16 ? 0
                                   : raw16 ? sizeof(std::uint16_t)
                                           : sizeof(float);
  const auto pixel_offset = body.Get<std::uint64_t>();
  const auto pixel_bytes = body.Get<std::uint64_t>();
  if (body.failed() || body.left() != 0) {
    return malformed("image record of the wrong length");
  }
  if (width <= 0 || height <= 0 || width > kMaxSide || height > kMaxSide) {
    return malformed("image size " + std::to_string(width) + "x" +
                     std::to_string(height));
  }
  const std::uint64_t pixels =
      static_cast<std::uint64_t>(width) * static_cast<std::uint64_t>(height);
  if (max_pixels != 0 && pixels > max_pixels) {
    return malformed(std::to_string(width) + "x" + std::to_string(height) +
                     " pixels, over the limit of " +
                     std::to_string(max_pixels));
  }
  if (meta.visible_top < 0 || meta.visible_left < 0 ||
      meta.raw_width < meta.visible_left + width ||
      meta.raw_height < meta.visible_top + height ||
      meta.raw_width > kMaxSide || meta.raw_height > kMaxSide) {
    return malformed("visible area outside the sensor readout");
  }
  if (pixel_offset != PixelOffset(body_size) ||
      pixel_bytes != pixels * sample_bytes ||
      file_size != pixel_offset + pixel_bytes) {
    return malformed("pixel data of " + std::to_string(pixel_bytes) +
                     " bytes at " + std::to_string(pixel_offset) + " for a " +
                     std::to_string(width) + "x" + std::to_string(height) +
                     " image in a record of " + std::to_string(file_size) +
                     " bytes");
  }
  if (encoding == Encoding::kRemote16) {
    if (remote == nullptr || !*remote) {
      return malformed("pixels left in the decoder's memory");
    }
    if (rows.pitch < static_cast<std::uint64_t>(width) ||
        rows.pitch > static_cast<std::uint64_t>(kMaxSide)) {
      return malformed("row pitch " + std::to_string(rows.pitch) +
                       " for rows of " + std::to_string(width));
    }
  }
  std::optional<CfaPattern> cfa = PatternFrom(period, colors);
  if (!cfa) return malformed("unknown CFA pattern");
  image.cfa = *cfa;
  image.path = path;
  if (encoding == Encoding::kRemote16 && fill != nullptr && *fill) {
    // The writer normalises its values straight into a plane we adopt.
    Result<Plane<float>> filled = (*fill)(width, height);
    if (filled.ok()) {
      if (filled->width() != width || filled->height() != height) {
        return Status::Internal("the plane filled for '" + path +
                                "' has the wrong size");
      }
      image.pixels = std::move(filled).value();
      if (remote_pixels != nullptr) *remote_pixels = RemotePixels::kTaken;
      return image;
    }
    if (filled.status().code() != Status::Code::kUnsupported) {
      return filled.status();
    }
  }
  // Every byte of the plane is read below: no fill.
  if (pool != nullptr) {
    image.pixels = pool->Acquire(width, height);
  } else {
    image.pixels.Resize(width, height);
  }
  if (encoding == Encoding::kFloat) {
    if (!read(image.pixels.data(), pixel_bytes, pixel_offset)) {
      return malformed("short read of the pixels");
    }
    return image;
  }
  // Raw values, normalised on the way in (raw/normalise.h).
  RowNormaliser normaliser(levels, width, height);
  normaliser.PrepareDestination(image.pixels.data(), pixels * sizeof(float));
  const auto row_values = static_cast<std::size_t>(width);
  if (encoding == Encoding::kRemote16) {
    // Out of the worker's memory, a few rows at a time (a wrong address
    // fails the read, never this process).
    std::vector<std::uint16_t> values(kRowsPerRead * row_values);
    const std::size_t pitch_bytes = rows.pitch * sizeof(std::uint16_t);
    for (int y0 = 0; y0 < height; y0 += kRowsPerRead) {
      const int count = std::min(kRowsPerRead, height - y0);
      const int error =
          (*remote)(rows.address + y0 * pitch_bytes, pitch_bytes, count,
                    row_values * sizeof(std::uint16_t), values.data());
      if (error == EPERM || error == EACCES || error == ENOSYS) {
        if (remote_pixels != nullptr) *remote_pixels = RemotePixels::kRefused;
        return Status::Unsupported("cannot read the decoder's memory for '" +
                                   path + "': " + std::strerror(error));
      }
      if (error != 0) {
        return malformed("cannot read its pixels: " +
                         std::string(std::strerror(error)));
      }
      for (int r = 0; r < count; ++r) {
        normaliser.Row(y0 + r, values.data() + r * row_values,
                       image.pixels.row(y0 + r));
      }
    }
    if (remote_pixels != nullptr) *remote_pixels = RemotePixels::kTaken;
    return image;
  }
  if (direct != nullptr) {
    // Checked above: the record (pixels included) lies inside the mapping.
    const auto* values =
        reinterpret_cast<const std::uint16_t*>(direct + pixel_offset);
    for (int y = 0; y < height; ++y) {
      normaliser.Row(y, values + y * row_values, image.pixels.row(y));
    }
    return image;
  }
  std::vector<std::uint16_t> values(kRowsPerRead * row_values);
  for (int y0 = 0; y0 < height; y0 += kRowsPerRead) {
    const int rows = std::min(kRowsPerRead, height - y0);
    const std::size_t bytes = rows * row_values * sizeof(std::uint16_t);
    if (!read(values.data(), bytes,
              pixel_offset + y0 * row_values * sizeof(std::uint16_t))) {
      return malformed("short read of the pixels");
    }
    for (int r = 0; r < rows; ++r) {
      normaliser.Row(y0 + r, values.data() + r * row_values,
                     image.pixels.row(y0 + r));
    }
  }
  return image;
}

}  // namespace

}  // namespace dsb
