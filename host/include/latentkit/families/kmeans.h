// KMeans (Lloyd) with k-means++ seeding, restarts, a sweep over k, and the silhouette score, on
// either backend (host/src/families/kmeans/kmeans.cpp). The loop is host code shared by both backends; its two
// data-parallel steps, assign (distance + argmin fused, inertia and changed labels reduced) and
// update (deterministic per-cluster sums), run in latentkit::ref (host/ref/kmeans.cpp) on the CPU
// and kernels/kmeans.cu on CUDA. Semantics follow scikit-learn's KMeans(algorithm="lloyd"):
//  - seeding: greedy k-means++ with 2 + floor(ln k) candidates per centre (sklearn's default),
//    draws from Philox (RngStream::KMeansInit), computed on the host from a copy of the data for
//    both backends, so CPU and GPU start from the same centres;
//  - stop when the labels did not change, or when the total squared centre shift
//    sum_c ||c_new - c_old||^2 <= tol * mean per-feature variance of X, or after max_iter;
//  - empty clusters are reseeded at the points farthest from their centres (largest current
//    squared distance, ties to the smaller index), one distinct point per empty cluster;
//  - after the loop one final assignment gives the labels and the inertia; n_init restarts keep
//    the lowest inertia (the first on ties).
// kmeans_sweep runs every k of the sweep together: each Lloyd step is one batched launch for all
// k still iterating on CUDA (kernels/kmeans.cu, *_batched), a loop over k on the CPU. Each k's
// result is the same as kmeans() with that k.
// Silhouette: exact (every pair; fused per point: mean distance to each cluster, never storing the
// matrix), or on a Philox sample of sample_size points (RngStream::Subsample, offset 4), as
// sklearn.metrics.silhouette_score(sample_size=...): distances among the sample only.
// Tests: tests/test_ref_kmeans.cpp, tests/test_kmeans_gpu.cu. Benchmark: bench/bench_pairwise.cu.
#pragma once
#include <cstdint>
#include <vector>

#include "latentkit/core/backend.h"

namespace latentkit {

struct KMeansOptions {
  int k = 8;
  int n_init = 10;
  int max_iter = 300;
  double tol = 1e-4;
  uint64_t seed = 0;
};

struct KMeansResult {
  int k = 0;
  double inertia = 0.0;         // sum of squared distances to the closest centre (final labels)
  int n_iter = 0;               // Lloyd iterations of the best restart
  int best_init = 0;            // which restart won
  int empty_reseeds = 0;        // empty clusters reseeded (best restart)
  std::vector<float> centers;   // k x d
  std::vector<int32_t> labels;  // n
  std::vector<double> inertia_trace;  // best restart: inertia after each assignment step
};

// X: n x d in backend memory. Throws InputError for k < 1, k > n, bad options.
KMeansResult kmeans(Backend& backend, const float* X, int n, int d, const KMeansOptions& opt);

// Greedy k-means++ on host data (exposed for tests). restart selects the Philox offset.
std::vector<float> kmeans_plus_plus(const std::vector<float>& X, int n, int d, int k, uint64_t seed,
                                    int restart);

struct SilhouetteResult {
  double score = 0.0;
  int points = 0;  // points the score was computed on
  bool sampled = false;
};

// Mean silhouette coefficient (Euclidean) of the labelling (labels in [0, k), backend memory).
// sample_size > 0 and < n: on a Philox sample. Needs 2 <= (clusters present) <= points - 1,
// else InputError. A point alone in its cluster scores 0 (sklearn's convention).
SilhouetteResult silhouette(Backend& backend, const float* X, int n, int d, const int32_t* labels,
                            int k, int sample_size, uint64_t seed);

struct KMeansSweepEntry {
  KMeansResult fit;
  SilhouetteResult silhouette;
};

struct KMeansSweep {
  std::vector<KMeansSweepEntry> per_k;  // k_min .. k_max in order
  int best_k_silhouette = 0;            // highest silhouette (the smaller k on ties)
};

// KMeans for every k in [k_min, k_max] (same options, k replaced) with the silhouette of each.
KMeansSweep kmeans_sweep(Backend& backend, const float* X, int n, int d, int k_min, int k_max,
                         const KMeansOptions& opt, int silhouette_sample);

}  // namespace latentkit
