// The pipelines behind apps/mmd and apps/kmeans (host/src/pipelines/pairwise_tools.cpp): read the
// CSVs, check them, run the MMD / KMeans family, print a report and write summary.json (schema 1,
// latentkit/io/summary.h: results.mmd / results.kmeans) and labels.csv atomically. The apps only
// parse flags and pick the device. Tests: tests/test_mmd_kmeans_apps.cpp.
#pragma once
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <vector>

#include "latentkit/core/backend.h"
#include "latentkit/families/kmeans.h"
#include "latentkit/families/mmd.h"

namespace latentkit {

// Default cap on the pooled points of the permutation test on the CPU backend: the exact test is
// (n+m)^2 (2 + P) multiply-adds (4e10 kernel values for 20000 points and 200 permutations: hours
// on a CPU); 2000 pooled points with 200 permutations take ~1 s on one core. The GPU default is
// every point. The choice is recorded in the outputs.
constexpr int kCpuPermutationMaxPoints = 2000;
// Pooled points used for the median heuristic (2000 points: 2e6 pair distances, milliseconds).
constexpr int kMedianMaxPoints = 2000;
// The most permutations a test takes: 1e7 resolve p-values to 1e-7, far past any use, and each
// one is a pass over the pooled kernel matrix (4e6 values at the CPU's 2000 points), so more
// would run for days.
constexpr int kMaxPermutations = 10000000;

struct MmdToolOptions {
  std::string x_csv, y_csv, out_dir;
  MmdKernel kernel = MmdKernel::Rbf;
  std::vector<double> bandwidths;  // empty: median heuristic
  int n_bandwidths = 7;            // halving list length from the median
  bool unbiased = false;
  int permutations = 200;
  int perm_max_points = -1;  // -1: every point on CUDA, kCpuPermutationMaxPoints on the CPU
  uint64_t seed = 0;
  // Called during the permutation test with (done, total): the apps' progress line.
  std::function<void(int done, int total)> progress;
};

// Everything the MMD stage computes, as JSON (shared by apps/mmd and the vae_gmm stage).
// The checks of opt's flags alone (FlagError, exit 2): mmd_report makes them, and run_mmd_tool
// makes them before it reads any file.
void check_mmd_flags(const MmdToolOptions& opt);

nlohmann::json mmd_report(Backend& backend, const std::vector<float>& X, int n,
                          const std::vector<float>& Y, int m, int d, const MmdToolOptions& opt);

// Returns the summary.json it wrote.
nlohmann::json run_mmd_tool(const MmdToolOptions& opt, Backend& backend, std::ostream& out);

struct KMeansToolOptions {
  std::string input_csv, out_dir;
  int k_min = 2, k_max = 15;
  KMeansOptions kmeans;       // k ignored
  int silhouette_sample = 0;  // 0: exact
};

// The sweep as JSON: per_k (k, inertia, silhouette, n_iter, ...), best_k_silhouette, centres.
nlohmann::json kmeans_report(const KMeansSweep& sweep, int d, int silhouette_sample);

// Returns the summary.json it wrote.
nlohmann::json run_kmeans_tool(const KMeansToolOptions& opt, Backend& backend, std::ostream& out);

}  // namespace latentkit
