// libtiff's errors reach our Status with the file named and libtiff's own
// message kept, per thread.
#include "common/tiff_status.h"

#include <gtest/gtest.h>
#include <tiffio.h>

#include <string>
#include <thread>

namespace dsb {
namespace {

TEST(TiffStatusTest, OpenFailureNamesTheFileAndKeepsLibtiffsMessage) {
  const std::string path = "/nonexistent-dir-for-dsb/out.tif";
  CaptureTiffErrors();
  EXPECT_FALSE(TiffReportedError());
  TIFF* tif = TIFFOpen(path.c_str(), "w");
  ASSERT_EQ(tif, nullptr);
  EXPECT_TRUE(TiffReportedError());
  const Status status = TiffError("cannot create DNG", path);
  EXPECT_EQ(status.code(), Status::Code::kIoError);
  EXPECT_NE(status.message().find("cannot create DNG '" + path + "': "),
            std::string::npos)
      << status.message();
  EXPECT_EQ(status.message().find("libtiff failed"), std::string::npos)
      << "libtiff's own message is kept: " << status.message();
}

TEST(TiffStatusTest, MessagesStayOnTheirThread) {
  CaptureTiffErrors();
  std::thread other([] {
    CaptureTiffErrors();
    EXPECT_EQ(TIFFOpen("/nonexistent-dir-for-dsb/x.tif", "w"), nullptr);
    EXPECT_TRUE(TiffReportedError());
  });
  other.join();
  EXPECT_FALSE(TiffReportedError());
  EXPECT_NE(
      TiffError("cannot encode TIFF", "x").message().find("libtiff failed"),
      std::string::npos);
}

}  // namespace
}  // namespace dsb
