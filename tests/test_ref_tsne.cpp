// Tests of the t-SNE reference (latentkit::ref::tsne_*, host/ref/tsne.cpp) and of the CPU
// pipeline (latentkit::run_tsne on the CPU backend, host/src/families/tsne/tsne.cpp):
//  - calibration: every row's perplexity hits the target (entropy within the search tolerance);
//    a hand-computed two-neighbour case; equal distances give uniform rows;
//  - symmetrisation: P symmetric, sums to 1, equals the dense (P_c + P_c^T) / (2n);
//  - attraction and exact repulsion against dense brute force; the full gradient against central
//    finite differences of KL(P || Q);
//  - the FFT repulsion against the exact one (2-D and 3-D, narrow and wide embeddings): the stated
//    relative error bounds;
//  - PCA and random initialisation; the whole run: KL decreases, well-separated clusters stay
//    separated (trustworthiness-like neighbourhood preservation), same seed gives the same result;
//    bad input rejected with InputError.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <vector>

#include "latentkit/core/backend.h"
#include "latentkit/core/check.h"
#include "latentkit/io/data.h"
#include "latentkit/ref/tsne_ref.h"
#include "latentkit/families/tsne.h"
#include "test_util.h"

namespace latentkit {
namespace {

using test::all_close;
using test::Tolerance;

double row_entropy(const float* p, int k) {
  double h = 0.0;
  for (int j = 0; j < k; ++j)
    if (p[j] > 0) h -= p[j] * std::log(static_cast<double>(p[j]));
  return h;
}

TEST(TsneRef, CalibratedRowsHitThePerplexity) {
  LK_SEEDED_RNG(rng);
  for (int n : {1, 31, 33}) {
    for (int k : {31, 90, 1021}) {
      for (float perplexity : {5.f, 30.f}) {
        if (perplexity >= k) continue;
        SCOPED_TRACE("n=" + std::to_string(n) + " k=" + std::to_string(k) +
                     " perplexity=" + std::to_string(perplexity));
        // Squared distances over four decades, as raw pixel data and latent codes give.
        const double scale = std::pow(10.0, std::uniform_real_distribution<double>(-2, 2)(rng));
        auto d2 = test::random_uniform<float>(static_cast<size_t>(n) * k, rng, 0, scale);
        std::vector<float> p(d2.size(), test::kPoison), beta(n, test::kPoison);
        ref::tsne_calibrate(d2.data(), n, k, perplexity, p.data(), beta.data());
        for (int i = 0; i < n; ++i) {
          const float* row = p.data() + static_cast<size_t>(i) * k;
          double sum = 0.0;
          for (int j = 0; j < k; ++j) sum += row[j];
          // Rows sum to 1 up to the float rounding of k probabilities.
          EXPECT_NEAR(sum, 1.0, 1e-5) << "row " << i;
          // Search tolerance 1e-5 nats, plus float rounding of p (k * 1e-7 relative).
          EXPECT_NEAR(row_entropy(row, k), std::log(perplexity), 1e-4) << "row " << i;
          EXPECT_GT(beta[i], 0.f);
        }
      }
    }
  }
}

TEST(TsneRef, CalibrationHandComputed) {
  // Two neighbours at squared distances 0 and 1: p = (1, e^-b) / (1 + e^-b). The perplexity
  // 2^H for b = ln 3: p = (3/4, 1/4), H = -(3/4 ln 3/4 + 1/4 ln 1/4) = ln 4 - (3/4) ln 3.
  const float d2[2] = {0.f, 1.f};
  const double target_h = std::log(4.0) - 0.75 * std::log(3.0);
  float p[2], beta;
  ref::tsne_calibrate(d2, 1, 2, static_cast<float>(std::exp(target_h)), p, &beta);
  EXPECT_NEAR(p[0], 0.75, 1e-4);
  EXPECT_NEAR(p[1], 0.25, 1e-4);
  EXPECT_NEAR(beta, std::log(3.0), 1e-3);
  // Equal distances: uniform rows whatever the perplexity target allows.
  const float eq[4] = {2.f, 2.f, 2.f, 2.f};
  float pe[4], be;
  ref::tsne_calibrate(eq, 1, 4, 4.f, pe, &be);
  for (float v : pe) EXPECT_NEAR(v, 0.25, 1e-6);
}

TEST(TsneRef, SymmetrizeIsSymmetricAndSumsToOne) {
  LK_SEEDED_RNG(rng);
  for (int n : {2, 31, 33, 257}) {
    const int k = std::min(n - 1, 7);
    SCOPED_TRACE("n=" + std::to_string(n));
    std::vector<int32_t> idx(static_cast<size_t>(n) * k);
    std::vector<float> pc(idx.size());
    for (int i = 0; i < n; ++i) {
      std::vector<int> others;
      for (int j = 0; j < n; ++j)
        if (j != i) others.push_back(j);
      std::shuffle(others.begin(), others.end(), rng);
      double s = 0;
      for (int m = 0; m < k; ++m) {
        idx[i * k + m] = others[m];
        pc[i * k + m] = std::uniform_real_distribution<float>(0.1f, 1.f)(rng);
        s += pc[i * k + m];
      }
      for (int m = 0; m < k; ++m) pc[i * k + m] = static_cast<float>(pc[i * k + m] / s);
    }
    const ref::TsneCsr P = ref::tsne_symmetrize(idx.data(), pc.data(), n, k);
    std::vector<double> dense(static_cast<size_t>(n) * n, 0.0), got(dense.size(), 0.0);
    for (size_t e = 0; e < idx.size(); ++e) {
      const size_t i = e / k, j = idx[e];
      dense[i * n + j] += pc[e] / (2.0 * n);
      dense[j * n + i] += pc[e] / (2.0 * n);
    }
    double total = 0;
    for (int i = 0; i < n; ++i) {
      for (int e = P.row_ptr[i]; e < P.row_ptr[i + 1]; ++e) {
        if (e > P.row_ptr[i]) EXPECT_LT(P.col[e - 1], P.col[e]) << "columns ascending";
        got[static_cast<size_t>(i) * n + P.col[e]] = P.val[e];
        total += P.val[e];
      }
    }
    EXPECT_NEAR(total, 1.0, 1e-6);
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < n; ++j) EXPECT_EQ(got[i * n + j], got[j * n + i]);
    // Float rounding of each value (the sums themselves are exact in float64).
    EXPECT_TRUE(all_close(got, dense, Tolerance{1e-9, 1e-6, 1e-6}));
  }
}

// Dense brute force of A_i and R_i and Z in float64.
void brute_force(const ref::TsneCsr& P, const std::vector<float>& Y, int n, int dims,
                 std::vector<double>& attr, std::vector<double>& rep, double& z) {
  attr.assign(Y.size(), 0.0);
  rep.assign(Y.size(), 0.0);
  z = 0;
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) {
      if (i == j) continue;
      double r2 = 0;
      for (int a = 0; a < dims; ++a) {
        const double diff = double(Y[i * dims + a]) - Y[j * dims + a];
        r2 += diff * diff;
      }
      const double q = 1 / (1 + r2);
      z += q;
      for (int a = 0; a < dims; ++a)
        rep[i * dims + a] += q * q * (double(Y[i * dims + a]) - Y[j * dims + a]);
    }
  for (int i = 0; i < n; ++i)
    for (int e = P.row_ptr[i]; e < P.row_ptr[i + 1]; ++e) {
      const int j = P.col[e];
      double r2 = 0;
      for (int a = 0; a < dims; ++a) {
        const double diff = double(Y[i * dims + a]) - Y[j * dims + a];
        r2 += diff * diff;
      }
      for (int a = 0; a < dims; ++a)
        attr[i * dims + a] += P.val[e] / (1 + r2) * (double(Y[i * dims + a]) - Y[j * dims + a]);
    }
}

// A random symmetric P from random neighbour lists of the points of X.
ref::TsneCsr random_affinities(const std::vector<float>& X, int n, int d, float perplexity) {
  std::vector<int32_t> idx(static_cast<size_t>(n) * (n - 1));
  std::vector<float> d2(idx.size()), pc(idx.size()), beta(n);
  ref::tsne_all_pairs(X.data(), n, d, idx.data(), d2.data());
  ref::tsne_calibrate(d2.data(), n, n - 1, perplexity, pc.data(), beta.data());
  return ref::tsne_symmetrize(idx.data(), pc.data(), n, n - 1);
}

TEST(TsneRef, ForcesMatchBruteForceAndGradientMatchesFiniteDifferences) {
  LK_SEEDED_RNG(rng);
  for (int dims : {2, 3}) {
    for (int n : {2, 31, 33}) {
      SCOPED_TRACE("dims=" + std::to_string(dims) + " n=" + std::to_string(n));
      const int d = 5;
      const auto X = test::random_uniform<float>(static_cast<size_t>(n) * d, rng, -1, 1);
      const ref::TsneCsr P = random_affinities(X, n, d, std::min(5.f, n - 1.f) * 0.9f);
      auto Y = test::random_uniform<float>(static_cast<size_t>(n) * dims, rng, -3, 3);
      std::vector<float> attr(Y.size(), test::kPoison), rep(Y.size(), test::kPoison);
      ref::tsne_attractive(P.row_ptr.data(), P.col.data(), P.val.data(), Y.data(), n, dims,
                           attr.data());
      const double z = ref::tsne_repulsive_exact(Y.data(), n, dims, rep.data());
      std::vector<double> attr_bf, rep_bf;
      double z_bf;
      brute_force(P, Y, n, dims, attr_bf, rep_bf, z_bf);
      // Same float64 sums in another order, rounded once to float: float rounding.
      EXPECT_TRUE(all_close(attr, attr_bf, Tolerance{1e-9, 1e-6, 1e-6}));
      EXPECT_TRUE(all_close(rep, rep_bf, Tolerance{1e-9, 1e-6, 1e-6}));
      EXPECT_NEAR(z, z_bf, 1e-12 * z_bf);
      // dKL/dy = 4 (A - R / Z) against central differences of KL in float64 (Y perturbed by
      // h = 1e-2 in float: the difference quotient's O(h^2) error and the float rounding of
      // y +- h, ~1e-7 / 1e-2 relative, stay below 1e-3 of the gradient's scale).
      const double h = 1e-2;
      std::vector<double> fd(Y.size()), grad(Y.size());
      std::vector<float> scratch(Y.size());
      for (size_t e = 0; e < Y.size(); ++e) {
        grad[e] = 4.0 * (double(attr[e]) - double(rep[e]) / z);
        const float y0 = Y[e];
        Y[e] = static_cast<float>(y0 + h);
        const double hp = double(Y[e]) - y0;
        const double kp =
            ref::tsne_kl(P.row_ptr.data(), P.col.data(), P.val.data(), Y.data(), n, dims,
                         ref::tsne_repulsive_exact(Y.data(), n, dims, scratch.data()));
        Y[e] = static_cast<float>(y0 - h);
        const double hm = y0 - double(Y[e]);
        const double km =
            ref::tsne_kl(P.row_ptr.data(), P.col.data(), P.val.data(), Y.data(), n, dims,
                         ref::tsne_repulsive_exact(Y.data(), n, dims, scratch.data()));
        Y[e] = y0;
        fd[e] = (kp - km) / (hp + hm);
      }
      double scale = 0;
      for (double g : grad) scale = std::max(scale, std::fabs(g));
      // (n = 2: P and Q coincide and the gradient is 0 but for the float rounding of A and R,
      // |A|, |R/Z| <= 1 here: the 1e-7 floor.)
      EXPECT_TRUE(all_close(grad, fd, Tolerance{1e-3 * scale + 1e-7, 1e-2, 1e-3}));
    }
  }
}

// Relative error ||R_fft / Z_fft - R / Z|| / ||R / Z|| (the repulsive part of the gradient) of the
// FFT repulsion on `grid_cap`, and |Z_fft / Z - 1|.
void fft_error(const std::vector<float>& Y, int n, int dims, int grid_cap, double box_width,
               double& force_err, double& z_err) {
  std::vector<float> rep(Y.size()), rep_fft(Y.size(), test::kPoison);
  const double z = ref::tsne_repulsive_exact(Y.data(), n, dims, rep.data());
  float lo[3], hi[3];
  ref::tsne_bounds(Y.data(), n, dims, lo, hi);
  TsneFftConfig cfg;
  cfg.max_fft_size = grid_cap;
  cfg.max_box_width = box_width;
  const TsneFftGrid g = tsne_fft_grid(cfg, dims, lo, hi, false);
  const double zf = ref::tsne_repulsive_fft(Y.data(), n, dims, g, rep_fft.data());
  std::vector<double> a(Y.size()), b(Y.size());
  for (size_t e = 0; e < Y.size(); ++e) {
    a[e] = rep_fft[e] / zf;
    b[e] = rep[e] / z;
    ASSERT_TRUE(std::isfinite(a[e]));
  }
  force_err = test::relative_norm_diff(a, b);
  z_err = std::fabs(zf / z - 1);
}

TEST(TsneRef, FftRepulsionIsCloseToExact) {
  LK_SEEDED_RNG(rng);
  struct Case {
    int dims, n;
    double spread;     // cluster centres in [-spread, spread]
    int cap;           // max_fft_size (0: the CPU default)
    double box_width;  // max_box_width (FIt-SNE: 1)
    double max_err;    // stated bound on the relative error of R/Z and of Z
  };
  // FIt-SNE's grid (3 nodes per box, boxes <= 1 unit: spacing <= 1/3) gives relative errors of
  // ~5e-3 to 4e-2 on R/Z for clustered embeddings (quadratic interpolation of the peaked kernel
  // 1/(1+r^2)^2; worst for tight clusters): bound 8e-2 in 2-D and 3-D. With boxes <= 1/4 unit
  // the error must drop by the O(s^3) of the interpolation (< 2e-3 measured: bound 5e-3), which
  // shows the approximation converges to the exact repulsion. 33 points: each force is a sum of
  // few terms, whose interpolation errors do not average out (~8e-2 measured): bound 2e-1.
  // Capped grids on wide embeddings (boxes of 2-5 units: the CPU's 256^2 / 64^3 caps, or a cap
  // of 64 / 32 here) split the kernel: a smooth stand-in on the grid plus the exact near-field
  // remainder within one box. Without the split their error was ~0.5-0.9; with it ~2e-2 to 4e-2
  // measured: bound 8e-2.
  const Case cases[] = {
      {2, 1021, 0.5, 0, 1.0, 8e-2},   {2, 1021, 5, 0, 1.0, 8e-2},    {2, 1021, 20, 0, 1.0, 8e-2},
      {2, 33, 5, 0, 1.0, 2e-1},       {3, 1021, 2, 0, 1.0, 8e-2},    {3, 1021, 6, 0, 1.0, 8e-2},
      {2, 1021, 5, 1024, 0.25, 5e-3}, {3, 1021, 2, 128, 0.25, 5e-3}, {2, 1021, 60, 256, 1.0, 8e-2},
      {2, 1021, 30, 64, 1.0, 8e-2},   {3, 1021, 15, 64, 1.0, 8e-2},  {3, 1021, 10, 32, 1.0, 8e-2},
      {2, 1, 1, 0, 1.0, 1e-6}};
  for (const Case& c : cases) {
    SCOPED_TRACE("dims=" + std::to_string(c.dims) + " n=" + std::to_string(c.n) +
                 " spread=" + std::to_string(c.spread) + " cap=" + std::to_string(c.cap));
    // Clustered points (as t-SNE makes them) rather than uniform ones.
    std::vector<float> Y(static_cast<size_t>(c.n) * c.dims);
    std::uniform_real_distribution<double> u(-c.spread, c.spread);
    std::normal_distribution<double> nd(0, std::max(0.3, c.spread / 20));
    std::vector<double> centers(8 * c.dims);
    for (double& v : centers) v = u(rng);
    for (int i = 0; i < c.n; ++i)
      for (int a = 0; a < c.dims; ++a)
        Y[i * c.dims + a] = static_cast<float>(centers[(i % 8) * c.dims + a] + nd(rng));
    if (c.n == 1) {
      std::vector<float> rep(c.dims, test::kPoison);
      float lo[3], hi[3];
      ref::tsne_bounds(Y.data(), 1, c.dims, lo, hi);
      const double z = ref::tsne_repulsive_fft(
          Y.data(), 1, c.dims, tsne_fft_grid(TsneFftConfig{}, c.dims, lo, hi, false), rep.data());
      EXPECT_NEAR(z, 0.0, 1e-9);  // a lone point: no pairs
      for (float v : rep) EXPECT_NEAR(v, 0.f, 1e-9);
      continue;
    }
    double force_err, z_err;
    fft_error(Y, c.n, c.dims, c.cap, c.box_width, force_err, z_err);
    if (c.max_err > 0) {
      EXPECT_LT(force_err, c.max_err);
      EXPECT_LT(z_err, c.max_err);
    }
    std::printf("[ fft err  ] dims=%d n=%d spread=%g cap=%d box<=%g: |dR/Z|=%.2e |dZ/Z|=%.2e\n",
                c.dims, c.n, c.spread, c.cap, c.box_width, force_err, z_err);
  }
}

TEST(TsneRef, FftGridChoice) {
  const float lo[3] = {-1, -2, 0}, hi[3] = {1, 3, 0.5f};
  TsneFftConfig cfg;
  const TsneFftGrid g = tsne_fft_grid(cfg, 2, lo, hi, false);
  EXPECT_EQ(g.fft_size, 32);  // range 5 needs 5 boxes; the 32-node minimum gives 5
  EXPECT_EQ(g.boxes, 5);
  EXPECT_GE(g.fft_size, 2 * g.nodes());
  EXPECT_GE(g.box_width * g.boxes, 5.0);
  const float wlo[2] = {-100, -100}, whi[2] = {100, 100};
  const TsneFftGrid wide = tsne_fft_grid(cfg, 2, wlo, whi, false);
  EXPECT_EQ(wide.fft_size, 256);  // the CPU cap
  const TsneFftGrid wide_gpu = tsne_fft_grid(cfg, 2, wlo, whi, true);
  EXPECT_EQ(wide_gpu.fft_size, 1024);  // 200 boxes needed, 170 fit the GPU cap
  EXPECT_EQ(wide_gpu.boxes, 170);
}

TEST(TsneRef, RandomAndPcaInit) {
  auto cpu = make_cpu_backend();
  // Random: 1e-4 N(0, 1) from Philox, reproducible.
  const auto a = tsne_random_init(20000, 2, 7), b = tsne_random_init(20000, 2, 7);
  EXPECT_EQ(a, b);
  double m = 0, s = 0;
  for (float v : a) m += v;
  m /= a.size();
  for (float v : a) s += (v - m) * (v - m);
  s = std::sqrt(s / a.size());
  // 40000 draws: the mean's standard error is 5e-7, the std's ~3.5e-7; 5 sigma.
  EXPECT_NEAR(m, 0, 2.5e-6);
  EXPECT_NEAR(s, 1e-4, 2e-6);
  // PCA: points spread mostly along (1, 2, 2)/3, then along (2, 1, -2)/3, little along the third.
  LK_SEEDED_RNG(rng);
  const int n = 500;
  std::normal_distribution<double> nd(0, 1);
  std::vector<float> X(n * 3);
  const double u1[3] = {1 / 3.0, 2 / 3.0, 2 / 3.0}, u2[3] = {2 / 3.0, 1 / 3.0, -2 / 3.0},
               u3[3] = {2 / 3.0, -2 / 3.0, 1 / 3.0};
  for (int i = 0; i < n; ++i) {
    const double c1 = 10 * nd(rng), c2 = 3 * nd(rng), c3 = 0.1 * nd(rng);
    for (int a2 = 0; a2 < 3; ++a2)
      X[i * 3 + a2] = static_cast<float>(5 + c1 * u1[a2] + c2 * u2[a2] + c3 * u3[a2]);
  }
  const auto Y = tsne_pca_init(*cpu, X, n, 3, 2);
  // Each coordinate is the projection on a principal axis: correlate with the true projections.
  for (int comp = 0; comp < 2; ++comp) {
    const double* u = comp == 0 ? u1 : u2;
    double sxy = 0, sxx = 0, syy = 0, my = 0, mx = 0;
    std::vector<double> proj(n);
    for (int i = 0; i < n; ++i) {
      proj[i] = 0;
      for (int a2 = 0; a2 < 3; ++a2) proj[i] += X[i * 3 + a2] * u[a2];
      mx += proj[i];
      my += Y[i * 2 + comp];
    }
    mx /= n;
    my /= n;
    for (int i = 0; i < n; ++i) {
      sxy += (proj[i] - mx) * (Y[i * 2 + comp] - my);
      sxx += (proj[i] - mx) * (proj[i] - mx);
      syy += (Y[i * 2 + comp] - my) * (Y[i * 2 + comp] - my);
    }
    // The sample's principal axes differ from the true ones by sampling error (500 points: a few
    // hundredths of a radian), so the correlation is ~0.999, not 1; a wrong axis gives < 0.3.
    EXPECT_GT(std::fabs(sxy) / std::sqrt(sxx * syy), 0.99) << "component " << comp;
    if (comp == 0) EXPECT_NEAR(std::sqrt(syy / n), 1e-4, 1e-9);  // std of the first is 1e-4
  }
}

// Fraction of each point's `k` nearest neighbours in the embedding that share its label.
double label_agreement(const std::vector<float>& Y, const std::vector<int>& labels, int dims,
                       int k) {
  const int n = static_cast<int>(labels.size());
  double agree = 0;
  std::vector<std::pair<double, int>> d(n);
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j < n; ++j) {
      double r2 = 0;
      for (int a = 0; a < dims; ++a) r2 += std::pow(double(Y[i * dims + a]) - Y[j * dims + a], 2);
      d[j] = {j == i ? 1e300 : r2, j};
    }
    std::partial_sort(d.begin(), d.begin() + k, d.end());
    for (int m = 0; m < k; ++m) agree += labels[d[m].second] == labels[i];
  }
  return agree / (double(n) * k);
}

TEST(TsneRun, SeparatesClustersAndKlDecreases) {
  auto cpu = make_cpu_backend();
  for (const char* method : {"exact", "fft"}) {
    for (int dims : {2, 3}) {
      SCOPED_TRACE(std::string(method) + " dims=" + std::to_string(dims));
      GaussianMixtureSpec spec;
      spec.k = 5;
      spec.d = 10;
      spec.n = 400;
      spec.mean_low = -20;  // far apart relative to unit variances: well separated
      spec.mean_high = 20;
      const Dataset data = make_gaussian_mixture(spec, 3);
      TsneOptions opt;
      opt.dims = dims;
      opt.iterations = 400;
      opt.method = parse_enum<TsneMethod>(method);
      // Small grids keep the test quick (a 64^3 grid costs ~40 ms per iteration on one core);
      // 400 points of 5 clusters do not need more.
      opt.fft.max_fft_size = dims == 2 ? 64 : 32;
      const TsneResult r = run_tsne(*cpu, data.x, data.n, data.d, opt);
      ASSERT_EQ(r.embedding.size(), static_cast<size_t>(data.n) * dims);
      EXPECT_EQ(r.method, method);
      // KL reported every 50 iterations; after the exaggeration phase it must keep decreasing
      // (within 1e-3 of float noise) and end well below its first value.
      ASSERT_EQ(r.kl_history.size(), 8u);
      for (size_t h = 6; h < r.kl_history.size(); ++h)
        EXPECT_LE(r.kl_history[h].second, r.kl_history[h - 1].second + 1e-3);
      EXPECT_LT(r.kl, r.kl_history.front().second);
      // Well-separated clusters: > 95% of each point's 10 nearest neighbours in the embedding
      // share its cluster (a random embedding would give ~20%).
      EXPECT_GT(label_agreement(r.embedding, data.labels, dims, 10), 0.95);
      // Same seed, same device: the same result.
      if (dims == 2) {
        const TsneResult again = run_tsne(*cpu, data.x, data.n, data.d, opt);
        EXPECT_EQ(again.embedding, r.embedding);
      }
    }
  }
}

TEST(TsneRun, RejectsBadInput) {
  auto cpu = make_cpu_backend();
  TsneOptions opt;
  opt.iterations = 2;
  std::vector<float> x(20 * 3, 1.f);
  EXPECT_THROW(run_tsne(*cpu, x, 20, 3, opt), InputError);  // identical rows
  for (int i = 0; i < 20; ++i) x[i * 3] = static_cast<float>(i);
  EXPECT_THROW(run_tsne(*cpu, x, 20, 3, opt), InputError);  // perplexity 30 >= 20 rows
  opt.perplexity = 5;
  EXPECT_NO_THROW(run_tsne(*cpu, x, 20, 3, opt));
  x[7] = std::nanf("");
  EXPECT_THROW(run_tsne(*cpu, x, 20, 3, opt), InputError);
  x[7] = 0;
  opt.dims = 4;
  EXPECT_THROW(run_tsne(*cpu, x, 20, 3, opt), InputError);
  opt.dims = 3;
  opt.init = TsneInit::Pca;
  EXPECT_THROW(run_tsne(*cpu, std::vector<float>(40, 0.f), 20, 2, opt), InputError);
  EXPECT_THROW(parse_enum<TsneMethod>("bh"), InputError);
}

}  // namespace
}  // namespace latentkit
