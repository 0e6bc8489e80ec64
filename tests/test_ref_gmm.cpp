// CPU tests of the GMM-EM reference (host/ref/gmm.cpp) and of the host API on the CPU backend
// (host/src/families/gmm/gmm.cpp): densities against a brute-force Gaussian (explicit inverse and determinant),
// a hand-computed M-step, monotone log-likelihood, recovery of a well-separated mixture, BIC
// choosing the true K, degenerate inputs (duplicates, an emptied component, a zero-variance
// column, K > N, NaN), sampler moments, reproducible initialisation.
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

#include "latentkit/core/check.h"
#include "latentkit/families/gmm.h"
#include "latentkit/families/kmeans.h"
#include "latentkit/ref/gmm_ref.h"
#include "test_util.h"

namespace latentkit {
namespace {

using test::all_close;
using test::Tolerance;

constexpr double kPi = 3.14159265358979323846;

// A random symmetric positive definite d x d matrix: A Aᵀ + d I scaled.
std::vector<double> random_spd(int d, std::mt19937_64& rng) {
  std::normal_distribution<double> g(0.0, 1.0);
  std::vector<double> a(d * d), s(d * d, 0.0);
  for (auto& v : a) v = g(rng);
  for (int i = 0; i < d; ++i)
    for (int j = 0; j < d; ++j) {
      for (int k = 0; k < d; ++k) s[i * d + j] += a[i * d + k] * a[j * d + k];
      if (i == j) s[i * d + j] += 0.5 * d;
    }
  return s;
}

// Brute force log N(x; mu, S): inverse and determinant by Gauss-Jordan with partial pivoting.
double brute_log_normal(const float* x, const double* mu, const double* s, int d) {
  std::vector<double> m(s, s + d * d), inv(d * d, 0.0);
  for (int i = 0; i < d; ++i) inv[i * d + i] = 1.0;
  double det = 1.0;
  for (int col = 0; col < d; ++col) {
    int piv = col;
    for (int r = col + 1; r < d; ++r)
      if (std::fabs(m[r * d + col]) > std::fabs(m[piv * d + col])) piv = r;
    if (piv != col) {
      for (int j = 0; j < d; ++j) {
        std::swap(m[piv * d + j], m[col * d + j]);
        std::swap(inv[piv * d + j], inv[col * d + j]);
      }
      det = -det;
    }
    const double p = m[col * d + col];
    det *= p;
    for (int j = 0; j < d; ++j) {
      m[col * d + j] /= p;
      inv[col * d + j] /= p;
    }
    for (int r = 0; r < d; ++r) {
      if (r == col) continue;
      const double f = m[r * d + col];
      for (int j = 0; j < d; ++j) {
        m[r * d + j] -= f * m[col * d + j];
        inv[r * d + j] -= f * inv[col * d + j];
      }
    }
  }
  double q = 0.0;
  for (int i = 0; i < d; ++i)
    for (int j = 0; j < d; ++j) q += (x[i] - mu[i]) * inv[i * d + j] * (x[j] - mu[j]);
  return -0.5 * (d * std::log(2 * kPi) + std::log(det) + q);
}

// Three well-separated 2-D components (means 20 apart, unit-ish spreads), sampled by the
// mixture sampler itself (its moments are checked separately below).
GmmModel three_blobs() {
  GmmModel m;
  m.k = 3;
  m.d = 2;
  m.covariance = GmmCovariance::Full;
  m.weights = {0.2, 0.3, 0.5};
  m.means = {-10, 0, 10, 0, 0, 12};
  m.covariances = {1.0, 0.3, 0.3, 0.8, /**/ 0.5, 0.0, 0.0, 1.5, /**/ 2.0, -0.5, -0.5, 1.0};
  return m;
}

TEST(GmmRef, LogDensityMatchesBruteForce) {
  LK_SEEDED_RNG(rng);
  for (int d : {1, 3, 7}) {
    const int k = 3, n = 31;
    std::vector<double> w = {0.2, 0.5, 0.3}, mu, cov;
    for (int c = 0; c < k; ++c) {
      for (int a = 0; a < d; ++a) mu.push_back(std::normal_distribution<double>(0, 2)(rng));
      const auto s = random_spd(d, rng);
      cov.insert(cov.end(), s.begin(), s.end());
    }
    const std::vector<float> x = test::random_uniform(static_cast<size_t>(n) * d, rng, -4, 4);
    std::vector<double> chol(k * d * d), prec(k * d * d), log_norm(k), resp(k * n), ll(n);
    std::vector<int32_t> labels(n);
    ASSERT_EQ(ref::gmm_precisions(w.data(), cov.data(), k, d, true, chol.data(), prec.data(),
                                  log_norm.data()),
              -1);
    const double mean_ll = ref::gmm_estep(x.data(), n, d, true, 0, k, mu.data(), prec.data(),
                                          log_norm.data(), resp.data(), ll.data(), labels.data());
    std::vector<double> want(n), want_resp(k * n);
    double want_mean = 0;
    for (int i = 0; i < n; ++i) {
      std::vector<double> lp(k);
      for (int c = 0; c < k; ++c)
        lp[c] = std::log(w[c]) + brute_log_normal(&x[i * d], &mu[c * d], &cov[c * d * d], d);
      double tot = 0;
      for (int c = 0; c < k; ++c) tot += std::exp(lp[c]);
      want[i] = std::log(tot);
      want_mean += want[i] / n;
      for (int c = 0; c < k; ++c) want_resp[c * n + i] = std::exp(lp[c]) / tot;
      EXPECT_EQ(labels[i], std::max_element(lp.begin(), lp.end()) - lp.begin());
    }
    // Both sides in float64 from the same inputs; Cholesky vs Gauss-Jordan differ by rounding
    // amplified by the condition number (<~ 100 here): 1e-10 leaves a wide margin.
    EXPECT_TRUE(all_close(ll, want, Tolerance{1e-10, 1e-10, 1e-10})) << "d=" << d;
    EXPECT_TRUE(all_close(resp, want_resp, Tolerance{1e-10, 1e-10, 1e-10})) << "d=" << d;
    EXPECT_NEAR(mean_ll, want_mean, 1e-10 * std::fabs(want_mean));
    // Diagonal covariance: the same as a full one with zeros off the diagonal.
    std::vector<double> var(k * d), cov_diag(k * d * d, 0.0);
    for (int c = 0; c < k; ++c)
      for (int a = 0; a < d; ++a) {
        var[c * d + a] = cov[c * d * d + a * d + a];
        cov_diag[c * d * d + a * d + a] = var[c * d + a];
      }
    ASSERT_EQ(ref::gmm_precisions(w.data(), var.data(), k, d, false, chol.data(), prec.data(),
                                  log_norm.data()),
              -1);
    ref::gmm_estep(x.data(), n, d, false, 0, k, mu.data(), prec.data(), log_norm.data(),
                   resp.data(), ll.data(), nullptr);
    for (int i = 0; i < n; ++i) {
      double tot = 0;
      for (int c = 0; c < k; ++c)
        tot += w[c] * std::exp(brute_log_normal(&x[i * d], &mu[c * d], &cov_diag[c * d * d], d));
      EXPECT_NEAR(ll[i], std::log(tot), 1e-10 * (1 + std::fabs(std::log(tot))));
    }
  }
}

TEST(GmmRef, MStepMatchesHandComputation) {
  // Four points in 2-D, two components with fixed responsibilities [k, n].
  const std::vector<float> x = {0, 0, 2, 0, 0, 4, 2, 4};
  const int n = 4, d = 2, k = 2;
  const std::vector<double> resp = {1, 0.5, 0.25, 0, /**/ 0, 0.5, 0.75, 1};
  const double reg = 1e-3;
  std::vector<double> w(k), mu(k * d), cov(k * d * d), var(k * d);
  ref::gmm_mstep(x.data(), n, d, true, 0, k, resp.data(), reg, w.data(), mu.data(), cov.data());
  for (int c = 0; c < k; ++c) {
    double nk = 0, sx = 0, sy = 0;
    for (int i = 0; i < n; ++i) {
      nk += resp[c * n + i];
      sx += resp[c * n + i] * x[2 * i];
      sy += resp[c * n + i] * x[2 * i + 1];
    }
    nk += ref::kGmmNkGuard;
    const double mx = sx / nk, my = sy / nk;
    double cxx = 0, cxy = 0, cyy = 0;
    for (int i = 0; i < n; ++i) {
      const double r = resp[c * n + i], dx = x[2 * i] - mx, dy = x[2 * i + 1] - my;
      cxx += r * dx * dx;
      cxy += r * dx * dy;
      cyy += r * dy * dy;
    }
    EXPECT_NEAR(w[c], nk / (4 + 2 * ref::kGmmNkGuard), 1e-15);
    EXPECT_NEAR(mu[c * d], mx, 1e-14);
    EXPECT_NEAR(mu[c * d + 1], my, 1e-14);
    EXPECT_NEAR(cov[c * 4 + 0], cxx / nk + reg, 1e-14);
    EXPECT_NEAR(cov[c * 4 + 1], cxy / nk, 1e-14);
    EXPECT_NEAR(cov[c * 4 + 2], cxy / nk, 1e-14);
    EXPECT_NEAR(cov[c * 4 + 3], cyy / nk + reg, 1e-14);
  }
  // Component 0 by hand: nk = 1.75, mean = (1.0/1.75, 1.0/1.75 * ... ) spot value.
  EXPECT_NEAR(mu[0], (0.5 * 2 + 0.25 * 0 + 0) / 1.75, 1e-12);
  ref::gmm_mstep(x.data(), n, d, false, 0, k, resp.data(), reg, w.data(), mu.data(), var.data());
  EXPECT_NEAR(var[0], cov[0], 1e-14);
  EXPECT_NEAR(var[3], cov[7], 1e-14);
}

TEST(GmmRef, LogLikelihoodNeverDecreases) {
  LK_SEEDED_RNG(rng);
  auto backend = make_cpu_backend();
  const GmmModel truth = three_blobs();
  const int n = 1021;
  const std::vector<float> x = gmm_sample(*backend, truth, n, rng());
  for (GmmCovariance cov : {GmmCovariance::Full, GmmCovariance::Diag}) {
    for (GmmInit init : {GmmInit::KMeans, GmmInit::Random}) {
      GmmConfig cfg;
      cfg.covariance = cov;
      cfg.init = init;
      cfg.seed = rng();
      GmmModel m = gmm_initial_model(x, n, 2, {5, 0}, cfg);  // more components than blobs
      double previous = -std::numeric_limits<double>::infinity();
      for (int it = 0; it < 40; ++it) {
        // One E-step + M-step per call; lower_bound is the log-likelihood before the M-step.
        const auto st = ref::gmm_em_batch(x.data(), n, 2, cov == GmmCovariance::Full, {0, 5}, 0.0,
                                          cfg.reg_covar, 1, m.weights.data(), m.means.data(),
                                          m.covariances.data());
        // EM cannot decrease the likelihood; float64 rounding of a 1021-term mean allows ~1e-13.
        EXPECT_GE(st[0].lower_bound, previous - 1e-12 * std::fabs(previous))
            << "iteration " << it << " cov " << enum_name(cov) << " init " << enum_name(init);
        previous = st[0].lower_bound;
      }
    }
  }
}

// Matches each true component to the fitted one with the nearest mean (one-to-one asserted).
std::vector<int> match_components(const GmmModel& truth, const GmmModel& fit) {
  std::vector<int> match(truth.k);
  for (int t = 0; t < truth.k; ++t) {
    double best = 1e300;
    for (int f = 0; f < fit.k; ++f) {
      double dist = 0;
      for (int a = 0; a < truth.d; ++a) {
        const double diff = truth.means[t * truth.d + a] - fit.means[f * fit.d + a];
        dist += diff * diff;
      }
      if (dist < best) {
        best = dist;
        match[t] = f;
      }
    }
  }
  std::vector<int> sorted = match;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_TRUE(std::adjacent_find(sorted.begin(), sorted.end()) == sorted.end())
      << "two true components matched the same fitted one";
  return match;
}

TEST(GmmRef, ProgressReportsEveryModelOfBothPhasesAndLeavesTheFitAlone) {
  LK_SEEDED_RNG(rng);
  auto backend = make_cpu_backend();
  const int n = 301;
  const std::vector<float> x = gmm_sample(*backend, three_blobs(), n, rng());
  const std::vector<GmmModelSpec> specs = {{1, 0}, {2, 0}, {2, 1}, {4, 0}};
  GmmConfig cfg;
  cfg.seed = rng();
  const auto quiet = fit_gmm_batch(*backend, x, n, 2, specs, cfg);
  std::vector<std::string> calls;
  cfg.progress = [&](const std::string& phase, long long done, long long total) {
    calls.push_back(phase + " " + std::to_string(done) + "/" + std::to_string(total));
  };
  const auto reported = fit_gmm_batch(*backend, x, n, 2, specs, cfg);
  EXPECT_EQ(calls, (std::vector<std::string>{"initialising models 1/4", "initialising models 2/4",
                                             "initialising models 3/4", "initialising models 4/4",
                                             "EM, models 1/4", "EM, models 2/4", "EM, models 3/4",
                                             "EM, models 4/4"}));
  for (size_t i = 0; i < specs.size(); ++i) {  // reporting changes nothing
    EXPECT_EQ(reported[i].model.means, quiet[i].model.means);
    EXPECT_EQ(reported[i].lower_bound, quiet[i].lower_bound);
  }
}

TEST(GmmRef, RecoversWellSeparatedMixtureAndBicPicksTrueK) {
  LK_SEEDED_RNG(rng);
  auto backend = make_cpu_backend();
  const GmmModel truth = three_blobs();
  const int n = 3000;
  const std::vector<float> x = gmm_sample(*backend, truth, n, rng());
  GmmConfig cfg;
  cfg.seed = rng();
  const GmmSelection sel = fit_gmm_select(*backend, x, n, 2, 1, 5, 2, cfg);
  EXPECT_EQ(sel.best_k_bic, 3);
  EXPECT_FALSE(sel.bic_at_upper_edge);
  const GmmFitResult& fit = sel.per_k[2];
  ASSERT_EQ(fit.model.k, 3);
  EXPECT_TRUE(fit.converged);
  const std::vector<int> m = match_components(truth, fit.model);
  // Sampling error with n = 3000: a weight's standard error is sqrt(w(1-w)/n) <= 0.009, so 0.04
  // is > 4 sigma; a mean's is sqrt(var / (w n)) <= sqrt(2 / 600) = 0.058, so 0.3 is > 5 sigma;
  // a covariance entry's is ~ var sqrt(2 / (w n)) <= 2 * 0.058 = 0.12, so 0.5 is > 4 sigma.
  for (int t = 0; t < 3; ++t) {
    const int f = m[t];
    EXPECT_NEAR(fit.model.weights[f], truth.weights[t], 0.04);
    for (int a = 0; a < 2; ++a)
      EXPECT_NEAR(fit.model.means[f * 2 + a], truth.means[t * 2 + a], 0.3);
    for (int e = 0; e < 4; ++e)
      EXPECT_NEAR(fit.model.covariances[f * 4 + e], truth.covariances[t * 4 + e], 0.5);
  }
  // BIC and AIC as sklearn: from the mean log-likelihood and _n_parameters (K=3, d=2, full:
  // 2 + 6 + 9 = 17).
  EXPECT_EQ(fit.model.n_parameters(), 17);
  EXPECT_NEAR(fit.bic, -2 * n * fit.log_likelihood + 17 * std::log(double(n)), 1e-9);
  EXPECT_NEAR(fit.aic, -2 * n * fit.log_likelihood + 34, 1e-9);
  // score() agrees with the fit's log-likelihood; predict labels the true components.
  const GmmScores sc = gmm_score(*backend, fit.model, x, n);
  double mean = 0;
  for (double v : sc.log_density) mean += v / n;
  EXPECT_NEAR(mean, fit.log_likelihood, 1e-10 * std::fabs(mean));
}

TEST(GmmRef, DegenerateDataGivesRegularisedFitOrClearError) {
  auto backend = make_cpu_backend();
  GmmConfig cfg;
  // Duplicated points: every row the same -> every component collapses to reg_covar * I.
  {
    const int n = 20;
    std::vector<float> x;
    for (int i = 0; i < n; ++i) x.insert(x.end(), {1.5f, -2.0f, 3.0f});
    const auto fits = fit_gmm_batch(*backend, x, n, 3, {{3, 0}}, cfg);
    const GmmModel& m = fits[0].model;
    for (double v : m.weights) EXPECT_TRUE(std::isfinite(v));
    for (double v : m.means) EXPECT_TRUE(std::isfinite(v));
    for (int c = 0; c < 3; ++c)
      for (int a = 0; a < 3; ++a)
        for (int b = 0; b < 3; ++b)
          EXPECT_NEAR(m.covariances[c * 9 + a * 3 + b], a == b ? cfg.reg_covar : 0.0, 1e-12);
    EXPECT_TRUE(std::isfinite(fits[0].log_likelihood));
    EXPECT_TRUE(std::isfinite(fits[0].bic));
  }
  // A zero-variance column: reg_covar keeps the covariance positive definite.
  {
    LK_SEEDED_RNG(rng);
    const int n = 200;
    std::vector<float> x = test::random_uniform(n * 2, rng, -1, 1);
    for (int i = 0; i < n; ++i) x[i * 2 + 1] = 7.0f;
    for (GmmCovariance cov : {GmmCovariance::Full, GmmCovariance::Diag}) {
      cfg.covariance = cov;
      const auto fits = fit_gmm_batch(*backend, x, n, 2, {{2, 0}}, cfg);
      const GmmModel& m = fits[0].model;
      const int stride = cov == GmmCovariance::Full ? 4 : 2,
                yy = cov == GmmCovariance::Full ? 3 : 1;
      for (int c = 0; c < 2; ++c) EXPECT_NEAR(m.covariances[c * stride + yy], cfg.reg_covar, 1e-9);
      for (double v : m.covariances) EXPECT_TRUE(std::isfinite(v));
      EXPECT_TRUE(std::isfinite(fits[0].log_likelihood));
    }
    cfg.covariance = GmmCovariance::Full;
  }
  // A component that loses all its points: start one component 1000 away with a tiny spread;
  // its responsibilities underflow to 0, N_k = 10 eps, and it must stay finite (cov = reg I).
  {
    const int n = 50;
    std::vector<float> x;
    for (int i = 0; i < n; ++i) x.insert(x.end(), {float(i % 7) * 0.1f, float(i % 5) * 0.2f});
    std::vector<double> w = {0.5, 0.5}, mu = {0.3, 0.4, 1000, 1000},
                        cov = {1, 0, 0, 1, 1e-4, 0, 0, 1e-4};
    // One iteration: the emptied component has weight ~ 10 eps / n, mean 0 / N_k = 0 and
    // covariance reg_covar I (sklearn's behaviour).
    ref::gmm_em_batch(x.data(), n, 2, true, {0, 2}, 1e-3, 1e-6, 1, w.data(), mu.data(), cov.data());
    EXPECT_LT(w[1], 1e-12);
    EXPECT_EQ(mu[2], 0.0);
    EXPECT_EQ(mu[3], 0.0);
    EXPECT_NEAR(cov[4], 1e-6, 1e-15);
    EXPECT_EQ(cov[5], 0.0);
    EXPECT_NEAR(cov[7], 1e-6, 1e-15);
    // More iterations (it may pick up the data point sitting at its new mean): never NaN.
    const auto st = ref::gmm_em_batch(x.data(), n, 2, true, {0, 2}, 1e-3, 1e-6, 20, w.data(),
                                      mu.data(), cov.data());
    for (double v : w) EXPECT_TRUE(std::isfinite(v));
    for (double v : mu) EXPECT_TRUE(std::isfinite(v));
    for (double v : cov) EXPECT_TRUE(std::isfinite(v));
    EXPECT_TRUE(std::isfinite(st[0].lower_bound));
  }
  // K > N and NaN: InputError naming the problem.
  {
    const std::vector<float> x = {0, 1, 2, 3, 4, 5};
    try {
      fit_gmm_batch(*backend, x, 3, 2, {{4, 0}}, cfg);
      ADD_FAILURE() << "K > N accepted";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("exceeds the number of samples"), std::string::npos)
          << e.what();
    }
    std::vector<float> bad = x;
    bad[3] = std::numeric_limits<float>::quiet_NaN();
    try {
      fit_gmm_batch(*backend, bad, 3, 2, {{2, 0}}, cfg);
      ADD_FAILURE() << "NaN accepted";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("row 2, column 2"), std::string::npos) << e.what();
    }
    EXPECT_THROW(fit_gmm_select(*backend, x, 3, 2, 3, 2, 1, cfg), InputError);
    EXPECT_THROW(fit_gmm_select(*backend, x, 3, 2, 1, 2, 0, cfg), InputError);
  }
}

TEST(GmmRef, SamplerMomentsMatchTheMixture) {
  LK_SEEDED_RNG(rng);
  auto backend = make_cpu_backend();
  const GmmModel m = three_blobs();
  const int n = 200000;
  std::vector<int32_t> comp;
  const std::vector<float> x = gmm_sample(*backend, m, n, rng(), &comp);
  // Component frequencies: binomial standard error sqrt(w(1-w)/n) <= 0.0012; allow 5 sigma.
  for (int c = 0; c < 3; ++c) {
    const double freq = std::count(comp.begin(), comp.end(), c) / double(n);
    EXPECT_NEAR(freq, m.weights[c], 0.006) << "component " << c;
  }
  // Per component mean and covariance: standard errors sqrt(var / n_c) <= sqrt(2 / 40000) = 0.007
  // for means and ~ var sqrt(2 / n_c) <= 0.014 for covariances; allow ~5 sigma.
  for (int c = 0; c < 3; ++c) {
    double cnt = 0, s[2] = {0, 0}, ss[4] = {0, 0, 0, 0};
    for (int i = 0; i < n; ++i) {
      if (comp[i] != c) continue;
      cnt += 1;
      for (int a = 0; a < 2; ++a) s[a] += x[i * 2 + a];
    }
    const double mx = s[0] / cnt, my = s[1] / cnt;
    for (int i = 0; i < n; ++i) {
      if (comp[i] != c) continue;
      const double dx = x[i * 2] - mx, dy = x[i * 2 + 1] - my;
      ss[0] += dx * dx;
      ss[1] += dx * dy;
      ss[3] += dy * dy;
    }
    EXPECT_NEAR(mx, m.means[c * 2], 0.035);
    EXPECT_NEAR(my, m.means[c * 2 + 1], 0.035);
    EXPECT_NEAR(ss[0] / cnt, m.covariances[c * 4 + 0], 0.07);
    EXPECT_NEAR(ss[1] / cnt, m.covariances[c * 4 + 1], 0.07);
    EXPECT_NEAR(ss[3] / cnt, m.covariances[c * 4 + 3], 0.07);
  }
  // Reproducible: the same seed draws the same samples.
  const std::vector<float> again = gmm_sample(*backend, m, 100, 5),
                           once = gmm_sample(*backend, m, 100, 5);
  EXPECT_EQ(again, once);
}

TEST(GmmRef, InitialisationIsSeededAndReproducible) {
  LK_SEEDED_RNG(rng);
  const GmmModel truth = three_blobs();
  auto backend = make_cpu_backend();
  const int n = 500;
  const std::vector<float> x = gmm_sample(*backend, truth, n, rng());
  GmmConfig cfg;
  cfg.seed = rng();
  for (GmmInit init : {GmmInit::KMeans, GmmInit::Random}) {
    cfg.init = init;
    const GmmModel a = gmm_initial_model(x, n, 2, {4, 0}, cfg);
    const GmmModel b = gmm_initial_model(x, n, 2, {4, 0}, cfg);
    EXPECT_EQ(a.means, b.means);
    EXPECT_EQ(a.covariances, b.covariances);
    // Different draws (for k-means, compared before Lloyd steps, which may reach the same
    // optimum from both starts).
    GmmConfig seeding_only = cfg;
    seeding_only.init_lloyd_steps = 0;
    EXPECT_NE(gmm_initial_model(x, n, 2, {4, 0}, seeding_only).means,
              gmm_initial_model(x, n, 2, {4, 1}, seeding_only).means)
        << "restart 1 drew the same start as restart 0";
    double wsum = 0;
    for (double w : a.weights) wsum += w;
    EXPECT_NEAR(wsum, 1.0, 1e-12);
  }
  // k-means init on three separated blobs with K=3: each blob is one cluster.
  cfg.init = GmmInit::KMeans;
  const GmmModel k3 = gmm_initial_model(x, n, 2, {3, 0}, cfg);
  const std::vector<int> match = match_components(truth, k3);
  for (int t = 0; t < 3; ++t) EXPECT_NEAR(k3.means[match[t] * 2], truth.means[t * 2], 0.5);
}

// The 'kmeans' initialisation is sklearn's: the labels of KMeans(n_init=1) (latentkit::kmeans on
// the CPU, seed cfg.seed + restart * 0x9E3779B97F4A7C15), then one M-step from those hard labels.
// The initial means must therefore be the per-cluster means of KMeans's own labels.
TEST(GmmRef, KMeansInitialisationTakesKMeansLabels) {
  LK_SEEDED_RNG(rng);
  const GmmModel truth = three_blobs();
  auto backend = make_cpu_backend();
  const int n = 301, d = 2, k = 5;  // more clusters than blobs: Lloyd has work to do
  const std::vector<float> x = gmm_sample(*backend, truth, n, rng());
  GmmConfig cfg;
  cfg.seed = rng();
  for (int restart : {0, 3}) {
    KMeansOptions opt;
    opt.k = k;
    opt.n_init = 1;
    opt.max_iter = cfg.init_lloyd_steps;
    opt.seed = cfg.seed + static_cast<uint64_t>(restart) * 0x9E3779B97F4A7C15ull;
    const KMeansResult km = kmeans(*backend, x.data(), n, d, opt);
    std::vector<double> sums(k * d, 0.0), counts(k, 0.0);
    for (int i = 0; i < n; ++i) {
      counts[km.labels[i]] += 1;
      for (int a = 0; a < d; ++a) sums[km.labels[i] * d + a] += x[i * d + a];
    }
    std::vector<double> expected(k * d);
    for (int c = 0; c < k; ++c)
      for (int a = 0; a < d; ++a)  // sklearn's M-step: Σ r x / (N_c + 10 ε)
        expected[c * d + a] = sums[c * d + a] / (counts[c] + ref::kGmmNkGuard);
    const GmmModel m = gmm_initial_model(x, n, d, {k, restart}, cfg);
    // Two float64 sums of the same <= 301 terms in the same order: equal to ~1e-15.
    EXPECT_TRUE(all_close(m.means, expected, Tolerance{1e-12, 1e-12, 1e-12}))
        << "restart " << restart;
    for (int c = 0; c < k; ++c)
      EXPECT_NEAR(m.weights[c], (counts[c] + ref::kGmmNkGuard) / (n + k * ref::kGmmNkGuard), 1e-14);
  }
}

}  // namespace
}  // namespace latentkit
