// The FFTW3 adapter: aligned buffers and a process-wide cache of 2-D
// real-to-complex / complex-to-real plans, one pair per (height, width,
// threads).
//
// FFTW's planner is not thread-safe, so plans are made under one mutex;
// executing a plan with the new-array interface is thread-safe, so cached
// plans are shared by every correlator. Buffers come from fftwf_malloc so
// they have the alignment the plans were made for. Plans live until exit:
// a dataset has a handful of image sizes.
//
// Thread safety: all functions may be called from any thread.
#pragma once

#include <fftw3.h>

#include <cstddef>
#include <memory>
#include <string>

#include "common/result.h"

namespace dsb {

struct FftwDeleter {
  void operator()(void* p) const { fftwf_free(p); }
};
using RealBuffer = std::unique_ptr<float[], FftwDeleter>;
using ComplexBuffer = std::unique_ptr<fftwf_complex[], FftwDeleter>;

Result<RealBuffer> AllocateReal(std::size_t count);
Result<ComplexBuffer> AllocateComplex(std::size_t count);

struct FftPlans {
  fftwf_plan forward = nullptr;  // height x width real -> height x (width/2+1)
  fftwf_plan inverse = nullptr;  // and back (unnormalised)
};

// The cached plans for a height x width transform using `threads` threads.
Result<FftPlans> GetFftPlans(int height, int width, int threads);

// The inverse transform of a height x (width/2+1) spectrum where only the
// real rows [0, top) and [height - bottom, height) are wanted (the
// correlation surface within the search radius): the columns' inverse
// transforms in place in the spectrum, then the rows' complex-to-real
// transforms of those rows alone (a coarse grid's search radius is a few
// dozen of its ~1000 rows: about half the work of the whole inverse).
// Unnormalised, like FftPlans::inverse; the other real rows are left as
// they were.
struct PartialInverse {
  fftwf_plan columns = nullptr;  // in place, spectrum -> spectrum
  fftwf_plan top = nullptr;      // spectrum rows [0, top) -> real rows
  fftwf_plan bottom = nullptr;   // the last `bottom` rows
  int height = 0, width = 0, top_rows = 0, bottom_rows = 0;
};
// The cached plans (measured as GetFftPlans's are); top + bottom must not
// exceed height.
Result<PartialInverse> GetPartialInverse(int height, int width, int top,
                                         int bottom, int threads);
// Runs them: `spectrum` (destroyed) into `real` (row pitch width), both
// from AllocateComplex / AllocateReal.
void ExecutePartialInverse(const PartialInverse& plans, fftwf_complex* spectrum,
                           float* real);

}  // namespace dsb

namespace dsb {

// FFTW's wisdom (what measuring chose for each transform size) as text, and
// merged back in, under the planner's mutex: a later process then plans a
// measured size at once instead of measuring it again (2-3 s of one core
// per camera-sized transform; executor/fft_wisdom.h keeps it in a file).
// Import returns false for text FFTW does not accept.
std::string ExportFftWisdom();
bool ImportFftWisdom(const std::string& wisdom);

}  // namespace dsb
