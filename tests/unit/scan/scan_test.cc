#include "scan/scan.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "fake_file_system.h"

namespace dsb {
namespace {

using ::dsb::testing::FakeFileSystem;

std::vector<std::string> Paths(const std::vector<FileRecord>& files) {
  std::vector<std::string> out;
  for (const auto& f : files) out.push_back(f.rel_path);
  return out;
}

std::vector<std::string> SceneNames(const ScanResult& r) {
  std::vector<std::string> out;
  for (const auto& s : r.scenes) out.push_back(s.scene);
  return out;
}

ScanResult Scan(FakeFileSystem& fs, const std::string& root,
                const ScanOptions& options = {}) {
  auto r = ScanDataset(fs, root, options);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? std::move(r).value() : ScanResult();
}

TEST(ScanTest, FlatTree) {
  FakeFileSystem fs;
  fs.AddFile("/data/bird/gt/gt1.arw", "g1");
  fs.AddFile("/data/bird/gt/gt0.arw", "g0");
  fs.AddFile("/data/bird/n2.arw", "n2");
  fs.AddFile("/data/bird/n1.ARW", "n1");
  fs.AddFile("/data/cat/gt/c.dng", "c");
  fs.AddFile("/data/README", "not in a scene");  // not a scene: ignored
  fs.AddFile("/data/notascene/x.arw", "x");

  ScanResult r = Scan(fs, "/data");
  EXPECT_EQ(SceneNames(r), (std::vector<std::string>{"bird", "cat"}));
  EXPECT_EQ(Paths(r.scenes[0].gt),
            (std::vector<std::string>{"bird/gt/gt0.arw", "bird/gt/gt1.arw"}));
  EXPECT_EQ(Paths(r.scenes[0].noisy),
            (std::vector<std::string>{"bird/n1.ARW", "bird/n2.arw"}));
  EXPECT_EQ(r.scenes[0].gt[0].size, 2u);
  EXPECT_EQ(Paths(r.scenes[1].gt), (std::vector<std::string>{"cat/gt/c.dng"}));
  EXPECT_TRUE(r.scenes[1].noisy.empty());
  EXPECT_TRUE(r.problems.empty());
}

TEST(ScanTest, RawNindTreeAndTrailingSlashRoot) {
  FakeFileSystem fs;
  fs.AddFile("/ds/src/Bayer/sceneA/gt/Bayer_sceneA_GT_ISO100_sha1=aa.arw", "a");
  fs.AddFile("/ds/src/Bayer/sceneA/Bayer_sceneA_ISO3200_sha1=bb.arw", "b");
  fs.AddFile("/ds/src/X-Trans/sceneB/gt/X_sceneB_GT.raf", "c");
  fs.AddFile("/ds/src/X-Trans/sceneB/X_sceneB_ISO6400.raf", "d");
  ScanResult r = Scan(fs, "/ds/");
  EXPECT_EQ(SceneNames(r), (std::vector<std::string>{"src/Bayer/sceneA",
                                                     "src/X-Trans/sceneB"}));
  EXPECT_EQ(Paths(r.scenes[0].noisy),
            (std::vector<std::string>{
                "src/Bayer/sceneA/Bayer_sceneA_ISO3200_sha1=bb.arw"}));
}

TEST(ScanTest, RootItselfIsAScene) {
  FakeFileSystem fs;
  fs.AddFile("/s/gt/a.nef", "a");
  fs.AddFile("/s/b.nef", "b");
  ScanResult r = Scan(fs, "/s");
  ASSERT_EQ(SceneNames(r), (std::vector<std::string>{"."}));
  EXPECT_EQ(Paths(r.scenes[0].gt), (std::vector<std::string>{"gt/a.nef"}));
  EXPECT_EQ(Paths(r.scenes[0].noisy), (std::vector<std::string>{"b.nef"}));
}

TEST(ScanTest, SubdirectoriesOfAScene) {
  FakeFileSystem fs;
  fs.AddFile("/d/s/gt/a.arw", "a");
  fs.AddFile("/d/s/gt/deeper/not_a_capture.arw", "x");  // below gt/: ignored
  fs.AddFile("/d/s/extra/not_a_capture.arw", "x");      // not gt/: ignored
  fs.AddFile("/d/s/nested/gt/n.arw", "n");              // its own scene
  ScanResult r = Scan(fs, "/d");
  EXPECT_EQ(SceneNames(r), (std::vector<std::string>{"s", "s/nested"}));
  EXPECT_EQ(Paths(r.scenes[0].gt), (std::vector<std::string>{"s/gt/a.arw"}));
  EXPECT_TRUE(r.scenes[0].noisy.empty());
  EXPECT_EQ(Paths(r.scenes[1].gt),
            (std::vector<std::string>{"s/nested/gt/n.arw"}));
}

TEST(ScanTest, IgnoredFilesAreNeverReportedNorStated) {
  FakeFileSystem fs;
  fs.AddFile("/d/s/gt/a.arw", "a");
  fs.AddFile("/d/s/gt/a.arw.xmp", "sidecar");
  fs.AddFile("/d/s/gt/.hidden.arw", "hidden");
  for (const char* name :
       {"n.arw.xmp", "n_darktable_exported.arw", "x.JPG", "x.jpeg", "x.tif",
        "x.TIFF", "x.exr", "x.Png", ".DS_Store", "mask.png.12.ab.dsb-tmp",
        "manifest.db", "manifest.db-wal", "manifest.db-shm",
        "manifest.db-journal", "dsb.lock"}) {
    fs.AddFile(std::string("/d/s/") + name, "x");
  }
  fs.AddFile("/d/s/n.arw", "n");
  fs.AddFile("/d/masks/m/gt/mask.arw", "inside the masks dir");
  fs.AddFile("/d/.git/gt/x.arw", "hidden dir");
  // The db sits in the scene here, which the excluded paths must cover.
  ScanOptions options;
  options.excluded_paths = ManifestSidecarPaths("/d/s/manifest.db");
  options.excluded_paths.push_back("masks");  // relative to the root
  options.excluded_paths.push_back("/d//s/./dsb.lock");
  fs.ResetCounters();
  ScanResult r = Scan(fs, "/d", options);
  ASSERT_EQ(SceneNames(r), (std::vector<std::string>{"s"}));
  EXPECT_EQ(Paths(r.scenes[0].gt), (std::vector<std::string>{"s/gt/a.arw"}));
  EXPECT_EQ(Paths(r.scenes[0].noisy), (std::vector<std::string>{"s/n.arw"}));
  EXPECT_TRUE(r.problems.empty());
  EXPECT_TRUE(r.scenes[0].problems.empty());
  // Only the root, s, s/gt, the two raws: nothing ignored was stat()ed.
  EXPECT_EQ(fs.counters().stats, 5u);
  EXPECT_EQ(r.files_stated, 5u);
  for (const auto& path : fs.list_log()) {
    EXPECT_EQ(path.find("masks"), std::string::npos) << path;
  }
}

// Only the excluded paths themselves are skipped: an entry that merely
// shares an excluded path's name elsewhere in the tree is scanned.
TEST(ScanTest, ExcludedPathsMatchWholePathsNotNames) {
  FakeFileSystem fs;
  fs.AddFile("/d/masks/m/gt/x.arw", "inside the masks dir");
  fs.AddFile("/d/s/gt/a.arw", "a");
  fs.AddFile("/d/s/masks/gt/b.arw", "a scene named like the masks dir");
  fs.AddFile("/d/s/manifest.db", "named like the manifest, not it");
  ScanOptions options;
  options.excluded_paths = ManifestSidecarPaths("/d/manifest.db");
  options.excluded_paths.push_back("./masks/");  // relative, odd spelling
  ScanResult r = Scan(fs, "/d", options);
  EXPECT_EQ(SceneNames(r), (std::vector<std::string>{"s", "s/masks"}));
  ASSERT_EQ(r.scenes.size(), 2u);
  EXPECT_EQ(Paths(r.scenes[0].noisy),
            (std::vector<std::string>{"s/manifest.db"}));
  options.excluded_paths.push_back("/d/./s//manifest.db");
  options.excluded_paths.push_back("s/masks");
  r = Scan(fs, "/d", options);
  EXPECT_EQ(SceneNames(r), (std::vector<std::string>{"s"}));
  ASSERT_EQ(r.scenes.size(), 1u);
  EXPECT_TRUE(r.scenes[0].noisy.empty());
}

TEST(ScanTest, IgnoredFileNames) {
  EXPECT_FALSE(IsIgnoredFileName("a.arw"));
  EXPECT_FALSE(IsIgnoredFileName("a.CR3"));
  EXPECT_FALSE(IsIgnoredFileName("jpg"));
  EXPECT_FALSE(IsIgnoredFileName("a.jpg.arw"));
  EXPECT_TRUE(IsIgnoredFileName("a.XMP"));
  EXPECT_TRUE(IsIgnoredFileName("IMG_1.darktable_exported.arw"));
  EXPECT_TRUE(IsIgnoredFileName(".a.arw"));
  EXPECT_TRUE(IsIgnoredFileName(std::string("a.arw") + kTempSuffix));
}

TEST(ScanTest, EmptyGtIsASceneWithoutGts) {
  FakeFileSystem fs;
  fs.AddDirectory("/d/s/gt");
  fs.AddFile("/d/s/n.arw", "n");
  ScanResult r = Scan(fs, "/d");
  ASSERT_EQ(SceneNames(r), (std::vector<std::string>{"s"}));
  EXPECT_TRUE(r.scenes[0].gt.empty());
  EXPECT_EQ(r.scenes[0].noisy.size(), 1u);
}

TEST(ScanTest, GtMustBeADirectory) {
  FakeFileSystem fs;
  fs.AddFile("/d/s/gt", "a file called gt");
  ScanResult r = Scan(fs, "/d");
  EXPECT_TRUE(r.scenes.empty());
}

TEST(ScanTest, OddNamesAreKeptByteForByte) {
  FakeFileSystem fs;
  const std::string odd_scene = "scene with spaces\nand newline";
  const std::string latin1 = std::string("caf\xe9") + ".arw";  // not UTF-8
  fs.AddFile("/d/" + odd_scene + "/gt/g t.arw", "g");
  fs.AddFile("/d/" + odd_scene + "/" + latin1, "n");
  ScanResult r = Scan(fs, "/d");
  ASSERT_EQ(SceneNames(r), (std::vector<std::string>{odd_scene}));
  EXPECT_EQ(Paths(r.scenes[0].gt),
            (std::vector<std::string>{odd_scene + "/gt/g t.arw"}));
  EXPECT_EQ(Paths(r.scenes[0].noisy),
            (std::vector<std::string>{odd_scene + "/" + latin1}));
}

TEST(ScanTest, SortedByBytes) {
  FakeFileSystem fs;
  for (const char* n : {"b.arw", "B.arw", "a.arw", "\xff.arw", "A b.arw"}) {
    fs.AddFile(std::string("/d/s/") + n, "x");
  }
  fs.AddDirectory("/d/s/gt");
  fs.AddDirectory("/d/Z/gt");
  fs.AddDirectory("/d/a/gt");
  ScanResult r = Scan(fs, "/d");
  EXPECT_EQ(SceneNames(r), (std::vector<std::string>{"Z", "a", "s"}));
  EXPECT_EQ(Paths(r.scenes[2].noisy),
            (std::vector<std::string>{"s/A b.arw", "s/B.arw", "s/a.arw",
                                      "s/b.arw", "s/\xff.arw"}));
}

TEST(ScanTest, SymlinkToFileIsFollowed) {
  FakeFileSystem fs;
  fs.AddFile("/store/real.arw", "0123456789", 7);
  fs.AddFile("/d/s/gt/g.arw", "g");
  fs.AddSymlink("/d/s/linked.arw", "/store/real.arw");
  fs.AddSymlink("/d/s/dangling.arw", "/store/missing.arw");
  ScanResult r = Scan(fs, "/d");
  ASSERT_EQ(r.scenes.size(), 1u);
  ASSERT_EQ(Paths(r.scenes[0].noisy),
            (std::vector<std::string>{"s/linked.arw"}));
  EXPECT_EQ(r.scenes[0].noisy[0].size, 10u);
  EXPECT_EQ(r.scenes[0].noisy[0].mtime_ns, 7);
  // The dangling link is a problem of the scene, named.
  ASSERT_EQ(r.scenes[0].problems.size(), 1u);
  EXPECT_NE(r.scenes[0].problems[0].find("/d/s/dangling.arw"),
            std::string::npos);
}

TEST(ScanTest, DirectorySymlinkLoopTerminatesWithProblem) {
  FakeFileSystem fs;
  fs.AddFile("/d/s/gt/g.arw", "g");
  fs.AddSymlink("/d/s/back", "..");    // loop to the root
  fs.AddSymlink("/d/s/gt/self", ".");  // loop inside gt
  fs.AddSymlink("/d/x/l1", "../y");    // x/l1 -> y, y/l2 -> x: a cycle
  fs.AddSymlink("/d/y/l2", "../x");
  fs.AddSymlink("/d/a1", "a2");  // a link that loops on itself
  fs.AddSymlink("/d/a2", "a1");
  ScanResult r = Scan(fs, "/d");
  ASSERT_EQ(SceneNames(r), (std::vector<std::string>{"s"}));
  EXPECT_EQ(Paths(r.scenes[0].gt), (std::vector<std::string>{"s/gt/g.arw"}));
  std::string all;
  for (const auto& p : r.problems) all += p + "\n";
  EXPECT_NE(all.find("/d/s/back"), std::string::npos) << all;
  EXPECT_NE(all.find("/d/a1"), std::string::npos) << all;
  EXPECT_NE(all.find("loop"), std::string::npos) << all;
  // x/l1 reaches y, and y/l2 points back at x, an ancestor; or the second
  // path to y is skipped. Either way the walk ends.
  EXPECT_GE(r.problems.size(), 4u) << all;
}

TEST(ScanTest, SymlinkedSceneDirectoryIsFollowedOnce) {
  FakeFileSystem fs;
  fs.AddFile("/elsewhere/s/gt/g.arw", "g");
  fs.AddSymlink("/d/linked", "/elsewhere/s");
  fs.AddSymlink("/d/linked_again", "/elsewhere/s");
  ScanResult r = Scan(fs, "/d");
  ASSERT_EQ(SceneNames(r), (std::vector<std::string>{"linked"}));
  EXPECT_EQ(Paths(r.scenes[0].gt),
            (std::vector<std::string>{"linked/gt/g.arw"}));
  ASSERT_EQ(r.problems.size(), 1u);
  EXPECT_NE(r.problems[0].find("linked_again"), std::string::npos);
}

TEST(ScanTest, UnreadableDirectoriesAreProblemsNotFailures) {
  FakeFileSystem fs;
  fs.AddFile("/d/ok/gt/g.arw", "g");
  fs.AddFile("/d/locked/gt/g.arw", "g");
  fs.AddFile("/d/s/gt/g.arw", "g");
  fs.SetUnreadable("/d/locked");
  fs.SetUnreadable("/d/s/gt");
  ScanResult r = Scan(fs, "/d");
  EXPECT_EQ(SceneNames(r), (std::vector<std::string>{"ok", "s"}));
  ASSERT_EQ(r.problems.size(), 1u);
  EXPECT_NE(r.problems[0].find("/d/locked"), std::string::npos);
  EXPECT_NE(r.problems[0].find("permission denied"), std::string::npos);
  ASSERT_EQ(r.scenes[1].problems.size(), 1u);
  EXPECT_NE(r.scenes[1].problems[0].find("/d/s/gt"), std::string::npos);
}

TEST(ScanTest, MissingRootIsAnError) {
  FakeFileSystem fs;
  auto r = ScanDataset(fs, "/nope", {});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("/nope"), std::string::npos);
  fs.AddFile("/file", "x");
  EXPECT_FALSE(ScanDataset(fs, "/file", {}).ok());
}

TEST(ScanTest, EachFileStatedOnce) {
  FakeFileSystem fs;
  for (int s = 0; s < 3; ++s) {
    std::string scene = "/d/src/Bayer/s" + std::to_string(s);
    for (int i = 0; i < 3; ++i) {
      fs.AddFile(scene + "/gt/g" + std::to_string(i) + ".arw", "g");
      fs.AddFile(scene + "/n" + std::to_string(i) + ".arw", "n");
    }
  }
  fs.ResetCounters();
  ScanResult r = Scan(fs, "/d");
  ASSERT_EQ(r.scenes.size(), 3u);
  for (const auto& path : fs.stat_log()) {
    EXPECT_EQ(fs.StatCount(path), 1) << path;
  }
  // 18 files + 3 scenes + 3 gt dirs + src + Bayer + root.
  EXPECT_EQ(fs.counters().stats, 27u);
  EXPECT_EQ(r.files_stated, 27u);
  EXPECT_EQ(fs.counters().opens, 0u);  // scanning reads no content
}

TEST(ScanTest, JoinPath) {
  EXPECT_EQ(JoinPath("/d", "a/b"), "/d/a/b");
  EXPECT_EQ(JoinPath("/d/", "a"), "/d/a");
  EXPECT_EQ(JoinPath("/d", "."), "/d");
  EXPECT_EQ(JoinPath("/", "a"), "/a");
}

}  // namespace
}  // namespace dsb
