// KMeans and silhouette kernels (kernels/kmeans.cu). Semantics as latentkit::ref::kmeans_assign /
// kmeans_update_sums / silhouette_samples (host/ref/kmeans.cpp), distances in float (summed
// squared differences in ascending dimension order) with float64 reductions in a fixed order:
// reproducible run to run. Tests: tests/test_kmeans_gpu.cu. Benchmark: bench/bench_kmeans.cu.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

namespace latentkit::cuda {

// Fused assign: labels, mindist, and per-block partial inertia (double) and changed-label counts
// (int, prev_labels may be nullptr) written to block_inertia / block_changed, which must hold
// kmeans_assign_blocks(n) entries. Returns nothing; the caller sums the partials in order.
int kmeans_assign_blocks(int n);
void kmeans_assign(const float* X, int n, int d, const float* C, int k, const int32_t* prev_labels,
                   int32_t* labels, float* mindist, double* block_inertia, int* block_changed,
                   cudaStream_t stream);

// Per-cluster sums (k*d) and counts (k) in double: per-chunk partials in point order, then each
// (cluster, column) summed over the chunks in order. scratch: kmeans_update_scratch(n, k, d)
// doubles of device memory.
size_t kmeans_update_scratch(int n, int k, int d);
void kmeans_update_sums(const float* X, int n, int d, const int32_t* labels, int k, double* sums,
                        double* counts, double* scratch, cudaStream_t stream);

// s[i] = silhouette of point i for points grouped by cluster: Xs (n x d) sorted by label,
// begin[c]..begin[c+1] the rows of cluster c (k+1 ints), labels_sorted the label of each row.
// One thread per point; each cluster's distance sum a contiguous loop (a warp reads the same row:
// broadcast). s is written in the sorted order.
void silhouette_samples_sorted(const float* Xs, int n, int d, const int32_t* labels_sorted,
                               const int32_t* begin, int k, double* s, cudaStream_t stream);

}  // namespace latentkit::cuda
