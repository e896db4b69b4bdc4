// What a build tells whoever watches it: totals, each file and scene done,
// notices and per-scene failures as they happen.
//
// The executor reports through this interface and never prints; the
// command line's Progress (cli/progress.h) draws it for a user, tests record
// it or ignore it. Every method has an empty default, so a plain
// BuildObserver is a silent one.
//
// Thread safety: implementations must allow calls from any thread (scenes
// and their files finish on worker threads).
#pragma once

#include <cstdint>
#include <string_view>

namespace dsb {

class BuildObserver {
 public:
  virtual ~BuildObserver() = default;

  // Once, before the first scene starts: what the build will do.
  virtual void SetTotals(int /*scenes*/, int /*files*/,
                         std::uint64_t /*bytes*/) {}
  // A file of a scene was decoded (or failed to), `bytes` its size.
  virtual void FileDone(std::uint64_t /*bytes*/) {}
  // A scene was recorded in the manifest.
  virtual void SceneDone() {}
  // A notice for the user (e.g. which device aligns, and why).
  virtual void Message(std::string_view /*line*/) {}
  // A failure the user must see even with --quiet.
  virtual void Error(std::string_view /*line*/) {}
};

}  // namespace dsb
