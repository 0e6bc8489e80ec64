// CPU tests of the pairwise reference (host/ref/pairwise.cpp) and the host API on the CPU
// backend: distances against hand values and an independent float64 brute force (including
// X == Y: diagonal exactly 0, nothing negative); kNN against a brute force that sorts every
// candidate, with ties broken by index (integer coordinates make ties exact), exclude_self, and
// bad k rejected with InputError.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <utility>
#include <vector>

#include "latentkit/core/backend.h"
#include "latentkit/core/check.h"
#include "latentkit/families/pairwise.h"
#include "latentkit/ref/pairwise_ref.h"
#include "test_util.h"

namespace {

using latentkit::test::random_uniform;

TEST(RefPairwise, HandValues) {
  // X rows (0,0), (1,2); Y rows (3,4), (1,2), (-1,0).
  const std::vector<double> X = {0, 0, 1, 2}, Y = {3, 4, 1, 2, -1, 0};
  std::vector<double> out(6);
  latentkit::ref::pairwise_sqdist(X.data(), 2, Y.data(), 3, 2, out.data());
  const std::vector<double> expect = {25, 5, 1, 8, 0, 8};
  EXPECT_EQ(out, expect);
}

TEST(RefPairwise, MatchesBruteForceAndSelfIsExactZero) {
  LK_SEEDED_RNG(rng);
  for (int d : {1, 3, 33, 784}) {
    const int n = 31, m = 33;
    // Points far from the origin (offset 1000): the norm expansion would cancel badly here.
    auto X = random_uniform<float>(size_t(n) * d, rng, 999.0, 1001.0);
    auto Y = random_uniform<float>(size_t(m) * d, rng, 999.0, 1001.0);
    std::vector<float> out(size_t(n) * m);
    latentkit::ref::pairwise_sqdist(X.data(), n, Y.data(), m, d, out.data());
    std::vector<double> brute(size_t(n) * m);
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < m; ++j) {
        long double s = 0;
        for (int c = 0; c < d; ++c) {
          const long double diff = (long double)X[size_t(i) * d + c] - Y[size_t(j) * d + c];
          s += diff * diff;
        }
        brute[size_t(i) * m + j] = double(s);
      }
    // float64 accumulation, one rounding to float: 1 ulp of float relative.
    EXPECT_TRUE(latentkit::test::all_close(out, brute, {1e-30, 1.2e-7, 1.2e-7})) << "d=" << d;

    std::vector<float> self(size_t(n) * n);
    latentkit::ref::pairwise_sqdist(X.data(), n, X.data(), n, d, self.data());
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < n; ++j) {
        const float v = self[size_t(i) * n + j];
        if (i == j) EXPECT_EQ(v, 0.0f) << "diagonal " << i << " d=" << d;
        EXPECT_GE(v, 0.0f);
        EXPECT_EQ(v, self[size_t(j) * n + i]) << "not symmetric";
      }
  }
}

// Brute force kNN: sort all candidates by (distance, index).
std::vector<std::pair<double, int>> brute_knn_row(const std::vector<float>& Q, int q,
                                                  const std::vector<float>& X, int nx, int d,
                                                  bool exclude_self) {
  std::vector<std::pair<double, int>> all;
  for (int j = 0; j < nx; ++j) {
    if (exclude_self && j == q) continue;
    double s = 0;
    for (int c = 0; c < d; ++c) {
      const double diff = double(Q[size_t(q) * d + c]) - X[size_t(j) * d + c];
      s += diff * diff;
    }
    all.emplace_back(s, j);
  }
  std::sort(all.begin(), all.end());
  return all;
}

TEST(RefPairwise, KnnEqualsBruteForceWithIndexTies) {
  LK_SEEDED_RNG(rng);
  // Integer coordinates in a small range: many exactly equal distances.
  std::uniform_int_distribution<int> coord(-3, 3);
  for (int d : {1, 2, 5}) {
    for (bool exclude_self : {false, true}) {
      const int nx = 33, nq = exclude_self ? nx : 17, k = 7;
      std::vector<float> X(size_t(nx) * d), Q;
      for (auto& x : X) x = float(coord(rng));
      if (exclude_self) {
        Q = X;
      } else {
        Q.resize(size_t(nq) * d);
        for (auto& x : Q) x = float(coord(rng));
      }
      std::vector<int32_t> idx(size_t(nq) * k, -1);
      std::vector<float> dist(size_t(nq) * k, latentkit::test::kPoison);
      latentkit::ref::knn(Q.data(), nq, X.data(), nx, d, k, exclude_self, idx.data(), dist.data());
      for (int q = 0; q < nq; ++q) {
        const auto all = brute_knn_row(Q, q, X, nx, d, exclude_self);
        for (int r = 0; r < k; ++r) {
          EXPECT_EQ(idx[size_t(q) * k + r], all[r].second) << "q=" << q << " r=" << r;
          EXPECT_EQ(dist[size_t(q) * k + r], float(all[r].first)) << "q=" << q << " r=" << r;
        }
      }
    }
  }
}

TEST(RefPairwise, KnnOfDuplicatesIsSmallestIndexFirst) {
  // Five identical points: each one's neighbours are the other four in index order, at 0.
  const std::vector<float> X(5 * 2, 1.5f);
  std::vector<int32_t> idx(5 * 4);
  std::vector<float> dist(5 * 4);
  latentkit::ref::knn(X.data(), 5, X.data(), 5, 2, 4, true, idx.data(), dist.data());
  for (int q = 0; q < 5; ++q) {
    int expect = 0;
    for (int r = 0; r < 4; ++r, ++expect) {
      if (expect == q) ++expect;
      EXPECT_EQ(idx[q * 4 + r], expect);
      EXPECT_EQ(dist[q * 4 + r], 0.0f);
    }
  }
}

TEST(RefPairwise, HostApiOnCpuAndBadK) {
  auto backend = latentkit::make_cpu_backend();
  LK_SEEDED_RNG(rng);
  const int n = 21, d = 3, k = 5;
  const auto Xh = random_uniform<float>(size_t(n) * d, rng, -1.0, 1.0);
  auto X = backend->upload(Xh);
  auto idx = backend->alloc_int(size_t(n) * k);
  auto dist = backend->alloc(size_t(n) * k);
  latentkit::knn(*backend, X.view(n, d), X.view(n, d), k, true, idx.view(n, k), dist.view(n, k));
  const auto idx_h = backend->download(idx.data(), idx.size());
  for (int q = 0; q < n; ++q) {
    const auto all = brute_knn_row(Xh, q, Xh, n, d, true);
    for (int r = 0; r < k; ++r) EXPECT_EQ(idx_h[size_t(q) * k + r], all[r].second);
  }
  auto idx_n = backend->alloc_int(size_t(n) * n);
  auto dist_n = backend->alloc(size_t(n) * n);
  EXPECT_THROW(latentkit::knn(*backend, X.view(n, d), X.view(n, d), n, true, idx_n.view(n, n),
                              dist_n.view(n, n)),
               latentkit::InputError);  // k = n with exclude_self: only n-1 candidates
  EXPECT_THROW(latentkit::knn(*backend, X.view(n, d), X.view(n, d), 0, false, idx.view(n, 0),
                              dist.view(n, 0)),
               latentkit::InputError);
  EXPECT_THROW(latentkit::knn(*backend, X.view(3, d), X.view(n, d), 2, true, idx.view(3, 2),
                              dist.view(3, 2)),
               latentkit::InputError);  // exclude_self with nq != nx
  EXPECT_THROW(latentkit::knn(*backend, X.view(n, d), X.view(n / d, d + 1), 2, false,
                              idx.view(n, 2), dist.view(n, 2)),
               latentkit::InputError);  // queries and reference points of other widths
}

// The host API checks where every view lives: memory tagged as the CUDA device's is refused by the
// CPU backend with a message naming the view (the tag is all that is read: nothing is
// dereferenced). The GPU side (a host view given to the CUDA backend) is in test_pairwise_gpu.cu.
TEST(RefPairwise, HostApiRefusesViewsInAnotherMemory) {
  auto backend = latentkit::make_cpu_backend();
  const int n = 5, d = 2;
  std::vector<float> X(size_t(n) * d, 1.0f), out(size_t(n) * n, 0.0f);
  const latentkit::MatrixView<const float> on_device(X.data(), n, d, latentkit::Memory::Cuda);
  try {
    latentkit::pairwise_sqdist(*backend, latentkit::host_view(X, n, d), on_device,
                               latentkit::host_view(out, n, n));
    ADD_FAILURE() << "a CUDA-tagged view was accepted by the CPU backend";
  } catch (const latentkit::Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("pairwise_sqdist: Y is in CUDA device memory"), std::string::npos) << msg;
    EXPECT_NE(msg.find("the backend computes in host memory"), std::string::npos) << msg;
  }
  // The same call with host views runs: every distance of identical rows is 0.
  latentkit::pairwise_sqdist(*backend, latentkit::host_view(X, n, d), latentkit::host_view(X, n, d),
                             latentkit::host_view(out, n, n));
  for (float v : out) EXPECT_EQ(v, 0.0f);
  // Output shapes are checked too.
  std::vector<float> small(size_t(n) * (n - 1));
  EXPECT_THROW(latentkit::pairwise_sqdist(*backend, latentkit::host_view(X, n, d),
                                          latentkit::host_view(X, n, d),
                                          latentkit::host_view(small, n, n - 1)),
               latentkit::Error);
}

}  // namespace
