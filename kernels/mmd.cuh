// MMD kernels on the device (kernels/mmd.cu), built on the pairwise tile core
// (kernels/pairwise_tile.cuh): kernel sums (the MMD^2 statistic) and kernel-weighted column sums
// R = F V (the permutation test with V = [1, labels], the gradient with V = [1, coordinates]).
// Semantics as latentkit::ref::mmd_kernel_sum / mmd_weighted_sums (host/ref/mmd.cpp), in float
// per pair with float64 accumulation across tiles and a fixed-order final sum: reproducible.
// Tests: tests/test_mmd_gpu.cu. Benchmark: bench/bench_pairwise.cu.
#pragma once
#include <cuda_runtime.h>

namespace latentkit::cuda {

constexpr int kMmdDeviceMaxParams = 16;  // = latentkit::kMmdMaxParams (a fixed-size array)

// The kernel as the device sees it (a kernel argument: no device allocation).
struct MmdKernelParams {
  int imq = 0;        // 0: RBF sum_b exp(-d2 / (2 h_b)); 1: IMQ sum_b C_b / (C_b + d2)
  int count = 1;      // number of bandwidths / scales
  int halving = 0;    // RBF list h, h/2, h/4, ...: one exp, then squaring
  float neg_inv_2h0;  // -1 / (2 h_0) (halving RBF)
  float param[kMmdDeviceMaxParams];       // h_b or C_b
  float neg_inv_2h[kMmdDeviceMaxParams];  // -1 / (2 h_b) (general RBF)
};

// sum_{i,j} k(A_i, B_j) in double (A is B: pass the same pointer; the diagonal is included).
// Synchronises the stream and returns the value.
double mmd_kernel_sum(const float* A, int na, const float* B, int nb, int d,
                      const MmdKernelParams& kp, cudaStream_t stream);

// S_xx, S_yy, S_xy (as mmd_kernel_sum) in one launch, one copy and one synchronisation.
void mmd_kernel_sums_xy(const float* X, int n, const float* Y, int m, int d,
                        const MmdKernelParams& kp, double sums[3], cudaStream_t stream);

// R[i*ncols + c] = sum_j f(||A_i - B_j||^2) V[j*ncols + c] in double, f = k (slope 0) or
// g = -dk/d(d2) (slope 1). R is na x ncols doubles, device memory.
void mmd_weighted_sums(const float* A, int na, const float* B, int nb, int d,
                       const MmdKernelParams& kp, bool slope, const float* V, int ncols, double* R,
                       cudaStream_t stream);

}  // namespace latentkit::cuda
