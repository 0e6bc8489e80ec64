// Dense layer kernels: forward Y = act(X W^T + b) with bias and activation fused into the GEMM
// epilogue, and backward (dX, dW, db) with act' fused into the operand loads. Small shapes (the
// VAE's batch 32 x width 128) use latentkit's tiled kernel; large ones cuBLAS plus an epilogue
// kernel. Semantics and layouts exactly as latentkit::ref::dense_* (host/ref/dense.cpp).
// Tests: tests/test_dense_gpu.cu. Benchmark: bench/bench_dense.cu.
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "latentkit/families/op_types.h"

namespace latentkit::cuda {

// `blas` may be nullptr: then the custom kernel is used at every size.
void dense_forward(const float* X, const float* W, const float* b, float* Y, int n, int in,
                   int out, Activation act, float slope, cublasHandle_t blas, cudaStream_t stream);

// `dz_scratch` (dz_scratch_count floats, at least n*out; checked) may be nullptr; with it and a
// handle, large shapes use cuBLAS, which writes n*out floats of dZ into it.
void dense_backward(const float* X, const float* W, const float* Y, const float* dY, float* dX,
                    float* dW, float* db, int n, int in, int out, Activation act, float slope,
                    bool accumulate_dx, float* dz_scratch, size_t dz_scratch_count,
                    cublasHandle_t blas, cudaStream_t stream);

// Shapes at or above this many multiply-adds (n*in*out) go to cuBLAS when a handle is given:
// below it the launch and epilogue overheads of cuBLAS outweigh its faster main loop.
// Provisional until measured on a GPU (bench/bench_dense.cu).
constexpr long long kDenseCublasMinMacs = 1LL << 24;

}  // namespace latentkit::cuda
