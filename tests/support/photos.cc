#include "photos.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

namespace dsb::testing {

std::string PhotoDir() {
  if (const char* dir = std::getenv("DSB_PHOTO_DIR"); dir && *dir) return dir;
  return "/usr/lib/python3/dist-packages/skimage/data";
}

std::string PhotoMissing(const std::string& name) {
  return name + " not in " + PhotoDir() +
         " (scripts/test installs python3-skimage)";
}

std::string FindPhoto(const std::string& name) {
  const std::filesystem::path path = std::filesystem::path(PhotoDir()) / name;
  std::error_code ec;
  return std::filesystem::is_regular_file(path, ec) ? path.string() : "";
}

std::vector<std::string> SweepPhotoNames() {
  return {"motorcycle_left.png", "rocket.jpg", "retina.jpg", "ihc.png"};
}

std::shared_ptr<const Srgb8Image> LoadPhoto(const std::string& name) {
  const std::string path = FindPhoto(name);
  if (path.empty()) return nullptr;
  auto photo = ReadPhoto(path);
  EXPECT_TRUE(photo.ok()) << photo.status().ToString();
  if (!photo.ok()) return nullptr;
  return std::make_shared<const Srgb8Image>(std::move(photo).value());
}

}  // namespace dsb::testing
