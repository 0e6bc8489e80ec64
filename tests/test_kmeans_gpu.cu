// GPU tests of kernels/kmeans.cu against the CPU reference (host/ref/kmeans.cpp): the fused
// assign (labels equal except at float near-ties, distances and inertia within float rounding,
// changed-label counts), the deterministic update sums (float64, equal to rounding of the order),
// the per-point silhouette, and whole fits through the host API (CUDA vs CPU backend, same seed)
// on odd sizes. Outputs are poisoned before each launch. Skips itself where no GPU is usable.
#include <gtest/gtest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "gpu_test_util.cuh"
#include "kernels/cuda_resources.cuh"
#include "kernels/kmeans.cuh"
#include "kmeans_sweep_check.h"
#include "latentkit/core/backend.h"
#include "latentkit/families/kmeans.h"
#include "latentkit/ref/kmeans_ref.h"
#include "pairwise_gpu_test_util.cuh"
#include "test_util.h"

namespace {

using latentkit::cuda::DeviceBuffer;
using latentkit::cuda::Stream;
using latentkit::test::from_device;
using latentkit::test::random_uniform;
using latentkit::test::to_device;

struct Case {
  int n, d, k;
};

class KMeansGpu : public testing::TestWithParam<Case> {};

// An assign's inputs: points and centres uniform in [-1, 1]^d, previous labels uniform in [0, k).
struct AssignInputs {
  std::vector<float> X, C;
  std::vector<int32_t> prev;
};

AssignInputs random_assign_inputs(int n, int d, int k, std::mt19937_64& rng) {
  AssignInputs in{random_uniform<float>(size_t(n) * d, rng, -1.0, 1.0),
                  random_uniform<float>(size_t(k) * d, rng, -1.0, 1.0), std::vector<int32_t>(n)};
  std::uniform_int_distribution<int> lab(0, k - 1);
  for (auto& v : in.prev) v = lab(rng);
  return in;
}

TEST_P(KMeansGpu, AssignAndUpdateMatchReference) {
  LK_REQUIRE_GPU();
  const auto [n, d, k] = GetParam();
  LK_SEEDED_RNG(rng);
  const auto [X, C, prev] = random_assign_inputs(n, d, k, rng);
  std::vector<int32_t> ref_labels(n);
  std::vector<double> ref_md(n);
  std::vector<double> Xd(X.begin(), X.end()), Cd(C.begin(), C.end());
  int ref_changed = 0;
  const double ref_inertia = latentkit::ref::kmeans_assign(
      Xd.data(), n, d, Cd.data(), k, prev.data(), ref_labels.data(), ref_md.data(), &ref_changed);

  Stream stream;
  auto Xg = to_device(X, stream), Cg = to_device(C, stream);
  auto Pg = to_device(prev, stream);
  auto Lg = to_device(std::vector<int32_t>(n, -1), stream);
  auto Mg = latentkit::test::poisoned(n, stream);
  const int blocks = latentkit::cuda::kmeans_assign_blocks(n);
  DeviceBuffer<double> bi(blocks);
  DeviceBuffer<int> bc(blocks);
  latentkit::cuda::kmeans_assign(Xg.data(), n, d, Cg.data(), k, Pg.data(), Lg.data(), Mg.data(),
                                 bi.data(), bc.data(), stream.get());
  const auto labels = from_device(Lg, stream);
  const auto md = from_device(Mg, stream);
  const auto bih = from_device(bi, stream);
  const auto bch = from_device(bc, stream);
  // Float distance over d terms: relative error <= (d + 2) FLT_EPSILON.
  const double rtol = (d + 2.0) * FLT_EPSILON;
  EXPECT_TRUE(latentkit::test::all_close(md, ref_md, {1e-7, rtol, rtol}));
  int changed = 0;
  for (int i = 0; i < n; ++i) {
    changed += labels[i] != prev[i];
    if (labels[i] == ref_labels[i]) continue;
    // Allowed only at a near-tie: the device's choice is as close as the reference's, within
    // rounding, in float64.
    ASSERT_TRUE(labels[i] >= 0 && labels[i] < k) << "point " << i;
    double alt = 0;
    for (int j = 0; j < d; ++j)
      alt += std::pow(Xd[size_t(i) * d + j] - Cd[size_t(labels[i]) * d + j], 2);
    EXPECT_NEAR(alt, ref_md[i], 2 * rtol * ref_md[i] + 1e-7) << "point " << i;
  }
  double inertia = 0;
  int sum_changed = 0;
  for (int b = 0; b < blocks; ++b) {
    inertia += bih[b];
    sum_changed += bch[b];
  }
  EXPECT_NEAR(inertia, ref_inertia, rtol * ref_inertia + 1e-6);
  EXPECT_EQ(sum_changed, changed);

  // Update sums from the reference labels on both sides.
  std::vector<double> ref_sums(size_t(k) * d), ref_counts(k);
  latentkit::ref::kmeans_update_sums(X.data(), n, d, ref_labels.data(), k, ref_sums.data(),
                                     ref_counts.data());
  auto RLg = to_device(ref_labels, stream);
  DeviceBuffer<double> sums(size_t(k) * d), counts(k),
      scratch(latentkit::cuda::kmeans_update_scratch(n, k, d));
  // NaN poison on the test's stream (a legacy-stream memset could land after the kernels).
  LK_CUDA_CHECK(cudaMemsetAsync(sums.data(), 0xff, sums.bytes(), stream.get()));
  LK_CUDA_CHECK(cudaMemsetAsync(counts.data(), 0xff, counts.bytes(), stream.get()));
  latentkit::cuda::kmeans_update_sums(Xg.data(), n, d, RLg.data(), k, sums.data(), counts.data(),
                                      scratch.data(), stream.get());
  // float64 sums of n floats in another order: relative error ~ n * DBL_EPSILON.
  EXPECT_TRUE(latentkit::test::all_close(from_device(sums, stream), ref_sums,
                                         {1e-12, n * DBL_EPSILON, n * DBL_EPSILON}));
  EXPECT_EQ(from_device(counts, stream), ref_counts);  // integers: exact
}

// Without previous labels (prev_labels == nullptr: a first assignment) the assign computes the
// same labels, distances and inertia partials, bit for bit, as with them (checked against the
// reference above), and counts no changes.
TEST_P(KMeansGpu, AssignWithoutPreviousLabels) {
  LK_REQUIRE_GPU();
  const Case c = GetParam();
  const int n = c.n, d = c.d, k = c.k;  // plain variables: the lambda below captures them
  LK_SEEDED_RNG(rng);
  const AssignInputs in = random_assign_inputs(n, d, k, rng);
  Stream stream;
  auto Xg = to_device(in.X, stream), Cg = to_device(in.C, stream);
  auto Pg = to_device(in.prev, stream);
  const int blocks = latentkit::cuda::kmeans_assign_blocks(n);
  struct Out {
    std::vector<int32_t> labels;
    std::vector<float> mindist;
    std::vector<double> inertia;
    std::vector<int> changed;
  };
  const auto assign = [&](const int32_t* prev_labels) {
    auto Lg = to_device(std::vector<int32_t>(n, -1), stream);
    auto Mg = latentkit::test::poisoned(n, stream);
    // Poisoned too: NaN inertia partials, changed counts of -1.
    auto bi = to_device(std::vector<double>(blocks, std::nan("")), stream);
    auto bc = to_device(std::vector<int>(blocks, -1), stream);
    latentkit::cuda::kmeans_assign(Xg.data(), n, d, Cg.data(), k, prev_labels, Lg.data(), Mg.data(),
                                   bi.data(), bc.data(), stream.get());
    return Out{from_device(Lg, stream), from_device(Mg, stream), from_device(bi, stream),
               from_device(bc, stream)};
  };
  const Out with = assign(Pg.data()), without = assign(nullptr);
  EXPECT_EQ(without.labels, with.labels);
  ASSERT_EQ(without.mindist.size(), with.mindist.size());
  EXPECT_EQ(0, std::memcmp(without.mindist.data(), with.mindist.data(),
                           with.mindist.size() * sizeof(float)));
  EXPECT_EQ(without.inertia, with.inertia);
  EXPECT_EQ(without.changed, std::vector<int>(blocks, 0));
  for (float v : without.mindist) ASSERT_FALSE(std::isnan(v)) << "mindist left unwritten";
}

INSTANTIATE_TEST_SUITE_P(Shapes, KMeansGpu,
                         testing::Values(Case{1, 1, 1}, Case{31, 3, 2}, Case{1021, 3, 15},
                                         Case{5000, 2, 10}, Case{333, 784, 7}, Case{257, 33, 400}),
                         [](const testing::TestParamInfo<Case>& info) {
                           const auto& c = info.param;
                           return latentkit::test::shape_name({{"n", c.n}, {"d", c.d}, {"k", c.k}});
                         });

TEST(KMeansGpuHostApi, FitAndSilhouetteMatchCpu) {
  LK_REQUIRE_GPU();
  LK_SEEDED_RNG(rng);
  auto [cpu, gpu] = latentkit::test::cpu_and_gpu();
  // Five well-separated blobs in 3-D: both backends find the same partition.
  const int per = 203, k = 5, d = 3, n = per * k;
  std::normal_distribution<double> g(0.0, 0.4);
  std::vector<float> X;
  for (int c = 0; c < k; ++c)
    for (int i = 0; i < per; ++i)
      for (int j = 0; j < d; ++j)
        X.push_back(float(8.0 * ((c >> j) & 1) + 3.0 * (c == 4) + g(rng)));
  auto Xc = cpu->upload(X), Xg = gpu->upload(X);
  latentkit::KMeansOptions opt;
  opt.k = k;
  // One restart: with several, two restarts reaching the same partition under different label
  // numberings have equal inertia up to rounding, and the backends may keep different ones.
  opt.n_init = 1;
  opt.seed = rng();
  const auto rc = latentkit::kmeans(*cpu, Xc.data(), n, d, opt);
  const auto rg = latentkit::kmeans(*gpu, Xg.data(), n, d, opt);
  EXPECT_EQ(rg.labels, rc.labels);
  EXPECT_NEAR(rg.inertia, rc.inertia, 1e-5 * rc.inertia);
  for (size_t t = 1; t < rg.inertia_trace.size(); ++t)
    EXPECT_LE(rg.inertia_trace[t], rg.inertia_trace[t - 1] * (1 + 1e-6));

  auto Lc = cpu->upload(rc.labels), Lg = gpu->upload(rc.labels);
  for (int sample : {0, 300}) {
    const auto sc = latentkit::silhouette(*cpu, Xc.data(), n, d, Lc.data(), k, sample, 9);
    const auto sg = latentkit::silhouette(*gpu, Xg.data(), n, d, Lg.data(), k, sample, 9);
    // Float distances and sqrt: each mean distance within ~(d + 4) FLT_EPSILON relative.
    EXPECT_NEAR(sg.score, sc.score, 1e-5) << "sample " << sample;
    EXPECT_EQ(sg.points, sc.points);
  }
}

// The batched assign / update (the k sweep's one launch per step) must give, for every problem of
// the batch, exactly the bits of the single-problem calls: same kernels, same per-problem order.
// Problems listed out of slot order, one slot left out (its labels must stay untouched), one k
// whose centres do not fit in shared memory (global path), odd n.
TEST(KMeansGpu, BatchedStepsEqualSingleCalls) {
  LK_REQUIRE_GPU();
  LK_SEEDED_RNG(rng);
  const int n = 1021, d = 33;
  const std::vector<int> ks = {2, 15, 1, 400};  // 400 x 33 floats > the shared-memory limit
  std::vector<int> first(ks.size());
  int total_k = 0;
  for (size_t s = 0; s < ks.size(); ++s) {
    first[s] = total_k;
    total_k += ks[s];
  }
  const int S = static_cast<int>(ks.size());
  const auto X = random_uniform<float>(size_t(n) * d, rng, -1.0, 1.0);
  const auto C = random_uniform<float>(size_t(total_k) * d, rng, -1.0, 1.0);
  std::vector<int32_t> prev(size_t(S) * n);
  for (int s = 0; s < S; ++s) {
    std::uniform_int_distribution<int> lab(0, ks[s] - 1);
    for (int i = 0; i < n; ++i) prev[size_t(s) * n + i] = lab(rng);
  }
  const std::vector<int> order = {3, 0, 1};  // slot 2 not in this batch
  std::vector<int> meta;
  for (int s : order) meta.insert(meta.end(), {ks[s], first[s], s});
  const int count = static_cast<int>(order.size()), k_max = 400;

  Stream stream;
  auto Xg = to_device(X, stream), Cg = to_device(C, stream);
  auto Mg = to_device(meta, stream);
  auto Lg = to_device(prev, stream);
  auto Dg = latentkit::test::poisoned(size_t(S) * n, stream);
  const int blocks = latentkit::cuda::kmeans_assign_blocks(n);
  DeviceBuffer<double> bi(size_t(count) * blocks);
  DeviceBuffer<int> bc(size_t(count) * blocks);
  latentkit::cuda::kmeans_assign_batched(Xg.data(), n, d, Cg.data(), Mg.data(), count, k_max,
                                         Lg.data(), Dg.data(), bi.data(), bc.data(), stream.get());
  DeviceBuffer<double> sums(size_t(total_k) * d), counts(total_k),
      scratch(latentkit::cuda::kmeans_update_scratch(n, total_k, d));
  LK_CUDA_CHECK(cudaMemsetAsync(sums.data(), 0xff, sums.bytes(), stream.get()));
  LK_CUDA_CHECK(cudaMemsetAsync(counts.data(), 0xff, counts.bytes(), stream.get()));
  latentkit::cuda::kmeans_update_sums_batched(Xg.data(), n, d, Lg.data(), Mg.data(), count, k_max,
                                              sums.data(), counts.data(), scratch.data(),
                                              stream.get());
  const auto labels = from_device(Lg, stream);
  const auto md = from_device(Dg, stream);
  const auto bih = from_device(bi, stream), sh = from_device(sums, stream),
             ch = from_device(counts, stream);
  const auto bch = from_device(bc, stream);

  for (int b = 0; b < count; ++b) {
    const int s = order[b], k = ks[s];
    SCOPED_TRACE("slot " + std::to_string(s) + " k=" + std::to_string(k));
    const std::vector<int32_t> p(prev.begin() + size_t(s) * n, prev.begin() + size_t(s + 1) * n);
    const std::vector<float> Cs(C.begin() + size_t(first[s]) * d,
                                C.begin() + size_t(first[s] + k) * d);
    auto Cs_g = to_device(Cs, stream);
    auto P1 = to_device(p, stream);
    auto L1 = to_device(std::vector<int32_t>(n, -1), stream);
    auto D1 = latentkit::test::poisoned(n, stream);
    DeviceBuffer<double> bi1(blocks), s1(size_t(k) * d), c1(k),
        sc1(latentkit::cuda::kmeans_update_scratch(n, k, d));
    DeviceBuffer<int> bc1(blocks);
    latentkit::cuda::kmeans_assign(Xg.data(), n, d, Cs_g.data(), k, P1.data(), L1.data(), D1.data(),
                                   bi1.data(), bc1.data(), stream.get());
    latentkit::cuda::kmeans_update_sums(Xg.data(), n, d, L1.data(), k, s1.data(), c1.data(),
                                        sc1.data(), stream.get());
    const auto l1 = from_device(L1, stream);
    const auto d1 = from_device(D1, stream);
    EXPECT_TRUE(std::equal(l1.begin(), l1.end(), labels.begin() + size_t(s) * n));
    EXPECT_TRUE(std::equal(d1.begin(), d1.end(), md.begin() + size_t(s) * n));
    const auto bi1h = from_device(bi1, stream);
    const auto bc1h = from_device(bc1, stream);
    EXPECT_TRUE(std::equal(bi1h.begin(), bi1h.end(), bih.begin() + size_t(b) * blocks));
    EXPECT_TRUE(std::equal(bc1h.begin(), bc1h.end(), bch.begin() + size_t(b) * blocks));
    const auto s1h = from_device(s1, stream);
    const auto c1h = from_device(c1, stream);
    EXPECT_TRUE(std::equal(s1h.begin(), s1h.end(), sh.begin() + size_t(first[s]) * d));
    EXPECT_TRUE(std::equal(c1h.begin(), c1h.end(), ch.begin() + first[s]));
  }
  // The slot outside the batch keeps its labels; its mindist stays poisoned.
  EXPECT_TRUE(std::equal(prev.begin() + size_t(2) * n, prev.begin() + size_t(3) * n,
                         labels.begin() + size_t(2) * n));
  EXPECT_TRUE(std::all_of(md.begin() + size_t(2) * n, md.begin() + size_t(3) * n,
                          [](float v) { return std::isnan(v); }));
}

// Through the host API on the device: the batched sweep equals separate fits per k, bit for bit.
TEST(KMeansGpuHostApi, SweepEqualsSeparateFits) {
  LK_REQUIRE_GPU();
  LK_SEEDED_RNG(rng);
  auto gpu = latentkit::make_cuda_backend(0);
  const int n = 777, d = 3;
  std::normal_distribution<double> g(0.0, 1.0);
  std::vector<float> X(size_t(n) * d);
  for (auto& v : X) v = float(g(rng));
  auto Xg = gpu->upload(X);
  latentkit::KMeansOptions opt;
  opt.n_init = 2;
  opt.max_iter = 12;
  opt.seed = rng();
  const auto n_iters =
      latentkit::test::expect_sweep_equals_separate_fits(*gpu, Xg.data(), n, d, 2, 15, opt, 300);
  EXPECT_EQ(n_iters.size(), 14u);
}

}  // namespace
