// CPU reference for KMeans assign / update and the silhouette (latentkit/ref/kmeans_ref.h).
// Tests: tests/test_ref_kmeans.cpp; oracle for tests/test_kmeans_gpu.cu.
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "latentkit/core/check.h"
#include "latentkit/ref/kmeans_ref.h"

namespace latentkit::ref {

template <class T>
double kmeans_assign(const T* X, int n, int d, const T* C, int k, const int32_t* prev_labels,
                     int32_t* labels, T* mindist, int* changed) {
  LK_CHECK(n >= 0 && d >= 1 && k >= 1,
           "kmeans_assign: bad shape n=" << n << " d=" << d << " k=" << k);
  double inertia = 0.0;
  int n_changed = 0;
  for (int i = 0; i < n; ++i) {
    const T* x = X + static_cast<size_t>(i) * d;
    double best = std::numeric_limits<double>::infinity();
    int best_c = 0;
    for (int c = 0; c < k; ++c) {
      const T* cc = C + static_cast<size_t>(c) * d;
      double s = 0.0;
      for (int j = 0; j < d; ++j) {
        const double diff = static_cast<double>(x[j]) - static_cast<double>(cc[j]);
        s += diff * diff;
      }
      if (s < best) {
        best = s;
        best_c = c;
      }
    }
    if (prev_labels && prev_labels[i] != best_c) ++n_changed;
    labels[i] = best_c;
    mindist[i] = static_cast<T>(best);
    inertia += best;
  }
  if (changed) *changed = n_changed;
  return inertia;
}

template <class T>
void kmeans_update_sums(const T* X, int n, int d, const int32_t* labels, int k, double* sums,
                        double* counts) {
  std::fill(sums, sums + static_cast<size_t>(k) * d, 0.0);
  std::fill(counts, counts + k, 0.0);
  for (int i = 0; i < n; ++i) {
    const int c = labels[i];
    LK_CHECK(c >= 0 && c < k, "kmeans_update_sums: label " << c << " outside [0, " << k << ")");
    counts[c] += 1.0;
    for (int j = 0; j < d; ++j)
      sums[static_cast<size_t>(c) * d + j] += X[static_cast<size_t>(i) * d + j];
  }
}

template <class T>
void silhouette_samples(const T* X, int n, int d, const int32_t* labels, int k, double* s) {
  // Points grouped by cluster (stable), so each cluster's distance sum is one contiguous loop.
  std::vector<int> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return labels[a] < labels[b]; });
  std::vector<int> begin(static_cast<size_t>(k) + 1, 0);
  for (int i = 0; i < n; ++i) {
    LK_CHECK(labels[i] >= 0 && labels[i] < k,
             "silhouette: label " << labels[i] << " outside [0, " << k << ")");
    ++begin[labels[i] + 1];
  }
  for (int c = 0; c < k; ++c) begin[c + 1] += begin[c];
  std::vector<double> sorted(static_cast<size_t>(n) * d);
  for (int r = 0; r < n; ++r)
    for (int j = 0; j < d; ++j)
      sorted[static_cast<size_t>(r) * d + j] = X[static_cast<size_t>(order[r]) * d + j];
  std::vector<double> xi(static_cast<size_t>(d));
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j < d; ++j) xi[j] = X[static_cast<size_t>(i) * d + j];
    const int own = labels[i];
    double a = 0.0, b = std::numeric_limits<double>::infinity();
    for (int c = 0; c < k; ++c) {
      const int cnt = begin[c + 1] - begin[c];
      if (cnt == 0) continue;
      double total = 0.0;
      for (int r = begin[c]; r < begin[c + 1]; ++r) {
        const double* y = sorted.data() + static_cast<size_t>(r) * d;
        double d2 = 0.0;
        for (int j = 0; j < d; ++j) {
          const double diff = xi[j] - y[j];
          d2 += diff * diff;
        }
        total += std::sqrt(d2);
      }
      if (c == own) {
        a = cnt > 1 ? total / (cnt - 1) : 0.0;  // the point itself adds 0
      } else {
        b = std::min(b, total / cnt);
      }
    }
    const int own_count = begin[own + 1] - begin[own];
    if (own_count <= 1 || !std::isfinite(b)) {
      s[i] = 0.0;
    } else {
      const double den = std::max(a, b);
      s[i] = den > 0 ? (b - a) / den : 0.0;
    }
  }
}

#define LK_KMEANS_INSTANTIATE(T)                                                                  \
  template double kmeans_assign<T>(const T*, int, int, const T*, int, const int32_t*, int32_t*,   \
                                   T*, int*);                                                     \
  template void kmeans_update_sums<T>(const T*, int, int, const int32_t*, int, double*, double*); \
  template void silhouette_samples<T>(const T*, int, int, const int32_t*, int, double*);
LK_KMEANS_INSTANTIATE(float)
LK_KMEANS_INSTANTIATE(double)
#undef LK_KMEANS_INSTANTIATE

}  // namespace latentkit::ref
