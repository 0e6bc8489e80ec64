// KMeans assign / update and per-point silhouette kernels (declared in kernels/kmeans.cuh).
//  assign: one thread per point; the centres are staged in shared memory (when k*d floats fit in
//    kAssignSmemFloats, else read through L1 from global memory); argmin with ties to the smaller
//    index; block partials of inertia (double) and changed labels by a fixed tree.
//  update: points in chunks of kUpdateChunk; a block per chunk, a thread per (cluster, column or
//    count) slot walking its chunk in point order, partials per chunk; then a thread per slot sums
//    the chunk partials in chunk order: no atomics, the same bits every run.
//  batched (the k sweep): the same assign / update kernels with blockIdx.y selecting a problem
//    {k, first centre row, slot} from a device table; a single call is a batch of one.
//  silhouette: one thread per point over the cluster-sorted points; per cluster a float64 sum of
//    sqrt(d2); a = own sum / (own count - 1), b = min over other non-empty clusters of the mean.
//    Divisions as products with correctly rounded reciprocals (__drcp_rn): one extra rounding in
//    float64, and no division slow path (which spilled registers).
// Tests: tests/test_kmeans_gpu.cu. Benchmark: bench/bench_pairwise.cu.
#include <cfloat>
#include <climits>

#include "kernels/cuda_check.cuh"
#include "kernels/kmeans.cuh"

namespace latentkit::cuda {
namespace {

constexpr int kAssignThreads = 256;
// Centres staged in dynamic shared memory up to 10 Ki floats (40 KiB: with the 3 KiB of reduction
// arrays under the 48 KiB a block may use without opting in); sized k*d, so small k costs little.
constexpr int kAssignSmemFloats = 10 * 1024;
constexpr int kUpdateChunk = 1024;  // points per update block: ~1000 blocks at 1M points
constexpr int kUpdateThreads = 256;
constexpr int kSilThreads = 128;

// The problem a block works on: a single one (meta == nullptr: k centres from row 0, slot 0) or
// problem blockIdx.y of a batch, meta[3b .. 3b+2] = {k, first centre row, slot}.
struct Problem {
  int k, first, slot;
};
__device__ __forceinline__ Problem problem_of(const int* __restrict__ meta, int k_single) {
  if (!meta) return {k_single, 0, 0};
  const int* p = meta + 3 * blockIdx.y;
  return {p[0], p[1], p[2]};
}

// prev_labels may alias labels (the batched sweep assigns in place): each thread reads its
// point's previous label before it writes the new one, so neither pointer is __restrict__.
__global__ void __launch_bounds__(kAssignThreads)
    assign_kernel(const float* __restrict__ X, int n, int d, const float* __restrict__ C_all,
                  const int* __restrict__ meta, int k_single, bool centres_in_smem,
                  const int32_t* prev_labels_all, int32_t* labels_all,
                  float* __restrict__ mindist_all, double* __restrict__ block_inertia,
                  int* __restrict__ block_changed) {
  extern __shared__ float cs[];
  __shared__ double red_d[kAssignThreads];
  __shared__ int red_i[kAssignThreads];
  const Problem pb = problem_of(meta, k_single);
  const int k = pb.k;
  const float* C = C_all + static_cast<size_t>(pb.first) * d;
  const size_t slot_off = static_cast<size_t>(pb.slot) * n;
  const int32_t* prev_labels = prev_labels_all ? prev_labels_all + slot_off : nullptr;
  int32_t* labels = labels_all + slot_off;
  float* mindist = mindist_all + slot_off;
  if (centres_in_smem)
    for (int e = threadIdx.x; e < k * d; e += blockDim.x) cs[e] = C[e];
  __syncthreads();
  const float* cent = centres_in_smem ? cs : C;
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  double my_inertia = 0.0;
  int my_changed = 0;
  if (i < n) {
    const float* x = X + static_cast<size_t>(i) * d;
    float best = FLT_MAX;
    int best_c = 0;
    for (int c = 0; c < k; ++c) {
      const float* cc = cent + static_cast<size_t>(c) * d;
      float s = 0.f;
      for (int j = 0; j < d; ++j) {
        const float diff = x[j] - cc[j];
        s = fmaf(diff, diff, s);
      }
      if (s < best) {
        best = s;
        best_c = c;
      }
    }
    if (prev_labels && prev_labels[i] != best_c) my_changed = 1;
    labels[i] = best_c;
    mindist[i] = best;
    my_inertia = best;
  }
  red_d[threadIdx.x] = my_inertia;
  red_i[threadIdx.x] = my_changed;
  __syncthreads();
  for (int half = kAssignThreads / 2; half > 0; half /= 2) {
    if (threadIdx.x < half) {
      red_d[threadIdx.x] += red_d[threadIdx.x + half];
      red_i[threadIdx.x] += red_i[threadIdx.x + half];
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    const size_t out = static_cast<size_t>(blockIdx.y) * gridDim.x + blockIdx.x;
    block_inertia[out] = red_d[0];
    block_changed[out] = red_i[0];
  }
}

// The problem's partials start at partial + first * (d + 1) * chunks (a single problem: at 0):
// partial[chunk * slots + s], slot s = c*(d+1) + j: j < d the column sum, j == d the count.
__global__ void __launch_bounds__(kUpdateThreads)
    update_partial_kernel(const float* __restrict__ X, int n, int d,
                          const int32_t* __restrict__ labels_all, const int* __restrict__ meta,
                          int k_single, double* __restrict__ partial_all) {
  const Problem pb = problem_of(meta, k_single);
  const int slots = pb.k * (d + 1);
  const int32_t* labels = labels_all + static_cast<size_t>(pb.slot) * n;
  double* partial = partial_all + static_cast<size_t>(pb.first) * (d + 1) * gridDim.x;
  const int begin = blockIdx.x * kUpdateChunk;
  const int end = min(n, begin + kUpdateChunk);
  for (int s = threadIdx.x; s < slots; s += blockDim.x) {
    const int c = s / (d + 1), j = s % (d + 1);
    double acc = 0.0;
    for (int i = begin; i < end; ++i)
      if (labels[i] == c)
        acc += j < d ? static_cast<double>(X[static_cast<size_t>(i) * d + j]) : 1.0;
    partial[static_cast<size_t>(blockIdx.x) * slots + s] = acc;
  }
}

__global__ void update_reduce_kernel(const double* __restrict__ partial_all, int chunks,
                                     const int* __restrict__ meta, int k_single, int d,
                                     double* __restrict__ sums_all,
                                     double* __restrict__ counts_all) {
  const Problem pb = problem_of(meta, k_single);
  const int slots = pb.k * (d + 1);
  const int s = blockIdx.x * blockDim.x + threadIdx.x;
  if (s >= slots) return;
  const double* partial = partial_all + static_cast<size_t>(pb.first) * (d + 1) * chunks;
  double acc = 0.0;
  for (int b = 0; b < chunks; ++b) acc += partial[static_cast<size_t>(b) * slots + s];
  const int c = s / (d + 1), j = s % (d + 1);
  if (j < d) {
    sums_all[(static_cast<size_t>(pb.first) + c) * d + j] = acc;
  } else {
    counts_all[pb.first + c] = acc;
  }
}

__global__ void __launch_bounds__(kSilThreads)
    silhouette_kernel(const float* __restrict__ Xs, int n, int d,
                      const int32_t* __restrict__ labels_sorted, const int32_t* __restrict__ begin,
                      int k, double* __restrict__ s_out) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const float* x = Xs + static_cast<size_t>(i) * d;
  const int own = labels_sorted[i];
  double a = 0.0, b = DBL_MAX;
  bool has_other = false;
  for (int c = 0; c < k; ++c) {
    const int r0 = begin[c], r1 = begin[c + 1];
    if (r1 == r0) continue;
    double total = 0.0;
    for (int r = r0; r < r1; ++r) {
      const float* y = Xs + static_cast<size_t>(r) * d;
      float d2 = 0.f;
      for (int j = 0; j < d; ++j) {
        const float diff = x[j] - y[j];
        d2 = fmaf(diff, diff, d2);
      }
      total += static_cast<double>(sqrtf(d2));
    }
    const int cnt = r1 - r0;
    if (c == own) {
      a = cnt > 1 ? total * __drcp_rn(cnt - 1.0) : 0.0;
    } else {
      b = fmin(b, total * __drcp_rn(static_cast<double>(cnt)));
      has_other = true;
    }
  }
  const int own_count = begin[own + 1] - begin[own];
  double s = 0.0;
  if (own_count > 1 && has_other) {
    const double den = fmax(a, b);
    s = den > 0 ? (b - a) * __drcp_rn(den) : 0.0;
  }
  s_out[i] = s;
}

}  // namespace

int kmeans_assign_blocks(int n) { return static_cast<int>(grid_for(n, kAssignThreads)); }

namespace {
void launch_assign(const float* X, int n, int d, const float* C, const int* meta, int count,
                   int k_max, const int32_t* prev_labels, int32_t* labels, float* mindist,
                   double* block_inertia, int* block_changed, cudaStream_t stream) {
  LK_CHECK(X && C && labels && mindist && block_inertia && block_changed,
           "kmeans_assign: null pointer");
  LK_CHECK(count >= 1 && count <= 65535, "kmeans_assign: " << count << " problems (grid y)");
  const bool in_smem = static_cast<long long>(k_max) * d <= kAssignSmemFloats;
  const size_t smem = in_smem ? sizeof(float) * k_max * d : 0;
  const dim3 grid(kmeans_assign_blocks(n), count);
  assign_kernel<<<grid, kAssignThreads, smem, stream>>>(
      X, n, d, C, meta, k_max, in_smem, prev_labels, labels, mindist, block_inertia, block_changed);
  LK_LAUNCH_CHECK();
}

void launch_update(const float* X, int n, int d, const int32_t* labels, const int* meta, int count,
                   int k_max, double* sums, double* counts, double* scratch, cudaStream_t stream) {
  LK_CHECK(X && labels && sums && counts && scratch, "kmeans_update_sums: null pointer");
  LK_CHECK(count >= 1 && count <= 65535, "kmeans_update_sums: " << count << " problems (grid y)");
  const unsigned chunks = grid_for(n, kUpdateChunk);
  update_partial_kernel<<<dim3(chunks, count), kUpdateThreads, 0, stream>>>(X, n, d, labels, meta,
                                                                            k_max, scratch);
  LK_LAUNCH_CHECK();
  const unsigned reduce_blocks = grid_for(static_cast<long long>(k_max) * (d + 1), kUpdateThreads);
  update_reduce_kernel<<<dim3(reduce_blocks, count), kUpdateThreads, 0, stream>>>(
      scratch, static_cast<int>(chunks), meta, k_max, d, sums, counts);
  LK_LAUNCH_CHECK();
}
}  // namespace

void kmeans_assign(const float* X, int n, int d, const float* C, int k, const int32_t* prev_labels,
                   int32_t* labels, float* mindist, double* block_inertia, int* block_changed,
                   cudaStream_t stream) {
  LK_CHECK(n >= 0 && d >= 1 && k >= 1,
           "kmeans_assign: bad shape n=" << n << " d=" << d << " k=" << k);
  if (n == 0) return;
  launch_assign(X, n, d, C, nullptr, 1, k, prev_labels, labels, mindist, block_inertia,
                block_changed, stream);
}

size_t kmeans_update_scratch(int n, int k, int d) {
  const size_t chunks = grid_for(n, kUpdateChunk);
  return chunks * static_cast<size_t>(k) * (d + 1);
}

void kmeans_update_sums(const float* X, int n, int d, const int32_t* labels, int k, double* sums,
                        double* counts, double* scratch, cudaStream_t stream) {
  LK_CHECK(n >= 1 && d >= 1 && k >= 1,
           "kmeans_update_sums: bad shape n=" << n << " d=" << d << " k=" << k);
  launch_update(X, n, d, labels, nullptr, 1, k, sums, counts, scratch, stream);
}

void kmeans_assign_batched(const float* X, int n, int d, const float* C, const int* meta, int count,
                           int k_max, int32_t* labels, float* mindist, double* block_inertia,
                           int* block_changed, cudaStream_t stream) {
  LK_CHECK(n >= 1 && d >= 1 && k_max >= 1 && meta,
           "kmeans_assign_batched: bad arguments n=" << n << " d=" << d << " k_max=" << k_max);
  launch_assign(X, n, d, C, meta, count, k_max, labels, labels, mindist, block_inertia,
                block_changed, stream);
}

void kmeans_update_sums_batched(const float* X, int n, int d, const int32_t* labels,
                                const int* meta, int count, int k_max, double* sums, double* counts,
                                double* scratch, cudaStream_t stream) {
  LK_CHECK(n >= 1 && d >= 1 && k_max >= 1 && meta,
           "kmeans_update_sums_batched: bad arguments n=" << n << " d=" << d << " k_max=" << k_max);
  launch_update(X, n, d, labels, meta, count, k_max, sums, counts, scratch, stream);
}

void silhouette_samples_sorted(const float* Xs, int n, int d, const int32_t* labels_sorted,
                               const int32_t* begin, int k, double* s, cudaStream_t stream) {
  LK_CHECK(n >= 1 && d >= 1 && k >= 1, "silhouette: bad shape n=" << n << " d=" << d << " k=" << k);
  LK_CHECK(Xs && labels_sorted && begin && s, "silhouette: null pointer");
  silhouette_kernel<<<grid_for(n, kSilThreads), kSilThreads, 0, stream>>>(Xs, n, d, labels_sorted,
                                                                          begin, k, s);
  LK_LAUNCH_CHECK();
}

}  // namespace latentkit::cuda
