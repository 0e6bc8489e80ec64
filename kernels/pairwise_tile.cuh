// The tiled pairwise squared-distance core shared by the consumer kernels kernels/pairwise.cu and
// mmd.cu (kmeans.cu, knn.cu and tsne.cu have distance loops of their own): a block of 16 x 16
// threads computes a 64 x 64 tile of ||x_i - y_j||^2, each thread a 4 x 4 register tile (rows
// ty + 16a, columns tx + 16b), from X and Y tiles staged in shared memory DC dimensions at a time.
// The consumer reads the registers in its epilogue, so the N x M matrix is never stored.
//
// Distances are sums of squared differences (one subtract and one FMA per dimension, float, in
// ascending dimension order), not ||x||^2 + ||y||^2 - 2 x.y: exact 0 for identical rows, never
// negative, and no cancellation when the points are far from the origin. For D = 784 this costs
// 3 flops per pair-dimension instead of 2; the small-D cases (D <= 32) this library mostly sees
// are bound by the consumers' exp / compare work anyway. A norm-expansion (GEMM) path for large D
// can be added behind the same consumers later if the benchmark shows it is needed.
// Padding rows/dimensions beyond n, m, d are loaded as 0: padded pairs hold garbage that every
// consumer must skip (i >= n or j >= m); padded dimensions add exactly 0.
#pragma once
#include <cuda_runtime.h>

#include <type_traits>

namespace latentkit::cuda::pairwise_tile {

constexpr int kThreadsX = 16;  // 16 x 16 = 256 threads: 8 warps, full occupancy on sm_90
constexpr int kThreadsY = 16;
constexpr int kThreads = kThreadsX * kThreadsY;
constexpr int kRegM = 4;  // 4 x 4 distances per thread: 16 accumulators, ample registers left
constexpr int kRegN = 4;
constexpr int kTileM = kThreadsY * kRegM;  // 64 rows of X per block
constexpr int kTileN = kThreadsX * kRegN;  // 64 rows of Y per block
constexpr int kPad = 1;  // shared rows of 65 floats: transposed stores conflict-free

// Dimensions staged per pass: 4 for D <= 4 (D = 2, 3 waste at most 2 of 4 slots), 8 for D <= 8,
// else 16 (two 16 x 65 float tiles = 8.3 KB of shared memory per block).
inline int dim_chunk_for(int d) { return d <= 4 ? 4 : (d <= 8 ? 8 : 16); }

// Calls launch(std::integral_constant<int, DC>{}) with DC = dim_chunk_for(d): the one place that
// maps a dimension count to a kernel instantiation (launch: a host lambda that launches
// kernel<decltype(dc)::value>).
template <class Launch>
void with_dim_chunk(int d, Launch&& launch) {
  switch (dim_chunk_for(d)) {
    case 4:
      launch(std::integral_constant<int, 4>{});
      break;
    case 8:
      launch(std::integral_constant<int, 8>{});
      break;
    default:
      launch(std::integral_constant<int, 16>{});
      break;
  }
}

template <int DC>
struct Smem {
  float xs[DC][kTileM + kPad];
  float ys[DC][kTileN + kPad];
};

// acc[a][b] = ||X[i0 + ty + 16a] - Y[j0 + tx + 16b]||^2 (garbage for rows outside n / m).
// Every thread of the block must call it (it synchronises).
template <int DC>
__device__ __forceinline__ void tile_sqdist(const float* __restrict__ X, int n,
                                            const float* __restrict__ Y, int m, int d, int i0,
                                            int j0, Smem<DC>& sm, float (&acc)[kRegM][kRegN]) {
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int t = ty * kThreadsX + tx;
#pragma unroll
  for (int a = 0; a < kRegM; ++a)
#pragma unroll
    for (int b = 0; b < kRegN; ++b) acc[a][b] = 0.f;
  for (int c0 = 0; c0 < d; c0 += DC) {
    // Consecutive threads read consecutive dimensions of one row (coalesced for large d).
    for (int e = t; e < kTileM * DC; e += kThreads) {
      const int r = e / DC, c = e % DC;
      const int i = i0 + r, cc = c0 + c;
      sm.xs[c][r] = (i < n && cc < d) ? X[static_cast<size_t>(i) * d + cc] : 0.f;
    }
    for (int e = t; e < kTileN * DC; e += kThreads) {
      const int r = e / DC, c = e % DC;
      const int j = j0 + r, cc = c0 + c;
      sm.ys[c][r] = (j < m && cc < d) ? Y[static_cast<size_t>(j) * d + cc] : 0.f;
    }
    __syncthreads();
#pragma unroll
    for (int c = 0; c < DC; ++c) {
      float xv[kRegM], yv[kRegN];
#pragma unroll
      for (int a = 0; a < kRegM; ++a) xv[a] = sm.xs[c][ty + kThreadsY * a];
#pragma unroll
      for (int b = 0; b < kRegN; ++b) yv[b] = sm.ys[c][tx + kThreadsX * b];
#pragma unroll
      for (int a = 0; a < kRegM; ++a)
#pragma unroll
        for (int b = 0; b < kRegN; ++b) {
          const float diff = xv[a] - yv[b];
          acc[a][b] = fmaf(diff, diff, acc[a][b]);
        }
    }
    __syncthreads();
  }
}

// A block's sweep along one 64-row tile of X (rows i0..i0+63) over every 64-column tile of Y in
// order: epilogue(j0, acc) with each tile's distances (as tile_sqdist). Every thread of the block
// must call it; the epilogue may synchronise (it runs block-uniformly).
template <int DC, class Epilogue>
__device__ __forceinline__ void sweep_row_tile(const float* __restrict__ X, int n,
                                               const float* __restrict__ Y, int m, int d, int i0,
                                               Smem<DC>& sm, Epilogue&& epilogue) {
  for (int j0 = 0; j0 < m; j0 += kTileN) {
    float acc[kRegM][kRegN];
    tile_sqdist<DC>(X, n, Y, m, d, i0, j0, sm, acc);
    epilogue(j0, acc);
  }
}

}  // namespace latentkit::cuda::pairwise_tile
