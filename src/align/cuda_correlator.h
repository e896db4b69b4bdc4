// The GPU correlator: cuFFT for the coarse search, giving the CPU
// correlator's answers (both share align/correlator_common.h).
//
// SetReference prepares the GT's coarse luminance on the host exactly as
// the CPU does (ChannelBalance, CoarseLuma, PrepareCoarse), uploads it and
// keeps its spectrum resident on the device for the whole scene. Align
// splits the captures into sub-batches that fit the GPU memory budget
// (AlignParams::gpu_memory_bytes, or half of the free device memory), and
// for each: prepares the coarse luminance on the host into pinned buffers,
// uploads it asynchronously, runs one batched R2C transform, the partially
// whitened cross-power against the GT spectrum (shift_search.h's CrossPower
// formula), one batched C2R transform (unnormalised, like FFTW's), and
// downloads only the searched window of each correlation surface. Two
// streams alternate so that the host work of one sub-batch overlaps the
// device work of the other. The peak search, the fine search and the
// gain/loss then run on the host through the shared FinishAlignment, so
// integer shifts are identical whenever the coarse peaks are; cuFFT's float
// rounding differs from FFTW's only in the last bits.
//
// Future work: FineSearch and the loss stay on the host. They touch a few
// small tiles (at most 8 of 192x192 per candidate) and one pass over the
// overlap, so moving them would save little and would need the full-size
// mosaics (hundreds of MB per scene) on the device.
//
// Memory: device memory comes from cudaMalloc only (no managed memory),
// host staging from cudaMallocHost; both are freed by the destructor. A
// failed allocation is kResourceExhausted naming the size, so the caller
// can fall back to the CPU for that scene. cuFFT plans are cached per
// (transform size, batch) and destroyed when the transform size changes.
// All correlators share the process's one CUDA context (the runtime API's
// primary context of the current device).
//
// Thread safety: one thread at a time per correlator (SceneCorrelator);
// several correlators may run on several threads at once.
#pragma once

#include <memory>
#include <string>

#include "align/correlator.h"
#include "common/result.h"

namespace dsb {

// Makes a CUDA correlator on the current CUDA device (device 0 unless the
// process chose another). Without a usable device (no device, no driver,
// no kernel image for it) the error is kUnsupported, e.g. "no CUDA device
// found (cudaGetDeviceCount: ...)", and `why`, when given, receives the same
// message.
Result<std::unique_ptr<SceneCorrelator>> MakeCudaCorrelator(
    const AlignParams& params, std::string* why = nullptr);

}  // namespace dsb
