// Bernoulli RBM kernels and launchers (declared in kernels/rbm.cuh; semantics in
// latentkit/ref/rbm_ref.h, CPU reference host/ref/rbm.cpp).
//
// Per Gibbs half-step: one cublasSgemm (FP32) writes the pre-activations into P, then one fused
// epilogue kernel adds the bias, applies the sigmoid, draws the Bernoulli sample from Philox keyed
// by (seed, RbmHidden/RbmVisible, offset, element index) and applies the inpainting clamp.
// Per minibatch update: two GEMMs into one gradient buffer (positive with beta 0, negative with
// beta 1) and one fused kernel that updates W, b and c (momentum, weight decay; the bias
// gradients are column sums computed in that same kernel).
//
// Row-major through column-major cuBLAS: a row-major matrix M[r, c] is, to cuBLAS, the
// column-major matrix M^T[c, r] with leading dimension c. So a row-major product C = A B is
// computed as the column-major C^T = B^T A^T: cublasSgemm(N, N, m = cols(C), n = rows(C),
// k, B, ld_B, A, ld_A, C, ld_C), i.e. the operands swap places; each call below spells it out.
//
// Sums inside the fused kernels are fixed-order (no atomics), so results are bitwise reproducible
// run to run on one GPU. Tests: tests/test_rbm_gpu.cu. Benchmark: bench/bench_rbm.cu.
#include "kernels/cuda_check.cuh"
#include "kernels/rbm.cuh"
#include "latentkit/core/philox.h"

namespace latentkit::cuda {
namespace {

// Threads per block of the row-reduction kernels (free energy, squared error): 256 = 8 warps,
// enough to stream a 784- or 256-wide row with few iterations per thread.
constexpr int kRowThreads = 256;
constexpr int kWarp = 32;

__device__ __forceinline__ float sigmoidf_dev(float z) {
  return 1.f / (1.f + expf(-z));  // expf(-z) = inf for z < -88 gives 0, as the reference
}

// The Bernoulli rule of ref::rbm_*: 1 exactly when the double u lies below p (promoted).
__device__ __forceinline__ float bernoulli_dev(float p, uint64_t seed, RngStream stream,
                                               uint32_t offset, uint64_t index) {
  return philox_uniform(seed, stream, offset, index) < static_cast<double>(p) ? 1.f : 0.f;
}

// P[r, col] = sigmoid(P[r, col] + bias[col]) in place; S = Bernoulli(P); clamp if asked.
// `width` is the row length (nh for the hidden step, nv for the visible step).
__global__ void gibbs_epilogue_kernel(float* __restrict__ P, const float* __restrict__ bias,
                                      long long count, int width, uint64_t seed, RngStream stream,
                                      uint32_t offset, const float* __restrict__ clamp_mask,
                                      const float* __restrict__ clamp_values,
                                      float* __restrict__ S) {
  for (long long idx = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; idx < count;
       idx += static_cast<long long>(gridDim.x) * blockDim.x) {
    const int col = static_cast<int>(idx % width);
    float p = sigmoidf_dev(P[idx] + __ldg(bias + col));
    float s = S ? bernoulli_dev(p, seed, stream, offset, static_cast<uint64_t>(idx)) : 0.f;
    if (clamp_mask && __ldg(clamp_mask + idx) != 0.f) {
      p = __ldg(clamp_values + idx);
      s = p;
    }
    P[idx] = p;
    if (S) S[idx] = s;
  }
}

// Fused SGD-momentum update. G holds (V0^T P0 - Vn^T Pn) / rows ([nv, nh]; both statistics over
// rows, scikit-learn's scaling: see ref::rbm_update).
// Thread items [0, nv*nh): W; [nv*nh, +nv): b (column sums of V0 and Vn); then c (of P0, Pn).
__global__ void update_kernel(const float* __restrict__ G, const float* __restrict__ V0,
                              const float* __restrict__ P0, int rows, const float* __restrict__ Vn,
                              const float* __restrict__ Pn, int chains, int nv, int nh, float lr,
                              float momentum, float weight_decay, float* __restrict__ W,
                              float* __restrict__ b, float* __restrict__ c,
                              float* __restrict__ vel_W, float* __restrict__ vel_b,
                              float* __restrict__ vel_c) {
  const long long nw = static_cast<long long>(nv) * nh;
  const long long total = nw + nv + nh;
  for (long long idx = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; idx < total;
       idx += static_cast<long long>(gridDim.x) * blockDim.x) {
    if (idx < nw) {
      const float grad = G[idx] - weight_decay * W[idx];
      const float vel = fmaf(momentum, vel_W[idx], lr * grad);
      vel_W[idx] = vel;
      W[idx] += vel;
      continue;
    }
    // A bias: (column sum over the data rows - column sum over the chains) / rows.
    const bool visible = idx < nw + nv;
    const int col = static_cast<int>(visible ? idx - nw : idx - nw - nv);
    const int width = visible ? nv : nh;
    const float* pos = visible ? V0 : P0;
    const float* neg = visible ? Vn : Pn;
    float pos_sum = 0.f, neg_sum = 0.f;
    for (int r = 0; r < rows; ++r) pos_sum += __ldg(pos + static_cast<size_t>(r) * width + col);
    for (int r = 0; r < chains; ++r) neg_sum += __ldg(neg + static_cast<size_t>(r) * width + col);
    const float grad = (pos_sum - neg_sum) / rows;
    float* param = visible ? b : c;
    float* velocity = visible ? vel_b : vel_c;
    const float vel = fmaf(momentum, velocity[col], lr * grad);
    velocity[col] = vel;
    param[col] += vel;
  }
}

__device__ __forceinline__ double softplus_dev(double x) {
  return fmax(x, 0.0) + log1p(exp(-fabs(x)));
}

// Sum of `v` over the block (all threads get it). `scratch`: kRowThreads / kWarp doubles.
__device__ double block_sum(double v, double* scratch) {
  for (int o = kWarp / 2; o > 0; o /= 2) v += __shfl_down_sync(0xffffffffu, v, o);
  const int warp = threadIdx.x / kWarp, lane = threadIdx.x % kWarp;
  __syncthreads();  // scratch may still be read by a previous call
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  double total = 0.0;
  for (int w = 0; w < kRowThreads / kWarp; ++w) total += scratch[w];
  return total;
}

// One block per row: Z = V W (without c) from the GEMM; fe = -v.b - sum softplus(z + c); with pl,
// the flipped row's z' = z + (v'_i - v_i) W[i, :] and pl = -nv softplus(fe - fe').
__global__ void __launch_bounds__(kRowThreads)
    free_energy_kernel(const float* __restrict__ V, const float* __restrict__ W,
                       const float* __restrict__ b, const float* __restrict__ c,
                       const float* __restrict__ Z, int nv, int nh, uint64_t seed, uint32_t offset,
                       double* __restrict__ fe, double* __restrict__ pl) {
  __shared__ double scratch[kRowThreads / kWarp];
  const int r = blockIdx.x;
  const float* v = V + static_cast<size_t>(r) * nv;
  const float* z = Z + static_cast<size_t>(r) * nh;
  int flip = 0;
  double delta = 0.0;
  if (pl) {
    const double u = philox_uniform(seed, RngStream::RbmScore, offset, static_cast<uint64_t>(r));
    flip = min(nv - 1, static_cast<int>(u * nv));
    delta = (1.0 - static_cast<double>(v[flip])) - static_cast<double>(v[flip]);
  }
  const float* w_flip = W + static_cast<size_t>(flip) * nh;
  double vb = 0.0, sp = 0.0, sp_flip = 0.0;
  for (int i = threadIdx.x; i < nv; i += kRowThreads)
    vb += static_cast<double>(v[i]) * static_cast<double>(b[i]);
  for (int j = threadIdx.x; j < nh; j += kRowThreads) {
    const double zj = static_cast<double>(z[j]) + static_cast<double>(c[j]);
    sp += softplus_dev(zj);
    if (pl) sp_flip += softplus_dev(zj + delta * static_cast<double>(w_flip[j]));
  }
  vb = block_sum(vb, scratch);
  sp = block_sum(sp, scratch);
  if (pl) sp_flip = block_sum(sp_flip, scratch);
  if (threadIdx.x == 0) {
    const double f = -vb - sp;
    fe[r] = f;
    if (pl) {
      const double f_flip = -(vb + delta * static_cast<double>(b[flip])) - sp_flip;
      pl[r] = -static_cast<double>(nv) * softplus_dev(f - f_flip);
    }
  }
}

__global__ void __launch_bounds__(kRowThreads)
    row_sq_error_kernel(const float* __restrict__ V, const float* __restrict__ P, int nv,
                        double* __restrict__ err) {
  __shared__ double scratch[kRowThreads / kWarp];
  const size_t base = static_cast<size_t>(blockIdx.x) * nv;
  double acc = 0.0;
  for (int i = threadIdx.x; i < nv; i += kRowThreads) {
    const double d = static_cast<double>(V[base + i]) - static_cast<double>(P[base + i]);
    acc += d * d;
  }
  acc = block_sum(acc, scratch);
  if (threadIdx.x == 0) err[blockIdx.x] = acc;
}

void check_shape(const char* what, int n, int nv, int nh) {
  LK_CHECK(n > 0 && nv > 0 && nh > 0,
           what << ": shape must be positive, got n=" << n << " nv=" << nv << " nh=" << nh);
}

void launch_epilogue(float* P, const float* bias, int n, int width, uint64_t seed,
                     RngStream rng_stream, uint32_t offset, const float* clamp_mask,
                     const float* clamp_values, float* S, cudaStream_t stream) {
  const long long count = static_cast<long long>(n) * width;
  gibbs_epilogue_kernel<<<grid_stride_blocks(count), kGridStrideThreads, 0, stream>>>(
      P, bias, count, width, seed, rng_stream, offset, clamp_mask, clamp_values, S);
  LK_LAUNCH_CHECK();
}

}  // namespace

void rbm_hidden_step(const float* V, const float* W, const float* c, int n, int nv, int nh,
                     uint64_t seed, uint32_t offset, float* P, float* S, cublasHandle_t blas,
                     cudaStream_t stream) {
  check_shape("rbm_hidden_step", n, nv, nh);
  LK_CHECK(V && W && c && P && blas, "rbm_hidden_step: null pointer or cuBLAS handle");
  LK_CUBLAS_CHECK(cublasSetStream(blas, stream));
  // Row-major P[n, nh] = V[n, nv] W[nv, nh]  <=>  column-major P^T = W^T V^T:
  // m = nh, n = n, k = nv; A = W (column-major W^T, ld nh), B = V (column-major V^T, ld nv).
  const float one = 1.f, zero = 0.f;
  LK_CUBLAS_CHECK(
      cublasSgemm(blas, CUBLAS_OP_N, CUBLAS_OP_N, nh, n, nv, &one, W, nh, V, nv, &zero, P, nh));
  launch_epilogue(P, c, n, nh, seed, RngStream::RbmHidden, offset, nullptr, nullptr, S, stream);
}

void rbm_visible_step(const float* H, const float* W, const float* b, int n, int nv, int nh,
                      uint64_t seed, uint32_t offset, const float* clamp_mask,
                      const float* clamp_values, float* P, float* S, cublasHandle_t blas,
                      cudaStream_t stream) {
  check_shape("rbm_visible_step", n, nv, nh);
  LK_CHECK(H && W && b && P && blas, "rbm_visible_step: null pointer or cuBLAS handle");
  LK_CHECK((clamp_mask == nullptr) == (clamp_values == nullptr),
           "rbm_visible_step: clamp_mask and clamp_values go together");
  LK_CUBLAS_CHECK(cublasSetStream(blas, stream));
  // Row-major P[n, nv] = H[n, nh] W^T  <=>  column-major P^T[nv, n] = W H^T:
  // A = W read transposed (its column-major view is W^T[nh, nv], ld nh, so op T gives W),
  // B = H (column-major H^T[nh, n], ld nh); m = nv, n = n, k = nh.
  const float one = 1.f, zero = 0.f;
  LK_CUBLAS_CHECK(
      cublasSgemm(blas, CUBLAS_OP_T, CUBLAS_OP_N, nv, n, nh, &one, W, nh, H, nh, &zero, P, nv));
  launch_epilogue(P, b, n, nv, seed, RngStream::RbmVisible, offset, clamp_mask, clamp_values, S,
                  stream);
}

void rbm_update(const float* V0, const float* P0, int rows, const float* Vn, const float* Pn,
                int chains, int nv, int nh, const ref::RbmUpdateConfig& cfg, float* W, float* b,
                float* c, float* vel_W, float* vel_b, float* vel_c, float* grad_scratch,
                cublasHandle_t blas, cudaStream_t stream) {
  check_shape("rbm_update", rows, nv, nh);
  LK_CHECK(chains > 0, "rbm_update: chains must be positive, got " << chains);
  LK_CHECK(V0 && P0 && Vn && Pn && W && b && c && vel_W && vel_b && vel_c && grad_scratch && blas,
           "rbm_update: null pointer or cuBLAS handle");
  LK_CUBLAS_CHECK(cublasSetStream(blas, stream));
  // Row-major G[nv, nh] = alpha X^T Y (+ beta G) with X[count, nv], Y[count, nh]  <=>
  // column-major G^T[nh, nv] = alpha Y^T X: A = Y (column-major Y^T[nh, count], ld nh, op N),
  // B = X read transposed (column-major X^T[nv, count], ld nv, op T); m = nh, n = nv, k = count.
  // Both statistics are divided by rows (scikit-learn's scaling, see ref::rbm_update).
  const float pos_scale = 1.f / rows, neg_scale = -1.f / rows, zero = 0.f, one = 1.f;
  LK_CUBLAS_CHECK(cublasSgemm(blas, CUBLAS_OP_N, CUBLAS_OP_T, nh, nv, rows, &pos_scale, P0, nh, V0,
                              nv, &zero, grad_scratch, nh));
  LK_CUBLAS_CHECK(cublasSgemm(blas, CUBLAS_OP_N, CUBLAS_OP_T, nh, nv, chains, &neg_scale, Pn, nh,
                              Vn, nv, &one, grad_scratch, nh));
  const long long total = static_cast<long long>(nv) * nh + nv + nh;
  update_kernel<<<grid_stride_blocks(total), kGridStrideThreads, 0, stream>>>(
      grad_scratch, V0, P0, rows, Vn, Pn, chains, nv, nh, cfg.lr, cfg.momentum, cfg.weight_decay, W,
      b, c, vel_W, vel_b, vel_c);
  LK_LAUNCH_CHECK();
}

void rbm_free_energy(const float* V, const float* W, const float* b, const float* c, int n, int nv,
                     int nh, uint64_t seed, uint32_t offset, double* fe, double* pl,
                     float* z_scratch, cublasHandle_t blas, cudaStream_t stream) {
  check_shape("rbm_free_energy", n, nv, nh);
  LK_CHECK(V && W && b && c && fe && z_scratch && blas,
           "rbm_free_energy: null pointer or cuBLAS handle");
  LK_CUBLAS_CHECK(cublasSetStream(blas, stream));
  // Z[n, nh] = V W, as in rbm_hidden_step (the bias is added in double in the kernel).
  const float one = 1.f, zero = 0.f;
  LK_CUBLAS_CHECK(cublasSgemm(blas, CUBLAS_OP_N, CUBLAS_OP_N, nh, n, nv, &one, W, nh, V, nv, &zero,
                              z_scratch, nh));
  free_energy_kernel<<<n, kRowThreads, 0, stream>>>(V, W, b, c, z_scratch, nv, nh, seed, offset, fe,
                                                    pl);
  LK_LAUNCH_CHECK();
}

void rbm_row_sq_error(const float* V, const float* P, int n, int nv, double* err,
                      cudaStream_t stream) {
  LK_CHECK(n > 0 && nv > 0,
           "rbm_row_sq_error: shape must be positive, got n=" << n << " nv=" << nv);
  LK_CHECK(V && P && err, "rbm_row_sq_error: null pointer");
  row_sq_error_kernel<<<n, kRowThreads, 0, stream>>>(V, P, nv, err);
  LK_LAUNCH_CHECK();
}

}  // namespace latentkit::cuda
