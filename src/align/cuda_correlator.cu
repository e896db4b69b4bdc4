#include <cuda_runtime.h>
#include <cufft.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdio>
#include <map>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "align/correlator_common.h"
#include "align/cuda_correlator.h"
#include "align/cuda_status.h"
#include "align/mosaic_luma.h"
#include "align/shift_search.h"

namespace dsb {

namespace {

// Captures per sub-batch at most: bounds the pinned host staging (one
// padded coarse image, ~12 MB for a 60 MP capture, per capture and stream).
constexpr int kMaxSubBatch = 16;
constexpr int kBlock = 256;
constexpr int kMaxGrid = 4096;

// ---------------------------------------------------------------- kernels

// shift_search.h's CrossPower for `batch` noisy spectra of `complex_count`
// bins each against one GT spectrum, in place:
// out = G * conj(N) / |G * conj(N)|^kWhitening, 0 where that is <= 1e-20.
__global__ void CrossPowerKernel(const float2* __restrict__ gt,
                                 float2* __restrict__ spectra,
                                 std::size_t complex_count, std::size_t total) {
  for (std::size_t k =
           blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x;
       k < total; k += static_cast<std::size_t>(blockDim.x) * gridDim.x) {
    const float2 g = gt[k % complex_count];
    const float2 n = spectra[k];
    const float re = g.x * n.x + g.y * n.y;
    const float im = g.y * n.x - g.x * n.y;
    const float magnitude = sqrtf(re * re + im * im);
    const float scale =
        magnitude > 1e-20f ? powf(magnitude, -kWhitening) : 0.0f;
    spectra[k] = make_float2(re * scale, im * scale);
  }
}

// Copies the window dy in [-half_y, half_y], dx in [-half_x, half_x] of each
// circular fft_height x fft_width surface into a dense
// (2 half_y + 1) x (2 half_x + 1) block per surface.
__global__ void ExtractWindowKernel(const float* __restrict__ surfaces,
                                    int fft_height, int fft_width, int half_y,
                                    int half_x, std::size_t total,
                                    float* __restrict__ windows) {
  const int window_width = 2 * half_x + 1;
  const std::size_t window_count =
      static_cast<std::size_t>(2 * half_y + 1) * window_width;
  const std::size_t surface_count =
      static_cast<std::size_t>(fft_height) * fft_width;
  for (std::size_t k =
           blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x;
       k < total; k += static_cast<std::size_t>(blockDim.x) * gridDim.x) {
    const std::size_t b = k / window_count;
    const int r = static_cast<int>(k % window_count);
    const int dy = r / window_width - half_y;
    const int dx = r % window_width - half_x;
    const int y = (dy % fft_height + fft_height) % fft_height;
    const int x = (dx % fft_width + fft_width) % fft_width;
    windows[k] = surfaces[b * surface_count +
                          static_cast<std::size_t>(y) * fft_width + x];
  }
}

int GridFor(std::size_t total) {
  return static_cast<int>(std::clamp<std::size_t>(
      (total + kBlock - 1) / kBlock, 1, static_cast<std::size_t>(kMaxGrid)));
}

// --------------------------------------------------------- owned resources

std::string Mib(std::size_t bytes) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.1f MiB",
                static_cast<double>(bytes) / (1 << 20));
  return text;
}

struct DeviceFree {
  void operator()(void* p) const { cudaFree(p); }
};
struct PinnedFree {
  void operator()(void* p) const { cudaFreeHost(p); }
};
template <typename T>
using DevicePtr = std::unique_ptr<T, DeviceFree>;
template <typename T>
using PinnedPtr = std::unique_ptr<T, PinnedFree>;

template <typename T>
Result<DevicePtr<T>> DeviceAlloc(std::size_t count, const char* what) {
  const std::size_t bytes = std::max<std::size_t>(1, count * sizeof(T));
  void* p = nullptr;
  const Status status = CudaStatus(cudaMalloc(&p, bytes), "cudaMalloc");
  if (!status.ok()) {
    cudaGetLastError();  // allocation failures are not sticky; clear it
    return status.WithContext("cannot allocate " + Mib(bytes) +
                              " of GPU memory for " + what);
  }
  return DevicePtr<T>(static_cast<T*>(p));
}

template <typename T>
Result<PinnedPtr<T>> PinnedAlloc(std::size_t count, const char* what) {
  const std::size_t bytes = std::max<std::size_t>(1, count * sizeof(T));
  void* p = nullptr;
  const Status status = CudaStatus(cudaMallocHost(&p, bytes), "cudaMallocHost");
  if (!status.ok()) {
    cudaGetLastError();
    return status.WithContext("cannot allocate " + Mib(bytes) +
                              " of pinned host memory for " + what);
  }
  return PinnedPtr<T>(static_cast<T*>(p));
}

// A forward (R2C) and inverse (C2R) plan for one batch size, using the
// owning slot's work area (auto-allocation off).
struct PlanPair {
  cufftHandle forward = 0, inverse = 0;
  bool has_forward = false, has_inverse = false;
  PlanPair() = default;
  PlanPair(const PlanPair&) = delete;
  PlanPair& operator=(const PlanPair&) = delete;
  ~PlanPair() {
    if (has_forward) cufftDestroy(forward);
    if (has_inverse) cufftDestroy(inverse);
  }
};

// Transform sizes of one scene.
struct Sizes {
  int fft_height = 0, fft_width = 0;
  int half_y = 0, half_x = 0;  // window half-size: search radius + 1
  std::size_t real_count = 0, complex_count = 0, window_count = 0;
  bool operator==(const Sizes&) const = default;

  std::size_t PerCaptureBytes() const {
    return real_count * sizeof(float) + complex_count * sizeof(float2) +
           window_count * sizeof(float);
  }
};

Sizes SizesFor(const CoarseGeometry& g) {
  Sizes s;
  s.fft_height = g.fft_height;
  s.fft_width = g.fft_width;
  s.half_y = g.search_y + 1;
  s.half_x = g.search_x + 1;
  s.real_count = static_cast<std::size_t>(g.fft_height) * g.fft_width;
  s.complex_count =
      static_cast<std::size_t>(g.fft_height) * (g.fft_width / 2 + 1);
  s.window_count =
      static_cast<std::size_t>(2 * s.half_y + 1) * (2 * s.half_x + 1);
  return s;
}

// cuFFT's estimate of the work area for batched R2C and C2R transforms.
std::size_t EstimateWork(const Sizes& s, int batch) {
  int n[2] = {s.fft_height, s.fft_width};
  int real_embed[2] = {s.fft_height, s.fft_width};
  int complex_embed[2] = {s.fft_height, s.fft_width / 2 + 1};
  std::size_t forward = 0, inverse = 0;
  if (cufftEstimateMany(2, n, real_embed, 1, static_cast<int>(s.real_count),
                        complex_embed, 1, static_cast<int>(s.complex_count),
                        CUFFT_R2C, batch, &forward) != CUFFT_SUCCESS ||
      cufftEstimateMany(2, n, complex_embed, 1,
                        static_cast<int>(s.complex_count), real_embed, 1,
                        static_cast<int>(s.real_count), CUFFT_C2R, batch,
                        &inverse) != CUFFT_SUCCESS) {
    // No estimate: assume the worst documented case (one more copy of the
    // data).
    return static_cast<std::size_t>(batch) * s.complex_count * sizeof(float2);
  }
  return std::max(forward, inverse);
}

// One stream with its own buffers, plans and work area: two of them let the
// host prepare or finish one sub-batch while the device works on the other.
struct Slot {
  cudaStream_t stream = nullptr;
  int capacity = 0;              // captures the buffers hold
  DevicePtr<float> real;         // capacity x real_count
  DevicePtr<float2> spectrum;    // capacity x complex_count
  DevicePtr<float> window;       // capacity x window_count
  PinnedPtr<float> host_real;    // capacity x real_count
  PinnedPtr<float> host_window;  // capacity x window_count
  DevicePtr<char> work;
  std::size_t work_bytes = 0;
  std::map<int, std::unique_ptr<PlanPair>> plans;  // by batch size
  std::vector<std::size_t> pending;  // captures in flight, by index

  std::size_t HeldBytes(const Sizes& s) const {
    return static_cast<std::size_t>(capacity) * s.PerCaptureBytes() +
           work_bytes;
  }

  void ReleaseBuffers() {
    real.reset();
    spectrum.reset();
    window.reset();
    host_real.reset();
    host_window.reset();
    capacity = 0;
  }

  void ReleaseAll() {
    plans.clear();
    work.reset();
    work_bytes = 0;
    ReleaseBuffers();
    pending.clear();
  }

  Status Resize(int captures, const Sizes& s) {
    if (captures == capacity) return Status::Ok();
    ReleaseBuffers();
    if (captures == 0) return Status::Ok();
    const std::size_t n = static_cast<std::size_t>(captures);
    DSB_ASSIGN_OR_RETURN(real,
                         DeviceAlloc<float>(n * s.real_count, "coarse images"));
    DSB_ASSIGN_OR_RETURN(
        spectrum, DeviceAlloc<float2>(n * s.complex_count, "coarse spectra"));
    DSB_ASSIGN_OR_RETURN(
        window, DeviceAlloc<float>(n * s.window_count, "search windows"));
    DSB_ASSIGN_OR_RETURN(host_real,
                         PinnedAlloc<float>(n * s.real_count, "coarse images"));
    DSB_ASSIGN_OR_RETURN(
        host_window, PinnedAlloc<float>(n * s.window_count, "search windows"));
    capacity = captures;
    return Status::Ok();
  }

  // The cached plans for `batch` captures, made on first use.
  Result<PlanPair*> Plans(int batch, const Sizes& s) {
    auto found = plans.find(batch);
    if (found != plans.end()) return found->second.get();
    auto pair = std::make_unique<PlanPair>();
    int n[2] = {s.fft_height, s.fft_width};
    int real_embed[2] = {s.fft_height, s.fft_width};
    int complex_embed[2] = {s.fft_height, s.fft_width / 2 + 1};
    std::size_t forward_work = 0, inverse_work = 0;
    DSB_RETURN_IF_ERROR(
        CufftStatus(cufftCreate(&pair->forward), "cufftCreate"));
    pair->has_forward = true;
    DSB_RETURN_IF_ERROR(
        CufftStatus(cufftCreate(&pair->inverse), "cufftCreate"));
    pair->has_inverse = true;
    DSB_RETURN_IF_ERROR(CufftStatus(cufftSetAutoAllocation(pair->forward, 0),
                                    "cufftSetAutoAllocation"));
    DSB_RETURN_IF_ERROR(CufftStatus(cufftSetAutoAllocation(pair->inverse, 0),
                                    "cufftSetAutoAllocation"));
    const std::string shape = " (" + std::to_string(batch) + " x " +
                              std::to_string(s.fft_height) + "x" +
                              std::to_string(s.fft_width) + ")";
    DSB_RETURN_IF_ERROR(CufftStatus(
        cufftMakePlanMany(pair->forward, 2, n, real_embed, 1,
                          static_cast<int>(s.real_count), complex_embed, 1,
                          static_cast<int>(s.complex_count), CUFFT_R2C, batch,
                          &forward_work),
        "cufftMakePlanMany R2C" + shape));
    DSB_RETURN_IF_ERROR(CufftStatus(
        cufftMakePlanMany(pair->inverse, 2, n, complex_embed, 1,
                          static_cast<int>(s.complex_count), real_embed, 1,
                          static_cast<int>(s.real_count), CUFFT_C2R, batch,
                          &inverse_work),
        "cufftMakePlanMany C2R" + shape));
    DSB_RETURN_IF_ERROR(
        CufftStatus(cufftSetStream(pair->forward, stream), "cufftSetStream"));
    DSB_RETURN_IF_ERROR(
        CufftStatus(cufftSetStream(pair->inverse, stream), "cufftSetStream"));
    // Plans of one slot run one after another on its stream, so they share
    // one work area, grown to the largest need.
    const std::size_t need = std::max(forward_work, inverse_work);
    if (need > work_bytes) {
      work.reset();
      work_bytes = 0;
      DSB_ASSIGN_OR_RETURN(work, DeviceAlloc<char>(need, "cuFFT work area"));
      work_bytes = need;
      for (auto& [other_batch, other] : plans) {
        DSB_RETURN_IF_ERROR(CufftStatus(
            cufftSetWorkArea(other->forward, work.get()), "cufftSetWorkArea"));
        DSB_RETURN_IF_ERROR(CufftStatus(
            cufftSetWorkArea(other->inverse, work.get()), "cufftSetWorkArea"));
      }
    }
    DSB_RETURN_IF_ERROR(CufftStatus(cufftSetWorkArea(pair->forward, work.get()),
                                    "cufftSetWorkArea"));
    DSB_RETURN_IF_ERROR(CufftStatus(cufftSetWorkArea(pair->inverse, work.get()),
                                    "cufftSetWorkArea"));
    PlanPair* result = pair.get();
    plans.emplace(batch, std::move(pair));
    return result;
  }
};

// ------------------------------------------------------------- correlator

class CudaCorrelator : public SceneCorrelator {
 public:
  CudaCorrelator(const AlignParams& params, int device, std::string device_name)
      : params_(params),
        device_(device),
        device_name_(std::move(device_name)) {}

  ~CudaCorrelator() override {
    cudaSetDevice(device_);
    ReleaseAll();
    for (Slot& slot : slots_) {
      if (slot.stream != nullptr) cudaStreamDestroy(slot.stream);
    }
  }

  Status Init() {
    DSB_RETURN_IF_ERROR(CudaStatus(cudaSetDevice(device_), "cudaSetDevice"));
    for (Slot& slot : slots_) {
      DSB_RETURN_IF_ERROR(CudaStatus(
          cudaStreamCreateWithFlags(&slot.stream, cudaStreamNonBlocking),
          "cudaStreamCreateWithFlags"));
    }
    return Status::Ok();
  }

  Status SetReference(const RawImage& gt) override {
    gt_ = nullptr;
    DSB_RETURN_IF_ERROR(CheckReference(gt));
    DSB_RETURN_IF_ERROR(CudaStatus(cudaSetDevice(device_), "cudaSetDevice"));
    EffectiveSearch(params_, gt.height(), gt.width(), &max_dy_, &max_dx_);
    geometry_ =
        PlanCoarse(gt.height(), gt.width(), gt.cfa.period(), max_dy_, max_dx_);
    const Sizes sizes = SizesFor(geometry_);
    if (!(sizes == sizes_)) {
      ReleaseAll();
      sizes_ = sizes;
      surface_.assign(sizes_.real_count, 0.0f);
    }
    if (!gt_spectrum_) {
      DSB_ASSIGN_OR_RETURN(
          gt_spectrum_,
          DeviceAlloc<float2>(sizes_.complex_count, "the GT spectrum"));
    }

    gt_balance_ = ChannelBalance(gt);
    const Plane<float> coarse =
        CoarseLuma(gt, gt_balance_, geometry_.stride, geometry_.box);
    Slot& slot = slots_[0];
    DSB_RETURN_IF_ERROR(slot.Resize(std::max(1, slot.capacity), sizes_));
    PrepareCoarse(coarse, geometry_, slot.host_real.get());
    DSB_ASSIGN_OR_RETURN(PlanPair * plans, slot.Plans(1, sizes_));
    DSB_RETURN_IF_ERROR(
        CudaStatus(cudaMemcpyAsync(slot.real.get(), slot.host_real.get(),
                                   sizes_.real_count * sizeof(float),
                                   cudaMemcpyHostToDevice, slot.stream),
                   "cudaMemcpyAsync (GT upload)"));
    DSB_RETURN_IF_ERROR(CufftStatus(
        cufftExecR2C(plans->forward, slot.real.get(),
                     reinterpret_cast<cufftComplex*>(gt_spectrum_.get())),
        "cufftExecR2C (GT)"));
    DSB_RETURN_IF_ERROR(CudaStatus(cudaStreamSynchronize(slot.stream),
                                   "cudaStreamSynchronize (GT spectrum)"));
    gt_ = &gt;
    return Status::Ok();
  }

  using SceneCorrelator::Align;
  std::vector<Result<Alignment>> Align(
      std::span<const RawImage* const> noisy,
      std::span<const std::optional<bool>> same_pixels) override {
    same_pixels_ = same_pixels;  // for Finish, during this call only
    std::vector<Result<Alignment>> results(
        noisy.size(), Result<Alignment>(Status::Internal("not aligned")));
    if (gt_ == nullptr) {
      for (auto& result : results) {
        result = Status::Internal("Align called without a reference");
      }
      return results;
    }
    std::vector<std::size_t> valid;
    for (std::size_t i = 0; i < noisy.size(); ++i) {
      Status status = CheckPair(*gt_, *noisy[i]);
      if (status.ok() &&
          IsSelfPair(*gt_, *noisy[i], SamePixelsOf(same_pixels, i))) {
        results[i] = SelfPairAlignment();  // no transform needed
      } else if (status.ok()) {
        valid.push_back(i);
      } else {
        results[i] = std::move(status);
      }
    }
    if (valid.empty()) return results;

    std::vector<bool> done(noisy.size(), false);
    const Status status = AlignValid(noisy, valid, results, done);
    if (!status.ok()) {
      // Leave the device idle and report the error for every capture that
      // has no answer yet; the caller may redo those on the CPU.
      for (Slot& slot : slots_) {
        cudaStreamSynchronize(slot.stream);
        slot.pending.clear();
      }
      cudaGetLastError();
      for (std::size_t i : valid) {
        if (!done[i]) results[i] = status;
      }
    }
    return results;
  }

  std::string name() const override {
    return "gpu (" + device_name_ + ", cuFFT)";
  }

 private:
  Status AlignValid(std::span<const RawImage* const> noisy,
                    const std::vector<std::size_t>& valid,
                    std::vector<Result<Alignment>>& results,
                    std::vector<bool>& done) {
    DSB_RETURN_IF_ERROR(CudaStatus(cudaSetDevice(device_), "cudaSetDevice"));
    int slot_count = 0, batch = 0;
    DSB_RETURN_IF_ERROR(
        ChooseBatch(static_cast<int>(valid.size()), &slot_count, &batch));
    for (int s = 0; s < 2; ++s) {
      DSB_RETURN_IF_ERROR(slots_[s].Resize(s < slot_count ? batch : 0, sizes_));
    }

    // Sub-batch k runs on slot k % slot_count. The host prepares k while
    // the device works on k - 1, then finishes k - 1 (fine search, gain,
    // loss) while the device works on k.
    int k = 0;
    for (std::size_t begin = 0; begin < valid.size(); begin += batch, ++k) {
      const std::size_t end = std::min(valid.size(), begin + batch);
      Slot& slot = slots_[k % slot_count];
      if (!slot.pending.empty()) {
        DSB_RETURN_IF_ERROR(Finish(slot, noisy, results, done));
      }
      DSB_RETURN_IF_ERROR(
          Enqueue(slot, noisy,
                  std::vector<std::size_t>(valid.begin() + begin,
                                           valid.begin() + end)));
      Slot& other = slots_[(k + 1) % slot_count];
      if (&other != &slot && !other.pending.empty()) {
        DSB_RETURN_IF_ERROR(Finish(other, noisy, results, done));
      }
    }
    for (Slot& slot : slots_) {
      if (!slot.pending.empty()) {
        DSB_RETURN_IF_ERROR(Finish(slot, noisy, results, done));
      }
    }
    return Status::Ok();
  }

  // The largest sub-batch (and whether two streams fit) within the budget:
  // params.gpu_memory_bytes, or half of what is free plus what this
  // correlator already holds.
  Status ChooseBatch(int captures, int* slot_count, int* batch) {
    std::size_t budget = params_.gpu_memory_bytes;
    if (budget == 0) {
      std::size_t free = 0, total = 0;
      DSB_RETURN_IF_ERROR(
          CudaStatus(cudaMemGetInfo(&free, &total), "cudaMemGetInfo"));
      budget = (free + HeldBytes()) / 2;
    }
    const std::size_t fixed = sizes_.complex_count * sizeof(float2);
    const std::size_t per_capture = sizes_.PerCaptureBytes();
    auto fits = [&](int slots, int b) {
      const std::size_t need =
          fixed + slots * (static_cast<std::size_t>(b) * per_capture +
                           EstimateWork(sizes_, b));
      return need <= budget;
    };
    for (int slots = captures > 1 ? 2 : 1; slots >= 1; --slots) {
      const int most = std::min(kMaxSubBatch, (captures + slots - 1) / slots);
      for (int b = most; b >= 1; --b) {
        if (fits(slots, b)) {
          *slot_count = slots;
          *batch = b;
          return Status::Ok();
        }
      }
    }
    const std::size_t need = fixed + per_capture + EstimateWork(sizes_, 1);
    return Status::ResourceExhausted(
        "GPU memory budget of " + Mib(budget) + " is too small for one " +
        std::to_string(sizes_.fft_height) + "x" +
        std::to_string(sizes_.fft_width) + " coarse transform (needs about " +
        Mib(need) + ")");
  }

  std::size_t HeldBytes() const {
    std::size_t held = gt_spectrum_ ? sizes_.complex_count * sizeof(float2) : 0;
    for (const Slot& slot : slots_) held += slot.HeldBytes(sizes_);
    return held;
  }

  // Prepares the captures on the host and queues their coarse correlation
  // on the slot's stream, down to the download of the search windows.
  Status Enqueue(Slot& slot, std::span<const RawImage* const> noisy,
                 std::vector<std::size_t> indices) {
    const int count = static_cast<int>(indices.size());
    for (int i = 0; i < count; ++i) {
      const RawImage& image = *noisy[indices[i]];
      const std::array<float, 3> balance = ChannelBalance(image);
      const Plane<float> coarse =
          CoarseLuma(image, balance, geometry_.stride, geometry_.box);
      PrepareCoarse(coarse, geometry_,
                    slot.host_real.get() + i * sizes_.real_count);
    }
    DSB_ASSIGN_OR_RETURN(PlanPair * plans, slot.Plans(count, sizes_));
    const std::size_t n = static_cast<std::size_t>(count);
    DSB_RETURN_IF_ERROR(
        CudaStatus(cudaMemcpyAsync(slot.real.get(), slot.host_real.get(),
                                   n * sizes_.real_count * sizeof(float),
                                   cudaMemcpyHostToDevice, slot.stream),
                   "cudaMemcpyAsync (upload)"));
    DSB_RETURN_IF_ERROR(CufftStatus(
        cufftExecR2C(plans->forward, slot.real.get(),
                     reinterpret_cast<cufftComplex*>(slot.spectrum.get())),
        "cufftExecR2C"));
    const std::size_t bins = n * sizes_.complex_count;
    CrossPowerKernel<<<GridFor(bins), kBlock, 0, slot.stream>>>(
        gt_spectrum_.get(), slot.spectrum.get(), sizes_.complex_count, bins);
    DSB_RETURN_IF_ERROR(
        CudaStatus(cudaGetLastError(), "CrossPowerKernel launch"));
    DSB_RETURN_IF_ERROR(CufftStatus(
        cufftExecC2R(plans->inverse,
                     reinterpret_cast<cufftComplex*>(slot.spectrum.get()),
                     slot.real.get()),
        "cufftExecC2R"));
    const std::size_t window_total = n * sizes_.window_count;
    ExtractWindowKernel<<<GridFor(window_total), kBlock, 0, slot.stream>>>(
        slot.real.get(), sizes_.fft_height, sizes_.fft_width, sizes_.half_y,
        sizes_.half_x, window_total, slot.window.get());
    DSB_RETURN_IF_ERROR(
        CudaStatus(cudaGetLastError(), "ExtractWindowKernel launch"));
    DSB_RETURN_IF_ERROR(
        CudaStatus(cudaMemcpyAsync(slot.host_window.get(), slot.window.get(),
                                   window_total * sizeof(float),
                                   cudaMemcpyDeviceToHost, slot.stream),
                   "cudaMemcpyAsync (download)"));
    slot.pending = std::move(indices);
    return Status::Ok();
  }

  // Waits for the slot's sub-batch and runs the host part of the search on
  // each surface.
  Status Finish(Slot& slot, std::span<const RawImage* const> noisy,
                std::vector<Result<Alignment>>& results,
                std::vector<bool>& done) {
    DSB_RETURN_IF_ERROR(CudaStatus(cudaStreamSynchronize(slot.stream),
                                   "coarse correlation on the GPU"));
    const int fft_height = sizes_.fft_height, fft_width = sizes_.fft_width;
    const int window_width = 2 * sizes_.half_x + 1;
    for (std::size_t i = 0; i < slot.pending.size(); ++i) {
      // Put the window back at its circular place in a surface laid out as
      // the CPU's; FindCoarsePeaks reads nothing outside it.
      const float* window = slot.host_window.get() + i * sizes_.window_count;
      for (int wy = 0; wy <= 2 * sizes_.half_y; ++wy) {
        const int dy = wy - sizes_.half_y;
        const int y = (dy % fft_height + fft_height) % fft_height;
        float* row = surface_.data() + static_cast<std::size_t>(y) * fft_width;
        for (int wx = 0; wx < window_width; ++wx) {
          const int dx = wx - sizes_.half_x;
          row[(dx % fft_width + fft_width) % fft_width] =
              window[wy * window_width + wx];
        }
      }
      const std::size_t index = slot.pending[i];
      const RawImage& capture = *noisy[index];
      results[index] = FinishAlignment(
          *gt_, gt_balance_, capture, ChannelBalance(capture), geometry_,
          surface_.data(), max_dy_, max_dx_, SamePixelsOf(same_pixels_, index));
      done[index] = true;
    }
    slot.pending.clear();
    return Status::Ok();
  }

  void ReleaseAll() {
    for (Slot& slot : slots_) {
      if (slot.stream != nullptr) cudaStreamSynchronize(slot.stream);
      slot.ReleaseAll();
    }
    gt_spectrum_.reset();
    sizes_ = Sizes{};
  }

  AlignParams params_;
  int device_ = 0;
  std::string device_name_;
  const RawImage* gt_ = nullptr;
  // The caller's answers for the captures of the current Align call.
  std::span<const std::optional<bool>> same_pixels_;
  std::array<float, 3> gt_balance_{};
  CoarseGeometry geometry_;
  Sizes sizes_;
  int max_dy_ = 0, max_dx_ = 0;
  DevicePtr<float2> gt_spectrum_;
  std::array<Slot, 2> slots_;
  std::vector<float> surface_;  // host copy of one surface's window
};

}  // namespace

Result<std::unique_ptr<SceneCorrelator>> MakeCudaCorrelator(
    const AlignParams& params, std::string* why) {
  auto fail = [why](Status status) {
    cudaGetLastError();  // leave no error behind for later calls
    if (why != nullptr) *why = status.message();
    return status;
  };
  int count = 0;
  const Status counted =
      CudaStatus(cudaGetDeviceCount(&count), "cudaGetDeviceCount");
  if (!counted.ok()) {
    return fail(Status::Unsupported("no CUDA device found (" +
                                    counted.message() + ")"));
  }
  if (count == 0) {
    return fail(Status::Unsupported(
        "no CUDA device found (cudaGetDeviceCount: 0 devices)"));
  }
  int device = 0;
  Status status = CudaStatus(cudaGetDevice(&device), "cudaGetDevice");
  if (!status.ok()) return fail(status);
  cudaDeviceProp prop{};
  status = CudaStatus(cudaGetDeviceProperties(&prop, device),
                      "cudaGetDeviceProperties");
  if (!status.ok()) return fail(status);
  const std::string described = "CUDA device " + std::to_string(device) + " (" +
                                prop.name + ", compute capability " +
                                std::to_string(prop.major) + "." +
                                std::to_string(prop.minor) + ")";
  // Creates the primary context, so a broken driver shows here, not later.
  status = CudaStatus(cudaFree(nullptr), "cudaFree(nullptr)");
  if (!status.ok()) {
    return fail(
        Status::Unsupported(described + " is unusable: " + status.message()));
  }
  // Whether this build carries code the device can run.
  cudaFuncAttributes attributes{};
  status = CudaStatus(cudaFuncGetAttributes(&attributes, CrossPowerKernel),
                      "cudaFuncGetAttributes");
  if (!status.ok()) {
    return fail(Status::Unsupported(
        described +
        " cannot run this build's kernels (rebuild with its "
        "architecture in src/align/meson.build): " +
        status.message()));
  }
  auto correlator = std::make_unique<CudaCorrelator>(params, device, prop.name);
  status = correlator->Init();
  if (!status.ok()) return fail(status.WithContext(described));
  return std::unique_ptr<SceneCorrelator>(std::move(correlator));
}

}  // namespace dsb
