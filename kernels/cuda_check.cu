// Definitions behind kernels/cuda_check.cuh and the allocation half of kernels/cuda_resources.cuh:
// the throw_* helpers that LK_CUDA_CHECK / LK_CUBLAS_CHECK / LK_CURAND_CHECK call, and
// device_malloc / device_free used by DeviceBuffer and the CUDA backend's arrays. Every message
// names the library's own error text, the file:line and expression, and for out-of-memory errors
// what the user can do about it. Exercised by every GPU test (tests/test_*_gpu.cu).
#include <sstream>
#include <string>

#include "kernels/cuda_check.cuh"
#include "kernels/cuda_resources.cuh"

namespace latentkit {
namespace {
// What to do when the device runs out of memory (shared by every out-of-memory message).
constexpr const char* kOutOfMemoryAdvice =
    "out of device memory: use a smaller --batch/--n or free the GPU";
}  // namespace
}  // namespace latentkit

namespace latentkit::detail {
namespace {

const char* curand_status_name(curandStatus_t st) {
  switch (st) {
    case CURAND_STATUS_SUCCESS: return "CURAND_STATUS_SUCCESS";
    case CURAND_STATUS_VERSION_MISMATCH: return "CURAND_STATUS_VERSION_MISMATCH";
    case CURAND_STATUS_NOT_INITIALIZED: return "CURAND_STATUS_NOT_INITIALIZED";
    case CURAND_STATUS_ALLOCATION_FAILED: return "CURAND_STATUS_ALLOCATION_FAILED";
    case CURAND_STATUS_TYPE_ERROR: return "CURAND_STATUS_TYPE_ERROR";
    case CURAND_STATUS_OUT_OF_RANGE: return "CURAND_STATUS_OUT_OF_RANGE";
    case CURAND_STATUS_LENGTH_NOT_MULTIPLE: return "CURAND_STATUS_LENGTH_NOT_MULTIPLE";
    case CURAND_STATUS_DOUBLE_PRECISION_REQUIRED: return "CURAND_STATUS_DOUBLE_PRECISION_REQUIRED";
    case CURAND_STATUS_LAUNCH_FAILURE: return "CURAND_STATUS_LAUNCH_FAILURE";
    case CURAND_STATUS_PREEXISTING_FAILURE: return "CURAND_STATUS_PREEXISTING_FAILURE";
    case CURAND_STATUS_INITIALIZATION_FAILED: return "CURAND_STATUS_INITIALIZATION_FAILED";
    case CURAND_STATUS_ARCH_MISMATCH: return "CURAND_STATUS_ARCH_MISMATCH";
    case CURAND_STATUS_INTERNAL_ERROR: return "CURAND_STATUS_INTERNAL_ERROR";
    default: return "unknown curandStatus_t";
  }
}

[[noreturn]] void throw_with_location(std::ostringstream& os, const char* file, int line,
                                      const char* expr) {
  os << " [" << file << ":" << line << ": `" << expr << "`]";
  throw Error(os.str());
}

}  // namespace

void throw_cuda(const char* file, int line, const char* expr, cudaError_t err) {
  std::ostringstream os;
  os << "CUDA error: " << cudaGetErrorString(err) << " (" << cudaGetErrorName(err) << ")";
  if (err == cudaErrorMemoryAllocation) os << ": " << kOutOfMemoryAdvice;
  throw_with_location(os, file, line, expr);
}

void throw_cublas(const char* file, int line, const char* expr, cublasStatus_t st) {
  std::ostringstream os;
  os << "cuBLAS error: " << cublasGetStatusString(st) << " (" << cublasGetStatusName(st) << ")";
  if (st == CUBLAS_STATUS_ALLOC_FAILED) os << ": " << kOutOfMemoryAdvice;
  throw_with_location(os, file, line, expr);
}

void throw_curand(const char* file, int line, const char* expr, curandStatus_t st) {
  std::ostringstream os;
  os << "cuRAND error: " << curand_status_name(st) << " (" << static_cast<int>(st) << ")";
  if (st == CURAND_STATUS_ALLOCATION_FAILED) os << ": " << kOutOfMemoryAdvice;
  throw_with_location(os, file, line, expr);
}

}  // namespace latentkit::detail

namespace latentkit::cuda {

void* device_malloc(size_t bytes) {
  if (bytes == 0) return nullptr;
  void* p = nullptr;
  const cudaError_t err = cudaMalloc(&p, bytes);
  if (err == cudaSuccess) return p;
  // cudaMalloc failures are not sticky, but they are left in the last-error slot, where the next
  // LK_LAUNCH_CHECK would find them and blame an innocent kernel: clear it.
  (void)cudaGetLastError();
  size_t free_b = 0, total_b = 0;
  const bool have_info = cudaMemGetInfo(&free_b, &total_b) == cudaSuccess;
  (void)cudaGetLastError();
  constexpr double kMiB = 1024.0 * 1024.0;
  std::ostringstream os;
  os << "cannot allocate " << bytes << " bytes (" << bytes / kMiB << " MiB) of device memory: "
     << cudaGetErrorString(err) << " (" << cudaGetErrorName(err) << ")";
  if (have_info) {
    os << "; " << free_b / kMiB << " MiB free of " << total_b / kMiB << " MiB";
  }
  if (err == cudaErrorMemoryAllocation) {
    os << ": " << kOutOfMemoryAdvice;
  }
  throw Error(os.str());
}

void device_free(void* p) noexcept {
  // Errors are ignored: a destructor cannot throw, and a failing cudaFree here means the context
  // is already broken, which the next checked call reports.
  if (p) (void)cudaFree(p);
}

}  // namespace latentkit::cuda
