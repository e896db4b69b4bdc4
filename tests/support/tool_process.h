// Running the dataset-build binary from integration tests that need a real
// process: to kill it mid-build, to run tasks at once, or to see its exit
// status exactly as a shell would; and listing this process's children
// (the decode workers it left, if any).
//
// The binary is the one meson hands the test in DSB_BINARY. Thread safety:
// call from the test's main thread (fork).
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace dsb::testing {

// DSB_BINARY, or "" where the test runs without it (the caller skips).
std::string ToolBinary();

// Starts the tool with `args`; its stdout and stderr both go to `output`
// (a log file the test reads, or /dev/null).
pid_t SpawnTool(const std::vector<std::string>& args,
                const std::string& output = "/dev/null");

// Exit status of a finished child, or 128 + signal when it was killed.
int WaitForExit(pid_t pid);

// The pids of this process's children, running or zombie, from /proc
// (field 4 of /proc/PID/stat is the parent).
std::vector<pid_t> ChildProcesses();

// SpawnTool then WaitForExit.
int RunTool(const std::vector<std::string>& args,
            const std::string& output = "/dev/null");

}  // namespace dsb::testing
