// CPU reference of batched GMM-EM (declared in latentkit/ref/gmm_ref.h; mirrors kernels/gmm.cu,
// sharing no arithmetic with it). Contiguous loops over points with the components inner, float64
// throughout. Checked in tests/test_ref_gmm.cpp; oracle for tests/test_gmm_gpu.cu.
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "latentkit/core/check.h"
#include "latentkit/core/philox.h"
#include "latentkit/ref/gmm_ref.h"

namespace latentkit::ref {
namespace {

constexpr double kLog2Pi = 1.8378770664093454836;  // log(2π)

// In-place Cholesky of the d x d symmetric matrix a (lower triangle written, upper zeroed).
// False if a pivot is not positive (or not finite).
bool cholesky_lower(double* a, int d) {
  for (int j = 0; j < d; ++j) {
    double diag = a[j * d + j];
    for (int k = 0; k < j; ++k) diag -= a[j * d + k] * a[j * d + k];
    if (!(diag > 0.0) || !std::isfinite(diag)) return false;
    const double ljj = std::sqrt(diag);
    a[j * d + j] = ljj;
    for (int i = j + 1; i < d; ++i) {
      double s = a[i * d + j];
      for (int k = 0; k < j; ++k) s -= a[i * d + k] * a[j * d + k];
      a[i * d + j] = s / ljj;
    }
    for (int i = 0; i < j; ++i) a[i * d + j] = 0.0;
  }
  return true;
}

// P = L⁻¹ (lower triangular) by forward substitution, column by column.
void invert_lower(const double* l, int d, double* p) {
  for (int i = 0; i < d * d; ++i) p[i] = 0.0;
  for (int col = 0; col < d; ++col) {
    for (int i = col; i < d; ++i) {
      double s = (i == col) ? 1.0 : 0.0;
      for (int k = col; k < i; ++k) s -= l[i * d + k] * p[k * d + col];
      p[i * d + col] = s / l[i * d + i];
    }
  }
}

}  // namespace

int gmm_precisions(const double* weights, const double* covariances, int num_components, int d,
                   bool full, double* chol, double* prec, double* log_norm) {
  LK_CHECK(d >= 1 && d <= kGmmMaxDim, "gmm: d must be in [1, " << kGmmMaxDim << "], got " << d);
  for (int c = 0; c < num_components; ++c) {
    double half_logdet_prec = 0.0;  // Σ log P_ii = -½ log|Σ|
    if (full) {
      const size_t o = static_cast<size_t>(c) * d * d;
      std::copy(covariances + o, covariances + o + static_cast<size_t>(d) * d, chol + o);
      if (!cholesky_lower(chol + o, d)) return c;
      invert_lower(chol + o, d, prec + o);
      for (int i = 0; i < d; ++i) half_logdet_prec += std::log(prec[o + i * d + i]);
    } else {
      const size_t o = static_cast<size_t>(c) * d;
      for (int i = 0; i < d; ++i) {
        const double v = covariances[o + i];
        if (!(v > 0.0) || !std::isfinite(v)) return c;
        chol[o + i] = std::sqrt(v);
        prec[o + i] = 1.0 / chol[o + i];
        half_logdet_prec += std::log(prec[o + i]);
      }
    }
    log_norm[c] = std::log(weights[c]) - 0.5 * d * kLog2Pi + half_logdet_prec;
  }
  return -1;
}

namespace {

// The E-step and M-step bodies, with the dimension a compile-time constant kD for the small d the
// apps use most (the loops over d then unroll: ~2x faster at d = 3) or 0 for any d at run time.
template <int kD>
double estep_impl(const float* x, int n, int d_runtime, bool full, int c0, int k,
                  const double* means, const double* prec, const double* log_norm, double* resp,
                  double* point_ll, int32_t* labels) {
  const int d = kD > 0 ? kD : d_runtime;
  std::vector<double> lp(k);
  double diff[kGmmMaxDim];
  double total = 0.0;
  for (int i = 0; i < n; ++i) {
    const float* xi = x + static_cast<size_t>(i) * d;
    double best = -std::numeric_limits<double>::infinity();
    int best_j = 0;
    for (int j = 0; j < k; ++j) {
      const int c = c0 + j;
      const double* mu = means + static_cast<size_t>(c) * d;
      for (int a = 0; a < d; ++a) diff[a] = static_cast<double>(xi[a]) - mu[a];
      double maha = 0.0;
      if (full) {
        const double* p = prec + static_cast<size_t>(c) * d * d;
        for (int a = 0; a < d; ++a) {
          double z = 0.0;
          for (int b = 0; b <= a; ++b) z += p[a * d + b] * diff[b];
          maha += z * z;
        }
      } else {
        const double* p = prec + static_cast<size_t>(c) * d;
        for (int a = 0; a < d; ++a) {
          const double z = p[a] * diff[a];
          maha += z * z;
        }
      }
      lp[j] = log_norm[c] - 0.5 * maha;
      if (lp[j] > best) {
        best = lp[j];
        best_j = j;
      }
    }
    double s = 0.0;
    for (int j = 0; j < k; ++j) {
      lp[j] = std::exp(lp[j] - best);
      s += lp[j];
    }
    const double lse = best + std::log(s);
    for (int j = 0; j < k; ++j) resp[static_cast<size_t>(c0 + j) * n + i] = lp[j] / s;
    if (point_ll) point_ll[i] = lse;
    if (labels) labels[i] = best_j;
    total += lse;
  }
  return total / n;
}

template <int kD>
void mstep_impl(const float* x, int n, int d_runtime, bool full, int c0, int k, const double* resp,
                double reg_covar, double* weights, double* means, double* covariances) {
  const int d = kD > 0 ? kD : d_runtime;
  double nk_sum = 0.0;
  double sx[kGmmMaxDim];
  double diff[kGmmMaxDim];
  for (int j = 0; j < k; ++j) {
    const int c = c0 + j;
    const double* r = resp + static_cast<size_t>(c) * n;
    double nk = 0.0;
    for (int a = 0; a < d; ++a) sx[a] = 0.0;
    for (int i = 0; i < n; ++i) {
      const float* xi = x + static_cast<size_t>(i) * d;
      nk += r[i];
      for (int a = 0; a < d; ++a) sx[a] += r[i] * static_cast<double>(xi[a]);
    }
    nk += kGmmNkGuard;
    double* mu = means + static_cast<size_t>(c) * d;
    for (int a = 0; a < d; ++a) mu[a] = sx[a] / nk;
    if (full) {
      double* cov = covariances + static_cast<size_t>(c) * d * d;
      for (int a = 0; a < d * d; ++a) cov[a] = 0.0;
      for (int i = 0; i < n; ++i) {
        const float* xi = x + static_cast<size_t>(i) * d;
        for (int a = 0; a < d; ++a) diff[a] = static_cast<double>(xi[a]) - mu[a];
        for (int a = 0; a < d; ++a) {
          const double ra = r[i] * diff[a];
          for (int b = 0; b <= a; ++b) cov[a * d + b] += ra * diff[b];
        }
      }
      for (int a = 0; a < d; ++a) {
        for (int b = 0; b <= a; ++b) {
          const double v = cov[a * d + b] / nk + (a == b ? reg_covar : 0.0);
          cov[a * d + b] = v;
          cov[b * d + a] = v;
        }
      }
    } else {
      double* var = covariances + static_cast<size_t>(c) * d;
      for (int a = 0; a < d; ++a) var[a] = 0.0;
      for (int i = 0; i < n; ++i) {
        const float* xi = x + static_cast<size_t>(i) * d;
        for (int a = 0; a < d; ++a) {
          const double t = static_cast<double>(xi[a]) - mu[a];
          var[a] += r[i] * t * t;
        }
      }
      for (int a = 0; a < d; ++a) var[a] = var[a] / nk + reg_covar;
    }
    weights[c] = nk;
    nk_sum += nk;
  }
  for (int j = 0; j < k; ++j) weights[c0 + j] /= nk_sum;
}

}  // namespace

double gmm_estep(const float* x, int n, int d, bool full, int c0, int k, const double* means,
                 const double* prec, const double* log_norm, double* resp, double* point_ll,
                 int32_t* labels) {
  LK_CHECK(n > 0 && k > 0 && d >= 1 && d <= kGmmMaxDim,
           "gmm_estep: bad shape n=" << n << " k=" << k << " d=" << d);
  switch (d) {
    case 1:
      return estep_impl<1>(x, n, d, full, c0, k, means, prec, log_norm, resp, point_ll, labels);
    case 2:
      return estep_impl<2>(x, n, d, full, c0, k, means, prec, log_norm, resp, point_ll, labels);
    case 3:
      return estep_impl<3>(x, n, d, full, c0, k, means, prec, log_norm, resp, point_ll, labels);
    default:
      return estep_impl<0>(x, n, d, full, c0, k, means, prec, log_norm, resp, point_ll, labels);
  }
}

void gmm_mstep(const float* x, int n, int d, bool full, int c0, int k, const double* resp,
               double reg_covar, double* weights, double* means, double* covariances) {
  LK_CHECK(n > 0 && k > 0 && d >= 1 && d <= kGmmMaxDim,
           "gmm_mstep: bad shape n=" << n << " k=" << k << " d=" << d);
  switch (d) {
    case 1:
      return mstep_impl<1>(x, n, d, full, c0, k, resp, reg_covar, weights, means, covariances);
    case 2:
      return mstep_impl<2>(x, n, d, full, c0, k, resp, reg_covar, weights, means, covariances);
    case 3:
      return mstep_impl<3>(x, n, d, full, c0, k, resp, reg_covar, weights, means, covariances);
    default:
      return mstep_impl<0>(x, n, d, full, c0, k, resp, reg_covar, weights, means, covariances);
  }
}

std::vector<GmmEmStatus> gmm_em_batch(const float* x, int n, int d, bool full,
                                      const std::vector<int>& comp_offset, double tol,
                                      double reg_covar, int max_iter, double* weights,
                                      double* means, double* covariances,
                                      const std::function<void(int)>& progress) {
  LK_CHECK(comp_offset.size() >= 2 && comp_offset[0] == 0,
           "gmm_em_batch: comp_offset needs B+1 entries starting at 0");
  const int num_models = static_cast<int>(comp_offset.size()) - 1;
  const int num_components = comp_offset.back();
  const size_t cov_size = full ? static_cast<size_t>(d) * d : static_cast<size_t>(d);
  std::vector<double> chol(num_components * cov_size), prec(num_components * cov_size);
  std::vector<double> log_norm(num_components);
  int max_k = 0;
  for (int b = 0; b < num_models; ++b) max_k = std::max(max_k, comp_offset[b + 1] - comp_offset[b]);
  std::vector<double> resp(static_cast<size_t>(max_k) * n);  // one model at a time
  std::vector<GmmEmStatus> status(num_models);
  for (int b = 0; b < num_models; ++b) {
    const int c0 = comp_offset[b], k = comp_offset[b + 1] - c0;
    LK_CHECK(k >= 1, "gmm_em_batch: model " << b << " has no components");
    double previous = -std::numeric_limits<double>::infinity();
    for (int it = 1; it <= max_iter; ++it) {
      const int bad = gmm_precisions(weights + c0, covariances + c0 * cov_size, k, d, full,
                                     chol.data() + c0 * cov_size, prec.data() + c0 * cov_size,
                                     log_norm.data() + c0);
      LK_CHECK(bad < 0, "gmm: the covariance of component "
                            << bad << " of model " << b << " (K=" << k
                            << ") is not positive definite at iteration " << it
                            << ": increase reg_covar or rescale the data");
      // This model's parameters, indexed from its first component.
      double* w = weights + c0;
      double* mu = means + static_cast<size_t>(c0) * d;
      double* cov = covariances + c0 * cov_size;
      const double ll = gmm_estep(x, n, d, full, 0, k, mu, prec.data() + c0 * cov_size,
                                  log_norm.data() + c0, resp.data(), nullptr, nullptr);
      gmm_mstep(x, n, d, full, 0, k, resp.data(), reg_covar, w, mu, cov);
      status[b].lower_bound = ll;
      status[b].n_iter = it;
      if (it > 1 && std::fabs(ll - previous) < tol) {
        status[b].converged = true;
        break;
      }
      previous = ll;
    }
    if (progress) progress(b + 1);
  }
  return status;
}

void gmm_sample(int k, int d, bool full, const double* weights, const double* means,
                const double* covariances, int n, uint64_t seed, uint32_t offset, float* out,
                int32_t* component) {
  LK_CHECK(k >= 1 && d >= 1 && d <= kGmmMaxDim && n >= 0,
           "gmm_sample: bad shape k=" << k << " d=" << d << " n=" << n);
  const size_t cov_size = full ? static_cast<size_t>(d) * d : static_cast<size_t>(d);
  std::vector<double> chol(k * cov_size), prec(k * cov_size), log_norm(k);
  std::vector<double> ones(k, 1.0);  // the weights do not matter for the factors
  const int bad = gmm_precisions(ones.data(), covariances, k, d, full, chol.data(), prec.data(),
                                 log_norm.data());
  LK_CHECK(bad < 0,
           "gmm_sample: the covariance of component " << bad << " is not positive definite");
  double total = 0.0;
  for (int c = 0; c < k; ++c) total += weights[c];
  double z[kGmmMaxDim];
  for (int i = 0; i < n; ++i) {
    const double target = philox_uniform(seed, RngStream::Gmm, offset, i) * total;
    int c = 0;
    double cum = weights[0];
    while (c + 1 < k && cum < target) cum += weights[++c];
    for (int a = 0; a < d; ++a)
      z[a] = philox_normal(seed, RngStream::Gmm, offset + 1, static_cast<uint64_t>(i) * d + a);
    const double* mu = means + static_cast<size_t>(c) * d;
    float* o = out + static_cast<size_t>(i) * d;
    if (full) {
      const double* l = chol.data() + c * cov_size;
      for (int a = 0; a < d; ++a) {
        double v = mu[a];
        for (int b = 0; b <= a; ++b) v += l[a * d + b] * z[b];
        o[a] = static_cast<float>(v);
      }
    } else {
      const double* s = chol.data() + c * cov_size;
      for (int a = 0; a < d; ++a) o[a] = static_cast<float>(mu[a] + s[a] * z[a]);
    }
    if (component) component[i] = c;
  }
}

}  // namespace latentkit::ref
