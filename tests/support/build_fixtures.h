// What most integration tests start from: a small generated dataset and
// quiet CPU build options for a root. Header-only: the tests that use it
// link synth and build already.
#pragma once

#include <cstdint>
#include <string>

#include "executor/build_options.h"
#include "synth/generate.h"

namespace dsb::testing {

// `scenes` RGGB scenes of one GT and `noisy` captures, 256x192, shifts up
// to 12 pixels.
inline SynthOptions SmallDataset(const std::string& out_dir, int scenes,
                                 int noisy, std::uint64_t seed) {
  SynthOptions synth;
  synth.out_dir = out_dir;
  synth.scenes = scenes;
  synth.noisy = noisy;
  synth.width = 256;
  synth.height = 192;
  synth.cfa = "rggb";
  synth.seed = seed;
  synth.max_shift = 12;
  return synth;
}

// A quiet build of `root` on the CPU; jobs 0 means all cores.
inline BuildOptions CpuBuildOptions(const std::string& root, int max_shift = 16,
                                    int jobs = 2) {
  BuildOptions options;
  options.root = root;
  options.jobs = jobs;
  options.quiet = true;
  options.device = Device::kCpu;
  options.align.max_shift = max_shift;
  options.ResolveDefaults();
  return options;
}

}  // namespace dsb::testing
