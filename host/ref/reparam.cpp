// CPU reference for reparameterised sampling (mirrors kernels/reparam.cu). Noise comes from the
// same Philox stream as the kernel, so the two draw identical eps.
// Checked in tests/test_ref_reparam.cpp (finite differences, moments); oracle for
// tests/test_reparam_gpu.cu.
#include <cmath>

#include "latentkit/core/check.h"
#include "latentkit/ref/ops_ref.h"

namespace latentkit::ref {

template <class T>
void reparam_forward(const T* mu, const T* logvar, int n, int l, uint64_t seed, uint32_t offset,
                     T* eps, T* z) {
  LK_CHECK(n > 0 && l > 0, "reparam_forward: shape must be positive, got n=" << n << " l=" << l);
  const size_t count = static_cast<size_t>(n) * l;
  for (size_t i = 0; i < count; ++i) {
    const T e = static_cast<T>(philox_normal(seed, RngStream::Latent, offset, i));
    eps[i] = e;
    z[i] = static_cast<T>(static_cast<double>(mu[i]) +
                          std::exp(0.5 * static_cast<double>(logvar[i])) * static_cast<double>(e));
  }
}

template <class T>
void reparam_backward(const T* dz, const T* logvar, const T* eps, int n, int l, T* dmu,
                      T* dlogvar) {
  LK_CHECK(n > 0 && l > 0, "reparam_backward: shape must be positive, got n=" << n << " l=" << l);
  const size_t count = static_cast<size_t>(n) * l;
  for (size_t i = 0; i < count; ++i) {
    const double g = dz[i];
    dmu[i] = dz[i];
    dlogvar[i] = static_cast<T>(g * 0.5 * std::exp(0.5 * static_cast<double>(logvar[i])) *
                                static_cast<double>(eps[i]));
  }
}

template <class T>
void fill_normal(T* out, size_t count, uint64_t seed, RngStream stream, uint32_t offset) {
  for (size_t i = 0; i < count; ++i) out[i] = static_cast<T>(philox_normal(seed, stream, offset, i));
}

#define LK_INSTANTIATE(T)                                                                     \
  template void reparam_forward<T>(const T*, const T*, int, int, uint64_t, uint32_t, T*, T*); \
  template void reparam_backward<T>(const T*, const T*, const T*, int, int, T*, T*);          \
  template void fill_normal<T>(T*, size_t, uint64_t, RngStream, uint32_t);
LK_INSTANTIATE(float)
LK_INSTANTIATE(double)
#undef LK_INSTANTIATE

}  // namespace latentkit::ref
