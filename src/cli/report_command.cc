#include "cli/report_command.h"

#include <unistd.h>

#include <cstdio>
#include <cxxopts.hpp>
#include <string>
#include <vector>

#include "cli/progress.h"
#include "executor/build_options.h"
#include "executor/decoding.h"
#include "report/report.h"

namespace dsb {

namespace {

int UsageError(const std::string& message) {
  std::fprintf(stderr,
               "dataset-build report: %s\nTry 'dataset-build report --help'.\n",
               message.c_str());
  return 2;
}

std::size_t PhysicalMemory() {
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long page_size = sysconf(_SC_PAGESIZE);
  return pages > 0 && page_size > 0
             ? static_cast<std::size_t>(pages) * page_size
             : std::size_t{8} << 30;
}

}  // namespace

int RunReportCommand(int argc, char** argv) {
  cxxopts::Options options(
      "dataset-build report",
      "Writes a static HTML report of a dataset's manifest (default "
      "ROOT/report/index.html) that opens offline in any browser: counts, "
      "what RawNIND's loader keeps and drops, histograms, the weakest "
      "alignments, every failure, and per scene the captures, each pair's "
      "difference and mask. Previews are cached by content, so a rerun "
      "draws only what changed.");
  options.positional_help("[ROOT]");
  // clang-format off
  options.add_options()
    ("db", "manifest file (default ROOT/dataset-build.db)", cxxopts::value<std::string>())
    ("o,output", "report folder (default ROOT/report)", cxxopts::value<std::string>())
    ("j,jobs", "threads drawing previews (default: all cores)", cxxopts::value<int>())
    ("force", "redraw every preview")
    ("decode-timeout", "per-file decode time limit in seconds, plus 1 s per MB (default 120)", cxxopts::value<double>())
    ("q,quiet", "no progress output")
    ("h,help", "print this help")
    ("root", "dataset root", cxxopts::value<std::vector<std::string>>());
  // clang-format on
  options.parse_positional({"root"});
  cxxopts::ParseResult parsed;
  try {
    parsed = options.parse(argc, argv);
  } catch (const cxxopts::exceptions::exception& error) {
    return UsageError(error.what());
  }
  if (parsed.count("help")) {
    std::fputs(options.help().c_str(), stdout);
    return 0;
  }
  ReportOptions report;
  if (parsed.count("root")) {
    const auto& roots = parsed["root"].as<std::vector<std::string>>();
    if (roots.size() != 1) return UsageError("one dataset root expected");
    report.root = roots.front();
  }
  if (parsed.count("db")) report.db_path = parsed["db"].as<std::string>();
  if (parsed.count("output")) {
    report.output_dir = parsed["output"].as<std::string>();
  }
  if (parsed.count("jobs")) {
    report.jobs = parsed["jobs"].as<int>();
    if (report.jobs < 1) return UsageError("--jobs must be at least 1");
  }
  report.force = parsed.count("force") > 0;

  // The build's decoder and limits (a pool of decode worker processes).
  BuildOptions build;
  if (parsed.count("decode-timeout")) {
    build.decode_timeout_s = parsed["decode-timeout"].as<double>();
    if (!(build.decode_timeout_s > 0)) {
      return UsageError("--decode-timeout must be positive");
    }
  }
  const BuildDecoding decoding = MakeBuildDecoding(build, PhysicalMemory());

  Progress progress(Progress::ModeFor(stderr, parsed.count("quiet") > 0),
                    stderr);
  Result<ReportSummary> summary = RunReport(
      report, RealFileSystem(), *decoding.decoder, decoding.options, progress);
  progress.Finish();
  if (!summary.ok()) {
    std::fprintf(stderr, "dataset-build report: %s\n",
                 summary.status().message().c_str());
    return 1;
  }
  std::printf(
      "%s\n%d scenes, %d pairs; %d scenes drawn: %d previews drawn, %d could "
      "not be drawn, %d cached; %d files decoded, %d pages written, %d old "
      "files removed; %.1f s\n",
      summary->index_path.c_str(), summary->scenes, summary->pairs,
      summary->scenes_drawn, summary->images_drawn, summary->images_failed,
      summary->images_cached, summary->files_decoded, summary->pages_written,
      summary->files_removed, summary->seconds);
  return 0;
}

}  // namespace dsb
