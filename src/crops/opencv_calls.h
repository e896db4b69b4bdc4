// The two things this project asks of OpenCV: RawNIND's demosaic (OpenCV's
// edge-aware Bayer interpolation, which RawNIND's own code calls) and the
// float -> half conversion of the crops' .npy files.
//
// They are reached through a shared module (crops/opencv_module.cc,
// common/shared_module.h) loaded on the first call: linked into the
// binary, OpenCV and what it pulls in (LAPACK, gfortran, X11: 20 of the
// binary's 38 libraries) cost every process ~2.3 ms of CPU at start-up,
// a no-op rerun and every decode worker included, which never demosaic.
// A module that cannot be loaded is a broken installation: the call
// reports both paths tried and the loader's reason, and ends the process
// (what the dynamic linker did before, at start-up, for a missing
// library); the manifest stays consistent, as after any interruption.
#ifndef DSB_CROPS_OPENCV_CALLS_H_
#define DSB_CROPS_OPENCV_CALLS_H_

#include <cstdint>
#include <span>

namespace dsb {

// OpenCV's COLOR_BayerRGGB2RGB_EA of a rows x cols 16-bit mosaic into
// rows x cols x 3 16-bit values (R, G, B per pixel).
void DemosaicRggbEdgeAware(const std::uint16_t* mono, int rows, int cols,
                           std::uint16_t* rgb);

// float -> IEEE half bits, round to nearest even (OpenCV's convertTo);
// `out` holds in.size() values.
void FloatsToHalves(std::span<const float> in, std::span<std::uint16_t> out);

}  // namespace dsb

#endif  // DSB_CROPS_OPENCV_CALLS_H_
