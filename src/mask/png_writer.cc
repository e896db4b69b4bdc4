#include "mask/png_writer.h"

#include <png.h>
#include <zlib.h>

#include <csetjmp>
#include <cstdio>
#include <cstring>

namespace dsb {

namespace {

// libpng unwinds with longjmp. The functions that call setjmp (RunEncode,
// ReadHeader, ReadRows) and every callback libpng may leave by longjmp keep
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

struct EncodeJob {
  const std::uint8_t* pixels = nullptr;
  int width = 0;
  int height = 0;
  std::ptrdiff_t stride = 0;
  int level = 1;
  int strategy = Z_RLE;
  std::vector<std::uint8_t>* out = nullptr;
  char error[kErrorBytes] = {};
};

void OnWrite(png_structp png, png_bytep data, png_size_t length) {
  auto* job = static_cast<EncodeJob*>(png_get_io_ptr(png));
  bool failed = false;
  try {
    job->out->insert(job->out->end(), data, data + length);
  } catch (...) {
    failed = true;
  }
  // Outside the catch block: longjmp must not leave a handler.
  if (failed) png_error(png, "out of memory while encoding");
}

void OnFlush(png_structp) {}

bool RunEncode(EncodeJob* job) {
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, job->error,
                                            OnPngError, OnPngWarning);
  if (png == nullptr) {
    std::snprintf(job->error, kErrorBytes, "cannot create a libpng writer");
    return false;
  }
  png_infop info = png_create_info_struct(png);
  if (info == nullptr) {
    png_destroy_write_struct(&png, nullptr);
    std::snprintf(job->error, kErrorBytes, "cannot create a libpng info");
    return false;
  }
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    return false;
  }
  png_set_write_fn(png, job, OnWrite, OnFlush);
  png_set_IHDR(png, info, static_cast<png_uint_32>(job->width),
               static_cast<png_uint_32>(job->height), 8, PNG_COLOR_TYPE_GRAY,
               PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  png_set_compression_level(png, job->level);
  png_set_compression_strategy(png, job->strategy);
  // No filter: a two-level mask's rows are runs (or a period-2 pattern)
  // already, and the UP filter cost a pass over every row for a few
  // percent of size (EncodeGreyPng).
  png_set_filter(png, PNG_FILTER_TYPE_BASE, PNG_FILTER_NONE);
  png_write_info(png, info);
  for (int y = 0; y < job->height; ++y) {
    png_write_row(png, job->pixels + y * job->stride);
  }
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return true;
}

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

// Whether the image's runs of equal pixels are short (under 8 pixels on
// average over every 32nd row). A mask whose clipping is per sample zeroes
// one sample in two or four over wide areas (a clipped red): runs of one
// pixel, which run-length matching (Z_RLE, distance 1) cannot take: on a
// 24 MP warm photograph it wrote 3.3 MB at twice the time. Full LZ77 matching
// at level 1 finds their period (0.65 MB, in 0.45x the time); on masks of
// long runs both take the same time and Z_RLE writes a quarter of the bytes.
bool HasShortRuns(PlaneView<const std::uint8_t> image) {
  std::int64_t pixels = 0;
  std::int64_t changes = 0;
  for (int y = 0; y < image.height; y += 32) {
    const std::uint8_t* row = image.row(y);
    int n = 0;
    for (int x = 1; x < image.width; ++x) n += row[x] != row[x - 1];
    changes += n;
    pixels += image.width;
  }
  return changes * 8 > pixels;
}

std::string Label(std::string_view name) {
  return name.empty() ? std::string("<png>") : std::string(name);
}

}  // namespace

Result<std::vector<std::uint8_t>> EncodeGreyPng(
    PlaneView<const std::uint8_t> image, std::string_view name,
    const PngOptions& options) {
  if (image.empty() || image.data == nullptr) {
    return Status::InvalidArgument(Label(name) +
                                   ": cannot encode an empty mask as PNG");
  }
  if (options.compression_level < 0 || options.compression_level > 9) {
    return Status::InvalidArgument(Label(name) +
                                   ": PNG compression level must be 0..9");
  }
  std::vector<std::uint8_t> out;
  // Mostly-constant masks compress to well under 1% of their size.
  out.reserve(4096 + image.pixel_count() / 64);
  EncodeJob job;
  job.pixels = image.data;
  job.width = image.width;
  job.height = image.height;
  job.stride = image.stride;
  job.level = options.compression_level;
  job.strategy = HasShortRuns(image) ? Z_DEFAULT_STRATEGY : Z_RLE;
  job.out = &out;
  if (!RunEncode(&job)) {
    return Status::Internal(Label(name) + ": libpng: " + job.error);
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
                    PlaneView<const std::uint8_t> image,
                    const PngOptions& options) {
  DSB_ASSIGN_OR_RETURN(std::vector<std::uint8_t> bytes,
                       EncodeGreyPng(image, path, options));
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
