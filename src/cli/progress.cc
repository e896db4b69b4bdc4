#include "cli/progress.h"

#include <unistd.h>

#include <cmath>

namespace dsb {

Progress::Mode Progress::ModeFor(std::FILE* stream, bool quiet) {
  if (quiet) return Mode::kQuiet;
  return isatty(fileno(stream)) ? Mode::kLive : Mode::kPlain;
}

Progress::Progress(Mode mode, std::FILE* stream,
                   std::chrono::seconds plain_interval)
    : mode_(mode),
      stream_(stream),
      plain_interval_(plain_interval),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

Progress::~Progress() { Finish(); }

void Progress::SetTotals(int scenes, int files, std::uint64_t bytes) {
  std::lock_guard lock(mutex_);
  scenes_total_ = scenes;
  files_total_ = files;
  bytes_total_ = bytes;
  MaybeDraw(true);
}

void Progress::FileDone(std::uint64_t bytes) {
  std::lock_guard lock(mutex_);
  ++files_done_;
  bytes_done_ += bytes;
  MaybeDraw(false);
}

void Progress::SceneDone() {
  std::lock_guard lock(mutex_);
  ++scenes_done_;
  MaybeDraw(mode_ == Mode::kLive);
}

void Progress::Message(std::string_view line) {
  if (mode_ == Mode::kQuiet) return;
  std::lock_guard lock(mutex_);
  if (line_shown_) std::fputs("\r\033[K", stream_);
  std::fprintf(stream_, "%.*s\n", static_cast<int>(line.size()), line.data());
  line_shown_ = false;
  MaybeDraw(true);
}

void Progress::Error(std::string_view line) {
  std::lock_guard lock(mutex_);
  if (line_shown_) std::fputs("\r\033[K", stream_);
  std::fprintf(stream_, "%.*s\n", static_cast<int>(line.size()), line.data());
  line_shown_ = false;
  MaybeDraw(true);
}

void Progress::Finish() {
  std::lock_guard lock(mutex_);
  if (line_shown_) {
    std::fputs("\r\033[K", stream_);
    std::fflush(stream_);
    line_shown_ = false;
  }
}

std::string Progress::StatusLine() const {
  using std::chrono::duration;
  const double elapsed =
      duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double mb_per_s = elapsed > 0 ? bytes_done_ / 1e6 / elapsed : 0;
  std::string eta = "--";
  if (bytes_done_ > 0 && bytes_total_ > bytes_done_) {
    const double left = elapsed * (static_cast<double>(bytes_total_) /
                                       static_cast<double>(bytes_done_) -
                                   1.0);
    const long seconds = std::lround(left);
    char text[32];
    std::snprintf(text, sizeof(text), "%ld:%02ld", seconds / 60, seconds % 60);
    eta = text;
  } else if (bytes_total_ > 0 && bytes_done_ >= bytes_total_) {
    eta = "0:00";
  }
  char line[160];
  std::snprintf(line, sizeof(line),
                "[%d/%d scenes, %d/%d files] %.1f MB/s, ETA %s", scenes_done_,
                scenes_total_, files_done_, files_total_, mb_per_s,
                eta.c_str());
  return line;
}

void Progress::MaybeDraw(bool force) {
  if (mode_ == Mode::kQuiet) return;
  const auto now = std::chrono::steady_clock::now();
  if (mode_ == Mode::kLive) {
    if (!force && now - last_draw_ < std::chrono::milliseconds(100)) return;
    std::fprintf(stream_, "\r\033[K%s", StatusLine().c_str());
    std::fflush(stream_);
    line_shown_ = true;
  } else {
    // Logs get a line per interval and nothing else, however eventful.
    if (now - last_draw_ < plain_interval_) return;
    std::fprintf(stream_, "%s\n", StatusLine().c_str());
    std::fflush(stream_);
  }
  last_draw_ = now;
}

}  // namespace dsb
