// GPU tests of the reparameterisation kernels (kernels/reparam.cu) against the CPU reference
// (latentkit::ref::reparam_forward / reparam_backward): the noise must be the reference's noise
// (same Philox draws, so eps agrees to the bit but for rare 1-ulp rounding flips), z and the
// gradients agree to float rounding. Rows 1 ... 65536, latent widths 1 ... 128. Outputs are
// poisoned with NaN before each launch. Skips itself (with the reason) where no CUDA device is usable.
#include <gtest/gtest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "kernels/cuda_resources.cuh"
#include "kernels/reparam.cuh"
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
using latentkit::test::to_device;
using latentkit::test::ulp_distance;
using latentkit::test::Tolerance;

// Draws of the same Philox normal on device and host: both evaluate Box-Muller in double, where
// CUDA's and glibc's log/cos may differ by 1 double ulp; after rounding to float that changes the
// result only when the double lands within an ulp of a float rounding boundary, probability
// ~2^-29 per draw (~2% for the 8.4M draws of the largest case here). So: bitwise equal except at
// most `max_flips` elements, each off by exactly 1 float ulp.
::testing::AssertionResult nearly_bitwise(const std::vector<float>& out,
                                          const std::vector<float>& ref, size_t max_flips) {
  if (out.size() != ref.size())
    return ::testing::AssertionFailure() << "size " << out.size() << " vs " << ref.size();
  size_t flips = 0;
  for (size_t i = 0; i < out.size(); ++i) {
    if (!std::isfinite(out[i]))
      return ::testing::AssertionFailure() << "non-finite output " << out[i] << " at " << i;
    const int64_t d = ulp_distance(out[i], ref[i]);
    if (d > 1)
      return ::testing::AssertionFailure() << "element " << i << ": " << out[i] << " vs reference "
                                           << ref[i] << " (" << d << " ulps apart)";
    if (d == 1) ++flips;
  }
  if (flips > max_flips)
    return ::testing::AssertionFailure() << flips << " elements 1 ulp off (at most " << max_flips
                                         << " expected)";
  return ::testing::AssertionSuccess() << flips << " elements 1 ulp off";
}

// At most 2 one-ulp flips: with P ~ 2^-29 per draw and <= 8.4M draws, P(3 or more) < 1e-6.
constexpr size_t kMaxFlips = 2;

struct ReparamCase {
  int n, l;
};

class ReparamGpu : public testing::TestWithParam<ReparamCase> {};

TEST_P(ReparamGpu, ForwardDrawsTheReferenceNoise) {
  LK_REQUIRE_GPU();
  const ReparamCase c = GetParam();
  LK_SEEDED_RNG(rng);
  const size_t count = static_cast<size_t>(c.n) * c.l;
  const auto mu = random_uniform(count, rng, -2.0, 2.0);
  const auto logvar = random_uniform(count, rng, -3.0, 3.0);
  const uint64_t seed = rng();
  const uint32_t offset = static_cast<uint32_t>(rng());
  std::vector<float> eps_ref(count), z_ref(count);
  latentkit::ref::reparam_forward<float>(mu.data(), logvar.data(), c.n, c.l, seed, offset,
                                         eps_ref.data(), z_ref.data());

  Stream stream;
  auto mu_d = to_device(mu, stream);
  auto lv_d = to_device(logvar, stream);
  auto eps_d = poisoned(count, stream);
  auto z_d = poisoned(count, stream);
  latentkit::cuda::reparam_forward(mu_d.data(), lv_d.data(), c.n, c.l, seed, offset, eps_d.data(),
                                   z_d.data(), stream.get());
  EXPECT_TRUE(nearly_bitwise(from_device(eps_d, stream), eps_ref, kMaxFlips)) << "eps";

  // z = mu + exp(lv/2) eps, rounded once from double on both sides: equal but for the rare eps
  // flip above or an exp ulp across a rounding boundary. A 1-ulp change of eps moves z by up to
  // FLT_EPSILON * |exp(lv/2) eps|, which can dwarf |z| when mu cancels the noise term, hence atol
  // from the largest noise term; rtol: 2 float ulps.
  double max_noise = 0.0;
  for (size_t i = 0; i < count; ++i) {
    max_noise = std::max(max_noise, std::exp(0.5 * logvar[i]) * std::fabs(eps_ref[i]));
  }
  const Tolerance z_tol{2 * FLT_EPSILON * std::max(max_noise, 1e-30), 2 * FLT_EPSILON,
                        2 * FLT_EPSILON};
  EXPECT_TRUE(all_close(from_device(z_d, stream), z_ref, z_tol)) << "z";
}

TEST_P(ReparamGpu, BackwardMatchesReference) {
  LK_REQUIRE_GPU();
  const ReparamCase c = GetParam();
  LK_SEEDED_RNG(rng);
  const size_t count = static_cast<size_t>(c.n) * c.l;
  const auto dz = random_uniform(count, rng, -1.0, 1.0);
  const auto logvar = random_uniform(count, rng, -3.0, 3.0);
  const auto eps = random_uniform(count, rng, -4.0, 4.0);
  std::vector<float> dmu_ref(count), dlv_ref(count);
  latentkit::ref::reparam_backward<float>(dz.data(), logvar.data(), eps.data(), c.n, c.l,
                                          dmu_ref.data(), dlv_ref.data());

  Stream stream;
  auto dz_d = to_device(dz, stream);
  auto lv_d = to_device(logvar, stream);
  auto eps_d = to_device(eps, stream);
  auto dmu_d = poisoned(count, stream);
  auto dlv_d = poisoned(count, stream);
  latentkit::cuda::reparam_backward(dz_d.data(), lv_d.data(), eps_d.data(), c.n, c.l,
                                    dmu_d.data(), dlv_d.data(), stream.get());
  // dmu = dz is a copy: exact.
  const auto dmu = from_device(dmu_d, stream);
  ASSERT_EQ(dmu.size(), dz.size());
  EXPECT_EQ(0, std::memcmp(dmu.data(), dz.data(), count * sizeof(float))) << "dmu != dz";
  // dlogvar: a product rounded once from double on both sides (exp within 1 double ulp): 2 float
  // ulps relative covers a rounding flip; atol only guards exact zeros.
  const Tolerance dlv_tol{1e-30, 2 * FLT_EPSILON, 2 * FLT_EPSILON};
  EXPECT_TRUE(all_close(from_device(dlv_d, stream), dlv_ref, dlv_tol)) << "dlogvar";
}

INSTANTIATE_TEST_SUITE_P(Shapes, ReparamGpu,
                         testing::Values(ReparamCase{1, 1}, ReparamCase{31, 3},
                                         ReparamCase{33, 31}, ReparamCase{1021, 33},
                                         ReparamCase{1021, 128}, ReparamCase{65536, 1},
                                         ReparamCase{65536, 128}),
                         [](const testing::TestParamInfo<ReparamCase>& info) {
                           return "n" + std::to_string(info.param.n) + "_l" +
                                  std::to_string(info.param.l);
                         });

TEST(ReparamGpuArgs, LaunchersRejectBadArguments) {
  LK_REQUIRE_GPU();
  DeviceBuffer<float> buf(16);
  float* p = buf.data();
  EXPECT_THROW(latentkit::cuda::reparam_forward(p, p, 0, 4, 1, 0, p, p, nullptr),
               latentkit::Error);
  EXPECT_THROW(latentkit::cuda::reparam_backward(p, p, nullptr, 4, 4, p, p, nullptr),
               latentkit::Error);
  EXPECT_THROW(latentkit::cuda::fill_normal(nullptr, 4, 1, latentkit::RngStream::Test, 0, nullptr),
               latentkit::Error);
}

}  // namespace
