// vae_gmm's kmeans and mmd stages (latentkit/vae_gmm_mmd_kmeans.h).
#include "latentkit/vae_gmm_mmd_kmeans.h"

#include <chrono>
#include <cstdio>

#include "latentkit/check.h"
#include "latentkit/kmeans.h"
#include "latentkit/pairwise_tools.h"

namespace latentkit {
namespace {
using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}
}  // namespace

nlohmann::json vae_gmm_kmeans_stage(Backend& backend, const std::vector<float>& generated, int n,
                                    int d, const VaeGmmKMeansStage& opt, uint64_t seed,
                                    std::ostream& log) {
  const auto t0 = Clock::now();
  LK_INPUT_CHECK(opt.k_min >= 2 && opt.k_min <= opt.k_max,
                 "--kmeans-k-min/--kmeans-k-max: need 2 <= k_min <= k_max, got " << opt.k_min << ".."
                                                                                  << opt.k_max);
  LK_INPUT_CHECK(opt.k_max < n, "the kmeans stage needs more generated samples than --kmeans-k-max ("
                                    << opt.k_max << "), got " << n
                                    << "; raise --n-generate or use --skip-kmeans");
  const int sample = opt.silhouette_sample >= 0 ? opt.silhouette_sample
                     : backend.kind() == DeviceKind::Cpu ? kCpuSilhouetteSample
                                                         : 0;
  KMeansOptions ko;
  ko.n_init = opt.n_init;
  ko.seed = seed;
  Array<float> xb = backend.upload(generated);
  const KMeansSweep sweep = kmeans_sweep(backend, xb.data(), n, d, opt.k_min, opt.k_max, ko, sample);
  nlohmann::json j = kmeans_report(sweep, d, sample);
  j["on"] = "generated";
  j["n"] = n;
  j["n_init"] = opt.n_init;
  j["seconds"] = seconds_since(t0);
  log << "kmeans on " << n << " generated samples, k=" << opt.k_min << ".." << opt.k_max
      << ": best k by silhouette = " << sweep.best_k_silhouette;
  for (const auto& e : sweep.per_k)
    if (e.fit.k == sweep.best_k_silhouette) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "%.4f", e.silhouette.score);
      log << " (silhouette " << buf << ")";
    }
  log << "; silhouette " << (sample > 0 && sample < n ? "on a sample of " + std::to_string(sample)
                                                      : std::string("exact"))
      << ", " << j["seconds"].get<double>() << " s\n";
  return j;
}

nlohmann::json vae_gmm_mmd_stage(Backend& backend, const std::vector<float>& data, int n,
                                 const std::vector<float>& generated, int m, int d,
                                 const VaeGmmMmdStage& opt, uint64_t seed, std::ostream& log) {
  const auto t0 = Clock::now();
  MmdToolOptions mo;
  mo.permutations = opt.permutations;
  mo.perm_max_points = opt.perm_max_points;
  mo.unbiased = opt.unbiased;
  mo.seed = seed;
  nlohmann::json j = mmd_report(backend, data, n, generated, m, d, mo);
  j["x"] = "data";
  j["y"] = "generated";
  j["seconds"] = seconds_since(t0);
  char buf[160];
  std::snprintf(buf, sizeof buf, "mmd2(data, generated) = %.6g (%s, rbf, 7 halving bandwidths from h=%.4g)",
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
  log << ", " << j["seconds"].get<double>() << " s\n";
  return j;
}

}  // namespace latentkit
