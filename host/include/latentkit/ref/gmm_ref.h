// CPU reference of the batched Gaussian-mixture EM family (mirrors kernels/gmm.cu): plain C++,
// float64 throughout, one model after another. It is the CPU backend of latentkit/families/gmm.h and the
// oracle of tests/test_gmm_gpu.cu; tests/test_ref_gmm.cpp checks it against brute-force densities,
// hand-computed M-steps and recovery of known mixtures.
//
// Semantics follow scikit-learn's GaussianMixture:
//   E-step: log p(x, c) = log w_c - ½ (D log 2π + log|Σ_c| + (x-μ_c)ᵀ Σ_c⁻¹ (x-μ_c)), with
//           Σ_c = L Lᵀ (Cholesky) and the Mahalanobis term |L⁻¹ (x-μ)|²; responsibilities by
//           log-sum-exp; the per-sample log-likelihood is the log-sum-exp itself.
//   M-step: N_c = Σ r + 10 ε (ε = DBL_EPSILON, sklearn's guard for a component without points),
//           μ_c = Σ r x / N_c, Σ_c = Σ r (x-μ_c)(x-μ_c)ᵀ / N_c + reg_covar I (centred, from the new
//           means: a second pass, no E[xxᵀ] - μμᵀ cancellation; also for diag, where sklearn
//           uses E[x²] - μ², equal up to rounding), w_c = N_c / Σ N.
//   Loop:   E-step, M-step, then converged when |mean_ll - previous mean_ll| < tol (never on the
//           first iteration), at most max_iter iterations; the lower bound reported is the mean
//           log-likelihood of the last E-step (sklearn's lower_bound_).
//
// Batched layout (shared with the kernels): B models over the same X[n, d] (row-major float);
// model b owns components comp_offset[b] .. comp_offset[b+1]-1 (comp_offset has B+1 entries,
// comp_offset[0] = 0, C = comp_offset[B] components in all). Per component c: weights[c],
// means[c*d + i], covariances[c*d*d + i*d + j] (full, symmetric) or [c*d + i] (diag).
// Responsibilities are [C, n] (component-major).
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

namespace latentkit::ref {

// The largest dimension the family supports (the kernels keep a point in registers / local
// memory and the Cholesky factors of a component in one thread).
constexpr int kGmmMaxDim = 32;

// sklearn's guard added to every N_c: 10 * DBL_EPSILON.
constexpr double kGmmNkGuard = 10.0 * 2.220446049250313e-16;

// Per component: the lower-triangular inverse Cholesky factor P = L⁻¹ of Σ (full: [C, d, d] with
// zeros above the diagonal; diag: [C, d] = 1/sqrt(var)) and
// log_norm[c] = log w_c - ½ d log 2π + Σ_i log P_ii   (= log w_c - ½ d log 2π - ½ log|Σ_c|).
// chol receives L itself (full: [C, d, d]; diag: sqrt(var)) for sampling. Returns the index of
// the first component whose covariance is not positive definite (and leaves its outputs unset),
// or -1 when all are fine.
int gmm_precisions(const double* weights, const double* covariances, int num_components, int d,
                   bool full, double* chol, double* prec, double* log_norm);

// E-step of the components c0 .. c0+k-1 (one model) over x[n, d]:
//   resp[(c0+j)*n + i] = responsibility of component j for point i (resp indexed from c = 0);
//   point_ll[i] (optional) = log-sum-exp, labels[i] (optional) = argmax_j (lowest j on ties).
// Returns the mean per-sample log-likelihood.
double gmm_estep(const float* x, int n, int d, bool full, int c0, int k, const double* means,
                 const double* prec, const double* log_norm, double* resp, double* point_ll,
                 int32_t* labels);

// M-step of components c0 .. c0+k-1 from resp (as gmm_estep writes it): weights, means and
// covariances of those components, as described above.
void gmm_mstep(const float* x, int n, int d, bool full, int c0, int k, const double* resp,
               double reg_covar, double* weights, double* means, double* covariances);

struct GmmEmStatus {
  double lower_bound = 0;  // mean log-likelihood of the last E-step
  int n_iter = 0;          // iterations run (E-step + M-step pairs)
  bool converged = false;
};

// EM for every model of the batch from the parameters given (updated in place). Throws
// latentkit::Error naming the model and component if a covariance stops being positive definite
// ("increase reg_covar").
std::vector<GmmEmStatus> gmm_em_batch(const float* x, int n, int d, bool full,
                                      const std::vector<int>& comp_offset, double tol,
                                      double reg_covar, int max_iter, double* weights,
                                      double* means, double* covariances,
                                      const std::function<void(int models_done)>& progress = {});

// Draws n samples of one model (k components, parameters as above): sample i picks component
// c = the first with u_i * Σw <= w_0 + ... + w_c, u_i = philox_uniform(seed, Gmm, offset, i),
// then x = μ_c + L_c z with z_j = philox_normal(seed, Gmm, offset + 1, i*d + j).
// out[n, d] row-major; component[i] (optional) receives c.
void gmm_sample(int k, int d, bool full, const double* weights, const double* means,
                const double* covariances, int n, uint64_t seed, uint32_t offset, float* out,
                int32_t* component);

}  // namespace latentkit::ref
