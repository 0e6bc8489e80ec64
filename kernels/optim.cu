// Optimiser kernels and launchers (declared in kernels/optim.cuh), one fused elementwise pass over
// every parameter each:
//   adam_step:          torch.optim.Adam (L2 weight decay added to the gradient); the bias
//                       corrections are computed once on the host in double and passed in as
//                       step_size = lr / (1 - b1^t) and bc2_sqrt = sqrt(1 - b2^t), as PyTorch does.
//   sgd_momentum_step:  torch.optim.SGD with momentum, dampening 0, not Nesterov.
// Arithmetic in float like PyTorch's CUDA kernels; the tests allow a few float ulps per step
// against the float64 reference. Semantics: latentkit::ref::adam_step / sgd_momentum_step
// (latentkit/families/op_types.h documents the formulas). Tests: tests/test_optim_gpu.cu.
#include <algorithm>
#include <cmath>

#include "kernels/cuda_check.cuh"
#include "kernels/optim.cuh"

namespace latentkit::cuda {
namespace {

__global__ void adam_kernel(float* __restrict__ p, const float* __restrict__ g,
                            float* __restrict__ m, float* __restrict__ v, size_t n, float beta1,
                            float beta2, float eps, float weight_decay, float step_size,
                            float bc2_sqrt) {
  const size_t stride = static_cast<size_t>(gridDim.x) * blockDim.x;
  for (size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const float pi = p[i];
    const float gi = weight_decay != 0.f ? g[i] + weight_decay * pi : g[i];
    const float mi = beta1 * m[i] + (1.f - beta1) * gi;
    const float vi = beta2 * v[i] + (1.f - beta2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    const float denom = sqrtf(vi) / bc2_sqrt + eps;
    p[i] = pi - step_size * (mi / denom);
  }
}

__global__ void sgd_momentum_kernel(float* __restrict__ p, const float* __restrict__ g,
                                    float* __restrict__ buf, size_t n, float lr, float momentum,
                                    float weight_decay) {
  const size_t stride = static_cast<size_t>(gridDim.x) * blockDim.x;
  for (size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const float pi = p[i];
    const float gi = weight_decay != 0.f ? g[i] + weight_decay * pi : g[i];
    const float bi = momentum * buf[i] + gi;
    buf[i] = bi;
    p[i] = pi - lr * bi;
  }
}

}  // namespace

void adam_step(float* p, const float* g, float* m, float* v, size_t n, const AdamConfig& cfg,
               int64_t t, cudaStream_t stream) {
  LK_CHECK(t >= 1, "adam_step: the step number t is 1-based, got " << t);
  LK_CHECK(cfg.beta1 >= 0.f && cfg.beta1 < 1.f && cfg.beta2 >= 0.f && cfg.beta2 < 1.f,
           "adam_step: betas must lie in [0, 1), got " << cfg.beta1 << ", " << cfg.beta2);
  if (n == 0) return;
  LK_CHECK(p && g && m && v, "adam_step: every pointer must be non-null");
  // Bias corrections in double on the host (t can reach 10^5 and beyond; pow handles it).
  const double t_d = static_cast<double>(t);
  const double bc1 = 1.0 - std::pow(static_cast<double>(cfg.beta1), t_d);
  const double bc2 = 1.0 - std::pow(static_cast<double>(cfg.beta2), t_d);
  const float step_size = static_cast<float>(static_cast<double>(cfg.lr) / bc1);
  const float bc2_sqrt = static_cast<float>(std::sqrt(bc2));
  adam_kernel<<<grid_stride_blocks(n), kGridStrideThreads, 0, stream>>>(
      p, g, m, v, n, cfg.beta1, cfg.beta2, cfg.eps, cfg.weight_decay, step_size, bc2_sqrt);
  LK_LAUNCH_CHECK();
}

void sgd_momentum_step(float* p, const float* g, float* buf, size_t n, const SgdConfig& cfg,
                       cudaStream_t stream) {
  if (n == 0) return;
  LK_CHECK(p && g && buf, "sgd_momentum_step: every pointer must be non-null");
  sgd_momentum_kernel<<<grid_stride_blocks(n), kGridStrideThreads, 0, stream>>>(
      p, g, buf, n, cfg.lr, cfg.momentum, cfg.weight_decay);
  LK_LAUNCH_CHECK();
}

}  // namespace latentkit::cuda
