// vae_gmm's kmeans and mmd stages (latentkit/pipelines/vae_gmm_mmd_kmeans.h).
#include "latentkit/pipelines/vae_gmm_mmd_kmeans.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>

#include "latentkit/pipelines/app.h"
#include "latentkit/core/check.h"
#include "latentkit/families/kmeans.h"
#include "latentkit/pipelines/pairwise_tools.h"

namespace latentkit {
namespace {
using Clock = std::chrono::steady_clock;
}  // namespace

void validate_pairwise_stages(const VaeGmmKMeansStage& kmeans, const VaeGmmMmdStage& mmd) {
  if (kmeans.enabled) {
    LK_FLAG_CHECK(kmeans.k_min >= 2 && kmeans.k_min <= kmeans.k_max,
                  "--kmeans-k-min/--kmeans-k-max: need 2 <= k_min <= k_max, got "
                      << kmeans.k_min << ".." << kmeans.k_max);
    LK_FLAG_CHECK(kmeans.n_init >= 1, "--kmeans-n-init must be >= 1, got " << kmeans.n_init);
    LK_FLAG_CHECK(kmeans.silhouette_sample >= -1,
                  "--silhouette-sample must be -1 (auto), 0 (exact) or a sample size, got "
                      << kmeans.silhouette_sample);
  }
  if (mmd.enabled) {
    LK_FLAG_CHECK(
        mmd.permutations >= 0 && mmd.permutations <= kMaxPermutations,
        "--mmd-permutations must be in [0, " << kMaxPermutations << "], got " << mmd.permutations);
    LK_FLAG_CHECK(mmd.perm_max_points >= -1,
                  "--mmd-perm-max-points must be -1 (auto), 0 (all) or a point count, got "
                      << mmd.perm_max_points);
  }
}

StageResult vae_gmm_kmeans_stage(Backend& backend, const std::vector<float>& generated, int n,
                                 int d, const VaeGmmKMeansStage& opt_in, uint64_t seed,
                                 std::ostream& log) {
  const auto t0 = Clock::now();
  VaeGmmKMeansStage opt = opt_in;
  opt.k_max = std::min(opt.k_max, n - 1);  // the silhouette needs k <= n - 1
  if (opt.k_max < opt.k_min) {
    const std::string why = std::to_string(n) +
                            " generated samples are too few for k >= " + std::to_string(opt.k_min) +
                            " (--kmeans-k-min; k <= n - 1)";
    log << "kmeans skipped: " << why << "\n";
    return StageResult::skip(why);
  }
  const int sample = opt.silhouette_sample >= 0          ? opt.silhouette_sample
                     : backend.kind() == DeviceKind::Cpu ? kCpuSilhouetteSample
                                                         : 0;
  KMeansOptions ko;
  ko.n_init = opt.n_init;
  ko.seed = seed;
  Array<float> xb = backend.upload(generated);
  const KMeansSweep sweep =
      kmeans_sweep(backend, xb.data(), n, d, opt.k_min, opt.k_max, ko, sample);
  StageResult stage;
  nlohmann::json& j = stage.result;
  j = kmeans_report(sweep, d, sample);
  j["on"] = "generated";
  j["n"] = n;
  j["n_init"] = opt.n_init;
  j["k_max_requested"] = opt_in.k_max;
  j["k_max_used"] = opt.k_max;
  stage.seconds = seconds_since(t0);
  log << "kmeans on " << n << " generated samples, k=" << opt.k_min << ".." << opt.k_max
      << ": best k by silhouette = " << sweep.best_k_silhouette;
  for (const auto& e : sweep.per_k)
    if (e.fit.k == sweep.best_k_silhouette) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "%.4f", e.silhouette.score);
      log << " (silhouette " << buf << ")";
    }
  log << "; silhouette "
      << (sample > 0 && sample < n ? "on a sample of " + std::to_string(sample)
                                   : std::string("exact"))
      << ", " << stage.seconds << " s\n";
  return stage;
}

StageResult vae_gmm_mmd_stage(Backend& backend, const std::vector<float>& data, int n,
                              const std::vector<float>& generated, int m, int d,
                              const VaeGmmMmdStage& opt, uint64_t seed, std::ostream& log) {
  const auto t0 = Clock::now();
  MmdToolOptions mo;
  mo.permutations = opt.permutations;
  mo.perm_max_points = opt.perm_max_points;
  mo.unbiased = opt.unbiased;
  mo.seed = seed;
  StageResult stage;
  nlohmann::json& j = stage.result;
  j = mmd_report(backend, data, n, generated, m, d, mo);
  j["x"] = "data";
  j["y"] = "generated";
  stage.seconds = seconds_since(t0);
  char buf[160];
  std::snprintf(buf, sizeof buf,
                "mmd2(data, generated) = %.6g (%s, rbf, 7 halving bandwidths from h=%.4g)",
                j["mmd2"].get<double>(), j["estimator"].get<std::string>().c_str(),
                j["bandwidths"][0].get<double>());
  log << buf;
  if (opt.permutations > 0) {
    const auto& pt = j["permutation_test"];
    std::snprintf(buf, sizeof buf, ", p_value = %.4g (%d permutations on %d pooled points%s)",
                  j["p_value"].get<double>(), opt.permutations,
                  pt["points_x"].get<int>() + pt["points_y"].get<int>(),
                  pt["subsampled"].get<bool>() ? ", a Philox subsample" : "");
    log << buf;
  }
  log << ", " << stage.seconds << " s\n";
  return stage;
}

}  // namespace latentkit
