// Tests of the optimiser references (latentkit::ref::adam_step / sgd_momentum_step;
// host/ref/optim.cpp):
//  - Adam over 5 steps against an independent float64 transcription of torch.optim.Adam in its
//    bias-corrected form (m_hat, v_hat), with and without weight decay, double and float storage;
//  - the first-step property of Adam: every parameter moves by lr * sign(g) when |g| >> eps;
//  - SGD with momentum over 3 steps against the closed-form sums;
//  - t < 1 throws. Sizes 1, 31, 33, 1021.
#include <cfloat>
#include <cmath>
#include <string>
#include <vector>

#include "latentkit/core/check.h"
#include "latentkit/ref/ops_ref.h"
#include "test_util.h"

namespace latentkit {
namespace {

using test::all_close;
using test::Tolerance;

const size_t kSizes[] = {1, 31, 33, 1021};

// torch.optim.Adam (weight_decay as L2 on the gradient, amsgrad off), written in the
// bias-corrected form of Kingma & Ba: m_hat = m / (1 - b1^t), v_hat = v / (1 - b2^t),
// p -= lr * m_hat / (sqrt(v_hat) + eps). Algebraically identical to the lr / (1 - b1^t) step size
// with sqrt(v) / sqrt(1 - b2^t) + eps used by torch and the reference, rounded differently.
// State is rounded to T after every step, as the stored state is.
template <class T>
struct HandAdam {
  std::vector<double> p, m, v;  // the stored state: values representable in T
  AdamConfig cfg;
  void step(const std::vector<T>& g, int t) {
    // The config holds floats; both sides use exactly those values.
    const double lr = cfg.lr, b1 = cfg.beta1, b2 = cfg.beta2, eps = cfg.eps, wd = cfg.weight_decay;
    double b1t = 1, b2t = 1;
    for (int i = 0; i < t; ++i) {
      b1t *= b1;
      b2t *= b2;
    }
    for (size_t i = 0; i < p.size(); ++i) {
      const double grad = static_cast<double>(g[i]) + wd * p[i];
      const double mi = b1 * m[i] + (1 - b1) * grad;
      const double vi = b2 * v[i] + (1 - b2) * grad * grad;
      const double m_hat = mi / (1 - b1t), v_hat = vi / (1 - b2t);
      m[i] = static_cast<T>(mi);
      v[i] = static_cast<T>(vi);
      p[i] = static_cast<T>(p[i] - lr * m_hat / (std::sqrt(v_hat) + eps));
    }
  }
};

// Tolerances of one Adam comparison: m and v, p, and (float64 only) the step p_t - p_{t-1}.
struct AdamTol {
  Tolerance mv, p;
  double step_rtol;  // < 0: not checked
};

template <class T>
void check_adam(const AdamConfig& cfg, std::mt19937_64& rng, const AdamTol& tol) {
  for (size_t n : kSizes) {
    SCOPED_TRACE("n=" + std::to_string(n));
    auto p = test::random_uniform<T>(n, rng, -1, 1);
    std::vector<T> m(n, T(0)), v(n, T(0));
    HandAdam<T> hand{std::vector<double>(p.begin(), p.end()), std::vector<double>(n, 0.0),
                     std::vector<double>(n, 0.0), cfg};
    for (int t = 1; t <= 5; ++t) {
      SCOPED_TRACE("step " + std::to_string(t));
      // Gradients of mixed scale (1e-3 .. 1) and sign, new every step.
      auto g = test::random_uniform<T>(n, rng, -1, 1);
      for (size_t i = 0; i < n; i += 3) g[i] = static_cast<T>(g[i] * 1e-3);
      const std::vector<T> p_before = p;
      const std::vector<double> hand_before = hand.p;
      ref::adam_step<T>(p.data(), g.data(), m.data(), v.data(), n, cfg, t);
      hand.step(g, t);
      EXPECT_TRUE(all_close(m, hand.m, tol.mv)) << "m";
      EXPECT_TRUE(all_close(v, hand.v, tol.mv)) << "v";
      EXPECT_TRUE(all_close(p, hand.p, tol.p)) << "p";
      if (tol.step_rtol >= 0) {
        // The step itself (~lr): comparing p alone would hide a small error in the step behind
        // |p| ~ 1.
        std::vector<double> step(n), hand_step(n);
        for (size_t i = 0; i < n; ++i) {
          step[i] = static_cast<double>(p[i]) - static_cast<double>(p_before[i]);
          hand_step[i] = hand.p[i] - hand_before[i];
        }
        const double r = tol.step_rtol;
        EXPECT_TRUE(all_close(step, hand_step, Tolerance{r * cfg.lr, r, r})) << "step";
      }
    }
  }
}

// float64 storage: both sides evaluate the same formula in different orders, ~10 roundings apart.
//  - m, v are combinations of O(1) gradients: their error is ~1e-16 on the scale of 1, not of |m|
//    (which cancellation can bring near 0): atol 1e-15, rtol 1e-12; rel_norm 1e-9, since for n = 1
//    it is the relative error of a single, possibly near-zero, value.
//  - p ~ 1: the same (atol 1e-15, rtol 1e-12, rel_norm 1e-9);
//  - the step (~lr) is p_t - p_{t-1}, which loses 2^-53 |p| / lr ~ 1e-13 of its relative accuracy
//    to the subtraction: rtol 1e-10.
TEST(OptimRef, AdamMatchesTorchFormulaDouble) {
  LK_SEEDED_RNG(rng);
  const AdamTol tol{Tolerance{1e-15, 1e-12, 1e-9}, Tolerance{1e-15, 1e-12, 1e-9}, 1e-10};
  AdamConfig cfg;
  {
    SCOPED_TRACE("defaults");
    check_adam<double>(cfg, rng, tol);
  }
  cfg.lr = 3e-2f;
  cfg.beta1 = 0.8f;
  cfg.beta2 = 0.99f;
  cfg.eps = 1e-6f;
  cfg.weight_decay = 0.1f;
  {
    SCOPED_TRACE("weight_decay 0.1, other betas");
    check_adam<double>(cfg, rng, tol);
  }
}

// float storage: m, v and p are rounded to float after each step on both sides, so they agree to
// the last float bit unless a float64 difference (~1e-16) straddles a float rounding boundary,
// which then shows as 1 ulp: rtol 2 FLT_EPSILON. A 1-ulp difference in p (1.2e-7) reaches the
// next gradient through weight decay (x 0.01) and m through (1 - b1) = 0.1: ~1e-10 absolute, so
// atol 1e-9 for m and v; rel_norm 1e-4 for n = 1, where it is the relative error of one value.
TEST(OptimRef, AdamMatchesTorchFormulaFloat) {
  LK_SEEDED_RNG(rng);
  AdamConfig cfg;
  cfg.weight_decay = 0.01f;
  const AdamTol tol{Tolerance{1e-9, 2 * FLT_EPSILON, 1e-4},
                    Tolerance{2 * FLT_EPSILON * cfg.lr, 2 * FLT_EPSILON, 1e-4}, -1};
  check_adam<float>(cfg, rng, tol);
}

// Step 1: m = (1-b1) g, v = (1-b2) g^2, so m_hat = g, v_hat = g^2 and the step is
// lr * g / (|g| + eps) = lr * sign(g) * (1 - eps/|g| + ...).
TEST(OptimRef, AdamFirstStepMovesByLr) {
  LK_SEEDED_RNG(rng);
  AdamConfig cfg;
  cfg.lr = 1e-3f;
  cfg.eps = 1e-12f;  // eps -> 0
  for (size_t n : kSizes) {
    SCOPED_TRACE("n=" + std::to_string(n));
    const auto p0 = test::random_uniform<double>(n, rng, -1, 1);
    auto g = test::random_uniform<double>(n, rng, 1e-3, 10);  // |g| >= 1e-3 >> eps
    for (size_t i = 0; i < n; i += 2) g[i] = -g[i];
    std::vector<double> p = p0, m(n, 0.0), v(n, 0.0), step(n), expect(n);
    ref::adam_step<double>(p.data(), g.data(), m.data(), v.data(), n, cfg, 1);
    for (size_t i = 0; i < n; ++i) {
      step[i] = p[i] - p0[i];
      expect[i] = -static_cast<double>(cfg.lr) * (g[i] > 0 ? 1.0 : -1.0);
    }
    // Relative deviation: eps/|g| <= 1e-9, plus the rounding of p - p0 with |p| <= 1 and a step of
    // 1e-3: 2^-53 / 1e-3 ~ 1e-13. rtol 2e-9.
    EXPECT_TRUE(all_close(step, expect, Tolerance{0, 2e-9, 2e-9}));
  }
}

TEST(OptimRef, AdamStepNumberIsOneBased) {
  std::vector<double> p(3, 1.0), g(3, 0.5), m(3, 0.0), v(3, 0.0);
  EXPECT_THROW(ref::adam_step<double>(p.data(), g.data(), m.data(), v.data(), 3, AdamConfig{}, 0),
               Error);
  EXPECT_THROW(ref::adam_step<double>(p.data(), g.data(), m.data(), v.data(), 3, AdamConfig{}, -1),
               Error);
  std::vector<float> pf(3, 1.0f), gf(3, 0.5f), mf(3, 0.0f), vf(3, 0.0f);
  EXPECT_THROW(
      ref::adam_step<float>(pf.data(), gf.data(), mf.data(), vf.data(), 3, AdamConfig{}, 0), Error);
  EXPECT_EQ(pf, std::vector<float>(3, 1.0f)) << "a rejected step must not touch the parameters";
}

// torch.optim.SGD(momentum=mu, dampening=0, nesterov=False, weight_decay=wd), 3 steps by hand:
//   d_t = g_t + wd p_{t-1};  b_1 = d_1;  b_t = mu b_{t-1} + d_t;  p_t = p_{t-1} - lr b_t.
TEST(OptimRef, SgdMomentumThreeSteps) {
  LK_SEEDED_RNG(rng);
  for (float wd : {0.0f, 0.05f}) {
    for (size_t n : kSizes) {
      SCOPED_TRACE("n=" + std::to_string(n) + " weight_decay=" + std::to_string(wd));
      SgdConfig cfg;
      cfg.lr = 0.05f;
      cfg.momentum = 0.9f;
      cfg.weight_decay = wd;
      const double lr = cfg.lr, mom = cfg.momentum, w = cfg.weight_decay;
      const auto p0 = test::random_uniform<double>(n, rng, -1, 1);
      const auto g1 = test::random_uniform<double>(n, rng, -1, 1);
      const auto g2 = test::random_uniform<double>(n, rng, -1, 1);
      const auto g3 = test::random_uniform<double>(n, rng, -1, 1);
      std::vector<double> p = p0, buf(n, 0.0);
      std::vector<double> eb1(n), ep1(n), eb2(n), ep2(n), eb3(n), ep3(n);
      for (size_t i = 0; i < n; ++i) {
        eb1[i] = g1[i] + w * p0[i];  // the buffer starts at 0, so step 1 gives buf = g
        ep1[i] = p0[i] - lr * eb1[i];
        eb2[i] = mom * eb1[i] + g2[i] + w * ep1[i];
        ep2[i] = ep1[i] - lr * eb2[i];
        eb3[i] = mom * eb2[i] + g3[i] + w * ep2[i];
        ep3[i] = ep2[i] - lr * eb3[i];
      }
      // float64 on both sides, a few roundings apart. The values are sums of O(1) terms that can
      // cancel, so the error is ~1e-16 on the scale of 1: atol 1e-14 and rtol 1e-14 elementwise;
      // rel_norm 1e-9, because for n = 1 it is the relative error of one, possibly tiny, value.
      const Tolerance tol{1e-14, 1e-14, 1e-9};
      ref::sgd_momentum_step<double>(p.data(), g1.data(), buf.data(), n, cfg);
      if (wd == 0.0f) EXPECT_EQ(buf, g1) << "first buffer must equal the gradient";
      EXPECT_TRUE(all_close(buf, eb1, tol)) << "buf step 1";
      EXPECT_TRUE(all_close(p, ep1, tol)) << "p step 1";
      ref::sgd_momentum_step<double>(p.data(), g2.data(), buf.data(), n, cfg);
      EXPECT_TRUE(all_close(buf, eb2, tol)) << "buf step 2";
      EXPECT_TRUE(all_close(p, ep2, tol)) << "p step 2";
      ref::sgd_momentum_step<double>(p.data(), g3.data(), buf.data(), n, cfg);
      EXPECT_TRUE(all_close(buf, eb3, tol)) << "buf step 3";
      EXPECT_TRUE(all_close(p, ep3, tol)) << "p step 3";
    }
  }
}

// A NaN gradient poisons its own parameter (so it is seen) and no other.
TEST(OptimRef, NanGradientIsNotHidden) {
  std::vector<double> p = {0.5, -0.5}, g = {std::nan(""), 0.25}, m(2, 0.0), v(2, 0.0);
  ref::adam_step<double>(p.data(), g.data(), m.data(), v.data(), 2, AdamConfig{}, 1);
  EXPECT_TRUE(std::isnan(p[0]));
  EXPECT_TRUE(std::isfinite(p[1]));
}

}  // namespace
}  // namespace latentkit
