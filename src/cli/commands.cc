#include "cli/commands.h"

#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/progress.h"
#include "common/large_pages.h"
#include "executor/executor.h"
#include "executor/interrupt.h"
#include "manifest/export.h"
#include "manifest/manifest.h"

namespace dsb {

namespace {

void PrintError(const Status& status) {
  std::fprintf(stderr, "dataset-build: %s\n", status.message().c_str());
}

nlohmann::json StaleToJson(const std::vector<StaleScene>& stale) {
  nlohmann::json list = nlohmann::json::array();
  for (const StaleScene& scene : stale) {
    list.push_back({{"scene", scene.scene},
                    {"reason", scene.reason},
                    {"detail", scene.detail}});
  }
  return list;
}

std::string HumanBytes(std::uint64_t bytes) {
  char text[32];
  if (bytes >= (1ull << 30)) {
    std::snprintf(text, sizeof(text), "%.2f GiB", bytes / double(1ull << 30));
  } else {
    std::snprintf(text, sizeof(text), "%.0f MiB", bytes / double(1ull << 20));
  }
  return text;
}

void PrintSummary(const BuildReport& report, const BuildOptions& options) {
  if (options.json) {
    nlohmann::json failures = nlohmann::json::array();
    for (const FailedScene& failed : report.failures) {
      failures.push_back({{"scene", failed.scene}, {"error", failed.error}});
    }
    nlohmann::json json = {
        {"scenes",
         {{"found", report.scenes_found},
          {"built", report.scenes_built},
          {"up_to_date", report.scenes_up_to_date},
          {"failed", report.scenes_failed},
          {"pruned", report.scenes_pruned},
          {"interrupted", report.scenes_interrupted}}},
        {"pairs", {{"ok", report.pairs_ok}, {"failed", report.pairs_failed}}},
        {"work",
         {{"files_hashed", report.files_hashed},
          {"bytes_hashed", report.bytes_hashed},
          {"files_decoded", report.files_decoded},
          {"pairs_aligned", report.pairs_aligned},
          {"masks_written", report.masks_written},
          {"max_captures_in_flight", report.max_captures_in_flight}}},
        {"seconds", report.seconds},
        {"peak_rss_bytes", report.peak_rss_bytes},
        {"planned_peak_bytes", report.planned_peak_bytes},
        {"device", report.device},
        {"dry_run", options.dry_run},
        {"planned", StaleToJson(report.planned)},
        {"failures", failures},
        {"problems", report.problems},
        {"interrupted", report.interrupted},
        {"exit_status", report.ExitCode()},
    };
    if (report.crops_ran) {
      nlohmann::json crop_failures = nlohmann::json::array();
      for (const auto& [path, error] : report.crops.failures) {
        crop_failures.push_back({{"file", path}, {"error", error}});
      }
      json["crops"] = {{"files_cropped", report.crops.files_cropped},
                       {"files_up_to_date", report.crops.files_up_to_date},
                       {"files_failed", report.crops.files_failed},
                       {"files_removed", report.crops.files_removed},
                       {"files_decoded", report.crops.files_decoded},
                       {"crops_written", report.crops.crops_written},
                       {"bytes_written", report.crops.bytes_written},
                       {"failures", crop_failures}};
    }
    std::cout << json.dump(2) << std::endl;
    return;
  }
  if (options.dry_run) {
    std::printf("dry run: %zu of %d scenes would be rebuilt\n",
                report.planned.size(), report.scenes_found);
    for (const StaleScene& scene : report.planned) {
      std::printf("  %-8s %s%s%s\n", scene.reason.c_str(), scene.scene.c_str(),
                  scene.detail.empty() ? "" : "  (",
                  scene.detail.empty() ? "" : (scene.detail + ")").c_str());
    }
    return;
  }
  for (const std::string& problem : report.problems) {
    std::fprintf(stderr, "warning: %s\n", problem.c_str());
  }
  // Failed scenes were already reported as they happened (Progress::Error).
  std::printf(
      "%s: %d scenes built, %d up to date, %d failed, %d pruned%s; "
      "%d pairs ok, %d failed; %.1f s, peak memory %s%s%s\n",
      report.interrupted ? "interrupted" : "done", report.scenes_built,
      report.scenes_up_to_date, report.scenes_failed, report.scenes_pruned,
      report.scenes_interrupted
          ? (", " + std::to_string(report.scenes_interrupted) +
             " left for the next run")
                .c_str()
          : "",
      report.pairs_ok, report.pairs_failed, report.seconds,
      HumanBytes(report.peak_rss_bytes).c_str(),
      report.device.empty() ? "" : ", ", report.device.c_str());
  if (report.crops_ran) {
    std::printf(
        "crops: %d files cropped (%lld crops, %s), %d up to date, %d failed, "
        "%d removed\n",
        report.crops.files_cropped,
        static_cast<long long>(report.crops.crops_written),
        HumanBytes(report.crops.bytes_written).c_str(),
        report.crops.files_up_to_date, report.crops.files_failed,
        report.crops.files_removed);
  }
}

}  // namespace

int RunBuildCommand(const CommandLine& command_line) {
  BuildOptions options = command_line.build;
  options.ResolveDefaults();
  SetHugePages(options.huge_pages);
  InstallInterruptHandlers();
  Progress progress(Progress::ModeFor(stderr, options.quiet || options.json),
                    stderr);
  Result<BuildReport> report = RunBuild(options, RealFileSystem(), progress);
  progress.Finish();
  if (!report.ok()) {
    PrintError(report.status());
    return report.status().code() == Status::Code::kInvalidArgument ? 2 : 1;
  }
  PrintSummary(*report, options);
  return report->ExitCode();
}

int RunStatusCommand(const CommandLine& command_line) {
  BuildOptions options = command_line.build;
  options.ResolveDefaults();
  Result<StatusReport> report = RunStatus(options, RealFileSystem());
  if (!report.ok()) {
    PrintError(report.status());
    return 2;
  }
  if (options.json) {
    nlohmann::json json = {{"up_to_date", report->up_to_date()},
                           {"scenes_up_to_date", report->scenes_up_to_date},
                           {"stale", StaleToJson(report->stale)},
                           {"problems", report->problems}};
    if (options.crops) {
      nlohmann::json crops = nlohmann::json::array();
      for (const StaleCrop& crop : report->crops_stale) {
        crops.push_back({{"file", crop.rel_path}, {"reason", crop.reason}});
      }
      json["crops_stale"] = crops;
    }
    std::cout << json.dump(2) << std::endl;
  } else {
    for (const std::string& problem : report->problems) {
      std::fprintf(stderr, "warning: %s\n", problem.c_str());
    }
    for (const StaleScene& scene : report->stale) {
      std::printf("%-8s %s%s%s\n", scene.reason.c_str(), scene.scene.c_str(),
                  scene.detail.empty() ? "" : "  (",
                  scene.detail.empty() ? "" : (scene.detail + ")").c_str());
    }
    std::printf("%zu stale, %d up to date\n", report->stale.size(),
                report->scenes_up_to_date);
    if (options.crops) {
      for (const StaleCrop& crop : report->crops_stale) {
        std::printf("crops %-8s %s\n", crop.reason.c_str(),
                    crop.rel_path.c_str());
      }
      std::printf("%zu raw files with missing or stale crops\n",
                  report->crops_stale.size());
    }
  }
  return report->up_to_date() ? 0 : 1;
}

int RunExportCommand(const CommandLine& command_line) {
  BuildOptions options = command_line.build;
  options.ResolveDefaults();
  const ExportCommandOptions& export_options = command_line.export_options;
  Result<ExportFormat> format = ParseExportFormat(export_options.format);
  if (!format.ok()) {
    PrintError(format.status());
    return 2;
  }
  auto manifest = Manifest::Open(options.db_path, OpenMode::kReadOnly);
  if (!manifest.ok()) {
    PrintError(manifest.status());
    return 1;
  }
  ExportOptions settings;
  if (export_options.absolute_paths) {
    char* resolved = realpath(options.root.c_str(), nullptr);
    if (resolved == nullptr) {
      PrintError(
          Status::IoError("cannot resolve dataset root " + options.root));
      return 1;
    }
    settings.absolute_root = std::string(resolved);
    std::free(resolved);
  }
  std::ostringstream text;
  Status exported = ExportManifest(**manifest, *format, text, settings);
  if (!exported.ok()) {
    PrintError(exported);
    return 1;
  }
  if (export_options.output_path.empty() || export_options.output_path == "-") {
    std::cout << text.str();
    return std::cout.good() ? 0 : 1;
  }
  const std::string bytes = text.str();
  Status written = RealFileSystem().WriteFileAtomically(
      export_options.output_path,
      {reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()});
  if (!written.ok()) {
    PrintError(written);
    return 1;
  }
  return 0;
}

}  // namespace dsb
