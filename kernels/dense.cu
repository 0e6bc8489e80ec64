// Dense layer kernels and launchers (declared in kernels/dense.cuh):
//   forward   Y  = act(X W^T + b)          bias + activation fused into the GEMM epilogue
//   backward  dZ = dY * act'(Y)            computed on the fly while loading operand tiles
//             dX = dZ W   (optionally added to dX),  dW = dZ^T X,  db = column sums of dZ
// Two paths behind one dispatch point per launcher:
//   * gemm_tiled_kernel: latentkit's own shared-memory tiled GEMM (the readable baseline, used for
//     the small shapes of the VAE and whenever no cuBLAS handle is given). One template serves all
//     three products; the operands are "views" that know their layout and, for dZ, the activation.
//   * cuBLAS (cublasSgemm, FP32, no TF32) for shapes of at least kDenseCublasMinMacs multiply-adds
//     when a handle is given, plus small elementwise kernels for the epilogue / dZ.
// db always comes from column_sum_kernel: a fixed-order reduction without atomics, so results are
// bitwise reproducible run to run. Every reduction accumulates in float (fmaf); the tests allow
// for that against the float64 reference.
// Semantics: latentkit::ref::dense_forward / dense_backward (latentkit/ref/ops_ref.h).
// Tests: tests/test_dense_gpu.cu. Benchmark: bench/bench_dense.cu.
#include <algorithm>
#include <type_traits>

#include "kernels/cuda_check.cuh"
#include "kernels/dense.cuh"

namespace latentkit::cuda {
namespace {

// ---- activations ------------------------------------------------------------------------------

template <Activation A>
__device__ __forceinline__ float act_apply(float z, float slope) {
  if constexpr (A == Activation::Identity) {
    return z;
  } else if constexpr (A == Activation::ReLU) {
    return (z > 0.f || isnan(z)) ? z : 0.f;  // NaN propagates, as in the reference and torch.relu
  } else if constexpr (A == Activation::LeakyReLU) {
    return z > 0.f ? z : slope * z;
  } else if constexpr (A == Activation::Tanh) {
    return tanhf(z);
  } else {  // Sigmoid; expf(-z) overflowing to inf for z < -88 correctly gives 0.
    return 1.f / (1.f + expf(-z));
  }
}

// act'(z) expressed through the output y = act(z), as the reference does.
template <Activation A>
__device__ __forceinline__ float act_grad_from_output(float y, float slope) {
  if constexpr (A == Activation::Identity) {
    return 1.f;
  } else if constexpr (A == Activation::ReLU) {
    return y > 0.f ? 1.f : 0.f;
  } else if constexpr (A == Activation::LeakyReLU) {
    return y > 0.f ? 1.f : slope;
  } else if constexpr (A == Activation::Tanh) {
    return fmaf(-y, y, 1.f);  // 1 - y^2 with one rounding (no cancellation error near |y| = 1)
  } else {                    // Sigmoid
    return y * (1.f - y);
  }
}

// Calls f(std::integral_constant<Activation, act>{}): the one place where the runtime activation
// becomes a template argument.
template <class F>
void dispatch_activation(Activation act, F&& f) {
  switch (act) {
    case Activation::Identity:
      f(std::integral_constant<Activation, Activation::Identity>{});
      return;
    case Activation::ReLU:
      f(std::integral_constant<Activation, Activation::ReLU>{});
      return;
    case Activation::LeakyReLU:
      f(std::integral_constant<Activation, Activation::LeakyReLU>{});
      return;
    case Activation::Tanh:
      f(std::integral_constant<Activation, Activation::Tanh>{});
      return;
    case Activation::Sigmoid:
      f(std::integral_constant<Activation, Activation::Sigmoid>{});
      return;
  }
  LK_CHECK(false, "dense: unknown activation " << static_cast<int>(act));
}

// ---- operand views ----------------------------------------------------------------------------
// A view returns element (r, c) of a logical matrix. kTrans = false: stored row-major with leading
// dimension ld (p[r*ld + c], contiguous along c); kTrans = true: the transpose of such a matrix
// (p[c*ld + r], contiguous along r). kColContiguous tells the tile loader which way to walk so
// that a warp reads consecutive addresses.

template <bool kTrans>
__device__ __forceinline__ size_t view_index(int r, int c, int ld) {
  return kTrans ? static_cast<size_t>(c) * ld + r : static_cast<size_t>(r) * ld + c;
}

template <bool kTrans>
struct MatView {
  const float* __restrict__ p;
  int ld;
  static constexpr bool kColContiguous = !kTrans;
  __device__ __forceinline__ float operator()(int r, int c) const {
    return __ldg(p + view_index<kTrans>(r, c, ld));
  }
};

// dZ = dY * act'(Y), elementwise, from the layer's output Y and upstream gradient dY (both n x out).
template <Activation A, bool kTrans>
struct DzView {
  const float* __restrict__ dy;
  const float* __restrict__ y;
  int ld;
  float slope;
  static constexpr bool kColContiguous = !kTrans;
  __device__ __forceinline__ float operator()(int r, int c) const {
    const size_t i = view_index<kTrans>(r, c, ld);
    return __ldg(dy + i) * act_grad_from_output<A>(__ldg(y + i), slope);
  }
};

// ---- epilogues: receive C[m, n] = sum_k A(m, k) B(k, n) for one in-range element -----------------

template <Activation A>
struct ForwardEpilogue {  // Y[m, n] = act(acc + b[n])
  float* __restrict__ y;
  const float* __restrict__ bias;  // may be null
  int ld;
  float slope;
  __device__ __forceinline__ void operator()(int m, int n, float acc) const {
    const float z = bias ? acc + __ldg(bias + n) : acc;
    y[static_cast<size_t>(m) * ld + n] = act_apply<A>(z, slope);
  }
};

struct StoreEpilogue {  // C[m, n] = acc, or C[m, n] += acc
  float* __restrict__ c;
  int ld;
  bool accumulate;
  __device__ __forceinline__ void operator()(int m, int n, float acc) const {
    const size_t i = static_cast<size_t>(m) * ld + n;
    c[i] = accumulate ? c[i] + acc : acc;
  }
};

// ---- tiled GEMM ---------------------------------------------------------------------------------
// C[M, N] = A[M, K] B[K, N]. Each block computes a kTile x kTile tile of C with kTile x kRowSteps
// threads; thread (tx, ty) owns the kTile / kRowSteps outputs C[m0 + ty + kRowSteps*i, n0 + tx].
// K advances kTile at a time through shared-memory tiles As[k][m] and Bs[k][n]; elements outside
// the matrices load as 0, so any M, N, K >= 1 works. The sum over k runs in increasing k, in float.

// 32: one warp spans a tile row, so tile loads and the C stores are 128-byte coalesced.
constexpr int kTile = 32;
// 8 thread rows -> 256 threads per block and 4 outputs per thread: enough reuse of each shared
// B value to keep shared-memory traffic modest, while staying at ~40 registers (no spills).
constexpr int kRowSteps = 8;
constexpr int kOutPerThread = kTile / kRowSteps;
constexpr int kGemmThreads = kTile * kRowSteps;
// +1 column of padding: the transposing tile stores (As[tx][r]) would otherwise hit one bank.
constexpr int kTilePad = kTile + 1;
// CUDA's limit on gridDim.y (the N tiles); gridDim.x (the M tiles) allows 2^31 - 1.
constexpr long long kMaxGridY = 65535;

template <class AView, class BView, class Epilogue>
__global__ void __launch_bounds__(kGemmThreads)
    gemm_tiled_kernel(AView a, BView b, Epilogue epi, int M, int N, int K) {
  __shared__ float As[kTile][kTilePad];  // As[k][m]
  __shared__ float Bs[kTile][kTilePad];  // Bs[k][n]
  const int tx = threadIdx.x;
  const int ty = threadIdx.y;
  const int m0 = blockIdx.x * kTile;
  const int n0 = blockIdx.y * kTile;

  float acc[kOutPerThread];
#pragma unroll
  for (int i = 0; i < kOutPerThread; ++i) acc[i] = 0.f;

  for (int k0 = 0; k0 < K; k0 += kTile) {
#pragma unroll
    for (int i = 0; i < kOutPerThread; ++i) {
      const int r = ty + kRowSteps * i;  // 0 .. kTile-1
      // A(m, k): walk along whichever index is contiguous in memory with tx.
      if constexpr (AView::kColContiguous) {  // contiguous along k
        const int m = m0 + r, k = k0 + tx;
        As[tx][r] = (m < M && k < K) ? a(m, k) : 0.f;
      } else {  // contiguous along m
        const int m = m0 + tx, k = k0 + r;
        As[r][tx] = (m < M && k < K) ? a(m, k) : 0.f;
      }
      // B(k, n): its row index is k, so "contiguous along k" is !kColContiguous.
      if constexpr (!BView::kColContiguous) {  // contiguous along k
        const int k = k0 + tx, n = n0 + r;
        Bs[tx][r] = (k < K && n < N) ? b(k, n) : 0.f;
      } else {  // contiguous along n
        const int k = k0 + r, n = n0 + tx;
        Bs[r][tx] = (k < K && n < N) ? b(k, n) : 0.f;
      }
    }
    __syncthreads();
#pragma unroll 8
    for (int kk = 0; kk < kTile; ++kk) {
      const float bv = Bs[kk][tx];
#pragma unroll
      for (int i = 0; i < kOutPerThread; ++i) {
        acc[i] = fmaf(As[kk][ty + kRowSteps * i], bv, acc[i]);  // warp-uniform address: broadcast
      }
    }
    __syncthreads();
  }

  const int n = n0 + tx;
  if (n < N) {
#pragma unroll
    for (int i = 0; i < kOutPerThread; ++i) {
      const int m = m0 + ty + kRowSteps * i;
      if (m < M) epi(m, n, acc[i]);
    }
  }
}

template <class AView, class BView, class Epilogue>
void launch_gemm_tiled(AView a, BView b, Epilogue epi, int M, int N, int K, cudaStream_t stream) {
  const long long grid_n = grid_for(N, kTile);
  LK_CHECK(grid_n <= kMaxGridY, "dense: width " << N << " exceeds the tiled kernel's limit of "
                                                << kMaxGridY * kTile << " columns");
  const dim3 grid(grid_for(M, kTile), static_cast<unsigned int>(grid_n));
  const dim3 block(kTile, kRowSteps);
  gemm_tiled_kernel<<<grid, block, 0, stream>>>(a, b, epi, M, N, K);
  LK_LAUNCH_CHECK();
}

// ---- column sums (db) ---------------------------------------------------------------------------
// db[c] = sum_r dZ(r, c) over n rows. A block covers `cpb` = min(cols, 32) consecutive columns with
// `lanes` row lanes (the largest power of two with lanes * cpb <= kColSumThreads); thread t handles
// column t % cpb and rows lane, lane + lanes, ... (consecutive threads read consecutive addresses).
// Lanes are then combined by a fixed shared-memory tree: no atomics, so the result depends only on
// (n, cols), never on scheduling.

// 512 threads: with 32 columns per block that is 16 row lanes; with 1 column, 512 lanes.
constexpr int kColSumThreads = 512;
// Columns per block at most one warp's width, so each row's slice is one coalesced read.
constexpr int kColSumMaxCols = 32;

template <class View>
__global__ void __launch_bounds__(kColSumThreads)
    column_sum_kernel(View dz, float* __restrict__ out, int n, int cols, int cpb, int lanes) {
  __shared__ float part[kColSumThreads];
  const int t = threadIdx.x;
  const int c_local = t % cpb;
  const int lane = t / cpb;
  const int col = blockIdx.x * cpb + c_local;
  const bool active = lane < lanes;  // t < lanes * cpb
  float s = 0.f;
  if (active && col < cols) {
    // Four independent partial sums (fixed assignment of rows) for memory-level parallelism.
    float s0 = 0.f, s1 = 0.f, s2 = 0.f, s3 = 0.f;
    int r = lane;
    for (; r + 3 * lanes < n; r += 4 * lanes) {
      s0 += dz(r, col);
      s1 += dz(r + lanes, col);
      s2 += dz(r + 2 * lanes, col);
      s3 += dz(r + 3 * lanes, col);
    }
    for (; r < n; r += lanes) s0 += dz(r, col);
    s = (s0 + s1) + (s2 + s3);
  }
  if (active) part[t] = s;  // t == lane * cpb + c_local
  __syncthreads();
  for (int stride = lanes / 2; stride > 0; stride /= 2) {
    if (lane < stride) part[t] += part[t + stride * cpb];
    __syncthreads();
  }
  if (lane == 0 && col < cols) out[col] = part[c_local];
}

template <class View>
void launch_column_sum(View dz, float* out, int n, int cols, cudaStream_t stream) {
  const int cpb = std::min(cols, kColSumMaxCols);
  int lanes = 1;
  while (lanes * 2 * cpb <= kColSumThreads) lanes *= 2;
  column_sum_kernel<<<grid_for(cols, cpb), kColSumThreads, 0, stream>>>(dz, out, n, cols, cpb,
                                                                        lanes);
  LK_LAUNCH_CHECK();
}

// ---- elementwise kernels for the cuBLAS path ----------------------------------------------------

// 256 threads per block: a multiple of the warp size with full occupancy on sm_70+.
constexpr int kElemThreads = 256;
// Grid cap for grid-stride loops: 8192 x 256 threads exceeds what any current GPU keeps resident
// (H100: 132 SMs x 2048), so larger grids would only add block scheduling overhead.
constexpr unsigned int kElemMaxBlocks = 8192;

unsigned int elementwise_blocks(size_t count) {
  return std::min(grid_for(static_cast<long long>(count), kElemThreads), kElemMaxBlocks);
}

// Y[r, c] = act(Y[r, c] + b[c]) in place, after cuBLAS wrote X W^T into Y.
template <Activation A>
__global__ void bias_activation_kernel(float* __restrict__ y, const float* __restrict__ bias,
                                       size_t count, int cols, float slope) {
  const size_t stride = static_cast<size_t>(gridDim.x) * blockDim.x;
  for (size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < count;
       i += stride) {
    const float z = bias ? y[i] + __ldg(bias + i % static_cast<size_t>(cols)) : y[i];
    y[i] = act_apply<A>(z, slope);
  }
}

// dz[i] = dY[i] * act'(Y[i]) into the caller's scratch, as the cuBLAS operand.
template <Activation A>
__global__ void dz_kernel(const float* __restrict__ dy, const float* __restrict__ y,
                          float* __restrict__ dz, size_t count, float slope) {
  const size_t stride = static_cast<size_t>(gridDim.x) * blockDim.x;
  for (size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < count;
       i += stride) {
    dz[i] = __ldg(dy + i) * act_grad_from_output<A>(__ldg(y + i), slope);
  }
}

// cuBLAS runs on the handle's stream: point it at the caller's stream when it differs.
void bind_stream(cublasHandle_t blas, cudaStream_t stream) {
  cudaStream_t current = nullptr;
  LK_CUBLAS_CHECK(cublasGetStream(blas, &current));
  if (current != stream) LK_CUBLAS_CHECK(cublasSetStream(blas, stream));
}

bool use_cublas(cublasHandle_t blas, int n, int in, int out) {
  return blas != nullptr &&
         static_cast<long long>(n) * in * out >= kDenseCublasMinMacs;
}

void check_shape(const char* op, int n, int in, int out) {
  LK_CHECK(n > 0 && in > 0 && out > 0,
           op << ": shape must be positive, got n=" << n << " in=" << in << " out=" << out);
}

}  // namespace

// ---- launchers ----------------------------------------------------------------------------------

void dense_forward(const float* X, const float* W, const float* b, float* Y, int n, int in,
                   int out, Activation act, float slope, cublasHandle_t blas,
                   cudaStream_t stream) {
  check_shape("dense_forward", n, in, out);
  LK_CHECK(X && W && Y, "dense_forward: X, W and Y must be non-null (b may be null)");

  if (use_cublas(blas, n, in, out)) {
    // Row-major Y[n, out] = X[n, in] W[out, in]^T is column-major Y^T[out, n] = W X^T. Column-major
    // views of the row-major buffers: W is W^T[in, out] (ld in), X is X^T[in, n] (ld in). Hence
    // C = op(A) op(B) with A = W buffer transposed (m = out, k = in), B = X buffer as is (k x n).
    bind_stream(blas, stream);
    const float one = 1.f, zero = 0.f;
    LK_CUBLAS_CHECK(cublasSgemm(blas, CUBLAS_OP_T, CUBLAS_OP_N, /*m=*/out, /*n=*/n, /*k=*/in,
                                &one, W, /*lda=*/in, X, /*ldb=*/in, &zero, Y, /*ldc=*/out));
    const size_t count = static_cast<size_t>(n) * out;
    dispatch_activation(act, [&](auto a) {
      constexpr Activation A = decltype(a)::value;
      if (A == Activation::Identity && b == nullptr) return;  // nothing left to do
      bias_activation_kernel<A><<<elementwise_blocks(count), kElemThreads, 0, stream>>>(
          Y, b, count, out, slope);
      LK_LAUNCH_CHECK();
    });
    return;
  }

  // Custom path: C = Y[M = n, N = out], K = in; A(m, k) = X[m, k]; B(k, j) = W[j, k] (W^T).
  dispatch_activation(act, [&](auto a) {
    constexpr Activation A = decltype(a)::value;
    launch_gemm_tiled(MatView<false>{X, in}, MatView<true>{W, in},
                      ForwardEpilogue<A>{Y, b, out, slope}, n, out, in, stream);
  });
}

void dense_backward(const float* X, const float* W, const float* Y, const float* dY, float* dX,
                    float* dW, float* db, int n, int in, int out, Activation act, float slope,
                    bool accumulate_dx, float* dz_scratch, size_t dz_scratch_count,
                    cublasHandle_t blas, cudaStream_t stream) {
  check_shape("dense_backward", n, in, out);
  LK_CHECK(X && Y && dY && dW, "dense_backward: X, Y, dY and dW must be non-null");
  LK_CHECK(dX == nullptr || W != nullptr, "dense_backward: W must be non-null when dX is wanted");
  LK_CHECK(dz_scratch == nullptr || (dz_scratch != dY && dz_scratch != Y),
           "dense_backward: dz_scratch must not alias dY or Y");
  // Checked whichever path runs, so a caller that sizes the scratch by the wrong layer fails at
  // every shape, not only at the large ones where dz_kernel would write past its end.
  const size_t count = static_cast<size_t>(n) * out;
  LK_CHECK(dz_scratch == nullptr || dz_scratch_count >= count,
           "dense_backward: dz_scratch holds " << dz_scratch_count
                                               << " floats, the shape needs n*out = " << count
                                               << " (size it by the widest layer)");

  if (dz_scratch != nullptr && use_cublas(blas, n, in, out)) {
    dispatch_activation(act, [&](auto a) {
      constexpr Activation A = decltype(a)::value;
      dz_kernel<A><<<elementwise_blocks(count), kElemThreads, 0, stream>>>(dY, Y, dz_scratch,
                                                                            count, slope);
      LK_LAUNCH_CHECK();
    });
    bind_stream(blas, stream);
    const float one = 1.f, zero = 0.f;
    if (dX) {
      // Row-major dX[n, in] = dZ[n, out] W[out, in] is column-major dX^T[in, n] = W^T dZ^T, and the
      // column-major views of the buffers are exactly W^T[in, out] (ld in) and dZ^T[out, n]
      // (ld out): no transposes. beta = 1 adds to the existing dX; beta = 0 never reads it.
      const float beta = accumulate_dx ? 1.f : 0.f;
      LK_CUBLAS_CHECK(cublasSgemm(blas, CUBLAS_OP_N, CUBLAS_OP_N, /*m=*/in, /*n=*/n, /*k=*/out,
                                  &one, W, /*lda=*/in, dz_scratch, /*ldb=*/out, &beta, dX,
                                  /*ldc=*/in));
    }
    // Row-major dW[out, in] = dZ^T[out, n] X[n, in] is column-major dW^T[in, out] = X^T dZ, with
    // views X^T[in, n] (ld in, as is) and dZ^T[out, n] (ld out, transposed to dZ[n, out]).
    LK_CUBLAS_CHECK(cublasSgemm(blas, CUBLAS_OP_N, CUBLAS_OP_T, /*m=*/in, /*n=*/out, /*k=*/n, &one,
                                X, /*lda=*/in, dz_scratch, /*ldb=*/out, &zero, dW, /*ldc=*/in));
    if (db) launch_column_sum(MatView<false>{dz_scratch, out}, db, n, out, stream);
    return;
  }

  // Custom path, dZ recomputed from dY and Y in each operand load.
  dispatch_activation(act, [&](auto a) {
    constexpr Activation A = decltype(a)::value;
    if (dX) {
      // dX[M = n, N = in], K = out: A(m, k) = dZ[m, k]; B(k, j) = W[k, j].
      launch_gemm_tiled(DzView<A, false>{dY, Y, out, slope}, MatView<false>{W, in},
                        StoreEpilogue{dX, in, accumulate_dx}, n, in, out, stream);
    }
    // dW[M = out, N = in], K = n: A(m, k) = dZ[k, m] (transposed view); B(k, j) = X[k, j].
    launch_gemm_tiled(DzView<A, true>{dY, Y, out, slope}, MatView<false>{X, in},
                      StoreEpilogue{dW, in, false}, out, in, n, stream);
    if (db) launch_column_sum(DzView<A, false>{dY, Y, out, slope}, db, n, out, stream);
  });
}

}  // namespace latentkit::cuda
