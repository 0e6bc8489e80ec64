// Shared by tests/test_ref_kmeans.cpp (CPU backend) and tests/test_kmeans_gpu.cu (CUDA backend):
// the batched k sweep must give every k exactly the fit of a separate kmeans() call.
#pragma once
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "latentkit/families/kmeans.h"

namespace latentkit::test {

// Runs kmeans_sweep(k_min..k_max) and kmeans() for each k on `backend` and expects every field of
// each k's fit to be equal (the same arithmetic: the same bits). Returns the sweep's n_iter per k.
inline std::vector<int> expect_sweep_equals_separate_fits(Backend& backend, const float* X, int n,
                                                          int d, int k_min, int k_max,
                                                          const KMeansOptions& opt,
                                                          int silhouette_sample) {
  const auto sweep = kmeans_sweep(backend, X, n, d, k_min, k_max, opt, silhouette_sample);
  std::vector<int> n_iters;
  const size_t count = static_cast<size_t>(k_max - k_min + 1);
  EXPECT_EQ(sweep.per_k.size(), count);
  if (sweep.per_k.size() != count) return n_iters;
  for (int k = k_min; k <= k_max; ++k) {
    SCOPED_TRACE("k=" + std::to_string(k));
    KMeansOptions o = opt;
    o.k = k;
    const auto one = kmeans(backend, X, n, d, o);
    const auto& fit = sweep.per_k[k - k_min].fit;
    EXPECT_EQ(fit.k, k);
    EXPECT_EQ(fit.labels, one.labels);
    EXPECT_EQ(fit.centers, one.centers);
    EXPECT_EQ(fit.inertia, one.inertia);
    EXPECT_EQ(fit.inertia_trace, one.inertia_trace);
    EXPECT_EQ(fit.n_iter, one.n_iter);
    EXPECT_EQ(fit.best_init, one.best_init);
    EXPECT_EQ(fit.empty_reseeds, one.empty_reseeds);
    n_iters.push_back(fit.n_iter);
  }
  return n_iters;
}

}  // namespace latentkit::test
