// The vae_gmm analysis stages of the GMM family (host/src/pipelines/vae_gmm/stage_gmm.cpp), called
// from run_vae_gmm at its "analysis stages" marker:
//   gmm_bic:       (a data set with fewer rows than k_max is skipped, with the reason)
//                  Gaussian mixtures for K = k_min..k_max with n_init restarts (one batch per data
//                  set) on the generated samples and on the true data; both BIC curves, the K of
//                  lowest BIC, flagged "at least K" when it sits at the upper edge of the range.
//   mode_coverage: each generated sample goes to its nearest true component by Mahalanobis
//                  distance; per true component the share of samples within distance 3 versus
//                  its weight; covered when the share is >= 50% of the weight; the fraction of
//                  samples beyond distance 3 of every component (off the manifold).
// Each returns its StageResult (summary.json's results.<name>, latentkit/io/summary.h: the
// figures, or skipped with the reason) and prints a short report.
// Tests: tests/test_vae_gmm.cpp (end to end), tests/test_ref_gmm.cpp (the fits),
// tests/test_vae_gmm_stages.cpp (mode_coverage by hand).
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <vector>

#include "latentkit/core/backend.h"
#include "latentkit/families/gmm.h"
#include "latentkit/io/data.h"
#include "latentkit/io/summary.h"

namespace latentkit {

struct GmmStageOptions {
  bool enabled = true;  // --no-gmm (or --gmm-k-max 0) switches both stages off
  std::string switched_off_by = "--no-gmm";  // the flag that did, for the skip reasons
  int k_min = 5, k_max = 15;
  // 5 restarts: with one, BIC picked K = 14 and 12 on the true 10-component data for two of three
  // seeds (local optima, measured with scikit-learn); five gave 10, 11, 10.
  int n_init = 5;
  int max_iter = 100;
};

// Throws InputError for an impossible setting (checked before any work or output).
void validate_gmm_stage(const GmmStageOptions& opt);

// `progress` (GmmConfig::progress) reports the batched fits as they advance.
// Parts timed (timings_s.gmm_bic.<part>): generated, data (each set's batched fit).
StageResult run_gmm_bic_stage(Backend& backend, const GmmStageOptions& opt,
                              const std::vector<float>& generated, int n_generated,
                              const std::vector<float>& data, int n_data, int d, uint64_t seed,
                              std::ostream& log,
                              const decltype(GmmConfig::progress)& progress = nullptr);

// Mahalanobis radius of "within a component" and the share of its weight that counts as covered.
constexpr double kModeRadius = 3.0;
constexpr double kModeCoveredShare = 0.5;

// truth == nullptr (CSV input): recorded as skipped with `skip_reason`.
StageResult run_mode_coverage_stage(const MixtureTruth* truth, const std::vector<float>& generated,
                                    int n_generated, int d, const std::string& skip_reason,
                                    std::ostream& log);

}  // namespace latentkit
