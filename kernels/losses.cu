// Loss kernels and launchers (declared in kernels/losses.cuh): SSE, BCE with logits and the KL
// divergence of a diagonal Gaussian to N(0, I). One warp per row: each lane walks the row's columns
// with stride 32, writes the elementwise gradient (float arithmetic) and adds the row's loss terms
// in double (terms computed in double too, so the KL's 1 + lv - exp(lv) does not cancel in float);
// a fixed shuffle tree then sums the lanes, so results are reproducible run to run.
// Semantics: latentkit::ref::sse_loss / bce_logits_loss / kl_normal_loss (latentkit/ref/ops_ref.h);
// kl_normal_loss ACCUMULATES into dmu and dlogvar. Tests: tests/test_losses_gpu.cu.
#include "kernels/cuda_check.cuh"
#include "kernels/losses.cuh"

namespace latentkit::cuda {
namespace {

constexpr int kWarp = 32;
// 8 warps (rows) per block: 256 threads, a block size with full occupancy on sm_70+.
constexpr int kRowsPerBlock = 8;
constexpr int kLossThreads = kWarp * kRowsPerBlock;
constexpr unsigned int kFullMask = 0xffffffffu;

// Sum of one double per lane, in a fixed butterfly order; every lane gets the total.
__device__ __forceinline__ double warp_sum(double v) {
#pragma unroll
  for (int offset = kWarp / 2; offset > 0; offset /= 2) v += __shfl_xor_sync(kFullMask, v, offset);
  return v;
}

// sigmoid(l) without overflow for either sign of l.
__device__ __forceinline__ float stable_sigmoid(float l) {
  if (l >= 0.f) return 1.f / (1.f + expf(-l));
  const float e = expf(l);
  return e / (1.f + e);
}

// The three losses as per-element functors: apply(i) writes element i's gradient and returns its
// contribution to the row sum; finish() maps the row sum to the stored value.
struct SseOp {
  const float* __restrict__ xhat;
  const float* __restrict__ x;
  float grad_scale;
  float* __restrict__ dxhat;
  __device__ __forceinline__ double apply(size_t i) const {
    const float xh = xhat[i], xv = x[i];
    dxhat[i] = grad_scale * (2.f * (xh - xv));
    const double diff = static_cast<double>(xh) - static_cast<double>(xv);
    return diff * diff;
  }
  __device__ __forceinline__ double finish(double s) const { return s; }
};

struct BceOp {
  const float* __restrict__ logits;
  const float* __restrict__ x;
  float grad_scale;
  float* __restrict__ dlogits;
  __device__ __forceinline__ double apply(size_t i) const {
    const float l = logits[i], xv = x[i];
    dlogits[i] = grad_scale * (stable_sigmoid(l) - xv);
    const double ld = l, xd = xv;
    return fmax(ld, 0.0) - ld * xd + log1p(exp(-fabs(ld)));
  }
  __device__ __forceinline__ double finish(double s) const { return s; }
};

struct KlOp {
  const float* __restrict__ mu;
  const float* __restrict__ logvar;
  float grad_scale;
  float* __restrict__ dmu;
  float* __restrict__ dlogvar;
  __device__ __forceinline__ double apply(size_t i) const {
    const float m = mu[i], lv = logvar[i];
    dmu[i] += grad_scale * m;
    // expm1f(lv) = exp(lv) - 1 without the cancellation of the subtraction near lv = 0.
    dlogvar[i] += grad_scale * (0.5f * expm1f(lv));
    const double md = m, lvd = lv;
    return 1.0 + lvd - md * md - exp(lvd);
  }
  __device__ __forceinline__ double finish(double s) const { return -0.5 * s; }
};

template <class Op>
__global__ void __launch_bounds__(kLossThreads)
    row_loss_kernel(Op op, int n, int d, float* __restrict__ row_out) {
  const int lane = threadIdx.x % kWarp;
  const int row = blockIdx.x * kRowsPerBlock + threadIdx.x / kWarp;
  if (row >= n) return;  // whole warps exit together, so the shuffles below see full warps
  const size_t base = static_cast<size_t>(row) * d;
  double s = 0.0;
  for (int j = lane; j < d; j += kWarp) s += op.apply(base + j);
  s = warp_sum(s);
  if (lane == 0) row_out[row] = static_cast<float>(op.finish(s));
}

template <class Op>
void launch_row_loss(const Op& op, int n, int d, float* row_out, cudaStream_t stream) {
  row_loss_kernel<<<grid_for(n, kRowsPerBlock), kLossThreads, 0, stream>>>(op, n, d, row_out);
  LK_LAUNCH_CHECK();
}

void check_shape(const char* op, int n, int d) {
  LK_CHECK(n > 0 && d > 0, op << ": shape must be positive, got n=" << n << " d=" << d);
}

}  // namespace

void sse_loss(const float* xhat, const float* x, int n, int d, float grad_scale, float* dxhat,
              float* row_loss, cudaStream_t stream) {
  check_shape("sse_loss", n, d);
  LK_CHECK(xhat && x && dxhat && row_loss, "sse_loss: every pointer must be non-null");
  launch_row_loss(SseOp{xhat, x, grad_scale, dxhat}, n, d, row_loss, stream);
}

void bce_logits_loss(const float* logits, const float* x, int n, int d, float grad_scale,
                     float* dlogits, float* row_loss, cudaStream_t stream) {
  check_shape("bce_logits_loss", n, d);
  LK_CHECK(logits && x && dlogits && row_loss,
           "bce_logits_loss: every pointer must be non-null");
  launch_row_loss(BceOp{logits, x, grad_scale, dlogits}, n, d, row_loss, stream);
}

void kl_normal_loss(const float* mu, const float* logvar, int n, int l, float grad_scale,
                    float* dmu, float* dlogvar, float* row_kl, cudaStream_t stream) {
  check_shape("kl_normal_loss", n, l);
  LK_CHECK(mu && logvar && dmu && dlogvar && row_kl,
           "kl_normal_loss: every pointer must be non-null");
  launch_row_loss(KlOp{mu, logvar, grad_scale, dmu, dlogvar}, n, l, row_kl, stream);
}

}  // namespace latentkit::cuda
