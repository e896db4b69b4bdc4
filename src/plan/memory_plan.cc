#include "plan/memory_plan.h"

#include <algorithm>

namespace dsb {

SceneMemory PlanSceneMemory(std::size_t budget, std::size_t pixels, int workers,
                            std::size_t gt_count) {
  const std::size_t per_gt = kBytesPerGtPixel * pixels;
  const std::size_t per_capture = kBytesPerCapturePixel * pixels;
  const std::size_t max_workers =
      static_cast<std::size_t>(std::max(1, workers));
  SceneMemory memory;
  // Captures in flight come first (they keep the cores busy), then as many
  // GTs as still fit share one pass over the captures.
  if (budget > per_gt + per_capture) {
    memory.captures_in_flight = std::clamp<std::size_t>(
        (budget - per_gt) / per_capture, 1, max_workers);
    const std::size_t streaming = memory.captures_in_flight * per_capture;
    if (budget > streaming + per_gt) {
      memory.gt_group = std::clamp<std::size_t>(
          (budget - streaming) / per_gt, 1, std::max<std::size_t>(1, gt_count));
    }
  }
  memory.batches_in_flight = memory.captures_in_flight >= 2 ? 2 : 1;
  memory.batch = std::max<std::size_t>(
      1, memory.captures_in_flight / memory.batches_in_flight);
  return memory;
}

std::size_t PlannedBytes(const SceneMemory& memory, std::size_t pixels) {
  return (memory.gt_group * kBytesPerGtPixel +
          memory.captures_in_flight * kBytesPerCapturePixel) *
         pixels;
}

std::size_t ScenesInFlight(std::size_t budget, std::uint64_t largest_file_bytes,
                           int workers, std::size_t scenes) {
  const std::size_t scene_minimum = static_cast<std::size_t>(
      kBytesPerScenePixel * std::max<std::uint64_t>(1, largest_file_bytes));
  return std::clamp<std::size_t>(
      std::min(budget / scene_minimum, scenes), 1,
      static_cast<std::size_t>(std::max(1, workers)));
}

std::size_t MaxPixelsFor(std::size_t physical_memory) {
  return std::max<std::size_t>(1, physical_memory / kBytesPerScenePixel);
}

}  // namespace dsb
