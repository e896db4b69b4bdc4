#include "executor/scene_builder.h"

#include <tbb/enumerable_thread_specific.h>
#include <tbb/parallel_for.h>
#include <tbb/parallel_pipeline.h>
#include <tbb/task_arena.h>
#include <tbb/task_group.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "align/correlator_common.h"
#include "crops/rawnind_loss.h"
#include "executor/build_observer.h"
#include "executor/claimed_tasks.h"
#include "executor/durable_writes.h"
#include "executor/executor.h"
#include "executor/interrupt.h"
#include "executor/pass_order.h"
#include "mask/loss_mask.h"
#include "mask/png_writer.h"
#include "scan/scan.h"

namespace dsb {

namespace {

using Clock = std::chrono::steady_clock;

// PNGs queued for the writer threads at most (a two-level mask compresses
// to a few percent of its pixels: tens of 60 MP masks).
constexpr std::size_t kQueuedMaskBytes = std::size_t{64} << 20;

std::int64_t NanosSince(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() -
                                                              start)
      .count();
}

// Whether two files of a scene have the same bytes, by their content hashes
// (XXH3-128 of the whole file, hash/hash.h): then the same decoder, with the
// build's one set of options, gives both the same pixels, so a pair's
// identity needs no look at them. Comparing the images instead (SamePixels)
// reads both frames in full when they are equal (~1.8 % of a 16-copy G2 CRW
// build's samples); it stops at the first difference, within the first row
// of two real captures, so files that differ still go that way (their
// pixels may still be equal: a copy whose metadata was edited).
//
// A file rewritten between its hashing and its decode is built from what the
// decoder read, as any file is; its pairs are recorded under the hash taken
// before, and the next build sees its new mtime, rehashes it and rebuilds the
// scene (hash/fingerprint.h). A pair of equal hashes is then recorded as the
// self pair those hashes describe.
// Files that could not be hashed all carry kUnreadableHash (and are never
// decoded): never the same content.
bool SameContent(const FileRecord& a, const FileRecord& b) {
  return !a.hash_hex.empty() && a.hash_hex != kUnreadableHash &&
         a.hash_hex == b.hash_hex;
}

void FailPair(PairOutcome& pair, const Status& status) {
  pair.status =
      status.ok() ? Status::Internal("pair failed without a reason") : status;
}

// Everything one scene's stages share; each slot of `outcome` is written by
// one task at a time.
struct SceneRun {
  const SceneWork* work = nullptr;
  const BuildOptions* options = nullptr;
  const BuildDecoding* decoding = nullptr;
  FileSystem* fs = nullptr;
  BuildCounters* counters = nullptr;
  BuildObserver* observer = nullptr;
  const DecodedFileHook* decoded_hook = nullptr;  // null or empty: none
  std::vector<FileRecord> files;                  // GTs first, then noisy
  SceneOutcome* outcome = nullptr;
  std::vector<std::atomic<bool>> file_recorded;
  std::atomic<std::int64_t> decode_ns{0}, align_ns{0}, mask_ns{0},
      figures_ns{0};
  // The masks' writes (DurableWrites), and per pair why its mask could not
  // be written (each slot set by its write's callback, read after Wait).
  DurableWrites* writes = nullptr;
  std::vector<Status> write_failures;

  PairOutcome& Pair(std::size_t gt_index, std::size_t file_index) {
    return outcome->pairs[gt_index * files.size() + file_index];
  }
  const PairWork& PairPlan(std::size_t gt_index, std::size_t file_index) {
    return work->pairs[gt_index * files.size() + file_index];
  }
};

Result<RawImage> DecodeFile(SceneRun& state, std::size_t index) {
  const FileRecord& file = state.files[index];
  Result<RawImage> image = Status::Internal("not decoded");
  if (auto it = state.work->unreadable.find(file.rel_path);
      it != state.work->unreadable.end()) {
    image = Status::IoError(file.rel_path + ": " + it->second);
  } else {
    const auto start = Clock::now();
    image = state.decoding->decoder->Decode(
        JoinPath(state.options->root, file.rel_path), state.decoding->options);
    state.decode_ns += NanosSince(start);
    if (image.ok()) {
      image->path = file.rel_path;
      state.counters->files_decoded++;
      state.counters->bytes_decoded += static_cast<std::int64_t>(file.size);
    }
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
    state.observer->FileDone(file.size);
  }
  return image;
}

// One file decoded ahead of the stage that needs it, beside the decode of
// the group's first GT: the GT's decode used to run alone (a 60 MP
// build's first second at 1.1-1.6 of 2 cores), since the scene's memory
// plan needs the GT's pixel count. The file is one the scene holds next
// anyway (the group's second GT, or the first capture its pass decodes), and
// every plan has room for one GT and one capture (plan/memory_plan.h), so
// the plan made once the GT's size is known covers it. It counts as a
// capture in flight from its start until the group takes it as a GT or its
// batch is masked.
//
// It runs on a thread of its own while the scene's thread decodes the GT:
// the decode waits on a worker process (raw/isolated_decoder.h), so the
// thread only waits. In an arena of its own it waited for a TBB worker to
// take it, and on a loaded machine none did before the GT's decode ended
// (the second request reached the decode workers 90-140 ms after the first
// in 3 of 4 builds of a 16-copy G2 CRW scene, perf trace): the two decodes
// ran one after the other. Take waits for it.
class EarlyDecode {
 public:
  EarlyDecode() = default;
  EarlyDecode(const EarlyDecode&) = delete;
  EarlyDecode& operator=(const EarlyDecode&) = delete;
  ~EarlyDecode() { Drop(); }

  // Before anything asks Holds.
  void Start(SceneRun& state, std::size_t index) {
    state_ = &state;
    index_ = index;
    const std::int64_t in_flight = ++state.counters->captures_in_flight;
    BuildCounters::RaiseTo(state.counters->max_captures_in_flight, in_flight);
    thread_ = std::thread([this] {
      try {
        image_ = DecodeFile(*state_, *index_);
      } catch (...) {  // rethrown by Take, as a task group's wait would
        error_ = std::current_exception();
      }
    });
  }
  // Whether file `index` is this decode's, not yet taken.
  bool Holds(std::size_t index) const {
    return index_ == index && !taken_.load();
  }
  // Its batch counts it from now on (and releases it once masked).
  void HandToBatch() { handed_ = true; }
  // The file's decode, waiting for it; once.
  Result<RawImage> Take() {
    if (thread_.joinable()) thread_.join();
    if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
    taken_ = true;
    if (!handed_) --state_->counters->captures_in_flight;
    return std::move(image_);
  }
  // Waits for a decode nobody took (an interrupted pass) and frees it.
  void Drop() {
    if (index_.has_value() && !taken_.load()) (void)Take();
  }

 private:
  SceneRun* state_ = nullptr;
  std::optional<std::size_t> index_;  // set once, by Start
  std::atomic<bool> taken_{false};
  bool handed_ = false;  // by the pipeline's serial first stage
  Result<RawImage> image_ = Status::Internal("not decoded");
  std::exception_ptr error_;
  std::thread thread_;
};

// One batch of captures on its way through the pipeline.
struct Batch {
  std::size_t first = 0;     // file index of images[0]
  std::size_t captures = 0;  // counted in flight: those not a GT of the group
  std::vector<std::optional<RawImage>> owned;  // decoded here
  std::vector<const RawImage*> images;         // null: unusable
  // aligned[k][i]: GT k's alignment of images[i] succeeded.
  std::vector<std::vector<bool>> aligned;
  // same_pixels[k][i]: whether images[i] holds GT k's pixels bit for bit
  // (SamePixels; nullopt: not decided). Decided once per pair, by the decode
  // stage (in parallel, while the image is fresh in cache), and handed to
  // every step that needs it (alignment, the mask, RawNIND's figures):
  // alignment and RawNIND's figures each compared
  // the pair's frames themselves, reading two images in full twice per pair
  // on a scene of identical copies (~2 % of such a build's CPU each).
  std::vector<std::vector<std::optional<bool>>> same_pixels;
};

// A group of GTs decoded together, each with its own correlator.
struct GtGroup {
  std::size_t start = 0;                     // file index of the first GT
  std::vector<std::optional<RawImage>> gts;  // nullopt: failed to decode
  // Made by the tasks below: the correlators read only after `prepared`,
  // a reference only after its task was needed.
  std::vector<std::unique_ptr<SceneCorrelator>> correlators;  // null: none
  // Why GT k has no correlator when it decoded (its row of pairs fails).
  std::vector<Status> unprepared;
  // RawNIND's figures' GT side (Bayer GTs; crops/rawnind_loss.h).
  std::vector<std::optional<RawnindReference>> rawnind;
  // What makes the above: each decoded GT's correlator, offered to the
  // workers while the first captures decode and needed by the align stage;
  // each Bayer GT's reference (task reference_task[k]), made by the first
  // pair's figures that need it, so the next capture's decode goes first.
  ClaimedTasks correlator_tasks;
  ClaimedTasks reference_tasks;
  std::vector<std::optional<std::size_t>> reference_task;  // per GT
  tbb::task_group preparing;
  bool prepared = false;  // set by the align stage (one thread at a time)
};

// Streams every file of the scene past the group's correlators in batches
// (see the header).
void AlignAgainstGroup(
    SceneRun& state, GtGroup& group, const SceneMemory& memory,
    EarlyDecode& early,
    tbb::enumerable_thread_specific<MaskWorkspace>& mask_workspaces) {
  const std::size_t file_count = state.files.size();
  const std::size_t group_size = group.gts.size();
  // Scene order, a batch of the group's GTs alone last
  // (executor/pass_order.h).
  const std::vector<FileRun> runs =
      PassOrder(file_count, memory.batch, group.start, group_size);
  std::size_t next_run = 0;

  auto produce = [&](tbb::flow_control& control) -> std::shared_ptr<Batch> {
    if (next_run >= runs.size() || InterruptRequested()) {
      control.stop();
      return nullptr;
    }
    auto batch = std::make_shared<Batch>();
    batch->first = runs[next_run].first;
    const std::size_t count = runs[next_run].count;
    const std::size_t next = batch->first + count;
    ++next_run;
    batch->owned.resize(count);
    batch->images.assign(count, nullptr);
    batch->same_pixels.assign(
        group_size, std::vector<std::optional<bool>>(count, std::nullopt));
    // The group's GTs are held already (counted in its plan as GTs); the
    // early decode counts itself from its start.
    std::int64_t added = 0;
    for (std::size_t f = batch->first; f < next; ++f) {
      if (f >= group.start && f < group.start + group_size) continue;
      ++batch->captures;
      if (early.Holds(f)) {
        early.HandToBatch();
      } else {
        ++added;
      }
    }
    const std::int64_t in_flight =
        state.counters->captures_in_flight.fetch_add(added) + added;
    BuildCounters::RaiseTo(state.counters->max_captures_in_flight, in_flight);
    return batch;
  };

  std::once_flag offer_preparation;
  // Whether images[i] holds each GT's pixels (Batch::same_pixels): yes
  // without reading them where both files have the same content hash
  // (SameContent), else compared.
  auto decide_identity = [&](Batch& batch, std::size_t i) {
    const FileRecord& file = state.files[batch.first + i];
    for (std::size_t k = 0; k < group_size; ++k) {
      if (group.gts[k].has_value()) {
        batch.same_pixels[k][i] =
            SameContent(state.files[group.start + k], file) ||
            SamePixels(*group.gts[k], *batch.images[i]);
      }
    }
  };
  auto decode = [&](std::shared_ptr<Batch> batch) {
    if (batch == nullptr) return batch;
    tbb::parallel_for(std::size_t{0}, batch->images.size(), [&](std::size_t i) {
      const std::size_t f = batch->first + i;
      if (f >= group.start && f < group.start + group_size) {
        // A GT of this group: already decoded (its own row of pairs failed
        // already when it did not decode).
        const auto& gt = group.gts[f - group.start];
        if (gt.has_value()) {
          batch->images[i] = &*gt;
          decide_identity(*batch, i);
        } else {
          for (std::size_t k = 0; k < group_size; ++k) {
            PairOutcome& pair = state.Pair(group.start + k, f);
            if (pair.status.code() == Status::Code::kInternal) {
              FailPair(pair, state.outcome->files[f].status);
            }
          }
        }
        return;
      }
      if (InterruptRequested()) return;
      if (!early.Holds(f)) {
        // The GTs' correlators are prepared while the captures decode (on a
        // 60 MP scene the GT's FFT plans and spectrum kept one core busy
        // and the other idle for seconds), offered to the workers once the
        // first fresh decode is under way: offered before the pipeline,
        // the thread that would have started it took the preparation while
        // the align stage waited for it (a 16-copy G2 CRW scene: a core
        // idle ~10 ms after the GT decoded, and no decode in flight).
        std::call_once(offer_preparation,
                       [&] { group.correlator_tasks.Spawn(group.preparing); });
      }
      Result<RawImage> image =
          early.Holds(f) ? early.Take() : DecodeFile(state, f);
      if (!image.ok()) {
        for (std::size_t k = 0; k < group_size; ++k) {
          FailPair(state.Pair(group.start + k, f), image.status());
        }
        return;
      }
      batch->owned[i] = std::move(image).value();
      batch->images[i] = &*batch->owned[i];
      decide_identity(*batch, i);
    });
    return batch;
  };

  // One thread at a time: each GT's correlator sees the batch in one call.
  auto align = [&](std::shared_ptr<Batch> batch) {
    if (batch == nullptr) return batch;
    if (!group.prepared) {
      group.correlator_tasks.NeedAll();
      group.prepared = true;
    }
    batch->aligned.assign(group_size,
                          std::vector<bool>(batch->images.size(), false));
    std::vector<const RawImage*> usable;
    std::vector<std::size_t> slot;
    std::vector<std::optional<bool>> same;
    for (std::size_t i = 0; i < batch->images.size(); ++i) {
      if (batch->images[i] != nullptr) {
        usable.push_back(batch->images[i]);
        slot.push_back(i);
      }
    }
    if (usable.empty() || InterruptRequested()) return batch;
    for (std::size_t k = 0; k < group_size; ++k) {
      if (group.correlators[k] == nullptr) {
        // A GT that decoded but could not be prepared fails its pairs
        // with the captures that decoded (the others failed already).
        if (!group.unprepared[k].ok()) {
          for (std::size_t i : slot) {
            FailPair(state.Pair(group.start + k, batch->first + i),
                     group.unprepared[k]);
          }
        }
        continue;
      }
      same.clear();
      for (std::size_t i : slot) same.push_back(batch->same_pixels[k][i]);
      const auto start = Clock::now();
      std::vector<Result<Alignment>> results =
          group.correlators[k]->Align(usable, same);
      state.align_ns += NanosSince(start);
      state.counters->pairs_aligned += static_cast<std::int64_t>(usable.size());
      BuildCounters::RaiseTo(state.counters->max_align_batch,
                             static_cast<std::int64_t>(usable.size()));
      for (std::size_t u = 0; u < usable.size(); ++u) {
        PairOutcome& pair = state.Pair(group.start + k, batch->first + slot[u]);
        if (u >= results.size() || !results[u].ok()) {
          FailPair(pair, u >= results.size()
                             ? Status::Internal("no alignment result")
                             : results[u].status());
          continue;
        }
        pair.alignment = *results[u];
        batch->aligned[k][slot[u]] = true;
      }
    }
    return batch;
  };

  const bool hooked =
      state.decoded_hook != nullptr && static_cast<bool>(*state.decoded_hook);
  // Per pair of a batch, its mask (and PNG) and RawNIND's figures are tasks
  // of their own: they read the same images and nothing of each other, and
  // a batch of one pair (a scene's last) then keeps both threads busy
  // instead of one. The figures are kept only for pairs whose mask was
  // written, as when they ran after it.
  auto mask = [&](std::shared_ptr<Batch> batch) {
    if (batch == nullptr) return;
    const std::size_t count = batch->images.size();
    const std::size_t pair_tasks = group_size * count;
    std::vector<std::optional<RawnindPairFigures>> figures(pair_tasks);
    const std::size_t tasks = 2 * pair_tasks + (hooked ? count : 0);
    tbb::parallel_for(std::size_t{0}, tasks, [&](std::size_t j) {
      if (j >= 2 * pair_tasks) {
        // The decoded-file hook (crops), while the batch holds the image.
        const RawImage* image = batch->images[j - 2 * pair_tasks];
        if (image != nullptr && !InterruptRequested()) {
          (*state.decoded_hook)(image->path, *image);
        }
        return;
      }
      if (j >= pair_tasks) {
        // RawNIND's own figures, so the export's best_alignment_loss and
        // rgb_gain mean what its loader expects (crops/rawnind_loss.h).
        const std::size_t k = (j - pair_tasks) / count;
        const std::size_t i = (j - pair_tasks) % count;
        if (batch->aligned.empty() || !batch->aligned[k][i] ||
            !group.reference_task[k].has_value() || InterruptRequested()) {
          return;
        }
        group.reference_tasks.Need(*group.reference_task[k]);
        if (!group.rawnind[k].has_value()) return;
        const Alignment& alignment =
            state.Pair(group.start + k, batch->first + i).alignment;
        const auto rawnind_start = Clock::now();
        Result<RawnindPairFigures> made =
            RawnindFigures(*group.rawnind[k], *batch->images[i], alignment.dy,
                           alignment.dx, batch->same_pixels[k][i]);
        state.figures_ns += NanosSince(rawnind_start);
        if (made.ok()) figures[j - pair_tasks] = *made;
        return;
      }
      const std::size_t k = j / count;
      const std::size_t i = j % count;
      if (batch->aligned.empty() || !batch->aligned[k][i]) return;
      const RawImage& gt = *group.gts[k];
      const RawImage& image = *batch->images[i];
      const std::size_t f = batch->first + i;
      PairOutcome& pair = state.Pair(group.start + k, f);
      pair.overexposure_lb = gt.meta.overexposure_lb;
      MaskWorkspace& workspace = mask_workspaces.local();
      // A self pair's mask is its clipping alone (mask/self_pair_mask.h):
      // the mismatch test compared two equal frames in full.
      const PairContent content = batch->same_pixels[k][i].value_or(false)
                                      ? PairContent::kIdentical
                                      : PairContent::kUnknown;
      const auto start = Clock::now();
      Result<LossMask> loss_mask = MakeLossMask(
          gt, image, pair.alignment, state.options->mask, &workspace, content);
      if (!loss_mask.ok()) {
        state.mask_ns += NanosSince(start);
        FailPair(pair, loss_mask.status().WithContext(image.path));
        return;
      }
      const MaskPaths& paths = state.PairPlan(group.start + k, f).mask;
      Result<std::vector<std::uint8_t>> png =
          EncodeGreyPng(loss_mask->pixels.view(), paths.write_path);
      workspace.Recycle(std::move(loss_mask->pixels));
      state.mask_ns += NanosSince(start);
      if (!png.ok()) {
        FailPair(pair, png.status());
        return;
      }
      // Written on the writer threads; a write that fails fails the pair
      // once the scene's writes are done (Run).
      const std::size_t slot = (group.start + k) * state.files.size() + f;
      state.writes->Write(paths.write_path, std::move(png).value(),
                          [&state, slot](const Status& written) {
                            if (written.ok()) {
                              state.counters->masks_written++;
                            } else {
                              state.write_failures[slot] = written;
                            }
                          });
      pair.mask_path = paths.record_path;
      pair.mask_mean = loss_mask->mean;
      pair.status = Status::Ok();
    });
    for (std::size_t j = 0; j < pair_tasks; ++j) {
      PairOutcome& pair =
          state.Pair(group.start + j / count, batch->first + j % count);
      if (figures[j].has_value() && pair.status.ok()) {
        pair.rgb_gain = figures[j]->rgb_gain;
        pair.rawnind_loss = figures[j]->best_alignment_loss;
      }
    }
    state.counters->captures_in_flight -=
        static_cast<std::int64_t>(batch->captures);
  };

  using BatchPtr = std::shared_ptr<Batch>;
  tbb::task_arena slots(static_cast<int>(memory.captures_in_flight));
  slots.execute([&] {
    tbb::parallel_pipeline(
        memory.batches_in_flight,
        tbb::make_filter<void, BatchPtr>(tbb::filter_mode::serial_in_order,
                                         produce) &
            tbb::make_filter<BatchPtr, BatchPtr>(tbb::filter_mode::parallel,
                                                 decode) &
            tbb::make_filter<BatchPtr, BatchPtr>(
                tbb::filter_mode::serial_in_order, align) &
            tbb::make_filter<BatchPtr, void>(tbb::filter_mode::parallel, mask));
    // When no batch reached the align stage; then the task group's tasks
    // are all claimed, and its wait runs nothing else.
    group.correlator_tasks.NeedAll();
    group.preparing.wait();
  });
}

}  // namespace

PipelineSceneRunner::PipelineSceneRunner(const BuildOptions& options,
                                         FileSystem& fs,
                                         std::size_t physical_memory,
                                         std::unique_ptr<RawDecoder> decoder)
    : options_(options),
      fs_(fs),
      decoding_(MakeBuildDecoding(options, physical_memory)) {
  if (decoder != nullptr) decoding_.decoder = std::move(decoder);
}

void PipelineSceneRunner::Prepare() {
  decoding_.decoder->Prepare(decoding_.options, std::max(1, options_.jobs));
  // FFTW's wisdom too (a 150 KB file parsed and exported: ~4 ms of the
  // critical path before the first decode), unless the GPU was asked for.
  if (options_.device != Device::kGpu && !loading_wisdom_.joinable() &&
      !fft_wisdom_.has_value()) {
    try {
      loading_wisdom_ = std::thread([this] {
        fft_wisdom_.emplace(FftWisdomPath());
        fft_wisdom_->Load();
      });
    } catch (const std::system_error&) {
      // No thread: Start loads it.
    }
  }
}

Status PipelineSceneRunner::Start(BuildObserver& observer) {
  if (loading_wisdom_.joinable()) loading_wisdom_.join();
  std::string notice;
  DSB_ASSIGN_OR_RETURN(device_,
                       ChooseDevice(options_.device, options_.align, &notice));
  if (device_ == Device::kCpu && !fft_wisdom_.has_value()) {
    // Before anything plans a transform.
    fft_wisdom_.emplace(FftWisdomPath());
    fft_wisdom_->Load();
  } else if (device_ != Device::kCpu) {
    fft_wisdom_.reset();  // loaded by Prepare, unused: nothing to keep
  }
  DSB_ASSIGN_OR_RETURN(std::unique_ptr<SceneCorrelator> probe,
                       MakeCorrelator(device_, options_.align));
  device_name_ = probe->name();
  if (!notice.empty()) observer.Message(notice);
  return Status::Ok();
}

void PipelineSceneRunner::Release() { decoding_.decoder->Release(); }

PipelineSceneRunner::~PipelineSceneRunner() {
  if (loading_wisdom_.joinable()) loading_wisdom_.join();
  if (fft_wisdom_.has_value()) fft_wisdom_->Save();
}

SceneOutcome PipelineSceneRunner::Run(const SceneWork& work,
                                      BuildCounters& counters,
                                      BuildObserver& observer) {
  SceneOutcome outcome;
  outcome.scene = work.scene;
  outcome.key = work.key;

  SceneRun state;
  state.work = &work;
  state.options = &options_;
  state.decoding = &decoding_;
  state.fs = &fs_;
  state.counters = &counters;
  state.observer = &observer;
  state.decoded_hook = &decoded_hook_;
  state.outcome = &outcome;
  state.files = work.files();
  state.file_recorded = std::vector<std::atomic<bool>>(state.files.size());
  // The scene's mask writes: a writer per thread (they sleep in fsync, not
  // compute), and up to kQueuedMaskBytes of PNGs waiting for them.
  DurableWrites writes(fs_, std::clamp(work.workers, 1, 4), kQueuedMaskBytes);
  state.writes = &writes;
  state.write_failures.assign(work.pairs.size(), Status::Ok());
  for (const FileRecord& file : state.files) {
    FileOutcome out;
    out.file = file;
    outcome.files.push_back(out);
  }
  if (work.gt.empty()) {
    outcome.status = Status::InvalidArgument(
        (work.scene == "." ? std::string("gt") : work.scene + "/gt") +
        "/ holds no raw file; put the scene's clean base-ISO captures there");
    return outcome;
  }
  for (const PairWork& planned : work.pairs) {
    PairOutcome pair;
    pair.gt_path = planned.pair.gt_path;
    pair.noisy_path = planned.pair.other_path;
    pair.status = Status::Internal("not built");
    outcome.pairs.push_back(pair);
  }

  const std::size_t gt_count = work.gt.size();
  std::size_t group_size = 1;
  SceneMemory memory;
  std::size_t pixels = 0;  // of one capture: the first decoded GT's
  // One mask workspace per thread that works on the scene, so its masks
  // after the first reuse their buffers.
  tbb::enumerable_thread_specific<MaskWorkspace> mask_workspaces;
  for (std::size_t group_start = 0; group_start < gt_count;
       group_start += group_size) {
    if (InterruptRequested()) break;
    // Decode this group's GTs once; the first one tells the image size,
    // which sets how many GTs fit the memory share together.
    GtGroup group;
    group.start = group_start;
    // Beside the first GT, the file the scene holds next (EarlyDecode): the
    // second file of the scene in the first group (its second GT, or the
    // first capture of its pass), the first file in a later one (the first
    // capture of its pass). Not with one worker: nothing would run beside.
    EarlyDecode early;
    const std::size_t early_index = group_start == 0 ? 1 : 0;
    if (work.workers >= 2 && early_index < state.files.size()) {
      early.Start(state, early_index);
    }
    auto add = [&](std::size_t g, Result<RawImage> gt) {
      if (gt.ok()) {
        group.gts.emplace_back(std::move(gt).value());
        return;
      }
      group.gts.emplace_back(std::nullopt);
      for (std::size_t f = 0; f < state.files.size(); ++f) {
        FailPair(state.Pair(g, f), gt.status().WithContext("GT unusable"));
      }
    };
    // The group's first GT tells the image size, which sets the plan and so
    // how many GTs the group takes (when it fails, the group keeps the last
    // one's size, or one GT).
    Result<RawImage> first = early.Holds(group_start)
                                 ? early.Take()
                                 : DecodeFile(state, group_start);
    if (first.ok()) {
      pixels = first->pixels.pixel_count();
      memory = work.Memory(pixels, gt_count - group_start);
      group_size = memory.gt_group;
    }
    add(group_start, std::move(first));
    // The group's other GTs decode in parallel: each is in the plan.
    const std::size_t group_end = std::min(gt_count, group_start + group_size);
    if (group_end > group_start + 1) {
      std::vector<Result<RawImage>> rest(group_end - group_start - 1,
                                         Status::Internal("not decoded"));
      tbb::task_arena gts(std::max(1, work.workers));
      gts.execute([&] {
        tbb::parallel_for(std::size_t{0}, rest.size(), [&](std::size_t i) {
          const std::size_t g = group_start + 1 + i;
          rest[i] = early.Holds(g) ? early.Take() : DecodeFile(state, g);
        });
      });
      for (std::size_t i = 0; i < rest.size(); ++i) {
        add(group_start + 1 + i, std::move(rest[i]));
      }
    }
    group_size = group.gts.size();
    // What this group plans to hold, while it runs (the build's report
    // compares it with the peak measured).
    const auto planned =
        static_cast<std::int64_t>(PlannedBytes(memory, pixels));
    BuildCounters::RaiseTo(counters.max_planned_bytes,
                           counters.planned_bytes += planned);
    // One correlator per GT, its reference prepared once for the scene
    // (offered to the workers by AlignAgainstGroup while the first captures
    // decode), and the GT's side of RawNIND's figures (made when the first
    // pair's figures need it).
    group.correlators.resize(group_size);
    group.unprepared.resize(group_size);
    group.rawnind.resize(group_size);
    group.reference_task.resize(group_size);
    for (std::size_t k = 0; k < group_size; ++k) {
      if (!group.gts[k].has_value()) continue;
      group.correlator_tasks.Add([&, k] {
        if (InterruptRequested()) return;
        const RawImage& gt = *group.gts[k];
        auto made = MakeCorrelator(device_, options_.align);
        Status ready = made.ok()
                           ? (*made)->SetReference(gt).WithContext(gt.path)
                           : made.status();
        if (!ready.ok()) {
          group.unprepared[k] = ready;
          return;
        }
        counters.correlators_made++;
        group.correlators[k] = std::move(made).value();
      });
      if (group.gts[k]->cfa.is_xtrans()) continue;
      // Made only when a pair's figures need it (none when every alignment
      // against the GT failed).
      group.reference_task[k] = group.reference_tasks.Add([&, k] {
        if (InterruptRequested()) return;
        const auto start = Clock::now();
        Result<RawnindReference> reference =
            RawnindReference::Make(*group.gts[k]);
        state.figures_ns += NanosSince(start);
        if (reference.ok()) group.rawnind[k] = std::move(reference).value();
      });
    }
    group.correlator_tasks.Seal();
    group.reference_tasks.Seal();
    AlignAgainstGroup(state, group, memory, early, mask_workspaces);
    early.Drop();  // when the pass stopped before reaching it
    counters.planned_bytes -= planned;
  }

  // Every mask is on disk (or failed) before the outcome is recorded.
  writes.Wait();
  for (std::size_t p = 0; p < outcome.pairs.size(); ++p) {
    if (state.write_failures[p].ok()) continue;
    PairOutcome& pair = outcome.pairs[p];
    pair.mask_path.clear();
    pair.mask_mean = 0;
    pair.rgb_gain.reset();
    pair.rawnind_loss.reset();
    FailPair(pair, state.write_failures[p]);
  }
  outcome.decode_seconds = state.decode_ns.load() * 1e-9;
  outcome.align_seconds = state.align_ns.load() * 1e-9;
  outcome.mask_seconds = state.mask_ns.load() * 1e-9;
  outcome.figures_seconds = state.figures_ns.load() * 1e-9;
  if (InterruptRequested()) {
    outcome.cancelled = true;
    outcome.status = Status::Cancelled("interrupted");
    return outcome;
  }
  // The scene's shape is its first decodable GT's.
  for (std::size_t g = 0; g < gt_count; ++g) {
    const FileOutcome& gt = outcome.files[g];
    if (gt.metadata.has_value()) {
      outcome.cfa_name = gt.metadata->cfa_name;
      outcome.width = gt.metadata->width;
      outcome.height = gt.metadata->height;
      break;
    }
  }
  outcome.status = SceneStatus(work, outcome);
  return outcome;
}

}  // namespace dsb
