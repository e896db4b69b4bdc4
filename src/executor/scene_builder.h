// The real scene runner: decode → align → mask → PNG for one scene, as the
// plan laid it out (plan/scene_work.h).
//
// A scene's GTs are decoded once per group (as many as its memory share
// allows, at least one; those after the first in parallel), and each GT of
// the group gets one correlator, its reference prepared once. The scene's
// captures then stream past the group in batches (SceneMemory::batch): a
// TBB pipeline decodes a batch in parallel, hands it to each GT's correlator
// in one Align call (the CUDA correlator transforms a batch at once; the CPU
// one aligns its captures in parallel), then masks and writes every pair of
// the batch in parallel, each pair's RawNIND figures a task of their own
// beside its mask (a batch of one pair keeps two threads busy); the masks'
// PNGs are written and synced on writer threads (executor/durable_writes.h),
// all of a scene's before its outcome is returned. Each GT's
// correlator and its RawNIND reference are prepared as separate tasks too,
// while the first captures decode.
// With a decoded-file hook (--crops) the mask stage also hands each decoded
// file of the batch to the hook, in parallel with the masks, while the
// batch still holds it. Two batches are in flight when the share allows,
// so decoding the next batch overlaps aligning this one; captures in flight
// never exceed the share, so a scene of 15 x 60 MP captures never holds them
// all. The group's first GT does not decode alone: the file the scene needs
// next decodes beside it (EarlyDecode in the .cc says why that fits every
// plan), and a batch of the group's GTs alone goes last in its pass
// (executor/pass_order.h).
//
// The device is chosen once per build (Start), and its notice is shown
// once. With the CPU correlator, FFTW's wisdom is loaded by Start (in the
// background from Prepare on) and kept when the runner goes
// (executor/fft_wisdom.h).
//
// Thread safety: Run may run for several scenes at once; it parallelises
// its own files with TBB.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "align/correlator.h"
#include "common/file_system.h"
#include "executor/build_options.h"
#include "executor/decoding.h"
#include "executor/fft_wisdom.h"
#include "executor/scene_runner.h"

namespace dsb {

class PipelineSceneRunner final : public SceneRunner {
 public:
  // `options` and `fs` must outlive the runner; `physical_memory` sets the
  // largest file it accepts (executor/decoding.h). `decoder`, when given,
  // decodes instead of the one `options` chooses (tests record with it).
  PipelineSceneRunner(const BuildOptions& options, FileSystem& fs,
                      std::size_t physical_memory,
                      std::unique_ptr<RawDecoder> decoder = nullptr);
  // Keeps the FFT plans this build measured (executor/fft_wisdom.h).
  ~PipelineSceneRunner() override;

  void SetDecodedFileHook(DecodedFileHook hook) override {
    decoded_hook_ = std::move(hook);
  }
  // Starts the decode workers and loads FFTW's wisdom in the background
  // (raw/raw_decoder.h); Start waits for the wisdom.
  void Prepare() override;
  Status Start(BuildObserver& observer) override;
  void Release() override;
  std::string device() const override { return device_name_; }
  SceneOutcome Run(const SceneWork& work, BuildCounters& counters,
                   BuildObserver& observer) override;

 private:
  const BuildOptions& options_;
  FileSystem& fs_;
  BuildDecoding decoding_;
  Device device_ = Device::kCpu;
  std::string device_name_;
  DecodedFileHook decoded_hook_;
  std::optional<FftWisdomFile> fft_wisdom_;  // CPU correlator only
  // Loads fft_wisdom_ from Prepare on; joined by Start.
  std::thread loading_wisdom_;
};

}  // namespace dsb
