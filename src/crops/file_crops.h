// Writes one raw file's RawNIND training crops (crop_datasets.py's output)
// and says what it wrote.
//
// Bayer: for each window of the crop grid (crops/crop_grid.h) a 4-channel
// RGGB float16 .npy under <crops>/src/Bayer/<set>/[gt/] and a 3-channel
// lin_rec2020 half-float TIFF under <crops>/proc/lin_rec2020/<set>/[gt/],
// both named <raw file name>.<x>_<y>.<ext> with x, y the window's
// half-resolution position (RawNIND's names). Values are RawNIND's:
// (raw - black) / (white - black), unclipped, no white balance; the TIFF is
// OpenCV's edge-aware demosaic converted to lin_rec2020 (crops/camera_rgb.h).
// X-Trans: lin_rec2020 TIFFs only, from LibRaw's X-Trans demosaic
// (crops/xtrans_rgb.h).
//
// <set> is the scene's path with a leading "src/Bayer/", "src/X-Trans/",
// "Bayer/" or "X-Trans/"
// removed, so RawNIND's own tree maps onto RawNIND's crop tree; [gt/] and
// deeper folders mirror the file's place inside its scene.
//
// Memory: the file's own plane plus one band of crop rows (~8 bytes per
// pixel of the band) and one crop's encoded file at a time. Every file is
// written atomically (temp + rename) through the FileSystem.
//
// Thread safety: reentrant; different files may be cropped concurrently.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/file_system.h"
#include "common/result.h"
#include "core/raw_image.h"
#include "crops/crop_grid.h"
#include "manifest/manifest.h"

namespace dsb {

struct CropLocation {
  std::string root;       // the dataset root
  std::string crops_dir;  // absolute or relative like root; usually root/crops
  std::string scene;      // relative to the root
  std::string rel_path;   // the raw file, relative to the root
};

// The set name RawNIND would use for `scene` (see above).
std::string CropSetName(const std::string& scene);

struct FileCropsWritten {
  CropTargetRecord record;         // without hash and params
  std::vector<std::string> files;  // absolute paths written
  std::uint64_t bytes = 0;
};

// Writes the Bayer crops of `image` (decoded from location.rel_path).
Result<FileCropsWritten> WriteBayerCrops(FileSystem& fs, const RawImage& image,
                                         const CropLocation& location,
                                         const CropParams& params);

// Writes X-Trans lin_rec2020 crops from a demosaiced camera-RGB frame:
// LibRaw's image buffer (height x width x 4 uint16, channels R, G, B, -),
// scaled so 65535 is the white level (crops/xtrans_rgb.h).
Result<FileCropsWritten> WriteRgbCrops(
    FileSystem& fs, const std::uint16_t* image4, int width, int height,
    const std::array<std::array<float, 3>, 4>& rgb_xyz_matrix,
    const CropLocation& location, const CropParams& params);

}  // namespace dsb
