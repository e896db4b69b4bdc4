// `dataset-build report [ROOT] [--db FILE] [-o DIR] [options]`: the command
// line front end of the QA report (report/report.h). It parses its own
// arguments, as `synth` does, so the build's command line stays as it is.
//
// Thread safety: call from the main thread only (prints to stdout/stderr).
#pragma once

namespace dsb {

// argv[0] is "report". Prints progress to stderr and the index path with a
// summary to stdout. Returns 0 when the report was written (previews that
// could not be drawn are part of the report, not errors of the command), 1
// when it could not be (no manifest, an unwritable folder), 2 for usage
// errors.
int RunReportCommand(int argc, char** argv);

}  // namespace dsb
