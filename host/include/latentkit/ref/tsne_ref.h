// Plain C++ reference of the t-SNE kernel family (kernels/tsne.cu, kernels/tsne_fft.cu): float
// inputs and outputs, float64 accumulation. It is the CPU backend of latentkit::run_tsne and the
// oracle of the GPU tests. Definitions (van der Maaten 2014; scikit-learn's TSNE; FIt-SNE):
//   q_ij = 1 / (1 + |y_i - y_j|^2) (unnormalised), Z = sum_{i != j} q_ij
//   attractive force  A_i = sum_j p_ij q_ij (y_i - y_j)
//   repulsive force   R_i = sum_j q_ij^2 (y_i - y_j)
//   gradient of KL(P || Q) = 4 (exaggeration * A_i - R_i / Z)
// Tests: tests/test_ref_tsne.cpp (brute force, finite differences, hand-computed perplexity),
// tests/test_tsne_gpu.cu (GPU vs this).
#pragma once
#include <cstdint>
#include <vector>

#include "latentkit/families/tsne_grid.h"

namespace latentkit::ref {

// All-pairs neighbour lists for exact affinities: row i lists every j != i in ascending order,
// idx [n, n-1] and squared Euclidean distances dist2 [n, n-1] of the rows of X [n, d].
void tsne_all_pairs(const float* X, int n, int d, int32_t* idx, float* dist2);

// Per-row bandwidth by binary search (scikit-learn's _binary_search_perplexity): for each row of
// dist2 [n, k] (squared distances to its k neighbours) finds beta with
// p_j = exp(-beta d_j) / sum exp(-beta d_j) of entropy log(perplexity) within 1e-5 nats (or 100
// halvings). Writes p_cond [n, k] (rows sum to 1) and beta [n] (the last one evaluated). The
// distances are taken relative to the row's smallest (p and the entropy do not change; exp()
// cannot underflow to an all-zero row, which scikit-learn patches with a 1e-8 sum instead).
constexpr double kTsnePerplexityTol = 1e-5;  // scikit-learn's PERPLEXITY_TOLERANCE
constexpr int kTsnePerplexitySteps = 100;    // scikit-learn's n_steps
void tsne_calibrate(const float* dist2, int n, int k, float perplexity, float* p_cond, float* beta);

// Symmetric joint probabilities P = (P_cond + P_cond^T) / sum, in CSR with ascending columns per
// row. Input: neighbour lists idx [n, k] with their conditional probabilities p_cond [n, k].
struct TsneCsr {
  std::vector<int32_t> row_ptr;  // [n + 1]
  std::vector<int32_t> col;      // [nnz]
  std::vector<float> val;        // [nnz], sums to 1
};
TsneCsr tsne_symmetrize(const int32_t* idx, const float* p_cond, int n, int k);

// A_i = sum_j p_ij q_ij (y_i - y_j) over the CSR P; Y and attr are [n, dims].
void tsne_attractive(const int32_t* row_ptr, const int32_t* col, const float* val, const float* Y,
                     int n, int dims, float* attr);

// Exact O(n^2) repulsion: rep [n, dims] = R_i; returns Z.
double tsne_repulsive_exact(const float* Y, int n, int dims, float* rep);

// FFT-accelerated O(n) repulsion on `grid` (Lagrange interpolation of the kernel q^2 on the
// grid's nodes, convolution by FFT): rep [n, dims] ~ R_i; returns the approximate Z.
double tsne_repulsive_fft(const float* Y, int n, int dims, const TsneFftGrid& grid, float* rep);

// Per-dimension minimum and maximum of Y [n, dims] (for the grid).
void tsne_bounds(const float* Y, int n, int dims, float* lo, float* hi);

// KL(P || Q) = sum_ij p_ij log(p_ij / (q_ij / Z)) over the nonzeros of P (P sums to 1).
double tsne_kl(const int32_t* row_ptr, const int32_t* col, const float* val, const float* Y, int n,
               int dims, double z);

// One step of gradient descent with momentum and per-coordinate gains (van der Maaten; scikit-learn
// _gradient_descent), over count = n * dims coordinates:
//   g = 4 (exaggeration * attr - rep / z)
//   gains += 0.2 where sign(g) != sign(update), else gains *= 0.8; gains = max(gains, min_gain)
//   update = momentum * update - learning_rate * gains * g;  Y += update
void tsne_update(float* Y, const float* attr, const float* rep, double z, size_t count,
                 float exaggeration, float momentum, float learning_rate, float min_gain,
                 float* gains, float* update);

}  // namespace latentkit::ref
