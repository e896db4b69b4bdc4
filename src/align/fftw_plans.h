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

// The correlator's transforms keep the spectrum column-major: element
// (row r, column c) of the height x (width/2+1) spectrum at [c * height + r].
// FFTW's 2-D plans transform the columns in place, with a stride of a row,
// and its estimated plans copied every batch of columns into a buffer and
// back for that (a third of the 2-D forward transform's instructions at
// 3 MP, half of the partial inverse's); written column by column, the
// columns' transforms read or write their values in order. The codelets are
// the same, and so are the values (`align_bench --exact`: every result of
// the sweeps, real raws and scenes identical). The cross-power spectrum is
// taken element by element, so its layout does not matter.

// The forward transform of a height x width real grid of which only the
// first `rows` rows may be nonzero (the coarse grid; the rest is padding):
// the rows' real-to-complex transforms, then the columns'.
struct ColumnMajorForward {
  fftwf_plan rows = nullptr;     // real rows [0, rows) -> row-major rows
  fftwf_plan columns = nullptr;  // row-major -> column-major, out of place
  int height = 0, width = 0, used_rows = 0;
};
Result<ColumnMajorForward> GetColumnMajorForward(int height, int width,
                                                 int rows, int threads);
// `real` (row pitch width; rows from used_rows on are not read) into
// `spectrum` (column-major); `scratch` (height x (width/2+1) complex values,
// not `spectrum`) is overwritten. All from AllocateReal / AllocateComplex
// (or the start of such a buffer).
void ExecuteColumnMajorForward(const ColumnMajorForward& plans, float* real,
                               fftwf_complex* scratch, fftwf_complex* spectrum);

// The inverse transform of a column-major spectrum where only the real rows
// [0, top) and [height - bottom, height) are wanted (the correlation surface
// within the search radius): the columns' inverse transforms, out of place
// into `real` (column-major), the wanted rows copied back into the
// spectrum's rows (row-major), then those rows' complex-to-real transforms
// alone (a coarse grid's search radius is a few dozen of its ~1000 rows:
// about half the work of the whole inverse). Unnormalised, like
// FftPlans::inverse; the other real rows are left undefined.
struct PartialInverse {
  fftwf_plan columns = nullptr;  // column-major -> column-major
  fftwf_plan top = nullptr;      // spectrum rows [0, top) -> real rows
  fftwf_plan bottom = nullptr;   // the last `bottom` rows
  int height = 0, width = 0, top_rows = 0, bottom_rows = 0;
};
// The cached plans (measured as GetFftPlans's are); top + bottom must not
// exceed height.
Result<PartialInverse> GetPartialInverse(int height, int width, int top,
                                         int bottom, int threads);
// The floats a real buffer must hold to take a column-major spectrum,
// height x (width/2+1) complex values (a little more than height x width
// real values): ExecutePartialInverse's and ExecuteColumnMajorForward's.
std::size_t ColumnMajorRealCount(int height, int width);
// Runs them: `spectrum` (column-major, destroyed) into `real` (row pitch
// width), both from AllocateComplex / AllocateReal, `real` of at least
// ColumnMajorRealCount floats.
void ExecutePartialInverse(const PartialInverse& plans, fftwf_complex* spectrum,
                           float* real);
// A column-major spectrum into `row_major` (the same element at
// [r * (width/2+1) + c]), e.g. for FftPlans::inverse.
void ColumnMajorToRows(const fftwf_complex* spectrum, int height, int width,
                       fftwf_complex* row_major);

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
