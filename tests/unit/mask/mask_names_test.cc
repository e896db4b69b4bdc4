#include "mask/mask_names.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

namespace dsb {
namespace {

// Contract §3: one path component, printable, never hidden, never "..",
// at most 255 bytes.
void ExpectSafe(const std::string& name) {
  SCOPED_TRACE(name);
  ASSERT_FALSE(name.empty());
  EXPECT_LE(name.size(), kMaxMaskNameBytes);
  EXPECT_NE(name.front(), '.');
  EXPECT_NE(name.front(), '-');
  EXPECT_EQ(name.find('/'), std::string::npos);
  EXPECT_EQ(name.find('\0'), std::string::npos);
  EXPECT_NE(name, "..");
  EXPECT_TRUE(name.ends_with(".png"));
  for (const char ch : name) {
    const auto c = static_cast<unsigned char>(ch);
    EXPECT_TRUE(c >= 0x21 && c < 0x7f) << "byte " << static_cast<int>(c);
  }
}

TEST(MaskNamesTest, ReadableForOrdinaryNames) {
  const std::string name = MaskFileName(
      "src/Bayer/7D-2", "src/Bayer/7D-2/gt/Bayer_7D-2_GT_ISO100_sha1=ab12.arw",
      "src/Bayer/7D-2/Bayer_7D-2_ISO3200_sha1=cd34.arw");
  ExpectSafe(name);
  EXPECT_TRUE(name.starts_with(
      "src_Bayer_7D-2__Bayer_7D-2_GT_ISO100_sha1_ab12__Bayer_7D-2_ISO3200_"
      "sha1_cd34__"))
      << name;
  // 32 hex digits before ".png".
  EXPECT_EQ(name.size() - name.rfind("__") - 2, 32u + 4u);
}

TEST(MaskNamesTest, DeterministicAndDependsOnEveryField) {
  const std::string a = MaskFileName("s", "s/gt/a.arw", "s/b.arw");
  EXPECT_EQ(a, MaskFileName("s", "s/gt/a.arw", "s/b.arw"));
  EXPECT_NE(a, MaskFileName("t", "s/gt/a.arw", "s/b.arw"));
  EXPECT_NE(a, MaskFileName("s", "s/gt/a.ARW", "s/b.arw"));
  EXPECT_NE(a, MaskFileName("s", "s/gt/a.arw", "s/c.arw"));
  // Swapping GT and noisy is a different pair.
  EXPECT_NE(MaskFileName("s", "x", "y"), MaskFileName("s", "y", "x"));
  // Field boundaries matter: ("ab", "c") is not ("a", "bc").
  EXPECT_NE(MaskFileName("s", "ab", "c"), MaskFileName("s", "a", "bc"));
  EXPECT_NE(MaskFileName("sa", "b", "c"), MaskFileName("s", "ab", "c"));
}

TEST(MaskNamesTest, HostileNamesAreSafeAndUnique) {
  const std::string long255(255, 'a');
  const std::string long1000(1000, 'b');
  const std::vector<std::vector<std::string>> pairs = {
      {"../../etc", "../../etc/passwd", "../../etc/shadow"},
      {"..", "..", ".."},
      {".", ".hidden", "-rf"},
      {"", "", ""},
      {"a/b", "gt/x/y.arw", "z/w.arw"},
      {"a_b", "gt/x_y.arw", "z_w.arw"},
      {"new\nline", "tab\there.arw", "car\rriage.arw"},
      {"sp ace", "with space.arw", "trailing .arw"},
      {"\xff\xfe", "\xff\xfe.arw", "\xc3\x28.arw"},
      {"ctrl\x01\x7f", "nul\0x.arw", "\x1b[31mred.arw"},
      {"slash/", "gt/", "/"},
      {long255, long255, long255},
      {long1000, long1000, long1000},
      // Differ only after any plausible truncation point.
      {long1000 + "1", long1000 + "x.arw", long1000 + "y.arw"},
      {long1000 + "2", long1000 + "x.arw", long1000 + "y.arw"},
      {long1000 + "2", long1000 + "x.arw", long1000 + "z.arw"},
      {long1000 + "2", long1000 + "w.arw", long1000 + "z.arw"},
      // Sanitise to the same readable text.
      {"s", "gt/a b.arw", "n.arw"},
      {"s", "gt/a\nb.arw", "n.arw"},
      {"s",
       "gt/a\xff"
       "b.arw",
       "n.arw"},
      {"s", "gt/a?b.arw", "n.arw"},
  };
  std::set<std::string> seen;
  for (const auto& p : pairs) {
    const std::string name = MaskFileName(p[0], p[1], p[2]);
    ExpectSafe(name);
    EXPECT_TRUE(seen.insert(name).second) << "collision: " << name;
  }
  // Embedded NUL bytes are part of the name's identity too.
  const std::string with_nul("a\0b", 3);
  EXPECT_NE(MaskFileName("s", with_nul, "n"), MaskFileName("s", "a", "n"));
}

TEST(MaskNamesTest, SanitizeStem) {
  EXPECT_EQ(SanitizeNameStem("abc", 10), "abc");
  EXPECT_EQ(SanitizeNameStem("..a/../b", 10), "a_.._b");
  EXPECT_EQ(SanitizeNameStem("-._x", 10), "x");
  EXPECT_EQ(SanitizeNameStem("a\n\n\nb", 10), "a_b");
  EXPECT_EQ(SanitizeNameStem("\xff\xfe", 10), "");
  EXPECT_EQ(SanitizeNameStem(std::string(300, 'q'), 60), std::string(60, 'q'));
}

}  // namespace
}  // namespace dsb
