// Pairwise squared Euclidean distances and brute-force k nearest neighbours on either backend
// (host/src/families/pairwise/pairwise.cpp): the CPU backend runs latentkit::ref
// (host/ref/pairwise.cpp), CUDA the launchers of kernels/pairwise.cu and kernels/knn.cu on the
// backend's stream; pairwise.cpp chooses between them in one place (pairwise_ops).
// Matrices are typed views (latentkit/core/view.h): row-major, and each must live in the
// backend's memory (Backend::memory()); a view elsewhere is an Error saying which one.
// Distances are sums of squared differences (exact 0 on identical rows, never negative) on both
// backends; see kernels/pairwise.cuh for why not the norm expansion.
// Tests: tests/test_ref_pairwise.cpp, tests/test_pairwise_gpu.cu.
#pragma once
#include <cstdint>
#include <vector>

#include "latentkit/core/backend.h"
#include "latentkit/core/view.h"

namespace latentkit {

// The k nearest rows of X (nx x d) to each row of Q (nq x d) by squared Euclidean distance,
// ascending, ties broken by the smaller index. exclude_self: Q and X are the same matrix (nq ==
// nx) and row i must not be its own neighbour. idx_out and dist2_out: nq x k. Requires
// 1 <= k <= nx (nx-1 with exclude_self) and matching shapes, else InputError. On CUDA, distances
// are float sums in a fixed order, so a pair of candidates whose distances differ by less than
// float rounding may rank differently from the float64 CPU reference; exact ties (equal floats)
// always go to the smaller index. Inputs must be finite (the apps reject NaN/Inf when reading
// data); the order of NaN distances is unspecified.
void knn(Backend& backend, MatrixView<const float> Q, MatrixView<const float> X, int k,
         bool exclude_self, MatrixView<int32_t> idx_out, MatrixView<float> dist2_out);

// out (n x m) = ||X_i - Y_j||^2 for X (n x d), Y (m x d). Materialises the full matrix: only for
// small problems and tests; the consumers (MMD, KMeans, silhouette, kNN) never store it.
void pairwise_sqdist(Backend& backend, MatrixView<const float> X, MatrixView<const float> Y,
                     MatrixView<float> out);

// `count` distinct indices of [0, n) in ascending order, the ones with the smallest keys
// philox_block(seed, RngStream::Subsample, offset, i).v[0] (ties by i): the family's subsamples
// (median heuristic offset 1, permutation test 2 and 3, silhouette 4). Host-side, so both
// backends use the same points. Requires 0 <= count <= n.
std::vector<int> philox_subsample(int n, int count, uint64_t seed, uint32_t offset);

}  // namespace latentkit
