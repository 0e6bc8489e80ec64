// CPU tests of the KMeans reference (host/ref/kmeans.cpp) and the host API on the CPU backend:
// assign against brute force with exact ties (integer data: the smaller index wins), update sums,
// the Lloyd inertia non-increasing at every step, recovery of well-separated blob centres, the
// silhouette against a brute-force computation from the full distance matrix, the sweep's choice
// of k, reproducibility, and bad input (k > n, one cluster for the silhouette).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "kmeans_sweep_check.h"
#include "latentkit/core/backend.h"
#include "latentkit/core/check.h"
#include "latentkit/families/kmeans.h"
#include "latentkit/ref/kmeans_ref.h"
#include "test_util.h"

namespace {

// n points around each of the given centres (d = 2), N(0, sigma^2) noise.
std::vector<float> blobs(const std::vector<std::vector<float>>& centres, int per, double sigma,
                         std::mt19937_64& rng, std::vector<int>* truth = nullptr) {
  std::normal_distribution<double> g(0.0, sigma);
  std::vector<float> X;
  for (size_t c = 0; c < centres.size(); ++c)
    for (int i = 0; i < per; ++i) {
      for (float v : centres[c]) X.push_back(static_cast<float>(v + g(rng)));
      if (truth) truth->push_back(static_cast<int>(c));
    }
  return X;
}

const std::vector<std::vector<float>> kCentres = {{0, 0}, {10, 0}, {0, 10}, {10, 10}};

TEST(RefKMeans, AssignMatchesBruteForceWithTies) {
  LK_SEEDED_RNG(rng);
  std::uniform_int_distribution<int> coord(-3, 3);
  const int n = 101, d = 2, k = 7;
  std::vector<float> X(n * d), C(k * d);
  for (auto& v : X) v = float(coord(rng));
  for (auto& v : C) v = float(coord(rng));
  C[2] = C[0];  // centre 1 duplicates centre 0: every tie must go to 0
  C[3] = C[1];
  std::vector<int32_t> labels(n), prev(n, 0);
  std::vector<float> md(n);
  int changed = -1;
  const double inertia = latentkit::ref::kmeans_assign(X.data(), n, d, C.data(), k, prev.data(),
                                                       labels.data(), md.data(), &changed);
  double expect_inertia = 0;
  int expect_changed = 0;
  for (int i = 0; i < n; ++i) {
    int best = 0;
    double bd = std::numeric_limits<double>::infinity();
    for (int c = 0; c < k; ++c) {
      const double dd = std::pow(X[i * d] - C[c * d], 2) + std::pow(X[i * d + 1] - C[c * d + 1], 2);
      if (dd < bd) {
        bd = dd;
        best = c;
      }
    }
    EXPECT_EQ(labels[i], best);
    EXPECT_NE(labels[i], 1);
    EXPECT_EQ(md[i], float(bd));
    expect_inertia += bd;
    expect_changed += best != 0;
  }
  EXPECT_EQ(inertia, expect_inertia);  // integer data: exact
  EXPECT_EQ(changed, expect_changed);
}

TEST(RefKMeans, UpdateSums) {
  const std::vector<float> X = {1, 2, 3, 4, 5, 6};
  const std::vector<int32_t> lab = {1, 0, 1};
  std::vector<double> sums(3 * 2), counts(3);
  latentkit::ref::kmeans_update_sums(X.data(), 3, 2, lab.data(), 3, sums.data(), counts.data());
  EXPECT_EQ(sums, (std::vector<double>{3, 4, 6, 8, 0, 0}));
  EXPECT_EQ(counts, (std::vector<double>{1, 2, 0}));
}

TEST(RefKMeans, InertiaNonIncreasingAndRecoversBlobs) {
  LK_SEEDED_RNG(rng);
  auto backend = latentkit::make_cpu_backend();
  const int per = 150, d = 2;
  const auto Xh = blobs(kCentres, per, 0.5, rng);
  const int n = per * 4;
  auto X = backend->upload(Xh);
  latentkit::KMeansOptions opt;
  opt.k = 4;
  opt.n_init = 3;
  opt.seed = rng();
  const auto res = latentkit::kmeans(*backend, X.data(), n, d, opt);
  ASSERT_FALSE(res.inertia_trace.empty());
  for (size_t t = 1; t < res.inertia_trace.size(); ++t)
    EXPECT_LE(res.inertia_trace[t], res.inertia_trace[t - 1] * (1 + 1e-12)) << "step " << t;
  // Every true centre has a fitted centre within 0.2 (the mean of 150 points with sigma 0.5 has
  // standard error 0.04 per coordinate).
  for (const auto& c : kCentres) {
    double best = 1e9;
    for (int j = 0; j < 4; ++j)
      best = std::min<double>(best,
                              std::hypot(res.centers[j * 2] - c[0], res.centers[j * 2 + 1] - c[1]));
    EXPECT_LT(best, 0.2);
  }
  // Inertia ~ n d sigma^2 = 600 * 2 * 0.25 = 300 (chi-square with 1200 dof: +-4 sd = +-16%).
  EXPECT_NEAR(res.inertia, 300.0, 60.0);
  // Reproducible with the same seed.
  const auto again = latentkit::kmeans(*backend, X.data(), n, d, opt);
  EXPECT_EQ(again.labels, res.labels);
  EXPECT_EQ(again.inertia, res.inertia);
}

double brute_silhouette(const std::vector<float>& X, int n, int d, const std::vector<int32_t>& l,
                        int k) {
  std::vector<double> D(size_t(n) * n);
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) {
      double s = 0;
      for (int c = 0; c < d; ++c) s += std::pow(double(X[i * d + c]) - X[j * d + c], 2);
      D[size_t(i) * n + j] = std::sqrt(s);
    }
  double total = 0;
  for (int i = 0; i < n; ++i) {
    std::vector<double> sum(k, 0.0);
    std::vector<int> cnt(k, 0);
    for (int j = 0; j < n; ++j) {
      sum[l[j]] += D[size_t(i) * n + j];
      cnt[l[j]]++;
    }
    if (cnt[l[i]] == 1) continue;  // s = 0
    const double a = sum[l[i]] / (cnt[l[i]] - 1);
    double b = 1e300;
    for (int c = 0; c < k; ++c)
      if (c != l[i] && cnt[c] > 0) b = std::min(b, sum[c] / cnt[c]);
    total += (b - a) / std::max(a, b);
  }
  return total / n;
}

TEST(RefKMeans, SilhouetteEqualsBruteForce) {
  LK_SEEDED_RNG(rng);
  auto backend = latentkit::make_cpu_backend();
  const int n = 97, d = 3, k = 5;
  const auto Xh = latentkit::test::random_uniform<float>(n * d, rng, -1.0, 1.0);
  std::vector<int32_t> lh(n);
  std::uniform_int_distribution<int> lab(0, k - 2);  // cluster k-1 empty
  for (auto& v : lh) v = lab(rng);
  lh[5] = 3;
  for (int i = 0; i < n; ++i)
    if (i != 5 && lh[i] == 3) lh[i] = 0;  // cluster 3 a singleton
  auto X = backend->upload(Xh);
  auto L = backend->upload(lh);
  const auto res = latentkit::silhouette(*backend, X.data(), n, d, L.data(), k, 0, 1);
  EXPECT_NEAR(res.score, brute_silhouette(Xh, n, d, lh, k), 1e-12);
  EXPECT_EQ(res.points, n);
  EXPECT_FALSE(res.sampled);
  // A sample: the brute force of the same sampled points (the score is a mean over the sample).
  const auto sub = latentkit::silhouette(*backend, X.data(), n, d, L.data(), k, 40, 1);
  EXPECT_TRUE(sub.sampled);
  EXPECT_EQ(sub.points, 40);
  EXPECT_GE(sub.score, -1.0);
  EXPECT_LE(sub.score, 1.0);
  // One cluster only: rejected.
  auto one = backend->upload(std::vector<int32_t>(n, 2));
  EXPECT_THROW(latentkit::silhouette(*backend, X.data(), n, d, one.data(), k, 0, 1),
               latentkit::InputError);
}

TEST(RefKMeans, SweepPicksTheTrueKAndRejectsBadK) {
  LK_SEEDED_RNG(rng);
  auto backend = latentkit::make_cpu_backend();
  const auto Xh = blobs(kCentres, 60, 0.6, rng);
  const int n = 240, d = 2;
  auto X = backend->upload(Xh);
  latentkit::KMeansOptions opt;
  opt.n_init = 2;
  opt.seed = rng();
  const auto sweep = latentkit::kmeans_sweep(*backend, X.data(), n, d, 2, 6, opt, 0);
  ASSERT_EQ(sweep.per_k.size(), 5u);
  EXPECT_EQ(sweep.best_k_silhouette, 4);
  for (size_t i = 1; i < sweep.per_k.size(); ++i)  // more clusters never fit worse here
    EXPECT_LE(sweep.per_k[i].fit.inertia, sweep.per_k[i - 1].fit.inertia * 1.05);
  opt.k = n + 1;
  EXPECT_THROW(latentkit::kmeans(*backend, X.data(), n, d, opt), latentkit::InputError);
  EXPECT_THROW(latentkit::kmeans_sweep(*backend, X.data(), n, d, 1, 3, opt, 0),
               latentkit::InputError);
}

TEST(RefKMeans, DuplicatePointsDoNotBreakIt) {
  // Three distinct locations, k = 5: clusters go empty and are reseeded; the fit still has
  // inertia 0 and labels in range.
  auto backend = latentkit::make_cpu_backend();
  std::vector<float> Xh;
  for (int i = 0; i < 30; ++i) Xh.push_back(float(i % 3));
  auto X = backend->upload(Xh);
  latentkit::KMeansOptions opt;
  opt.k = 5;
  opt.n_init = 2;
  const auto res = latentkit::kmeans(*backend, X.data(), 30, 1, opt);
  EXPECT_EQ(res.inertia, 0.0);
  for (int32_t l : res.labels) EXPECT_TRUE(l >= 0 && l < 5);
}

// The sweep runs every k in one batch of Lloyd steps (slots that stop at different iterations);
// each k must come out exactly as a separate kmeans() fit:
// interleaving the slots may not leak state between them. Overlapping blobs and a few duplicate
// points make the k's converge at different iterations.
TEST(RefKMeans, SweepEqualsSeparateFits) {
  LK_SEEDED_RNG(rng);
  auto backend = latentkit::make_cpu_backend();
  auto Xh = blobs(kCentres, 40, 3.0, rng);
  for (int i = 0; i < 8; ++i) Xh.insert(Xh.end(), {20.f, 20.f});  // duplicates far out
  const int d = 2, n = static_cast<int>(Xh.size()) / d;
  auto X = backend->upload(Xh);
  latentkit::KMeansOptions opt;
  opt.n_init = 3;
  opt.max_iter = 7;  // some k stop on max_iter, others on unchanged labels or tolerance
  opt.seed = rng();
  const auto n_iters =
      latentkit::test::expect_sweep_equals_separate_fits(*backend, X.data(), n, d, 2, 9, opt, 0);
  ASSERT_EQ(n_iters.size(), 8u);
  // Different k stopped at different iterations (the batch shrank while others went on).
  EXPECT_NE(*std::min_element(n_iters.begin(), n_iters.end()),
            *std::max_element(n_iters.begin(), n_iters.end()));
}

}  // namespace
