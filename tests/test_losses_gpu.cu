// GPU tests of the loss kernels (kernels/losses.cu) against the float64 CPU reference
// (latentkit::ref::sse_loss / bce_logits_loss / kl_normal_loss): rows 1 ... 65536, widths 1 ... 784
// (warp tails 1, 3, 31, 33). Overwritten outputs are poisoned with NaN before each launch; the KL
// gradients start from random values, since the kernel must add to them.
// Skips itself (with the reason) where no CUDA device is usable.
#include <gtest/gtest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <string>
#include <vector>

#include "kernels/cuda_resources.cuh"
#include "kernels/losses.cuh"
#include "latentkit/ref/ops_ref.h"
#include "gpu_test_util.cuh"
#include "test_util.h"

namespace {

using latentkit::cuda::DeviceBuffer;
using latentkit::cuda::Stream;
using latentkit::test::all_close;
using latentkit::test::ElementTolerance;
using latentkit::test::from_device;
using latentkit::test::kPoison;
using latentkit::test::poisoned;
using latentkit::test::random_uniform;
using latentkit::test::to_device;
using latentkit::test::Tolerance;

// Row losses: the kernel computes every term in double and sums in double (another order than the
// reference, ~1e-16 relative apart), then rounds once to float like the reference: at most 1 float
// ulp apart (a double difference straddling a rounding boundary), i.e. FLT_EPSILON relative; 2x
// for margin. atol only guards exact zeros.
constexpr Tolerance kRowLossTol{1e-30, 2 * FLT_EPSILON, 2 * FLT_EPSILON};

// Gradients: float arithmetic in the kernel against double-then-round in the reference.
// SSE: grad_scale * 2 (xhat - x) from exact float inputs: the subtraction and the scaling each
// round once, relative to the result: 3 roundings of eps/2 in all, 8 eps relative is ~5x that.
constexpr Tolerance kSseGradTol{1e-30, 8 * FLT_EPSILON, 8 * FLT_EPSILON};

// The other gradients add two terms a + b in float (grad_scale (sigmoid(l) - x); dmu0 +
// grad_scale mu; dlogvar0 + grad_scale (exp(lv) - 1) / 2): the kernel's roundings (a handful,
// expf / expm1f within 2 ulps) are relative to the terms, and where a + b cancels they dwarf the
// result (e.g. sigmoid(20) = 1 - 2e-9 rounds to 1 in float, so sigmoid(l) - 1 keeps only its
// rounding). So atol_i = 8 eps (|a_i| + |b_i|) from element i's own terms (~3x the worst case of
// those roundings), not from the result or the largest gradient (a single element has nothing
// else); rtol 8 eps for the roundings of the result itself.
ElementTolerance two_term_tolerance(const std::vector<double>& abs_a_plus_abs_b) {
  std::vector<double> atol(abs_a_plus_abs_b.size());
  for (size_t i = 0; i < atol.size(); ++i) atol[i] = 8 * FLT_EPSILON * abs_a_plus_abs_b[i];
  return ElementTolerance{std::move(atol), 8 * FLT_EPSILON, 8 * FLT_EPSILON};
}

// Scale applied to the gradients (e.g. 1/batch in training): any value not 1 shows it is used.
constexpr float kGradScale = 0.37f;

struct LossCase {
  int n, d;
};

std::vector<LossCase> loss_cases() {
  std::vector<LossCase> cases;
  for (int n : {1, 31, 33, 1021}) {
    for (int d : {1, 3, 31, 33, 128, 784}) cases.push_back({n, d});
  }
  for (int d : {1, 33, 128}) cases.push_back({65536, d});
  return cases;
}

class LossesGpu : public testing::TestWithParam<LossCase> {};

TEST_P(LossesGpu, SseMatchesReference) {
  LK_REQUIRE_GPU();
  const LossCase c = GetParam();
  LK_SEEDED_RNG(rng);
  const size_t count = static_cast<size_t>(c.n) * c.d;
  const auto xhat = random_uniform(count, rng, -2.0, 2.0);
  const auto x = random_uniform(count, rng, -2.0, 2.0);
  std::vector<float> dxhat_ref(count), row_ref(c.n);
  latentkit::ref::sse_loss<float>(xhat.data(), x.data(), c.n, c.d, kGradScale, dxhat_ref.data(),
                                  row_ref.data());

  Stream stream;
  auto xhat_d = to_device(xhat, stream);
  auto x_d = to_device(x, stream);
  auto dxhat_d = poisoned(count, stream);
  auto row_d = poisoned(c.n, stream);
  latentkit::cuda::sse_loss(xhat_d.data(), x_d.data(), c.n, c.d, kGradScale, dxhat_d.data(),
                            row_d.data(), stream.get());
  EXPECT_TRUE(all_close(from_device(row_d, stream), row_ref, kRowLossTol)) << "row_loss";
  EXPECT_TRUE(all_close(from_device(dxhat_d, stream), dxhat_ref, kSseGradTol)) << "dxhat";
}

TEST_P(LossesGpu, BceLogitsMatchesReference) {
  LK_REQUIRE_GPU();
  const LossCase c = GetParam();
  LK_SEEDED_RNG(rng);
  const size_t count = static_cast<size_t>(c.n) * c.d;
  // Logits out to +-20 (sigmoid saturated at both ends, exp(-|l|) tiny); targets in [0, 1] with
  // exact 0s and 1s mixed in (binarised pixels) for half the elements.
  auto logits = random_uniform(count, rng, -20.0, 20.0);
  auto x = random_uniform(count, rng, 0.0, 1.0);
  for (size_t i = 0; i < count; i += 2) x[i] = x[i] < 0.5f ? 0.f : 1.f;
  std::vector<float> dl_ref(count), row_ref(c.n);
  latentkit::ref::bce_logits_loss<float>(logits.data(), x.data(), c.n, c.d, kGradScale,
                                         dl_ref.data(), row_ref.data());

  Stream stream;
  auto logits_d = to_device(logits, stream);
  auto x_d = to_device(x, stream);
  auto dl_d = poisoned(count, stream);
  auto row_d = poisoned(c.n, stream);
  latentkit::cuda::bce_logits_loss(logits_d.data(), x_d.data(), c.n, c.d, kGradScale, dl_d.data(),
                                   row_d.data(), stream.get());
  EXPECT_TRUE(all_close(from_device(row_d, stream), row_ref, kRowLossTol)) << "row_loss";
  std::vector<double> terms(count);  // |grad_scale sigmoid(l)| + |grad_scale x|
  for (size_t i = 0; i < count; ++i)
    terms[i] = kGradScale * (1.0 / (1.0 + std::exp(-static_cast<double>(logits[i]))) + x[i]);
  EXPECT_TRUE(all_close(from_device(dl_d, stream), dl_ref, two_term_tolerance(terms))) << "dlogits";
}

TEST_P(LossesGpu, KlNormalMatchesReferenceAndAccumulates) {
  LK_REQUIRE_GPU();
  const LossCase c = GetParam();
  LK_SEEDED_RNG(rng);
  const size_t count = static_cast<size_t>(c.n) * c.d;
  const auto mu = random_uniform(count, rng, -2.0, 2.0);
  const auto logvar = random_uniform(count, rng, -3.0, 3.0);
  // The kernel adds to these (the reparameterisation path has already written its part).
  const auto dmu0 = random_uniform(count, rng, -1.0, 1.0);
  const auto dlv0 = random_uniform(count, rng, -1.0, 1.0);
  std::vector<float> dmu_ref = dmu0, dlv_ref = dlv0, row_ref(c.n);
  latentkit::ref::kl_normal_loss<float>(mu.data(), logvar.data(), c.n, c.d, kGradScale,
                                        dmu_ref.data(), dlv_ref.data(), row_ref.data());

  Stream stream;
  auto mu_d = to_device(mu, stream);
  auto lv_d = to_device(logvar, stream);
  auto dmu_d = to_device(dmu0, stream);
  auto dlv_d = to_device(dlv0, stream);
  auto row_d = poisoned(c.n, stream);
  latentkit::cuda::kl_normal_loss(mu_d.data(), lv_d.data(), c.n, c.d, kGradScale, dmu_d.data(),
                                  dlv_d.data(), row_d.data(), stream.get());
  EXPECT_TRUE(all_close(from_device(row_d, stream), row_ref, kRowLossTol)) << "row_kl";
  std::vector<double> mu_terms(count), lv_terms(count);  // |dmu0| + |g|, |dlv0| + |g|
  for (size_t i = 0; i < count; ++i) {
    mu_terms[i] = std::fabs(dmu0[i]) + kGradScale * std::fabs(mu[i]);
    lv_terms[i] = std::fabs(dlv0[i]) +
                  0.5 * kGradScale * std::fabs(std::expm1(static_cast<double>(logvar[i])));
  }
  EXPECT_TRUE(all_close(from_device(dmu_d, stream), dmu_ref, two_term_tolerance(mu_terms)))
      << "dmu";
  EXPECT_TRUE(all_close(from_device(dlv_d, stream), dlv_ref, two_term_tolerance(lv_terms)))
      << "dlogvar";
}

INSTANTIATE_TEST_SUITE_P(Shapes, LossesGpu, testing::ValuesIn(loss_cases()),
                         [](const testing::TestParamInfo<LossCase>& info) {
                           return "n" + std::to_string(info.param.n) + "_d" +
                                  std::to_string(info.param.d);
                         });

TEST(LossesGpuArgs, LaunchersRejectBadArguments) {
  LK_REQUIRE_GPU();
  DeviceBuffer<float> buf(16);
  float* p = buf.data();
  EXPECT_THROW(latentkit::cuda::sse_loss(p, p, 0, 4, 1.f, p, p, nullptr), latentkit::Error);
  EXPECT_THROW(latentkit::cuda::bce_logits_loss(p, nullptr, 4, 4, 1.f, p, p, nullptr),
               latentkit::Error);
  EXPECT_THROW(latentkit::cuda::kl_normal_loss(p, p, 4, 4, 1.f, p, p, nullptr, nullptr),
               latentkit::Error);
}

}  // namespace
