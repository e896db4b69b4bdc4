#include "align/fftw_plans.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <tuple>

namespace dsb {

namespace {

// Transforms of at least this many real samples get measured plans.
constexpr std::size_t kMeasuredFftSize = std::size_t{1} << 19;

std::mutex& PlannerMutex() {
  static std::mutex mutex;
  return mutex;
}

// FFTW's threads must be set up before any other FFTW call that touches the
// planner: wisdom imported before fftwf_init_threads is silently forgotten
// (measured: the next plan measured again), and wisdom exported before it
// is signed for a planner without the threads' solvers, which no process
// that has them accepts. Called under PlannerMutex.
bool ThreadsReady() {
  static const bool ready = fftwf_init_threads() != 0;
  return ready;
}

}  // namespace

Result<RealBuffer> AllocateReal(std::size_t count) {
  RealBuffer buffer(static_cast<float*>(fftwf_malloc(sizeof(float) * count)));
  if (!buffer) {
    return Status::ResourceExhausted("cannot allocate " +
                                     std::to_string(count * sizeof(float)) +
                                     " bytes for an FFT buffer");
  }
  return buffer;
}

Result<ComplexBuffer> AllocateComplex(std::size_t count) {
  ComplexBuffer buffer(
      static_cast<fftwf_complex*>(fftwf_malloc(sizeof(fftwf_complex) * count)));
  if (!buffer) {
    return Status::ResourceExhausted(
        "cannot allocate " + std::to_string(count * sizeof(fftwf_complex)) +
        " bytes for an FFT buffer");
  }
  return buffer;
}

Result<FftPlans> GetFftPlans(int height, int width, int threads) {
  std::lock_guard lock(PlannerMutex());
  const bool threads_ready = ThreadsReady();
  static std::map<std::tuple<int, int, int>, FftPlans> cache;
  const auto key = std::make_tuple(height, width, threads);
  if (auto it = cache.find(key); it != cache.end()) return it->second;

  const std::size_t real_count = static_cast<std::size_t>(height) * width;
  const std::size_t complex_count =
      static_cast<std::size_t>(height) * (width / 2 + 1);
  DSB_ASSIGN_OR_RETURN(RealBuffer real, AllocateReal(real_count));
  DSB_ASSIGN_OR_RETURN(ComplexBuffer spectrum, AllocateComplex(complex_count));
  if (threads_ready) fftwf_plan_with_nthreads(threads);
  // Camera-sized frames all have a coarse grid of ~2.5 M samples, where
  // FFTW_ESTIMATE's plans took twice as long as measured ones (24 MP: ~40
  // ms vs ~20 ms per pair for both transforms, 1050 x 1536). Measuring
  // costs 2-3 s once per size and process, paid back within a scene, and
  // is kept in the wisdom file between builds (executor/fft_wisdom.h).
  // Smaller transforms keep the instant estimate: the real 2-4 MP raws'
  // grids since their stride of up to 4 (the G2 CRW's 630 x 480; measuring
  // their former stride-1-2 grids took 0.8-1.3 s per process), the
  // sweeps' small pairs and the tests' 512 x 384 scenes (648 x 525), whose
  // build times the interruption tests rely on (a first build that
  // measured and a rerun that found the wisdom would not compare).
  // Measured plans round differently from estimated ones (so may a
  // measured plan from one run to the next, or cuFFT's): the surface only
  // proposes candidates, whose integer positions such rounding does not
  // move.
  const unsigned flags =
      real_count >= kMeasuredFftSize ? FFTW_MEASURE : FFTW_ESTIMATE;
  FftPlans plans;
  plans.forward =
      fftwf_plan_dft_r2c_2d(height, width, real.get(), spectrum.get(), flags);
  plans.inverse =
      fftwf_plan_dft_c2r_2d(height, width, spectrum.get(), real.get(), flags);
  if (plans.forward == nullptr || plans.inverse == nullptr) {
    return Status::Internal("FFTW could not plan a " + std::to_string(height) +
                            "x" + std::to_string(width) + " transform");
  }
  cache[key] = plans;
  return plans;
}

Result<PartialInverse> GetPartialInverse(int height, int width, int top,
                                         int bottom, int threads) {
  std::lock_guard lock(PlannerMutex());
  const bool threads_ready = ThreadsReady();
  static std::map<std::tuple<int, int, int, int, int>, PartialInverse> cache;
  const auto key = std::make_tuple(height, width, top, bottom, threads);
  if (auto it = cache.find(key); it != cache.end()) return it->second;

  const int half = width / 2 + 1;
  const std::size_t real_count = static_cast<std::size_t>(height) * width;
  const std::size_t complex_count = static_cast<std::size_t>(height) * half;
  DSB_ASSIGN_OR_RETURN(RealBuffer real, AllocateReal(real_count));
  DSB_ASSIGN_OR_RETURN(ComplexBuffer spectrum, AllocateComplex(complex_count));
  if (threads_ready) fftwf_plan_with_nthreads(threads);
  // Measured where the whole transform's plans are (see GetFftPlans).
  const unsigned flags =
      real_count >= kMeasuredFftSize ? FFTW_MEASURE : FFTW_ESTIMATE;
  PartialInverse plans;
  plans.height = height;
  plans.width = width;
  plans.top_rows = top;
  plans.bottom_rows = bottom;
  // `half` transforms of length height, column c at spectrum[c * height],
  // into the same place of another array.
  DSB_ASSIGN_OR_RETURN(ComplexBuffer columns, AllocateComplex(complex_count));
  plans.columns = fftwf_plan_many_dft(1, &height, half, spectrum.get(), nullptr,
                                      1, height, columns.get(), nullptr, 1,
                                      height, FFTW_BACKWARD, flags);
  // `rows` complex-to-real transforms of length width, row r at
  // spectrum[r * half] -> real[r * width]. The bottom rows' plan is made
  // on the arrays at the offset it runs at, so the new-array execution
  // finds the alignment it was planned for.
  auto rows_plan = [&](int first, int rows) -> fftwf_plan {
    if (rows <= 0) return nullptr;
    int n = width;
    return fftwf_plan_many_dft_c2r(
        1, &n, rows, spectrum.get() + static_cast<std::size_t>(first) * half,
        nullptr, 1, half, real.get() + static_cast<std::size_t>(first) * width,
        nullptr, 1, width, flags);
  };
  plans.top = rows_plan(0, top);
  plans.bottom = rows_plan(height - bottom, bottom);
  if (plans.columns == nullptr || (top > 0 && plans.top == nullptr) ||
      (bottom > 0 && plans.bottom == nullptr) || top + bottom > height) {
    return Status::Internal("FFTW could not plan a partial inverse of " +
                            std::to_string(height) + "x" +
                            std::to_string(width));
  }
  cache[key] = plans;
  return plans;
}

Result<ColumnMajorForward> GetColumnMajorForward(int height, int width,
                                                 int rows, int threads) {
  std::lock_guard lock(PlannerMutex());
  const bool threads_ready = ThreadsReady();
  static std::map<std::tuple<int, int, int, int>, ColumnMajorForward> cache;
  const auto key = std::make_tuple(height, width, rows, threads);
  if (auto it = cache.find(key); it != cache.end()) return it->second;

  const int half = width / 2 + 1;
  const std::size_t real_count = static_cast<std::size_t>(height) * width;
  const std::size_t complex_count = static_cast<std::size_t>(height) * half;
  DSB_ASSIGN_OR_RETURN(RealBuffer real, AllocateReal(real_count));
  DSB_ASSIGN_OR_RETURN(ComplexBuffer scratch, AllocateComplex(complex_count));
  DSB_ASSIGN_OR_RETURN(ComplexBuffer spectrum, AllocateComplex(complex_count));
  if (threads_ready) fftwf_plan_with_nthreads(threads);
  // Measured where the 2-D transforms are (see GetFftPlans).
  const unsigned flags =
      real_count >= kMeasuredFftSize ? FFTW_MEASURE : FFTW_ESTIMATE;
  rows = std::clamp(rows, 1, height);
  ColumnMajorForward plans;
  plans.height = height;
  plans.width = width;
  plans.used_rows = rows;
  int n = width;
  plans.rows =
      fftwf_plan_many_dft_r2c(1, &n, rows, real.get(), nullptr, 1, width,
                              scratch.get(), nullptr, 1, half, flags);
  plans.columns = fftwf_plan_many_dft(1, &height, half, scratch.get(), nullptr,
                                      half, 1, spectrum.get(), nullptr, 1,
                                      height, FFTW_FORWARD, flags);
  if (plans.rows == nullptr || plans.columns == nullptr) {
    return Status::Internal("FFTW could not plan a column-major transform of " +
                            std::to_string(height) + "x" +
                            std::to_string(width));
  }
  cache[key] = plans;
  return plans;
}

void ExecuteColumnMajorForward(const ColumnMajorForward& plans, float* real,
                               fftwf_complex* scratch,
                               fftwf_complex* spectrum) {
  const std::size_t half = static_cast<std::size_t>(plans.width / 2 + 1);
  fftwf_execute_dft_r2c(plans.rows, real, scratch);
  // The padding rows' transforms are 0.
  std::memset(scratch + plans.used_rows * half, 0,
              sizeof(fftwf_complex) * half * (plans.height - plans.used_rows));
  fftwf_execute_dft(plans.columns, scratch, spectrum);
}

std::size_t ColumnMajorRealCount(int height, int width) {
  return static_cast<std::size_t>(height) * 2 * (width / 2 + 1);
}

void ExecutePartialInverse(const PartialInverse& plans, fftwf_complex* spectrum,
                           float* real) {
  const int height = plans.height;
  const int half = plans.width / 2 + 1;
  auto* columns = reinterpret_cast<fftwf_complex*>(real);
  fftwf_execute_dft(plans.columns, spectrum, columns);
  // The wanted rows back into the spectrum's row-major layout (columns are
  // read in order; the writes go to top + bottom rows, which stay in L1).
  const int bottom_first = height - plans.bottom_rows;
  for (int c = 0; c < half; ++c) {
    const fftwf_complex* column =
        columns + static_cast<std::size_t>(c) * height;
    for (int y = 0; y < plans.top_rows; ++y) {
      std::memcpy(spectrum[static_cast<std::size_t>(y) * half + c], column[y],
                  sizeof(fftwf_complex));
    }
    for (int y = bottom_first; y < height; ++y) {
      std::memcpy(spectrum[static_cast<std::size_t>(y) * half + c], column[y],
                  sizeof(fftwf_complex));
    }
  }
  if (plans.top != nullptr) {
    fftwf_execute_dft_c2r(plans.top, spectrum, real);
  }
  if (plans.bottom != nullptr) {
    const std::size_t first = static_cast<std::size_t>(bottom_first);
    fftwf_execute_dft_c2r(plans.bottom, spectrum + first * half,
                          real + first * plans.width);
  }
}

void ColumnMajorToRows(const fftwf_complex* spectrum, int height, int width,
                       fftwf_complex* row_major) {
  const std::size_t half = static_cast<std::size_t>(width / 2 + 1);
  // Blocks of 16 columns: 16 rows' writes stay in cache.
  constexpr std::size_t kBlock = 16;
  for (std::size_t c0 = 0; c0 < half; c0 += kBlock) {
    const std::size_t c1 = std::min(half, c0 + kBlock);
    for (int r = 0; r < height; ++r) {
      for (std::size_t c = c0; c < c1; ++c) {
        std::memcpy(row_major[r * half + c], spectrum[c * height + r],
                    sizeof(fftwf_complex));
      }
    }
  }
}

}  // namespace dsb

namespace dsb {

std::string ExportFftWisdom() {
  std::lock_guard lock(PlannerMutex());
  (void)ThreadsReady();  // else the text is signed for a planner without them
  char* text = fftwf_export_wisdom_to_string();
  if (text == nullptr) return {};
  std::string wisdom(text);
  std::free(text);  // FFTW's documented way to free it
  return wisdom;
}

bool ImportFftWisdom(const std::string& wisdom) {
  std::lock_guard lock(PlannerMutex());
  (void)ThreadsReady();
  return fftwf_import_wisdom_from_string(wisdom.c_str()) != 0;
}

}  // namespace dsb
