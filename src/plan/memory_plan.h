// The one model of how much memory building a scene takes, and what a
// memory budget therefore allows: scenes in flight, GTs that share one pass
// over the captures, captures in flight and how they are batched for the
// correlator.
//
// Everything is counted in bytes per pixel of one capture (pixels are
// decoded to floats): a GT with what its correlator keeps of it costs
// three float planes, a capture in flight (its pixels, its mask and the
// mask's working buffers) two. A scene needs at least one of each, so a
// file with more pixels than physical memory / kBytesPerScenePixel cannot
// be built on the machine at all (the decoder refuses it up front).
//
// A tight budget never refuses work: it runs one GT and one capture at a
// time. Results never depend on the budget (tested row by row).
//
// Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>

namespace dsb {

inline constexpr std::size_t kBytesPerGtPixel = 3 * sizeof(float);
inline constexpr std::size_t kBytesPerCapturePixel = 2 * sizeof(float);
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
