// MMD kernels (declared in kernels/mmd.cuh) on the pairwise tile core (kernels/pairwise_tile.cuh).
//
// mmd_kernel_sum / mmd_kernel_sums_xy: one launch for a batch of sums (blockIdx.z); blocks own a
//   64-row tile of A and a contiguous range of 64-column tiles of B;
//   per pair the kernel value in float, per thread and tile a float sum of its 16 pairs added to a
//   double, then a fixed shared-memory tree per block; the host sums the block partials in order
//   (reproducible). A is B: only tiles on or above the diagonal, the off-diagonal ones doubled.
// mmd_weighted_sums: R = F V, a block per (64-row tile of A, 64-column batch of V): each B tile's
//   kernel values go to shared memory once and are used for all 64 columns (the permutation test
//   evaluates 62 permutations per pass over the kernel tiles, the gradient all coordinates).
//   Per tile a float product over its 64 rows, added to double accumulators.
// Kernel values: a halving RBF list is one expf and repeated squaring (each squaring doubles the
// relative error: ~2^(count-1) x expf's 2 ulp for the narrowest bandwidth, ~1e-5 for 7
// bandwidths, harmless for a sum dominated by the wide ones); other lists one expf each.
// Tests: tests/test_mmd_gpu.cu. Benchmark: bench/bench_pairwise.cu.
#include <algorithm>
#include <vector>

#include "kernels/cuda_check.cuh"
#include "kernels/cuda_resources.cuh"
#include "kernels/mmd.cuh"
#include "kernels/pairwise_tile.cuh"

namespace latentkit::cuda {
namespace {
namespace pt = pairwise_tile;

__device__ __forceinline__ float kernel_value(const MmdKernelParams& kp, float d2) {
  float s = 0.f;
  if (kp.imq) {
#pragma unroll
    for (int b = 0; b < kMmdDeviceMaxParams; ++b)
      if (b < kp.count) s += kp.param[b] / (kp.param[b] + d2);
  } else if (kp.halving) {
    float e = expf(d2 * kp.neg_inv_2h0);
#pragma unroll
    for (int b = 0; b < kMmdDeviceMaxParams; ++b)
      if (b < kp.count) {
        s += e;
        e *= e;
      }
  } else {
#pragma unroll
    for (int b = 0; b < kMmdDeviceMaxParams; ++b)
      if (b < kp.count) s += expf(d2 * kp.neg_inv_2h[b]);
  }
  return s;
}

// g(d2) = -dk/d(d2): RBF sum_b exp(-d2/(2h_b)) / (2 h_b); IMQ sum_b C_b / (C_b + d2)^2.
__device__ __forceinline__ float kernel_slope(const MmdKernelParams& kp, float d2) {
  float s = 0.f;
#pragma unroll
  for (int b = 0; b < kMmdDeviceMaxParams; ++b) {
    if (b < kp.count) {
      if (kp.imq) {
        // C / (C + d2)^2 as C * r * r with r = 1 / (C + d2) correctly rounded (__frcp_rn): 3
        // roundings instead of 2, and no division slow path (which spilled registers here).
        const float r = __frcp_rn(kp.param[b] + d2);
        s += kp.param[b] * r * r;
      } else {
        s += expf(d2 * kp.neg_inv_2h[b]) * -kp.neg_inv_2h[b];
      }
    }
  }
  return s;
}

// One kernel sum of a batch (blockIdx.z selects it): sum_{i,j} k(A_i, B_j).
struct SumJob {
  const float* A;
  const float* B;
  int na, nb;
  int row_tiles, chunks, tiles_per_block;
  int symmetric;  // A is B: tiles on or above the diagonal only, off-diagonal ones doubled
};
constexpr int kMaxSumJobs = 3;  // MMD^2 needs S_xx, S_yy, S_xy
struct SumJobs {
  SumJob job[kMaxSumJobs];
};

template <int DC>
__global__ void __launch_bounds__(pt::kThreads)
    kernel_sums_kernel(SumJobs jobs, int d, MmdKernelParams kp, double* __restrict__ partials) {
  __shared__ pt::Smem<DC> sm;
  __shared__ double red[pt::kThreads];
  // Constant indices (a dynamic one would copy the jobs to local memory).
  const SumJob jb = blockIdx.z == 0 ? jobs.job[0] : (blockIdx.z == 1 ? jobs.job[1] : jobs.job[2]);
  const size_t out =
      (static_cast<size_t>(blockIdx.z) * gridDim.y + blockIdx.y) * gridDim.x + blockIdx.x;
  const int t = threadIdx.y * pt::kThreadsX + threadIdx.x;
  // The grid covers the largest job: blocks outside this job's range add 0 (block-uniform exit).
  if (static_cast<int>(blockIdx.x) >= jb.row_tiles || static_cast<int>(blockIdx.y) >= jb.chunks) {
    if (t == 0) partials[out] = 0.0;
    return;
  }
  const int it = blockIdx.x;
  const int i0 = it * pt::kTileM;
  const int n_col_tiles = (jb.nb + pt::kTileN - 1) / pt::kTileN;
  const int jt_begin = blockIdx.y * jb.tiles_per_block;
  const int jt_end = min(n_col_tiles, jt_begin + jb.tiles_per_block);
  double local = 0.0;
  for (int jt = jt_begin; jt < jt_end; ++jt) {
    if (jb.symmetric && jt < it) continue;  // block-uniform: the mirror tile counts it twice
    const int j0 = jt * pt::kTileN;
    float acc[pt::kRegM][pt::kRegN];
    pt::tile_sqdist<DC>(jb.A, jb.na, jb.B, jb.nb, d, i0, j0, sm, acc);
    float tile_sum = 0.f;
#pragma unroll
    for (int a = 0; a < pt::kRegM; ++a) {
      const bool row_ok = i0 + threadIdx.y + pt::kThreadsY * a < jb.na;
#pragma unroll
      for (int b = 0; b < pt::kRegN; ++b)
        if (row_ok && j0 + threadIdx.x + pt::kThreadsX * b < jb.nb)
          tile_sum += kernel_value(kp, acc[a][b]);
    }
    local += (jb.symmetric && jt > it) ? 2.0 * tile_sum : static_cast<double>(tile_sum);
  }
  red[t] = local;
  __syncthreads();
  for (int half = pt::kThreads / 2; half > 0; half /= 2) {
    if (t < half) red[t] += red[t + half];
    __syncthreads();
  }
  if (t == 0) partials[out] = red[0];
}

constexpr int kVCols = 64;  // columns of V per block (4 per thread)

template <int DC, bool kSlope>
__global__ void __launch_bounds__(pt::kThreads)
    weighted_sums_kernel(const float* __restrict__ A, int na, const float* __restrict__ B, int nb,
                         int d, MmdKernelParams kp, const float* __restrict__ V, int ncols,
                         double* __restrict__ R) {
  __shared__ pt::Smem<DC> sm;
  __shared__ float ks[pt::kTileM][pt::kTileN + 1];  // +1: rows read by 2 ty per warp, no conflict
  __shared__ float vs[pt::kTileN][kVCols];
  const int i0 = blockIdx.x * pt::kTileM;
  const int col0 = blockIdx.y * kVCols;
  const int tx = threadIdx.x, ty = threadIdx.y, t = ty * pt::kThreadsX + tx;
  double racc[pt::kRegM][pt::kRegN] = {};
  const auto weigh_tile = [&](int j0, const float(&acc)[pt::kRegM][pt::kRegN]) {
#pragma unroll
    for (int a = 0; a < pt::kRegM; ++a)
#pragma unroll
      for (int b = 0; b < pt::kRegN; ++b) {
        const int jj = tx + pt::kThreadsX * b;
        ks[ty + pt::kThreadsY * a][jj] =
            j0 + jj < nb ? (kSlope ? kernel_slope(kp, acc[a][b]) : kernel_value(kp, acc[a][b]))
                         : 0.f;
      }
    for (int e = t; e < pt::kTileN * kVCols; e += pt::kThreads) {
      const int r = e / kVCols, c = e % kVCols;
      vs[r][c] = (j0 + r < nb && col0 + c < ncols)
                     ? V[static_cast<size_t>(j0 + r) * ncols + col0 + c]
                     : 0.f;
    }
    __syncthreads();
    float part[pt::kRegM][pt::kRegN] = {};
    for (int jj = 0; jj < pt::kTileN; ++jj) {
      float kv[pt::kRegM], vv[pt::kRegN];
#pragma unroll
      for (int a = 0; a < pt::kRegM; ++a) kv[a] = ks[ty + pt::kThreadsY * a][jj];
#pragma unroll
      for (int b = 0; b < pt::kRegN; ++b) vv[b] = vs[jj][tx + pt::kThreadsX * b];
#pragma unroll
      for (int a = 0; a < pt::kRegM; ++a)
#pragma unroll
        for (int b = 0; b < pt::kRegN; ++b) part[a][b] = fmaf(kv[a], vv[b], part[a][b]);
    }
#pragma unroll
    for (int a = 0; a < pt::kRegM; ++a)
#pragma unroll
      for (int b = 0; b < pt::kRegN; ++b) racc[a][b] += part[a][b];
    __syncthreads();
  };
  pt::sweep_row_tile<DC>(A, na, B, nb, d, i0, sm, weigh_tile);
#pragma unroll
  for (int a = 0; a < pt::kRegM; ++a) {
    const int i = i0 + ty + pt::kThreadsY * a;
#pragma unroll
    for (int b = 0; b < pt::kRegN; ++b) {
      const int c = col0 + tx + pt::kThreadsX * b;
      if (i < na && c < ncols) R[static_cast<size_t>(i) * ncols + c] = racc[a][b];
    }
  }
}

void check_params(const MmdKernelParams& kp) {
  LK_CHECK(kp.count >= 1 && kp.count <= kMmdDeviceMaxParams,
           "mmd: need 1.." << kMmdDeviceMaxParams << " kernel params, got " << kp.count);
}

// Blocks in flight wanted for a kernel-sum launch: ~16 per SM on a 132-SM H100 (enough to hide
// latency; more only adds partials).
constexpr int kTargetBlocks = 2048;

}  // namespace

namespace {
// Plans each job's blocks, launches them all at once, and sums each job's block partials in a
// fixed order on the host: one launch, one copy and one synchronisation for the whole batch.
void run_sum_jobs(const SumJob* in, int count, int d, const MmdKernelParams& kp, double* totals,
                  cudaStream_t stream) {
  SumJobs jobs{};
  int grid_x = 1, grid_y = 1;
  for (int q = 0; q < count; ++q) {
    SumJob jb = in[q];
    jb.row_tiles = static_cast<int>(grid_for(jb.na, pt::kTileM));
    const int col_tiles = static_cast<int>(grid_for(jb.nb, pt::kTileN));
    const int chunks = std::min(col_tiles, std::max(1, kTargetBlocks / jb.row_tiles));
    jb.tiles_per_block = (col_tiles + chunks - 1) / chunks;
    jb.chunks = (col_tiles + jb.tiles_per_block - 1) / jb.tiles_per_block;
    grid_x = std::max(grid_x, jb.row_tiles);
    grid_y = std::max(grid_y, jb.chunks);
    jobs.job[q] = jb;
  }
  LK_CHECK(grid_y <= 65535, "mmd_kernel_sum: too many column chunks");
  DeviceBuffer<double> partials(static_cast<size_t>(count) * grid_x * grid_y);
  const dim3 grid(grid_x, grid_y, count), block(pt::kThreadsX, pt::kThreadsY);
  pt::with_dim_chunk(d, [&](auto dc) {
    kernel_sums_kernel<decltype(dc)::value>
        <<<grid, block, 0, stream>>>(jobs, d, kp, partials.data());
  });
  LK_LAUNCH_CHECK();
  std::vector<double> host(partials.size());
  LK_CUDA_CHECK(cudaMemcpyAsync(host.data(), partials.data(), partials.bytes(),
                                cudaMemcpyDeviceToHost, stream));
  LK_CUDA_CHECK(cudaStreamSynchronize(stream));
  const size_t per_job = static_cast<size_t>(grid_x) * grid_y;
  for (int q = 0; q < count; ++q) {
    double total = 0.0;
    for (size_t e = 0; e < per_job; ++e) total += host[q * per_job + e];  // fixed order
    totals[q] = total;
  }
}

SumJob make_job(const float* A, int na, const float* B, int nb) {
  SumJob jb{};
  jb.A = A;
  jb.B = B;
  jb.na = na;
  jb.nb = nb;
  jb.symmetric = (A == B && na == nb) ? 1 : 0;
  return jb;
}
}  // namespace

double mmd_kernel_sum(const float* A, int na, const float* B, int nb, int d,
                      const MmdKernelParams& kp, cudaStream_t stream) {
  check_params(kp);
  LK_CHECK(na >= 0 && nb >= 0 && d >= 1,
           "mmd_kernel_sum: bad shape na=" << na << " nb=" << nb << " d=" << d);
  if (na == 0 || nb == 0) return 0.0;
  LK_CHECK(A && B, "mmd_kernel_sum: null pointer");
  const SumJob job = make_job(A, na, B, nb);
  double total = 0.0;
  run_sum_jobs(&job, 1, d, kp, &total, stream);
  return total;
}

void mmd_kernel_sums_xy(const float* X, int n, const float* Y, int m, int d,
                        const MmdKernelParams& kp, double sums[3], cudaStream_t stream) {
  check_params(kp);
  LK_CHECK(n >= 1 && m >= 1 && d >= 1,
           "mmd_kernel_sums_xy: bad shape n=" << n << " m=" << m << " d=" << d);
  LK_CHECK(X && Y, "mmd_kernel_sums_xy: null pointer");
  const SumJob jobs[3] = {make_job(X, n, X, n), make_job(Y, m, Y, m), make_job(X, n, Y, m)};
  run_sum_jobs(jobs, 3, d, kp, sums, stream);
}

void mmd_weighted_sums(const float* A, int na, const float* B, int nb, int d,
                       const MmdKernelParams& kp, bool slope, const float* V, int ncols, double* R,
                       cudaStream_t stream) {
  check_params(kp);
  LK_CHECK(
      na >= 0 && nb >= 1 && d >= 1 && ncols >= 1,
      "mmd_weighted_sums: bad shape na=" << na << " nb=" << nb << " d=" << d << " ncols=" << ncols);
  if (na == 0) return;
  LK_CHECK(A && B && V && R, "mmd_weighted_sums: null pointer");
  const dim3 grid(grid_for(na, pt::kTileM), grid_for(ncols, kVCols));
  LK_CHECK(grid.y <= 65535u, "mmd_weighted_sums: too many columns");
  const dim3 block(pt::kThreadsX, pt::kThreadsY);
  pt::with_dim_chunk(d, [&](auto dc) {
    constexpr int kDc = decltype(dc)::value;
    if (slope)
      weighted_sums_kernel<kDc, true><<<grid, block, 0, stream>>>(A, na, B, nb, d, kp, V, ncols, R);
    else
      weighted_sums_kernel<kDc, false>
          <<<grid, block, 0, stream>>>(A, na, B, nb, d, kp, V, ncols, R);
  });
  LK_LAUNCH_CHECK();
}

}  // namespace latentkit::cuda
