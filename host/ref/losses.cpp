// CPU reference for the loss family (mirrors kernels/losses.cu), float64 throughout.
// Checked by finite differences in tests/test_ref_losses.cpp; oracle for tests/test_losses_gpu.cu.
#include <algorithm>
#include <cmath>

#include "latentkit/core/check.h"
#include "latentkit/ref/ops_ref.h"

namespace latentkit::ref {

template <class T>
void sse_loss(const T* xhat, const T* x, int n, int d, T grad_scale, T* dxhat, T* row_loss) {
  LK_CHECK(n > 0 && d > 0, "sse_loss: shape must be positive, got n=" << n << " d=" << d);
  for (int r = 0; r < n; ++r) {
    double total = 0.0;
    for (int j = 0; j < d; ++j) {
      const size_t i = static_cast<size_t>(r) * d + j;
      const double e = static_cast<double>(xhat[i]) - static_cast<double>(x[i]);
      total += e * e;
      dxhat[i] = static_cast<T>(static_cast<double>(grad_scale) * 2.0 * e);
    }
    row_loss[r] = static_cast<T>(total);
  }
}

template <class T>
void bce_logits_loss(const T* logits, const T* x, int n, int d, T grad_scale, T* dlogits,
                     T* row_loss) {
  LK_CHECK(n > 0 && d > 0, "bce_logits_loss: shape must be positive, got n=" << n << " d=" << d);
  for (int r = 0; r < n; ++r) {
    double total = 0.0;
    for (int j = 0; j < d; ++j) {
      const size_t i = static_cast<size_t>(r) * d + j;
      const double l = logits[i], t = x[i];
      total += std::max(l, 0.0) - l * t + std::log1p(std::exp(-std::fabs(l)));
      const double sig = 1.0 / (1.0 + std::exp(-l));
      dlogits[i] = static_cast<T>(static_cast<double>(grad_scale) * (sig - t));
    }
    row_loss[r] = static_cast<T>(total);
  }
}

template <class T>
void kl_normal_loss(const T* mu, const T* logvar, int n, int l, T grad_scale, T* dmu,
                    T* dlogvar, T* row_kl) {
  LK_CHECK(n > 0 && l > 0, "kl_normal_loss: shape must be positive, got n=" << n << " l=" << l);
  for (int r = 0; r < n; ++r) {
    double total = 0.0;
    for (int j = 0; j < l; ++j) {
      const size_t i = static_cast<size_t>(r) * l + j;
      const double m = mu[i], lv = logvar[i], var = std::exp(lv);
      total += -0.5 * (1.0 + lv - m * m - var);
      dmu[i] = static_cast<T>(static_cast<double>(dmu[i]) + static_cast<double>(grad_scale) * m);
      dlogvar[i] = static_cast<T>(static_cast<double>(dlogvar[i]) +
                                  static_cast<double>(grad_scale) * 0.5 * (var - 1.0));
    }
    row_kl[r] = static_cast<T>(total);
  }
}

#define LK_INSTANTIATE(T)                                                                  \
  template void sse_loss<T>(const T*, const T*, int, int, T, T*, T*);                      \
  template void bce_logits_loss<T>(const T*, const T*, int, int, T, T*, T*);               \
  template void kl_normal_loss<T>(const T*, const T*, int, int, T, T*, T*, T*);
LK_INSTANTIATE(float)
LK_INSTANTIATE(double)
#undef LK_INSTANTIATE

}  // namespace latentkit::ref
