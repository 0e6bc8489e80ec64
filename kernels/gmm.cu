// Batched GMM-EM kernels and launchers (declared in kernels/gmm.cuh). Semantics exactly as
// latentkit::ref (host/ref/gmm.cpp): float64 parameters and accumulation, float data.
//
// Design (the seed case is 10000 x 3 with K = 5..15 and restarts: launch overhead, not
// arithmetic, is what a GPU GMM loses on, so one launch covers every model of the batch):
//   gmm_precisions_kernel  one thread per component: Cholesky L of Σ (D <= 32, in global scratch:
//                          C threads only), P = L⁻¹, log_norm. O(C d³), negligible.
//   gmm_estep_kernel       grid (point blocks, models), one thread per point: log p for each of the
//                          model's components (Mahalanobis |P (x-μ)|², d(d+1)/2 FMAs), log-sum-exp,
//                          responsibilities; the block's log-likelihood sum by a fixed-order tree.
//                          Component parameters are read by every thread at the same address
//                          (a broadcast from L1), so they need no shared-memory staging.
//   gmm_stats_kernel       grid (point chunks, components): a chunk's points staged in shared
//                          memory tile by tile; each thread owns (statistic, point-subset) pairs
//                          and accumulates in a register; the subsets are summed in a fixed order
//                          -> one partial row per (component, chunk). Pass 1: Σr, Σ r x;
//                          pass 2: Σ r (x-μ)(x-μ)ᵀ (lower triangle) or Σ r (x-μ)² with the new μ.
//   gmm_reduce_kernel      one block per component: partial rows summed over chunks in order.
//   gmm_finalize_kernel    one thread per model: weights, mean log-likelihood, convergence.
// No atomics on floating point anywhere: results are bitwise reproducible run to run.
#include <cfloat>
#include <climits>

#include "kernels/cuda_check.cuh"
#include "kernels/gmm.cuh"
#include "latentkit/core/philox.h"

namespace latentkit::cuda {
namespace {

constexpr double kLog2Pi = 1.8378770664093454836;  // log(2π)
constexpr double kNkGuard = 10.0 * DBL_EPSILON;    // sklearn adds 10 ε to every N_k
constexpr int kMaxStats = kGmmKernelMaxDim * (kGmmKernelMaxDim + 1) / 2;  // 528 at d = 32

// E-step: 256 threads = 8 warps per block, one point each; a power of two for the tree sum.
constexpr int kEstepThreads = 256;
// At least 4 resident E-step blocks per SM: a 64-register budget (65536 / (4 x 256)), which
// every instantiation fits without spilling (ptxas -v: 56-64 registers; the runtime-d kernel's
// point and difference arrays sit in its 512-byte stack frame, not counted as spills). With
// __launch_bounds__(256) alone ptxas chose 48 registers and spilled 24 bytes in the runtime-d
// kernel (and 8 in the d = 1 one).
constexpr int kEstepMinBlocks = 4;
static_assert(kEstepMinBlocks * kEstepThreads <= 2048, "more threads than an SM holds (sm_90)");
// Component-parameter kernels: 128 threads per block (C is small: tens to hundreds).
constexpr int kSmallThreads = 128;
// Statistics: 256 threads; a tile of 64 points (64 x 32 floats = 8 KiB) staged per step.
constexpr int kStatsThreads = 256;
constexpr int kStatsTile = 64;
// Slots per thread: with more statistics than threads (d = 32 full: 528), a thread owns up to
// ceil(528 / 256) = 3 of them.
constexpr int kStatsSlots = (kMaxStats + kStatsThreads - 1) / kStatsThreads;
// Chunks of points per component: at least 256 points each (so a block has work), at most 128
// chunks (bounds the partial rows: 128 x C x 528 doubles = 69 MB at C = 64, d = 32 full).
constexpr int kMinChunkPoints = 256;
constexpr int kMaxChunks = 128;
constexpr int kRedSize = kMaxStats > kStatsThreads ? kMaxStats : kStatsThreads;

__host__ __device__ int stats_count(int pass, int d, bool full) {
  return pass == 1 ? d + 1 : (full ? d * (d + 1) / 2 : d);
}

int chunks_for(int n) {
  const int by_size = (n + kMinChunkPoints - 1) / kMinChunkPoints;
  return by_size < kMaxChunks ? by_size : kMaxChunks;
}

// Row a, column b (b <= a) of the f-th entry of a row-major lower triangle.
__device__ void lower_pair(int f, int& a, int& b) {
  a = 0;
  while ((a + 1) * (a + 2) / 2 <= f) ++a;
  b = f - a * (a + 1) / 2;
}

__global__ void gmm_precisions_kernel(const double* __restrict__ weights,
                                      const double* __restrict__ cov,
                                      const int32_t* __restrict__ comp_model,
                                      const int32_t* __restrict__ active, int num_components, int d,
                                      bool full, double* __restrict__ chol,
                                      double* __restrict__ prec, double* __restrict__ log_norm,
                                      const int32_t* __restrict__ comp_offset,
                                      int32_t* __restrict__ bad) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= num_components) return;
  const int model = comp_model[c];
  if (active && !active[model]) return;
  double half_logdet_prec = 0.0;
  bool ok = true;
  if (full) {
    const size_t o = static_cast<size_t>(c) * d * d;
    const double* s = cov + o;
    double* l = chol + o;
    double* p = prec + o;
    for (int j = 0; j < d && ok; ++j) {
      double diag = s[j * d + j];
      for (int k = 0; k < j; ++k) diag -= l[j * d + k] * l[j * d + k];
      if (!(diag > 0.0) || !isfinite(diag)) {
        ok = false;
        break;
      }
      const double ljj = sqrt(diag);
      l[j * d + j] = ljj;
      for (int i = j + 1; i < d; ++i) {
        double t = s[i * d + j];
        for (int k = 0; k < j; ++k) t -= l[i * d + k] * l[j * d + k];
        l[i * d + j] = t / ljj;
      }
      for (int i = 0; i < j; ++i) l[i * d + j] = 0.0;
    }
    if (ok) {
      for (int i = 0; i < d * d; ++i) p[i] = 0.0;
      for (int col = 0; col < d; ++col) {
        for (int i = col; i < d; ++i) {
          double t = (i == col) ? 1.0 : 0.0;
          for (int k = col; k < i; ++k) t -= l[i * d + k] * p[k * d + col];
          p[i * d + col] = t / l[i * d + i];
        }
      }
      for (int i = 0; i < d; ++i) half_logdet_prec += log(p[i * d + i]);
    } else {
      for (int i = 0; i < d * d; ++i) {
        p[i] = (i % (d + 1) == 0) ? 1.0 : 0.0;
        l[i] = p[i];
      }
    }
  } else {
    const size_t o = static_cast<size_t>(c) * d;
    for (int i = 0; i < d; ++i) {
      const double v = cov[o + i];
      if (!(v > 0.0) || !isfinite(v)) ok = false;
    }
    for (int i = 0; i < d; ++i) {
      const double sd = ok ? sqrt(cov[o + i]) : 1.0;
      chol[o + i] = sd;
      prec[o + i] = 1.0 / sd;
      half_logdet_prec += log(prec[o + i]);
    }
  }
  if (!ok) atomicMin(&bad[model], c - comp_offset[model]);
  const double w = weights[c] > 0.0 ? weights[c] : DBL_MIN;  // only a broken model reaches 0
  log_norm[c] = log(w) - 0.5 * d * kLog2Pi + half_logdet_prec;
}

// kD > 0: the dimension as a compile-time constant (the small d of the seed case and the apps):
// the loops over d unroll and the point and its difference live in registers. kD = 0: any d at
// run time, the two arrays in local memory (L1-cached; at d = 32 the d(d+1)/2 FMAs dominate).
template <int kD>
__global__ void __launch_bounds__(kEstepThreads, kEstepMinBlocks)
    gmm_estep_kernel(const float* __restrict__ x, int n, int d_runtime, bool full,
                     const int32_t* __restrict__ comp_offset, const int32_t* __restrict__ active,
                     const double* __restrict__ means, const double* __restrict__ prec,
                     const double* __restrict__ log_norm, double* __restrict__ resp,
                     double* __restrict__ partial_ll, double* __restrict__ point_ll,
                     int32_t* __restrict__ labels) {
  constexpr int kArray = kD > 0 ? kD : kGmmKernelMaxDim;
  const int d = kD > 0 ? kD : d_runtime;
  const int model = blockIdx.y;
  if (active && !active[model]) return;  // the whole block returns: no barrier is skipped
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  double lse = 0.0;
  if (i < n) {
    const int c0 = comp_offset[model], k = comp_offset[model + 1] - c0;
    double xi[kArray], diff[kArray];
    for (int a = 0; a < d; ++a) xi[a] = static_cast<double>(x[static_cast<size_t>(i) * d + a]);
    double best = -DBL_MAX;
    int best_j = 0;
    for (int j = 0; j < k; ++j) {
      const int c = c0 + j;
      const double* mu = means + static_cast<size_t>(c) * d;
      for (int a = 0; a < d; ++a) diff[a] = xi[a] - mu[a];
      double maha = 0.0;
      if (full) {
        const double* p = prec + static_cast<size_t>(c) * d * d;
        for (int a = 0; a < d; ++a) {
          double z = 0.0;
          for (int b = 0; b <= a; ++b) z = fma(p[a * d + b], diff[b], z);
          maha = fma(z, z, maha);
        }
      } else {
        const double* p = prec + static_cast<size_t>(c) * d;
        for (int a = 0; a < d; ++a) {
          const double z = p[a] * diff[a];
          maha = fma(z, z, maha);
        }
      }
      const double lp = log_norm[c] - 0.5 * maha;
      resp[static_cast<size_t>(c) * n + i] = lp;
      if (lp > best || j == 0) {
        best = lp;
        best_j = j;
      }
    }
    double s = 0.0;
    for (int j = 0; j < k; ++j) {
      const size_t r = static_cast<size_t>(c0 + j) * n + i;
      const double e = exp(resp[r] - best);
      resp[r] = e;
      s += e;
    }
    for (int j = 0; j < k; ++j) resp[static_cast<size_t>(c0 + j) * n + i] /= s;
    lse = best + log(s);
    if (point_ll) point_ll[static_cast<size_t>(model) * n + i] = lse;
    if (labels) labels[static_cast<size_t>(model) * n + i] = best_j;
  }
  __shared__ double red[kEstepThreads];
  red[threadIdx.x] = lse;
  __syncthreads();
  for (int stride = kEstepThreads / 2; stride > 0; stride >>= 1) {
    if (threadIdx.x < stride) red[threadIdx.x] += red[threadIdx.x + stride];
    __syncthreads();
  }
  if (threadIdx.x == 0) partial_ll[static_cast<size_t>(model) * gridDim.x + blockIdx.x] = red[0];
}

// Pass 1 (statistics Σr, Σ r x_a) or pass 2 (Σ r (x_a-μ_a)(x_b-μ_b), b <= a, or diagonal only)
// of component blockIdx.y over the points of chunk blockIdx.x.
__global__ void __launch_bounds__(kStatsThreads)
    gmm_stats_kernel(int pass, const float* __restrict__ x, int n, int d, bool full, int chunk_size,
                     const int32_t* __restrict__ comp_model, const int32_t* __restrict__ active,
                     const double* __restrict__ resp, const double* __restrict__ means,
                     double* __restrict__ partial) {
  const int c = blockIdx.y, chunk = blockIdx.x;
  if (active && !active[comp_model[c]]) return;  // uniform over the block
  __shared__ float xs[kStatsTile * kGmmKernelMaxDim];
  __shared__ double rs[kStatsTile];
  __shared__ double red[kRedSize];
  const int F = stats_count(pass, d, full);
  const int threads = blockDim.x;
  // groups of points: F <= threads -> threads / F subsets, one (statistic, subset) per thread;
  // F > threads -> one subset, each thread owns up to kStatsSlots statistics.
  const int groups = F >= threads ? 1 : threads / F;
  int fa[kStatsSlots], fb[kStatsSlots], grp[kStatsSlots];
  double mua[kStatsSlots], mub[kStatsSlots], acc[kStatsSlots];
  for (int s = 0; s < kStatsSlots; ++s) {
    const int p = threadIdx.x + s * threads;
    acc[s] = 0.0;
    grp[s] = -1;  // unused slot
    fa[s] = fb[s] = 0;
    mua[s] = mub[s] = 0.0;
    if (p >= F * groups) continue;
    const int f = p % F;
    grp[s] = p / F;
    if (pass == 1) {
      fa[s] = f - 1;  // -1: the weight itself
    } else if (full) {
      lower_pair(f, fa[s], fb[s]);
      mua[s] = means[static_cast<size_t>(c) * d + fa[s]];
      mub[s] = means[static_cast<size_t>(c) * d + fb[s]];
    } else {
      fa[s] = fb[s] = f;
      mua[s] = mub[s] = means[static_cast<size_t>(c) * d + f];
    }
  }
  const int begin = chunk * chunk_size;
  const int end = min(n, begin + chunk_size);
  for (int t0 = begin; t0 < end; t0 += kStatsTile) {
    const int len = min(kStatsTile, end - t0);
    __syncthreads();  // the previous tile is consumed
    for (int q = threadIdx.x; q < len * d; q += threads) xs[q] = x[static_cast<size_t>(t0) * d + q];
    for (int q = threadIdx.x; q < len; q += threads)
      rs[q] = resp[static_cast<size_t>(c) * n + t0 + q];
    __syncthreads();
    for (int s = 0; s < kStatsSlots; ++s) {
      if (grp[s] < 0) continue;
      double a = acc[s];
      if (pass == 1) {
        for (int j = grp[s]; j < len; j += groups)
          a += fa[s] < 0 ? rs[j] : rs[j] * static_cast<double>(xs[j * d + fa[s]]);
      } else {
        for (int j = grp[s]; j < len; j += groups) {
          const double da = static_cast<double>(xs[j * d + fa[s]]) - mua[s];
          const double db = static_cast<double>(xs[j * d + fb[s]]) - mub[s];
          a += rs[j] * da * db;
        }
      }
      acc[s] = a;
    }
  }
  __syncthreads();
  for (int s = 0; s < kStatsSlots; ++s)
    if (grp[s] >= 0) red[threadIdx.x + s * threads] = acc[s];
  __syncthreads();
  for (int f = threadIdx.x; f < F; f += threads) {
    double sum = 0.0;
    for (int g = 0; g < groups; ++g) sum += red[g * F + f];
    partial[(static_cast<size_t>(c) * gridDim.x + chunk) * F + f] = sum;
  }
}

__global__ void gmm_reduce_kernel(int pass, int d, bool full, int chunks,
                                  const int32_t* __restrict__ comp_model,
                                  const int32_t* __restrict__ active,
                                  const double* __restrict__ partial, double reg_covar,
                                  double* __restrict__ nk, double* __restrict__ means,
                                  double* __restrict__ cov) {
  const int c = blockIdx.x;
  if (active && !active[comp_model[c]]) return;
  __shared__ double total[kMaxStats];
  const int F = stats_count(pass, d, full);
  for (int f = threadIdx.x; f < F; f += blockDim.x) {
    double s = 0.0;
    for (int ch = 0; ch < chunks; ++ch)
      s += partial[(static_cast<size_t>(c) * chunks + ch) * F + f];
    total[f] = s;
  }
  __syncthreads();
  if (pass == 1) {
    const double n_c = total[0] + kNkGuard;
    for (int a = threadIdx.x; a < d; a += blockDim.x)
      means[static_cast<size_t>(c) * d + a] = total[a + 1] / n_c;
    if (threadIdx.x == 0) nk[c] = n_c;
  } else {
    const double n_c = nk[c];
    for (int f = threadIdx.x; f < F; f += blockDim.x) {
      if (full) {
        int a, b;
        lower_pair(f, a, b);
        const double v = total[f] / n_c + (a == b ? reg_covar : 0.0);
        cov[static_cast<size_t>(c) * d * d + a * d + b] = v;
        cov[static_cast<size_t>(c) * d * d + b * d + a] = v;
      } else {
        cov[static_cast<size_t>(c) * d + f] = total[f] / n_c + reg_covar;
      }
    }
  }
}

__global__ void gmm_finalize_kernel(int n, int num_models, const int32_t* __restrict__ comp_offset,
                                    const double* __restrict__ partial_ll, int ll_blocks,
                                    const double* __restrict__ nk, double tol,
                                    double* __restrict__ weights, double* __restrict__ lower_bound,
                                    int32_t* __restrict__ n_iter, int32_t* __restrict__ converged,
                                    int32_t* __restrict__ active) {
  const int b = blockIdx.x * blockDim.x + threadIdx.x;
  if (b >= num_models || !active[b]) return;
  double s = 0.0;
  for (int blk = 0; blk < ll_blocks; ++blk)
    s += partial_ll[static_cast<size_t>(b) * ll_blocks + blk];
  const double ll = s / n;
  const int c0 = comp_offset[b], c1 = comp_offset[b + 1];
  double total = 0.0;
  for (int c = c0; c < c1; ++c) total += nk[c];
  for (int c = c0; c < c1; ++c) weights[c] = nk[c] / total;
  const int it = n_iter[b] + 1;
  n_iter[b] = it;
  const double previous = lower_bound[b];
  lower_bound[b] = ll;
  if (it > 1 && fabs(ll - previous) < tol) {
    converged[b] = 1;
    active[b] = 0;
  }
}

__global__ void gmm_sample_kernel(int k, int d, bool full, const double* __restrict__ weights,
                                  const double* __restrict__ means, const double* __restrict__ chol,
                                  int n, uint64_t seed, uint32_t offset, float* __restrict__ out,
                                  int32_t* __restrict__ component) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  double total = 0.0;
  for (int c = 0; c < k; ++c) total += weights[c];
  const double target = philox_uniform(seed, RngStream::Gmm, offset, i) * total;
  int c = 0;
  double cum = weights[0];
  while (c + 1 < k && cum < target) cum += weights[++c];
  double z[kGmmKernelMaxDim];
  for (int a = 0; a < d; ++a)
    z[a] = philox_normal(seed, RngStream::Gmm, offset + 1, static_cast<uint64_t>(i) * d + a);
  const double* mu = means + static_cast<size_t>(c) * d;
  for (int a = 0; a < d; ++a) {
    double v = mu[a];
    if (full) {
      const double* l = chol + static_cast<size_t>(c) * d * d;
      for (int b = 0; b <= a; ++b) v += l[a * d + b] * z[b];
    } else {
      v += chol[static_cast<size_t>(c) * d + a] * z[a];
    }
    out[static_cast<size_t>(i) * d + a] = static_cast<float>(v);
  }
  if (component) component[i] = c;
}

void check_dims(const char* op, int n, int d) {
  LK_CHECK(n > 0, op << ": n must be positive, got " << n);
  LK_CHECK(d >= 1 && d <= kGmmKernelMaxDim,
           op << ": d must be in [1, " << kGmmKernelMaxDim << "], got " << d);
}

}  // namespace

void gmm_precisions(const double* weights, const double* covariances, const int32_t* comp_model,
                    const int32_t* comp_offset, const int32_t* active, int num_components, int d,
                    bool full, double* chol, double* prec, double* log_norm, int32_t* bad_component,
                    cudaStream_t stream) {
  check_dims("gmm_precisions", num_components, d);
  LK_CHECK(weights && covariances && comp_model && chol && prec && log_norm && bad_component,
           "gmm_precisions: every pointer but `active` must be non-null");
  LK_CHECK(comp_offset, "gmm_precisions: comp_offset must be non-null");
  gmm_precisions_kernel<<<grid_for(num_components, kSmallThreads), kSmallThreads, 0, stream>>>(
      weights, covariances, comp_model, active, num_components, d, full, chol, prec, log_norm,
      comp_offset, bad_component);
  LK_LAUNCH_CHECK();
}

int gmm_estep_blocks(int n) { return static_cast<int>(grid_for(n, kEstepThreads)); }

void gmm_estep(const float* x, int n, int d, bool full, int num_models, const int32_t* comp_offset,
               const int32_t* active, const double* means, const double* prec,
               const double* log_norm, double* resp, double* partial_ll, double* point_ll,
               int32_t* labels, cudaStream_t stream) {
  check_dims("gmm_estep", n, d);
  LK_CHECK(num_models >= 1 && num_models <= 65535,
           "gmm_estep: 1 to 65535 models per batch, got " << num_models);
  LK_CHECK(x && comp_offset && means && prec && log_norm && resp && partial_ll,
           "gmm_estep: x, comp_offset, means, prec, log_norm, resp, partial_ll must be non-null");
  const dim3 grid(gmm_estep_blocks(n), num_models);
  switch (d) {  // compile-time dimensions for the common small d (see gmm_estep_kernel)
    case 1:
      gmm_estep_kernel<1><<<grid, kEstepThreads, 0, stream>>>(x, n, d, full, comp_offset, active,
                                                              means, prec, log_norm, resp,
                                                              partial_ll, point_ll, labels);
      break;
    case 2:
      gmm_estep_kernel<2><<<grid, kEstepThreads, 0, stream>>>(x, n, d, full, comp_offset, active,
                                                              means, prec, log_norm, resp,
                                                              partial_ll, point_ll, labels);
      break;
    case 3:
      gmm_estep_kernel<3><<<grid, kEstepThreads, 0, stream>>>(x, n, d, full, comp_offset, active,
                                                              means, prec, log_norm, resp,
                                                              partial_ll, point_ll, labels);
      break;
    default:
      gmm_estep_kernel<0><<<grid, kEstepThreads, 0, stream>>>(x, n, d, full, comp_offset, active,
                                                              means, prec, log_norm, resp,
                                                              partial_ll, point_ll, labels);
      break;
  }
  LK_LAUNCH_CHECK();
}

size_t gmm_mstep_scratch_size(int n, int d, bool full, int num_components) {
  const int f1 = stats_count(1, d, full), f2 = stats_count(2, d, full);
  return static_cast<size_t>(num_components) * chunks_for(n) * (f1 > f2 ? f1 : f2);
}

void gmm_mstep(const float* x, int n, int d, bool full, int num_components,
               const int32_t* comp_model, const int32_t* active, const double* resp,
               double reg_covar, double* scratch, double* nk, double* means, double* covariances,
               cudaStream_t stream) {
  check_dims("gmm_mstep", n, d);
  LK_CHECK(num_components >= 1 && num_components <= 65535,
           "gmm_mstep: 1 to 65535 components per batch, got " << num_components);
  LK_CHECK(x && comp_model && resp && scratch && nk && means && covariances,
           "gmm_mstep: every pointer but `active` must be non-null");
  LK_CHECK(reg_covar >= 0, "gmm_mstep: reg_covar must be >= 0, got " << reg_covar);
  const int chunks = chunks_for(n);
  const int chunk_size = (n + chunks - 1) / chunks;
  const dim3 grid(chunks, num_components);
  for (int pass = 1; pass <= 2; ++pass) {
    gmm_stats_kernel<<<grid, kStatsThreads, 0, stream>>>(pass, x, n, d, full, chunk_size,
                                                         comp_model, active, resp, means, scratch);
    LK_LAUNCH_CHECK();
    gmm_reduce_kernel<<<num_components, kStatsThreads, 0, stream>>>(
        pass, d, full, chunks, comp_model, active, scratch, reg_covar, nk, means, covariances);
    LK_LAUNCH_CHECK();
  }
}

void gmm_finalize(int n, int num_models, const int32_t* comp_offset, const double* partial_ll,
                  const double* nk, double tol, double* weights, double* lower_bound,
                  int32_t* n_iter, int32_t* converged, int32_t* active, cudaStream_t stream) {
  LK_CHECK(n > 0 && num_models >= 1, "gmm_finalize: n=" << n << " models=" << num_models);
  LK_CHECK(
      comp_offset && partial_ll && nk && weights && lower_bound && n_iter && converged && active,
      "gmm_finalize: every pointer must be non-null");
  gmm_finalize_kernel<<<grid_for(num_models, kSmallThreads), kSmallThreads, 0, stream>>>(
      n, num_models, comp_offset, partial_ll, gmm_estep_blocks(n), nk, tol, weights, lower_bound,
      n_iter, converged, active);
  LK_LAUNCH_CHECK();
}

void gmm_sample(int k, int d, bool full, const double* weights, const double* means,
                const double* chol, int n, uint64_t seed, uint32_t offset, float* out,
                int32_t* component, cudaStream_t stream) {
  if (n == 0) return;
  check_dims("gmm_sample", k, d);
  LK_CHECK(n > 0, "gmm_sample: n must be >= 0, got " << n);
  LK_CHECK(weights && means && chol && out,
           "gmm_sample: weights, means, chol, out must be non-null");
  gmm_sample_kernel<<<grid_for(n, kSmallThreads), kSmallThreads, 0, stream>>>(
      k, d, full, weights, means, chol, n, seed, offset, out, component);
  LK_LAUNCH_CHECK();
}

}  // namespace latentkit::cuda
