// The scene-level alignment interface.
//
// One GT, N noisy captures of the same size in, N results out. The GT is set
// once per scene so that its preparation (and its spectrum) is computed once
// and reused for every noisy capture; noisy captures may be passed in several
// calls so that a scene with 15 x 60 MP captures never has to hold them all.
// The CPU implementation (align/fftw_correlator) and the GPU one
// (align/cuda_correlator) sit behind this interface; MakeCorrelator picks
// one, and is the only place that knows whether CUDA was compiled in.
//
// Thread safety: one correlator is used by one thread at a time; make one per
// worker. Implementations may use threads internally.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "core/alignment.h"
#include "core/raw_image.h"

namespace dsb {

// The revision of align/'s algorithm: bump it whenever a change to align/
// can change a stored result (shift, gain, loss, confidence), so that scenes
// built by the old code are rebuilt. It enters AlignParams::Fingerprint and
// the build's algorithm version (executor/build_options.h).
// 2: masked, energy-pooled fine search; block-median refinement.
// 3: heavily clipped colours left out of the fine search; window-edge
//    maxima and split peaks decided on common tiles; the refinement needs
//    a significant lead.
// 4: channel balance, gain, refinement and loss on samples of large frames
//    (align/row_sample.h; issue 17's fifth round); camera-sized coarse
//    transforms padded to sizes of 2s and 3s.
// 5: coarse grids of 0.6-10 MP frames at strides up to 4 (issue 17's
//    seventh round; shift_search.cc's kSmallCoarseSamples).
// 6: gain, refinement and loss of 1-16 MP overlaps on row samples that
//    grow as the square root of the pixel count (row_sample.h's SampleOf;
//    every row was read up to 4 MP); the fine search's radius stride / 2
//    + 2, not stride + 1; X-Trans's mid-size coarse stride 4, not 3
//    (issue 17's ninth round).
// 7: the fine search's radius stride / 2 + 1 from stride 4 up (3 at
//    stride 4, 49 shifts, not 81; issue 17's tenth round).
// 8: the fine search's radius stride / 2 from stride 4 up (2 at stride 4,
//    25 shifts); the refinement (and so the loss) on half SampleOf's row
//    sample on 1-4 MP overlaps, rising to all of it at 16 MP
//    (RefineSamplingOf; issue 17's eleventh round); a self pair's
//    alignment without a search (SelfPairAlignment: sub-pixel shift 0 and
//    confidence 1, where the search's rounding gave e.g. 0.004 px and
//    1 + 1e-7).
// 9: the refinement runs again from where it moved the shift to, until it
//    keeps its centre (at most 4 runs; a shift 2 px off after the fine
//    search, on 2 MP photographs with a moved object at noise levels 3-4,
//    was left 1 px short; issue 17's eighth session). (The sided
//    refinement of the thirteenth round was reverted before any release
//    carried 9.)
// 10: candidate windows' maxima within 1/32 of the frame of the best (not
//    only within 6 px) scored again on common tiles (a true shift 7 px
//    from a side maximum scored higher on its own tiles lost); the
//    refinement moves only down a slope: the neighbour's opposite no
//    better than the centre, and the neighbour better than the opposite
//    (the true shift of a Bayer pair at low noise lost to its odd
//    neighbours, whose interpolated GT colours average noise away; issue
//    17, helper 17m).
// 11: a fine estimate within 0.05 px of the half pixel ties its shift with
//    the neighbour on that side: the refinement's first run moves there on
//    a plain majority of blocks, not the sign test's 2-sd lead (a BGGR
//    photograph at noise level 4 estimated at -96.48 for the truth -97
//    stayed at -96 on 142 of 264 blocks; issue 17, helper 17r).
// 12: a fine-search winner other than the strongest coarse peak's own
//    maximum must also beat that maximum on the blocks' direct
//    comparison (lower loss on more blocks than higher), else that
//    maximum is kept (a GRBG photograph with a moved object next to
//    clipped highlights came out 18 px off, -92,127 for -110,126, from a
//    weaker peak that won the energy-weighted tile score; issue 17,
//    helper 17s).
// 13: a refinement move on the half-pixel tie's plain majority (11)
//    stands only where the neighbour, at its own gain, finds the fine
//    shift worse with the sign test's lead (an RGGB photograph at noise
//    level 4 estimated at -120.54 for the truth -121 moved to -120 on 145
//    of 275 blocks; issue 17, the session of 3 December 2026).
// 14: where the refinement's row sample keeps its centre without ruling
//    out every neighbour (none worse than it on clearly more blocks), it
//    compares the centre and those neighbours again on every row (up to
//    8 M pixels per shift), where a move needs a lead of 3 sd, not 2:
//    three pairs at noise level 4 that the half sample of 1-4 MP frames
//    left 1 px off (issue 17, the twelfth session).
inline constexpr int kAlignRevision = 14;

struct AlignParams {
  // Largest |dy| and |dx| searched, in full-resolution pixels. Reduced
  // automatically where it would leave less than half the image overlapping.
  int max_shift = 128;
  // Threads one correlator may use for its FFTs (FFTW's planner threads).
  int threads = 1;
  // GPU memory one CUDA correlator may use; 0: a safe fraction of what is
  // free. Scenes that do not fit are split into sub-batches.
  std::size_t gpu_memory_bytes = 0;

  // Text naming every parameter that changes results (not `threads` nor the
  // GPU budget): part
  // of each scene's key, so changing it invalidates scenes.
  std::string Fingerprint() const;
};

class SceneCorrelator {
 public:
  virtual ~SceneCorrelator() = default;

  // Prepares `gt` as the reference for the following Align calls. The image
  // must outlive those calls.
  virtual Status SetReference(const RawImage& gt) = 0;

  // Aligns each noisy capture to the reference. Result i belongs to
  // noisy[i]; a failure of one pair (e.g. a size different from the GT's)
  // is an error in that slot only.
  std::vector<Result<Alignment>> Align(std::span<const RawImage* const> noisy) {
    return Align(noisy, {});
  }
  // The same where the caller already knows, for capture i, whether it
  // holds the reference's pixels bit for bit (same_pixels[i]: SamePixels,
  // align/correlator_common.h; nullopt or an empty span: find out here).
  // A build decides that once per pair and hands the answer to every step
  // that needs it (alignment, RawNIND's figures): comparing a pair's frames
  // once per step read both images in full again on identical copies.
  virtual std::vector<Result<Alignment>> Align(
      std::span<const RawImage* const> noisy,
      std::span<const std::optional<bool>> same_pixels) = 0;

  // For logs: e.g. "cpu (FFTW3, 2 threads)" or "gpu (NVIDIA H100, cuFFT)".
  virtual std::string name() const = 0;
};

enum class Device { kAuto, kCpu, kGpu };

// Chooses the device once (per build): kAuto becomes kGpu when CUDA was
// compiled in and a device is usable, else kCpu; kGpu without a usable GPU
// is an error. `notice`, when given, receives the one line for the user
// saying which was chosen and why (e.g. "no usable CUDA device (...);
// aligning on the CPU").
Result<Device> ChooseDevice(Device requested, const AlignParams& params,
                            std::string* notice = nullptr);

// Makes a correlator for `device` (kAuto: ChooseDevice first; a build
// chooses once and passes kCpu or kGpu here for every GT).
Result<std::unique_ptr<SceneCorrelator>> MakeCorrelator(
    Device device, const AlignParams& params, std::string* notice = nullptr);

// Whether this build has the CUDA correlator at all.
bool CudaCompiledIn();

}  // namespace dsb
