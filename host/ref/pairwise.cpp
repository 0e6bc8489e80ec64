// CPU reference for the pairwise-distance core and brute-force kNN (latentkit/ref/pairwise_ref.h).
// Tests: tests/test_ref_pairwise.cpp; oracle for tests/test_pairwise_gpu.cu.
#include <algorithm>
#include <utility>
#include <vector>

#include "latentkit/core/check.h"
#include "latentkit/ref/pairwise_ref.h"

namespace latentkit::ref {
namespace {
template <class T>
double sqdist_row(const T* x, const T* y, int d) {
  double s = 0.0;
  for (int c = 0; c < d; ++c) {
    const double diff = static_cast<double>(x[c]) - static_cast<double>(y[c]);
    s += diff * diff;
  }
  return s;
}
}  // namespace

template <class T>
void pairwise_sqdist(const T* X, int n, const T* Y, int m, int d, T* out) {
  LK_CHECK(n >= 0 && m >= 0 && d >= 1,
           "pairwise_sqdist: bad shape n=" << n << " m=" << m << " d=" << d);
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < m; ++j)
      out[static_cast<size_t>(i) * m + j] = static_cast<T>(
          sqdist_row(X + static_cast<size_t>(i) * d, Y + static_cast<size_t>(j) * d, d));
}

template <class T>
void knn(const T* Q, int nq, const T* X, int nx, int d, int k, bool exclude_self, int32_t* idx_out,
         T* dist2_out) {
  const int available = exclude_self ? nx - 1 : nx;
  LK_CHECK(d >= 1 && nq >= 0 && k >= 1 && k <= available,
           "knn: need d >= 1 and 1 <= k <= " << available << ", got d=" << d << " k=" << k);
  LK_CHECK(!exclude_self || nq == nx,
           "knn: exclude_self needs Q == X, got nq=" << nq << " nx=" << nx);
  std::vector<std::pair<double, int>> cand(static_cast<size_t>(nx));
  const auto less = [](const std::pair<double, int>& a, const std::pair<double, int>& b) {
    return a.first < b.first || (a.first == b.first && a.second < b.second);
  };
  for (int q = 0; q < nq; ++q) {
    const T* qrow = Q + static_cast<size_t>(q) * d;
    size_t count = 0;
    for (int j = 0; j < nx; ++j) {
      if (exclude_self && j == q) continue;
      cand[count++] = {sqdist_row(qrow, X + static_cast<size_t>(j) * d, d), j};
    }
    std::partial_sort(cand.begin(), cand.begin() + k, cand.begin() + count, less);
    for (int r = 0; r < k; ++r) {
      idx_out[static_cast<size_t>(q) * k + r] = cand[r].second;
      dist2_out[static_cast<size_t>(q) * k + r] = static_cast<T>(cand[r].first);
    }
  }
}

template void pairwise_sqdist<float>(const float*, int, const float*, int, int, float*);
template void pairwise_sqdist<double>(const double*, int, const double*, int, int, double*);
template void knn<float>(const float*, int, const float*, int, int, int, bool, int32_t*, float*);
template void knn<double>(const double*, int, const double*, int, int, int, bool, int32_t*,
                          double*);

}  // namespace latentkit::ref
