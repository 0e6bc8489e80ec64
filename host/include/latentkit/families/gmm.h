// Batched Gaussian mixtures: fit many models (different K, restarts) over the same data in one
// call, choose K by BIC/AIC, score, predict and sample. Semantics follow scikit-learn's
// GaussianMixture (see latentkit/ref/gmm_ref.h for the exact EM steps). CPU backend: the reference
// (host/ref/gmm.cpp); CUDA: kernels/gmm.cu driven by host/src/families/gmm/gmm.cpp.
//
// Initialisation runs ON THE HOST for both backends (the labels of latentkit's KMeans on the CPU
// reference, as sklearn's 'kmeans' takes KMeans(n_init=1)'s labels, or random responsibilities,
// then one M-step in float64): it is cheap next to EM (10000 x 3: milliseconds) and makes the
// starting point of a CUDA fit bit-identical to the CPU's, so the two backends can be compared
// from the same initial parameters. Draws: 'kmeans': KMeans's own (RngStream::KMeansInit) with
// seed = cfg.seed + restart * 0x9E3779B97F4A7C15; 'random': Philox stream Gmm, offset = restart,
// index = (K << 40) + draw counter. Tests: tests/test_ref_gmm.cpp, tests/test_gmm_gpu.cu,
// tests/test_gmm_fit.cpp.
#pragma once
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "latentkit/core/backend.h"
#include "latentkit/core/enum_names.h"

namespace latentkit {

enum class GmmCovariance { Full, Diag };
template <>
struct EnumNames<GmmCovariance> {
  static constexpr const char* flag = "--covariance";
  static constexpr EnumName<GmmCovariance> table[] = {{GmmCovariance::Full, "full"},
                                                      {GmmCovariance::Diag, "diag"}};
};

enum class GmmInit { KMeans, Random };
template <>
struct EnumNames<GmmInit> {
  static constexpr const char* flag = "--init";
  static constexpr EnumName<GmmInit> table[] = {{GmmInit::KMeans, "kmeans"},
                                                {GmmInit::Random, "random"}};
};

struct GmmConfig {
  GmmCovariance covariance = GmmCovariance::Full;
  GmmInit init = GmmInit::KMeans;
  double tol = 1e-3;        // on the change of the mean per-sample log-likelihood (sklearn)
  double reg_covar = 1e-6;  // added to every covariance diagonal (sklearn)
  int max_iter = 100;
  // 'kmeans' init: KMeans's max_iter (it stops earlier on unchanged labels or sklearn's centre
  // shift tol 1e-4). 300 is sklearn's KMeans default; lower it to bound the host cost on large
  // inputs. 0: the k-means++ seeds' labels without Lloyd steps.
  int init_lloyd_steps = 300;
  uint64_t seed = 0;
  // Called, when set, as the batch advances: ("initialising models", done, B) after each model's
  // initialisation, then ("EM, models", done, B) after each model's EM on the CPU, or
  // ("EM iterations", it, max_iter) every few iterations of the batched EM on the GPU; each phase
  // ends with done == total. For progress lines (latentkit/pipelines/app.h throttled_progress).
  std::function<void(const std::string& phase, long long done, long long total)> progress;
};

struct GmmModel {
  int k = 0, d = 0;
  GmmCovariance covariance = GmmCovariance::Full;
  std::vector<double> weights;      // [k]
  std::vector<double> means;        // [k, d]
  std::vector<double> covariances;  // [k, d, d] (full) or [k, d] (diag)
  // scikit-learn's _n_parameters: k-1 weights + k d means + k d(d+1)/2 (full) or k d (diag).
  int64_t n_parameters() const;
};

struct GmmModelSpec {
  int k = 1;
  int restart = 0;  // selects the initialisation draws (Philox offset)
};

struct GmmFitResult {
  GmmModel model;
  int restart = 0;
  double lower_bound = 0;     // mean log-likelihood of the last E-step (sklearn's lower_bound_)
  double log_likelihood = 0;  // mean per-sample log-likelihood of the final parameters (score)
  int n_iter = 0;
  bool converged = false;
  double bic = 0, aic = 0;  // from log_likelihood: -2 n ll + p ln n, -2 n ll + 2 p
};

// Checks data and flags: n >= 1, 1 <= d <= 32, every value finite, 1 <= K <= n, max_iter >= 1,
// tol >= 0, reg_covar >= 0. Throws InputError with what is wrong and what to do.
void validate_gmm_input(const std::vector<float>& x, int n, int d,
                        const std::vector<GmmModelSpec>& specs, const GmmConfig& cfg);

// Fits every spec over x[n, d] (host memory, row-major) in one batch on `backend`; results in the
// order of `specs`. Throws InputError for bad input, Error if a covariance stops being positive
// definite (increase reg_covar).
std::vector<GmmFitResult> fit_gmm_batch(Backend& backend, const std::vector<float>& x, int n, int d,
                                        const std::vector<GmmModelSpec>& specs,
                                        const GmmConfig& cfg);

// K = k_min..k_max, n_init restarts each, all in one batch; per K the restart with the highest
// lower bound (sklearn's choice among n_init), then the K of lowest BIC / AIC (lowest K on ties).
struct GmmSelection {
  std::vector<GmmFitResult> per_k;  // K ascending
  int best_k_bic = 0, best_k_aic = 0;
  size_t best_index_bic = 0, best_index_aic = 0;  // into per_k
  bool bic_at_upper_edge = false;  // best_k_bic == k_max < a larger K not searched: "at least K"
  double seconds = 0;              // wall time of the batch fit
};
GmmSelection fit_gmm_select(Backend& backend, const std::vector<float>& x, int n, int d, int k_min,
                            int k_max, int n_init, const GmmConfig& cfg);

// Per-point log-density log p(x_i) and the most responsible component (lowest index on ties).
struct GmmScores {
  std::vector<double> log_density;
  std::vector<int32_t> labels;
};
GmmScores gmm_score(Backend& backend, const GmmModel& model, const std::vector<float>& x, int n);

// n samples [n, d] from the mixture (Philox stream Gmm, reserved offsets, keyed by seed):
// identical on both backends up to the last float bit of the device's libm.
std::vector<float> gmm_sample(Backend& backend, const GmmModel& model, int n, uint64_t seed,
                              std::vector<int32_t>* component = nullptr);

// JSON of a fit: k, weights, means ([k][d]), covariances ([k][d][d] or [k][d]), log_likelihood
// (mean per sample), lower_bound, bic, aic, n_parameters, n_iter, converged, restart.
nlohmann::json gmm_fit_json(const GmmFitResult& r);

// The host initialisation of one model (exposed for tests and benchmarks).
GmmModel gmm_initial_model(const std::vector<float>& x, int n, int d, const GmmModelSpec& spec,
                           const GmmConfig& cfg);

// Philox offsets of gmm_sample (restarts use offsets below kGmmSampleOffset).
constexpr uint32_t kGmmSampleOffset = 0xFFFF0000u;
constexpr int kGmmMaxRestarts = 65536;  // restarts 0..65535: far below the sampling offsets

}  // namespace latentkit
