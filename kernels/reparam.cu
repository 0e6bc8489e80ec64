// Reparameterised sampling kernels and launchers (declared in kernels/reparam.cuh):
//   reparam_forward:  eps[i] = float(philox_normal(seed, Latent, offset, i)), i = r*l + j;
//                     z = mu + exp(½ lv) eps
//   reparam_backward: dmu = dz;  dlogvar = dz ½ exp(½ lv) eps   (both overwritten)
//   fill_normal:      out[i] = float(philox_normal(seed, stream_id, offset, i))
// The noise is a pure function of (seed, stream, offset, index) (latentkit/core/philox.h), so the CPU
// reference reproduces it; z and dlogvar are evaluated in double and rounded once, like the
// reference, so they match it to the last bit except when CUDA's and the host's double exp differ
// by an ulp across a float rounding boundary (~2^-29 per element). One grid-stride pass each.
// Semantics: latentkit::ref::reparam_* / fill_normal. Tests: tests/test_reparam_gpu.cu,
// tests/test_philox_gpu.cu.
#include <algorithm>

#include "kernels/cuda_check.cuh"
#include "kernels/reparam.cuh"

namespace latentkit::cuda {
namespace {

__device__ __forceinline__ size_t first_index() {
  return static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ __forceinline__ size_t grid_stride() {
  return static_cast<size_t>(gridDim.x) * blockDim.x;
}

__global__ void reparam_forward_kernel(const float* __restrict__ mu,
                                       const float* __restrict__ logvar, size_t count,
                                       uint64_t seed, uint32_t offset, float* __restrict__ eps,
                                       float* __restrict__ z) {
  for (size_t i = first_index(); i < count; i += grid_stride()) {
    const float e = static_cast<float>(philox_normal(seed, RngStream::Latent, offset, i));
    eps[i] = e;
    // From the stored (float) eps, so that forward and backward see the same noise.
    const double scale = exp(0.5 * static_cast<double>(logvar[i]));
    z[i] = static_cast<float>(static_cast<double>(mu[i]) + scale * static_cast<double>(e));
  }
}

__global__ void reparam_backward_kernel(const float* __restrict__ dz,
                                        const float* __restrict__ logvar,
                                        const float* __restrict__ eps, size_t count,
                                        float* __restrict__ dmu, float* __restrict__ dlogvar) {
  for (size_t i = first_index(); i < count; i += grid_stride()) {
    const float g = dz[i];
    dmu[i] = g;
    const double scale = exp(0.5 * static_cast<double>(logvar[i]));
    dlogvar[i] =
        static_cast<float>(static_cast<double>(g) * 0.5 * scale * static_cast<double>(eps[i]));
  }
}

__global__ void fill_normal_kernel(float* __restrict__ out, size_t count, uint64_t seed,
                                   RngStream stream_id, uint32_t offset) {
  for (size_t i = first_index(); i < count; i += grid_stride()) {
    out[i] = static_cast<float>(philox_normal(seed, stream_id, offset, i));
  }
}

void check_shape(const char* op, int n, int l) {
  LK_CHECK(n > 0 && l > 0, op << ": shape must be positive, got n=" << n << " l=" << l);
}

}  // namespace

void reparam_forward(const float* mu, const float* logvar, int n, int l, uint64_t seed,
                     uint32_t offset, float* eps, float* z, cudaStream_t stream) {
  check_shape("reparam_forward", n, l);
  LK_CHECK(mu && logvar && eps && z, "reparam_forward: every pointer must be non-null");
  const size_t count = static_cast<size_t>(n) * l;
  reparam_forward_kernel<<<grid_stride_blocks(count), kGridStrideThreads, 0, stream>>>(
      mu, logvar, count, seed, offset, eps, z);
  LK_LAUNCH_CHECK();
}

void reparam_backward(const float* dz, const float* logvar, const float* eps, int n, int l,
                      float* dmu, float* dlogvar, cudaStream_t stream) {
  check_shape("reparam_backward", n, l);
  LK_CHECK(dz && logvar && eps && dmu && dlogvar,
           "reparam_backward: every pointer must be non-null");
  const size_t count = static_cast<size_t>(n) * l;
  reparam_backward_kernel<<<grid_stride_blocks(count), kGridStrideThreads, 0, stream>>>(
      dz, logvar, eps, count, dmu, dlogvar);
  LK_LAUNCH_CHECK();
}

void fill_normal(float* out, size_t count, uint64_t seed, RngStream stream_id, uint32_t offset,
                 cudaStream_t stream) {
  if (count == 0) return;
  LK_CHECK(out != nullptr, "fill_normal: out is null for " << count << " elements");
  fill_normal_kernel<<<grid_stride_blocks(count), kGridStrideThreads, 0, stream>>>(
      out, count, seed, stream_id, offset);
  LK_LAUNCH_CHECK();
}

}  // namespace latentkit::cuda
