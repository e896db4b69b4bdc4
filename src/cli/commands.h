// The commands behind the command line: each takes the parsed command line,
// prints for the user, and returns the process exit status (docs/contract.md
// §5).
//
// Thread safety: called once, from main.
#pragma once

#include "cli/command_line.h"

namespace dsb {

int RunBuildCommand(const CommandLine& command_line);
int RunStatusCommand(const CommandLine& command_line);
int RunExportCommand(const CommandLine& command_line);

}  // namespace dsb
