// Brute-force k nearest neighbours on the device with a fused top-k (kernels/knn.cu). Semantics as
// latentkit::ref::knn (host/ref/pairwise.cpp): ascending squared Euclidean distance, ties to the
// smaller index, exclude_self for Q == X. Distances are float sums of squared differences in
// ascending dimension order. Tests: tests/test_pairwise_gpu.cu. Benchmark: bench/bench_pairwise.cu.
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace latentkit::cuda {

// k up to kKnnMaxFusedK uses the fused warp-per-query kernel; larger k a batched segmented sort of
// full distance rows (correct at any k, slower, memory bounded by kKnnSortBatchElements).
constexpr int kKnnMaxFusedK = 256;
// The sorted path's batch: at most 2^24 keys (128 MiB) in each of its two key buffers, i.e.
// max(1, 2^24 / nx) queries per batch.
constexpr size_t kKnnSortBatchElements = size_t(1) << 24;

void knn(const float* Q, int nq, const float* X, int nx, int d, int k, bool exclude_self,
         int32_t* idx_out, float* dist2_out, cudaStream_t stream);

}  // namespace latentkit::cuda
