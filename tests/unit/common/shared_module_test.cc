// common/shared_module: loading an entry point of one of the project's
// shared modules, and the errors a broken installation gets.
#include "common/shared_module.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

namespace dsb {
namespace {

// The OpenCV module as the build put it (meson sets the path).
const char* BuiltOpenCvModule() {
  const char* path = std::getenv("DSB_OPENCV_MODULE");
  EXPECT_NE(path, nullptr) << "meson sets DSB_OPENCV_MODULE for this test";
  return path == nullptr ? "" : path;
}

TEST(SharedModuleTest, FindsTheEntryOfAModuleWhereTheBuildPutIt) {
  Result<void*> entry =
      LoadModuleEntry("the OpenCV calls", BuiltOpenCvModule(),
                      "libdsb_opencv.so", "dsb_demosaic_rggb_ea");
  ASSERT_TRUE(entry.ok()) << entry.status().ToString();
  EXPECT_NE(*entry, nullptr);
}

TEST(SharedModuleTest, AMissingModuleNamesWhatItIsForAndEveryPathTried) {
  Result<void*> entry =
      LoadModuleEntry("the test's module", "/nonexistent/build/libdsb_x.so",
                      "libdsb_no_such_module.so", "entry");
  ASSERT_FALSE(entry.ok());
  const std::string message = entry.status().ToString();
  EXPECT_NE(message.find("the test's module"), std::string::npos) << message;
  EXPECT_NE(message.find("/nonexistent/build/libdsb_x.so"), std::string::npos)
      << message;
  // The second place looked: beside this test's executable.
  EXPECT_NE(message.find("/libdsb_no_such_module.so"), std::string::npos)
      << message;
}

TEST(SharedModuleTest, AModuleWithoutTheEntryIsAnErrorNamingTheEntry) {
  Result<void*> entry =
      LoadModuleEntry("the OpenCV calls", BuiltOpenCvModule(),
                      "libdsb_opencv.so", "dsb_no_such_entry");
  ASSERT_FALSE(entry.ok());
  EXPECT_NE(entry.status().ToString().find("dsb_no_such_entry"),
            std::string::npos)
      << entry.status().ToString();
}

}  // namespace
}  // namespace dsb
