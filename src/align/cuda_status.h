// The CUDA adapter: the one place where CUDA runtime and cuFFT return codes
// become dsb::Status, keeping the library's own message (cudaGetErrorName /
// cudaGetErrorString; a name table for cufftResult, which has no string
// function) and the call that failed.
//
// Codes: out of device memory (cudaErrorMemoryAllocation,
// CUFFT_ALLOC_FAILED) is kResourceExhausted, so callers can fall back to
// the CPU for that scene; a missing or unusable device or driver is
// kUnsupported; anything else is kInternal.
//
// Only CUDA sources (align/cuda_correlator.cu) include this header; the rest
// of the project sees CUDA only through align/correlator.h.
//
// Thread safety: pure functions.
#pragma once

#include <cuda_runtime_api.h>
#include <cufft.h>

#include <string>
#include <string_view>

#include "common/status.h"

namespace dsb {

// Ok for cudaSuccess; else "<call>: <message> (<error name>)".
Status CudaStatus(cudaError_t error, std::string_view call);

// Ok for CUFFT_SUCCESS; else "<call>: <result name>".
Status CufftStatus(cufftResult result, std::string_view call);

// "CUFFT_ALLOC_FAILED" etc.; "cufftResult <n>" for codes this build does
// not know.
std::string CufftResultName(cufftResult result);

}  // namespace dsb
