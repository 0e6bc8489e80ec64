// Loss kernels (one thread per row, then per element): SSE, BCE with logits, KL to N(0, I), each
// writing per-row losses and the gradient. Semantics exactly as latentkit::ref (host/ref/losses.cpp).
// Tests: tests/test_losses_gpu.cu.
#pragma once
#include <cuda_runtime.h>

namespace latentkit::cuda {
void sse_loss(const float* xhat, const float* x, int n, int d, float grad_scale, float* dxhat,
              float* row_loss, cudaStream_t stream);
void bce_logits_loss(const float* logits, const float* x, int n, int d, float grad_scale,
                     float* dlogits, float* row_loss, cudaStream_t stream);
void kl_normal_loss(const float* mu, const float* logvar, int n, int l, float grad_scale,
                    float* dmu, float* dlogvar, float* row_kl, cudaStream_t stream);
}  // namespace latentkit::cuda
