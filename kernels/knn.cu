// Brute-force kNN with a fused top-k (declared in kernels/knn.cuh).
//
// Fused kernel (k <= kKnnMaxFusedK): one warp per query, 8 queries per block. The block stages 32
// candidate rows (one per lane) and the 8 query rows in shared memory, 32 dimensions at a time;
// each lane accumulates the distance of its candidate to its warp's query and inserts it into a
// private list of the k best it has seen, sorted by (distance, index). Candidates reach a lane in
// increasing index order, so inserting after equal distances and rejecting a distance equal to the
// current worst keeps ties on the smaller index. Finally the warp merges its 32 sorted lists: k
// rounds of a warp-wide lexicographic argmin over the list heads. The N x M matrix is never stored.
//
// Fallback (k > kKnnMaxFusedK): batches of queries get full distance rows packed into 64-bit keys
// (float bits << 32 | index; non-negative floats order like their bit patterns, so the key order is
// exactly (distance, index)), sorted per query with CUB's segmented radix sort; the first k kept.
//
// Tests: tests/test_pairwise_gpu.cu. Benchmark: bench/bench_pairwise.cu.
#include <algorithm>
#include <climits>
#include <cub/device/device_segmented_radix_sort.cuh>
#include <vector>

#include "kernels/cuda_check.cuh"
#include "kernels/cuda_resources.cuh"
#include "kernels/knn.cuh"

namespace latentkit::cuda {
namespace {

constexpr int kWarp = 32;
constexpr int kKnnWarpsPerBlock = 8;  // 8 queries per block: 256 threads
constexpr int kKnnDimChunk = 32;      // dimensions staged per pass (d <= 32 in one pass)

template <int KMAX>
__global__ void __launch_bounds__(kWarp* kKnnWarpsPerBlock)
    knn_fused_kernel(const float* __restrict__ Q, int nq, const float* __restrict__ X, int nx,
                     int d, int k, bool exclude_self, int32_t* __restrict__ idx_out,
                     float* __restrict__ dist_out) {
  __shared__ float xs[kWarp][kKnnDimChunk + 1];  // +1: lane reads of xs[lane][c] conflict-free
  __shared__ float qs[kKnnWarpsPerBlock][kKnnDimChunk];
  const int warp = threadIdx.x / kWarp, lane = threadIdx.x % kWarp;
  const int q = blockIdx.x * kKnnWarpsPerBlock + warp;
  const bool active = q < nq;  // uniform within the warp
  float best_d[KMAX];
  int best_i[KMAX];
  int count = 0;
  for (int j0 = 0; j0 < nx; j0 += kWarp) {
    float acc = 0.f;
    for (int c0 = 0; c0 < d; c0 += kKnnDimChunk) {
      for (int e = threadIdx.x; e < kWarp * kKnnDimChunk; e += blockDim.x) {
        const int r = e / kKnnDimChunk, c = e % kKnnDimChunk;
        const int j = j0 + r, cc = c0 + c;
        xs[r][c] = (j < nx && cc < d) ? X[static_cast<size_t>(j) * d + cc] : 0.f;
      }
      for (int e = threadIdx.x; e < kKnnWarpsPerBlock * kKnnDimChunk; e += blockDim.x) {
        const int w = e / kKnnDimChunk, c = e % kKnnDimChunk;
        const int qq = blockIdx.x * kKnnWarpsPerBlock + w, cc = c0 + c;
        qs[w][c] = (qq < nq && cc < d) ? Q[static_cast<size_t>(qq) * d + cc] : 0.f;
      }
      __syncthreads();
      const int cmax = min(kKnnDimChunk, d - c0);
      for (int c = 0; c < cmax; ++c) {
        const float diff = qs[warp][c] - xs[lane][c];
        acc = fmaf(diff, diff, acc);
      }
      __syncthreads();
    }
    const int j = j0 + lane;
    if (active && j < nx && !(exclude_self && j == q) && (count < k || acc < best_d[count - 1])) {
      int pos = count < k ? count : k - 1;
      while (pos > 0 && best_d[pos - 1] > acc) {
        best_d[pos] = best_d[pos - 1];
        best_i[pos] = best_i[pos - 1];
        --pos;
      }
      best_d[pos] = acc;
      best_i[pos] = j;
      if (count < k) ++count;
    }
  }
  if (!active) return;  // whole warp: the shuffles below see all 32 lanes
  int head = 0;
  for (int r = 0; r < k; ++r) {
    const bool has = head < count;
    const float hd = has ? best_d[head] : INFINITY;
    const int hi = has ? best_i[head] : INT_MAX;
    float md = hd;
    int mi = hi;
#pragma unroll
    for (int off = kWarp / 2; off > 0; off /= 2) {
      const float od = __shfl_xor_sync(0xffffffffu, md, off);
      const int oi = __shfl_xor_sync(0xffffffffu, mi, off);
      if (od < md || (od == md && oi < mi)) {
        md = od;
        mi = oi;
      }
    }
    if (has && hi == mi) ++head;  // indices are distinct across lanes: exactly one winner
    if (lane == 0) {
      idx_out[static_cast<size_t>(q) * k + r] = mi;
      dist_out[static_cast<size_t>(q) * k + r] = md;
    }
  }
}

// keys[s*nx + j] for query q0 + s: (bits of ||Q_q - X_j||^2) << 32 | j; the excluded self pair
// gets the largest key so it sorts last.
__global__ void knn_keys_kernel(const float* __restrict__ Q, int q0, int batch,
                                const float* __restrict__ X, int nx, int d, bool exclude_self,
                                unsigned long long* __restrict__ keys) {
  const size_t total = static_cast<size_t>(batch) * nx;
  const size_t stride = static_cast<size_t>(gridDim.x) * blockDim.x;
  for (size_t e = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < total;
       e += stride) {
    const int s = static_cast<int>(e / nx), j = static_cast<int>(e % nx);
    const int q = q0 + s;
    const float* qr = Q + static_cast<size_t>(q) * d;
    const float* xr = X + static_cast<size_t>(j) * d;
    float acc = 0.f;
    for (int c = 0; c < d; ++c) {
      const float diff = qr[c] - xr[c];
      acc = fmaf(diff, diff, acc);
    }
    const unsigned long long bits = (exclude_self && j == q)
                                        ? 0xffffffffull
                                        : static_cast<unsigned long long>(__float_as_uint(acc));
    keys[e] = (bits << 32) | static_cast<unsigned int>(j);
  }
}

__global__ void knn_unpack_kernel(const unsigned long long* __restrict__ sorted, int q0, int batch,
                                  int nx, int k, int32_t* __restrict__ idx_out,
                                  float* __restrict__ dist_out) {
  const size_t total = static_cast<size_t>(batch) * k;
  const size_t stride = static_cast<size_t>(gridDim.x) * blockDim.x;
  for (size_t e = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < total;
       e += stride) {
    const int s = static_cast<int>(e / k), r = static_cast<int>(e % k);
    const unsigned long long key = sorted[static_cast<size_t>(s) * nx + r];
    const size_t o = static_cast<size_t>(q0 + s) * k + r;
    idx_out[o] = static_cast<int32_t>(key & 0xffffffffull);
    dist_out[o] = __uint_as_float(static_cast<unsigned int>(key >> 32));
  }
}

template <int KMAX>
void launch_fused(const float* Q, int nq, const float* X, int nx, int d, int k, bool exclude_self,
                  int32_t* idx_out, float* dist2_out, cudaStream_t stream) {
  const unsigned grid = grid_for(nq, kKnnWarpsPerBlock);
  knn_fused_kernel<KMAX><<<grid, kWarp * kKnnWarpsPerBlock, 0, stream>>>(
      Q, nq, X, nx, d, k, exclude_self, idx_out, dist2_out);
  LK_LAUNCH_CHECK();
}

void knn_sorted(const float* Q, int nq, const float* X, int nx, int d, int k, bool exclude_self,
                int32_t* idx_out, float* dist2_out, cudaStream_t stream) {
  const int batch = static_cast<int>(
      std::max<size_t>(1, std::min<size_t>(nq, kKnnSortBatchElements / static_cast<size_t>(nx))));
  const size_t elems = static_cast<size_t>(batch) * nx;
  DeviceBuffer<unsigned long long> keys_in(elems), keys_out(elems);
  std::vector<int> offsets_host(batch + 1);
  for (int s = 0; s <= batch; ++s) offsets_host[s] = s * nx;  // batch*nx < 2^31 by the bound
  DeviceBuffer<int> offsets(offsets_host.size());
  LK_CUDA_CHECK(cudaMemcpyAsync(offsets.data(), offsets_host.data(),
                                sizeof(int) * offsets_host.size(), cudaMemcpyHostToDevice, stream));
  size_t temp_bytes = 0;
  LK_CUDA_CHECK(cub::DeviceSegmentedRadixSort::SortKeys(
      nullptr, temp_bytes, keys_in.data(), keys_out.data(), static_cast<int>(elems), batch,
      offsets.data(), offsets.data() + 1, 0, 64, stream));
  DeviceBuffer<unsigned char> temp(std::max<size_t>(temp_bytes, 1));
  for (int q0 = 0; q0 < nq; q0 += batch) {
    const int b = std::min(batch, nq - q0);
    const size_t n_el = static_cast<size_t>(b) * nx;
    knn_keys_kernel<<<grid_stride_blocks(n_el), kGridStrideThreads, 0, stream>>>(
        Q, q0, b, X, nx, d, exclude_self, keys_in.data());
    LK_LAUNCH_CHECK();
    LK_CUDA_CHECK(cub::DeviceSegmentedRadixSort::SortKeys(
        temp.data(), temp_bytes, keys_in.data(), keys_out.data(), static_cast<int>(n_el), b,
        offsets.data(), offsets.data() + 1, 0, 64, stream));
    knn_unpack_kernel<<<grid_stride_blocks(static_cast<size_t>(b) * k), kGridStrideThreads, 0,
                        stream>>>(keys_out.data(), q0, b, nx, k, idx_out, dist2_out);
    LK_LAUNCH_CHECK();
  }
  // The scratch buffers (and the pageable offsets source) are freed on return: wait for the work.
  LK_CUDA_CHECK(cudaStreamSynchronize(stream));
}

}  // namespace

void knn(const float* Q, int nq, const float* X, int nx, int d, int k, bool exclude_self,
         int32_t* idx_out, float* dist2_out, cudaStream_t stream) {
  const int available = exclude_self ? nx - 1 : nx;
  LK_CHECK(d >= 1 && nq >= 0 && k >= 1 && k <= available,
           "knn: need d >= 1 and 1 <= k <= " << available << ", got d=" << d << " k=" << k);
  LK_CHECK(!exclude_self || nq == nx,
           "knn: exclude_self needs Q == X, got nq=" << nq << " nx=" << nx);
  if (nq == 0) return;
  LK_CHECK(Q && X && idx_out && dist2_out, "knn: null pointer");
  if (k <= 16)
    return launch_fused<16>(Q, nq, X, nx, d, k, exclude_self, idx_out, dist2_out, stream);
  if (k <= 32)
    return launch_fused<32>(Q, nq, X, nx, d, k, exclude_self, idx_out, dist2_out, stream);
  if (k <= 64)
    return launch_fused<64>(Q, nq, X, nx, d, k, exclude_self, idx_out, dist2_out, stream);
  if (k <= 128)
    return launch_fused<128>(Q, nq, X, nx, d, k, exclude_self, idx_out, dist2_out, stream);
  if (k <= kKnnMaxFusedK)
    return launch_fused<kKnnMaxFusedK>(Q, nq, X, nx, d, k, exclude_self, idx_out, dist2_out,
                                       stream);
  knn_sorted(Q, nq, X, nx, d, k, exclude_self, idx_out, dist2_out, stream);
}

}  // namespace latentkit::cuda
