#include "report/jpeg_writer.h"

// clang-format off
#include <cstdio>  // jpeglib.h needs FILE and size_t first
#include <csetjmp>
#include <jpeglib.h>
// clang-format on

#include <cstdlib>
#include <cstring>
#include <string>

namespace dsb {

namespace {

struct ErrorManager {
  jpeg_error_mgr base;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

void OnError(j_common_ptr info) {
  auto* errors = reinterpret_cast<ErrorManager*>(info->err);
  (*info->err->format_message)(info, errors->message);
  std::longjmp(errors->jump, 1);
}

// Plain C state only: longjmp skips destructors. On success *out is a
// malloc'd buffer the caller frees. Returns false with `errors->message`.
bool EncodeRaw(const std::uint8_t* rgb, int width, int height, int quality,
               unsigned char** out, unsigned long* out_size,
               ErrorManager* errors) {
  jpeg_compress_struct info;
  info.err = jpeg_std_error(&errors->base);
  errors->base.error_exit = OnError;
  if (setjmp(errors->jump)) {
    jpeg_destroy_compress(&info);
    return false;
  }
  jpeg_create_compress(&info);
  jpeg_mem_dest(&info, out, out_size);
  info.image_width = static_cast<JDIMENSION>(width);
  info.image_height = static_cast<JDIMENSION>(height);
  info.input_components = 3;
  info.in_color_space = JCS_RGB;
  jpeg_set_defaults(&info);
  jpeg_set_quality(&info, quality, TRUE);
  jpeg_start_compress(&info, TRUE);
  while (info.next_scanline < info.image_height) {
    JSAMPROW row = const_cast<JSAMPROW>(
        rgb + static_cast<std::size_t>(info.next_scanline) * width * 3);
    jpeg_write_scanlines(&info, &row, 1);
  }
  jpeg_finish_compress(&info);
  jpeg_destroy_compress(&info);
  return true;
}

}  // namespace

Result<std::vector<std::uint8_t>> EncodeJpeg(const RgbImage& image,
                                             std::string_view name,
                                             int quality) {
  if (image.width <= 0 || image.height <= 0 ||
      image.rgb.size() !=
          static_cast<std::size_t>(image.width) * image.height * 3) {
    return Status::InvalidArgument("cannot encode an empty preview for " +
                                   std::string(name));
  }
  unsigned char* buffer = nullptr;
  unsigned long size = 0;
  ErrorManager errors{};
  const bool ok = EncodeRaw(image.rgb.data(), image.width, image.height,
                            quality, &buffer, &size, &errors);
  std::vector<std::uint8_t> bytes;
  if (ok) bytes.assign(buffer, buffer + size);
  std::free(buffer);
  if (!ok) {
    return Status::Internal("libjpeg: " + std::string(errors.message) +
                            " (encoding the preview of " + std::string(name) +
                            ")");
  }
  return bytes;
}

}  // namespace dsb
