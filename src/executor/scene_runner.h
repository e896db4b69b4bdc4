// The executor's seam for building one scene: a SceneRunner turns one
// SceneWork (plan/scene_work.h: files, pairs, mask paths, memory share)
// into a SceneOutcome, which the executor records in the manifest.
//
// The real runner (executor/scene_builder.h) decodes, aligns, masks and
// writes PNGs; tests substitute a fake that produces outcomes in memory, so
// reruns, pruning, failures, interrupts and ordering are tested in
// milliseconds (like ninja's fake CommandRunner).
//
// Thread safety: Run may be called for several scenes at once; counters are
// atomic.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "core/alignment.h"
#include "core/file_record.h"
#include "core/raw_image.h"
#include "manifest/manifest.h"
#include "plan/scene_work.h"

namespace dsb {

class BuildObserver;

struct BuildCounters {
  std::atomic<std::int64_t> files_decoded{0};
  std::atomic<std::int64_t> pairs_aligned{0};
  std::atomic<std::int64_t> masks_written{0};
  std::atomic<std::int64_t> bytes_decoded{0};
  // Captures decoded and not yet finished, and the most there ever were at
  // once: bounded by --jobs and by the --mem budget. The GTs a pass aligns
  // against are held as GTs (SceneMemory::gt_group), not counted here.
  std::atomic<std::int64_t> captures_in_flight{0};
  std::atomic<std::int64_t> max_captures_in_flight{0};
  // Correlators made (one per GT per pass over the captures) and the
  // largest batch of captures one Align call received.
  std::atomic<std::int64_t> correlators_made{0};
  std::atomic<std::int64_t> max_align_batch{0};
  // What the scenes being built plan to hold (plan/memory_plan.h:
  // PlannedBytes, summed over scenes in flight), and the most ever.
  std::atomic<std::int64_t> planned_bytes{0};
  std::atomic<std::int64_t> max_planned_bytes{0};

  // Raises `max` to at least `value`.
  static void RaiseTo(std::atomic<std::int64_t>& max, std::int64_t value);
};

struct FileOutcome {
  FileRecord file;
  Status status;                         // decode result
  std::optional<FileMetadata> metadata;  // when it decoded
};

struct PairOutcome {
  std::string gt_path, noisy_path;
  Status status;
  Alignment alignment;
  float overexposure_lb = 1.0f;
  std::string mask_path;  // as recorded (relative to the root when inside)
  double mask_mean = 0;
  // RawNIND's demosaiced rgb_gain and best_alignment_loss (Bayer pairs,
  // crops/rawnind_loss.h).
  std::optional<double> rgb_gain, rawnind_loss;
};

struct SceneOutcome {
  std::string scene, key;
  Status status;  // ok, or the first failure (message names the file)
  bool cancelled = false;
  std::string cfa_name;  // the first decodable GT's; "" if none decoded
  int width = 0, height = 0;
  std::vector<FileOutcome> files;  // SceneWork::files() order
  std::vector<PairOutcome> pairs;  // SceneWork::pairs order
  // Task seconds summed per step: decoding, alignment, the masks and their
  // PNGs, RawNIND's figures.
  double decode_seconds = 0, align_seconds = 0, mask_seconds = 0,
         figures_seconds = 0;
};

// Called with every file a runner decodes, while the runner holds the
// decoded image (the --crops step rides on the scene build's decode,
// crops/crop_stage.h); from several threads, possibly more than once per
// file.
using DecodedFileHook =
    std::function<void(const std::string& rel_path, const RawImage& image)>;

class SceneRunner {
 public:
  virtual ~SceneRunner() = default;

  // Before Start; a runner that decodes nothing (a test's fake) ignores it.
  virtual void SetDecodedFileHook(DecodedFileHook hook) { (void)hook; }

  // Called once the plan has a scene to build, before Start, while the
  // build still records its plan: a runner may get ready in the background
  // (the real one starts its decode workers). The default does nothing.
  virtual void Prepare() {}

  // Called once, before the first scene, and only when there is a scene to
  // build: chooses the device (its notice goes to `observer`, once). An
  // error stops the build (e.g. --device gpu without a usable GPU).
  virtual Status Start(BuildObserver& observer) = 0;
  // Which device aligns, for the summary ("" before Start).
  virtual std::string device() const = 0;

  // Builds one scene. Failures of files and pairs are in the outcome, with
  // the scene's status saying so; an interrupted scene comes back
  // `cancelled` (InterruptRequested, executor/interrupt.h).
  virtual SceneOutcome Run(const SceneWork& work, BuildCounters& counters,
                           BuildObserver& observer) = 0;

  // Called once the build's last scene has run (or was interrupted), before
  // the build records its end: a runner may let go of what it kept for the
  // next scene (the real one ends its decode workers, whose exits then
  // overlap the manifest's last writes instead of following them). A Run
  // after it still works. The default does nothing.
  virtual void Release() {}
};

// The scene's status from its files and pairs: ok, or the first failure
// with how many pairs failed, or the scan's problems when the file list
// may be incomplete. Shared by every runner so the wording is one.
Status SceneStatus(const SceneWork& work, const SceneOutcome& outcome);

}  // namespace dsb
