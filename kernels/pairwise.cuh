// Pairwise squared Euclidean distances on the device, materialised (the explicit call; consumers
// use the tile core in kernels/pairwise_tile.cuh and never store the matrix). Semantics as
// latentkit::ref::pairwise_sqdist (host/ref/pairwise.cpp), in float with differences summed in
// ascending dimension order. Tests: tests/test_pairwise_gpu.cu. Benchmark: bench/bench_pairwise.cu.
#pragma once
#include <cuda_runtime.h>

namespace latentkit::cuda {

// out[i*m + j] = ||X_i - Y_j||^2; X n x d, Y m x d, out n x m, all device pointers.
void pairwise_sqdist(const float* X, int n, const float* Y, int m, int d, float* out,
                     cudaStream_t stream);

// Per-row reduction consumer (the throughput benchmark's subject): row_sum[i] = sum_j
// ||X_i - Y_j||^2 in double, each block's partial summed in fixed order: reproducible.
void pairwise_row_sums(const float* X, int n, const float* Y, int m, int d, double* row_sum,
                       cudaStream_t stream);

}  // namespace latentkit::cuda
