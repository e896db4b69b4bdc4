#include "crops/crop_files.h"

#include <tiffio.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <memory>

#include "common/tiff_status.h"

namespace dsb {

namespace {

// A growable in-memory file for TIFFClientOpen.
struct MemoryFile {
  std::vector<std::uint8_t> bytes;
  toff_t position = 0;
};

tsize_t MemRead(thandle_t, tdata_t, tsize_t) { return 0; }

tsize_t MemWrite(thandle_t handle, tdata_t data, tsize_t size) {
  auto* file = static_cast<MemoryFile*>(handle);
  const std::size_t end = static_cast<std::size_t>(file->position) + size;
  if (end > file->bytes.size()) file->bytes.resize(end);
  std::memcpy(file->bytes.data() + file->position, data, size);
  file->position = end;
  return size;
}

toff_t MemSeek(thandle_t handle, toff_t offset, int whence) {
  auto* file = static_cast<MemoryFile*>(handle);
  toff_t base = 0;
  if (whence == SEEK_CUR) base = file->position;
  if (whence == SEEK_END) base = file->bytes.size();
  file->position = base + offset;
  return file->position;
}

int MemClose(thandle_t) { return 0; }

toff_t MemSize(thandle_t handle) {
  return static_cast<MemoryFile*>(handle)->bytes.size();
}

int MemMap(thandle_t, tdata_t*, toff_t*) { return 0; }
void MemUnmap(thandle_t, tdata_t, toff_t) {}

struct TiffCloser {
  void operator()(TIFF* tif) const { TIFFClose(tif); }
};

}  // namespace

std::vector<std::uint8_t> EncodeNpyHalf(std::span<const std::uint16_t> halves,
                                        int channels, int height, int width) {
  std::string header = "{'descr': '<f2', 'fortran_order': False, 'shape': (" +
                       std::to_string(channels) + ", " +
                       std::to_string(height) + ", " + std::to_string(width) +
                       "), }";
  // Magic (6) + version (2) + length (2) + header + '\n', padded with
  // spaces to a multiple of 64 bytes (the format's alignment).
  const std::size_t unpadded = 10 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header += '\n';
  std::vector<std::uint8_t> bytes;
  bytes.reserve(10 + header.size() + halves.size() * 2);
  const char magic[] = "\x93NUMPY\x01\x00";
  bytes.insert(bytes.end(), magic, magic + 8);
  bytes.push_back(static_cast<std::uint8_t>(header.size() & 0xff));
  bytes.push_back(static_cast<std::uint8_t>(header.size() >> 8));
  bytes.insert(bytes.end(), header.begin(), header.end());
  const std::size_t data_start = bytes.size();
  bytes.resize(data_start + halves.size() * 2);
  // x86 and ARM are little-endian, as '<f2' says.
  std::memcpy(bytes.data() + data_start, halves.data(), halves.size() * 2);
  return bytes;
}

Result<std::vector<std::uint8_t>> EncodeHalfTiff(
    std::span<const std::uint16_t> halves, int height, int width,
    const std::string& name) {
  if (halves.size() != static_cast<std::size_t>(height) * width * 3) {
    return Status::Internal("half TIFF '" + name + "': wrong buffer size");
  }
  CaptureTiffErrors();
  MemoryFile file;
  file.bytes.reserve(halves.size() * 2 + 4096);
  std::unique_ptr<TIFF, TiffCloser> tif(
      TIFFClientOpen(name.c_str(), "w", &file, MemRead, MemWrite, MemSeek,
                     MemClose, MemSize, MemMap, MemUnmap));
  const auto failed = [&](const char* what) { return TiffError(what, name); };
  if (!tif) return failed("cannot encode TIFF");
  TIFF* t = tif.get();
  const int rows_per_strip = 64;
  static const float kPrimaries[6] = {0.708f, 0.292f, 0.170f,
                                      0.797f, 0.131f, 0.046f};
  static const float kWhite[2] = {0.3127f, 0.3290f};
  TIFFSetField(t, TIFFTAG_IMAGEWIDTH, static_cast<std::uint32_t>(width));
  TIFFSetField(t, TIFFTAG_IMAGELENGTH, static_cast<std::uint32_t>(height));
  TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, 3);
  TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, 16);
  TIFFSetField(t, TIFFTAG_SAMPLEFORMAT, SAMPLEFORMAT_IEEEFP);
  TIFFSetField(t, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
  TIFFSetField(t, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_RGB);
  TIFFSetField(t, TIFFTAG_COMPRESSION, COMPRESSION_NONE);
  TIFFSetField(t, TIFFTAG_ROWSPERSTRIP, rows_per_strip);
  TIFFSetField(t, TIFFTAG_PRIMARYCHROMATICITIES, kPrimaries);
  TIFFSetField(t, TIFFTAG_WHITEPOINT, kWhite);
  const std::size_t row_values = static_cast<std::size_t>(width) * 3;
  for (int y = 0, strip = 0; y < height; y += rows_per_strip, ++strip) {
    const int rows = std::min(rows_per_strip, height - y);
    const std::size_t bytes = row_values * rows * 2;
    if (TIFFWriteEncodedStrip(
            t, strip,
            const_cast<std::uint16_t*>(halves.data() + row_values * y),
            static_cast<tmsize_t>(bytes)) < 0) {
      return failed("cannot encode TIFF");
    }
  }
  tif.reset();  // TIFFClose writes the directory
  if (TiffReportedError()) return failed("cannot encode TIFF");
  return std::move(file.bytes);
}

}  // namespace dsb
