// Escaping hostile names: visible, valid UTF-8, inert in HTML and in the
// embedded JSON, and safe page names.
#include "report/html_text.h"

#include <gtest/gtest.h>

#include <set>
#include <vector>

#include "manifest/export.h"

namespace dsb {
namespace {

TEST(HtmlTextTest, DisplayTextShowsControlsAndInvalidBytes) {
  EXPECT_EQ(DisplayText("plain name.dng"), "plain name.dng");
  EXPECT_EQ(DisplayText("a\nb\tc\rd"), "a\\nb\\tc\\rd");
  EXPECT_EQ(DisplayText(std::string("x\x01\x7f", 3)), "x\\x01\\x7f");
  EXPECT_EQ(DisplayText("\xff\xfe.."), "\\xff\\xfe..");
  EXPECT_EQ(DisplayText("caf\xc3\xa9"), "caf\xc3\xa9");  // valid UTF-8 kept
  EXPECT_EQ(DisplayText("\xc3"), "\\xc3");               // truncated sequence
  EXPECT_EQ(DisplayText("\xed\xa0\x80"), "\\xed\\xa0\\x80");  // surrogate
  EXPECT_TRUE(IsValidUtf8(DisplayText("we;ird .. \"scene\" 'q'\n\xff\xfe..")));
}

TEST(HtmlTextTest, EscapeHtmlLeavesNoMarkup) {
  const std::string hostile = "<img src=x onerror=alert(1)> & \"q\" 'q'";
  const std::string escaped = HtmlName(hostile);
  EXPECT_EQ(
      escaped,
      "&lt;img src=x onerror=alert(1)&gt; &amp; &quot;q&quot; &#39;q&#39;");
  for (char c : std::string("<>\"'")) {
    EXPECT_EQ(escaped.find(c), std::string::npos) << c;
  }
}

TEST(HtmlTextTest, JsonForScriptCannotCloseTheScript) {
  const std::string json =
      R"(["</script><script>alert(1)</script>","<!--","a&b"])";
  const std::string safe = JsonForScript(json);
  EXPECT_EQ(safe.find('<'), std::string::npos);
  EXPECT_EQ(safe.find('>'), std::string::npos);
  EXPECT_EQ(safe.find('&'), std::string::npos);
  EXPECT_NE(safe.find("\\u003c/script\\u003e"), std::string::npos);
}

TEST(HtmlTextTest, ScenePageStemsAreSafeAndDistinct) {
  std::set<std::string> stems;
  for (const std::string& scene : std::vector<std::string>{
           "Bayer/scene-1", "X-Trans/scene-1",
           "we;ird .. \"scene\" 'q'\n\xff\xfe..",
           std::string(249, 's') + "\xff\xfe;\"' ", "../../etc", "", "a/b/"}) {
    const std::string stem = ScenePageStem(scene);
    EXPECT_LE(stem.size(), 57u);
    for (char c : stem) {
      EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c)) || c == '-' ||
                  c == '_' || c == '.')
          << stem;
    }
    EXPECT_NE(stem[0], '.') << stem;
    stems.insert(stem);
  }
  EXPECT_EQ(stems.size(), 7u);
  EXPECT_TRUE(ScenePageStem("Bayer/scene-1").starts_with("scene-1-"));
}

}  // namespace
}  // namespace dsb
