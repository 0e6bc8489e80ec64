// CPU reference for the optimisers (mirrors kernels/optim.cu): torch.optim.Adam and torch.optim.SGD
// (momentum, dampening 0) update rules in float64. Checked in tests/test_ref_optim.cpp against
// hand-computed steps; oracle for tests/test_optim_gpu.cu.
#include <cmath>

#include "latentkit/core/check.h"
#include "latentkit/ref/ops_ref.h"

namespace latentkit::ref {

template <class T>
void adam_step(T* p, const T* g, T* m, T* v, size_t n, const AdamConfig& cfg, int64_t t) {
  LK_CHECK(t >= 1, "adam_step: step number t is 1-based, got " << t);
  const double b1 = cfg.beta1, b2 = cfg.beta2;
  const double step_size = cfg.lr / (1.0 - std::pow(b1, static_cast<double>(t)));
  const double sqrt_bc2 = std::sqrt(1.0 - std::pow(b2, static_cast<double>(t)));
  for (size_t i = 0; i < n; ++i) {
    const double grad = static_cast<double>(g[i]) + cfg.weight_decay * static_cast<double>(p[i]);
    const double mi = b1 * m[i] + (1.0 - b1) * grad;
    const double vi = b2 * v[i] + (1.0 - b2) * grad * grad;
    m[i] = static_cast<T>(mi);
    v[i] = static_cast<T>(vi);
    const double denom = std::sqrt(vi) / sqrt_bc2 + cfg.eps;
    p[i] = static_cast<T>(static_cast<double>(p[i]) - step_size * mi / denom);
  }
}

template <class T>
void sgd_momentum_step(T* p, const T* g, T* buf, size_t n, const SgdConfig& cfg) {
  for (size_t i = 0; i < n; ++i) {
    const double grad = static_cast<double>(g[i]) + cfg.weight_decay * static_cast<double>(p[i]);
    const double b = cfg.momentum * static_cast<double>(buf[i]) + grad;
    buf[i] = static_cast<T>(b);
    p[i] = static_cast<T>(static_cast<double>(p[i]) - cfg.lr * b);
  }
}

#define LK_INSTANTIATE(T)                                                                 \
  template void adam_step<T>(T*, const T*, T*, T*, size_t, const AdamConfig&, int64_t);   \
  template void sgd_momentum_step<T>(T*, const T*, T*, size_t, const SgdConfig&);
LK_INSTANTIATE(float)
LK_INSTANTIATE(double)
#undef LK_INSTANTIATE

}  // namespace latentkit::ref
