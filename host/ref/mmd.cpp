// CPU reference for MMD^2, its gradient and the permutation-test sums (latentkit/ref/mmd_ref.h).
// Distances are summed squared differences in float64; kernel values in float64. A halving RBF
// list (h, h/2, h/4, ...) is evaluated as one exp and repeated squaring (in float64 the squaring
// loses at most ~2^count ulp of 1e-16: far below every tolerance), any other list with one exp per
// bandwidth. Symmetric sums (A is B) visit i < j once and double it.
// Tests: tests/test_ref_mmd.cpp (against direct formulas, finite differences, statistics).
#include <algorithm>
#include <cmath>
#include <vector>

#include "latentkit/core/check.h"
#include "latentkit/core/philox.h"
#include "latentkit/ref/mmd_ref.h"

namespace latentkit::ref {
namespace {

bool is_halving(const double* params, int count) {
  for (int b = 1; b < count; ++b)
    if (params[b] != params[b - 1] * 0.5) return false;
  return true;
}

// Kernel values for a row of squared distances, summed: sum_j k(d2[j]).
double kernel_row_sum(MmdKernel kind, const double* params, int count, const double* d2, int len) {
  double total = 0.0;
  if (kind == MmdKernel::Rbf && is_halving(params, count)) {
    const double scale = -0.5 / params[0];
    for (int j = 0; j < len; ++j) {
      double e = std::exp(d2[j] * scale), s = 0.0;
      for (int b = 0; b < count; ++b) {
        s += e;
        e *= e;
      }
      total += s;
    }
    return total;
  }
  for (int j = 0; j < len; ++j) total += mmd_kernel_value(kind, params, count, d2[j]);
  return total;
}

// ||a - b||^2 in float64.
template <class T>
double sqdist(const T* a, const T* b, int d) {
  double s = 0.0;
  for (int c = 0; c < d; ++c) {
    const double diff = static_cast<double>(a[c]) - static_cast<double>(b[c]);
    s += diff * diff;
  }
  return s;
}

template <class T>
void sqdist_row(const T* a, const T* B, int j_begin, int nb, int d, double* out) {
  for (int j = j_begin; j < nb; ++j)
    out[j - j_begin] = sqdist(a, B + static_cast<size_t>(j) * d, d);
}

// g[c] += w (p[c] - y[c]) with w = scale * g(||p - y||^2): one term of the gradient.
template <class T>
void add_slope_term(MmdKernel kind, const double* params, int count, double scale, const T* p,
                    const T* y, int d, double* g) {
  const double w = scale * mmd_kernel_slope(kind, params, count, sqdist(p, y, d));
  for (int c = 0; c < d; ++c) g[c] += w * (static_cast<double>(p[c]) - static_cast<double>(y[c]));
}

void check_spec(const double* params, int count) {
  LK_CHECK(count >= 1 && count <= kMmdMaxParams && params,
           "mmd: need 1.." << kMmdMaxParams << " kernel params");
}

}  // namespace

double mmd_kernel_value(MmdKernel kind, const double* params, int count, double d2) {
  double s = 0.0;
  for (int b = 0; b < count; ++b)
    s += kind == MmdKernel::Rbf ? std::exp(-d2 / (2.0 * params[b])) : params[b] / (params[b] + d2);
  return s;
}

double mmd_kernel_slope(MmdKernel kind, const double* params, int count, double d2) {
  double s = 0.0;
  for (int b = 0; b < count; ++b) {
    if (kind == MmdKernel::Rbf) {
      s += std::exp(-d2 / (2.0 * params[b])) / (2.0 * params[b]);
    } else {
      const double den = params[b] + d2;
      s += params[b] / (den * den);
    }
  }
  return s;
}

template <class T>
double mmd_kernel_sum(const T* A, int na, const T* B, int nb, int d, MmdKernel kind,
                      const double* params, int count) {
  check_spec(params, count);
  std::vector<double> row(static_cast<size_t>(nb));
  double total = 0.0;
  if (A == B && na == nb) {
    // k(a, a) = count exactly (d2 = 0: exp(0) = 1, C/C = 1); off-diagonal pairs twice.
    for (int i = 0; i < na; ++i) {
      sqdist_row(A + static_cast<size_t>(i) * d, B, i + 1, nb, d, row.data());
      total += 2.0 * kernel_row_sum(kind, params, count, row.data(), nb - i - 1);
    }
    return total + static_cast<double>(na) * count;
  }
  for (int i = 0; i < na; ++i) {
    sqdist_row(A + static_cast<size_t>(i) * d, B, 0, nb, d, row.data());
    total += kernel_row_sum(kind, params, count, row.data(), nb);
  }
  return total;
}

template <class T>
double mmd2(const T* X, int n, const T* Y, int m, int d, MmdKernel kind, const double* params,
            int count, bool unbiased) {
  LK_CHECK(n >= 1 && m >= 1 && d >= 1 && (!unbiased || (n >= 2 && m >= 2)),
           "mmd2: bad sizes n=" << n << " m=" << m << " d=" << d);
  const double sxx = mmd_kernel_sum(X, n, X, n, d, kind, params, count);
  const double syy = mmd_kernel_sum(Y, m, Y, m, d, kind, params, count);
  const double sxy = mmd_kernel_sum(X, n, Y, m, d, kind, params, count);
  const double dn = n, dm = m, k0 = count;
  if (unbiased)
    return (sxx - dn * k0) / (dn * (dn - 1)) + (syy - dm * k0) / (dm * (dm - 1)) -
           2.0 * sxy / (dn * dm);
  return sxx / (dn * dn) + syy / (dm * dm) - 2.0 * sxy / (dn * dm);
}

template <class T>
double mmd2_grad_y(const T* X, int n, const T* Y, int m, int d, MmdKernel kind,
                   const double* params, int count, bool unbiased, T* grad_y) {
  const double value = mmd2(X, n, Y, m, d, kind, params, count, unbiased);
  const double dn = n, dm = m;
  const double c_yy = 4.0 / (unbiased ? dm * (dm - 1) : dm * dm);
  const double c_xy = 4.0 / (dn * dm);
  std::vector<double> g(static_cast<size_t>(d));
  for (int j = 0; j < m; ++j) {
    const T* yj = Y + static_cast<size_t>(j) * d;
    std::fill(g.begin(), g.end(), 0.0);
    for (int l = 0; l < m; ++l)
      if (l != j)  // y_l - y_j = 0
        add_slope_term(kind, params, count, c_yy, Y + static_cast<size_t>(l) * d, yj, d, g.data());
    for (int i = 0; i < n; ++i)
      add_slope_term(kind, params, count, -c_xy, X + static_cast<size_t>(i) * d, yj, d, g.data());
    for (int c = 0; c < d; ++c) grad_y[static_cast<size_t>(j) * d + c] = static_cast<T>(g[c]);
  }
  return value;
}

template <class T>
void mmd_weighted_sums(const T* A, int na, const T* B, int nb, int d, MmdKernel kind,
                       const double* params, int count, bool slope, const float* V, int ncols,
                       double* R) {
  check_spec(params, count);
  std::vector<double> row(static_cast<size_t>(nb)), f(static_cast<size_t>(nb));
  for (int i = 0; i < na; ++i) {
    sqdist_row(A + static_cast<size_t>(i) * d, B, 0, nb, d, row.data());
    for (int j = 0; j < nb; ++j)
      f[j] = slope ? mmd_kernel_slope(kind, params, count, row[j])
                   : mmd_kernel_value(kind, params, count, row[j]);
    double* r = R + static_cast<size_t>(i) * ncols;
    std::fill(r, r + ncols, 0.0);
    for (int j = 0; j < nb; ++j) {
      const float* v = V + static_cast<size_t>(j) * ncols;
      const double w = f[j];
#pragma omp simd
      for (int c = 0; c < ncols; ++c) r[c] += w * static_cast<double>(v[c]);
    }
  }
}

void mmd_permutation_labels(uint64_t seed, uint32_t p, int n_pooled, int n_x, uint8_t* is_x) {
  std::vector<uint64_t> keys(static_cast<size_t>(n_pooled));
  for (int i = 0; i < n_pooled; ++i)
    keys[i] = (static_cast<uint64_t>(
                   philox_block(seed, RngStream::MmdPermutation, p, static_cast<uint64_t>(i)).v[0])
               << 32) |
              static_cast<uint32_t>(i);
  std::nth_element(keys.begin(), keys.begin() + n_x, keys.end());
  std::fill(is_x, is_x + n_pooled, uint8_t{0});
  for (int r = 0; r < n_x; ++r) is_x[keys[r] & 0xffffffffu] = 1;
}

double mmd2_from_label_sums(double s_xx, double sum_x_rowsums, double total, int n_x, int n_y,
                            double k0, bool unbiased) {
  const double sxy = sum_x_rowsums - s_xx;
  const double syy = total - s_xx - 2.0 * sxy;
  const double n = n_x, m = n_y;
  if (unbiased)
    return (s_xx - n * k0) / (n * (n - 1)) + (syy - m * k0) / (m * (m - 1)) - 2.0 * sxy / (n * m);
  return s_xx / (n * n) + syy / (m * m) - 2.0 * sxy / (n * m);
}

#define LK_MMD_INSTANTIATE(T)                                                                      \
  template double mmd_kernel_sum<T>(const T*, int, const T*, int, int, MmdKernel, const double*,   \
                                    int);                                                          \
  template double mmd2<T>(const T*, int, const T*, int, int, MmdKernel, const double*, int, bool); \
  template double mmd2_grad_y<T>(const T*, int, const T*, int, int, MmdKernel, const double*, int, \
                                 bool, T*);                                                        \
  template void mmd_weighted_sums<T>(const T*, int, const T*, int, int, MmdKernel, const double*,  \
                                     int, bool, const float*, int, double*);
LK_MMD_INSTANTIATE(float)
LK_MMD_INSTANTIATE(double)
#undef LK_MMD_INSTANTIATE

}  // namespace latentkit::ref
