#include "align/cuda_status.h"

#include <string>

namespace dsb {

namespace {

Status::Code CudaCode(cudaError_t error) {
  switch (error) {
    case cudaErrorMemoryAllocation:
      return Status::Code::kResourceExhausted;
    case cudaErrorNoDevice:
    case cudaErrorInsufficientDriver:
    case cudaErrorStubLibrary:
    case cudaErrorDevicesUnavailable:
    case cudaErrorNoKernelImageForDevice:
    case cudaErrorInvalidDeviceFunction:
    case cudaErrorUnsupportedPtxVersion:
    case cudaErrorSystemDriverMismatch:
    case cudaErrorCompatNotSupportedOnDevice:
    case cudaErrorInitializationError:
      return Status::Code::kUnsupported;
    default:
      return Status::Code::kInternal;
  }
}

Status::Code CufftCode(cufftResult result) {
  switch (result) {
    case CUFFT_ALLOC_FAILED:
      return Status::Code::kResourceExhausted;
    case CUFFT_INVALID_DEVICE:
    case CUFFT_NOT_SUPPORTED:
    case CUFFT_MISSING_DEPENDENCY:
      return Status::Code::kUnsupported;
    default:
      return Status::Code::kInternal;
  }
}

Status Make(Status::Code code, const std::string& message) {
  switch (code) {
    case Status::Code::kResourceExhausted:
      return Status::ResourceExhausted(message);
    case Status::Code::kUnsupported:
      return Status::Unsupported(message);
    default:
      return Status::Internal(message);
  }
}

}  // namespace

Status CudaStatus(cudaError_t error, std::string_view call) {
  if (error == cudaSuccess) return Status::Ok();
  return Make(CudaCode(error), std::string(call) + ": " +
                                   cudaGetErrorString(error) + " (" +
                                   cudaGetErrorName(error) + ")");
}

Status CufftStatus(cufftResult result, std::string_view call) {
  if (result == CUFFT_SUCCESS) return Status::Ok();
  return Make(CufftCode(result),
              std::string(call) + ": " + CufftResultName(result));
}

std::string CufftResultName(cufftResult result) {
  switch (result) {
    case CUFFT_SUCCESS:
      return "CUFFT_SUCCESS";
    case CUFFT_INVALID_PLAN:
      return "CUFFT_INVALID_PLAN";
    case CUFFT_ALLOC_FAILED:
      return "CUFFT_ALLOC_FAILED";
    case CUFFT_INVALID_TYPE:
      return "CUFFT_INVALID_TYPE";
    case CUFFT_INVALID_VALUE:
      return "CUFFT_INVALID_VALUE";
    case CUFFT_INTERNAL_ERROR:
      return "CUFFT_INTERNAL_ERROR";
    case CUFFT_EXEC_FAILED:
      return "CUFFT_EXEC_FAILED";
    case CUFFT_SETUP_FAILED:
      return "CUFFT_SETUP_FAILED";
    case CUFFT_INVALID_SIZE:
      return "CUFFT_INVALID_SIZE";
    case CUFFT_UNALIGNED_DATA:
      return "CUFFT_UNALIGNED_DATA";
    case CUFFT_INVALID_DEVICE:
      return "CUFFT_INVALID_DEVICE";
    case CUFFT_NO_WORKSPACE:
      return "CUFFT_NO_WORKSPACE";
    case CUFFT_NOT_IMPLEMENTED:
      return "CUFFT_NOT_IMPLEMENTED";
    case CUFFT_NOT_SUPPORTED:
      return "CUFFT_NOT_SUPPORTED";
    case CUFFT_MISSING_DEPENDENCY:
      return "CUFFT_MISSING_DEPENDENCY";
    case CUFFT_NVRTC_FAILURE:
      return "CUFFT_NVRTC_FAILURE";
    case CUFFT_NVJITLINK_FAILURE:
      return "CUFFT_NVJITLINK_FAILURE";
    case CUFFT_NVSHMEM_FAILURE:
      return "CUFFT_NVSHMEM_FAILURE";
  }
  return "cufftResult " + std::to_string(static_cast<int>(result));
}

}  // namespace dsb
