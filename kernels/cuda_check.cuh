// CUDA error checking for kernels and launchers: every CUDA, cuBLAS and cuRAND call goes through
// one of these macros, which throw latentkit::Error with file, line, the expression and the
// library's own message. LK_LAUNCH_CHECK() follows every kernel launch.
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <curand.h>

#include "latentkit/core/check.h"

namespace latentkit::detail {
[[noreturn]] void throw_cuda(const char* file, int line, const char* expr, cudaError_t err);
[[noreturn]] void throw_cublas(const char* file, int line, const char* expr, cublasStatus_t st);
[[noreturn]] void throw_curand(const char* file, int line, const char* expr, curandStatus_t st);
}  // namespace latentkit::detail

#define LK_CUDA_CHECK(expr)                                                        \
  do {                                                                             \
    cudaError_t lk_err_ = (expr);                                                  \
    if (lk_err_ != cudaSuccess)                                                    \
      ::latentkit::detail::throw_cuda(__FILE__, __LINE__, #expr, lk_err_);         \
  } while (0)

#define LK_CUBLAS_CHECK(expr)                                                      \
  do {                                                                             \
    cublasStatus_t lk_st_ = (expr);                                                \
    if (lk_st_ != CUBLAS_STATUS_SUCCESS)                                           \
      ::latentkit::detail::throw_cublas(__FILE__, __LINE__, #expr, lk_st_);        \
  } while (0)

#define LK_CURAND_CHECK(expr)                                                      \
  do {                                                                             \
    curandStatus_t lk_st_ = (expr);                                                \
    if (lk_st_ != CURAND_STATUS_SUCCESS)                                           \
      ::latentkit::detail::throw_curand(__FILE__, __LINE__, #expr, lk_st_);        \
  } while (0)

// After every kernel launch: catches bad launch configurations immediately.
#define LK_LAUNCH_CHECK() LK_CUDA_CHECK(cudaGetLastError())

namespace latentkit {
// Blocks needed to cover n items with `threads` per block.
inline unsigned int grid_for(long long n, int threads) {
  return static_cast<unsigned int>((n + threads - 1) / threads);
}

// Elementwise kernels with grid-stride loops: 256 threads per block (a multiple of the warp size
// with full occupancy on sm_70+), at most 8192 blocks (8192 x 256 threads exceeds what any current
// GPU keeps resident, H100: 132 SMs x 2048, so larger grids only add block scheduling overhead).
constexpr int kGridStrideThreads = 256;
constexpr unsigned int kMaxGridStrideBlocks = 8192;
inline unsigned int grid_stride_blocks(size_t count) {
  const unsigned int blocks = grid_for(static_cast<long long>(count), kGridStrideThreads);
  return blocks < kMaxGridStrideBlocks ? blocks : kMaxGridStrideBlocks;
}
}  // namespace latentkit
