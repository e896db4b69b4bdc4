// FFTW's wisdom kept between builds, one file per machine, so only the
// first build on a machine measures its camera-sized transforms.
//
// Why: the CPU correlator plans transforms of at least 2^19 samples with
// FFTW_MEASURE (align/fftw_plans.h), 2-3 s of one core per image size and
// process (1.9 s for a 60 MP frame's coarse grid on this project's VM):
// a tenth of a 16 x 60 MP scene's CPU time, spent while the scene cannot
// align yet. With the wisdom a later process plans the same sizes at once
// and gets the same plans, so its transforms also round as the earlier
// build's did.
//
// Where: $XDG_CACHE_HOME/dataset-build, else $HOME/.cache/dataset-build,
// file fftw-wisdom-HOSTNAME (FFTW's choices suit the CPU they were measured
// on; cluster nodes sharing a home each keep their own). Nowhere when
// neither variable is set. It is a cache: a file that is missing,
// unreadable or not FFTW's is ignored, and a failure to write it only
// loses the time saved. Writes go to a temporary file renamed over the old
// one, so builds running at once never read half a file.
//
// Thread safety: Load before a build plans, Save after; the FFTW calls
// themselves hold the planner's mutex (align/fftw_plans.h).
#pragma once

#include <string>

namespace dsb {

// The wisdom file for this machine, or "" when there is no cache folder.
std::string FftWisdomPath();

class FftWisdomFile {
 public:
  explicit FftWisdomFile(std::string path) : path_(std::move(path)) {}
  // Merges the file's wisdom into this process's.
  void Load();
  // Writes this process's wisdom when it holds more than was loaded.
  void Save() const;

 private:
  std::string path_;
  std::string loaded_;  // the process's wisdom right after Load
};

}  // namespace dsb
