#include "synth/photo_reader.h"

#include <png.h>
// jpeglib.h needs FILE and size_t declared first.
#include <jpeglib.h>

#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <system_error>

namespace dsb {

namespace {

constexpr int kMaxSide = 20000;  // larger is a damaged or hostile header

Result<std::vector<std::uint8_t>> ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int err = errno;
    const std::string why = std::generic_category().message(err);
    if (err == ENOENT) return Status::NotFound(path + ": " + why);
    return Status::IoError(path + ": cannot open: " + why);
  }
  std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                                  std::istreambuf_iterator<char>());
  if (in.bad()) return Status::IoError(path + ": read error");
  return bytes;
}

Result<Srgb8Image> DecodePng(const std::vector<std::uint8_t>& bytes,
                             const std::string& path) {
  // The simplified API reports errors in image.message, never by longjmp
  // into our frames.
  png_image image;
  std::memset(&image, 0, sizeof image);
  image.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_memory(&image, bytes.data(), bytes.size())) {
    return Status::Corrupt(path + ": not a readable PNG: " + image.message);
  }
  if (image.width < 1 || image.height < 1 || image.width > kMaxSide ||
      image.height > kMaxSide) {
    png_image_free(&image);
    return Status::Unsupported(path + ": PNG of " +
                               std::to_string(image.width) + "x" +
                               std::to_string(image.height) + " pixels");
  }
  image.format = PNG_FORMAT_RGB;
  Srgb8Image out;
  out.width = static_cast<int>(image.width);
  out.height = static_cast<int>(image.height);
  out.rgb.resize(PNG_IMAGE_SIZE(image));
  png_color black{0, 0, 0};
  if (!png_image_finish_read(&image, &black, out.rgb.data(), 0, nullptr)) {
    const std::string message = image.message;
    png_image_free(&image);
    return Status::Corrupt(path + ": damaged PNG: " + message);
  }
  return out;
}

struct JpegError {
  jpeg_error_mgr manager;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

void OnJpegError(j_common_ptr cinfo) {
  auto* error = reinterpret_cast<JpegError*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, error->message);
  std::longjmp(error->jump, 1);
}

void IgnoreJpegMessage(j_common_ptr) {}

// libjpeg reports errors by longjmp: this frame holds no C++ objects with
// destructors and changes no local after setjmp; the pixels go to `out`,
// sized by `reserve` once the header is known.
bool DecodeJpegFrame(const std::uint8_t* data, std::size_t size,
                     Srgb8Image* out, JpegError* error) {
  jpeg_decompress_struct cinfo;
  cinfo.err = jpeg_std_error(&error->manager);
  error->manager.error_exit = OnJpegError;
  error->manager.output_message = IgnoreJpegMessage;
  error->message[0] = '\0';
  if (setjmp(error->jump)) {
    jpeg_destroy_decompress(&cinfo);
    return false;
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, data, static_cast<unsigned long>(size));
  jpeg_read_header(&cinfo, TRUE);
  if (cinfo.image_width < 1 || cinfo.image_height < 1 ||
      cinfo.image_width > kMaxSide || cinfo.image_height > kMaxSide) {
    std::snprintf(error->message, sizeof error->message, "JPEG of %ux%u pixels",
                  cinfo.image_width, cinfo.image_height);
    jpeg_destroy_decompress(&cinfo);
    return false;
  }
  cinfo.out_color_space = JCS_RGB;  // greyscale and YCbCr both convert
  jpeg_start_decompress(&cinfo);
  out->width = static_cast<int>(cinfo.output_width);
  out->height = static_cast<int>(cinfo.output_height);
  out->rgb.resize(static_cast<std::size_t>(out->width) * out->height * 3);
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW row =
        out->rgb.data() +
        static_cast<std::size_t>(cinfo.output_scanline) * out->width * 3;
    jpeg_read_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  return true;
}

Result<Srgb8Image> DecodeJpeg(const std::vector<std::uint8_t>& bytes,
                              const std::string& path) {
  Srgb8Image out;
  JpegError error;
  if (!DecodeJpegFrame(bytes.data(), bytes.size(), &out, &error)) {
    return Status::Corrupt(path +
                           ": damaged or unsupported JPEG: " + error.message);
  }
  return out;
}

}  // namespace

Result<Srgb8Image> ReadPhoto(const std::string& path) {
  auto bytes = ReadBytes(path);
  if (!bytes.ok()) return bytes.status();
  const std::vector<std::uint8_t>& b = *bytes;
  static constexpr std::uint8_t kPng[8] = {0x89, 'P',  'N',  'G',
                                           '\r', '\n', 0x1a, '\n'};
  if (b.size() >= 8 && std::memcmp(b.data(), kPng, 8) == 0) {
    return DecodePng(b, path);
  }
  if (b.size() >= 3 && b[0] == 0xff && b[1] == 0xd8 && b[2] == 0xff) {
    return DecodeJpeg(b, path);
  }
  return Status::Unsupported(path + ": not a PNG or JPEG file");
}

}  // namespace dsb
