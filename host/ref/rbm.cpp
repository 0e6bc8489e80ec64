// CPU reference of the Bernoulli RBM family (declared in latentkit/ref/rbm_ref.h; mirrors
// kernels/rbm.cu). float64 accumulation; every product loop runs with its innermost index
// contiguous (i-k-j order for V W and V^T P, row dot products for H W^T) so it vectorises, and
// zero visible/hidden values (most pixels, half the samples) skip their row of W entirely.
// Checked by exact enumeration in tests/test_ref_rbm.cpp; oracle for tests/test_rbm_gpu.cu.
#include <algorithm>
#include <cmath>
#include <vector>

#include "latentkit/core/check.h"
#include "latentkit/ref/rbm_ref.h"

namespace latentkit::ref {
namespace {

void check_shape(const char* what, int n, int nv, int nh) {
  LK_CHECK(n > 0 && nv > 0 && nh > 0,
           what << ": shape must be positive, got n=" << n << " nv=" << nv << " nh=" << nh);
}

double sigmoid(double z) { return 1.0 / (1.0 + std::exp(-z)); }

// log(1 + e^x) without overflow.
double softplus(double x) { return std::max(x, 0.0) + std::log1p(std::exp(-std::fabs(x))); }

// The Bernoulli rule shared by both half-steps (see the header).
float bernoulli(float p, uint64_t seed, RngStream stream, uint32_t offset, uint64_t index) {
  return philox_uniform(seed, stream, offset, index) < static_cast<double>(p) ? 1.f : 0.f;
}

}  // namespace

void rbm_hidden_step(const float* V, const float* W, const float* c, int n, int nv, int nh,
                     uint64_t seed, uint32_t offset, float* P, float* S) {
  check_shape("rbm_hidden_step", n, nv, nh);
  LK_CHECK(V && W && c && P, "rbm_hidden_step: null pointer");
  std::vector<double> acc(nh);
  for (int r = 0; r < n; ++r) {
    const float* v = V + static_cast<size_t>(r) * nv;
    for (int j = 0; j < nh; ++j) acc[j] = c[j];
    for (int i = 0; i < nv; ++i) {
      const double vi = v[i];
      if (vi == 0.0) continue;
      const float* w = W + static_cast<size_t>(i) * nh;
      double* a = acc.data();
#pragma omp simd
      for (int j = 0; j < nh; ++j) a[j] += vi * static_cast<double>(w[j]);
    }
    float* p = P + static_cast<size_t>(r) * nh;
    for (int j = 0; j < nh; ++j) p[j] = static_cast<float>(sigmoid(acc[j]));
    if (S) {
      float* s = S + static_cast<size_t>(r) * nh;
      for (int j = 0; j < nh; ++j)
        s[j] =
            bernoulli(p[j], seed, RngStream::RbmHidden, offset, static_cast<uint64_t>(r) * nh + j);
    }
  }
}

void rbm_visible_step(const float* H, const float* W, const float* b, int n, int nv, int nh,
                      uint64_t seed, uint32_t offset, const float* clamp_mask,
                      const float* clamp_values, float* P, float* S) {
  check_shape("rbm_visible_step", n, nv, nh);
  LK_CHECK(H && W && b && P, "rbm_visible_step: null pointer");
  LK_CHECK((clamp_mask == nullptr) == (clamp_values == nullptr),
           "rbm_visible_step: clamp_mask and clamp_values go together");
  for (int r = 0; r < n; ++r) {
    const float* h = H + static_cast<size_t>(r) * nh;
    float* p = P + static_cast<size_t>(r) * nv;
    for (int i = 0; i < nv; ++i) {
      const float* w = W + static_cast<size_t>(i) * nh;
      double acc = 0.0;
#pragma omp simd reduction(+ : acc)
      for (int j = 0; j < nh; ++j) acc += static_cast<double>(h[j]) * static_cast<double>(w[j]);
      p[i] = static_cast<float>(sigmoid(acc + b[i]));
    }
    if (S) {
      float* s = S + static_cast<size_t>(r) * nv;
      for (int i = 0; i < nv; ++i)
        s[i] =
            bernoulli(p[i], seed, RngStream::RbmVisible, offset, static_cast<uint64_t>(r) * nv + i);
    }
    if (clamp_mask) {
      const size_t base = static_cast<size_t>(r) * nv;
      for (int i = 0; i < nv; ++i) {
        if (clamp_mask[base + i] != 0.f) {
          p[i] = clamp_values[base + i];
          if (S) S[base + i] = clamp_values[base + i];
        }
      }
    }
  }
}

void rbm_update(const float* V0, const float* P0, int rows, const float* Vn, const float* Pn,
                int chains, int nv, int nh, const RbmUpdateConfig& cfg, float* W, float* b,
                float* c, float* vel_W, float* vel_b, float* vel_c) {
  check_shape("rbm_update", rows, nv, nh);
  LK_CHECK(chains > 0, "rbm_update: chains must be positive, got " << chains);
  LK_CHECK(V0 && P0 && Vn && Pn && W && b && c && vel_W && vel_b && vel_c,
           "rbm_update: null pointer");
  const size_t nw = static_cast<size_t>(nv) * nh;
  std::vector<double> g(nw, 0.0), gb(nv, 0.0), gc(nh, 0.0);
  // g += sign / rows * X^T Y, row by row (i-k-j: the inner loop runs along a row of Y and of g).
  // Both statistics are divided by rows (scikit-learn's scaling, see the header).
  const auto accumulate = [&](const float* X, const float* Y, int count, double sign) {
    const double scale = sign / rows;
    for (int r = 0; r < count; ++r) {
      const float* x = X + static_cast<size_t>(r) * nv;
      const float* y = Y + static_cast<size_t>(r) * nh;
      for (int i = 0; i < nv; ++i) {
        const double xi = x[i];
        if (xi == 0.0) continue;
        gb[i] += scale * xi;
        const double s = scale * xi;
        double* gi = g.data() + static_cast<size_t>(i) * nh;
#pragma omp simd
        for (int j = 0; j < nh; ++j) gi[j] += s * static_cast<double>(y[j]);
      }
      for (int j = 0; j < nh; ++j) gc[j] += scale * static_cast<double>(y[j]);
    }
  };
  accumulate(V0, P0, rows, 1.0);
  accumulate(Vn, Pn, chains, -1.0);
  const double lr = cfg.lr, mom = cfg.momentum, wd = cfg.weight_decay;
  for (size_t k = 0; k < nw; ++k) {
    const double grad = g[k] - wd * static_cast<double>(W[k]);
    const double vel = mom * static_cast<double>(vel_W[k]) + lr * grad;
    vel_W[k] = static_cast<float>(vel);
    W[k] = static_cast<float>(static_cast<double>(W[k]) + vel);
  }
  for (int i = 0; i < nv; ++i) {
    const double vel = mom * static_cast<double>(vel_b[i]) + lr * gb[i];
    vel_b[i] = static_cast<float>(vel);
    b[i] = static_cast<float>(static_cast<double>(b[i]) + vel);
  }
  for (int j = 0; j < nh; ++j) {
    const double vel = mom * static_cast<double>(vel_c[j]) + lr * gc[j];
    vel_c[j] = static_cast<float>(vel);
    c[j] = static_cast<float>(static_cast<double>(c[j]) + vel);
  }
}

void rbm_free_energy(const float* V, const float* W, const float* b, const float* c, int n, int nv,
                     int nh, uint64_t seed, uint32_t offset, double* fe, double* pl) {
  check_shape("rbm_free_energy", n, nv, nh);
  LK_CHECK(V && W && b && c && fe, "rbm_free_energy: null pointer");
  std::vector<double> z(nh);
  for (int r = 0; r < n; ++r) {
    const float* v = V + static_cast<size_t>(r) * nv;
    double vb = 0.0;
    for (int j = 0; j < nh; ++j) z[j] = c[j];
    for (int i = 0; i < nv; ++i) {
      const double vi = v[i];
      if (vi == 0.0) continue;
      vb += vi * b[i];
      const float* w = W + static_cast<size_t>(i) * nh;
#pragma omp simd
      for (int j = 0; j < nh; ++j) z[j] += vi * static_cast<double>(w[j]);
    }
    double sp = 0.0;
    for (int j = 0; j < nh; ++j) sp += softplus(z[j]);
    fe[r] = -vb - sp;
    if (pl) {
      const double u = philox_uniform(seed, RngStream::RbmScore, offset, static_cast<uint64_t>(r));
      const int flip = std::min(nv - 1, static_cast<int>(u * nv));
      const double delta = (1.0 - static_cast<double>(v[flip])) - static_cast<double>(v[flip]);
      const float* w = W + static_cast<size_t>(flip) * nh;
      double sp_flip = 0.0;
      for (int j = 0; j < nh; ++j) sp_flip += softplus(z[j] + delta * static_cast<double>(w[j]));
      const double fe_flip = -(vb + delta * b[flip]) - sp_flip;
      pl[r] = -static_cast<double>(nv) * softplus(fe[r] - fe_flip);
    }
  }
}

void rbm_row_sq_error(const float* V, const float* P, int n, int nv, double* err) {
  LK_CHECK(n > 0 && nv > 0, "rbm_row_sq_error: shape must be positive");
  LK_CHECK(V && P && err, "rbm_row_sq_error: null pointer");
  for (int r = 0; r < n; ++r) {
    const float* v = V + static_cast<size_t>(r) * nv;
    const float* p = P + static_cast<size_t>(r) * nv;
    double acc = 0.0;
#pragma omp simd reduction(+ : acc)
    for (int i = 0; i < nv; ++i) {
      const double d = static_cast<double>(v[i]) - static_cast<double>(p[i]);
      acc += d * d;
    }
    err[r] = acc;
  }
}

}  // namespace latentkit::ref
