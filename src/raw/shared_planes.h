// Image planes in shared memory (memfds), which a pooled decode worker
// writes in place: the build hands the worker the plane's memfd, the worker
// normalises its LibRaw buffer straight into it (raw/decode_worker.h:
// kPixelsFill), and the build adopts the plane as it is. The pixels cross
// the process boundary without a copy.
//
// Why: the build used to copy the raw values out of the worker
// (process_vm_readv, 2 bytes a pixel) and normalise them into a plane of
// its own; on the GoPro DNGs (12 MP, uncompressed) the copy and the
// normalisation in the build were a third of the isolated decode's CPU
// (perf: _copy_to_iter and the pinning of the worker's pages 14 %, the
// normaliser 21 %), 1.5x LibRaw's unpack where the target is 1.3x.
//
// Like core/plane_pool.h, released buffers are kept (at most `max_free`,
// exact sizes only; a miss frees the kept ones before it allocates), so a
// capture's plane reuses the pages, and this process's mapping, of one the
// build has just released. Each buffer is a memfd sealed against shrinking
// and growing, mapped here once: a worker that misbehaves can garble the
// pixels of the plane it was given, never pull its pages away (SIGBUS here)
// or reach any other memory of the build. A worker keeps its mappings of
// the last few memfds it was given (mapping and unmapping a 48 MB plane
// for every file was 13 % of a GoPro DNG's isolated decode, perf), so a
// worker that misbehaves can garble the pixels of planes whose buffers it
// was given before; never more.
//
// Which kept buffer a request gets: one the process about to write it
// (`filler`, a worker's pid) has written before, when one of the size is
// free. Why: on a VM that backs each page of a new mapping lazily, the
// first pass over a mapping costs far more than any pass after it. On this
// project's VM (2 December 2026) a worker's first fill of a 2.7 MP plane
// (10.6 MB) took 20 ms of its CPU against 0.85 ms for every later fill of
// the same memfd; a 16-copy NEF scene's build filled 5 of its 16 planes
// cold, ~100 ms beside LibRaw's 160 ms. The choice is only a preference:
// any free buffer of the size serves, and the pixels are the same.
//
// Memory: the same as core/plane_pool.h (a buffer is allocated only when
// none of its size is kept). The pages are shared memory (RssShmem), freed
// when the plane is released and no longer kept: its pages are punched out
// of the memfd then, so a worker's mapping of it keeps none.
//
// Thread safety: Acquire and releases may happen on any threads at once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "common/result.h"
#include "core/plane.h"

namespace dsb {

class SharedPlanePool {
 public:
  explicit SharedPlanePool(std::size_t max_free);
  ~SharedPlanePool();
  SharedPlanePool(const SharedPlanePool&) = delete;
  SharedPlanePool& operator=(const SharedPlanePool&) = delete;

  struct Lease {
    Plane<float> plane;  // width x height floats, contents undefined
    int fd = -1;  // its memfd (close-on-exec), valid while the plane lives
  };
  // An error when no memfd can be made or mapped (the caller then uses
  // an ordinary plane). `filler` names the process that will write the
  // plane (0: none in particular).
  Result<Lease> Acquire(int width, int height, std::uint64_t filler = 0) const;

  // Frees the buffers kept for reuse now (a later Acquire allocates
  // afresh); planes still leased are kept when released, as before.
  void FreeKept() const;

  // For tests: buffers kept for reuse now.
  std::size_t free_buffers() const;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace dsb
