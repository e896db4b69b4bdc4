#include "crops/file_crops.h"

#include <algorithm>
#include <cstring>
#include <set>
#include <span>

#include "crops/camera_rgb.h"
#include "crops/crop_files.h"
#include "crops/opencv_calls.h"

namespace dsb {

namespace {

bool IsInside(const std::string& path, const std::string& dir) {
  return path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 &&
         path[dir.size()] == '/';
}

std::string Recorded(const std::string& path, const std::string& root) {
  return IsInside(path, root) ? path.substr(root.size() + 1) : path;
}

// The folder of the file inside its scene ("gt/", "" for a noisy capture)
// and its name.
void SplitInScene(const CropLocation& location, std::string& folder,
                  std::string& name) {
  std::string inside = location.rel_path;
  if (location.scene != "." && IsInside(inside, location.scene)) {
    inside = inside.substr(location.scene.size() + 1);
  }
  const std::size_t slash = inside.rfind('/');
  folder = slash == std::string::npos ? "" : inside.substr(0, slash + 1);
  name = slash == std::string::npos ? inside : inside.substr(slash + 1);
}

struct CropDirs {
  std::string bayer, linrec, name;
};

CropDirs DirsFor(const CropLocation& location) {
  CropDirs dirs;
  std::string folder;
  SplitInScene(location, folder, dirs.name);
  const std::string set = CropSetName(location.scene);
  const std::string tail = (set.empty() ? "" : set + "/") + folder;
  dirs.bayer = location.crops_dir + "/src/Bayer/" + tail;
  dirs.linrec = location.crops_dir + "/proc/lin_rec2020/" + tail;
  return dirs;
}

std::string CropName(const std::string& name, const CropWindow& w,
                     const char* ext) {
  return name + "." + std::to_string(w.x) + "_" + std::to_string(w.y) + "." +
         ext;
}

Status WriteBytes(FileSystem& fs, const std::string& path,
                  const std::vector<std::uint8_t>& bytes,
                  FileCropsWritten& written) {
  DSB_RETURN_IF_ERROR(fs.WriteFileAtomically(path, bytes));
  written.files.push_back(path);
  written.bytes += bytes.size();
  return Status::Ok();
}

// Converts camera RGB (h x w x 3) to lin_rec2020 and writes it as a TIFF.
Status WriteLinRec(FileSystem& fs, const Matrix3& to_rec2020,
                   std::vector<float>& rgb, int h, int w,
                   const std::string& path, FileCropsWritten& written,
                   std::vector<std::uint16_t>& halves) {
  ApplyMatrix(to_rec2020, rgb);
  halves.resize(rgb.size());
  FloatsToHalves(rgb, halves);
  DSB_ASSIGN_OR_RETURN(std::vector<std::uint8_t> tiff,
                       EncodeHalfTiff(halves, h, w, path));
  return WriteBytes(fs, path, tiff, written);
}

}  // namespace

std::string CropSetName(const std::string& scene) {
  for (const char* prefix :
       {"src/Bayer/", "src/X-Trans/", "Bayer/", "X-Trans/"}) {
    if (scene.starts_with(prefix) && scene.size() > std::strlen(prefix)) {
      return scene.substr(std::strlen(prefix));
    }
  }
  return scene == "." ? "" : scene;
}

Result<FileCropsWritten> WriteBayerCrops(FileSystem& fs, const RawImage& image,
                                         const CropLocation& location,
                                         const CropParams& params) {
  DSB_ASSIGN_OR_RETURN(Matrix3 to_rec2020,
                       CameraToLinRec2020(image.meta.rgb_xyz_matrix));
  const CropFrame frame =
      RawnindFrame(image.cfa, image.width(), image.height());
  FileCropsWritten written;
  CropTargetRecord& record = written.record;
  record.rel_path = location.rel_path;
  record.scene = location.scene;
  record.is_bayer = true;
  record.frame_top = frame.top;
  record.frame_left = frame.left;
  if (frame.width < 4 || frame.height < 4) {
    return Status::InvalidArgument("image too small to crop (" +
                                   std::to_string(image.width()) + "x" +
                                   std::to_string(image.height()) + ")");
  }
  const PlaneView<const float> view =
      PlaneView<const float>(image.pixels.view().crop(
          frame.top, frame.left, frame.height, frame.width));
  const std::vector<CropWindow> grid =
      CropGrid(frame.width / 2, frame.height / 2, params);
  const CropDirs dirs = DirsFor(location);
  if (!grid.empty()) {
    DSB_RETURN_IF_ERROR(fs.CreateDirectories(dirs.bayer));
    DSB_RETURN_IF_ERROR(fs.CreateDirectories(dirs.linrec));
  }

  // Crop rows (distinct y) in order; band i covers its crops' rows and,
  // for the frame's mean, every row up to the next band (the last: to the
  // frame's end), so the bands tile the frame.
  std::set<int> row_set;
  for (const CropWindow& w : grid) row_set.insert(w.y);
  std::vector<int> rows(row_set.begin(), row_set.end());
  if (rows.empty()) rows.push_back(0);
  const DemosaicScale scale = DemosaicScaleOf(view);
  CameraRgbBand band;
  std::vector<float> rgb;
  std::vector<std::uint16_t> halves;
  double sum = 0;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const int mean_from = 2 * rows[i];
    const int mean_to = i + 1 < rows.size() ? 2 * rows[i + 1] : frame.height;
    int band_to = mean_to;
    for (const CropWindow& w : grid) {
      if (w.y == rows[i]) band_to = std::max(band_to, 2 * w.y2);
    }
    band.Demosaic(view, scale, mean_from, band_to);
    sum += band.Sum(mean_from, mean_to);
    for (const CropWindow& w : grid) {
      if (w.y != rows[i]) continue;
      CropTargetRecord::Crop crop;
      crop.x = w.x;
      crop.y = w.y;
      // Bayer: RGGB planes of the window, (4, h, w) in RawNIND's channel
      // order R, G (R row), G (B row), B.
      const int ch = w.y2 - w.y, cw = w.x2 - w.x;
      std::vector<float> planes(static_cast<std::size_t>(4) * ch * cw);
      for (int c = 0; c < 4; ++c) {
        const int dy = c / 2, dx = c % 2;
        for (int r = 0; r < ch; ++r) {
          const float* in = view.row(2 * (w.y + r) + dy) + 2 * w.x + dx;
          float* out =
              planes.data() + (static_cast<std::size_t>(c) * ch + r) * cw;
          for (int x = 0; x < cw; ++x) out[x] = in[2 * x];
        }
      }
      halves.resize(planes.size());
      FloatsToHalves(planes, halves);
      const std::string bayer_path = dirs.bayer + CropName(dirs.name, w, "npy");
      DSB_RETURN_IF_ERROR(WriteBytes(
          fs, bayer_path, EncodeNpyHalf(halves, 4, ch, cw), written));
      crop.bayer_path = Recorded(bayer_path, location.root);
      // lin_rec2020 at twice the coordinates, converted to halves a few
      // rows at a time (no float copy of the whole crop).
      const int lh = 2 * ch, lw = 2 * cw;
      halves.resize(static_cast<std::size_t>(lh) * lw * 3);
      constexpr int kRows = 64;
      for (int r = 0; r < lh; r += kRows) {
        const int n = std::min(kRows, lh - r);
        band.Read(2 * w.y + r, 2 * w.x, n, lw, rgb);
        ApplyMatrix(to_rec2020, rgb);
        FloatsToHalves(rgb,
                       std::span<std::uint16_t>(
                           halves.data() + static_cast<std::size_t>(r) * lw * 3,
                           rgb.size()));
      }
      const std::string linrec_path =
          dirs.linrec + CropName(dirs.name, w, "tif");
      DSB_ASSIGN_OR_RETURN(std::vector<std::uint8_t> tiff,
                           EncodeHalfTiff(halves, lh, lw, linrec_path));
      DSB_RETURN_IF_ERROR(WriteBytes(fs, linrec_path, tiff, written));
      crop.linrec_path = Recorded(linrec_path, location.root);
      record.crops.push_back(std::move(crop));
    }
  }
  record.rgb_mean =
      sum / (3.0 * static_cast<double>(frame.width) * frame.height);
  return written;
}

Result<FileCropsWritten> WriteRgbCrops(
    FileSystem& fs, const std::uint16_t* image4, int width, int height,
    const std::array<std::array<float, 3>, 4>& rgb_xyz_matrix,
    const CropLocation& location, const CropParams& params) {
  DSB_ASSIGN_OR_RETURN(Matrix3 to_rec2020, CameraToLinRec2020(rgb_xyz_matrix));
  FileCropsWritten written;
  CropTargetRecord& record = written.record;
  record.rel_path = location.rel_path;
  record.scene = location.scene;
  record.is_bayer = false;
  const auto value = [image4](std::size_t pixel, int c) {
    return static_cast<float>(image4[pixel * 4 + c]) / 65535.0f;
  };
  // RawNIND's lin_rec2020 images are its only X-Trans input, and its
  // rgb_gain is the ratio of their means.
  double sum = 0;
  const std::size_t pixels = static_cast<std::size_t>(width) * height;
  for (std::size_t i = 0; i < pixels; ++i) {
    const float r = value(i, 0), g = value(i, 1), b = value(i, 2);
    for (int c = 0; c < 3; ++c) {
      sum += to_rec2020[c][0] * r + to_rec2020[c][1] * g + to_rec2020[c][2] * b;
    }
  }
  record.rgb_mean = sum / (3.0 * static_cast<double>(pixels));
  const std::vector<CropWindow> grid = CropGrid(width / 2, height / 2, params);
  const CropDirs dirs = DirsFor(location);
  if (!grid.empty()) DSB_RETURN_IF_ERROR(fs.CreateDirectories(dirs.linrec));
  std::vector<float> rgb;
  std::vector<std::uint16_t> halves;
  for (const CropWindow& w : grid) {
    const int h = 2 * (w.y2 - w.y), cw = 2 * (w.x2 - w.x);
    rgb.resize(static_cast<std::size_t>(h) * cw * 3);
    for (int r = 0; r < h; ++r) {
      const std::size_t first =
          static_cast<std::size_t>(2 * w.y + r) * width + 2 * w.x;
      float* out = rgb.data() + static_cast<std::size_t>(r) * cw * 3;
      for (int x = 0; x < cw; ++x) {
        for (int c = 0; c < 3; ++c) out[x * 3 + c] = value(first + x, c);
      }
    }
    const std::string linrec_path = dirs.linrec + CropName(dirs.name, w, "tif");
    DSB_RETURN_IF_ERROR(
        WriteLinRec(fs, to_rec2020, rgb, h, cw, linrec_path, written, halves));
    CropTargetRecord::Crop crop;
    crop.x = w.x;
    crop.y = w.y;
    crop.linrec_path = Recorded(linrec_path, location.root);
    record.crops.push_back(std::move(crop));
  }
  return written;
}

}  // namespace dsb
