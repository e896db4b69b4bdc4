#include "common/tiff_status.h"

#include <tiffio.h>

#include <cstdarg>
#include <cstdio>

namespace dsb {

namespace {

thread_local std::string tls_tiff_error;

void OnTiffError(const char* module, const char* fmt, va_list ap) {
  char buffer[512];
  std::vsnprintf(buffer, sizeof buffer, fmt, ap);
  tls_tiff_error = std::string(module ? module : "libtiff") + ": " + buffer;
}

}  // namespace

void CaptureTiffErrors() {
  TIFFSetErrorHandler(&OnTiffError);
  TIFFSetWarningHandler(nullptr);
  tls_tiff_error.clear();
}

bool TiffReportedError() { return !tls_tiff_error.empty(); }

Status TiffError(const std::string& what, const std::string& path) {
  return Status::IoError(
      what + " '" + path +
      "': " + (tls_tiff_error.empty() ? "libtiff failed" : tls_tiff_error));
}

}  // namespace dsb
