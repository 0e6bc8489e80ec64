// Tests of reparameterised sampling (latentkit::ref::reparam_forward / reparam_backward /
// fill_normal; host/ref/reparam.cpp):
//  - eps is exactly philox_normal(seed, Latent, offset, r*l + j) rounded to T; z = mu + exp(½lv)
//  eps;
//  - the backward against float64 central differences of sum(z * R) with eps held fixed;
//  - moments of fill_normal (1e6 draws) and of z for a fixed (mu, logvar) (1e5 rows);
//  - offsets, streams and seeds give different draws; shapes 1, 31, 33, 1021.
#include <cfloat>
#include <cmath>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "latentkit/core/check.h"
#include "latentkit/ref/ops_ref.h"
#include "test_util.h"

namespace latentkit {
namespace {

using test::all_close;
using test::Tolerance;

struct Shape {
  int n, l;
};
const Shape kShapes[] = {{1, 1}, {1, 2}, {31, 33}, {33, 31}, {1021, 3}, {4, 128}};

std::string shape_name(const Shape& s) {
  return "n=" + std::to_string(s.n) + " l=" + std::to_string(s.l);
}

template <class T>
void check_forward(std::mt19937_64& rng, uint64_t seed) {
  for (const Shape& s : kShapes) {
    for (uint32_t offset : {0u, 1u, 12345u, 0xffffffffu}) {
      SCOPED_TRACE(shape_name(s) + " offset=" + std::to_string(offset));
      const size_t count = static_cast<size_t>(s.n) * s.l;
      const auto mu = test::random_uniform<T>(count, rng, -3, 3);
      const auto lv = test::random_uniform<T>(count, rng, -4, 3);
      std::vector<T> eps(count, static_cast<T>(test::kPoison)),
          z(count, static_cast<T>(test::kPoison));
      ref::reparam_forward<T>(mu.data(), lv.data(), s.n, s.l, seed, offset, eps.data(), z.data());
      std::vector<double> expect_z(count);
      size_t eps_mismatch = 0;
      for (int r = 0; r < s.n; ++r)
        for (int j = 0; j < s.l; ++j) {
          const size_t i = static_cast<size_t>(r) * s.l + j;
          // eps is the documented Philox draw, exactly (bitwise), rounded to T.
          const T e = static_cast<T>(philox_normal(seed, RngStream::Latent, offset, i));
          if (!(eps[i] == e)) ++eps_mismatch;
          expect_z[i] = static_cast<double>(mu[i]) +
                        std::sqrt(std::exp(static_cast<double>(lv[i]))) * static_cast<double>(e);
        }
      EXPECT_EQ(eps_mismatch, 0u) << "eps differs from philox_normal(seed, Latent, offset, r*l+j)";
      // z in float64 from the same (mu, lv, eps); sqrt(exp(lv)) vs exp(lv/2) differ by ~2 ulps of
      // float64. For T = float the result is rounded once: 1/2 ulp (rtol FLT_EPSILON); atol covers
      // z ~ 0 after cancellation of mu and sigma*eps (|diff| ~ 1e-15 * (|mu| + |sigma eps|)).
      const double rtol = sizeof(T) == 4 ? FLT_EPSILON : 1e-14;
      EXPECT_TRUE(all_close(z, expect_z, Tolerance{1e-13, rtol, rtol})) << "z";
    }
  }
}

TEST(ReparamRef, ForwardDrawsDocumentedPhiloxNoise) {
  LK_SEEDED_RNG(rng);
  const uint64_t seed = rng();
  {
    SCOPED_TRACE("double");
    check_forward<double>(rng, seed);
  }
  {
    SCOPED_TRACE("float");
    check_forward<float>(rng, seed);
  }
}

// d/dmu and d/dlogvar of sum(z * R) with eps fixed (the noise is a pure function of seed, offset
// and index, so calling the forward again with perturbed mu / logvar keeps it fixed).
TEST(ReparamRef, BackwardMatchesCentralDifferences) {
  LK_SEEDED_RNG(rng);
  const uint64_t seed = rng();
  const uint32_t offset = static_cast<uint32_t>(rng());
  for (const Shape& s : kShapes) {
    if (s.n * s.l > 1100) continue;  // the FD loop is quadratic in the size (1021x3: forward only)
    SCOPED_TRACE(shape_name(s));
    const size_t count = static_cast<size_t>(s.n) * s.l;
    auto mu = test::random_uniform<double>(count, rng, -3, 3);
    auto lv = test::random_uniform<double>(count, rng, -4, 3);
    const auto R = test::random_uniform<double>(count, rng, -1, 1);
    std::vector<double> eps(count), z(count);
    auto loss = [&] {
      ref::reparam_forward<double>(mu.data(), lv.data(), s.n, s.l, seed, offset, eps.data(),
                                   z.data());
      double L = 0;
      for (size_t i = 0; i < count; ++i) L += z[i] * R[i];
      return L;
    };
    loss();  // fills eps for the backward
    const std::vector<double> eps0 = eps;
    const double nan = std::numeric_limits<double>::quiet_NaN();
    std::vector<double> dmu(count, nan), dlv(count, nan);
    ref::reparam_backward<double>(R.data(), lv.data(), eps0.data(), s.n, s.l, dmu.data(),
                                  dlv.data());

    // h = 1e-6 on O(1) inputs: truncation h^2 |z'''| <= 1e-12 * e^1.5 |eps|, rounding
    // eps_64 |L| / h ~ 1e-16 * 1e3 / 1e-6 = 1e-7 at most: atol 1e-6, rtol 1e-6.
    const double h = 1e-6;
    std::vector<double> fd_mu(count), fd_lv(count);
    for (size_t i = 0; i < count; ++i) {
      for (auto [vec, out] : {std::pair{&mu, &fd_mu}, std::pair{&lv, &fd_lv}}) {
        const double keep = (*vec)[i];
        (*vec)[i] = keep + h;
        const double lp = loss();
        (*vec)[i] = keep - h;
        const double lm = loss();
        (*vec)[i] = keep;
        (*out)[i] = (lp - lm) / (2 * h);
      }
    }
    EXPECT_EQ(eps, eps0) << "eps must be a pure function of (seed, offset, index)";
    const Tolerance tol{1e-6, 1e-6, 1e-6};
    EXPECT_TRUE(all_close(dmu, fd_mu, tol)) << "dmu";
    EXPECT_TRUE(all_close(dlv, fd_lv, tol)) << "dlogvar";
  }
}

// Mean and variance of n draws. For N(m, s^2): the standard error of the mean is s / sqrt(n), that
// of the sample variance s^2 sqrt(2 / (n - 1)). Each bound is 5 standard errors: a correct sampler
// fails one with probability < 6e-7.
struct Moments {
  double mean, var;
};
template <class T>
Moments moments(const T* v, size_t n, size_t stride = 1) {
  double m = 0;
  for (size_t i = 0; i < n; ++i) m += v[i * stride];
  m /= n;
  double q = 0;
  for (size_t i = 0; i < n; ++i) q += (v[i * stride] - m) * (v[i * stride] - m);
  return {m, q / (n - 1)};
}

TEST(ReparamRef, FillNormalMomentsAndOffsets) {
  LK_SEEDED_RNG(rng);
  const uint64_t seed = rng();
  const uint32_t offset = static_cast<uint32_t>(rng());
  const size_t n = 1000000;
  std::vector<float> a(n, test::kPoison);
  ref::fill_normal<float>(a.data(), n, seed, RngStream::Test, offset);
  size_t nonfinite = 0;
  for (float x : a) nonfinite += !std::isfinite(x);
  ASSERT_EQ(nonfinite, 0u);
  const Moments mo = moments(a.data(), n);
  // n = 1e6: se(mean) = 1e-3, se(var) = sqrt(2e-6) = 1.41e-3; 5 standard errors.
  EXPECT_NEAR(mo.mean, 0.0, 5 * 1e-3);
  EXPECT_NEAR(mo.var, 1.0, 5 * 1.414e-3);

  // The documented draw, exactly; and the double instantiation agrees before rounding.
  std::vector<double> ad(1021);
  ref::fill_normal<double>(ad.data(), ad.size(), seed, RngStream::Test, offset);
  for (size_t i = 0; i < ad.size(); ++i) {
    ASSERT_EQ(ad[i], philox_normal(seed, RngStream::Test, offset, i)) << i;
    ASSERT_EQ(a[i], static_cast<float>(ad[i])) << i;
  }

  // Another offset, stream or seed: independent draws. Two continuous draws coincide (as floats)
  // with probability ~1e-7 each, so of 10000 pairs essentially none may be equal (allow 3).
  const size_t m = 10000;
  auto count_equal = [&](uint64_t sd, RngStream st, uint32_t off) {
    std::vector<float> b(m);
    ref::fill_normal<float>(b.data(), m, sd, st, off);
    size_t eq = 0;
    for (size_t i = 0; i < m; ++i) eq += b[i] == a[i];
    return eq;
  };
  EXPECT_LE(count_equal(seed, RngStream::Test, offset + 1), 3u) << "offset + 1";
  EXPECT_LE(count_equal(seed, RngStream::Test, offset ^ 0x80000000u), 3u) << "offset high bit";
  EXPECT_LE(count_equal(seed, RngStream::Latent, offset), 3u) << "another stream";
  EXPECT_LE(count_equal(seed + 1, RngStream::Test, offset), 3u) << "seed + 1";
  EXPECT_LE(count_equal(seed ^ (1ull << 63), RngStream::Test, offset), 3u) << "seed high bit";
  EXPECT_EQ(count_equal(seed, RngStream::Test, offset), m) << "same arguments: same draws";
}

// z ~ N(mu, exp(lv)) per column for a fixed (mu, lv) repeated over 1e5 rows.
TEST(ReparamRef, LatentMomentsMatchMuAndLogvar) {
  LK_SEEDED_RNG(rng);
  const uint64_t seed = rng();
  const uint32_t offset = static_cast<uint32_t>(rng());
  const int n = 100000;
  const std::vector<float> mu_row = {0.5f, -2.0f, 3.0f}, lv_row = {0.0f, -1.5f, 1.2f};
  const int l = static_cast<int>(mu_row.size());
  std::vector<float> mu(static_cast<size_t>(n) * l), lv(mu.size()), eps(mu.size()), z(mu.size());
  for (int r = 0; r < n; ++r)
    for (int j = 0; j < l; ++j) {
      mu[static_cast<size_t>(r) * l + j] = mu_row[j];
      lv[static_cast<size_t>(r) * l + j] = lv_row[j];
    }
  ref::reparam_forward<float>(mu.data(), lv.data(), n, l, seed, offset, eps.data(), z.data());
  for (int j = 0; j < l; ++j) {
    SCOPED_TRACE("column " + std::to_string(j));
    const double var = std::exp(static_cast<double>(lv_row[j]));
    const Moments mo = moments(z.data() + j, n, l);
    // 5 standard errors: sqrt(var / n) for the mean, var sqrt(2 / (n-1)) for the variance.
    EXPECT_NEAR(mo.mean, mu_row[j], 5 * std::sqrt(var / n));
    EXPECT_NEAR(mo.var, var, 5 * var * std::sqrt(2.0 / (n - 1)));
  }
}

TEST(ReparamRef, BadShapesThrow) {
  std::vector<double> b(8, 0.5);
  double* p = b.data();
  for (auto [n, l] : {std::pair{0, 2}, std::pair{2, 0}, std::pair{-3, 2}}) {
    SCOPED_TRACE("n=" + std::to_string(n) + " l=" + std::to_string(l));
    EXPECT_THROW(ref::reparam_forward<double>(p, p, n, l, 1, 0, p, p), Error);
    EXPECT_THROW(ref::reparam_backward<double>(p, p, p, n, l, p, p), Error);
  }
}

}  // namespace
}  // namespace latentkit
