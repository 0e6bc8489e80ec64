// GPU tests of kernels/mmd.cu against the CPU reference (host/ref/mmd.cpp): kernel sums (the
// seed's halving RBF list on the squaring path, a general RBF list, IMQ; X == Y and X != Y) and the
// kernel-weighted column sums behind the permutation test and the gradient, on odd shapes and D up
// to 784; then through the host API on a CUDA backend: MMD^2, its gradient and the permutation
// p-value against the CPU backend with the same seed. Outputs are poisoned before each launch.
// Skips itself (with the reason) where no CUDA device is usable.
#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "gpu_test_util.cuh"
#include "kernels/cuda_resources.cuh"
#include "kernels/mmd.cuh"
#include "latentkit/core/backend.h"
#include "latentkit/families/mmd.h"
#include "latentkit/ref/mmd_ref.h"
#include "pairwise_gpu_test_util.cuh"
#include "test_util.h"

namespace {

using latentkit::MmdKernel;
using latentkit::cuda::DeviceBuffer;
using latentkit::cuda::Stream;
using latentkit::test::from_device;
using latentkit::test::random_uniform;
using latentkit::test::to_device;

constexpr double kPoisonD = std::numeric_limits<double>::quiet_NaN();

struct Spec {
  MmdKernel kind;
  std::vector<double> params;
  const char* name;
};

std::vector<Spec> specs() {
  return {{MmdKernel::Rbf, latentkit::halving_list(8.0, 7), "rbf_halving7"},
          {MmdKernel::Rbf, {0.4, 1.3, 6.0}, "rbf_general3"},
          {MmdKernel::Imq, {0.5, 3.0}, "imq2"}};
}

latentkit::cuda::MmdKernelParams device_params(const Spec& s) {
  latentkit::cuda::MmdKernelParams kp{};
  kp.imq = s.kind == MmdKernel::Imq;
  kp.count = static_cast<int>(s.params.size());
  bool halving = true;
  for (size_t b = 1; b < s.params.size(); ++b) halving &= s.params[b] == s.params[b - 1] * 0.5;
  kp.halving = !kp.imq && halving;
  kp.neg_inv_2h0 = float(-0.5 / s.params[0]);
  for (int b = 0; b < kp.count; ++b) {
    kp.param[b] = float(s.params[b]);
    kp.neg_inv_2h[b] = float(-0.5 / s.params[b]);
  }
  return kp;
}

// Per-term relative error of the float kernel value: the float distance (d + 2 roundings), the
// exp (2 ulp) doubled by each squaring of a halving list (2^count), the float tile sums (16 terms).
double kernel_rtol(const Spec& s, int d) {
  return (std::ldexp(2.0, static_cast<int>(s.params.size())) + 4.0 * (d + 2) + 32.0) * FLT_EPSILON;
}

struct Shape {
  int n, m, d;
};

class MmdGpu : public testing::TestWithParam<Shape> {};

TEST_P(MmdGpu, KernelSumsMatchReference) {
  LK_REQUIRE_GPU();
  const auto [n, m, d] = GetParam();
  LK_SEEDED_RNG(rng);
  // Spread so that distances cover the bandwidths at every d (coordinates scaled by sqrt(3/d):
  // at d = 784 unscaled points would sit ~2000 apart and every kernel value underflow to 0).
  const double s3 = std::sqrt(3.0 / d);
  const auto X = random_uniform<float>(size_t(n) * d, rng, -2.0 * s3, 2.0 * s3);
  const auto Y = random_uniform<float>(size_t(m) * d, rng, -1.5 * s3, 2.5 * s3);
  Stream stream;
  auto Xg = to_device(X, stream), Yg = to_device(Y, stream);
  for (const auto& s : specs()) {
    SCOPED_TRACE(s.name);
    const int cnt = static_cast<int>(s.params.size());
    const double ref_xy =
        latentkit::ref::mmd_kernel_sum(X.data(), n, Y.data(), m, d, s.kind, s.params.data(), cnt);
    const double ref_xx =
        latentkit::ref::mmd_kernel_sum(X.data(), n, X.data(), n, d, s.kind, s.params.data(), cnt);
    const auto kp = device_params(s);
    const double xy =
        latentkit::cuda::mmd_kernel_sum(Xg.data(), n, Yg.data(), m, d, kp, stream.get());
    const double xx =
        latentkit::cuda::mmd_kernel_sum(Xg.data(), n, Xg.data(), n, d, kp, stream.get());
    const double rtol = kernel_rtol(s, d);  // a sum of positive terms keeps their relative error
    ASSERT_TRUE(std::isfinite(xy) && std::isfinite(xx));
    EXPECT_NEAR(xy, ref_xy, rtol * ref_xy + 1e-30);
    EXPECT_NEAR(xx, ref_xx, rtol * ref_xx + 1e-30);
    // The diagonal is exactly count per point, so the sum is at least n * count.
    EXPECT_GE(xx, n * cnt * (1 - rtol));
    // All three in one launch (n != m: the grid covers the larger job, the smaller one's extra
    // blocks must add exactly 0).
    const double ref_yy =
        latentkit::ref::mmd_kernel_sum(Y.data(), m, Y.data(), m, d, s.kind, s.params.data(), cnt);
    double sums[3] = {kPoisonD, kPoisonD, kPoisonD};
    latentkit::cuda::mmd_kernel_sums_xy(Xg.data(), n, Yg.data(), m, d, kp, sums, stream.get());
    EXPECT_NEAR(sums[0], ref_xx, rtol * ref_xx);
    EXPECT_NEAR(sums[1], ref_yy, rtol * ref_yy);
    EXPECT_NEAR(sums[2], ref_xy, rtol * ref_xy + 1e-30);
    EXPECT_EQ(sums[0], xx);  // the same blocks in the same order: the same bits
    EXPECT_EQ(sums[2], xy);
  }
}

TEST_P(MmdGpu, WeightedSumsMatchReference) {
  LK_REQUIRE_GPU();
  const auto [n, m, d] = GetParam();
  LK_SEEDED_RNG(rng);
  const double s3 = std::sqrt(3.0 / d);  // as above: distances comparable to the bandwidths
  const auto A = random_uniform<float>(size_t(n) * d, rng, -2.0 * s3, 2.0 * s3);
  const auto B = random_uniform<float>(size_t(m) * d, rng, -2.0 * s3, 2.0 * s3);
  for (int ncols : {1, 65}) {
    const auto V = random_uniform<float>(size_t(m) * ncols, rng, -1.0, 1.0);
    std::vector<float> Vabs(V.size());
    for (size_t e = 0; e < V.size(); ++e) Vabs[e] = std::fabs(V[e]);
    Stream stream;
    auto Ag = to_device(A, stream), Bg = to_device(B, stream), Vg = to_device(V, stream);
    for (const auto& s : specs())
      for (bool slope : {false, true}) {
        SCOPED_TRACE(std::string(s.name) + (slope ? " slope" : " value") +
                     " ncols=" + std::to_string(ncols));
        const int cnt = static_cast<int>(s.params.size());
        std::vector<double> ref(size_t(n) * ncols), bound(size_t(n) * ncols);
        latentkit::ref::mmd_weighted_sums(A.data(), n, B.data(), m, d, s.kind, s.params.data(), cnt,
                                          slope, V.data(), ncols, ref.data());
        // sum_j |f_ij| |V_jc|: the scale of the rounding in a signed sum (f >= 0 always).
        latentkit::ref::mmd_weighted_sums(A.data(), n, B.data(), m, d, s.kind, s.params.data(), cnt,
                                          slope, Vabs.data(), ncols, bound.data());
        DeviceBuffer<double> R(ref.size());
        // NaN poison, on the test's stream (a legacy-stream memset could land after the kernel).
        LK_CUDA_CHECK(cudaMemsetAsync(R.data(), 0xff, R.bytes(), stream.get()));
        latentkit::cuda::mmd_weighted_sums(Ag.data(), n, Bg.data(), m, d, device_params(s), slope,
                                           Vg.data(), ncols, R.data(), stream.get());
        const auto out = from_device(R, stream);
        // Each term carries the kernel's relative error (one more factor for the slope's
        // 1/(2h) or 1/(C+d2)^2) plus the float product over a 64-row tile (64 roundings).
        const double rtol = 2 * kernel_rtol(s, d) + 64 * FLT_EPSILON;
        int bad = 0;
        for (size_t e = 0; e < ref.size(); ++e) {
          const bool ok =
              std::isfinite(out[e]) && std::fabs(out[e] - ref[e]) <= rtol * bound[e] + 1e-30;
          if (!ok && bad++ < 3)
            ADD_FAILURE() << "element " << e << ": " << out[e] << " vs " << ref[e] << " (bound "
                          << rtol * bound[e] << ")";
        }
        EXPECT_EQ(bad, 0);
      }
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, MmdGpu,
                         // D = 5 and 8: the 8-dimension tile chunk of kernel_sums_kernel and
                         // weighted_sums_kernel<8, false / true>, at both ends of its range.
                         testing::Values(Shape{1, 1, 1}, Shape{31, 33, 3}, Shape{100, 1021, 2},
                                         Shape{65, 70, 5}, Shape{64, 33, 8}, Shape{65, 64, 33},
                                         Shape{40, 50, 784}),
                         [](const testing::TestParamInfo<Shape>& info) {
                           const auto& c = info.param;
                           return latentkit::test::shape_name({{"n", c.n}, {"m", c.m}, {"d", c.d}});
                         });

TEST(MmdGpuHostApi, Mmd2GradientAndPermutationTestMatchCpu) {
  LK_REQUIRE_GPU();
  LK_SEEDED_RNG(rng);
  auto [cpu, gpu] = latentkit::test::cpu_and_gpu();
  const int n = 301, m = 257, d = 3, perms = 99;
  std::normal_distribution<double> g(0.0, 1.0);
  std::vector<float> X(n * d), Y(m * d);
  for (auto& v : X) v = float(g(rng));
  for (auto& v : Y) v = float(g(rng) + 0.3);
  const latentkit::MmdKernelSpec spec{MmdKernel::Rbf, latentkit::halving_list(4.0, 7)};
  auto Xc = cpu->upload(X), Yc = cpu->upload(Y), Xg = gpu->upload(X), Yg = gpu->upload(Y);
  // MMD^2 combines three normalised kernel sums (each <= 7, the number of kernels) with weights
  // 1, 1, 2: its absolute error is at most the per-term relative error times 28.
  const Spec as_spec{spec.kind, spec.params, "rbf_halving7"};
  const double mmd_atol = 28 * kernel_rtol(as_spec, d);
  // The gradient's bound per entry (j, c), from the terms of what the device computes
  // (host/src/families/mmd/mmd.cpp): grad_jc = c_yy (R_yy[j, 1+c] - y'_jc R_yy[j, 0]) - c_xy (R_yx[j, 1+c] -
  // y'_jc R_yx[j, 0]), R = G [1, coordinates - pooled mean] from mmd_weighted_sums with the slope
  // kernel G >= 0 and y' = y - mean. Each R entry is within rtol_w * sum_l G_jl |V_l| of the
  // exact one (the bound of WeightedSumsMatchReference), and the two differences cancel: so the
  // bound is rtol_w * (c_yy (B_yy[j, 1+c] + |y'_jc| B_yy[j, 0]) + c_xy (...)) with B the weighted
  // sums of |V|, not a scale of the gradient itself.
  std::vector<double> mean(d, 0.0);
  for (size_t e = 0; e < X.size(); ++e) mean[e % d] += X[e];
  for (size_t e = 0; e < Y.size(); ++e) mean[e % d] += Y[e];
  for (double& v : mean) v /= n + m;
  const int ncols = d + 1;
  const auto abs_v = [&](const std::vector<float>& h, int rows) {
    std::vector<float> V(static_cast<size_t>(rows) * ncols);
    for (int r = 0; r < rows; ++r) {
      V[static_cast<size_t>(r) * ncols] = 1.f;
      for (int c = 0; c < d; ++c)
        V[static_cast<size_t>(r) * ncols + 1 + c] =
            static_cast<float>(std::fabs(h[static_cast<size_t>(r) * d + c] - mean[c]));
    }
    return V;
  };
  const int cnt = static_cast<int>(spec.params.size());
  std::vector<double> B_yy(static_cast<size_t>(m) * ncols), B_yx(B_yy.size());
  latentkit::ref::mmd_weighted_sums(Y.data(), m, Y.data(), m, d, spec.kind, spec.params.data(), cnt,
                                    true, abs_v(Y, m).data(), ncols, B_yy.data());
  latentkit::ref::mmd_weighted_sums(Y.data(), m, X.data(), n, d, spec.kind, spec.params.data(), cnt,
                                    true, abs_v(X, n).data(), ncols, B_yx.data());
  const double rtol_w = 2 * kernel_rtol(as_spec, d) + 64 * FLT_EPSILON;
  for (bool unbiased : {false, true}) {
    SCOPED_TRACE(unbiased ? "unbiased" : "biased");
    const double c = latentkit::mmd2(*cpu, Xc.data(), n, Yc.data(), m, d, spec, unbiased);
    const double gv = latentkit::mmd2(*gpu, Xg.data(), n, Yg.data(), m, d, spec, unbiased);
    EXPECT_NEAR(gv, c, mmd_atol);

    auto gc = cpu->alloc(size_t(m) * d), gg = gpu->alloc(size_t(m) * d);
    gpu->fill(gg.data(), latentkit::test::kPoison, gg.size());
    latentkit::mmd2_grad_y(*cpu, Xc.data(), n, Yc.data(), m, d, spec, unbiased, gc.data());
    latentkit::mmd2_grad_y(*gpu, Xg.data(), n, Yg.data(), m, d, spec, unbiased, gg.data());
    const auto ref = cpu->download(gc.data(), gc.size());
    const auto out = gpu->download(gg.data(), gg.size());
    // The bound above per entry; rtol 4 eps for the rounding of the result to float (once on each
    // side).
    const double c_yy = 4.0 / (unbiased ? double(m) * (m - 1) : double(m) * m);
    const double c_xy = 4.0 / (double(n) * m);
    std::vector<double> atol(ref.size());
    for (int j = 0; j < m; ++j)
      for (int c = 0; c < d; ++c) {
        const double yc = std::fabs(Y[size_t(j) * d + c] - mean[c]);
        const double* byy = B_yy.data() + size_t(j) * ncols;
        const double* byx = B_yx.data() + size_t(j) * ncols;
        atol[size_t(j) * d + c] =
            rtol_w * (c_yy * (byy[1 + c] + yc * byy[0]) + c_xy * (byx[1 + c] + yc * byx[0]));
      }
    EXPECT_TRUE(latentkit::test::all_close(
        out, ref,
        latentkit::test::ElementTolerance{std::move(atol), 4 * FLT_EPSILON, 4 * FLT_EPSILON}));

    const auto pc = latentkit::mmd_permutation_test(*cpu, Xc.data(), n, Yc.data(), m, d, spec,
                                                    unbiased, perms, 1234, 0);
    const auto pg = latentkit::mmd_permutation_test(*gpu, Xg.data(), n, Yg.data(), m, d, spec,
                                                    unbiased, perms, 1234, 0);
    EXPECT_NEAR(pg.observed, pc.observed, mmd_atol);
    // Same permutations: the p-values agree unless a permuted statistic lies within rounding of
    // the observed one (then one count moves).
    EXPECT_NEAR(pg.p_value, pc.p_value, 1.5 / (perms + 1));
  }
}

}  // namespace
