// FFTW's wisdom file (executor/fft_wisdom.h): where it goes, that what it
// writes FFTW takes back, that it is rewritten only when there is more to
// keep, and that a broken file is only a cache miss.
#include "executor/fft_wisdom.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>

#include "align/fftw_plans.h"
#include "test_support.h"

namespace dsb {
namespace {

namespace fs = std::filesystem;

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Sets an environment variable for the test's scope.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value != nullptr) {
      ::setenv(name, value, 1);
    } else {
      ::unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_.has_value()) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

// The other side of AFreshProcessPlansFromTheSavedWisdom, in a process of
// its own started for it: runs before gtest's main (nothing has touched
// FFTW yet), loads the file, plans the size again and exits 0 when that
// added no wisdom, i.e. the plan came from the file and was not measured.
const int kFreshProcessCheck = [] {
  const char* path = std::getenv("DSB_FFT_WISDOM_CHILD");
  if (path == nullptr) return 0;
  FftWisdomFile file(path);
  file.Load();
  const std::string loaded = ExportFftWisdom();
  const bool planned = GetFftPlans(1024, 1056, 1).ok();
  std::_Exit(planned && !loaded.empty() && ExportFftWisdom() == loaded ? 0 : 1);
}();

TEST(FftWisdomTest, PathFollowsXdgCacheHomeThenHome) {
  char host[256] = {};
  ASSERT_EQ(::gethostname(host, sizeof(host) - 1), 0);
  {
    ScopedEnv xdg("XDG_CACHE_HOME", "/x/cache");
    ScopedEnv home("HOME", "/h");
    EXPECT_EQ(FftWisdomPath(),
              std::string("/x/cache/dataset-build/fftw-wisdom-") + host);
  }
  {
    ScopedEnv xdg("XDG_CACHE_HOME", nullptr);
    ScopedEnv home("HOME", "/h");
    EXPECT_EQ(FftWisdomPath(),
              std::string("/h/.cache/dataset-build/fftw-wisdom-") + host);
  }
  {
    ScopedEnv xdg("XDG_CACHE_HOME", "relative");  // not a path: ignored
    ScopedEnv home("HOME", nullptr);
    EXPECT_EQ(FftWisdomPath(), "");
  }
}

TEST(FftWisdomTest, SavesWhatFftwTakesBackAndOnlyWhenItGrew) {
  testing::TempDir dir;
  const std::string path = dir.Join("cache/dataset-build/fftw-wisdom-test");
  FftWisdomFile file(path);
  file.Load();  // no file yet: nothing happens
  file.Save();  // nothing new since Load: nothing written
  EXPECT_FALSE(fs::exists(path));

  // A measured size (the planner's threshold is 2^20 samples) adds wisdom
  // (a size no other test plans, so it is new here).
  ASSERT_TRUE(GetFftPlans(1024, 1032, 1).ok());
  file.Save();
  ASSERT_TRUE(fs::exists(path));
  const std::string saved = ReadText(path);
  EXPECT_NE(saved.find("fftw"), std::string::npos) << saved.substr(0, 80);
  EXPECT_TRUE(ImportFftWisdom(saved));

  // Loaded again and nothing new: the file is left as it is.
  FftWisdomFile again(path);
  again.Load();
  fs::last_write_time(path, fs::file_time_type());
  again.Save();
  EXPECT_EQ(fs::last_write_time(path), fs::file_time_type());
  EXPECT_EQ(ReadText(path), saved);
}

TEST(FftWisdomTest, BrokenFileIsACacheMiss) {
  testing::TempDir dir;
  const std::string path = dir.Join("fftw-wisdom-test");
  std::ofstream(path) << "not wisdom at all";
  EXPECT_FALSE(ImportFftWisdom("not wisdom at all"));
  FftWisdomFile file(path);
  file.Load();  // ignored
  ASSERT_TRUE(GetFftPlans(1024, 1040, 1).ok());
  // Whatever the process holds replaces the broken file on Save (it held
  // none at Load, unless an earlier test planned; either way it is FFTW's).
  FftWisdomFile fresh(path);
  fresh.Save();
  EXPECT_TRUE(ImportFftWisdom(ReadText(path)));
  // No cache folder: nothing to do, and no error.
  FftWisdomFile nowhere("");
  nowhere.Load();
  nowhere.Save();
}

// A later build does not measure again: a fresh process that loads the
// file plans the same size from it (FFTW forgets wisdom imported before
// its threads are set up, which the loader must do first).
TEST(FftWisdomTest, AFreshProcessPlansFromTheSavedWisdom) {
  testing::TempDir dir;
  const std::string path = dir.Join("fftw-wisdom-test");
  ASSERT_TRUE(GetFftPlans(1024, 1056, 1).ok());  // measured here
  FftWisdomFile(path).Save();
  ASSERT_TRUE(fs::exists(path));
  const std::string command = "DSB_FFT_WISDOM_CHILD='" + path + "' /proc/" +
                              std::to_string(::getpid()) +
                              "/exe >/dev/null 2>&1";
  EXPECT_EQ(std::system(command.c_str()), 0);
}

}  // namespace
}  // namespace dsb
