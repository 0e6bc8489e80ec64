// Fill kernel behind Backend::fill on CUDA: one grid-stride pass writing `value` everywhere.
// Launcher declared in kernels/fill.cuh.
#include <algorithm>

#include "kernels/cuda_check.cuh"
#include "kernels/fill.cuh"

namespace latentkit::cuda {
namespace {

__global__ void fill_kernel(float* __restrict__ dst, float value, size_t n) {
  const size_t stride = static_cast<size_t>(gridDim.x) * blockDim.x;
  for (size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    dst[i] = value;
  }
}

}  // namespace

void fill(float* dst, float value, size_t n, cudaStream_t stream) {
  if (n == 0) return;
  LK_CHECK(dst != nullptr, "fill: dst is null for " << n << " elements");
  fill_kernel<<<grid_stride_blocks(n), kGridStrideThreads, 0, stream>>>(dst, value, n);
  LK_LAUNCH_CHECK();
}

}  // namespace latentkit::cuda
