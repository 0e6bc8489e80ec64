// CPU tests of the MMD reference (host/ref/mmd.cpp) and the host API on the CPU backend: kernel
// sums against a direct double loop (halving RBF list, a general list, IMQ); the weighted sums
// behind the permutation test and the device gradient against a direct loop; the gradient against
// central finite differences in float64; statistics (biased >= 0; one distribution ~ 0 within the
// permutation null's spread; a shifted one far above it with the smallest p-value); the label
// algebra (the observed labelling reproduces MMD^2); the median heuristic by hand.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "latentkit/core/backend.h"
#include "latentkit/core/check.h"
#include "latentkit/families/mmd.h"
#include "latentkit/ref/mmd_ref.h"
#include "test_util.h"

namespace {

using latentkit::MmdKernel;
using latentkit::test::random_uniform;

double direct_kernel_sum(const std::vector<double>& A, int na, const std::vector<double>& B, int nb,
                         int d, MmdKernel kind, const std::vector<double>& p) {
  double total = 0.0;
  for (int i = 0; i < na; ++i)
    for (int j = 0; j < nb; ++j) {
      double d2 = 0.0;
      for (int c = 0; c < d; ++c) {
        const double diff = A[i * d + c] - B[j * d + c];
        d2 += diff * diff;
      }
      for (double h : p) total += kind == MmdKernel::Rbf ? std::exp(-d2 / (2 * h)) : h / (h + d2);
    }
  return total;
}

std::vector<double> normal(size_t n, std::mt19937_64& rng, double shift = 0.0) {
  std::normal_distribution<double> g(0.0, 1.0);
  std::vector<double> v(n);
  for (auto& x : v) x = g(rng) + shift;
  return v;
}

struct KernelCase {
  MmdKernel kind;
  std::vector<double> params;
};

const std::vector<KernelCase>& kernel_cases() {
  static const std::vector<KernelCase> cases = {
      {MmdKernel::Rbf, latentkit::halving_list(4.0, 7)},  // the seed's list: squaring path
      {MmdKernel::Rbf, {0.3, 1.7, 5.0}},                  // general list: one exp each
      {MmdKernel::Imq, {0.5, 2.0}}};
  return cases;
}

TEST(RefMmd, KernelSumsMatchDirectLoop) {
  LK_SEEDED_RNG(rng);
  for (const auto& kc : kernel_cases()) {
    const int na = 31, nb = 33, d = 3;
    const auto A = normal(na * d, rng), B = normal(nb * d, rng, 0.5);
    const int cnt = static_cast<int>(kc.params.size());
    const double ab = latentkit::ref::mmd_kernel_sum(A.data(), na, B.data(), nb, d, kc.kind,
                                                     kc.params.data(), cnt);
    const double aa = latentkit::ref::mmd_kernel_sum(A.data(), na, A.data(), na, d, kc.kind,
                                                     kc.params.data(), cnt);
    // float64 sums of ~1000 terms; squaring 6 times multiplies exp's 1-ulp error by 64: 1e-12 is
    // still 1000x that.
    EXPECT_NEAR(ab, direct_kernel_sum(A, na, B, nb, d, kc.kind, kc.params), 1e-12 * std::fabs(ab));
    EXPECT_NEAR(aa, direct_kernel_sum(A, na, A, na, d, kc.kind, kc.params), 1e-12 * std::fabs(aa));
  }
}

TEST(RefMmd, WeightedSumsMatchDirectLoop) {
  LK_SEEDED_RNG(rng);
  for (const auto& kc : kernel_cases())
    for (bool slope : {false, true}) {
      const int na = 7, nb = 9, d = 2, ncols = 5;
      const auto A = normal(na * d, rng), B = normal(nb * d, rng);
      const auto V = random_uniform<float>(nb * ncols, rng, -1.0, 1.0);
      std::vector<double> R(na * ncols);
      const int cnt = static_cast<int>(kc.params.size());
      latentkit::ref::mmd_weighted_sums(A.data(), na, B.data(), nb, d, kc.kind, kc.params.data(),
                                        cnt, slope, V.data(), ncols, R.data());
      for (int i = 0; i < na; ++i)
        for (int c = 0; c < ncols; ++c) {
          double expect = 0.0;
          for (int j = 0; j < nb; ++j) {
            double d2 = 0.0;
            for (int e = 0; e < d; ++e) d2 += std::pow(A[i * d + e] - B[j * d + e], 2);
            double f = 0.0;
            for (double h : kc.params) {
              if (kc.kind == MmdKernel::Rbf)
                f += slope ? std::exp(-d2 / (2 * h)) / (2 * h) : std::exp(-d2 / (2 * h));
              else
                f += slope ? h / ((h + d2) * (h + d2)) : h / (h + d2);
            }
            expect += f * V[j * ncols + c];
          }
          EXPECT_NEAR(R[i * ncols + c], expect, 1e-12 * (1 + std::fabs(expect)));
        }
    }
}

TEST(RefMmd, GradientMatchesFiniteDifferences) {
  LK_SEEDED_RNG(rng);
  for (const auto& kc : kernel_cases())
    for (bool unbiased : {false, true}) {
      const int n = 5, m = 4, d = 3;
      const auto X = normal(n * d, rng);
      auto Y = normal(m * d, rng, 0.7);
      const int cnt = static_cast<int>(kc.params.size());
      std::vector<double> grad(m * d);
      latentkit::ref::mmd2_grad_y(X.data(), n, Y.data(), m, d, kc.kind, kc.params.data(), cnt,
                                  unbiased, grad.data());
      std::vector<double> fd(m * d);
      const double eps = 1e-5;  // central differences: error ~ eps^2 * f''' ~ 1e-10
      for (int e = 0; e < m * d; ++e) {
        const double keep = Y[e];
        Y[e] = keep + eps;
        const double up = latentkit::ref::mmd2(X.data(), n, Y.data(), m, d, kc.kind,
                                               kc.params.data(), cnt, unbiased);
        Y[e] = keep - eps;
        const double down = latentkit::ref::mmd2(X.data(), n, Y.data(), m, d, kc.kind,
                                                 kc.params.data(), cnt, unbiased);
        Y[e] = keep;
        fd[e] = (up - down) / (2 * eps);
      }
      // Truncation ~1e-10 plus rounding 1e-16 / 1e-5 = 1e-11 of O(1) values.
      EXPECT_TRUE(latentkit::test::all_close(grad, fd, {1e-8, 1e-6, 1e-6}))
          << latentkit::enum_name(kc.kind) << " unbiased=" << unbiased;
    }
}

TEST(RefMmd, LabelAlgebraReproducesMmd) {
  LK_SEEDED_RNG(rng);
  const int n = 13, m = 17, d = 2, N = n + m;
  const auto Z = normal(N * d, rng);
  const auto& kc = kernel_cases()[0];
  const int cnt = static_cast<int>(kc.params.size());
  // V = [ones, observed labels]
  std::vector<float> V(N * 2);
  for (int i = 0; i < N; ++i) {
    V[i * 2] = 1.f;
    V[i * 2 + 1] = i < n ? 1.f : 0.f;
  }
  std::vector<double> R(N * 2);
  latentkit::ref::mmd_weighted_sums(Z.data(), N, Z.data(), N, d, kc.kind, kc.params.data(), cnt,
                                    false, V.data(), 2, R.data());
  double sxx = 0, sx = 0, total = 0;
  for (int i = 0; i < N; ++i) {
    total += R[i * 2];
    if (i < n) {
      sxx += R[i * 2 + 1];
      sx += R[i * 2];
    }
  }
  for (bool unbiased : {false, true}) {
    const double direct = latentkit::ref::mmd2(Z.data(), n, Z.data() + n * d, m, d, kc.kind,
                                               kc.params.data(), cnt, unbiased);
    const double algebra =
        latentkit::ref::mmd2_from_label_sums(sxx, sx, total, n, m, cnt, unbiased);
    EXPECT_NEAR(algebra, direct, 1e-12 * (1 + std::fabs(direct)));
  }
  // Permutation labels: exactly n ones, reproducible, different across permutations.
  std::vector<uint8_t> a(N), b(N), c(N);
  latentkit::ref::mmd_permutation_labels(42, 1, N, n, a.data());
  latentkit::ref::mmd_permutation_labels(42, 1, N, n, b.data());
  latentkit::ref::mmd_permutation_labels(42, 2, N, n, c.data());
  EXPECT_EQ(std::count(a.begin(), a.end(), 1), n);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);  // equal with probability 1 / C(30, 13) ~ 8e-9
}

TEST(RefMmd, StatisticsSameVersusShiftedDistribution) {
  LK_SEEDED_RNG(rng);
  auto backend = latentkit::make_cpu_backend();
  const int n = 200, m = 200, d = 3, perms = 99;
  latentkit::MmdKernelSpec spec{MmdKernel::Rbf, latentkit::halving_list(6.0, 7)};
  const auto to_f = [](const std::vector<double>& v) {
    return std::vector<float>(v.begin(), v.end());
  };
  const auto X = backend->upload(to_f(normal(n * d, rng)));
  const auto Ysame = backend->upload(to_f(normal(m * d, rng)));
  const auto Yshift = backend->upload(to_f(normal(m * d, rng, 1.0)));
  const uint64_t seed = rng();

  // Biased estimator is a squared RKHS norm: >= 0 (up to rounding) even for one distribution.
  EXPECT_GE(latentkit::mmd2(*backend, X.data(), n, Ysame.data(), m, d, spec, false), -1e-12);

  // The standard error under H0 from the permutation null distribution (its spread is the
  // estimator's sampling spread when X and Y share a distribution).
  const auto same = latentkit::mmd_permutation_test(*backend, X.data(), n, Ysame.data(), m, d,
                                                    spec, true, perms, seed, 0);
  const double mmd_same = latentkit::mmd2(*backend, X.data(), n, Ysame.data(), m, d, spec, true);
  EXPECT_NEAR(same.observed, mmd_same, 1e-9);
  ASSERT_EQ(same.permuted.size(), size_t(perms));
  const double se = same.null_std();
  ASSERT_GT(se, 0.0);
  // The unbiased estimator has mean 0 under H0 (so has the permutation null, up to its own
  // noise), but it is not Gaussian: asymptotically n MMD^2 ~ sum_l lambda_l (Z_l^2 - 1), a light
  // left tail (>= -sum lambda_l / n) and a heavy right one. Worst case a single term:
  // P(Z^2 - 1 > t sqrt(2)) = 1e-4 at t = 10 (|Z| > 3.9); the left tail is at most Gaussian-like.
  // So the observed value lies in (-4 se, 10 se) except with probability ~1e-4 (a symmetric
  // 4 se bound failed for ~1 % of seeds, up to 5.6 se seen in 800 runs).
  EXPECT_GT(mmd_same, -4 * se) << "se " << se;
  EXPECT_LT(mmd_same, 10 * se) << "se " << se;
  EXPECT_LT(std::fabs(same.null_mean()), 4 * se / std::sqrt(double(perms)) + 0.5 * se);
  EXPECT_GE(same.p_value, 1.0 / (1 + perms));  // p-values are uniform under H0; >= 1/(1+P)

  const double mmd_shift = latentkit::mmd2(*backend, X.data(), n, Yshift.data(), m, d, spec, true);
  EXPECT_GT(mmd_shift, 10 * se);  // a unit shift in every dimension: far outside the null
  const auto shifted = latentkit::mmd_permutation_test(*backend, X.data(), n, Yshift.data(), m,
                                                       d, spec, true, perms, seed, 0);
  EXPECT_DOUBLE_EQ(shifted.p_value, 1.0 / (1 + perms));

  // Same seed: same p-value (reproducible); a subsample is recorded as such.
  const auto again = latentkit::mmd_permutation_test(*backend, X.data(), n, Ysame.data(), m, d,
                                                     spec, true, perms, seed, 0);
  EXPECT_EQ(again.p_value, same.p_value);
  const auto sub = latentkit::mmd_permutation_test(*backend, X.data(), n, Yshift.data(), m, d, spec,
                                                   true, 19, seed, 100);
  EXPECT_TRUE(sub.subsampled);
  EXPECT_EQ(sub.points_x + sub.points_y, 100);
}

TEST(RefMmd, MedianHeuristicAndBadInput) {
  // Pooled points 0, 1, 3 on a line: squared distances 1, 9, 4 -> median 4.
  const std::vector<float> X = {0.f, 1.f}, Y = {3.f};
  EXPECT_DOUBLE_EQ(latentkit::median_heuristic(X, 2, Y, 1, 1, 7, 0), 4.0);
  int used = 0;
  std::vector<float> big(1000);
  for (int i = 0; i < 1000; ++i) big[i] = float(i);
  latentkit::median_heuristic(big, 600, std::vector<float>(big.begin() + 600, big.end()), 400, 1, 7,
                              50, &used);
  EXPECT_EQ(used, 50);
  const std::vector<float> same(10, 2.f);
  EXPECT_THROW(latentkit::median_heuristic(same, 5, same, 5, 2, 7, 0), latentkit::InputError);
  EXPECT_THROW(latentkit::parse_enum<MmdKernel>("gauss"), latentkit::InputError);
  auto backend = latentkit::make_cpu_backend();
  auto a = backend->upload(std::vector<float>{1.f, 2.f});
  latentkit::MmdKernelSpec spec{MmdKernel::Rbf, {1.0}};
  EXPECT_THROW(latentkit::mmd2(*backend, a.data(), 1, a.data(), 2, 1, spec, true),
               latentkit::InputError);  // unbiased with one row
  spec.params = {-1.0};
  EXPECT_THROW(latentkit::mmd2(*backend, a.data(), 2, a.data(), 2, 1, spec, false),
               latentkit::InputError);
}

}  // namespace
