// CPU reference of the pairwise-distance family (host/ref/pairwise.cpp): squared Euclidean
// distances and brute-force k nearest neighbours. Plain C++, float64 accumulation, templated on
// the storage type T (float: the CPU backend and the kernels' oracle; double: float64 checks).
// Distances are computed from the differences, sum_c (x_c - y_c)^2, never through the expansion
// ||x||^2 + ||y||^2 - 2 x.y: exact 0 for identical rows and never negative.
// Mirrors kernels/pairwise.cu and kernels/knn.cu by name and argument order, sharing no code.
// Tests: tests/test_ref_pairwise.cpp (against hand values and brute force), oracle for
// tests/test_pairwise_gpu.cu.
#pragma once
#include <cstddef>
#include <cstdint>

namespace latentkit::ref {

// out[i*m + j] = ||X_i - Y_j||^2 for X (n x d), Y (m x d). The explicit materialising call.
template <class T>
void pairwise_sqdist(const T* X, int n, const T* Y, int m, int d, T* out);

// The k nearest rows of X (nx x d) to each row of Q (nq x d) by squared Euclidean distance,
// ascending by (distance, index): ties go to the smaller index. exclude_self: Q is X and row i is
// not its own neighbour. Writes idx_out[q*k + r] and dist2_out[q*k + r]. Distances are ranked in
// float64 and stored as T.
template <class T>
void knn(const T* Q, int nq, const T* X, int nx, int d, int k, bool exclude_self,
         int32_t* idx_out, T* dist2_out);

}  // namespace latentkit::ref
