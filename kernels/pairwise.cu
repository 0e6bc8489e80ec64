// Materialised pairwise squared distances and the per-row-sum consumer (kernels/pairwise.cuh),
// both on the tile core of kernels/pairwise_tile.cuh. Tests: tests/test_pairwise_gpu.cu.
// Benchmark: bench/bench_pairwise.cu.
#include <algorithm>

#include "kernels/cuda_check.cuh"
#include "kernels/cuda_resources.cuh"
#include "kernels/pairwise.cuh"
#include "kernels/pairwise_tile.cuh"

namespace latentkit::cuda {
namespace {
namespace pt = pairwise_tile;

template <int DC>
__global__ void __launch_bounds__(pt::kThreads)
    sqdist_kernel(const float* __restrict__ X, int n, const float* __restrict__ Y, int m, int d,
                  float* __restrict__ out) {
  __shared__ pt::Smem<DC> sm;
  const int i0 = blockIdx.y * pt::kTileM, j0 = blockIdx.x * pt::kTileN;
  float acc[pt::kRegM][pt::kRegN];
  pt::tile_sqdist<DC>(X, n, Y, m, d, i0, j0, sm, acc);
#pragma unroll
  for (int a = 0; a < pt::kRegM; ++a) {
    const int i = i0 + threadIdx.y + pt::kThreadsY * a;
#pragma unroll
    for (int b = 0; b < pt::kRegN; ++b) {
      const int j = j0 + threadIdx.x + pt::kThreadsX * b;
      if (i < n && j < m) out[static_cast<size_t>(i) * m + j] = acc[a][b];
    }
  }
}

// One block row of tiles per blockIdx.y; the block walks all column tiles, so each row's sum is
// accumulated in a fixed order (thread-local over its columns, then a fixed shared-memory tree).
template <int DC>
__global__ void __launch_bounds__(pt::kThreads)
    row_sums_kernel(const float* __restrict__ X, int n, const float* __restrict__ Y, int m, int d,
                    double* __restrict__ row_sum) {
  __shared__ pt::Smem<DC> sm;
  __shared__ double partial[pt::kTileM][pt::kThreadsX];
  const int i0 = blockIdx.x * pt::kTileM;
  double local[pt::kRegM] = {};
  const auto add_tile = [&](int j0, const float(&acc)[pt::kRegM][pt::kRegN]) {
#pragma unroll
    for (int a = 0; a < pt::kRegM; ++a)
#pragma unroll
      for (int b = 0; b < pt::kRegN; ++b)
        if (j0 + threadIdx.x + pt::kThreadsX * b < m) local[a] += acc[a][b];
  };
  pt::sweep_row_tile<DC>(X, n, Y, m, d, i0, sm, add_tile);
#pragma unroll
  for (int a = 0; a < pt::kRegM; ++a)
    partial[threadIdx.y + pt::kThreadsY * a][threadIdx.x] = local[a];
  __syncthreads();
  const int t = threadIdx.y * pt::kThreadsX + threadIdx.x;
  if (t < pt::kTileM && i0 + t < n) {
    double s = 0.0;
    for (int x = 0; x < pt::kThreadsX; ++x) s += partial[t][x];
    row_sum[i0 + t] = s;
  }
}

void check_shapes(const char* what, const float* X, int n, const float* Y, int m, int d,
                  const void* out) {
  LK_CHECK(n >= 0 && m >= 0 && d >= 1,
           what << ": need n, m >= 0 and d >= 1, got n=" << n << " m=" << m << " d=" << d);
  LK_CHECK((n == 0 || X) && (m == 0 || Y) && (n == 0 || out), what << ": null pointer");
}
}  // namespace

void pairwise_sqdist(const float* X, int n, const float* Y, int m, int d, float* out,
                     cudaStream_t stream) {
  check_shapes("pairwise_sqdist", X, n, Y, m, d, out);
  if (n == 0 || m == 0) return;
  const dim3 block(pt::kThreadsX, pt::kThreadsY);
  const dim3 grid(grid_for(m, pt::kTileN), grid_for(n, pt::kTileM));
  LK_CHECK(grid.y <= 65535u, "pairwise_sqdist: n=" << n << " exceeds the grid's y limit");
  pt::with_dim_chunk(d, [&](auto dc) {
    sqdist_kernel<decltype(dc)::value><<<grid, block, 0, stream>>>(X, n, Y, m, d, out);
  });
  LK_LAUNCH_CHECK();
}

void pairwise_row_sums(const float* X, int n, const float* Y, int m, int d, double* row_sum,
                       cudaStream_t stream) {
  check_shapes("pairwise_row_sums", X, n, Y, m, d, row_sum);
  if (n == 0) return;
  if (m == 0) {
    LK_CUDA_CHECK(cudaMemsetAsync(row_sum, 0, sizeof(double) * n, stream));
    return;
  }
  const dim3 block(pt::kThreadsX, pt::kThreadsY);
  const unsigned grid = grid_for(n, pt::kTileM);
  pt::with_dim_chunk(d, [&](auto dc) {
    row_sums_kernel<decltype(dc)::value><<<grid, block, 0, stream>>>(X, n, Y, m, d, row_sum);
  });
  LK_LAUNCH_CHECK();
}

}  // namespace latentkit::cuda
