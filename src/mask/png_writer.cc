#include "mask/png_writer.h"

#include <libdeflate.h>
#include <png.h>

#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <new>

#include "mask/row_deflate.h"

namespace dsb {

namespace {

// libpng unwinds with longjmp. The functions that call setjmp (ReadHeader,
// ReadRows) and every callback libpng may leave by longjmp keep
// only trivially destructible objects in their frames; the C++ objects they
// fill (the output vector, the decoded plane) live in their callers' frames,
// which longjmp never skips.

constexpr std::size_t kErrorBytes = 256;

void OnPngError(png_structp png, png_const_charp message) {
  auto* error = static_cast<char*>(png_get_error_ptr(png));
  std::snprintf(error, kErrorBytes, "%s", message);
  png_longjmp(png, 1);
}

void OnPngWarning(png_structp, png_const_charp) {}

struct DecodeJob {
  const std::uint8_t* bytes = nullptr;
  std::size_t size = 0;
  std::size_t pos = 0;
  png_structp png = nullptr;
  png_infop info = nullptr;
  png_uint_32 width = 0;
  png_uint_32 height = 0;
  int bit_depth = 0;
  int color_type = 0;
  int interlace = 0;
  char error[kErrorBytes] = {};
};

void OnRead(png_structp png, png_bytep out, png_size_t length) {
  auto* job = static_cast<DecodeJob*>(png_get_io_ptr(png));
  if (length > job->size - job->pos) png_error(png, "unexpected end of data");
  std::memcpy(out, job->bytes + job->pos, length);
  job->pos += length;
}

bool ReadHeader(DecodeJob* job) {
  if (setjmp(png_jmpbuf(job->png))) return false;
  png_set_read_fn(job->png, job, OnRead);
  png_read_info(job->png, job->info);
  png_get_IHDR(job->png, job->info, &job->width, &job->height, &job->bit_depth,
               &job->color_type, &job->interlace, nullptr, nullptr);
  return true;
}

bool ReadRows(DecodeJob* job, std::uint8_t* pixels, std::ptrdiff_t stride) {
  if (setjmp(png_jmpbuf(job->png))) return false;
  for (png_uint_32 y = 0; y < job->height; ++y) {
    png_read_row(job->png, pixels + static_cast<std::ptrdiff_t>(y) * stride,
                 nullptr);
  }
  png_read_end(job->png, nullptr);
  return true;
}

// Owns the libpng read structures of one decode (in DecodeGreyPng's frame,
// which no longjmp crosses).
class ReaderGuard {
 public:
  explicit ReaderGuard(DecodeJob* job) : job_(job) {}
  ~ReaderGuard() {
    if (job_->png != nullptr) {
      png_destroy_read_struct(&job_->png, job_->info ? &job_->info : nullptr,
                              nullptr);
    }
  }
  ReaderGuard(const ReaderGuard&) = delete;
  ReaderGuard& operator=(const ReaderGuard&) = delete;

 private:
  DecodeJob* job_;
};

void PutBigEndian(std::uint8_t* at, std::uint32_t v) {
  for (int i = 0; i < 4; ++i)
    at[i] = static_cast<std::uint8_t>(v >> (24 - 8 * i));
}

// A PNG chunk: its length, filled in by EndChunk, then its type and data,
// then the CRC-32 (libdeflate's) of type and data.
std::size_t BeginChunk(std::vector<std::uint8_t>& out, const char* type) {
  const std::size_t at = out.size();
  out.resize(at + 4);
  out.insert(out.end(), type, type + 4);
  return at;
}

void EndChunk(std::vector<std::uint8_t>& out, std::size_t at) {
  const std::size_t length = out.size() - at - 8;
  PutBigEndian(out.data() + at, static_cast<std::uint32_t>(length));
  const std::uint32_t crc = static_cast<std::uint32_t>(
      libdeflate_crc32(0, out.data() + at + 4, length + 4));
  std::uint8_t tail[4];
  PutBigEndian(tail, crc);
  out.insert(out.end(), tail, tail + 4);
}

std::string Label(std::string_view name) {
  return name.empty() ? std::string("<png>") : std::string(name);
}

}  // namespace

Result<std::vector<std::uint8_t>> EncodeGreyPng(
    PlaneView<const std::uint8_t> image, std::string_view name) {
  if (image.empty() || image.data == nullptr) {
    return Status::InvalidArgument(Label(name) +
                                   ": cannot encode an empty mask as PNG");
  }
  std::vector<std::uint8_t> out;
  try {
    // Mostly-constant masks compress to well under 1% of their size.
    out.reserve(4096 + image.pixel_count() / 64);
    static constexpr std::uint8_t kSignature[8] = {137, 80, 78, 71,
                                                   13,  10, 26, 10};
    out.insert(out.end(), kSignature, kSignature + 8);
    std::uint8_t header[13] = {};
    PutBigEndian(header, static_cast<std::uint32_t>(image.width));
    PutBigEndian(header + 4, static_cast<std::uint32_t>(image.height));
    header[8] = 8;  // bit depth; colour type 0 (grey), deflate, filter
                    // method 0, no interlace
    const std::size_t ihdr = BeginChunk(out, "IHDR");
    out.insert(out.end(), header, header + sizeof(header));
    EndChunk(out, ihdr);
    const std::size_t idat = BeginChunk(out, "IDAT");
    DeflatePngRows(image, out);
    if (out.size() - idat - 8 > 0x7fffffffu) {
      return Status::Unsupported(Label(name) +
                                 ": mask too large for one PNG chunk");
    }
    EndChunk(out, idat);
    EndChunk(out, BeginChunk(out, "IEND"));
  } catch (const std::bad_alloc&) {
    return Status::ResourceExhausted(Label(name) +
                                     ": out of memory while encoding PNG");
  }
  return out;
}

Result<Plane<std::uint8_t>> DecodeGreyPng(std::span<const std::uint8_t> bytes,
                                          std::string_view name) {
  if (bytes.size() < 8 || png_sig_cmp(bytes.data(), 0, 8) != 0) {
    return Status::Corrupt(Label(name) + ": not a PNG file");
  }
  DecodeJob job;
  job.bytes = bytes.data();
  job.size = bytes.size();
  ReaderGuard guard(&job);
  job.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, job.error, OnPngError,
                                   OnPngWarning);
  if (job.png == nullptr) {
    return Status::ResourceExhausted(Label(name) +
                                     ": cannot create a libpng reader");
  }
  job.info = png_create_info_struct(job.png);
  if (job.info == nullptr) {
    return Status::ResourceExhausted(Label(name) +
                                     ": cannot create a libpng info");
  }
  if (!ReadHeader(&job)) {
    return Status::Corrupt(Label(name) + ": libpng: " + job.error);
  }
  if (job.bit_depth != 8 || job.color_type != PNG_COLOR_TYPE_GRAY ||
      job.interlace != PNG_INTERLACE_NONE) {
    return Status::Unsupported(Label(name) +
                               ": not an 8-bit non-interlaced greyscale PNG");
  }
  // libpng already refuses sizes above its user limits (1M x 1M); this
  // keeps the allocation within what a Plane can index.
  const std::uint64_t pixels =
      static_cast<std::uint64_t>(job.width) * job.height;
  if (job.width > 0x7fffffffu || job.height > 0x7fffffffu ||
      pixels > (std::uint64_t{1} << 32)) {
    return Status::Unsupported(Label(name) + ": PNG is too large");
  }
  Plane<std::uint8_t> plane(static_cast<int>(job.width),
                            static_cast<int>(job.height));
  if (!ReadRows(&job, plane.data(), plane.width())) {
    return Status::Corrupt(Label(name) + ": libpng: " + job.error);
  }
  return plane;
}

Status WriteGreyPng(FileSystem& fs, const std::string& path,
                    PlaneView<const std::uint8_t> image) {
  DSB_ASSIGN_OR_RETURN(std::vector<std::uint8_t> bytes,
                       EncodeGreyPng(image, path));
  return fs.WriteFileAtomically(path, bytes);
}

Result<Plane<std::uint8_t>> ReadGreyPng(FileSystem& fs,
                                        const std::string& path) {
  DSB_ASSIGN_OR_RETURN(std::unique_ptr<ReadableFile> file,
                       fs.OpenForRead(path));
  std::vector<std::uint8_t> bytes;
  std::vector<std::uint8_t> chunk(1 << 16);
  for (;;) {
    DSB_ASSIGN_OR_RETURN(std::size_t got, file->Read(chunk));
    if (got == 0) break;
    bytes.insert(bytes.end(), chunk.begin(), chunk.begin() + got);
  }
  return DecodeGreyPng(bytes, path);
}

}  // namespace dsb
