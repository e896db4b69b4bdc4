#include "synth/dng_writer.h"

#include <tiffio.h>

#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <memory>
#include <vector>

#include "common/tiff_status.h"

namespace dsb {

namespace {

struct TiffCloser {
  void operator()(TIFF* tif) const { TIFFClose(tif); }
};

}  // namespace

Status WriteCfaDng(const std::string& path, const RawImage& image,
                   const DngWriteOptions& options) {
  if (options.bits < 8 || options.bits > 16) {
    return Status::InvalidArgument("cannot write DNG '" + path +
                                   "': bits must be 8..16");
  }
  const int w = image.width(), h = image.height();
  if (!image.cfa.is_xtrans() &&
      (options.masked_top % 2 != 0 || options.masked_left % 2 != 0)) {
    return Status::InvalidArgument(
        "cannot write DNG '" + path +
        "': a Bayer masked border needs even top/left offsets (LibRaw 0.20 "
        "rounds odd ones)");
  }
  if (options.masked_top < 0 || options.masked_left < 0 ||
      options.masked_bottom < 0 || options.masked_right < 0) {
    return Status::InvalidArgument("cannot write DNG '" + path +
                                   "': negative masked border");
  }
  const int raw_w = w + options.masked_left + options.masked_right;
  const int raw_h = h + options.masked_top + options.masked_bottom;
  const int white = (1 << options.bits) - 1;
  for (int b : options.black) {
    if (b < 0 || b >= white) {
      return Status::InvalidArgument("cannot write DNG '" + path +
                                     "': black level out of range");
    }
  }
  CaptureTiffErrors();
  std::unique_ptr<TIFF, TiffCloser> tif(TIFFOpen(path.c_str(), "w"));
  if (!tif) return TiffError("cannot create DNG", path);
  TIFF* t = tif.get();

  const int period = image.cfa.period();
  std::vector<std::uint8_t> cfa(static_cast<std::size_t>(period) * period);
  for (int y = 0; y < period; ++y) {
    for (int x = 0; x < period; ++x) {
      cfa[y * period + x] = static_cast<std::uint8_t>(image.cfa.color_at(y, x));
    }
  }
  const std::uint16_t cfa_dim[2] = {static_cast<std::uint16_t>(period),
                                    static_cast<std::uint16_t>(period)};
  const std::uint8_t dng_version[4] = {1, 4, 0, 0};
  const std::uint8_t dng_backward[4] = {1, 1, 0, 0};
  const std::uint16_t black_dim[2] = {2, 2};
  float black[4];
  for (int i = 0; i < 4; ++i) black[i] = static_cast<float>(options.black[i]);
  std::uint32_t white_level = static_cast<std::uint32_t>(white);
  const std::uint32_t active[4] = {
      static_cast<std::uint32_t>(options.masked_top),
      static_cast<std::uint32_t>(options.masked_left),
      static_cast<std::uint32_t>(options.masked_top + h),
      static_cast<std::uint32_t>(options.masked_left + w)};
  float matrix[9];
  bool has_matrix = false;
  for (int r = 0; r < 3; ++r) {
    for (int c = 0; c < 3; ++c) {
      matrix[r * 3 + c] = image.meta.rgb_xyz_matrix[r][c];
      has_matrix |= matrix[r * 3 + c] != 0;
    }
  }
  if (!has_matrix) {
    for (int i = 0; i < 9; ++i) matrix[i] = (i % 4 == 0) ? 1.0f : 0.0f;
  }
  const auto& wb = image.meta.wb_coeffs;
  float neutral[3] = {1.0f / std::max(wb[0], 1e-3f), 1.0f,
                      1.0f / std::max(wb[2], 1e-3f)};
  const std::string unique = options.make + " " + options.model;

  bool ok = true;
  ok &= TIFFSetField(t, TIFFTAG_SUBFILETYPE, 0) == 1;
  ok &= TIFFSetField(t, TIFFTAG_IMAGEWIDTH, raw_w) == 1;
  ok &= TIFFSetField(t, TIFFTAG_IMAGELENGTH, raw_h) == 1;
  ok &= TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, 16) == 1;
  ok &= TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, 1) == 1;
  ok &= TIFFSetField(t, TIFFTAG_COMPRESSION, COMPRESSION_NONE) == 1;
  ok &= TIFFSetField(t, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_CFA) == 1;
  ok &= TIFFSetField(t, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG) == 1;
  ok &= TIFFSetField(
            t, TIFFTAG_ROWSPERSTRIP,
            std::max(1, std::min(raw_h, (1 << 22) / (2 * raw_w + 1)))) == 1;
  ok &= TIFFSetField(t, TIFFTAG_MAKE, options.make.c_str()) == 1;
  ok &= TIFFSetField(t, TIFFTAG_MODEL, options.model.c_str()) == 1;
  ok &= TIFFSetField(t, TIFFTAG_SOFTWARE, "dataset-build synth") == 1;
  ok &= TIFFSetField(t, TIFFTAG_DNGVERSION, dng_version) == 1;
  ok &= TIFFSetField(t, TIFFTAG_DNGBACKWARDVERSION, dng_backward) == 1;
  ok &= TIFFSetField(t, TIFFTAG_UNIQUECAMERAMODEL, unique.c_str()) == 1;
  ok &= TIFFSetField(t, TIFFTAG_CFAREPEATPATTERNDIM, cfa_dim) == 1;
  ok &= TIFFSetField(t, TIFFTAG_CFAPATTERN, static_cast<int>(cfa.size()),
                     cfa.data()) == 1;
  ok &= TIFFSetField(t, TIFFTAG_CFALAYOUT, 1) == 1;
  ok &= TIFFSetField(t, TIFFTAG_BLACKLEVELREPEATDIM, black_dim) == 1;
  ok &= TIFFSetField(t, TIFFTAG_BLACKLEVEL, 4, black) == 1;
  ok &= TIFFSetField(t, TIFFTAG_WHITELEVEL, 1, &white_level) == 1;
  ok &= TIFFSetField(t, TIFFTAG_ACTIVEAREA, active) == 1;
  ok &= TIFFSetField(t, TIFFTAG_COLORMATRIX1, 9, matrix) == 1;
  ok &= TIFFSetField(t, TIFFTAG_CALIBRATIONILLUMINANT1, 21) == 1;  // D65
  ok &= TIFFSetField(t, TIFFTAG_ASSHOTNEUTRAL, 3, neutral) == 1;
  // A placeholder EXIF pointer reserves the tag in IFD0; it is patched
  // with the sub-IFD's offset once that is written (libtiff can only write
  // a custom directory after the main one).
  const bool write_exif = options.iso > 0;
  if (write_exif) ok &= TIFFSetField(t, TIFFTAG_EXIFIFD, std::uint64_t{0}) == 1;
  if (!ok) return TiffError("cannot set DNG tags of", path);

  // The whole image in one buffer, written strip by strip.
  std::vector<std::uint16_t> raw(static_cast<std::size_t>(raw_w) * raw_h);
  for (int y = 0; y < raw_h; ++y) {
    std::uint16_t* row = &raw[static_cast<std::size_t>(y) * raw_w];
    const int vy = y - options.masked_top;
    for (int x = 0; x < raw_w; ++x) {
      const int vx = x - options.masked_left;
      // Masked pixels read black of their 2x2 position.
      const int by = ((vy % 2) + 2) % 2, bx = ((vx % 2) + 2) % 2;
      const int b = options.black[by * 2 + bx];
      float v = 0;
      if (vy >= 0 && vy < h && vx >= 0 && vx < w) v = image.pixels.at(vy, vx);
      const long q = std::lround(v * static_cast<float>(white - b) + b);
      row[x] = static_cast<std::uint16_t>(std::clamp<long>(q, 0, white));
    }
  }
  const std::uint32_t rows_per_strip = [&] {
    std::uint32_t r = 0;
    TIFFGetField(t, TIFFTAG_ROWSPERSTRIP, &r);
    return r;
  }();
  const std::size_t strip_count = (raw_h + rows_per_strip - 1) / rows_per_strip;
  for (std::size_t s = 0; s < strip_count; ++s) {
    const std::size_t y0 = s * rows_per_strip;
    const std::size_t rows = std::min<std::size_t>(rows_per_strip, raw_h - y0);
    if (TIFFWriteEncodedStrip(t, static_cast<std::uint32_t>(s),
                              &raw[y0 * raw_w],
                              static_cast<tmsize_t>(rows * raw_w * 2)) < 0) {
      return TiffError("cannot write DNG", path);
    }
  }
  if (!TIFFWriteDirectory(t)) return TiffError("cannot write DNG", path);
  if (write_exif) {
    // LibRaw reads the ISO only from the EXIF sub-IFD of a DNG.
    const std::uint16_t iso =
        static_cast<std::uint16_t>(std::clamp(options.iso, 1, 65535));
    std::uint64_t exif_offset = 0;
    // TIFFCreateEXIFDirectory returns 0 on success, unlike most of libtiff.
    if (TIFFCreateEXIFDirectory(t) != 0 ||
        TIFFSetField(t, EXIFTAG_ISOSPEEDRATINGS, 1, &iso) != 1 ||
        !TIFFWriteCustomDirectory(t, &exif_offset)) {
      return TiffError("cannot write the EXIF directory of DNG", path);
    }
    if (!TIFFSetDirectory(t, 0) ||
        TIFFSetField(t, TIFFTAG_EXIFIFD, exif_offset) != 1 ||
        !TIFFRewriteDirectory(t)) {
      return TiffError("cannot link the EXIF directory of DNG", path);
    }
  }
  TIFF* released = tif.release();
  TIFFClose(released);
  return Status::Ok();
}

}  // namespace dsb
