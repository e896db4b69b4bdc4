// dataset-build: entry point. Parses the command line and hands over to the
// build executor, the status report, the exporter, the generator or the
// cluster commands (merge, slurm); or, as
// `dataset-build __decode-worker ...`, decodes one file for a build.
#include <cstdio>
#include <string>
#include <vector>

#include "cli/cluster_commands.h"
#include "cli/command_line.h"
#include "cli/commands.h"
#include "cli/report_command.h"
#include "config.h"
#include "raw/decode_worker.h"
#include "synth/synth_command.h"

int main(int argc, char** argv) {
  // The hidden decode worker (raw/decode_worker.h) comes first: it must not
  // depend on anything the rest of the command line does.
  if (auto worker = dsb::RunDecodeWorkerIfAsked(argc, argv)) return *worker;
  std::vector<std::string> args(argv, argv + argc);
  auto command_line = dsb::ParseCommandLine(args);
  if (!command_line.ok()) {
    std::fprintf(stderr, "dataset-build: %s\nTry 'dataset-build --help'.\n",
                 command_line.status().message().c_str());
    return 2;
  }
  switch (command_line->command) {
    case dsb::Command::kHelp:
      std::fputs(command_line->help_text.c_str(), stdout);
      return 0;
    case dsb::Command::kVersion:
      std::printf("dataset-build %s\n", DSB_VERSION);
      return 0;
    case dsb::Command::kSynth:
      return dsb::RunSynthCommand(argc - 1, argv + 1);
    case dsb::Command::kReport:
      return dsb::RunReportCommand(argc - 1, argv + 1);
    case dsb::Command::kExport:
      return dsb::RunExportCommand(*command_line);
    case dsb::Command::kMerge:
      return dsb::RunMergeCommand(*command_line);
    case dsb::Command::kSlurm:
      return dsb::RunSlurmCommand(*command_line);
    case dsb::Command::kStatus:
      return dsb::RunStatusCommand(*command_line);
    case dsb::Command::kBuild:
      return dsb::RunBuildCommand(*command_line);
  }
  return 2;
}
