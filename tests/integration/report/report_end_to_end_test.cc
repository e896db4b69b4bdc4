// `dataset-build report` end to end, through the binary: a generated
// dataset (`dataset-build synth`, Bayer and X-Trans) with a deliberately
// broken raw and hostile scene and file names is built, then reported.
//
// - Files: the index, one page per scene, every referenced preview exists;
//   every scene, the broken file's failure and the hostile names appear,
//   escaped (no markup from a name survives), with the manifest's counts.
// - Caching: a second run writes no preview and no scene page (same inodes
//   and mtimes); after one capture of one scene changes and the dataset is
//   rebuilt, only that scene's previews are drawn and only its page is
//   rewritten.
// - A real browser: Debian's chromium, headless, opens the index from disk:
//   the screenshot is not blank, the DOM after the scripts ran holds the
//   figures, every scene, the failure and the escaped hostile names, the
//   pairs table was drawn and sorts and filters as the manifest says, and
//   the console logged no error. A page that
//   throws on purpose proves the console check can fail.
// - Crops: after a --crops build and a scene added without --crops, the
//   overview's missing-crops figure (file and DOM) is the number of pairs
//   the rawnind-yaml export writes with `crops: []`.
#include <gtest/gtest.h>
#include <png.h>
#include <sys/stat.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "sqlite_rows.h"
#include "test_support.h"

namespace dsb {
namespace {

namespace fs = std::filesystem;

const std::string kHostileScene =
    "<img src=x onerror=alert(1)> we;ird \"q\" 'q'\n\xff\xfe";
const std::string kHostileFile = "noisy <b>bold<b> & \"one\".dng";
const std::string kBrokenFile = "BROKEN_capture.dng";
// 255-byte components, as in the hostile-names test: the X-Trans scene and
// one capture of the fourth Bayer scene.
const std::string kLongScene = std::string(249, 's') + "\xff\xfe;\"' ";
const std::string kLongFile = std::string(251, 'n') + ".dng";

std::string ReadText(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// What HtmlName (report/html_text.h) makes of a name, written out by hand.
std::string EscapedHostileScene() {
  return "&lt;img src=x onerror=alert(1)&gt; we;ird &quot;q&quot; &#39;q&#39;"
         "\\n\\xff\\xfe";
}

struct FileId {
  ino_t inode;
  std::int64_t mtime_ns;
  bool operator==(const FileId&) const = default;
};

std::map<std::string, FileId> Snapshot(const fs::path& dir) {
  std::map<std::string, FileId> files;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    struct stat st {};
    stat(entry.path().c_str(), &st);
    files[fs::relative(entry.path(), dir).string()] = {
        st.st_ino, st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec};
  }
  return files;
}

// The preview files a page references.
std::set<std::string> Images(const std::string& html) {
  std::set<std::string> images;
  static const std::regex image(R"(src="(?:\.\./)?(img/[0-9a-f]{32}\.jpg)\")");
  for (auto it = std::sregex_iterator(html.begin(), html.end(), image);
       it != std::sregex_iterator(); ++it) {
    images.insert((*it)[1]);
  }
  return images;
}

class ReportEndToEnd : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir();
    root_ = dir_->Join("data");
    auto run = testing::RunTool(
        {"synth", root_, "--scenes", "5", "--noisy", "2", "--size", "240x168",
         "--cfa", "mixed", "--max-shift", "10", "--seed", "18"},
        dir_->Join("synth.log"));
    ASSERT_EQ(run.exit_code, 0) << run.errors;
    // Hostile names: the first Bayer scene and one of its captures.
    const fs::path bayer = fs::path(root_) / "Bayer";
    std::vector<fs::path> scenes;
    for (const auto& entry : fs::directory_iterator(bayer)) {
      scenes.push_back(entry.path());
    }
    std::sort(scenes.begin(), scenes.end());
    ASSERT_GE(scenes.size(), 3u);
    const fs::path hostile = bayer / kHostileScene;
    fs::rename(scenes[0], hostile);
    for (const auto& entry : fs::directory_iterator(hostile)) {
      if (entry.is_regular_file()) {
        fs::rename(entry.path(), hostile / kHostileFile);
        break;
      }
    }
    // A broken raw in the second scene.
    broken_scene_ = scenes[1];
    std::ofstream(broken_scene_ / kBrokenFile, std::ios::binary)
        << std::string(4096, 'x');
    changed_scene_ = scenes[2];
    for (const auto& entry : fs::directory_iterator(scenes[3])) {
      if (entry.is_regular_file()) {
        fs::rename(entry.path(), scenes[3] / kLongFile);
        break;
      }
    }
    const fs::path xtrans = fs::path(root_) / "X-Trans";
    for (const auto& entry : fs::directory_iterator(xtrans)) {
      fs::rename(entry.path(), xtrans / kLongScene);
      break;
    }

    run = testing::RunTool(
        {root_, "--device", "cpu", "--max-shift", "16", "-j", "2", "-q"},
        dir_->Join("build.log"));
    ASSERT_EQ(run.exit_code, 1) << "the broken file fails its scene\n"
                                << run.errors;
    run = testing::RunTool({"report", root_, "-q"}, dir_->Join("report.log"));
    ASSERT_EQ(run.exit_code, 0) << run.errors;
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  void SetUp() override {
    if (dir_ == nullptr || !fs::exists(Report() / "index.html")) {
      GTEST_SKIP() << "the dataset or its report could not be made (see the "
                      "suite's first failure)";
    }
  }
  static fs::path Report() { return fs::path(root_) / "report"; }

  static testing::TempDir* dir_;
  static std::string root_;
  static fs::path broken_scene_;
  static fs::path changed_scene_;
};

testing::TempDir* ReportEndToEnd::dir_ = nullptr;
std::string ReportEndToEnd::root_;
fs::path ReportEndToEnd::broken_scene_;
fs::path ReportEndToEnd::changed_scene_;

// Chromium ----------------------------------------------------------------

std::string Quote(const std::string& text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

std::string FindChromium() {
  for (const char* name : {"chromium", "chromium-browser", "google-chrome"}) {
    const std::string probe =
        std::string("command -v ") + name + " >/dev/null 2>&1";
    if (std::system(probe.c_str()) == 0) return name;
  }
  return "";
}

struct BrowserRun {
  int status = -1;
  std::string out;  // stdout
  std::string log;  // stderr (the console, with --enable-logging)
};

// Runs headless chromium on `url` with `extra` arguments.
BrowserRun Chromium(const std::string& browser, const std::string& work,
                    const std::string& url, const std::string& extra) {
  static int run_number = 0;
  const std::string profile = work + "/profile-" + std::to_string(++run_number);
  const std::string out = work + "/out.txt", log = work + "/log.txt";
  const std::string command =
      "timeout 90 " + browser +
      " --headless --no-sandbox --disable-gpu --disable-quic --no-first-run"
      " --disable-background-networking --disable-component-update"
      " --disable-sync --disable-dev-shm-usage --hide-scrollbars"
      " --enable-logging=stderr --v=0 --user-data-dir=" +
      Quote(profile) + " " + extra + " " + Quote(url) + " >" + Quote(out) +
      " 2>" + Quote(log);
  BrowserRun run;
  run.status = std::system(command.c_str());
  run.out = ReadText(out);
  run.log = ReadText(log);
  return run;
}

// Console lines: the report's pages log nothing, so any console message
// (an uncaught exception, a Content-Security-Policy violation such as a
// load from outside the folder, console.error) is an error.
std::vector<std::string> ConsoleErrors(const std::string& log) {
  std::vector<std::string> errors;
  std::istringstream lines(log);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.find(":CONSOLE") != std::string::npos ||
        line.find("Uncaught") != std::string::npos) {
      errors.push_back(line);
    }
  }
  return errors;
}

// The screenshot's pixels: how many distinct colours, and the variance of
// their brightness.
struct Pixels {
  bool ok = false;
  int width = 0, height = 0;
  std::size_t colours = 0;
  double variance = 0;
};

Pixels ReadScreenshot(const std::string& path) {
  Pixels pixels;
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_file(&image, path.c_str())) return pixels;
  image.format = PNG_FORMAT_RGB;
  std::vector<std::uint8_t> rgb(PNG_IMAGE_SIZE(image));
  if (!png_image_finish_read(&image, nullptr, rgb.data(), 0, nullptr)) {
    return pixels;
  }
  pixels.ok = true;
  pixels.width = image.width;
  pixels.height = image.height;
  std::set<std::uint32_t> colours;
  double sum = 0, sum2 = 0;
  const std::size_t n = rgb.size() / 3;
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint8_t* p = &rgb[i * 3];
    colours.insert((p[0] << 16) | (p[1] << 8) | p[2]);
    const double y = 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2];
    sum += y;
    sum2 += y * y;
  }
  pixels.colours = colours.size();
  pixels.variance = sum2 / n - (sum / n) * (sum / n);
  return pixels;
}

// Tests -------------------------------------------------------------------

TEST_F(ReportEndToEnd, WritesEveryPageAndPreviewWithNamesEscaped) {
  const std::string index = ReadText(Report() / "index.html");
  // Counts: 5 scenes; the broken scene failed.
  EXPECT_NE(index.find("<div class=\"big\">5</div>"), std::string::npos);
  EXPECT_NE(index.find(">1 failed</span>"), std::string::npos);
  EXPECT_NE(index.find(EscapedHostileScene()), std::string::npos);
  EXPECT_NE(
      index.find("noisy &lt;b&gt;bold&lt;b&gt; &amp; &quot;one&quot;.dng"),
      std::string::npos);
  EXPECT_NE(index.find(kBrokenFile), std::string::npos);
  EXPECT_NE(index.find(std::string(249, 's') + "\\xff\\xfe;&quot;&#39; "),
            std::string::npos);
  EXPECT_NE(index.find("id=\"failure-list\""), std::string::npos);
  std::size_t pages = 0;
  std::set<std::string> images = Images(index);
  for (const auto& entry : fs::directory_iterator(Report() / "scenes")) {
    ++pages;
    const std::string html = ReadText(entry.path());
    EXPECT_EQ(html.find("<img src=x"), std::string::npos) << entry.path();
    EXPECT_EQ(html.find("<b>bold"), std::string::npos) << entry.path();
    for (const std::string& image : Images(html)) images.insert(image);
    EXPECT_NE(index.find("scenes/" + entry.path().filename().string()),
              std::string::npos);
  }
  EXPECT_EQ(pages, 5u);
  EXPECT_EQ(index.find("<img src=x"), std::string::npos);
  EXPECT_EQ(index.find("<b>bold"), std::string::npos);
  // 5 scenes x 3 files (the broken scene 4), each scene's 3 pairs drawn
  // twice (difference, mask): at least 15 + 4 x 3 x 2 images.
  EXPECT_GE(images.size(), 15u + 24u);
  for (const std::string& image : images) {
    EXPECT_TRUE(fs::is_regular_file(Report() / image)) << image;
  }
  // The broken file's thumbnail is an error naming it, shown on its page.
  bool broken_reported = false;
  for (const auto& entry : fs::directory_iterator(Report() / "scenes")) {
    const std::string html = ReadText(entry.path());
    if (html.find(kBrokenFile) == std::string::npos) continue;
    broken_reported = html.find("class=\"noimg\"") != std::string::npos &&
                      html.find("scene-error") != std::string::npos;
  }
  EXPECT_TRUE(broken_reported);
}

TEST_F(ReportEndToEnd, OpensInARealBrowserWithoutErrors) {
  const std::string browser = FindChromium();
  if (browser.empty()) {
    GTEST_SKIP() << "no chromium on PATH (scripts/test installs Debian's "
                    "chromium); the browser check did not run";
  }
  const std::string work = dir_->Join("browser");
  fs::create_directories(work);
  // The console check must be able to fail: a page that throws.
  const std::string bad = work + "/bad.html";
  std::ofstream(bad) << "<!DOCTYPE html><p>x</p><script>undefined_function();"
                        "</script>";
  const BrowserRun control =
      Chromium(browser, work, "file://" + bad, "--dump-dom");
  if (control.status != 0 ||
      control.out.find("<p>x</p>") == std::string::npos) {
    GTEST_SKIP() << "chromium cannot run here (status " << control.status
                 << "): " << control.log.substr(0, 2000);
  }
  ASSERT_FALSE(ConsoleErrors(control.log).empty())
      << "the console check missed a thrown error:\n"
      << control.log;

  const std::string url = "file://" + (Report() / "index.html").string();
  const BrowserRun dom =
      Chromium(browser, work, url, "--virtual-time-budget=5000 --dump-dom");
  ASSERT_EQ(dom.status, 0) << dom.log;
  for (const std::string& error : ConsoleErrors(dom.log)) {
    ADD_FAILURE() << "console: " << error;
  }
  const std::string& html = dom.out;
  // Figures and plots.
  for (const char* id :
       {"id=\"fig-scenes\"", "id=\"fig-pairs\"", "id=\"fig-kept\"",
        "id=\"drop-loss\"", "id=\"drop-mask\"", "id=\"drop-crops\""}) {
    EXPECT_NE(html.find(id), std::string::npos) << id;
  }
  EXPECT_GE(std::count(html.begin(), html.end(), '\0') == 0, true);
  std::size_t histograms = 0;
  for (std::size_t at = html.find("<svg class=\"hist\"");
       at != std::string::npos; at = html.find("<svg class=\"hist\"", at + 1)) {
    ++histograms;
  }
  EXPECT_EQ(histograms, 4u);
  // The script ran: the table holds rows and the pager its count.
  EXPECT_NE(html.find("of 16 pairs, page 1 of 1"), std::string::npos)
      << "pairs table not drawn";
  EXPECT_NE(html.find("<tbody id=\"pairs-body\"><tr>"), std::string::npos);
  // Every scene, escaped; no element was made from a name.
  for (const auto& entry : fs::directory_iterator(fs::path(root_) / "Bayer")) {
    const std::string name = entry.path().filename().string();
    if (name == kHostileScene) continue;
    EXPECT_NE(html.find(name), std::string::npos) << name;
  }
  EXPECT_NE(html.find(std::string(249, 's') + "\\xff\\xfe;\"' "),
            std::string::npos);
  EXPECT_NE(html.find(kLongFile), std::string::npos);
  // The DOM serialiser escapes &, < and > in text (not quotes).
  EXPECT_NE(html.find("&lt;img src=x onerror=alert(1)&gt; we;ird \"q\" 'q'\\n"
                      "\\xff\\xfe"),
            std::string::npos);
  EXPECT_NE(html.find("noisy &lt;b&gt;bold&lt;b&gt; &amp; \"one\".dng"),
            std::string::npos);
  EXPECT_EQ(html.find("<img src=\"x\""), std::string::npos);
  EXPECT_EQ(html.find("<img src=x"), std::string::npos);
  EXPECT_EQ(html.find("<b>bold"), std::string::npos);
  // The broken file's failure, with the decoder's reason.
  EXPECT_NE(html.find(kBrokenFile + "': Unsupported file format"),
            std::string::npos);
  // Missing images are not logged: every image the DOM names exists.
  for (const std::string& image : Images(html)) {
    EXPECT_TRUE(fs::is_regular_file(Report() / image)) << image;
  }

  // The table's script sorts and filters in the browser (state from the
  // link): each view against the manifest.
  const std::string db = root_ + "/dataset-build.db";
  const auto scalar = [&db](const std::string& sql) {
    const auto rows = testing::QueryColumns(db, sql);
    return rows.empty() ? std::string() : rows[0].at(0);
  };
  const auto view = [&](const std::string& state) {
    const BrowserRun run = Chromium(browser, work, url + "#" + state,
                                    "--virtual-time-budget=5000 --dump-dom");
    EXPECT_EQ(run.status, 0) << run.log;
    for (const std::string& error : ConsoleErrors(run.log)) {
      ADD_FAILURE() << state << " console: " << error;
    }
    return run.out;
  };
  const auto cells_of_first_row = [](const std::string& dom) {
    std::vector<std::string> cells;
    const std::size_t body = dom.find("<tbody id=\"pairs-body\">");
    const std::size_t end = dom.find("</tr>", body);
    if (body == std::string::npos || end == std::string::npos) return cells;
    const std::string row = dom.substr(body, end - body);
    static const std::regex cell("<td[^>]*>(.*?)</td>");
    for (auto it = std::sregex_iterator(row.begin(), row.end(), cell);
         it != std::sregex_iterator(); ++it) {
      cells.push_back((*it)[1]);
    }
    return cells;
  };
  std::string dom_view = view("status=failed");
  EXPECT_NE(dom_view.find("1 of 16 pairs, page 1 of 1"), std::string::npos);
  EXPECT_NE(cells_of_first_row(dom_view).at(1).find(kBrokenFile),
            std::string::npos);
  dom_view = view("sort=loss&desc=1");
  const std::vector<std::string> first = cells_of_first_row(dom_view);
  ASSERT_GE(first.size(), 11u);
  EXPECT_EQ(first[10], scalar("SELECT printf('%.4f', max(loss)) FROM "
                              "alignments"));  // the loss column
  dom_view = view("figure=confidence&max=0.95");
  EXPECT_NE(dom_view.find(scalar("SELECT count(*) FROM alignments WHERE "
                                 "confidence <= 0.95") +
                          " of 16 pairs"),
            std::string::npos);
  dom_view = view("cfa=xtrans");
  EXPECT_NE(dom_view.find(scalar("SELECT count(*) FROM alignments JOIN "
                                 "scenes USING (scene) WHERE cfa = "
                                 "'xtrans'") +
                          " of 16 pairs"),
            std::string::npos);

  // Screenshots of the overview and of the hostile scene's page.
  std::string hostile_page;
  for (const auto& entry : fs::directory_iterator(Report() / "scenes")) {
    if (ReadText(entry.path()).find(EscapedHostileScene()) !=
        std::string::npos) {
      hostile_page = entry.path().string();
    }
  }
  ASSERT_FALSE(hostile_page.empty());
  const char* keep = std::getenv("DSB_REPORT_SCREENSHOTS");
  for (const auto& [name, page] :
       std::vector<std::pair<std::string, std::string>>{
           {"overview.png", url}, {"scene.png", "file://" + hostile_page}}) {
    const std::string shot = work + "/" + name;
    const BrowserRun run = Chromium(
        browser, work, page,
        "--virtual-time-budget=5000 --window-size=1280,1600 --screenshot=" +
            Quote(shot));
    ASSERT_EQ(run.status, 0) << run.log;
    for (const std::string& error : ConsoleErrors(run.log)) {
      ADD_FAILURE() << name << " console: " << error;
    }
    const Pixels pixels = ReadScreenshot(shot);
    ASSERT_TRUE(pixels.ok) << name;
    EXPECT_EQ(pixels.width, 1280);
    EXPECT_GT(pixels.colours, 200u) << name << " looks blank";
    EXPECT_GT(pixels.variance, 200.0) << name << " looks blank";
    if (keep != nullptr) {
      fs::create_directories(keep);
      fs::copy_file(shot, fs::path(keep) / name,
                    fs::copy_options::overwrite_existing);
    }
  }
}

// Runs last: it changes the dataset.
TEST_F(ReportEndToEnd, ZRerunDrawsNothingAndAChangeRedrawsOnlyItsScene) {
  const auto before = Snapshot(Report());
  auto run = testing::RunTool({"report", root_, "-q"}, dir_->Join("r2.log"));
  ASSERT_EQ(run.exit_code, 0) << run.errors;
  const auto after = Snapshot(Report());
  for (const auto& [name, id] : before) {
    if (name == "index.html") continue;  // carries the time it was made
    const auto it = after.find(name);
    ASSERT_NE(it, after.end()) << name << " removed";
    EXPECT_EQ(it->second, id) << name << " rewritten";
  }
  EXPECT_EQ(after.size(), before.size());

  // Change one capture of one scene: another capture of the same scene,
  // flipped in content by copying a sibling over it; rebuild.
  std::vector<fs::path> noisy;
  for (const auto& entry : fs::directory_iterator(changed_scene_)) {
    if (entry.is_regular_file()) noisy.push_back(entry.path());
  }
  std::sort(noisy.begin(), noisy.end());
  ASSERT_EQ(noisy.size(), 2u);
  fs::copy_file(noisy[0], noisy[1], fs::copy_options::overwrite_existing);
  run = testing::RunTool({root_, "--device", "cpu", "--max-shift", "16", "-q"},
                         dir_->Join("build2.log"));
  ASSERT_EQ(run.exit_code, 1) << run.errors;  // the broken scene still fails
  run = testing::RunTool({"report", root_, "-q"}, dir_->Join("r3.log"));
  ASSERT_EQ(run.exit_code, 0) << run.errors;
  const auto third = Snapshot(Report());

  // The changed scene's page: the only scene page rewritten; every new
  // image is one of its images.
  std::string changed_page, broken_page;
  std::set<std::string> changed_images;
  for (const auto& entry : fs::directory_iterator(Report() / "scenes")) {
    const std::string html = ReadText(entry.path());
    if (html.find(kBrokenFile) != std::string::npos) {
      broken_page = "scenes/" + entry.path().filename().string();
    }
    if (html.find(changed_scene_.filename().string()) != std::string::npos &&
        html.find("<h1>Bayer/" + changed_scene_.filename().string() + "<") !=
            std::string::npos) {
      changed_page = "scenes/" + entry.path().filename().string();
      changed_images = Images(html);
    }
  }
  ASSERT_FALSE(changed_page.empty());
  int new_images = 0;
  for (const auto& [name, id] : third) {
    if (name == "index.html") continue;
    const auto old = after.find(name);
    const bool is_new = old == after.end() || !(old->second == id);
    if (!is_new) continue;
    if (name.starts_with("scenes/")) {
      // The failed scene is rebuilt by every build (its built_at changes).
      if (name != broken_page) {
        EXPECT_EQ(name, changed_page) << "another scene's page was rewritten";
      }
    } else {
      ++new_images;
      EXPECT_TRUE(changed_images.contains(name))
          << name << " drawn but not one of the changed scene's images";
    }
  }
  // The copied capture's thumbnail, difference and mask overlay, and the
  // scene's other overlays (its build key changed); nothing else.
  EXPECT_GE(new_images, 3);
  EXPECT_LE(new_images, 5);
  // Images of the old capture are gone.
  for (const auto& [name, id] : after) {
    if (name.starts_with("img/") && !third.contains(name)) {
      EXPECT_FALSE(changed_images.contains(name));
    }
  }
}

// A --crops build: the overview counts the pairs RawNIND's loader drops for
// missing crops, the pairs whose `crops` list the rawnind-yaml export writes
// empty. Two scenes are cropped; a scene added later and built without
// --crops has none (its self-pair and its noisy pair).
TEST(ReportWithCrops, MissingCropsFigureIsTheExportsEmptyCropsLists) {
  testing::TempDir dir;
  const std::string root = dir.Join("data");
  // 1024 x 900: one crop of RawNIND's grid per file.
  auto run =
      testing::RunTool({"synth", root, "--scenes", "2", "--noisy", "1",
                        "--size", "1024x900", "--cfa", "rggb", "--seed", "3"},
                       dir.Join("synth.log"));
  ASSERT_EQ(run.exit_code, 0) << run.errors;
  run = testing::RunTool({root, "--crops", "--device", "cpu", "-j", "2", "-q"},
                         dir.Join("build.log"));
  ASSERT_EQ(run.exit_code, 0) << run.errors;
  const std::string more = dir.Join("more");
  run = testing::RunTool({"synth", more, "--scenes", "1", "--noisy", "1",
                          "--size", "1024x900", "--cfa", "bggr", "--seed", "9"},
                         dir.Join("synth-more.log"));
  ASSERT_EQ(run.exit_code, 0) << run.errors;
  fs::copy(more + "/Bayer/scene-000-bggr", root + "/Bayer/added",
           fs::copy_options::recursive);
  run = testing::RunTool({root, "--device", "cpu", "-j", "2", "-q"},
                         dir.Join("build-added.log"));
  ASSERT_EQ(run.exit_code, 0) << run.errors;

  const std::string yaml = dir.Join("export.yaml");
  run =
      testing::RunTool({"export", "--format", "rawnind-yaml", "-o", yaml, root},
                       dir.Join("export.log"));
  ASSERT_EQ(run.exit_code, 0) << run.errors;
  const std::string exported = ReadText(yaml);
  // yaml-cpp writes an empty list as "crops:" and "[]" on the next line.
  static const std::regex empty_crops(R"(\bcrops:\s*\[\])");
  const auto empty = static_cast<std::size_t>(std::distance(
      std::sregex_iterator(exported.begin(), exported.end(), empty_crops),
      std::sregex_iterator()));
  std::size_t entries = 0;
  for (std::size_t at = exported.find("gt_fpath:"); at != std::string::npos;
       at = exported.find("gt_fpath:", at + 1)) {
    ++entries;
  }
  EXPECT_EQ(entries, 6u);  // 3 scenes x (self-pair + noisy pair)
  EXPECT_EQ(empty, 2u);    // the added scene's pairs

  run = testing::RunTool({"report", root, "-q"}, dir.Join("report.log"));
  ASSERT_EQ(run.exit_code, 0) << run.errors;
  const fs::path index = fs::path(root) / "report" / "index.html";
  const std::string figure = "id=\"drop-crops\">" + std::to_string(empty) + "<";
  const std::string html = ReadText(index);
  EXPECT_NE(html.find(figure), std::string::npos) << figure;
  EXPECT_EQ(html.find("id=\"crops-note\""), std::string::npos);

  // The same in the browser's DOM, where a browser can run.
  const std::string browser = FindChromium();
  if (browser.empty()) {
    GTEST_SKIP() << "no chromium on PATH (scripts/test installs Debian's "
                    "chromium); the figure was checked in the file only";
  }
  const std::string work = dir.Join("browser");
  fs::create_directories(work);
  const BrowserRun dom = Chromium(browser, work, "file://" + index.string(),
                                  "--virtual-time-budget=5000 --dump-dom");
  if (dom.status != 0 ||
      dom.out.find("id=\"fig-drops\"") == std::string::npos) {
    GTEST_SKIP() << "chromium cannot run here (status " << dom.status
                 << "): " << dom.log.substr(0, 2000);
  }
  EXPECT_NE(dom.out.find(figure), std::string::npos) << figure;
  for (const std::string& error : ConsoleErrors(dom.log)) {
    ADD_FAILURE() << "console: " << error;
  }
}

}  // namespace
}  // namespace dsb
