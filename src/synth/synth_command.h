// `dataset-build synth OUT_DIR [options]`: the command-line front end of the
// synthetic dataset generator (synth/generate.h).
//
// Thread safety: call from the main thread only (prints to stdout/stderr).
#pragma once

namespace dsb {

// argv[0] is "synth". Prints one line per scene to stderr and a summary to
// stdout. Returns 0 on success, 1 when generation failed (the reason is
// printed as "dataset-build synth: <error>"), 2 for usage errors.
int RunSynthCommand(int argc, char** argv);

}  // namespace dsb
