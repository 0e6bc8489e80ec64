// GPU tests of kernels/pairwise.cu and kernels/knn.cu against the CPU reference
// (host/ref/pairwise.cpp): materialised distances and per-row sums for D in {1, 2, 3, 5, 8, 31, 33,
// 784} (every tile chunk) and odd sizes, X == Y (diagonal exactly 0 on the device too, nothing
// negative), and kNN (every fused list length, and the k > 256 sorted path, in one batch and in
// several) against the float64 reference: exact index equality on integer data (exact distances,
// so ties are exact and must go to the smaller index), and on random data equal distances within
// float rounding with indices equal wherever the reference's neighbours are separated by more than
// that rounding. Outputs are poisoned before each launch.
// The host API (latentkit/families/pairwise.h) on the CUDA backend: typed views in device memory
// give the launchers' results, and a view in host memory is refused with its name.
// Skips itself (with the reason) where no CUDA device is usable.
#include <gtest/gtest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "gpu_test_util.cuh"
#include "kernels/cuda_resources.cuh"
#include "kernels/knn.cuh"
#include "kernels/pairwise.cuh"
#include "latentkit/core/backend.h"
#include "latentkit/families/pairwise.h"
#include "latentkit/ref/pairwise_ref.h"
#include "pairwise_gpu_test_util.cuh"
#include "test_util.h"

namespace {

using latentkit::cuda::DeviceBuffer;
using latentkit::cuda::Stream;
using latentkit::test::from_device;
using latentkit::test::poisoned;
using latentkit::test::random_uniform;
using latentkit::test::to_device;

struct DistCase {
  int n, m, d;
};

class PairwiseGpu : public testing::TestWithParam<DistCase> {};

TEST_P(PairwiseGpu, SqdistAndRowSumsMatchReference) {
  LK_REQUIRE_GPU();
  const auto [n, m, d] = GetParam();
  LK_SEEDED_RNG(rng);
  const auto X = random_uniform<float>(size_t(n) * d, rng, -2.0, 2.0);
  const auto Y = random_uniform<float>(size_t(m) * d, rng, -2.0, 2.0);
  std::vector<double> ref(size_t(n) * m);
  {
    std::vector<double> Xd(X.begin(), X.end()), Yd(Y.begin(), Y.end());
    latentkit::ref::pairwise_sqdist(Xd.data(), n, Yd.data(), m, d, ref.data());
  }
  Stream stream;
  auto Xg = to_device(X, stream), Yg = to_device(Y, stream);
  auto out = poisoned(size_t(n) * m, stream);
  latentkit::cuda::pairwise_sqdist(Xg.data(), n, Yg.data(), m, d, out.data(), stream.get());
  // Each term diff^2 is exact to ~2 ulp after the float subtract; a d-long float sum of
  // non-negative terms has relative error <= d * FLT_EPSILON (worst case), ~sqrt(d) typically.
  const double rtol = (2.0 + d) * FLT_EPSILON;
  EXPECT_TRUE(latentkit::test::all_close(from_device(out, stream), ref, {1e-6, rtol, rtol}));

  DeviceBuffer<double> sums(n);
  // NaN pattern, on the test's stream: a legacy-stream cudaMemset could land after the kernel.
  LK_CUDA_CHECK(cudaMemsetAsync(sums.data(), 0xff, sums.bytes(), stream.get()));
  latentkit::cuda::pairwise_row_sums(Xg.data(), n, Yg.data(), m, d, sums.data(), stream.get());
  std::vector<double> ref_sums(n, 0.0);
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < m; ++j) ref_sums[i] += ref[size_t(i) * m + j];
  // Same per-element bound; the float64 row accumulation adds nothing measurable.
  EXPECT_TRUE(latentkit::test::all_close(from_device(sums, stream), ref_sums, {1e-6, rtol, rtol}));
}

TEST_P(PairwiseGpu, SelfDistancesDiagonalZeroNonNegative) {
  LK_REQUIRE_GPU();
  const auto [n, m, d] = GetParam();
  (void)m;
  LK_SEEDED_RNG(rng);
  const auto X = random_uniform<float>(size_t(n) * d, rng, 999.0, 1001.0);  // far from origin
  Stream stream;
  auto Xg = to_device(X, stream);
  auto out = poisoned(size_t(n) * n, stream);
  latentkit::cuda::pairwise_sqdist(Xg.data(), n, Xg.data(), n, d, out.data(), stream.get());
  const auto h = from_device(out, stream);
  for (int i = 0; i < n; ++i) {
    EXPECT_EQ(h[size_t(i) * n + i], 0.0f) << "diagonal " << i;
    for (int j = 0; j < n; ++j) ASSERT_GE(h[size_t(i) * n + j], 0.0f) << i << "," << j;
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, PairwiseGpu,
                         // D = 5 and 8: the 8-dimension tile chunk (pairwise_tile.cuh), the two
                         // ends of its range.
                         testing::Values(DistCase{1, 1, 1}, DistCase{31, 33, 3},
                                         DistCase{33, 1021, 2}, DistCase{67, 65, 5},
                                         DistCase{33, 129, 8}, DistCase{65, 64, 31},
                                         DistCase{100, 70, 33}, DistCase{70, 129, 784}),
                         [](const testing::TestParamInfo<DistCase>& info) {
                           const auto& c = info.param;
                           return latentkit::test::shape_name({{"n", c.n}, {"m", c.m}, {"d", c.d}});
                         });

struct KnnCase {
  int nq, nx, d, k;
  bool exclude_self;
};

class KnnGpu : public testing::TestWithParam<KnnCase> {};

struct KnnOut {
  std::vector<int32_t> idx;
  std::vector<float> dist;
};

// cuda::knn on copies of Q and X with poisoned outputs (indices -1, distances NaN).
KnnOut device_knn(const std::vector<float>& Q, const std::vector<float>& X, const KnnCase& c) {
  Stream stream;
  auto Qg = to_device(Q, stream), Xg = to_device(X, stream);
  auto idx = to_device(std::vector<int32_t>(size_t(c.nq) * c.k, -1), stream);
  auto dist = poisoned(size_t(c.nq) * c.k, stream);
  latentkit::cuda::knn(Qg.data(), c.nq, Xg.data(), c.nx, c.d, c.k, c.exclude_self, idx.data(),
                       dist.data(), stream.get());
  return {from_device(idx, stream), from_device(dist, stream)};
}

// Integer coordinates in [-coord_max, coord_max]: every distance is an exact integer in float and
// double (d (2 coord_max)^2 <= 2^24), so the device result must equal the reference exactly, ties
// included.
void expect_integer_knn_exact(const KnnCase& c, int coord_max, std::mt19937_64& rng) {
  std::uniform_int_distribution<int> coord(-coord_max, coord_max);
  std::vector<float> X(size_t(c.nx) * c.d);
  for (auto& x : X) x = float(coord(rng));
  std::vector<float> Q = X;
  if (!c.exclude_self) {
    Q.resize(size_t(c.nq) * c.d);
    for (auto& x : Q) x = float(coord(rng));
  }
  std::vector<int32_t> ref_idx(size_t(c.nq) * c.k);
  std::vector<float> ref_dist(size_t(c.nq) * c.k);
  latentkit::ref::knn(Q.data(), c.nq, X.data(), c.nx, c.d, c.k, c.exclude_self, ref_idx.data(),
                      ref_dist.data());
  const auto [gi, gd] = device_knn(Q, X, c);
  for (size_t e = 0; e < ref_idx.size(); ++e) {
    ASSERT_EQ(gi[e], ref_idx[e]) << "query " << e / c.k << " rank " << e % c.k;
    ASSERT_EQ(gd[e], ref_dist[e]) << "query " << e / c.k << " rank " << e % c.k;
  }
}

TEST_P(KnnGpu, IntegerDataEqualsReferenceExactly) {
  LK_REQUIRE_GPU();
  LK_SEEDED_RNG(rng);
  expect_integer_knn_exact(GetParam(), 4, rng);
}

// Random real data: distances within float rounding; indices equal except where two reference
// neighbours are closer together than that rounding (then either order is a correct float answer).
TEST_P(KnnGpu, RandomDataMatchesReference) {
  LK_REQUIRE_GPU();
  const auto c = GetParam();
  LK_SEEDED_RNG(rng);
  const auto X = random_uniform<float>(size_t(c.nx) * c.d, rng, -1.0, 1.0);
  const auto Q = c.exclude_self ? X : random_uniform<float>(size_t(c.nq) * c.d, rng, -1.0, 1.0);
  std::vector<double> Xd(X.begin(), X.end()), Qd(Q.begin(), Q.end());
  std::vector<int32_t> ref_idx(size_t(c.nq) * c.k);
  std::vector<double> ref_dist(size_t(c.nq) * c.k);
  latentkit::ref::knn(Qd.data(), c.nq, Xd.data(), c.nx, c.d, c.k, c.exclude_self, ref_idx.data(),
                      ref_dist.data());
  const auto [gi, gd] = device_knn(Q, X, c);
  // Float distance of d terms: relative error <= (d + 2) FLT_EPSILON (see PairwiseGpu).
  const double rtol = (2.0 + c.d) * FLT_EPSILON;
  EXPECT_TRUE(latentkit::test::all_close(gd, ref_dist, {1e-7, rtol, rtol}));
  int swapped = 0;
  for (int q = 0; q < c.nq; ++q) {
    std::vector<int32_t> row(gi.begin() + size_t(q) * c.k, gi.begin() + size_t(q + 1) * c.k);
    std::sort(row.begin(), row.end());
    EXPECT_TRUE(std::adjacent_find(row.begin(), row.end()) == row.end())
        << "query " << q << ": a neighbour listed twice";
    for (int r = 0; r < c.k; ++r) {
      const size_t e = size_t(q) * c.k + r;
      if (gi[e] == ref_idx[e]) continue;
      // A mismatch is only allowed at a near-tie: the device's neighbour (a valid index, not the
      // query itself) is, in float64, as far from the query as the reference's neighbour of that
      // rank within twice the float rounding (this covers the k-th vs (k+1)-th boundary too).
      ASSERT_TRUE(gi[e] >= 0 && gi[e] < c.nx) << "query " << q << " rank " << r << ": " << gi[e];
      EXPECT_FALSE(c.exclude_self && gi[e] == q) << "query " << q << " is its own neighbour";
      double alt = 0;
      for (int j = 0; j < c.d; ++j) {
        const double diff = Qd[size_t(q) * c.d + j] - Xd[size_t(gi[e]) * c.d + j];
        alt += diff * diff;
      }
      const double dr = ref_dist[e];
      EXPECT_NEAR(alt, dr, 2 * rtol * dr + 1e-7)
          << "query " << q << " rank " << r << ": " << gi[e] << " vs reference " << ref_idx[e];
      ++swapped;
    }
  }
  // Near-ties are rare with continuous data: a handful at most.
  EXPECT_LE(swapped, 2 + c.nq * c.k / 1000);
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, KnnGpu,
    testing::Values(KnnCase{1, 1, 1, 1, false}, KnnCase{31, 33, 3, 5, false},
                    KnnCase{33, 33, 2, 32, true}, KnnCase{1021, 1021, 3, 90, true},
                    KnnCase{70, 129, 784, 10, false}, KnnCase{50, 300, 33, 128, false},
                    // The fused kernel's 64-list (33 <= k <= 64) and 256-list (129 <= k <= 256),
                    // each at both ends of its range.
                    KnnCase{45, 200, 5, 33, false}, KnnCase{130, 130, 7, 64, true},
                    KnnCase{40, 300, 6, 129, false}, KnnCase{257, 257, 3, 256, true},
                    KnnCase{40, 600, 2, 300, false}, KnnCase{600, 600, 2, 300, true}),
    [](const testing::TestParamInfo<KnnCase>& info) {
      const auto& c = info.param;
      return latentkit::test::shape_name({{"nq", c.nq}, {"nx", c.nx}, {"d", c.d}, {"k", c.k}}) +
             (c.exclude_self ? "_self" : "");
    });

// The sorted path (k > kKnnMaxFusedK) in several query batches: with nq * nx = 4097^2 > 2^24 keys
// it sorts 4095 queries (2^24 / 4097) and then the last 2, whose self-exclusion must use their
// global query index. D = 1 keeps it cheap (1.7e7 distances and keys, the least that needs a second
// batch); integer coordinates up to 2048 give exact distances (4096^2 = 2^24 is exact in float)
// with many ties, so every index and distance must equal the reference.
TEST(KnnGpuSorted, SeveralQueryBatchesEqualReferenceExactly) {
  LK_REQUIRE_GPU();
  LK_SEEDED_RNG(rng);
  const KnnCase c{4097, 4097, 1, 257, true};
  static_assert(4097LL * 4097 > static_cast<long long>(latentkit::cuda::kKnnSortBatchElements),
                "needs more than one batch");
  static_assert(257 > latentkit::cuda::kKnnMaxFusedK, "must take the sorted path");
  expect_integer_knn_exact(c, 2048, rng);
}

// The host API on the CUDA backend dispatches to the same launchers: integer data, so the
// distances are exact and the result must equal the reference bit for bit. A host view given to
// the CUDA backend is an Error naming it, raised before anything is launched.
TEST(PairwiseHostApiGpu, ViewsOnTheCudaBackend) {
  LK_REQUIRE_GPU();
  auto backend = latentkit::make_cuda_backend(0);
  LK_SEEDED_RNG(rng);
  const int n = 33, d = 3, k = 5;
  std::uniform_int_distribution<int> coord(-4, 4);
  std::vector<float> Xh(size_t(n) * d);
  for (auto& x : Xh) x = float(coord(rng));
  auto X = backend->upload(Xh);
  auto idx = backend->upload(std::vector<int32_t>(size_t(n) * k, -1));
  auto dist = backend->upload(std::vector<float>(size_t(n) * k, NAN));
  latentkit::knn(*backend, X.view(n, d), X.view(n, d), k, true, idx.view(n, k), dist.view(n, k));
  std::vector<int32_t> ref_idx(size_t(n) * k);
  std::vector<float> ref_dist(size_t(n) * k);
  latentkit::ref::knn(Xh.data(), n, Xh.data(), n, d, k, true, ref_idx.data(), ref_dist.data());
  EXPECT_EQ(backend->download(idx.data(), idx.size()), ref_idx);
  EXPECT_EQ(backend->download(dist.data(), dist.size()), ref_dist);

  auto out = backend->upload(std::vector<float>(size_t(n) * n, NAN));
  latentkit::pairwise_sqdist(*backend, X.view(n, d), X.view(n, d), out.view(n, n));
  std::vector<float> ref_out(size_t(n) * n);
  latentkit::ref::pairwise_sqdist(Xh.data(), n, Xh.data(), n, d, ref_out.data());
  EXPECT_EQ(backend->download(out.data(), out.size()), ref_out);

  try {
    latentkit::pairwise_sqdist(*backend, latentkit::host_view(Xh, n, d), X.view(n, d),
                               out.view(n, n));
    ADD_FAILURE() << "a host view was accepted by the CUDA backend";
  } catch (const latentkit::Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("pairwise_sqdist: X is in host memory"), std::string::npos) << msg;
  }
}

}  // namespace
