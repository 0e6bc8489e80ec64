// Per-epoch minibatch order on the device (Philox keys sorted with Thrust), row gather, and a
// float64 sum (CUB). Semantics exactly as latentkit::ref (host/ref/shuffle.cpp).
// Tests: tests/test_shuffle_gpu.cu.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cuda_runtime.h>

namespace latentkit::cuda {
void shuffle_permutation(int32_t* perm, int n, uint64_t seed, uint32_t epoch, cudaStream_t stream);
void gather_rows(const float* X, const int32_t* idx, int count, int d, float* out,
                 cudaStream_t stream);
// Sum of n floats accumulated in double; synchronises the stream and returns the value.
double sum(const float* v, size_t n, cudaStream_t stream);
}  // namespace latentkit::cuda
