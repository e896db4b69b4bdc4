#include "tool_process.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

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

int RunTool(const std::vector<std::string>& args, const std::string& output) {
  return WaitForExit(SpawnTool(args, output));
}

}  // namespace dsb::testing
