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
using latentkit::test::kPoison;
using latentkit::test::from_device;
using latentkit::test::poisoned;
using latentkit::test::random_uniform;
using latentkit::test::max_abs;
using latentkit::test::to_device;
using latentkit::test::Tolerance;

// Row losses: the kernel computes every term in double and sums in double (another order than the
// reference, ~1e-16 relative apart), then rounds once to float like the reference: at most 1 float
// ulp apart (a double difference straddling a rounding boundary), i.e. FLT_EPSILON relative; 2x
// for margin. atol only guards exact zeros.
constexpr Tolerance kRowLossTol{1e-30, 2 * FLT_EPSILON, 2 * FLT_EPSILON};

// Gradients: float arithmetic in the kernel (a handful of roundings, expf/expm1f within 2 ulps)
// against double-then-round in the reference: 8 ulps relative. Differences of nearly equal values
// (sigmoid(l) - x, dmu_old + g) lose relative accuracy but not absolute accuracy, so atol is
// 8 ulps of the largest gradient.
Tolerance grad_tolerance(const std::vector<float>& ref) {
  const double c = 8 * FLT_EPSILON;
  return Tolerance{c * std::max(max_abs(ref), 1e-30), c, c};
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
  EXPECT_TRUE(all_close(from_device(dxhat_d, stream), dxhat_ref, grad_tolerance(dxhat_ref)))
      << "dxhat";
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
  EXPECT_TRUE(all_close(from_device(dl_d, stream), dl_ref, grad_tolerance(dl_ref))) << "dlogits";
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
  EXPECT_TRUE(all_close(from_device(dmu_d, stream), dmu_ref, grad_tolerance(dmu_ref))) << "dmu";
  EXPECT_TRUE(all_close(from_device(dlv_d, stream), dlv_ref, grad_tolerance(dlv_ref)))
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
