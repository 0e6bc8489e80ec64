// Bernoulli RBM kernels: Gibbs half-steps (cuBLAS GEMM + one fused bias/sigmoid/Bernoulli
// epilogue with Philox noise), the minibatch update (two gradient GEMMs + one fused SGD-momentum
// kernel for W, b and c), free energy / pseudo-likelihood and row squared errors. Semantics,
// layouts and noise exactly as latentkit::ref::rbm_* (latentkit/ref/rbm_ref.h): row-major float32,
// W[nv, nh]. Tests: tests/test_rbm_gpu.cu. Benchmark: bench/bench_rbm.cu.
//
// All launchers need a cuBLAS handle (the products go to cublasSgemm in FP32); they set its stream
// to `stream`. Scratch arrays are the caller's, so nothing allocates per call.
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "latentkit/ref/rbm_ref.h"

namespace latentkit::cuda {

// P = sigmoid(V W + c) [n, nh]; S = Bernoulli(P) if S != nullptr (u from RngStream::RbmHidden).
void rbm_hidden_step(const float* V, const float* W, const float* c, int n, int nv, int nh,
                     uint64_t seed, uint32_t offset, float* P, float* S, cublasHandle_t blas,
                     cudaStream_t stream);

// P = sigmoid(H W^T + b) [n, nv]; S = Bernoulli(P) if S != nullptr; clamped entries
// (clamp_mask != 0) take clamp_values in P and S.
void rbm_visible_step(const float* H, const float* W, const float* b, int n, int nv, int nh,
                      uint64_t seed, uint32_t offset, const float* clamp_mask,
                      const float* clamp_values, float* P, float* S, cublasHandle_t blas,
                      cudaStream_t stream);

// The SGD-momentum update of ref::rbm_update. grad_scratch: nv*nh floats.
void rbm_update(const float* V0, const float* P0, int rows, const float* Vn, const float* Pn,
                int chains, int nv, int nh, const ref::RbmUpdateConfig& cfg, float* W, float* b,
                float* c, float* vel_W, float* vel_b, float* vel_c, float* grad_scratch,
                cublasHandle_t blas, cudaStream_t stream);

// Free energy fe[n] and, if pl != nullptr, the pseudo-likelihood pl[n] (both float64, device
// memory). z_scratch: n*nh floats.
void rbm_free_energy(const float* V, const float* W, const float* b, const float* c, int n, int nv,
                     int nh, uint64_t seed, uint32_t offset, double* fe, double* pl,
                     float* z_scratch, cublasHandle_t blas, cudaStream_t stream);

// err[r] = sum_i (V - P)^2 over row r (float64, device memory).
void rbm_row_sq_error(const float* V, const float* P, int n, int nv, double* err,
                      cudaStream_t stream);

}  // namespace latentkit::cuda
