// Real photographs for tests and benchmarks: those of python3-skimage's
// data folder (installed by scripts/test), or of $DSB_PHOTO_DIR. Tests that
// need one skip, saying so, where it is absent.
//
// Only these are used; skimage's other colour photographs are reserved for
// an independent check and must never be used in tests or tuning.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "synth/photo_reader.h"

namespace dsb::testing {

// The folder searched: $DSB_PHOTO_DIR, else skimage's data folder.
std::string PhotoDir();
// The path of photograph `name` in PhotoDir(), or "" when it is absent.
std::string FindPhoto(const std::string& name);
// The photographs the sweeps use, in order: motorcycle_left.png (a red
// motorbike in a tungsten-lit garage), rocket.jpg (a launch pad under a
// blue sky), retina.jpg (a red fundus photograph), ihc.png (stained
// tissue under a microscope). The first is the tests' photograph.
std::vector<std::string> SweepPhotoNames();
// Photograph `name` read from PhotoDir(), or null where it is absent (one
// that is there but does not read fails the calling test).
std::shared_ptr<const Srgb8Image> LoadPhoto(const std::string& name);
// Why a test that needs photograph `name` skips where it is absent (the
// reason GTEST_SKIP prints).
std::string PhotoMissing(const std::string& name);

}  // namespace dsb::testing
