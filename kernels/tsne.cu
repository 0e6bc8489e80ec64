// t-SNE kernels and launchers (declared in kernels/tsne.cuh) but the FFT repulsion
// (kernels/tsne_fft.cu). Semantics: latentkit::ref::tsne_* (host/ref/tsne.cpp).
//  - all pairs, calibration, attraction, KL: one thread per row, float64 accumulation, so each
//    row's sum runs in the reference's order;
//  - exact repulsion: one thread per row i, the block walks all j through shared-memory tiles of
//    kTile points; q and the tile's partial sums in float (a 256-term float sum: relative error
//    ~1e-5 at worst), the running sums over tiles in float64; O(n^2) time, O(n) memory, never an
//    n x n matrix;
//  - symmetrisation: both directions of every kNN entry as (row * n + col) keys, sorted (Thrust,
//    stable) and merged with reduce_by_key in float64;
//  - every reduction to a scalar (Z, KL, sum of P) by sum_doubles: one block, fixed order, so the
//    same input gives the same bits on every run.
// Tests: tests/test_tsne_gpu.cu. Benchmark: bench/bench_tsne.cu.
#include <math_constants.h>
#include <thrust/device_ptr.h>
#include <thrust/execution_policy.h>
#include <thrust/reduce.h>
#include <thrust/sort.h>

#include <exception>
#include <limits>

#include "kernels/cuda_check.cuh"
#include "kernels/tsne.cuh"

namespace latentkit::cuda {
namespace {

constexpr int kThreads = 256;  // threads per block of the per-row kernels (8 warps)
constexpr int kTile = 256;     // points per shared-memory tile of the exact repulsion (= kThreads)
constexpr int kSumThreads = 1024;  // the one block of sum_doubles (the most a block may have)

__global__ void all_pairs_kernel(const float* __restrict__ X, int n, int d,
                                 int32_t* __restrict__ idx, float* __restrict__ dist2) {
  const size_t k = static_cast<size_t>(n) - 1;
  const size_t total = static_cast<size_t>(n) * k;
  for (size_t e = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < total;
       e += static_cast<size_t>(gridDim.x) * blockDim.x) {
    const int i = static_cast<int>(e / k);
    const int m = static_cast<int>(e % k);
    const int j = m < i ? m : m + 1;  // every j != i, ascending
    double s = 0.0;
    for (int a = 0; a < d; ++a) {
      const double diff = static_cast<double>(X[static_cast<size_t>(i) * d + a]) -
                          static_cast<double>(X[static_cast<size_t>(j) * d + a]);
      s += diff * diff;
    }
    idx[e] = j;
    dist2[e] = static_cast<float>(s);
  }
}

__global__ void calibrate_kernel(const float* __restrict__ dist2, int n, int k,
                                 double desired_entropy, float* __restrict__ p_cond,
                                 float* __restrict__ beta_out) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const float* d = dist2 + static_cast<size_t>(i) * k;
  // Distances relative to the row's nearest, as the reference: exp() never underflows.
  double d_min = CUDART_INF;
  for (int j = 0; j < k; ++j) d_min = fmin(d_min, static_cast<double>(d[j]));
  double beta = 1.0;
  double beta_min = -CUDART_INF, beta_max = CUDART_INF;
  double sum_p = 0.0, beta_eval = beta;
  for (int step = 0; step < 100; ++step) {  // scikit-learn's n_steps, as the reference
    beta_eval = beta;
    sum_p = 0.0;
    double sum_de = 0.0;
    for (int j = 0; j < k; ++j) {
      const double dj = static_cast<double>(d[j]) - d_min;
      const double e = exp(-dj * beta);
      sum_p += e;
      sum_de += dj * e;
    }
    const double entropy = log(sum_p) + beta * (sum_de / sum_p);
    const double diff = entropy - desired_entropy;
    if (fabs(diff) <= 1e-5) break;  // scikit-learn's PERPLEXITY_TOLERANCE, as the reference
    if (diff > 0) {
      beta_min = beta;
      beta = isinf(beta_max) ? beta * 2.0 : (beta + beta_max) / 2.0;
    } else {
      beta_max = beta;
      beta = isinf(beta_min) ? beta / 2.0 : (beta + beta_min) / 2.0;
    }
  }
  // The probabilities of the last evaluated beta (the loop kept only their sums: recompute).
  for (int j = 0; j < k; ++j)
    p_cond[static_cast<size_t>(i) * k + j] =
        static_cast<float>(exp(-(static_cast<double>(d[j]) - d_min) * beta_eval) / sum_p);
  beta_out[i] = static_cast<float>(beta_eval);
}

__global__ void symmetric_entries_kernel(const int32_t* __restrict__ idx,
                                         const float* __restrict__ p_cond, int n, int k,
                                         long long* __restrict__ keys, double* __restrict__ vals,
                                         int* __restrict__ bad_index) {
  const size_t entries = static_cast<size_t>(n) * k;
  for (size_t e = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < entries;
       e += static_cast<size_t>(gridDim.x) * blockDim.x) {
    const long long i = static_cast<long long>(e / k);
    long long j = idx[e];
    if (j < 0 || j >= n) {
      *bad_index = 1;
      j = i;  // keeps the key valid; the launcher throws
    }
    keys[e] = i * n + j;
    keys[entries + e] = j * n + i;
    vals[e] = static_cast<double>(p_cond[e]);
    vals[entries + e] = static_cast<double>(p_cond[e]);
  }
}

// row_ptr[r] = first position of row r in the sorted keys (binary search), r = 0..n.
__global__ void row_starts_kernel(const long long* __restrict__ keys, int nnz, int n,
                                  int32_t* __restrict__ row_ptr) {
  const int r = blockIdx.x * blockDim.x + threadIdx.x;
  if (r > n) return;
  const long long target = static_cast<long long>(r) * n;
  int lo = 0, hi = nnz;
  while (lo < hi) {
    const int mid = lo + (hi - lo) / 2;
    if (keys[mid] < target)
      lo = mid + 1;
    else
      hi = mid;
  }
  row_ptr[r] = lo;
}

// 64-bit index: nnz may be up to 2^31 - 2 (tsne_symmetrize's bound), where an int index would
// overflow on its last grid stride.
__global__ void csr_values_kernel(const long long* __restrict__ keys,
                                  const double* __restrict__ sums, int nnz, int n,
                                  const double* __restrict__ total, int32_t* __restrict__ col,
                                  float* __restrict__ val) {
  const double t = *total;
  const size_t count = static_cast<size_t>(nnz);
  for (size_t e = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < count;
       e += static_cast<size_t>(gridDim.x) * blockDim.x) {
    col[e] = static_cast<int32_t>(keys[e] % n);
    val[e] = static_cast<float>(sums[e] / t);
  }
}

template <int DIMS>
__global__ void attractive_kernel(const int32_t* __restrict__ row_ptr,
                                  const int32_t* __restrict__ col, const float* __restrict__ val,
                                  const float* __restrict__ Y, int n, float* __restrict__ attr) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  double yi[DIMS], acc[DIMS];
  for (int a = 0; a < DIMS; ++a) {
    yi[a] = Y[static_cast<size_t>(i) * DIMS + a];
    acc[a] = 0.0;
  }
  for (int32_t e = row_ptr[i]; e < row_ptr[i + 1]; ++e) {
    const float* yj = Y + static_cast<size_t>(col[e]) * DIMS;
    double diff[DIMS], r2 = 0.0;
    for (int a = 0; a < DIMS; ++a) {
      diff[a] = yi[a] - static_cast<double>(yj[a]);
      r2 += diff[a] * diff[a];
    }
    const double pq = static_cast<double>(val[e]) / (1.0 + r2);
    for (int a = 0; a < DIMS; ++a) acc[a] += pq * diff[a];
  }
  for (int a = 0; a < DIMS; ++a)
    attr[static_cast<size_t>(i) * DIMS + a] = static_cast<float>(acc[a]);
}

template <int DIMS>
__global__ void __launch_bounds__(kTile)
    repulsive_exact_kernel(const float* __restrict__ Y, int n, float* __restrict__ rep,
                           double* __restrict__ z_rows) {
  __shared__ float tile[kTile * DIMS];
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  float yi[DIMS];
  for (int a = 0; a < DIMS; ++a) yi[a] = i < n ? Y[static_cast<size_t>(i) * DIMS + a] : 0.f;
  double acc[DIMS] = {};
  double z = 0.0;
  for (int base = 0; base < n; base += kTile) {
    const int count = min(kTile, n - base);
    for (int t = threadIdx.x; t < count * DIMS; t += blockDim.x)
      tile[t] = Y[static_cast<size_t>(base) * DIMS + t];
    __syncthreads();
    if (i < n) {
      float tacc[DIMS] = {};
      float tz = 0.f;
      for (int j = 0; j < count; ++j) {
        float diff[DIMS], r2 = 0.f;
        for (int a = 0; a < DIMS; ++a) {
          diff[a] = yi[a] - tile[j * DIMS + a];
          r2 += diff[a] * diff[a];
        }
        const float q = (base + j == i) ? 0.f : 1.f / (1.f + r2);  // no self term
        tz += q;
        for (int a = 0; a < DIMS; ++a) tacc[a] += q * q * diff[a];
      }
      z += tz;
      for (int a = 0; a < DIMS; ++a) acc[a] += tacc[a];
    }
    __syncthreads();
  }
  if (i < n) {
    for (int a = 0; a < DIMS; ++a)
      rep[static_cast<size_t>(i) * DIMS + a] = static_cast<float>(acc[a]);
    z_rows[i] = z;
  }
}

__global__ void bounds_kernel(const float* __restrict__ Y, int n, int dims,
                              float* __restrict__ lo_hi) {
  __shared__ float lo[kThreads][3];
  __shared__ float hi[kThreads][3];
  float l[3] = {CUDART_INF_F, CUDART_INF_F, CUDART_INF_F};
  float h[3] = {-CUDART_INF_F, -CUDART_INF_F, -CUDART_INF_F};
  for (int i = threadIdx.x; i < n; i += blockDim.x)
    for (int a = 0; a < dims; ++a) {
      const float v = Y[static_cast<size_t>(i) * dims + a];
      l[a] = fminf(l[a], v);
      h[a] = fmaxf(h[a], v);
    }
  for (int a = 0; a < 3; ++a) {
    lo[threadIdx.x][a] = l[a];
    hi[threadIdx.x][a] = h[a];
  }
  __syncthreads();
  for (int half = kThreads / 2; half > 0; half /= 2) {
    if (threadIdx.x < half)
      for (int a = 0; a < 3; ++a) {
        lo[threadIdx.x][a] = fminf(lo[threadIdx.x][a], lo[threadIdx.x + half][a]);
        hi[threadIdx.x][a] = fmaxf(hi[threadIdx.x][a], hi[threadIdx.x + half][a]);
      }
    __syncthreads();
  }
  if (threadIdx.x == 0)
    for (int a = 0; a < dims; ++a) {
      lo_hi[a] = lo[0][a];
      lo_hi[dims + a] = hi[0][a];
    }
}

template <int DIMS>
__global__ void kl_rows_kernel(const int32_t* __restrict__ row_ptr, const int32_t* __restrict__ col,
                               const float* __restrict__ val, const float* __restrict__ Y, int n,
                               double* __restrict__ kl_rows, double* __restrict__ p_rows) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  double kl = 0.0, ps = 0.0;
  for (int32_t e = row_ptr[i]; e < row_ptr[i + 1]; ++e) {
    const double p = static_cast<double>(val[e]);
    if (p <= 0) continue;
    double r2 = 0.0;
    for (int a = 0; a < DIMS; ++a) {
      const double diff = static_cast<double>(Y[static_cast<size_t>(i) * DIMS + a]) -
                          static_cast<double>(Y[static_cast<size_t>(col[e]) * DIMS + a]);
      r2 += diff * diff;
    }
    kl += p * (log(p) + log1p(r2));
    ps += p;
  }
  kl_rows[i] = kl;
  p_rows[i] = ps;
}

// out may be kl_sum itself (one thread reads, then writes): no __restrict__ here.
__global__ void kl_finish_kernel(const double* kl_sum, const double* p_sum, const double* z,
                                 double* out) {
  *out = *kl_sum + *p_sum * log(*z);
}

__global__ void update_kernel(float* __restrict__ Y, const float* __restrict__ attr,
                              const float* __restrict__ rep, const double* __restrict__ z,
                              size_t count, float exaggeration, float momentum, float learning_rate,
                              float min_gain, float* __restrict__ gains,
                              float* __restrict__ update) {
  const double inv_z = 1.0 / *z;
  for (size_t e = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < count;
       e += static_cast<size_t>(gridDim.x) * blockDim.x) {
    const double grad =
        4.0 * (static_cast<double>(exaggeration) * attr[e] - static_cast<double>(rep[e]) * inv_z);
    const double u = static_cast<double>(update[e]);
    float gain = gains[e];
    gain = (u * grad < 0.0) ? gain + 0.2f : gain * 0.8f;
    gain = fmaxf(gain, min_gain);
    gains[e] = gain;
    const float new_update = static_cast<float>(static_cast<double>(momentum) * u -
                                                static_cast<double>(learning_rate) * gain * grad);
    update[e] = new_update;
    Y[e] += new_update;
  }
}

__global__ void sum_doubles_kernel(const double* __restrict__ v, int n, double* __restrict__ out) {
  __shared__ double part[kSumThreads];
  double s = 0.0;
  for (int i = threadIdx.x; i < n; i += blockDim.x) s += v[i];
  part[threadIdx.x] = s;
  __syncthreads();
  for (int half = kSumThreads / 2; half > 0; half /= 2) {
    if (threadIdx.x < half) part[threadIdx.x] += part[threadIdx.x + half];
    __syncthreads();
  }
  if (threadIdx.x == 0) *out = part[0];
}

void check_dims(const char* op, int n, int dims) {
  LK_CHECK(n >= 1, op << ": need n >= 1, got " << n);
  LK_CHECK(dims == 2 || dims == 3, op << ": dims must be 2 or 3, got " << dims);
}

}  // namespace

void sum_doubles(const double* v, int n, double* out, cudaStream_t stream) {
  LK_CHECK(v && out && n >= 0, "sum_doubles: null pointer or negative count");
  sum_doubles_kernel<<<1, kSumThreads, 0, stream>>>(v, n, out);
  LK_LAUNCH_CHECK();
}

void tsne_all_pairs(const float* X, int n, int d, int32_t* idx, float* dist2, cudaStream_t stream) {
  LK_CHECK(n >= 2 && d >= 1, "tsne_all_pairs: need n >= 2 and d >= 1, got n=" << n << " d=" << d);
  LK_CHECK(X && idx && dist2, "tsne_all_pairs: every pointer must be non-null");
  const size_t total = static_cast<size_t>(n) * (n - 1);
  all_pairs_kernel<<<grid_stride_blocks(total), kGridStrideThreads, 0, stream>>>(X, n, d, idx,
                                                                                 dist2);
  LK_LAUNCH_CHECK();
}

void tsne_calibrate(const float* dist2, int n, int k, float perplexity, float* p_cond, float* beta,
                    cudaStream_t stream) {
  LK_CHECK(n >= 1 && k >= 1, "tsne_calibrate: need n >= 1 and k >= 1");
  LK_CHECK(perplexity > 0, "tsne_calibrate: perplexity must be positive");
  LK_CHECK(dist2 && p_cond && beta, "tsne_calibrate: every pointer must be non-null");
  calibrate_kernel<<<grid_for(n, kThreads), kThreads, 0, stream>>>(
      dist2, n, k, log(static_cast<double>(perplexity)), p_cond, beta);
  LK_LAUNCH_CHECK();
}

TsneCsrDevice tsne_symmetrize(const int32_t* idx, const float* p_cond, int n, int k,
                              cudaStream_t stream) {
  LK_CHECK(n >= 1 && k >= 1, "tsne_symmetrize: need n >= 1 and k >= 1");
  LK_CHECK(idx && p_cond, "tsne_symmetrize: every pointer must be non-null");
  const size_t entries = static_cast<size_t>(n) * k;
  LK_CHECK(2 * entries < static_cast<size_t>(std::numeric_limits<int32_t>::max()),
           "tsne_symmetrize: more than 2^31 nonzeros; use fewer points or a lower perplexity");
  DeviceBuffer<long long> keys(2 * entries), out_keys(2 * entries);
  DeviceBuffer<double> vals(2 * entries), out_vals(2 * entries);
  DeviceBuffer<int> bad(1);
  LK_CUDA_CHECK(cudaMemsetAsync(bad.data(), 0, sizeof(int), stream));
  symmetric_entries_kernel<<<grid_stride_blocks(entries), kGridStrideThreads, 0, stream>>>(
      idx, p_cond, n, k, keys.data(), vals.data(), bad.data());
  LK_LAUNCH_CHECK();
  const auto policy = thrust::cuda::par.on(stream);
  thrust::device_ptr<long long> kb(keys.data()), ok(out_keys.data());
  thrust::device_ptr<double> vb(vals.data()), ov(out_vals.data());
  int nnz = 0;
  try {
    thrust::stable_sort_by_key(policy, kb, kb + 2 * entries, vb);
    const auto ends = thrust::reduce_by_key(policy, kb, kb + 2 * entries, vb, ok, ov);
    nnz = static_cast<int>(ends.first - ok);
  } catch (const std::exception& e) {  // thrust::system_error, bad_alloc
    LK_CHECK(false, "tsne_symmetrize: thrust sort / reduce_by_key of "
                        << 2 * entries << " entries failed: " << e.what());
  }
  int bad_host = 0;
  LK_CUDA_CHECK(
      cudaMemcpyAsync(&bad_host, bad.data(), sizeof(int), cudaMemcpyDeviceToHost, stream));
  LK_CUDA_CHECK(cudaStreamSynchronize(stream));
  LK_CHECK(bad_host == 0, "tsne_symmetrize: a neighbour index is outside [0, " << n << ")");
  TsneCsrDevice csr;
  csr.n = n;
  csr.nnz = nnz;
  csr.row_ptr = DeviceBuffer<int32_t>(static_cast<size_t>(n) + 1);
  csr.col = DeviceBuffer<int32_t>(nnz);
  csr.val = DeviceBuffer<float>(nnz);
  DeviceBuffer<double> total(1);
  sum_doubles(out_vals.data(), nnz, total.data(), stream);
  row_starts_kernel<<<grid_for(n + 1, kThreads), kThreads, 0, stream>>>(out_keys.data(), nnz, n,
                                                                        csr.row_ptr.data());
  LK_LAUNCH_CHECK();
  csr_values_kernel<<<grid_stride_blocks(nnz), kGridStrideThreads, 0, stream>>>(
      out_keys.data(), out_vals.data(), nnz, n, total.data(), csr.col.data(), csr.val.data());
  LK_LAUNCH_CHECK();
  // The scratch buffers are freed on return: finish the work that reads them first.
  LK_CUDA_CHECK(cudaStreamSynchronize(stream));
  return csr;
}

void tsne_attractive(const int32_t* row_ptr, const int32_t* col, const float* val, const float* Y,
                     int n, int dims, float* attr, cudaStream_t stream) {
  check_dims("tsne_attractive", n, dims);
  LK_CHECK(row_ptr && col && val && Y && attr, "tsne_attractive: every pointer must be non-null");
  if (dims == 2)
    attractive_kernel<2>
        <<<grid_for(n, kThreads), kThreads, 0, stream>>>(row_ptr, col, val, Y, n, attr);
  else
    attractive_kernel<3>
        <<<grid_for(n, kThreads), kThreads, 0, stream>>>(row_ptr, col, val, Y, n, attr);
  LK_LAUNCH_CHECK();
}

void tsne_repulsive_exact(const float* Y, int n, int dims, float* rep, double* z_rows,
                          double* z_out, cudaStream_t stream) {
  check_dims("tsne_repulsive_exact", n, dims);
  LK_CHECK(Y && rep && z_rows && z_out, "tsne_repulsive_exact: every pointer must be non-null");
  if (dims == 2)
    repulsive_exact_kernel<2><<<grid_for(n, kTile), kTile, 0, stream>>>(Y, n, rep, z_rows);
  else
    repulsive_exact_kernel<3><<<grid_for(n, kTile), kTile, 0, stream>>>(Y, n, rep, z_rows);
  LK_LAUNCH_CHECK();
  sum_doubles(z_rows, n, z_out, stream);
}

void tsne_bounds(const float* Y, int n, int dims, float* lo_hi, cudaStream_t stream) {
  check_dims("tsne_bounds", n, dims);
  LK_CHECK(Y && lo_hi, "tsne_bounds: every pointer must be non-null");
  bounds_kernel<<<1, kThreads, 0, stream>>>(Y, n, dims, lo_hi);
  LK_LAUNCH_CHECK();
}

void tsne_kl(const int32_t* row_ptr, const int32_t* col, const float* val, const float* Y, int n,
             int dims, const double* z, double* scratch, double* kl_out, cudaStream_t stream) {
  check_dims("tsne_kl", n, dims);
  LK_CHECK(row_ptr && col && val && Y && z && scratch && kl_out,
           "tsne_kl: every pointer must be non-null");
  double* kl_rows = scratch;
  double* p_rows = scratch + n;
  if (dims == 2)
    kl_rows_kernel<2>
        <<<grid_for(n, kThreads), kThreads, 0, stream>>>(row_ptr, col, val, Y, n, kl_rows, p_rows);
  else
    kl_rows_kernel<3>
        <<<grid_for(n, kThreads), kThreads, 0, stream>>>(row_ptr, col, val, Y, n, kl_rows, p_rows);
  LK_LAUNCH_CHECK();
  sum_doubles(kl_rows, n, kl_out, stream);
  DeviceBuffer<double> p_sum(1);
  sum_doubles(p_rows, n, p_sum.data(), stream);
  kl_finish_kernel<<<1, 1, 0, stream>>>(kl_out, p_sum.data(), z, kl_out);
  LK_LAUNCH_CHECK();
  LK_CUDA_CHECK(cudaStreamSynchronize(stream));  // p_sum is freed on return
}

void tsne_update(float* Y, const float* attr, const float* rep, const double* z, size_t count,
                 float exaggeration, float momentum, float learning_rate, float min_gain,
                 float* gains, float* update, cudaStream_t stream) {
  LK_CHECK(count >= 1, "tsne_update: empty embedding");
  LK_CHECK(Y && attr && rep && z && gains && update, "tsne_update: every pointer must be non-null");
  update_kernel<<<grid_stride_blocks(count), kGridStrideThreads, 0, stream>>>(
      Y, attr, rep, z, count, exaggeration, momentum, learning_rate, min_gain, gains, update);
  LK_LAUNCH_CHECK();
}

}  // namespace latentkit::cuda
