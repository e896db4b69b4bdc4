// Finds an entry point of one of this project's shared modules: parts of
// the tool that pull in heavy libraries (cuFFT and the CUDA runtime,
// OpenCV) live in modules loaded with dlopen on first use, so processes
// that never need them (a no-op rerun, every decode worker, `--version`)
// do not pay for loading those libraries at start-up.
//
// A module is looked for where the build put it (an absolute path fixed
// when meson configured the build), then beside the running executable
// (where `meson install` puts it, and where a copied build keeps it).
#ifndef DSB_COMMON_SHARED_MODULE_H_
#define DSB_COMMON_SHARED_MODULE_H_

#include "common/result.h"

namespace dsb {

// The address of `entry` in the module `file_name` (e.g.
// "libdsb_opencv.so"), built at `built_path`. The module stays loaded
// until exit. Errors name every path tried and the loader's reason;
// `what` says what the module is for ("the CUDA correlator").
Result<void*> LoadModuleEntry(const char* what, const char* built_path,
                              const char* file_name, const char* entry);

}  // namespace dsb

#endif  // DSB_COMMON_SHARED_MODULE_H_
