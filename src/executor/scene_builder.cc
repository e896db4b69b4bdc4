#include "executor/scene_builder.h"

#include <tbb/enumerable_thread_specific.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

#include <algorithm>
#include <chrono>
#include <memory>

#include "align/correlator.h"
#include "executor/build_observer.h"
#include "executor/interrupt.h"
#include "mask/loss_mask.h"
#include "mask/mask_names.h"
#include "mask/png_writer.h"
#include "raw/decoder.h"

namespace dsb {

namespace {

using Clock = std::chrono::steady_clock;

std::int64_t NanosSince(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() -
                                                              start)
      .count();
}

bool IsInside(const std::string& path, const std::string& dir) {
  return path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 &&
         path[dir.size()] == '/';
}

// Everything one scene's workers share; each slot of `pairs` and `files` is
// written by exactly one task.
struct SceneState {
  const SceneJob* job = nullptr;
  const BuildContext* context = nullptr;
  std::vector<FileRecord> files;  // GTs first, then noisy
  SceneOutcome* outcome = nullptr;
  std::vector<std::atomic<bool>> file_recorded;
  std::atomic<std::int64_t> decode_ns{0}, align_ns{0}, mask_ns{0};

  std::string AbsolutePath(const FileRecord& file) const {
    return context->options->root + "/" + file.rel_path;
  }
  PairOutcome& Pair(std::size_t gt_index, std::size_t file_index) {
    return outcome->pairs[gt_index * files.size() + file_index];
  }
};

Result<RawImage> DecodeFile(SceneState& state, std::size_t index) {
  const FileRecord& file = state.files[index];
  if (auto it = state.job->hash_errors.find(file.rel_path);
      it != state.job->hash_errors.end()) {
    return Status::IoError(file.rel_path + ": " + it->second);
  }
  const auto start = Clock::now();
  const BuildContext& context = *state.context;
  Result<RawImage> image =
      context.decoder != nullptr
          ? context.decoder->Decode(state.AbsolutePath(file),
                                    context.decode_options)
          : DecodeRaw(state.AbsolutePath(file), context.decode_options);
  state.decode_ns += NanosSince(start);
  if (image.ok()) {
    image->path = file.rel_path;
    state.context->counters->files_decoded++;
    state.context->counters->bytes_decoded +=
        static_cast<std::int64_t>(file.size);
  }
  // Record what the file is (or why it is unusable) the first time it is
  // decoded; a GT may be decoded again in a later GT group.
  if (!state.file_recorded[index].exchange(true)) {
    FileOutcome& out = state.outcome->files[index];
    if (image.ok()) {
      out.metadata = FileMetadata::FromRaw(*image);
    } else {
      out.status = image.status();
    }
    if (state.context->progress != nullptr) {
      state.context->progress->FileDone(file.size);
    }
  }
  return image;
}

void FailPair(PairOutcome& pair, const Status& status) {
  pair.status =
      status.ok() ? Status::Internal("pair failed without a reason") : status;
}

// Aligns `image` (file `file_index`) to every decoded GT of the group, then
// masks and writes each pair.
void AlignToGroup(SceneState& state, std::size_t file_index,
                  const RawImage& image,
                  const std::vector<std::optional<RawImage>>& group,
                  std::size_t group_start,
                  std::vector<std::unique_ptr<SceneCorrelator>>& correlators,
                  MaskWorkspace& mask_workspace) {
  const BuildContext& context = *state.context;
  const BuildOptions& options = *context.options;
  for (std::size_t k = 0; k < group.size(); ++k) {
    const std::size_t gt_index = group_start + k;
    PairOutcome& pair = state.Pair(gt_index, file_index);
    if (!group[k].has_value()) continue;  // GT failed; pair already failed
    const RawImage& gt = *group[k];
    pair.overexposure_lb = gt.meta.overexposure_lb;
    if (correlators[k] == nullptr) {
      std::string notice;
      auto made = MakeCorrelator(options.device, options.align, &notice);
      if (!made.ok()) {
        FailPair(pair, made.status());
        continue;
      }
      Status reference = (*made)->SetReference(gt);
      if (!reference.ok()) {
        FailPair(pair, reference.WithContext(gt.path));
        continue;
      }
      correlators[k] = std::move(made).value();
    }
    const auto align_start = Clock::now();
    const RawImage* batch[] = {&image};
    std::vector<Result<Alignment>> aligned = correlators[k]->Align(batch);
    state.align_ns += NanosSince(align_start);
    context.counters->pairs_aligned++;
    if (aligned.empty() || !aligned[0].ok()) {
      FailPair(pair, aligned.empty() ? Status::Internal("no alignment result")
                                     : aligned[0].status());
      continue;
    }
    pair.alignment = *aligned[0];

    const auto mask_start = Clock::now();
    Result<LossMask> mask =
        MakeLossMask(gt, image, pair.alignment, options.mask, &mask_workspace);
    if (!mask.ok()) {
      state.mask_ns += NanosSince(mask_start);
      FailPair(pair, mask.status().WithContext(image.path));
      continue;
    }
    const MaskLocation location =
        LocateMask(options, state.job->scene, pair.gt_path, pair.noisy_path);
    Status written =
        WriteGreyPng(*context.fs, location.write_path, mask->pixels.view());
    mask_workspace.Recycle(std::move(mask->pixels));
    state.mask_ns += NanosSince(mask_start);
    if (!written.ok()) {
      FailPair(pair, written);
      continue;
    }
    context.counters->masks_written++;
    pair.mask_path = location.record_path;
    pair.mask_mean = mask->mean;
    pair.status = Status::Ok();
  }
}

// How much of a scene may be in memory at once, from the --mem share of
// this scene: a decoded GT plus what a correlator keeps of it costs about
// three float planes; a capture in flight (decoded pixels, its mask and the
// mask's working buffers) about two. Captures in flight come first (they
// keep the cores busy), then as many GTs as still fit share one pass over
// the captures. Never less than one of each: a tight budget slows the build
// down, it never refuses it.
struct MemoryPlan {
  std::size_t gt_group = 1;
  std::size_t capture_slots = 1;
};

MemoryPlan PlanMemory(const BuildContext& context, const RawImage& first_gt,
                      std::size_t gt_count) {
  const std::size_t plane = first_gt.pixels.byte_size();
  const std::size_t per_gt = 3 * plane;
  const std::size_t per_capture = 2 * plane;
  const std::size_t workers =
      static_cast<std::size_t>(std::max(1, context.options->jobs));
  const std::size_t budget = context.scene_memory_bytes;
  MemoryPlan plan;
  if (budget > per_gt + per_capture) {
    plan.capture_slots =
        std::clamp<std::size_t>((budget - per_gt) / per_capture, 1, workers);
    const std::size_t streaming = plan.capture_slots * per_capture;
    if (budget > streaming + per_gt) {
      plan.gt_group =
          std::clamp<std::size_t>((budget - streaming) / per_gt, 1, gt_count);
    }
  }
  return plan;
}

// Counts captures in flight and remembers the most at once (for tests and
// the summary).
class InFlight {
 public:
  explicit InFlight(BuildCounters& counters) : counters_(counters) {
    const std::int64_t now = ++counters_.captures_in_flight;
    std::int64_t seen = counters_.max_captures_in_flight.load();
    while (now > seen &&
           !counters_.max_captures_in_flight.compare_exchange_weak(seen, now)) {
    }
  }
  ~InFlight() { --counters_.captures_in_flight; }

 private:
  BuildCounters& counters_;
};

}  // namespace

MaskLocation LocateMask(const BuildOptions& options, const std::string& scene,
                        const std::string& gt_path,
                        const std::string& noisy_path) {
  MaskLocation location;
  const std::string name = MaskFileName(scene, gt_path, noisy_path);
  location.write_path = options.masks_dir + "/" + name;
  location.record_path =
      IsInside(location.write_path, options.root)
          ? location.write_path.substr(options.root.size() + 1)
          : location.write_path;
  return location;
}

SceneOutcome BuildScene(const SceneJob& job, const BuildContext& context) {
  SceneOutcome outcome;
  outcome.scene = job.scene;
  outcome.key = job.key;

  SceneState state;
  state.job = &job;
  state.context = &context;
  state.outcome = &outcome;
  state.files = job.gt;
  state.files.insert(state.files.end(), job.noisy.begin(), job.noisy.end());
  state.file_recorded = std::vector<std::atomic<bool>>(state.files.size());
  for (const FileRecord& file : state.files) {
    FileOutcome out;
    out.file = file;
    outcome.files.push_back(out);
  }
  if (job.gt.empty()) {
    outcome.status = Status::InvalidArgument(
        (job.scene == "." ? std::string("gt") : job.scene + "/gt") +
        "/ holds no raw file; put the scene's clean base-ISO captures there");
    return outcome;
  }
  // Every GT is paired with every raw file of the scene, itself included
  // (docs/contract.md §1). Pairs are laid out GT-major.
  for (const FileRecord& gt : job.gt) {
    for (const FileRecord& file : state.files) {
      PairOutcome pair;
      pair.gt_path = gt.rel_path;
      pair.noisy_path = file.rel_path;
      pair.status = Status::Internal("not built");
      outcome.pairs.push_back(pair);
    }
  }

  const std::size_t gt_count = job.gt.size();
  std::size_t group_size = 1;
  MemoryPlan memory;
  // One per thread that works on the scene (at most its capture slots), so
  // that the scene's masks after the first reuse their buffers.
  tbb::enumerable_thread_specific<MaskWorkspace> mask_workspaces;
  for (std::size_t group_start = 0; group_start < gt_count;
       group_start += group_size) {
    if (InterruptRequested()) break;
    // Decode this group's GTs once; the first one tells the image size,
    // which sets how many GTs fit the memory budget together.
    std::vector<std::optional<RawImage>> group;
    for (std::size_t g = group_start; g < gt_count; ++g) {
      Result<RawImage> gt = DecodeFile(state, g);
      if (gt.ok()) {
        if (group.empty() || group_start == g) {
          memory = PlanMemory(context, *gt, gt_count - group_start);
          group_size = memory.gt_group;
        }
        group.emplace_back(std::move(gt).value());
      } else {
        group.emplace_back(std::nullopt);
        for (std::size_t f = 0; f < state.files.size(); ++f) {
          FailPair(state.Pair(g, f), gt.status().WithContext("GT unusable"));
        }
      }
      if (group.size() >= group_size) break;
    }
    group_size = group.size();

    tbb::enumerable_thread_specific<
        std::vector<std::unique_ptr<SceneCorrelator>>>
        correlators([&] {
          return std::vector<std::unique_ptr<SceneCorrelator>>(group.size());
        });
    // At most capture_slots captures of this scene are decoded at once: the
    // arena bounds the threads that work on this loop.
    tbb::task_arena slots(static_cast<int>(memory.capture_slots));
    slots.execute([&] {
      tbb::parallel_for(
          tbb::blocked_range<std::size_t>(0, state.files.size(), 1),
          [&](const tbb::blocked_range<std::size_t>& range) {
            for (std::size_t f = range.begin(); f != range.end(); ++f) {
              if (InterruptRequested()) return;
              InFlight in_flight(*context.counters);
              const bool in_group =
                  f >= group_start && f < group_start + group.size();
              if (in_group) {
                if (group[f - group_start].has_value()) {
                  AlignToGroup(state, f, *group[f - group_start], group,
                               group_start, correlators.local(),
                               mask_workspaces.local());
                }
                continue;
              }
              Result<RawImage> image = DecodeFile(state, f);
              if (!image.ok()) {
                for (std::size_t k = 0; k < group.size(); ++k) {
                  FailPair(state.Pair(group_start + k, f), image.status());
                }
                continue;
              }
              AlignToGroup(state, f, *image, group, group_start,
                           correlators.local(), mask_workspaces.local());
            }
          });
    });
  }

  outcome.decode_seconds = state.decode_ns.load() * 1e-9;
  outcome.align_seconds = state.align_ns.load() * 1e-9;
  outcome.mask_seconds = state.mask_ns.load() * 1e-9;
  if (InterruptRequested()) {
    outcome.cancelled = true;
    outcome.status = Status::Cancelled("interrupted");
    return outcome;
  }
  for (const PairOutcome& pair : outcome.pairs) {
    if (pair.status.ok() && !pair.mask_path.empty()) {
      outcome.written_masks.push_back(
          LocateMask(*context.options, job.scene, pair.gt_path, pair.noisy_path)
              .write_path);
    }
  }

  // The scene's shape is its first decodable GT's.
  for (std::size_t g = 0; g < gt_count; ++g) {
    const FileOutcome& gt = outcome.files[g];
    if (gt.metadata.has_value()) {
      outcome.cfa_name = gt.metadata->cfa_name;
      outcome.cfa_kind = outcome.cfa_name == "XTRANS" ? "xtrans" : "bayer";
      outcome.width = gt.metadata->width;
      outcome.height = gt.metadata->height;
      break;
    }
  }
  int failed = 0;
  Status first_failure;
  for (const FileOutcome& file : outcome.files) {
    if (!file.status.ok() && first_failure.ok()) first_failure = file.status;
  }
  for (const PairOutcome& pair : outcome.pairs) {
    if (pair.status.ok()) continue;
    ++failed;
    if (first_failure.ok()) first_failure = pair.status;
  }
  if (first_failure.ok() && !job.problems.empty()) {
    std::string problems;
    for (std::size_t i = 0; i < job.problems.size() && i < 5; ++i) {
      problems += (i ? "; " : "") + job.problems[i];
    }
    if (job.problems.size() > 5) {
      problems += "; and " + std::to_string(job.problems.size() - 5) + " more";
    }
    outcome.status = Status::IoError(
        problems + " (the scene's file list may be incomplete)");
    return outcome;
  }
  if (!first_failure.ok()) {
    outcome.status = first_failure.WithContext(
        std::to_string(failed) + " of " + std::to_string(outcome.pairs.size()) +
        " pairs failed; first");
  }
  return outcome;
}

}  // namespace dsb
