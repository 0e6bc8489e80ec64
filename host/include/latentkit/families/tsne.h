// t-SNE (van der Maaten & Hinton 2008; van der Maaten 2014; FIt-SNE, Linderman et al. 2019) on
// either backend: affinities (exact all pairs for small N, k = 3 * perplexity nearest neighbours
// from latentkit::knn otherwise), per-point perplexity calibration, symmetric sparse P, PCA or
// random initialisation, and gradient descent with early exaggeration, momentum and gains as
// scikit-learn's TSNE. Repulsion exact O(N^2) or FFT-accelerated O(N); 2-D and 3-D output.
// CPU backend: latentkit::ref (host/ref/tsne.cpp); CUDA: kernels/tsne.cu, kernels/tsne_fft.cu.
// Used by apps/tsne and the tsne stage of apps/vae_gmm. Tests: tests/test_ref_tsne.cpp,
// tests/test_tsne_gpu.cu, tests/test_tsne_app.cpp. Benchmark: bench/bench_tsne.cu.
#pragma once
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "latentkit/core/backend.h"
#include "latentkit/core/enum_names.h"
#include "latentkit/families/tsne_grid.h"

namespace latentkit {

enum class TsneMethod { Auto, Exact, Fft };
enum class TsneInit { Pca, Random };
template <>
struct EnumNames<TsneMethod> {
  static constexpr const char* flag = "--method";
  static constexpr EnumName<TsneMethod> table[] = {
      {TsneMethod::Auto, "auto"}, {TsneMethod::Exact, "exact"}, {TsneMethod::Fft, "fft"}};
};
template <>
struct EnumNames<TsneInit> {
  static constexpr const char* flag = "--init";
  static constexpr EnumName<TsneInit> table[] = {{TsneInit::Pca, "pca"},
                                                 {TsneInit::Random, "random"}};
};

// `auto` runs the exact method (exact repulsion and all-pairs affinities) up to this many points
// and the FFT method above, on both devices, so a run's method never depends on the device.
// Why 1000: the FFT grid has at least 2 x 3 x 5 nodes per dimension, and 2-D grids reach
// 2 x 3 x 42 nodes (~64k cells) once the embedding spreads: below ~1000 points the n^2 / 2 = 500k
// pair terms of the exact repulsion cost no more than the grid's FFTs, and are exact.
constexpr int kTsneExactMaxN = 1000;

struct TsneProgress {
  int iteration = 0;   // 1-based, after its update
  int iterations = 0;  // total
  double kl = 0.0;     // KL(P || Q) after this iteration, when kl_reported
  bool kl_reported = false;
  double seconds = 0.0;  // since the optimisation started
};

struct TsneOptions {
  int dims = 2;  // 2 or 3
  double perplexity = 30.0;
  int iterations = 1000;
  TsneMethod method = TsneMethod::Auto;
  TsneInit init = TsneInit::Pca;
  uint64_t seed = 0;
  double early_exaggeration = 12.0;  // for the first exaggeration_iterations (van der Maaten)
  int exaggeration_iterations = 250;
  double momentum_early = 0.5;  // during exaggeration; then momentum_late
  double momentum_late = 0.8;
  double learning_rate = 0.0;  // 0: 'auto' = max(N / early_exaggeration / 4, 50)
  double min_gain = 0.01;
  int kl_every = 50;  // KL reported every kl_every iterations and at the end
  TsneFftConfig fft;  // grid of the FFT method
  std::function<void(const TsneProgress&)> progress;  // called after every iteration
};

struct TsneResult {
  int n = 0, dims = 2;
  std::vector<float> embedding;   // [n, dims]
  std::string method;             // "exact" or "fft" (what auto chose)
  bool exact_affinities = false;  // all pairs (true) or k nearest neighbours
  int neighbors = 0;              // k per point before symmetrisation
  int64_t nnz = 0;                // nonzeros of the symmetric P
  double learning_rate = 0.0;
  double kl = 0.0;  // after the last iteration (the FFT method: with its approximate Z)
  std::vector<std::pair<int, double>> kl_history;  // (iteration, KL)
  double seconds_affinities = 0, seconds_init = 0, seconds_optimize = 0, seconds_total = 0;
};

// Runs t-SNE on the rows of X [n, d] (host memory). Throws InputError for bad data or options
// (non-finite values, all rows identical, perplexity >= n, dims not 2 or 3, ...).
TsneResult run_tsne(Backend& backend, const std::vector<float>& X, int n, int d,
                    const TsneOptions& opt);

// The checks of `opt` that need no data (FlagError naming the flag, exit 2): --dims 2 or 3,
// --perplexity > 0, --iterations >= 0, --learning-rate >= 0. run_tsne makes them too; apps make
// them before reading their input.
void check_tsne_flags(const TsneOptions& opt);

// Initial embeddings (host, float): the top-`dims` principal components of the centred data,
// scaled so the first coordinate has standard deviation 1e-4 (scikit-learn's init='pca'); the
// covariance in float64 (cuBLAS DSYRK on the CUDA backend, a loop on the CPU), its eigenvectors
// by subspace iteration in float64 on the host, signs fixed so each vector's largest entry is
// positive. Random: 1e-4 * N(0, 1) from Philox (seed, RngStream::Tsne, offset 0, index).
std::vector<float> tsne_pca_init(Backend& backend, const std::vector<float>& X, int n, int d,
                                 int dims);
std::vector<float> tsne_random_init(int n, int dims, uint64_t seed);

// results.tsne of apps/tsne and the vae_gmm stage: KL history, affinities, parameters; no wall
// time (the callers put TsneResult's seconds_* in summary.json's timings_s).
nlohmann::json tsne_result_json(const TsneResult& r, const TsneOptions& opt);

}  // namespace latentkit
