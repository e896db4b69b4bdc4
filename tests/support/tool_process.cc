#include "tool_process.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace dsb::testing {

std::string ToolBinary() {
  const char* binary = std::getenv("DSB_BINARY");
  return binary ? binary : "";
}

pid_t SpawnTool(const std::vector<std::string>& args,
                const std::string& output) {
  std::fflush(stdout);  // or the child writes the parent's buffer again
  const pid_t pid = fork();
  if (pid == 0) {
    std::string binary = ToolBinary();
    std::vector<std::string> copy = args;
    std::vector<char*> argv = {binary.data()};
    for (std::string& arg : copy) argv.push_back(arg.data());
    argv.push_back(nullptr);
    if (!std::freopen(output.c_str(), "w", stdout)) _exit(126);
    if (dup2(fileno(stdout), STDERR_FILENO) < 0) _exit(126);
    execv(argv[0], argv.data());
    _exit(127);
  }
  return pid;
}

int WaitForExit(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::vector<pid_t> ChildProcesses() {
  std::vector<pid_t> children;
  const pid_t self = ::getpid();
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream stat(entry.path() / "stat");
    std::string text;
    std::getline(stat, text);
    // The command name in parentheses may hold spaces: fields follow the
    // last ')'.
    const std::size_t close = text.rfind(')');
    if (close == std::string::npos || close + 2 > text.size()) continue;
    std::istringstream fields(text.substr(close + 2));
    std::string state;
    long long ppid = 0;
    fields >> state >> ppid;
    if (ppid == self) children.push_back(static_cast<pid_t>(std::stoll(name)));
  }
  return children;
}

int RunTool(const std::vector<std::string>& args, const std::string& output) {
  return WaitForExit(SpawnTool(args, output));
}

}  // namespace dsb::testing
