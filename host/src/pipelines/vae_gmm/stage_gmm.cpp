// The gmm_bic and mode_coverage stages of vae_gmm (see latentkit/pipelines/vae_gmm_modes.h).
#include "latentkit/pipelines/vae_gmm_modes.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>

#include "latentkit/pipelines/app.h"
#include "latentkit/core/check.h"

namespace latentkit {
namespace {

nlohmann::json curve_json(const GmmSelection& sel) {
  nlohmann::json k = nlohmann::json::array(), bic = k, aic = k, ll = k, iters = k, conv = k;
  for (const GmmFitResult& r : sel.per_k) {
    k.push_back(r.model.k);
    bic.push_back(r.bic);
    aic.push_back(r.aic);
    ll.push_back(r.log_likelihood);
    iters.push_back(r.n_iter);
    conv.push_back(r.converged);
  }
  const std::string chosen =
      (sel.bic_at_upper_edge ? "at least " : "") + std::to_string(sel.best_k_bic);
  return {{"k", k},
          {"bic", bic},
          {"aic", aic},
          {"log_likelihood", ll},
          {"n_iter", iters},
          {"converged", conv},
          {"best_k_bic", sel.best_k_bic},
          {"best_k_aic", sel.best_k_aic},
          {"best_k_at_upper_edge", sel.bic_at_upper_edge},
          {"chosen_k", chosen}};
}

void print_curve(std::ostream& log, const char* name, const GmmSelection& sel) {
  log << "  " << name << ": BIC";
  char buf[64];
  for (const GmmFitResult& r : sel.per_k) {
    std::snprintf(buf, sizeof buf, " K%d=%.0f", r.model.k, r.bic);
    log << buf;
  }
  log << "\n    chosen K = " << (sel.bic_at_upper_edge ? "at least " : "") << sel.best_k_bic
      << " (AIC: " << sel.best_k_aic << ")\n";
}

}  // namespace

void validate_gmm_stage(const GmmStageOptions& opt) {
  if (!opt.enabled) return;
  LK_FLAG_CHECK(
      opt.k_min >= 1 && opt.k_max >= opt.k_min,
      "--gmm-k-min " << opt.k_min << " / --gmm-k-max " << opt.k_max
                     << ": need 1 <= k-min <= k-max (or --gmm-k-max 0 / --no-gmm to skip)");
  LK_FLAG_CHECK(opt.n_init >= 1 && opt.n_init <= kGmmMaxRestarts,
                "--gmm-n-init must be in [1, " << kGmmMaxRestarts << "], got " << opt.n_init);
  LK_FLAG_CHECK(opt.max_iter >= 1, "--gmm-max-iter must be >= 1, got " << opt.max_iter);
}

StageResult run_gmm_bic_stage(Backend& backend, const GmmStageOptions& opt,
                              const std::vector<float>& generated, int n_generated,
                              const std::vector<float>& data, int n_data, int d, uint64_t seed,
                              std::ostream& log, const decltype(GmmConfig::progress)& progress) {
  const auto t0 = std::chrono::steady_clock::now();
  if (!opt.enabled) {
    log << "gmm_bic: skipped (" << opt.switched_off_by << ")\n";
    return StageResult::skip("switched off by " + opt.switched_off_by);
  }
  StageResult stage;
  nlohmann::json& out = stage.result;
  GmmConfig cfg;
  cfg.max_iter = opt.max_iter;
  cfg.seed = seed;
  cfg.progress = progress;
  out["config"] = {{"k_min", opt.k_min},   {"k_max", opt.k_max},
                   {"n_init", opt.n_init}, {"max_iter", opt.max_iter},
                   {"covariance", "full"}, {"init", enum_name(cfg.init)},
                   {"tol", cfg.tol},       {"reg_covar", cfg.reg_covar}};
  log << "gmm_bic: K=" << opt.k_min << ".." << opt.k_max << ", " << opt.n_init
      << " restarts each, full covariances\n";
  // One BIC curve per set ("generated", "data"), or the reason it was skipped.
  auto fit_set = [&](const char* name, const std::vector<float>& x, int n, const char* rows) {
    if (n >= opt.k_max) {
      const GmmSelection sel =
          fit_gmm_select(backend, x, n, d, opt.k_min, opt.k_max, opt.n_init, cfg);
      out[name] = curve_json(sel);
      stage.parts.emplace_back(name, sel.seconds);
      print_curve(log, name, sel);
    } else {
      out[name] = skipped_json("fewer " + std::string(rows) + " (" + std::to_string(n) +
                               ") than --gmm-k-max");
      log << "  " << name << ": skipped (fewer " << rows << " than --gmm-k-max)\n";
    }
  };
  fit_set("generated", generated, n_generated, "generated samples");
  fit_set("data", data, n_data, "data rows");
  stage.seconds = seconds_since(t0);
  return stage;
}

StageResult run_mode_coverage_stage(const MixtureTruth* truth, const std::vector<float>& generated,
                                    int n_generated, int d, const std::string& skip_reason,
                                    std::ostream& log) {
  const auto t0 = std::chrono::steady_clock::now();
  if (!truth || n_generated == 0) {
    const std::string reason = truth ? "no generated samples (--n-generate 0)" : skip_reason;
    log << "mode_coverage: skipped (" << reason << ")\n";
    return StageResult::skip(reason);
  }
  const int k = static_cast<int>(truth->weights.size());
  LK_CHECK(truth->means.size() == static_cast<size_t>(k) * d &&
               truth->variances.size() == static_cast<size_t>(k) * d,
           "mode_coverage: the true mixture has other dimensions than the samples");
  std::vector<int64_t> within(k, 0), nearest_count(k, 0);
  int64_t off_manifold = 0;
  for (int i = 0; i < n_generated; ++i) {
    const float* x = &generated[static_cast<size_t>(i) * d];
    double best = std::numeric_limits<double>::infinity();
    int best_c = 0;
    for (int c = 0; c < k; ++c) {
      double m2 = 0.0;  // squared Mahalanobis distance, diagonal covariance
      for (int a = 0; a < d; ++a) {
        const double t = x[a] - truth->means[static_cast<size_t>(c) * d + a];
        m2 += t * t / truth->variances[static_cast<size_t>(c) * d + a];
      }
      if (m2 < best) {
        best = m2;
        best_c = c;
      }
    }
    ++nearest_count[best_c];
    if (std::isfinite(best) && best <= kModeRadius * kModeRadius) {
      ++within[best_c];
    } else {
      ++off_manifold;
    }
  }
  nlohmann::json comps = nlohmann::json::array();
  int covered = 0;
  log << "mode_coverage: share of generated samples within Mahalanobis " << kModeRadius
      << " of each true component (vs its weight)\n";
  for (int c = 0; c < k; ++c) {
    const double share = static_cast<double>(within[c]) / n_generated;
    const double w = truth->weights[c];
    const bool is_covered = share >= kModeCoveredShare * w;
    covered += is_covered;
    comps.push_back({{"component", c},
                     {"weight", w},
                     {"share_within", share},
                     {"share_nearest", static_cast<double>(nearest_count[c]) / n_generated},
                     {"ratio", w > 0 ? share / w : 0.0},
                     {"covered", is_covered}});
    char buf[128];
    std::snprintf(buf, sizeof buf, "  component %2d: weight %.3f  share %.3f  (%.0f%%)%s\n", c, w,
                  share, w > 0 ? 100.0 * share / w : 0.0, is_covered ? "" : "  NOT covered");
    log << buf;
  }
  const double off = static_cast<double>(off_manifold) / n_generated;
  log << "  components covered: " << covered << " of " << k << ", off-manifold fraction: " << off
      << "\n";
  StageResult stage;
  stage.result = {{"radius", kModeRadius},
                  {"covered_share_of_weight", kModeCoveredShare},
                  {"n_generated", n_generated},
                  {"components", comps},
                  {"components_covered", covered},
                  {"n_components", k},
                  {"off_manifold_fraction", off},
                  {"note",
                   "even a perfect sampler puts only part of each weight within radius 3: "
                   "97.1% in 3-D (chi-square with 3 degrees of freedom)"}};
  stage.seconds = seconds_since(t0);
  return stage;
}

}  // namespace latentkit
