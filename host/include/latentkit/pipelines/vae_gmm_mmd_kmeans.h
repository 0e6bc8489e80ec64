// The vae_gmm analysis stages of the pairwise family
// (host/src/pipelines/vae_gmm/stage_kmeans_mmd.cpp):
//  - kmeans: KMeans for k = k_min..k_max on the generated samples: inertia per k (the elbow),
//    silhouette per k and the k it picks (seed report 000 chose it by eye);
//  - mmd: MMD^2 between the true data and the generated samples (median-heuristic RBF, the seed's
//    7 halving bandwidths) with a permutation-test p-value.
// Each returns its StageResult (summary.json's results.<name>, latentkit/io/summary.h) and
// prints a short report to `log`.
// Tests: tests/test_vae_gmm.cpp.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <ostream>
#include <vector>

#include "latentkit/core/backend.h"
#include "latentkit/io/summary.h"

namespace latentkit {

struct VaeGmmKMeansStage {
  bool enabled = true;
  int k_min = 2, k_max = 15;
  int n_init = 3;              // restarts per k
  int silhouette_sample = -1;  // -1: exact on the GPU, kCpuSilhouetteSample points on the CPU
};

// CPU default sample for the silhouette in vae_gmm: the exact score is 14 x N^2 distances for
// k = 2..15 (1.4e9 at N = 10000: ~10 s here); 4000 points cost 6x less and keep the standard
// error of the mean silhouette below ~0.005.
constexpr int kCpuSilhouetteSample = 4000;

struct VaeGmmMmdStage {
  bool enabled = true;
  int permutations = 200;
  int perm_max_points = -1;  // -1: every point on the GPU, kCpuPermutationMaxPoints on the CPU
  bool unbiased = false;
};

// Checks the stages' flags up front (before training); throws InputError naming the flag.
void validate_pairwise_stages(const VaeGmmKMeansStage& kmeans, const VaeGmmMmdStage& mmd);

// With fewer generated samples than k_max + 1, the sweep stops at k = n - 1 (recorded as
// "k_max_used"); below k_min + 1 samples the stage is skipped and says why.
StageResult vae_gmm_kmeans_stage(Backend& backend, const std::vector<float>& generated, int n,
                                 int d, const VaeGmmKMeansStage& opt, uint64_t seed,
                                 std::ostream& log);

StageResult vae_gmm_mmd_stage(Backend& backend, const std::vector<float>& data, int n,
                              const std::vector<float>& generated, int m, int d,
                              const VaeGmmMmdStage& opt, uint64_t seed, std::ostream& log);

}  // namespace latentkit
