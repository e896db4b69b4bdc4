// BuildOptions: the algorithm version and the result fingerprint that
// enter every scene key.
#include "executor/build_options.h"

#include <gtest/gtest.h>

#include <string>

#include "crops/rawnind_loss.h"

namespace dsb {
namespace {

// The number after `marker` in `text` (e.g. "rev=" in "align(rev=2,...)").
int NumberAfter(const std::string& text, const std::string& marker) {
  const std::size_t at = text.find(marker);
  if (at == std::string::npos) return -1;
  return std::stoi(text.substr(at + marker.size()));
}

TEST(AlgorithmVersionTest, DerivedFromEachModulesOwnRevision) {
  // The revisions the modules write into their own fingerprints are the
  // truth; the version string must name exactly those (it said
  // "align-1/mask-1" while align was at rev=2 and mask at v4).
  const int align_rev = NumberAfter(AlignParams().Fingerprint(), "rev=");
  const int mask_rev = NumberAfter(MaskParams().Fingerprint(), "mask/v");
  ASSERT_GT(align_rev, 0);
  ASSERT_GT(mask_rev, 0);
  EXPECT_EQ(AlgorithmVersion(), "align-" + std::to_string(align_rev) +
                                    "/mask-" + std::to_string(mask_rev) +
                                    "/rawnind-" +
                                    std::to_string(kRawnindFiguresRevision));
  // And the fingerprint hashed into scene keys starts with it.
  BuildOptions options;
  EXPECT_EQ(options.ResultFingerprint().rfind(AlgorithmVersion() + ";", 0), 0u);
}

TEST(ResultFingerprintTest, OnlyResultChangingParametersEnter) {
  BuildOptions a;
  BuildOptions b = a;
  b.jobs = 7;
  b.device = Device::kGpu;
  b.mem_bytes = 1 << 30;
  b.align.gpu_memory_bytes = 1 << 30;
  b.align.threads = 4;
  EXPECT_EQ(a.ResultFingerprint(), b.ResultFingerprint());
  b.align.max_shift = 64;
  EXPECT_NE(a.ResultFingerprint(), b.ResultFingerprint());
  b = a;
  b.mask.closing_radius += 1;
  EXPECT_NE(a.ResultFingerprint(), b.ResultFingerprint());
}

}  // namespace
}  // namespace dsb
