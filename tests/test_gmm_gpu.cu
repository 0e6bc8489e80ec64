// GPU tests of the GMM-EM kernels (kernels/gmm.cu) and of the CUDA path of latentkit/families/gmm.h against
// the CPU reference (host/ref/gmm.cpp): E-step and M-step kernels from identical inputs, whole
// batched fits from identical initialisation, monotone log-likelihood on the device, score,
// predict and sampling, and covariances that are not positive definite (flagged by the kernel,
// refused by score and sample). Each test skips with its reason when no CUDA device is usable.
//
// Tolerances: both sides compute in float64 from float data; they differ only in summation order
// (sequential on the CPU, block trees and chunk partials on the GPU) and in the device's exp/log
// (within 1-2 ulp of the host's). A sum of n terms then differs by ~n ε |sum| in the worst case,
// ~sqrt(n) ε typically: for n <= 1021, 1e-11 relative is > 10x that margin. Whole fits iterate
// EM, which can amplify a 1e-15 perturbation over iterations (more so near a saddle between
// components); 1e-7 relative after 10 iterations of well-separated data leaves room for that.
#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "gpu_test_util.cuh"
#include "kernels/cuda_resources.cuh"
#include "kernels/gmm.cuh"
#include "latentkit/core/backend.h"
#include "latentkit/core/check.h"
#include "latentkit/families/gmm.h"
#include "latentkit/ref/gmm_ref.h"
#include "test_util.h"

namespace latentkit {
namespace {

using test::all_close;
using test::from_device;
using test::kPoison;
using test::to_device;
using test::Tolerance;

std::vector<double> poison_doubles(size_t n) {
  return std::vector<double>(n, static_cast<double>(kPoison));
}

// Random parameters of B models with the given K's, covariances well conditioned.
struct RandomBatch {
  std::vector<int32_t> offset{0}, model;
  std::vector<double> w, mu, cov;
};

RandomBatch random_batch(const std::vector<int>& ks, int d, bool full, std::mt19937_64& rng) {
  RandomBatch b;
  std::uniform_real_distribution<double> u(0.1, 1.0), m(-3, 3), g(-0.3, 0.3);
  for (size_t i = 0; i < ks.size(); ++i) {
    double tot = 0;
    std::vector<double> w(ks[i]);
    for (auto& v : w) tot += (v = u(rng));
    for (int c = 0; c < ks[i]; ++c) {
      b.w.push_back(w[c] / tot);
      b.model.push_back(static_cast<int32_t>(i));
      for (int a = 0; a < d; ++a) b.mu.push_back(m(rng));
      if (full) {
        // A = I + small noise; S = A Aᵀ (SPD, condition number ~ 4).
        std::vector<double> a(d * d);
        for (int r = 0; r < d; ++r)
          for (int s = 0; s < d; ++s) a[r * d + s] = (r == s ? 1.0 : 0.0) + g(rng) / std::sqrt(d);
        for (int r = 0; r < d; ++r)
          for (int s = 0; s < d; ++s) {
            double v = 0;
            for (int t = 0; t < d; ++t) v += a[r * d + t] * a[s * d + t];
            b.cov.push_back(v);
          }
      } else {
        for (int a = 0; a < d; ++a) b.cov.push_back(u(rng) * 2);
      }
    }
    b.offset.push_back(b.offset.back() + ks[i]);
  }
  return b;
}

TEST(GmmGpu, EStepAndMStepMatchReference) {
  LK_REQUIRE_GPU();
  LK_SEEDED_RNG(rng);
  const std::vector<int> ks = {1, 3, 5, 15};
  for (int n : {1, 31, 33, 1021}) {
    for (int d : {1, 2, 3, 7, 32}) {  // 1, 2, 3: compile-time E-step kernels; 7, 32: runtime d
      for (bool full : {true, false}) {
        SCOPED_TRACE("n=" + std::to_string(n) + " d=" + std::to_string(d) +
                     (full ? " full" : " diag"));
        const RandomBatch b = random_batch(ks, d, full, rng);
        const int B = static_cast<int>(ks.size()), C = b.offset.back();
        const size_t cs = full ? static_cast<size_t>(d) * d : d;
        const std::vector<float> x = test::random_uniform(static_cast<size_t>(n) * d, rng, -4, 4);
        // Reference: factors, E-step, M-step per model.
        std::vector<double> chol(C * cs), prec(C * cs), log_norm(C),
            resp(static_cast<size_t>(C) * n);
        std::vector<double> point_ll(static_cast<size_t>(B) * n), mean_ll(B);
        std::vector<int32_t> labels(static_cast<size_t>(B) * n);
        ASSERT_EQ(ref::gmm_precisions(b.w.data(), b.cov.data(), C, d, full, chol.data(),
                                      prec.data(), log_norm.data()),
                  -1);
        for (int m = 0; m < B; ++m) {
          const int c0 = b.offset[m], k = b.offset[m + 1] - c0;
          mean_ll[m] =
              ref::gmm_estep(x.data(), n, d, full, c0, k, b.mu.data(), prec.data(), log_norm.data(),
                             resp.data(), point_ll.data() + m * n, labels.data() + m * n);
        }
        std::vector<double> w_ref(C), mu_ref(C * d), cov_ref(C * cs);
        for (int m = 0; m < B; ++m) {
          const int c0 = b.offset[m], k = b.offset[m + 1] - c0;
          ref::gmm_mstep(x.data(), n, d, full, c0, k, resp.data(), 1e-6, w_ref.data(),
                         mu_ref.data(), cov_ref.data());
        }
        // Device, outputs poisoned first.
        cuda::Stream stream;
        auto x_d = to_device(x, stream);
        auto off_d = to_device(b.offset, stream), model_d = to_device(b.model, stream);
        auto w_d = to_device(b.w, stream), mu_d = to_device(b.mu, stream),
             cov_d = to_device(b.cov, stream);
        auto chol_d = to_device(poison_doubles(C * cs), stream),
             prec_d = to_device(poison_doubles(C * cs), stream);
        auto ln_d = to_device(poison_doubles(C), stream);
        auto bad_d = to_device(std::vector<int32_t>(B, INT32_MAX), stream);
        auto active_d = to_device(std::vector<int32_t>(B, 1), stream);
        const int blocks = cuda::gmm_estep_blocks(n);
        auto resp_d = to_device(poison_doubles(static_cast<size_t>(C) * n), stream);
        auto pll_d = to_device(poison_doubles(static_cast<size_t>(B) * blocks), stream);
        auto point_d = to_device(poison_doubles(static_cast<size_t>(B) * n), stream);
        auto labels_d = to_device(std::vector<int32_t>(static_cast<size_t>(B) * n, -7), stream);
        cuda::gmm_precisions(w_d.data(), cov_d.data(), model_d.data(), off_d.data(),
                             active_d.data(), C, d, full, chol_d.data(), prec_d.data(), ln_d.data(),
                             bad_d.data(), stream.get());
        cuda::gmm_estep(x_d.data(), n, d, full, B, off_d.data(), active_d.data(), mu_d.data(),
                        prec_d.data(), ln_d.data(), resp_d.data(), pll_d.data(), point_d.data(),
                        labels_d.data(), stream.get());
        stream.synchronize();
        EXPECT_EQ(from_device(bad_d, stream), std::vector<int32_t>(B, INT32_MAX));
        // Factors: O(d) float64 operations per entry; 1e-12 covers d = 32.
        EXPECT_TRUE(all_close(from_device(prec_d, stream), prec, Tolerance{1e-12, 1e-12, 1e-12}));
        EXPECT_TRUE(all_close(from_device(ln_d, stream), log_norm, Tolerance{1e-12, 1e-12, 1e-12}));
        EXPECT_TRUE(all_close(from_device(resp_d, stream), resp, Tolerance{1e-11, 1e-11, 1e-11}));
        EXPECT_TRUE(
            all_close(from_device(point_d, stream), point_ll, Tolerance{1e-11, 1e-11, 1e-11}));
        // Labels may differ only where two components tie to 1e-11 (never with random data).
        EXPECT_EQ(from_device(labels_d, stream), labels);
        // The mean log-likelihood is a sum of n point values of either sign (a density above 1
        // has a positive log): its rounding scales with mean |point_ll|, not with the mean itself,
        // which may cancel.
        std::vector<double> ll_bound(B);
        for (int m = 0; m < B; ++m) {
          double abs_sum = 0;
          for (int i = 0; i < n; ++i)
            abs_sum += std::fabs(point_ll[static_cast<size_t>(m) * n + i]);
          ll_bound[m] = 1e-11 * abs_sum / n + 1e-12;
        }
        const std::vector<double> pll = from_device(pll_d, stream);
        for (int m = 0; m < B; ++m) {
          double s = 0;
          for (int blk = 0; blk < blocks; ++blk) s += pll[m * blocks + blk];
          EXPECT_NEAR(s / n, mean_ll[m], ll_bound[m]) << "model " << m;
        }
        // M-step from the device's own responsibilities, then weights through gmm_finalize.
        auto scratch_d =
            to_device(poison_doubles(cuda::gmm_mstep_scratch_size(n, d, full, C)), stream);
        auto nk_d = to_device(poison_doubles(C), stream);
        auto mu2_d = to_device(poison_doubles(C * d), stream),
             cov2_d = to_device(poison_doubles(C * cs), stream);
        auto w2_d = to_device(poison_doubles(C), stream);
        auto lb_d = to_device(std::vector<double>(B, -INFINITY), stream);
        auto it_d = to_device(std::vector<int32_t>(B, 0), stream),
             conv_d = to_device(std::vector<int32_t>(B, 0), stream);
        cuda::gmm_mstep(x_d.data(), n, d, full, C, model_d.data(), active_d.data(), resp_d.data(),
                        1e-6, scratch_d.data(), nk_d.data(), mu2_d.data(), cov2_d.data(),
                        stream.get());
        cuda::gmm_finalize(n, B, off_d.data(), pll_d.data(), nk_d.data(), 1e-3, w2_d.data(),
                           lb_d.data(), it_d.data(), conv_d.data(), active_d.data(), stream.get());
        stream.synchronize();
        // Means and covariances divide sums of n terms by N_k, which can be ~1e-3 for a component
        // far from every point: the relative error of a ratio of two such sums stays ~n ε.
        EXPECT_TRUE(all_close(from_device(w2_d, stream), w_ref, Tolerance{1e-13, 1e-10, 1e-10}));
        EXPECT_TRUE(all_close(from_device(mu2_d, stream), mu_ref, Tolerance{1e-9, 1e-9, 1e-9}));
        EXPECT_TRUE(all_close(from_device(cov2_d, stream), cov_ref, Tolerance{1e-9, 1e-9, 1e-9}));
        const std::vector<double> lb = from_device(lb_d, stream);
        EXPECT_TRUE(all_close(lb, mean_ll, test::ElementTolerance{ll_bound, 0.0, 1e-11}));
        EXPECT_EQ(from_device(it_d, stream), std::vector<int32_t>(B, 1));
        EXPECT_EQ(from_device(conv_d, stream), std::vector<int32_t>(B, 0));  // never on iteration 1
      }
    }
  }
}

// Covariances that are not positive definite: the kernel flags each model's first such component
// (bad = the smallest local index, by atomicMin), writes identity factors for it (P = L = I, so
// nothing downstream turns NaN; log_norm = log w - d/2 log 2 pi), and factors the model's other
// components as the reference does. Model 0 is all positive definite (bad stays INT32_MAX); model 1
// has its components 1 and 2 bad (the lower index wins); model 2 its component 0.
TEST(GmmGpu, PrecisionsFlagNonPositiveDefiniteComponents) {
  LK_REQUIRE_GPU();
  LK_SEEDED_RNG(rng);
  const std::vector<int> ks = {2, 3, 2};
  const std::vector<std::vector<int>> bad_components = {{}, {1, 2}, {0}};
  const int B = static_cast<int>(ks.size());
  for (int d : {1, 2, 3, 7}) {
    for (bool full : {true, false}) {
      SCOPED_TRACE("d=" + std::to_string(d) + (full ? " full" : " diag"));
      RandomBatch b = random_batch(ks, d, full, rng);
      const int C = b.offset.back();
      const size_t cs = full ? static_cast<size_t>(d) * d : d;
      std::vector<bool> is_bad(C, false);
      for (int m = 0; m < B; ++m)
        for (int j : bad_components[m]) {
          const int c = b.offset[m] + j;
          is_bad[c] = true;
          double* s = b.cov.data() + c * cs;
          if (!full) {
            s[d - 1] = j == 1 ? 0.0 : -0.5;  // a zero and a negative variance
          } else if (d == 1) {
            s[0] = -1.0;
          } else {
            // Symmetric and indefinite (the 2 x 2 block [[1, 2], [2, 1]] has eigenvalue -1): the
            // factorisation fails at its second pivot, after writing part of L.
            std::fill(s, s + cs, 0.0);
            for (int a = 0; a < d; ++a) s[a * d + a] = 1.0;
            s[1] = s[d] = 2.0;
          }
        }
      cuda::Stream stream;
      auto off_d = to_device(b.offset, stream), model_d = to_device(b.model, stream);
      auto w_d = to_device(b.w, stream), cov_d = to_device(b.cov, stream);
      auto chol_d = to_device(poison_doubles(C * cs), stream);
      auto prec_d = to_device(poison_doubles(C * cs), stream);
      auto ln_d = to_device(poison_doubles(C), stream);
      auto bad_d = to_device(std::vector<int32_t>(B, INT32_MAX), stream);
      cuda::gmm_precisions(w_d.data(), cov_d.data(), model_d.data(), off_d.data(), nullptr, C, d,
                           full, chol_d.data(), prec_d.data(), ln_d.data(), bad_d.data(),
                           stream.get());
      EXPECT_EQ(from_device(bad_d, stream), (std::vector<int32_t>{INT32_MAX, 1, 0}));
      const std::vector<double> chol = from_device(chol_d, stream),
                                prec = from_device(prec_d, stream), ln = from_device(ln_d, stream);
      constexpr double kLog2Pi = 1.8378770664093454836;
      for (int c = 0; c < C; ++c) {
        SCOPED_TRACE("component " + std::to_string(c));
        std::vector<double> chol_c(chol.begin() + c * cs, chol.begin() + (c + 1) * cs),
            prec_c(prec.begin() + c * cs, prec.begin() + (c + 1) * cs);
        if (is_bad[c]) {
          std::vector<double> identity(cs, 1.0);
          if (full)
            for (size_t e = 0; e < cs; ++e) identity[e] = e % (d + 1) == 0 ? 1.0 : 0.0;
          EXPECT_EQ(chol_c, identity);
          EXPECT_EQ(prec_c, identity);
          // log w - d/2 log 2 pi, the same float64 expression: an ulp of the device's log apart.
          EXPECT_NEAR(ln[c], std::log(b.w[c]) - 0.5 * d * kLog2Pi, 1e-14);
          continue;
        }
        // A good component: the reference on it alone (it stops at a model's first bad one).
        std::vector<double> chol_r(cs), prec_r(cs), ln_r(1);
        ASSERT_EQ(ref::gmm_precisions(b.w.data() + c, b.cov.data() + c * cs, 1, d, full,
                                      chol_r.data(), prec_r.data(), ln_r.data()),
                  -1);
        // O(d) float64 operations per entry, as in EStepAndMStepMatchReference.
        EXPECT_TRUE(all_close(chol_c, chol_r, Tolerance{1e-12, 1e-12, 1e-12}));
        EXPECT_TRUE(all_close(prec_c, prec_r, Tolerance{1e-12, 1e-12, 1e-12}));
        EXPECT_TRUE(all_close(std::vector<double>{ln[c]}, ln_r, Tolerance{1e-12, 1e-12, 1e-12}));
      }
    }
  }
}

// Score and sample through the host API refuse a model with a covariance that is not positive
// definite, on the device (DeviceGmmModel) as on the CPU, naming the component.
TEST(GmmGpu, ScoreAndSampleRejectNonPositiveDefiniteModels) {
  LK_REQUIRE_GPU();
  LK_SEEDED_RNG(rng);
  auto cpu = make_cpu_backend();
  auto gpu = make_cuda_backend(0);
  const int n = 31, d = 3;
  const std::vector<float> x = test::random_uniform(static_cast<size_t>(n) * d, rng, -2, 2);
  for (GmmCovariance cov : {GmmCovariance::Full, GmmCovariance::Diag}) {
    SCOPED_TRACE(enum_name(cov));
    GmmModel m;
    m.k = 2;
    m.d = d;
    m.covariance = cov;
    m.weights = {0.5, 0.5};
    m.means = test::random_uniform<double>(static_cast<size_t>(m.k) * d, rng, -1, 1);
    if (cov == GmmCovariance::Full)  // component 0: I; component 1: indefinite ([[1, 2], [2, 1]])
      m.covariances = {1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 2, 0, 2, 1, 0, 0, 0, 1};
    else  // component 1 has a zero variance
      m.covariances = {1, 1, 1, 1, 0, 1};
    const auto expect_rejected = [&](const std::function<void()>& call, const char* what) {
      try {
        call();
        ADD_FAILURE() << what << " accepted a covariance that is not positive definite";
      } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("component 1 of model 0"), std::string::npos)
            << what << ": " << e.what();
        EXPECT_NE(std::string(e.what()).find("not positive definite"), std::string::npos)
            << what << ": " << e.what();
      }
    };
    expect_rejected([&] { gmm_score(*gpu, m, x, n); }, "gmm_score on the device");
    expect_rejected([&] { gmm_sample(*gpu, m, 5, rng()); }, "gmm_sample on the device");
    expect_rejected([&] { gmm_score(*cpu, m, x, n); }, "gmm_score on the CPU");
  }
}

// Data from a well-separated 3-D mixture sampled on the host.
std::vector<float> mixture_data(int n, uint64_t seed) {
  GmmModel m;
  m.k = 4;
  m.d = 3;
  m.covariance = GmmCovariance::Diag;
  m.weights = {0.1, 0.2, 0.3, 0.4};
  m.means = {-8, 0, 0, 8, 0, 0, 0, 8, 0, 0, 0, 8};
  m.covariances = {1, 0.5, 2, 0.7, 1, 1, 1.5, 1.5, 0.5, 1, 2, 1};
  auto cpu = make_cpu_backend();
  return gmm_sample(*cpu, m, n, seed);
}

TEST(GmmGpu, BatchedFitMatchesCpuFromIdenticalInit) {
  LK_REQUIRE_GPU();
  LK_SEEDED_RNG(rng);
  auto cpu = make_cpu_backend();
  auto gpu = make_cuda_backend(0);
  const int n = 1021, d = 3;
  const std::vector<float> x = mixture_data(n, rng());
  std::vector<GmmModelSpec> specs;
  for (int k : {1, 2, 4, 5, 7})
    for (int r = 0; r < 2; ++r) specs.push_back({k, r});
  for (GmmCovariance cov : {GmmCovariance::Full, GmmCovariance::Diag}) {
    GmmConfig cfg;
    cfg.covariance = cov;
    cfg.seed = rng();
    cfg.max_iter = 10;
    cfg.tol = 0;  // every model runs exactly 10 iterations on both sides
    const auto a = fit_gmm_batch(*cpu, x, n, d, specs, cfg);
    const auto b = fit_gmm_batch(*gpu, x, n, d, specs, cfg);
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) {
      SCOPED_TRACE("model " + std::to_string(i) + " K=" + std::to_string(specs[i].k));
      EXPECT_EQ(b[i].n_iter, 10);
      EXPECT_FALSE(b[i].converged);
      EXPECT_TRUE(all_close(b[i].model.weights, a[i].model.weights, Tolerance{1e-9, 1e-7, 1e-7}));
      EXPECT_TRUE(all_close(b[i].model.means, a[i].model.means, Tolerance{1e-7, 1e-7, 1e-7}));
      EXPECT_TRUE(
          all_close(b[i].model.covariances, a[i].model.covariances, Tolerance{1e-7, 1e-7, 1e-7}));
      EXPECT_NEAR(b[i].lower_bound, a[i].lower_bound, 1e-9 * std::fabs(a[i].lower_bound));
      EXPECT_NEAR(b[i].log_likelihood, a[i].log_likelihood, 1e-9 * std::fabs(a[i].log_likelihood));
    }
    // With the default tol, convergence is decided per model on the device: the same iterations.
    cfg.tol = 1e-3;
    cfg.max_iter = 100;
    const auto c = fit_gmm_batch(*cpu, x, n, d, specs, cfg);
    const auto g = fit_gmm_batch(*gpu, x, n, d, specs, cfg);
    for (size_t i = 0; i < c.size(); ++i) {
      EXPECT_EQ(g[i].converged, c[i].converged) << "model " << i;
      EXPECT_NEAR(g[i].n_iter, c[i].n_iter, 1) << "model " << i;  // a change within 1e-12 of tol
      EXPECT_NEAR(g[i].bic, c[i].bic, 1e-6 * std::fabs(c[i].bic)) << "model " << i;
    }
    // Reproducible: a second device run gives the same bits, with a progress reporter too (it
    // sees every model initialised, then EM iterations rising to a closing done == total).
    std::vector<std::pair<std::string, long long>> calls;
    long long closing_total = -1;
    cfg.progress = [&](const std::string& phase, long long done, long long total) {
      calls.emplace_back(phase, done);
      if (done == total) closing_total = total;
    };
    const auto g2 = fit_gmm_batch(*gpu, x, n, d, specs, cfg);
    cfg.progress = nullptr;
    ASSERT_GE(calls.size(), specs.size() + 1);
    for (size_t i = 0; i < specs.size(); ++i)
      EXPECT_EQ(calls[i], std::make_pair(std::string("initialising models"),
                                         static_cast<long long>(i + 1)));
    for (size_t i = specs.size(); i < calls.size(); ++i) {
      EXPECT_EQ(calls[i].first, "EM iterations");
      if (i > specs.size()) EXPECT_GE(calls[i].second, calls[i - 1].second);
    }
    EXPECT_EQ(calls.back().second, closing_total);
    EXPECT_LE(closing_total, cfg.max_iter);
    for (size_t i = 0; i < g.size(); ++i) {
      EXPECT_EQ(g2[i].model.means, g[i].model.means);
      EXPECT_EQ(g2[i].log_likelihood, g[i].log_likelihood);
    }
  }
}

TEST(GmmGpu, LogLikelihoodNeverDecreasesOnDevice) {
  LK_REQUIRE_GPU();
  LK_SEEDED_RNG(rng);
  auto gpu = make_cuda_backend(0);
  const int n = 1021;
  const std::vector<float> x = mixture_data(n, rng());
  GmmConfig cfg;
  cfg.seed = rng();
  cfg.init = GmmInit::Random;  // a poor start: many iterations of real progress
  cfg.tol = 0;
  std::vector<GmmModelSpec> specs = {{3, 0}, {6, 1}, {33, 2}};
  std::vector<double> previous(specs.size(), -INFINITY);
  // lower_bound after m iterations is the log-likelihood of the m-th E-step. 25 iterations (325
  // EM steps in all); 8 on the emulated GPU, where this loop alone took ~3 minutes.
  const int iterations = test::kEmulatedGpu ? 8 : 25;
  for (int m = 1; m <= iterations; ++m) {
    cfg.max_iter = m;
    const auto fits = fit_gmm_batch(*gpu, x, n, 3, specs, cfg);
    for (size_t i = 0; i < fits.size(); ++i) {
      EXPECT_GE(fits[i].lower_bound, previous[i] - 1e-12 * std::fabs(previous[i]))
          << "model " << i << " iteration " << m;
      previous[i] = fits[i].lower_bound;
    }
  }
}

TEST(GmmGpu, ScoreAndSampleMatchReference) {
  LK_REQUIRE_GPU();
  LK_SEEDED_RNG(rng);
  auto cpu = make_cpu_backend();
  auto gpu = make_cuda_backend(0);
  for (GmmCovariance cov : {GmmCovariance::Full, GmmCovariance::Diag}) {
    const int n = 1021;
    const std::vector<float> x = mixture_data(n, rng());
    GmmConfig cfg;
    cfg.covariance = cov;
    cfg.seed = rng();
    const GmmModel m = fit_gmm_batch(*cpu, x, n, 3, {{4, 0}}, cfg)[0].model;
    const GmmScores a = gmm_score(*cpu, m, x, n), b = gmm_score(*gpu, m, x, n);
    EXPECT_TRUE(all_close(b.log_density, a.log_density, Tolerance{1e-11, 1e-11, 1e-11}));
    EXPECT_EQ(b.labels, a.labels);
    for (int count : {1, 31, 33, 1021}) {
      const uint64_t seed = rng();
      std::vector<int32_t> ca, cb;
      const std::vector<float> sa = gmm_sample(*cpu, m, count, seed, &ca);
      const std::vector<float> sb = gmm_sample(*gpu, m, count, seed, &cb);
      EXPECT_EQ(cb, ca);
      // The same Philox draws; the device's log/cos/sqrt may differ from the host's by an ulp in
      // double, which survives rounding to float with probability ~2^-29 per value: 1 float ulp.
      EXPECT_TRUE(all_close(sb, sa, Tolerance{1e-6, 2e-7, 2e-7}));
    }
  }
}

// The launchers check shapes and pointers before touching the device (no GPU needed).
TEST(GmmLaunchers, RejectBadArgumentsBeforeLaunching) {
  double dummy = 0;
  int32_t idummy = 0;
  float fdummy = 0;
  EXPECT_THROW(cuda::gmm_estep(&fdummy, 0, 3, true, 1, &idummy, nullptr, &dummy, &dummy, &dummy,
                               &dummy, &dummy, nullptr, nullptr, nullptr),
               Error);  // n = 0
  EXPECT_THROW(cuda::gmm_estep(&fdummy, 10, 33, true, 1, &idummy, nullptr, &dummy, &dummy, &dummy,
                               &dummy, &dummy, nullptr, nullptr, nullptr),
               Error);  // d > 32
  EXPECT_THROW(cuda::gmm_estep(nullptr, 10, 3, true, 1, &idummy, nullptr, &dummy, &dummy, &dummy,
                               &dummy, &dummy, nullptr, nullptr, nullptr),
               Error);  // x null
  EXPECT_THROW(cuda::gmm_mstep(&fdummy, 10, 3, false, 1, &idummy, nullptr, &dummy, -1.0, &dummy,
                               &dummy, &dummy, &dummy, nullptr),
               Error);  // reg_covar < 0
  EXPECT_THROW(cuda::gmm_precisions(&dummy, &dummy, &idummy, nullptr, nullptr, 1, 3, true, &dummy,
                                    &dummy, &dummy, &idummy, nullptr),
               Error);  // comp_offset null
  EXPECT_THROW(cuda::gmm_finalize(10, 1, &idummy, &dummy, &dummy, 1e-3, &dummy, &dummy, &idummy,
                                  &idummy, nullptr, nullptr),
               Error);  // active null
  EXPECT_THROW(
      cuda::gmm_sample(0, 3, true, &dummy, &dummy, &dummy, 5, 0, 0, &fdummy, nullptr, nullptr),
      Error);  // k = 0
}

}  // namespace
}  // namespace latentkit
