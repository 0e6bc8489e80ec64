// GPU tests of kernels/shuffle.cu against the CPU reference (latentkit::ref::shuffle_permutation /
// gather_rows / sum): the device permutation must equal the reference's exactly (same Philox keys,
// same order) and be a permutation; gathered rows are exact copies; the float64 sum agrees within
// the worst-case bound of double summation. Outputs are poisoned before each launch.
// Skips itself (with the reason) where no CUDA device is usable.
#include <gtest/gtest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "kernels/cuda_resources.cuh"
#include "kernels/shuffle.cuh"
#include "latentkit/ref/ops_ref.h"
#include "gpu_test_util.cuh"
#include "test_util.h"

namespace {

using latentkit::cuda::DeviceBuffer;
using latentkit::cuda::Stream;
using latentkit::test::kPoison;
using latentkit::test::from_device;
using latentkit::test::poisoned;
using latentkit::test::random_uniform;
using latentkit::test::to_device;

// An int32 no permutation contains: poisons the perm buffer.
constexpr int32_t kIntPoison = -1;

class ShuffleGpu : public testing::TestWithParam<int> {};

TEST_P(ShuffleGpu, PermutationEqualsReference) {
  LK_REQUIRE_GPU();
  const int n = GetParam();
  LK_SEEDED_RNG(rng);
  const uint64_t seed = rng();
  const uint32_t epoch = static_cast<uint32_t>(rng() % 1000);
  std::vector<int32_t> ref(n);
  latentkit::ref::shuffle_permutation(ref.data(), n, seed, epoch);

  Stream stream;
  auto perm_d = to_device(std::vector<int32_t>(n, kIntPoison), stream);
  latentkit::cuda::shuffle_permutation(perm_d.data(), n, seed, epoch, stream.get());
  const auto perm = from_device(perm_d, stream);
  ASSERT_EQ(perm.size(), ref.size());
  const auto diff = std::mismatch(perm.begin(), perm.end(), ref.begin());
  EXPECT_TRUE(diff.first == perm.end())
      << "device permutation differs from the reference at position " << (diff.first - perm.begin())
      << ": " << *diff.first << " vs " << *diff.second << " (seed " << seed << ", epoch " << epoch
      << ")";
  std::vector<int32_t> sorted = perm;
  std::sort(sorted.begin(), sorted.end());
  std::vector<int32_t> iota(n);
  std::iota(iota.begin(), iota.end(), 0);
  EXPECT_TRUE(sorted == iota) << "not a permutation of 0.." << n - 1;

  // Another epoch gives another order (for n >= 31 a collision has probability <= 1/31!).
  if (n >= 31) {
    latentkit::cuda::shuffle_permutation(perm_d.data(), n, seed, epoch + 1, stream.get());
    EXPECT_TRUE(from_device(perm_d, stream) != perm)
        << "same order for epochs " << epoch << " and " << epoch + 1;
  }
}

INSTANTIATE_TEST_SUITE_P(Sizes, ShuffleGpu, testing::Values(1, 31, 1021, 10000, 65536),
                         [](const testing::TestParamInfo<int>& info) {
                           return "n" + std::to_string(info.param);
                         });

struct GatherCase {
  int rows, count, d;
};

class GatherGpu : public testing::TestWithParam<GatherCase> {};

TEST_P(GatherGpu, CopiesTheIndexedRows) {
  LK_REQUIRE_GPU();
  const GatherCase c = GetParam();
  LK_SEEDED_RNG(rng);
  const auto X = random_uniform(static_cast<size_t>(c.rows) * c.d, rng, -1.0, 1.0);
  std::uniform_int_distribution<int32_t> pick(0, c.rows - 1);
  std::vector<int32_t> idx(c.count);
  for (auto& i : idx) i = pick(rng);  // repeats allowed
  idx.back() = c.rows - 1;            // the last row: catches an off-by-one at the end
  std::vector<float> ref(static_cast<size_t>(c.count) * c.d);
  latentkit::ref::gather_rows<float>(X.data(), idx.data(), c.count, c.d, ref.data());

  Stream stream;
  auto X_d = to_device(X, stream);
  auto idx_d = to_device(idx, stream);
  auto out_d = to_device(std::vector<float>(ref.size(), kPoison), stream);
  latentkit::cuda::gather_rows(X_d.data(), idx_d.data(), c.count, c.d, out_d.data(),
                               stream.get());
  const auto out = from_device(out_d, stream);
  ASSERT_EQ(out.size(), ref.size());
  // A copy: bitwise equal (NaN poison left behind also fails here).
  EXPECT_EQ(0, std::memcmp(out.data(), ref.data(), ref.size() * sizeof(float)));
}

INSTANTIATE_TEST_SUITE_P(Shapes, GatherGpu,
                         testing::Values(GatherCase{1, 1, 1}, GatherCase{31, 33, 3},
                                         GatherCase{1021, 31, 784}, GatherCase{65536, 1021, 33},
                                         GatherCase{33, 65536, 1}),
                         [](const testing::TestParamInfo<GatherCase>& info) {
                           return "rows" + std::to_string(info.param.rows) + "_count" +
                                  std::to_string(info.param.count) + "_d" +
                                  std::to_string(info.param.d);
                         });

class SumGpu : public testing::TestWithParam<int> {};

TEST_P(SumGpu, MatchesReferenceWithinDoubleRounding) {
  LK_REQUIRE_GPU();
  const int n = GetParam();
  LK_SEEDED_RNG(rng);
  // Offset from zero so the sum does not cancel to nothing.
  const auto v = random_uniform(static_cast<size_t>(n), rng, -0.75, 1.25);
  const double ref = latentkit::ref::sum<float>(v.data(), v.size());
  Stream stream;
  auto v_d = to_device(v, stream);
  const double got = latentkit::cuda::sum(v_d.data(), v.size(), stream.get());
  // Any order of n double additions of exact (float) inputs is within (n-1) * DBL_EPSILON/2 *
  // sum|v| of the exact sum, so two such sums are within (n-1) * DBL_EPSILON * sum|v|.
  double abs_sum = 0.0;
  for (float x : v) abs_sum += std::fabs(static_cast<double>(x));
  const double bound = std::max(n - 1, 1) * DBL_EPSILON * abs_sum;
  EXPECT_LE(std::fabs(got - ref), bound) << "got " << got << ", reference " << ref;
}

INSTANTIATE_TEST_SUITE_P(Sizes, SumGpu, testing::Values(1, 31, 1021, 1 << 20),
                         [](const testing::TestParamInfo<int>& info) {
                           return "n" + std::to_string(info.param);
                         });

TEST(ShuffleGpuArgs, LaunchersRejectBadArguments) {
  LK_REQUIRE_GPU();
  EXPECT_THROW(latentkit::cuda::shuffle_permutation(nullptr, 8, 1, 0, nullptr), latentkit::Error);
  EXPECT_THROW(latentkit::cuda::gather_rows(nullptr, nullptr, 4, 0, nullptr, nullptr),
               latentkit::Error);
  EXPECT_THROW(latentkit::cuda::sum(nullptr, 4, nullptr), latentkit::Error);
}

}  // namespace
