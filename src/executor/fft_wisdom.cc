#include "executor/fft_wisdom.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "align/fftw_plans.h"

namespace dsb {

std::string FftWisdomPath() {
  std::string folder;
  if (const char* cache = std::getenv("XDG_CACHE_HOME");
      cache != nullptr && cache[0] == '/') {
    folder = cache;
  } else if (const char* home = std::getenv("HOME");
             home != nullptr && home[0] == '/') {
    folder = std::string(home) + "/.cache";
  } else {
    return "";
  }
  char host[256] = {};
  if (::gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0') {
    std::snprintf(host, sizeof(host), "host");
  }
  return folder + "/dataset-build/fftw-wisdom-" + host;
}

void FftWisdomFile::Load() {
  if (path_.empty()) return;
  std::ifstream in(path_);
  if (in) {
    std::ostringstream text;
    text << in.rdbuf();
    (void)ImportFftWisdom(text.str());  // not FFTW's: ignored
  }
  loaded_ = ExportFftWisdom();
}

void FftWisdomFile::Save() const {
  if (path_.empty()) return;
  const std::string wisdom = ExportFftWisdom();
  if (wisdom.empty() || wisdom == loaded_) return;
  const std::string folder = path_.substr(0, path_.rfind('/'));
  ::mkdir(folder.substr(0, folder.rfind('/')).c_str(), 0755);
  ::mkdir(folder.c_str(), 0755);
  const std::string temporary =
      path_ + ".tmp" + std::to_string(static_cast<long>(::getpid()));
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << wisdom;
    if (!out.flush()) {
      ::unlink(temporary.c_str());
      return;
    }
  }
  if (std::rename(temporary.c_str(), path_.c_str()) != 0) {
    ::unlink(temporary.c_str());
  }
}

}  // namespace dsb
