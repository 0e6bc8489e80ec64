// Tests of the loss reference (latentkit::ref::sse_loss, bce_logits_loss, kl_normal_loss;
// host/ref/losses.cpp):
//  - per-row losses against hand formulas written differently from the implementation;
//  - gradients against float64 central differences of grad_scale * sum(row losses);
//  - grad_scale scales the gradient and not the row loss; KL accumulates into dmu / dlogvar;
//  - BCE stays finite and accurate for logits far in the tails (|l| = 50 ... 1e4);
//  - shapes with odd tails (1, 31, 33, a 128-wide row); NaN inputs fail the comparison.
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <functional>
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
  int n, d;
};
const Shape kShapes[] = {{1, 1}, {1, 5}, {31, 33}, {33, 31}, {7, 128}, {100, 3}};

std::string shape_name(const Shape& s) {
  return "n=" + std::to_string(s.n) + " d=" + std::to_string(s.d);
}

const double kNan = std::numeric_limits<double>::quiet_NaN();

// Central differences of f with respect to every element of x. h = 1e-6 on O(1) inputs:
// truncation h^2 |f'''| ~ 1e-12, rounding eps_64 |f| / h ~ 1e-16 * 1e3 / 1e-6 = 1e-7 at most for
// the largest shapes (|f| is a sum of up to 3300 O(1) terms), typically 1e-9.
std::vector<double> fd_grad(std::vector<double>& x, const std::function<double()>& f) {
  const double h = 1e-6;
  std::vector<double> g(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const double keep = x[i];
    x[i] = keep + h;
    const double fp = f();
    x[i] = keep - h;
    const double fm = f();
    x[i] = keep;
    g[i] = (fp - fm) / (2 * h);
  }
  return g;
}

// Gradients are O(1) (scaled by grad_scale ~ 0.37); FD error <= ~1e-7 absolute (see fd_grad):
// atol 1e-6 and rtol 1e-6 give margin, while a wrong factor (a missing 2, ½ or grad_scale) is off
// by O(1).
constexpr Tolerance kFdTol{1e-6, 1e-6, 1e-6};

// Row losses vs hand formulas in float64: the same terms summed possibly in another order, so
// |diff| <= d * 2^-53 * sum|terms|: rtol 1e-13 and atol 1e-13 for rows near zero.
constexpr Tolerance kFormulaTol{1e-13, 1e-13, 1e-13};

double sum_of(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s;
}

TEST(LossesRef, SseRowsAndGradient) {
  LK_SEEDED_RNG(rng);
  const double gs = 0.37;  // not 1, so a missing or doubled grad_scale shows
  for (const Shape& s : kShapes) {
    SCOPED_TRACE(shape_name(s));
    const size_t nd = static_cast<size_t>(s.n) * s.d;
    auto xhat = test::random_uniform<double>(nd, rng, -2, 2);
    const auto x = test::random_uniform<double>(nd, rng, -2, 2);
    std::vector<double> dxhat(nd, kNan), rows(s.n, kNan);
    ref::sse_loss<double>(xhat.data(), x.data(), s.n, s.d, gs, dxhat.data(), rows.data());

    std::vector<double> expect(s.n, 0.0);
    for (int r = 0; r < s.n; ++r)
      for (int j = 0; j < s.d; ++j) expect[r] += std::pow(xhat[r * s.d + j] - x[r * s.d + j], 2);
    EXPECT_TRUE(all_close(rows, expect, kFormulaTol)) << "row loss";

    std::vector<double> scratch(nd), srows(s.n);
    auto f = [&] {
      ref::sse_loss<double>(xhat.data(), x.data(), s.n, s.d, gs, scratch.data(), srows.data());
      return gs * sum_of(srows);
    };
    EXPECT_TRUE(all_close(dxhat, fd_grad(xhat, f), kFdTol)) << "dxhat";
  }
}

// The textbook binary cross-entropy -[x log s + (1-x) log(1-s)], s = sigmoid(l), written without
// the max/log1p rearrangement; accurate for |l| < ~15 (used below with |l| <= 6).
double bce_textbook(double l, double x) {
  const double s = 1.0 / (1.0 + std::exp(-l));
  return -(x * std::log(s) + (1.0 - x) * std::log(1.0 - s));
}

TEST(LossesRef, BceRowsAndGradient) {
  LK_SEEDED_RNG(rng);
  const double gs = 0.37;
  for (const Shape& s : kShapes) {
    SCOPED_TRACE(shape_name(s));
    const size_t nd = static_cast<size_t>(s.n) * s.d;
    auto logits = test::random_uniform<double>(nd, rng, -6, 6);
    const auto x = test::random_uniform<double>(nd, rng, 0, 1);  // soft targets in [0, 1]
    std::vector<double> dl(nd, kNan), rows(s.n, kNan);
    ref::bce_logits_loss<double>(logits.data(), x.data(), s.n, s.d, gs, dl.data(), rows.data());

    std::vector<double> expect(s.n, 0.0);
    for (int r = 0; r < s.n; ++r)
      for (int j = 0; j < s.d; ++j) expect[r] += bce_textbook(logits[r * s.d + j], x[r * s.d + j]);
    // The textbook form loses accuracy in log(1 - s) for l up to 6: 1 - s >= 2.5e-3, so the
    // relative error of that term is <= 2^-53 / 2.5e-3 ~ 5e-14 per term: rtol 1e-12.
    EXPECT_TRUE(all_close(rows, expect, Tolerance{1e-12, 1e-12, 1e-12})) << "row loss";

    std::vector<double> scratch(nd), srows(s.n);
    auto f = [&] {
      ref::bce_logits_loss<double>(logits.data(), x.data(), s.n, s.d, gs, scratch.data(),
                                   srows.data());
      return gs * sum_of(srows);
    };
    EXPECT_TRUE(all_close(dl, fd_grad(logits, f), kFdTol)) << "dlogits";
  }
}

// Far tails: the loss of a logit l with target x in {0, 1} is softplus(-l) for x = 1 and
// softplus(l) for x = 0, i.e. ~|l| when the sign is wrong and ~exp(-|l|) when it is right; the
// gradient tends to -1 / +1 / 0. No NaN or Inf anywhere, in both float and double.
template <class T>
void check_bce_tails() {
  const double ls[] = {50, -50, 100, -100, 700, -700, 1e4, -1e4};
  for (double l : ls) {
    for (double x : {0.0, 1.0}) {
      SCOPED_TRACE("l=" + std::to_string(l) + " x=" + std::to_string(x));
      const T lt = static_cast<T>(l), xt = static_cast<T>(x);
      T dl = static_cast<T>(kNan), row = static_cast<T>(kNan);
      ref::bce_logits_loss<T>(&lt, &xt, 1, 1, T(1), &dl, &row);
      ASSERT_TRUE(std::isfinite(static_cast<double>(row))) << row;
      ASSERT_TRUE(std::isfinite(static_cast<double>(dl))) << dl;
      const bool wrong_sign = (l > 0) != (x > 0.5);
      const double lv = static_cast<double>(lt);
      if (wrong_sign) {
        // softplus(|l|) = |l| + log1p(exp(-|l|)): equal to |l| within exp(-50) ~ 2e-22 relative;
        // float rounding of the result allows 1/2 ulp (rtol FLT_EPSILON).
        EXPECT_NEAR(static_cast<double>(row), std::fabs(lv), std::fabs(lv) * FLT_EPSILON);
        EXPECT_EQ(static_cast<double>(dl), x > 0.5 ? -1.0 : 1.0);
      } else {
        // softplus(-|l|) = log1p(exp(-|l|)) ~ exp(-|l|): positive (or 0 once it underflows), and
        // relatively accurate (rtol 1e-6: exp(-|l|) vs log1p(exp(-|l|)) differ by exp(-|l|)/2
        // relative, below 1e-21 here; float rounding adds < 1e-7), plus one denormal step of T
        // (exp(-100) = 3.7e-44 is a float denormal, exp(-700) underflows to 0 in float).
        const double expect = std::exp(-std::fabs(lv));
        EXPECT_GE(static_cast<double>(row), 0.0);
        EXPECT_NEAR(static_cast<double>(row), expect,
                    1e-6 * expect + static_cast<double>(std::numeric_limits<T>::denorm_min()));
        EXPECT_LE(std::fabs(static_cast<double>(dl)), 1e-21);
      }
    }
  }
}

TEST(LossesRef, BceFarTailsAreStable) {
  {
    SCOPED_TRACE("double");
    check_bce_tails<double>();
  }
  {
    SCOPED_TRACE("float");
    check_bce_tails<float>();
  }
}

TEST(LossesRef, KlRowsGradientAndAccumulation) {
  LK_SEEDED_RNG(rng);
  const double gs = 0.37;
  for (const Shape& s : kShapes) {
    SCOPED_TRACE(shape_name(s));
    const size_t nl = static_cast<size_t>(s.n) * s.d;
    auto mu = test::random_uniform<double>(nl, rng, -2, 2);
    auto lv = test::random_uniform<double>(nl, rng, -3, 2);
    // Gradients start non-zero: the op must add its gradient to them.
    const auto dmu0 = test::random_uniform<double>(nl, rng, -1, 1);
    const auto dlv0 = test::random_uniform<double>(nl, rng, -1, 1);
    std::vector<double> dmu = dmu0, dlv = dlv0, rows(s.n, kNan);
    ref::kl_normal_loss<double>(mu.data(), lv.data(), s.n, s.d, gs, dmu.data(), dlv.data(),
                                rows.data());

    // KL(N(mu, s^2) || N(0, 1)) = ½ (mu^2 + s^2 - log s^2 - 1) per dimension.
    std::vector<double> expect(s.n, 0.0);
    for (int r = 0; r < s.n; ++r)
      for (int j = 0; j < s.d; ++j) {
        const double m = mu[r * s.d + j], var = std::exp(lv[r * s.d + j]);
        expect[r] += 0.5 * (m * m + var - std::log(var) - 1.0);
      }
    EXPECT_TRUE(all_close(rows, expect, kFormulaTol)) << "row KL";

    std::vector<double> smu(nl), slv(nl), srows(s.n);
    auto f = [&] {
      std::fill(smu.begin(), smu.end(), 0.0);
      std::fill(slv.begin(), slv.end(), 0.0);
      ref::kl_normal_loss<double>(mu.data(), lv.data(), s.n, s.d, gs, smu.data(), slv.data(),
                                  srows.data());
      return gs * sum_of(srows);
    };
    std::vector<double> fd_mu = fd_grad(mu, f), fd_lv = fd_grad(lv, f);
    // The op's contribution is dmu - dmu0; compare the total instead (dmu0 + FD) so that the
    // tolerance stays relative to what was written.
    for (size_t i = 0; i < nl; ++i) {
      fd_mu[i] += dmu0[i];
      fd_lv[i] += dlv0[i];
    }
    EXPECT_TRUE(all_close(dmu, fd_mu, kFdTol)) << "dmu (accumulated)";
    EXPECT_TRUE(all_close(dlv, fd_lv, kFdTol)) << "dlogvar (accumulated)";
  }
}

// grad_scale multiplies the gradient only: the row losses are unscaled.
TEST(LossesRef, GradScaleScalesGradientOnly) {
  LK_SEEDED_RNG(rng);
  const Shape s{31, 33};
  const size_t nd = static_cast<size_t>(s.n) * s.d;
  const auto a = test::random_uniform<double>(nd, rng, -3, 3);
  const auto t = test::random_uniform<double>(nd, rng, 0, 1);
  // One multiplication more or less in float64: rtol 4 eps_64.
  const Tolerance tol{0, 4 * DBL_EPSILON, 4 * DBL_EPSILON};
  for (double gs : {1.0, 0.125, 3.5, 1.0 / 31}) {
    SCOPED_TRACE("grad_scale=" + std::to_string(gs));
    std::vector<double> g1(nd), gk(nd), r1(s.n), rk(s.n);
    ref::sse_loss<double>(a.data(), t.data(), s.n, s.d, 1.0, g1.data(), r1.data());
    ref::sse_loss<double>(a.data(), t.data(), s.n, s.d, gs, gk.data(), rk.data());
    for (auto& v : g1) v *= gs;
    EXPECT_TRUE(all_close(gk, g1, tol)) << "sse";
    EXPECT_EQ(rk, r1) << "sse rows must not be scaled";

    ref::bce_logits_loss<double>(a.data(), t.data(), s.n, s.d, 1.0, g1.data(), r1.data());
    ref::bce_logits_loss<double>(a.data(), t.data(), s.n, s.d, gs, gk.data(), rk.data());
    for (auto& v : g1) v *= gs;
    EXPECT_TRUE(all_close(gk, g1, tol)) << "bce";
    EXPECT_EQ(rk, r1) << "bce rows must not be scaled";

    std::vector<double> m1(nd, 0.0), l1(nd, 0.0), mk(nd, 0.0), lk(nd, 0.0);
    ref::kl_normal_loss<double>(a.data(), t.data(), s.n, s.d, 1.0, m1.data(), l1.data(), r1.data());
    ref::kl_normal_loss<double>(a.data(), t.data(), s.n, s.d, gs, mk.data(), lk.data(), rk.data());
    for (auto& v : m1) v *= gs;
    for (auto& v : l1) v *= gs;
    EXPECT_TRUE(all_close(mk, m1, tol)) << "kl dmu";
    EXPECT_TRUE(all_close(lk, l1, tol)) << "kl dlogvar";
    EXPECT_EQ(rk, r1) << "kl rows must not be scaled";
  }
}

// float storage, float64 arithmetic: the float instantiation on float inputs equals the double
// instantiation on the same values up to the final rounding (<= 1/2 ulp: rtol FLT_EPSILON; atol
// for rows that are ~0 in float64 where summation order matters at 1e-15).
TEST(LossesRef, FloatMatchesDoubleOnSameInputs) {
  LK_SEEDED_RNG(rng);
  const Tolerance kUlp{1e-12, FLT_EPSILON, FLT_EPSILON};
  for (const Shape& s : kShapes) {
    SCOPED_TRACE(shape_name(s));
    const size_t nd = static_cast<size_t>(s.n) * s.d;
    const auto af = test::random_uniform<float>(nd, rng, -3, 3);
    const auto tf = test::random_uniform<float>(nd, rng, 0, 1);
    const std::vector<double> ad(af.begin(), af.end()), td(tf.begin(), tf.end());
    const float gs = 0.37f;
    std::vector<float> gf(nd, test::kPoison), rf(s.n, test::kPoison);
    std::vector<double> gd(nd), rd(s.n);
    ref::sse_loss<float>(af.data(), tf.data(), s.n, s.d, gs, gf.data(), rf.data());
    ref::sse_loss<double>(ad.data(), td.data(), s.n, s.d, gs, gd.data(), rd.data());
    EXPECT_TRUE(all_close(gf, gd, kUlp)) << "sse grad";
    EXPECT_TRUE(all_close(rf, rd, kUlp)) << "sse rows";
    ref::bce_logits_loss<float>(af.data(), tf.data(), s.n, s.d, gs, gf.data(), rf.data());
    ref::bce_logits_loss<double>(ad.data(), td.data(), s.n, s.d, gs, gd.data(), rd.data());
    EXPECT_TRUE(all_close(gf, gd, kUlp)) << "bce grad";
    EXPECT_TRUE(all_close(rf, rd, kUlp)) << "bce rows";
    std::vector<float> mf(nd, 0.5f), lf(nd, -0.25f);
    std::vector<double> md(nd, 0.5), ld(nd, -0.25);
    ref::kl_normal_loss<float>(af.data(), tf.data(), s.n, s.d, gs, mf.data(), lf.data(), rf.data());
    ref::kl_normal_loss<double>(ad.data(), td.data(), s.n, s.d, gs, md.data(), ld.data(),
                                rd.data());
    EXPECT_TRUE(all_close(mf, md, kUlp)) << "kl dmu";
    EXPECT_TRUE(all_close(lf, ld, kUlp)) << "kl dlogvar";
    EXPECT_TRUE(all_close(rf, rd, kUlp)) << "kl rows";
  }
}

TEST(LossesRef, BadShapesThrowAndNanPropagates) {
  std::vector<double> b(8, 0.5);
  double* p = b.data();
  for (auto [n, d] : {std::pair{0, 3}, std::pair{3, 0}, std::pair{-1, 3}}) {
    SCOPED_TRACE("n=" + std::to_string(n) + " d=" + std::to_string(d));
    EXPECT_THROW(ref::sse_loss<double>(p, p, n, d, 1.0, p, p), Error);
    EXPECT_THROW(ref::bce_logits_loss<double>(p, p, n, d, 1.0, p, p), Error);
    EXPECT_THROW(ref::kl_normal_loss<double>(p, p, n, d, 1.0, p, p, p), Error);
  }
  // A NaN prediction must reach the row loss (and so fail every check and the training loss).
  const double xs[2] = {kNan, 0.5}, ts[2] = {0.0, 1.0};
  double g[2], row[1];
  ref::sse_loss<double>(xs, ts, 1, 2, 1.0, g, row);
  EXPECT_TRUE(std::isnan(row[0]));
  ref::bce_logits_loss<double>(xs, ts, 1, 2, 1.0, g, row);
  EXPECT_TRUE(std::isnan(row[0]));
  double dm[2] = {0, 0}, dl[2] = {0, 0};
  ref::kl_normal_loss<double>(xs, ts, 1, 2, 1.0, dm, dl, row);
  EXPECT_TRUE(std::isnan(row[0]));
}

}  // namespace
}  // namespace latentkit
