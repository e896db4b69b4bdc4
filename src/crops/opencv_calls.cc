#include "crops/opencv_calls.h"

#include <cstdio>
#include <cstdlib>

#include "common/shared_module.h"

namespace dsb {

namespace {

using Demosaic = void (*)(const std::uint16_t*, int, int, std::uint16_t*);
using ToHalves = void (*)(const float*, std::size_t, std::uint16_t*);

void* EntryOrExit(const char* entry) {
  Result<void*> address =
      LoadModuleEntry("dataset-build's OpenCV module", DSB_OPENCV_MODULE_PATH,
                      DSB_OPENCV_MODULE, entry);
  if (!address.ok()) {
    std::fprintf(stderr,
                 "dataset-build: %s (reinstall dataset-build: the module "
                 "belongs beside the binary)\n",
                 address.status().ToString().c_str());
    // _Exit, not exit: other threads are mid-build, and running static
    // destructors under them could hang; the manifest is consistent after
    // any stop.
    std::_Exit(3);
  }
  return *address;
}

}  // namespace

void DemosaicRggbEdgeAware(const std::uint16_t* mono, int rows, int cols,
                           std::uint16_t* rgb) {
  static const auto demosaic =
      reinterpret_cast<Demosaic>(EntryOrExit("dsb_demosaic_rggb_ea"));
  demosaic(mono, rows, cols, rgb);
}

void FloatsToHalves(std::span<const float> in, std::span<std::uint16_t> out) {
  static const auto to_halves =
      reinterpret_cast<ToHalves>(EntryOrExit("dsb_floats_to_halves"));
  to_halves(in.data(), in.size(), out.data());
}

}  // namespace dsb
