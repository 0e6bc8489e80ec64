// GPU tests of the optimiser kernels (kernels/optim.cu) against the float64 CPU reference
// (latentkit::ref::adam_step / sgd_momentum_step): five consecutive steps (t = 1..5, a fresh
// gradient each step, so the bias corrections and the moment updates are all exercised), with and
// without weight decay, parameter counts 1 ... 65539 (a tail past any block multiple). Device and
// reference each evolve their own state; p, m, v (or the momentum buffer) are compared after
// every step. Skips itself (with the reason) where no CUDA device is usable.
#include <gtest/gtest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <string>
#include <vector>

#include "kernels/cuda_resources.cuh"
#include "kernels/optim.cuh"
#include "latentkit/ref/ops_ref.h"
#include "gpu_test_util.cuh"
#include "test_util.h"

namespace {

using latentkit::cuda::DeviceBuffer;
using latentkit::cuda::Stream;
using latentkit::test::all_close;
using latentkit::test::ElementTolerance;
using latentkit::test::from_device;
using latentkit::test::poisoned;
using latentkit::test::random_uniform;
using latentkit::test::to_device;

// After t steps. Each step rounds every quantity a handful of times in float (products, sums,
// sqrt, the division; the host rounds step_size and sqrt(1 - b2^t) to float once each), i.e. at
// most ~4 ulps per step of the largest value involved, and errors carry over from step to step:
// 4t ulps. Those roundings are relative to the terms of each update, not to its result: where a
// moment or a parameter cancels (m = b1 m + (1 - b1) g with opposite signs, g + wd p, p - lr b)
// the error stays the size of the terms. So atol_i = the same factor times element i's term
// scale (TermScales: the same recurrences run on magnitudes, float64), not a scale of the
// results (with n = 1 there is no other element to borrow one from); rtol the same factor.
ElementTolerance step_tolerance(int t, const std::vector<double>& term_scale) {
  const double c = 4.0 * t * FLT_EPSILON;
  std::vector<double> atol(term_scale.size());
  for (size_t i = 0; i < atol.size(); ++i) atol[i] = c * term_scale[i];
  return ElementTolerance{std::move(atol), c, c};
}

// Per element, the magnitude of the terms each state value is built from, updated beside the
// reference with the same recurrences on |.|: a moment's terms |b1 m| + |(1 - b1) g'| with
// g' = g + wd p, hence g'_abs = |g| + wd |p|; the parameter's |p| + |update|. An Adam update
// step m / (sqrt(v) / c2 + eps) inherits m's error and, through the square root, half of v's
// relative error: its scale is step (m_abs + |m| v_abs / (2 v)) / denominator.
struct TermScales {
  std::vector<double> p, m, v;  // m: Adam's first moment or SGD's momentum buffer
};

TermScales initial_scales(const std::vector<float>& p0) {
  TermScales s;
  for (float x : p0) s.p.push_back(std::fabs(static_cast<double>(x)));
  s.m.assign(p0.size(), 0.0);
  s.v.assign(p0.size(), 0.0);
  return s;
}

// One Adam step t from p (the parameters before it), g, and the reference's m and v after it.
void adam_scales_step(TermScales& s, const std::vector<float>& p, const std::vector<float>& g,
                      const std::vector<float>& m, const std::vector<float>& v,
                      const latentkit::AdamConfig& cfg, int t) {
  const double b1 = cfg.beta1, b2 = cfg.beta2;
  const double step = cfg.lr / (1.0 - std::pow(b1, t)), c2 = std::sqrt(1.0 - std::pow(b2, t));
  for (size_t i = 0; i < p.size(); ++i) {
    const double g_abs = std::fabs(g[i]) + cfg.weight_decay * std::fabs(p[i]);
    s.m[i] = b1 * s.m[i] + (1.0 - b1) * g_abs;
    s.v[i] = b2 * s.v[i] + (1.0 - b2) * g_abs * g_abs;
    const double vi = std::max(static_cast<double>(v[i]), DBL_MIN);
    const double denom = std::sqrt(vi) / c2 + cfg.eps;
    s.p[i] += step * (s.m[i] + std::fabs(m[i]) * s.v[i] / (2.0 * vi)) / denom;
  }
}

// One SGD step from p (the parameters before it) and g.
void sgd_scales_step(TermScales& s, const std::vector<float>& p, const std::vector<float>& g,
                     const latentkit::SgdConfig& cfg) {
  for (size_t i = 0; i < p.size(); ++i) {
    s.m[i] = cfg.momentum * s.m[i] + std::fabs(g[i]) + cfg.weight_decay * std::fabs(p[i]);
    s.p[i] += cfg.lr * s.m[i];
  }
}

constexpr int kSteps = 5;

struct OptimCase {
  size_t n;
  float weight_decay;
};

std::string case_name(const testing::TestParamInfo<OptimCase>& info) {
  return "n" + std::to_string(info.param.n) + (info.param.weight_decay != 0.f ? "_wd" : "_nowd");
}

class OptimGpu : public testing::TestWithParam<OptimCase> {};

TEST_P(OptimGpu, AdamStepsMatchReference) {
  LK_REQUIRE_GPU();
  const OptimCase c = GetParam();
  LK_SEEDED_RNG(rng);
  latentkit::AdamConfig cfg;
  cfg.lr = 1e-2f;  // larger than the default so a wrong update is far outside the tolerance
  cfg.weight_decay = c.weight_decay;
  std::vector<float> p_ref = random_uniform(c.n, rng, -1.0, 1.0);
  std::vector<float> m_ref(c.n, 0.f), v_ref(c.n, 0.f);  // Adam's state starts at zero
  TermScales scale = initial_scales(p_ref);
  Stream stream;
  auto p_d = to_device(p_ref, stream);
  auto m_d = to_device(m_ref, stream);
  auto v_d = to_device(v_ref, stream);
  for (int t = 1; t <= kSteps; ++t) {
    SCOPED_TRACE("step t=" + std::to_string(t));
    const auto g = random_uniform(c.n, rng, -1.0, 1.0);
    const std::vector<float> p_before = p_ref;
    latentkit::ref::adam_step<float>(p_ref.data(), g.data(), m_ref.data(), v_ref.data(), c.n, cfg,
                                     t);
    adam_scales_step(scale, p_before, g, m_ref, v_ref, cfg, t);
    auto g_d = to_device(g, stream);
    latentkit::cuda::adam_step(p_d.data(), g_d.data(), m_d.data(), v_d.data(), c.n, cfg, t,
                               stream.get());
    EXPECT_TRUE(all_close(from_device(p_d, stream), p_ref, step_tolerance(t, scale.p))) << "p";
    EXPECT_TRUE(all_close(from_device(m_d, stream), m_ref, step_tolerance(t, scale.m))) << "m";
    EXPECT_TRUE(all_close(from_device(v_d, stream), v_ref, step_tolerance(t, scale.v))) << "v";
  }
}

TEST_P(OptimGpu, SgdMomentumStepsMatchReference) {
  LK_REQUIRE_GPU();
  const OptimCase c = GetParam();
  LK_SEEDED_RNG(rng);
  latentkit::SgdConfig cfg;
  cfg.weight_decay = c.weight_decay;
  std::vector<float> p_ref = random_uniform(c.n, rng, -1.0, 1.0);
  std::vector<float> buf_ref(c.n, 0.f);  // the momentum buffer starts at zero
  TermScales scale = initial_scales(p_ref);
  Stream stream;
  auto p_d = to_device(p_ref, stream);
  auto buf_d = to_device(buf_ref, stream);
  for (int t = 1; t <= kSteps; ++t) {
    SCOPED_TRACE("step t=" + std::to_string(t));
    const auto g = random_uniform(c.n, rng, -1.0, 1.0);
    const std::vector<float> p_before = p_ref;
    latentkit::ref::sgd_momentum_step<float>(p_ref.data(), g.data(), buf_ref.data(), c.n, cfg);
    sgd_scales_step(scale, p_before, g, cfg);
    auto g_d = to_device(g, stream);
    latentkit::cuda::sgd_momentum_step(p_d.data(), g_d.data(), buf_d.data(), c.n, cfg,
                                       stream.get());
    EXPECT_TRUE(all_close(from_device(p_d, stream), p_ref, step_tolerance(t, scale.p))) << "p";
    EXPECT_TRUE(all_close(from_device(buf_d, stream), buf_ref, step_tolerance(t, scale.m)))
        << "momentum buffer";
  }
}

INSTANTIATE_TEST_SUITE_P(Sizes, OptimGpu,
                         testing::Values(OptimCase{1, 0.f}, OptimCase{31, 0.01f},
                                         OptimCase{1021, 0.f}, OptimCase{1021, 0.01f},
                                         OptimCase{65539, 0.f}, OptimCase{65539, 0.01f}),
                         case_name);

TEST(OptimGpuArgs, LaunchersRejectBadArguments) {
  LK_REQUIRE_GPU();
  DeviceBuffer<float> buf(4);
  float* p = buf.data();
  latentkit::AdamConfig cfg;
  EXPECT_THROW(latentkit::cuda::adam_step(p, p, p, p, 4, cfg, 0, nullptr), latentkit::Error);
  EXPECT_THROW(latentkit::cuda::adam_step(p, nullptr, p, p, 4, cfg, 1, nullptr), latentkit::Error);
  EXPECT_THROW(latentkit::cuda::sgd_momentum_step(p, p, nullptr, 4, latentkit::SgdConfig{}, nullptr),
               latentkit::Error);
}

}  // namespace
