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
using latentkit::test::from_device;
using latentkit::test::poisoned;
using latentkit::test::random_uniform;
using latentkit::test::max_abs;
using latentkit::test::to_device;
using latentkit::test::Tolerance;

// After t steps. Each step rounds every quantity a handful of times in float (products, sums,
// sqrt, the division; the host rounds step_size and sqrt(1 - b2^t) to float once each), i.e. at
// most ~4 ulps per step of the largest value involved, and errors carry over from step to step:
// 4t ulps. Where a moment cancels (m = b1 m + (1 - b1) g with opposite signs) the error stays the
// size of its terms, not of the small result, hence atol = the same factor times the vector's
// largest magnitude.
Tolerance step_tolerance(int t, const std::vector<float>& ref) {
  const double c = 4.0 * t * FLT_EPSILON;
  return Tolerance{c * std::max(max_abs(ref), 1e-30), c, c};
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
  Stream stream;
  auto p_d = to_device(p_ref, stream);
  auto m_d = to_device(m_ref, stream);
  auto v_d = to_device(v_ref, stream);
  for (int t = 1; t <= kSteps; ++t) {
    SCOPED_TRACE("step t=" + std::to_string(t));
    const auto g = random_uniform(c.n, rng, -1.0, 1.0);
    latentkit::ref::adam_step<float>(p_ref.data(), g.data(), m_ref.data(), v_ref.data(), c.n, cfg,
                                     t);
    auto g_d = to_device(g, stream);
    latentkit::cuda::adam_step(p_d.data(), g_d.data(), m_d.data(), v_d.data(), c.n, cfg, t,
                               stream.get());
    EXPECT_TRUE(all_close(from_device(p_d, stream), p_ref, step_tolerance(t, p_ref))) << "p";
    EXPECT_TRUE(all_close(from_device(m_d, stream), m_ref, step_tolerance(t, m_ref))) << "m";
    EXPECT_TRUE(all_close(from_device(v_d, stream), v_ref, step_tolerance(t, v_ref))) << "v";
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
  Stream stream;
  auto p_d = to_device(p_ref, stream);
  auto buf_d = to_device(buf_ref, stream);
  for (int t = 1; t <= kSteps; ++t) {
    SCOPED_TRACE("step t=" + std::to_string(t));
    const auto g = random_uniform(c.n, rng, -1.0, 1.0);
    latentkit::ref::sgd_momentum_step<float>(p_ref.data(), g.data(), buf_ref.data(), c.n, cfg);
    auto g_d = to_device(g, stream);
    latentkit::cuda::sgd_momentum_step(p_d.data(), g_d.data(), buf_d.data(), c.n, cfg,
                                       stream.get());
    EXPECT_TRUE(all_close(from_device(p_d, stream), p_ref, step_tolerance(t, p_ref))) << "p";
    EXPECT_TRUE(all_close(from_device(buf_d, stream), buf_ref, step_tolerance(t, buf_ref)))
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
