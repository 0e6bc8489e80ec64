// Reparameterised sampling z = mu + exp(½ logvar) eps with eps drawn in-kernel from Philox
// (latentkit/core/philox.h), its backward, and a plain normal fill. Semantics exactly as
// latentkit::ref (host/ref/reparam.cpp). Tests: tests/test_reparam_gpu.cu.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cuda_runtime.h>

#include "latentkit/core/philox.h"

namespace latentkit::cuda {
void reparam_forward(const float* mu, const float* logvar, int n, int l, uint64_t seed,
                     uint32_t offset, float* eps, float* z, cudaStream_t stream);
void reparam_backward(const float* dz, const float* logvar, const float* eps, int n, int l,
                      float* dmu, float* dlogvar, cudaStream_t stream);
void fill_normal(float* out, size_t count, uint64_t seed, RngStream stream_id, uint32_t offset,
                 cudaStream_t stream);
}  // namespace latentkit::cuda
