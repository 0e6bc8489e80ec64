// KMeans and silhouette kernels (kernels/kmeans.cu). Semantics as latentkit::ref::kmeans_assign /
// kmeans_update_sums / silhouette_samples (host/ref/kmeans.cpp), distances in float (summed
// squared differences in ascending dimension order) with float64 reductions in a fixed order:
// reproducible run to run. Tests: tests/test_kmeans_gpu.cu. Benchmark: bench/bench_pairwise.cu.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

namespace latentkit::cuda {

// Fused assign: labels, mindist, and per-block partial inertia (double) and changed-label counts
// (int, prev_labels may be nullptr or equal labels) written to block_inertia / block_changed, which
// must hold kmeans_assign_blocks(n) entries. Returns nothing; the caller sums the partials in
// order.
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

// Batched (the sweep over k: one launch per step for every problem still running). `count`
// problems on the same X; problem b (meta[3b .. 3b+2] = {k, first, slot}, device memory) has k
// centres, rows first .. first+k-1 of the stacked centre matrix C (sum of k rows x d), and its
// labels and mindist at labels + slot*n, mindist + slot*n. The assign reads each point's previous
// label from labels itself (in place) for the changed count; its partials for problem b are
// block_inertia / block_changed + b * kmeans_assign_blocks(n). k_max: the largest k of the batch.
// The update writes sums + first*d and counts + first; scratch: kmeans_update_scratch(n,
// total k, d), problem b's partials at first * (d + 1) * chunks. Each problem's arithmetic is
// exactly that of the single-problem calls above (the same kernels: same bits).
void kmeans_assign_batched(const float* X, int n, int d, const float* C, const int* meta, int count,
                           int k_max, int32_t* labels, float* mindist, double* block_inertia,
                           int* block_changed, cudaStream_t stream);
void kmeans_update_sums_batched(const float* X, int n, int d, const int32_t* labels,
                                const int* meta, int count, int k_max, double* sums, double* counts,
                                double* scratch, cudaStream_t stream);

// s[i] = silhouette of point i for points grouped by cluster: Xs (n x d) sorted by label,
// begin[c]..begin[c+1] the rows of cluster c (k+1 ints), labels_sorted the label of each row.
// One thread per point; each cluster's distance sum a contiguous loop (a warp reads the same row:
// broadcast). s is written in the sorted order.
void silhouette_samples_sorted(const float* Xs, int n, int d, const int32_t* labels_sorted,
                               const int32_t* begin, int k, double* s, cudaStream_t stream);

}  // namespace latentkit::cuda
