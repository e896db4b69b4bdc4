// A program whose main() does not answer __decode-worker (this test binary
// uses gtest's main) cannot be its own decode worker: the isolated decoder
// says so instead of starting a copy of the program, which here would run
// the whole test suite as every "worker".
#include <gtest/gtest.h>

#include "raw/decode_worker.h"
#include "raw/isolated_decoder.h"
#include "test_support.h"

namespace dsb {
namespace {

TEST(NoWorkerEntryTest, DefaultWorkerIsRefusedWithAClearError) {
  ASSERT_FALSE(HasDecodeWorkerEntry());
  testing::TempDir dir;
  Result<RawImage> image = IsolatedDecoder().Decode(dir.Join("x.NEF"), {});
  ASSERT_FALSE(image.ok());
  EXPECT_EQ(image.status().code(), Status::Code::kInternal);
  EXPECT_NE(image.status().message().find("x.NEF"), std::string::npos);
  EXPECT_NE(image.status().message().find("RunDecodeWorkerIfAsked"),
            std::string::npos)
      << image.status().message();
}

}  // namespace
}  // namespace dsb
