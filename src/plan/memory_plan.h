// The one model of how much memory building a scene takes, and what a
// memory budget therefore allows: scenes in flight, GTs that share one pass
// over the captures, captures in flight and how they are batched for the
// correlator.
//
// Everything is counted in bytes per pixel of one capture, as measured at
// the peak of a 16 x 60 MP Bayer scene (heaptrack for the heap, smaps for
// the decode workers and mappings; issue 17):
//  - a GT: its float plane (4), the GT side of RawNIND's figures (2 on
//    Bayer since its tiles' 2x2 boxes are kept with them,
//    crops/rawnind_loss.h) and its correlator's reference (the coarse
//    spectrum, well under 0.5): 7;
//  - a capture in flight: its float plane (4; shared memory the decode
//    worker normalises into, raw/shared_planes.h), its raw values in that
//    worker until they are normalised (2: LibRaw's buffer,
//    raw/decode_record.h), and the mask the thread that masks it holds
//    (the mask's byte per pixel and its scoring buffers, 2.7 measured;
//    mask/loss_mask.h's workspace, kept per thread): 9.
// The decoder's plane pools keep released planes of the size being decoded
// for the next captures (core/plane_pool.h, raw/shared_planes.h): a
// plane is allocated only when none is kept, so held and kept planes
// together never outnumber the most held at once, counted above. Not counted:
// what does not grow with the image (the process, its libraries and thread
// stacks, each worker's ~12 MB; about 60 MB on a 2-thread build;
// tests/integration/executor/memory_plan_test.cc checks a build's peak against
// the plan plus that). A scene needs at least one GT and one capture, so a file
// with more pixels than physical memory / kBytesPerScenePixel cannot be built
// on the machine at all (the decoder refuses it up front).
//
// A tight budget never refuses work: it runs one GT and one capture at a
// time. Results never depend on the budget (tested row by row).
//
// Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>

namespace dsb {

inline constexpr std::size_t kBytesPerGtPixel = 7;
inline constexpr std::size_t kBytesPerCapturePixel = 9;
inline constexpr std::size_t kBytesPerScenePixel =
    kBytesPerGtPixel + kBytesPerCapturePixel;

// How one scene uses its share of the budget once its image size is known.
struct SceneMemory {
  // GTs decoded together; each pass over the captures aligns them all.
  std::size_t gt_group = 1;
  // Captures decoded and not yet finished, at most (bounded by the workers
  // too: more would only wait).
  std::size_t captures_in_flight = 1;
  // Captures handed to each GT's correlator at once. Two batches are in
  // flight when there is room (one aligning while the next decodes), so a
  // batch is half of captures_in_flight.
  std::size_t batch = 1;
  std::size_t batches_in_flight = 1;
};

// What `memory` plans to hold for captures of `pixels` pixels, in bytes.
std::size_t PlannedBytes(const SceneMemory& memory, std::size_t pixels);

// `budget`: the scene's share in bytes; `pixels`: of one capture; `workers`:
// threads the scene may use; `gt_count`: GTs still to align.
SceneMemory PlanSceneMemory(std::size_t budget, std::size_t pixels, int workers,
                            std::size_t gt_count);

// How many scenes may be built at once. Image sizes are unknown until
// decoded, so each scene is estimated from the largest raw file (raws hold
// 1-2 bytes per pixel, so its byte size over-estimates no pixel count):
// kBytesPerScenePixel per byte. At least one, at most `workers` and
// `scenes`.
std::size_t ScenesInFlight(std::size_t budget, std::uint64_t largest_file_bytes,
                           int workers, std::size_t scenes);

// The largest capture (in pixels) a machine with `physical_memory` bytes can
// build: one GT and one capture in memory.
std::size_t MaxPixelsFor(std::size_t physical_memory);

}  // namespace dsb
