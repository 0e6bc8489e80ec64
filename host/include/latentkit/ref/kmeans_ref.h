// CPU reference of the KMeans family (host/ref/kmeans.cpp): the fused assign step, the update
// sums and the per-point silhouette. Plain C++, float64 accumulation, templated on the storage
// type. Mirrors kernels/kmeans.cu by name and argument order, sharing no code.
// Tests: tests/test_ref_kmeans.cpp; oracle for tests/test_kmeans_gpu.cu.
#pragma once
#include <cstdint>

namespace latentkit::ref {

// labels[i] = argmin_c ||X_i - C_c||^2 (ties to the smaller c), mindist[i] = that distance (as T).
// prev_labels (may be nullptr): *changed = #{i : labels[i] != prev_labels[i]}. Returns the inertia
// sum_i mindist[i] in float64 (of the float64 distances).
template <class T>
double kmeans_assign(const T* X, int n, int d, const T* C, int k, const int32_t* prev_labels,
                     int32_t* labels, T* mindist, int* changed);

// sums[c*d + j] = sum_{i: labels[i] = c} X[i, j] and counts[c] = #{i: labels[i] = c}, float64.
template <class T>
void kmeans_update_sums(const T* X, int n, int d, const int32_t* labels, int k, double* sums,
                        double* counts);

// s[i] = silhouette of point i (Euclidean): a = mean distance to the other members of its cluster,
// b = the smallest mean distance to another non-empty cluster, s = (b - a) / max(a, b); 0 for a
// point alone in its cluster. Labels in [0, k).
template <class T>
void silhouette_samples(const T* X, int n, int d, const int32_t* labels, int k, double* s);

}  // namespace latentkit::ref
