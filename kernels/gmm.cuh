// Batched Gaussian-mixture EM kernels (kernels/gmm.cu): per-component Cholesky factors, the
// E-step over (point block, model), the M-step as deterministic block-partial reductions in
// float64 (no float atomics: the same input gives the same bits every run), per-model convergence
// flags kept on the device, and sampling from a mixture with Philox.
// Layout and semantics: latentkit/ref/gmm_ref.h (B models over one X[n, d]; model b owns the
// components comp_offset[b] .. comp_offset[b+1]-1; responsibilities [C, n]). Every pointer is
// device memory; int32 flags per model: active (1 = still iterating; nullptr = all models).
// The host loop that drives them: host/src/families/gmm/gmm.cpp. Tests: tests/test_gmm_gpu.cu (against
// latentkit::ref); benchmark: bench/bench_gmm.cu.
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace latentkit::cuda {

// Largest dimension supported (a point and a component's factors live in one thread).
constexpr int kGmmKernelMaxDim = 32;

// P = L⁻¹ (lower) and log_norm = log w - ½ d log 2π + Σ log P_ii for every component of an active
// model (comp_model[c]: model of component c; comp_offset as in the layout); chol receives L. A
// covariance that is not positive definite sets bad_component[model] = min(its value, local index
// of the component) (initialise it to INT32_MAX) and leaves P = I so nothing downstream turns NaN;
// the host then reports it.
void gmm_precisions(const double* weights, const double* covariances, const int32_t* comp_model,
                    const int32_t* comp_offset, const int32_t* active, int num_components, int d,
                    bool full, double* chol, double* prec, double* log_norm, int32_t* bad_component,
                    cudaStream_t stream);

// Blocks per model of the E-step grid (rows of partial_ll per model).
int gmm_estep_blocks(int n);

// E-step of every active model: resp[c*n + i]; partial_ll[b*gmm_estep_blocks(n) + block] = sum of
// the per-point log-sum-exp over the block's points; point_ll[b*n + i] and labels[b*n + i]
// (argmax, lowest component on ties) when non-null.
void gmm_estep(const float* x, int n, int d, bool full, int num_models, const int32_t* comp_offset,
               const int32_t* active, const double* means, const double* prec,
               const double* log_norm, double* resp, double* partial_ll, double* point_ll,
               int32_t* labels, cudaStream_t stream);

// Doubles of scratch gmm_mstep needs for `num_components` components.
size_t gmm_mstep_scratch_size(int n, int d, bool full, int num_components);

// M-step of every component of an active model: nk (with sklearn's 10 ε guard), means, then
// covariances from the new means (a second pass) + reg_covar on the diagonal. Weights are
// normalised by gmm_finalize. Four launches (statistics and reduction, twice).
void gmm_mstep(const float* x, int n, int d, bool full, int num_components,
               const int32_t* comp_model, const int32_t* active, const double* resp,
               double reg_covar, double* scratch, double* nk, double* means, double* covariances,
               cudaStream_t stream);

// Per active model: mean log-likelihood from partial_ll, weights = nk / Σ nk, n_iter += 1,
// lower_bound = the mean log-likelihood, and converged = active = 0 once |change| < tol (not on
// the first iteration).
void gmm_finalize(int n, int num_models, const int32_t* comp_offset, const double* partial_ll,
                  const double* nk, double tol, double* weights, double* lower_bound,
                  int32_t* n_iter, int32_t* converged, int32_t* active, cudaStream_t stream);

// Samples of one mixture (k components; chol as gmm_precisions writes it): as ref::gmm_sample.
void gmm_sample(int k, int d, bool full, const double* weights, const double* means,
                const double* chol, int n, uint64_t seed, uint32_t offset, float* out,
                int32_t* component, cudaStream_t stream);

}  // namespace latentkit::cuda
