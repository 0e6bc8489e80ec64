// Fill a device array with one value (the CUDA backend's Backend::fill). Semantics: dst[i] = value
// for i in [0, n). Tested through the backend (tests/test_*_gpu.cu poison and fill buffers).
#pragma once
#include <cstddef>
#include <cuda_runtime.h>

namespace latentkit::cuda {
void fill(float* dst, float value, size_t n, cudaStream_t stream);
}  // namespace latentkit::cuda
