// Progress output for long builds.
//
// On a terminal: one live line, redrawn at most 10 times a second, with
// scenes and files done/total, MB/s of raw data and an ETA. When stderr is
// not a terminal (logs, CI): a plain line every `plain_interval` seconds.
// With quiet: nothing. Messages (warnings, per-scene failures) are printed
// above the live line without garbling it.
//
// No Debian 12 package offers a maintained C++ progress-bar library, so
// this is a small reporter of our own (see README).
//
// Thread safety: all methods may be called from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <string>
#include <string_view>

#include "executor/build_observer.h"

namespace dsb {

class Progress : public BuildObserver {
 public:
  enum class Mode { kLive, kPlain, kQuiet };
  // kLive when `stream` is a terminal, else kPlain; kQuiet when `quiet`.
  static Mode ModeFor(std::FILE* stream, bool quiet);

  Progress(Mode mode, std::FILE* stream,
           std::chrono::seconds plain_interval = std::chrono::seconds(10));
  ~Progress() override;

  void SetTotals(int scenes, int files, std::uint64_t bytes) override;
  void FileDone(std::uint64_t bytes) override;
  void SceneDone() override;
  // A line for the user (kept even in quiet mode for warnings? no: quiet
  // keeps errors only; the caller decides by calling Error()).
  void Message(std::string_view line) override;
  void Error(std::string_view line) override;  // printed in every mode
  // Clears the live line.
  void Finish();

 private:
  void MaybeDraw(bool force);
  std::string StatusLine() const;

  const Mode mode_;
  std::FILE* const stream_;
  const std::chrono::seconds plain_interval_;
  const std::chrono::steady_clock::time_point start_;
  std::mutex mutex_;
  std::chrono::steady_clock::time_point last_draw_;
  int scenes_total_ = 0, scenes_done_ = 0;
  int files_total_ = 0, files_done_ = 0;
  std::uint64_t bytes_total_ = 0, bytes_done_ = 0;
  bool line_shown_ = false;
};

}  // namespace dsb
