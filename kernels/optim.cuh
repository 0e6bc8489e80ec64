// Optimiser kernels: Adam (bias-corrected, one fused pass over every parameter of the model,
// which lives in one contiguous buffer) and SGD with momentum. Semantics exactly as
// latentkit::ref (host/ref/optim.cpp). Tests: tests/test_optim_gpu.cu.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cuda_runtime.h>

#include "latentkit/families/op_types.h"

namespace latentkit::cuda {
void adam_step(float* p, const float* g, float* m, float* v, size_t n, const AdamConfig& cfg,
               int64_t t, cudaStream_t stream);
void sgd_momentum_step(float* p, const float* g, float* buf, size_t n, const SgdConfig& cfg,
                       cudaStream_t stream);
}  // namespace latentkit::cuda
