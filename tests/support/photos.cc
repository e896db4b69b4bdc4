#include "photos.h"

#include <cstdlib>
#include <filesystem>

namespace dsb::testing {

std::string PhotoDir() {
  if (const char* dir = std::getenv("DSB_PHOTO_DIR"); dir && *dir) return dir;
  return "/usr/lib/python3/dist-packages/skimage/data";
}

std::string FindPhoto(const std::string& name) {
  const std::filesystem::path path = std::filesystem::path(PhotoDir()) / name;
  std::error_code ec;
  return std::filesystem::is_regular_file(path, ec) ? path.string() : "";
}

std::vector<std::string> SweepPhotoNames() {
  return {"motorcycle_left.png", "rocket.jpg", "retina.jpg", "ihc.png"};
}

}  // namespace dsb::testing
