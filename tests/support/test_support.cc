#include "test_support.h"

#include <grp.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace dsb::testing {

TempDir::TempDir() {
  std::string pattern =
      (std::filesystem::temp_directory_path() / "dsb-test-XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) {
    throw std::runtime_error("mkdtemp failed for " + pattern);
  }
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

ToolRun RunTool(const std::vector<std::string>& args, const std::string& log,
                uid_t uid) {
  const char* binary = std::getenv("DSB_BINARY");
  ToolRun run;
  if (binary == nullptr) {
    run.errors = "DSB_BINARY is not set";
    return run;
  }
  std::fflush(stdout);
  const pid_t pid = fork();
  if (pid == 0) {
    std::vector<std::string> copy = args;
    std::vector<char*> argv = {const_cast<char*>(binary)};
    for (std::string& arg : copy) argv.push_back(arg.data());
    argv.push_back(nullptr);
    if (!std::freopen("/dev/null", "w", stdout) ||
        !std::freopen(log.c_str(), "w", stderr)) {
      _exit(126);
    }
    if (uid != static_cast<uid_t>(-1) &&
        (setgroups(0, nullptr) != 0 || setresgid(uid, uid, uid) != 0 ||
         setresuid(uid, uid, uid) != 0)) {
      _exit(125);
    }
    execv(binary, argv.data());
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  run.exit_code =
      WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  std::ifstream in(log);
  std::stringstream text;
  text << in.rdbuf();
  run.errors = text.str();
  return run;
}

std::string RealRawDir() {
  const char* dir = std::getenv("DSB_REAL_RAW_DIR");
  if (dir == nullptr || !std::filesystem::is_directory(dir)) return "";
  return dir;
}

std::vector<CfaPattern> AllCfas() {
  return {CfaPattern::Bayer(BayerOrder::kRGGB),
          CfaPattern::Bayer(BayerOrder::kBGGR),
          CfaPattern::Bayer(BayerOrder::kGRBG),
          CfaPattern::Bayer(BayerOrder::kGBRG), CfaPattern::StandardXTrans()};
}

}  // namespace dsb::testing
