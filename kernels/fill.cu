// Fill kernel behind Backend::fill on CUDA: one grid-stride pass writing `value` everywhere.
// Launcher declared in kernels/fill.cuh.
#include <algorithm>

#include "kernels/cuda_check.cuh"
#include "kernels/fill.cuh"

namespace latentkit::cuda {
namespace {

// 256 threads per block: a multiple of the warp size that gives full occupancy on sm_70+.
constexpr int kFillThreads = 256;
// Cap on the grid: 8192 blocks x 256 threads = 2M threads, more than any current GPU runs at
// once (H100: 132 SMs x 2048 threads); the grid-stride loop covers the rest.
constexpr unsigned int kFillMaxBlocks = 8192;

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
  const unsigned int blocks = std::min(grid_for(static_cast<long long>(n), kFillThreads),
                                       kFillMaxBlocks);
  fill_kernel<<<blocks, kFillThreads, 0, stream>>>(dst, value, n);
  LK_LAUNCH_CHECK();
}

}  // namespace latentkit::cuda
