// FFT-accelerated t-SNE repulsion on the GPU (FIt-SNE, Linderman et al. 2019; class declared in
// kernels/tsne.cuh). Semantics: latentkit::ref::tsne_repulsive_fft (host/ref/tsne.cpp), on the
// grid of latentkit/families/tsne_grid.h. Per call:
//   1. each point's box; points sorted by box (Thrust, stable) and each box's first point found by
//      binary search, so that
//   2. spreading is a gather: one thread per grid node sums, in point order, the charges
//      (1, y', |y'|^2, y' = y - grid centre) of the points of its box weighted by the node's
//      Lagrange polynomial: no atomics, the same bits on every run;
//   3. the kernel q^2 = 1/(1+r^2)^2 on the circulantly embedded grid, and everything by cuFFT
//      (double complex Z2Z: two real charges packed per complex grid; the embedded kernel is even,
//      so its spectrum is real and a packed product separates again);
//   4. one thread per point interpolates the potentials back and forms R_i and its share of Z;
//   5. when the grid is capped (boxes wider than 1 unit), the kernel is split: the grid carries a
//      smooth stand-in of q^2 and one thread per point adds the near-field remainder over the
//      points of its 3^dims neighbouring boxes (latentkit/families/tsne_grid.h, TsneFftGrid::near_radius).
// All grid arithmetic in float64 (Z is a difference of large terms: float would lose it).
// Tests: tests/test_tsne_gpu.cu (vs the reference and vs the exact repulsion).
#include <cufft.h>
#include <thrust/device_ptr.h>
#include <thrust/execution_policy.h>
#include <thrust/sort.h>

#include <exception>

#include "kernels/cuda_check.cuh"
#include "kernels/tsne.cuh"

#define LK_CUFFT_CHECK(expr)                                                  \
  do {                                                                        \
    const cufftResult lk_fft_st_ = (expr);                                    \
    LK_CHECK(lk_fft_st_ == CUFFT_SUCCESS, "cuFFT call failed with status "    \
                                              << static_cast<int>(lk_fft_st_) \
                                              << " (out of device memory?)"); \
  } while (0)

namespace latentkit::cuda {
namespace {

constexpr int kThreads = 256;  // threads per block of the per-node and per-point kernels
constexpr int kMaxNodes = 8;   // tsne_fft_grid() allows at most 8 nodes per box per dimension

// Geometry copied into kernel arguments (plain values only).
struct GridArgs {
  int dims, p, boxes, len, m;  // m: nodes per dimension
  double lo[3], center[3], spacing;
  double near_radius2;  // kernel splitting (TsneFftGrid::near_radius), squared; 0: none
};

GridArgs grid_args(const TsneFftGrid& g) {
  GridArgs a{};
  a.dims = g.dims;
  a.p = g.p;
  a.boxes = g.boxes;
  a.len = g.fft_size;
  a.m = g.nodes();
  for (int d = 0; d < 3; ++d) {
    a.lo[d] = g.lo[d];
    a.center[d] = g.center[d];
  }
  a.spacing = g.spacing();
  a.near_radius2 = g.near_radius * g.near_radius;
  return a;
}

// Box of coordinate y along axis `a` and y's coordinate inside it, in node spacings.
__device__ __forceinline__ int box_along(const GridArgs& g, int a, float y, double& local) {
  const double u = (static_cast<double>(y) - g.lo[a]) / g.spacing;
  int box = static_cast<int>(floor(u / g.p));
  box = min(max(box, 0), g.boxes - 1);
  local = u - static_cast<double>(box) * g.p;
  return box;
}

// Lagrange polynomial of node k (at k + 0.5) of the p nodes of a box, at local coordinate t.
__device__ __forceinline__ double lagrange(double t, int k, int p) {
  double num = 1.0, den = 1.0;
  for (int m = 0; m < p; ++m) {
    if (m == k) continue;
    num *= t - (m + 0.5);
    den *= static_cast<double>(k - m);
  }
  return num / den;
}

template <int DIMS>
__global__ void box_kernel(const float* __restrict__ Y, int n, GridArgs g,
                           int32_t* __restrict__ box_of, int32_t* __restrict__ order) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  int id = 0;
  for (int a = 0; a < DIMS; ++a) {
    double local;
    id = id * g.boxes + box_along(g, a, Y[static_cast<size_t>(i) * DIMS + a], local);
  }
  box_of[i] = id;
  order[i] = i;
}

__global__ void box_start_kernel(const int32_t* __restrict__ sorted_box, int n, int n_boxes,
                                 int32_t* __restrict__ box_start) {
  const int b = blockIdx.x * blockDim.x + threadIdx.x;
  if (b > n_boxes) return;
  int lo = 0, hi = n;
  while (lo < hi) {
    const int mid = lo + (hi - lo) / 2;
    if (sorted_box[mid] < b)
      lo = mid + 1;
    else
      hi = mid;
  }
  box_start[b] = lo;
}

// One thread per grid node (m^DIMS of them): the charges of its box's points, weighted.
template <int DIMS>
__global__ void spread_kernel(const float* __restrict__ Y, GridArgs g,
                              const int32_t* __restrict__ order,
                              const int32_t* __restrict__ box_start,
                              cufftDoubleComplex* __restrict__ grids, size_t cells) {
  size_t total = 1;
  for (int a = 0; a < DIMS; ++a) total *= g.m;
  const size_t node = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (node >= total) return;
  int coord[DIMS];
  size_t rest = node;
  for (int a = DIMS - 1; a >= 0; --a) {
    coord[a] = static_cast<int>(rest % g.m);
    rest /= g.m;
  }
  int box = 0, k[DIMS];
  size_t cell = 0;
  for (int a = 0; a < DIMS; ++a) {
    box = box * g.boxes + coord[a] / g.p;
    k[a] = coord[a] % g.p;
    cell = cell * g.len + coord[a];
  }
  constexpr int kCharges = DIMS + 2;
  double acc[kCharges] = {};
  for (int s = box_start[box]; s < box_start[box + 1]; ++s) {
    const int i = order[s];
    double w = 1.0, r2 = 0.0, q[kCharges];
    q[0] = 1.0;
    for (int a = 0; a < DIMS; ++a) {
      const float y = Y[static_cast<size_t>(i) * DIMS + a];
      double local;
      box_along(g, a, y, local);
      w *= lagrange(local, k[a], g.p);
      q[1 + a] = static_cast<double>(y) - g.center[a];
      r2 += q[1 + a] * q[1 + a];
    }
    q[DIMS + 1] = r2;
    for (int c = 0; c < kCharges; ++c) acc[c] += w * q[c];
  }
  for (int c = 0; c < kCharges; c += 2) {
    cufftDoubleComplex v;
    v.x = acc[c];
    v.y = c + 1 < kCharges ? acc[c + 1] : 0.0;
    grids[(c / 2) * cells + cell] = v;
  }
}

template <int DIMS>
__global__ void kernel_grid_kernel(GridArgs g, cufftDoubleComplex* __restrict__ kernel,
                                   size_t cells) {
  const size_t cell = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (cell >= cells) return;
  size_t rest = cell;
  double r2 = 0.0;
  bool inside = true;
  for (int a = DIMS - 1; a >= 0; --a) {
    const int t = static_cast<int>(rest % g.len);
    rest /= g.len;
    int delta;
    if (t < g.m)
      delta = t;
    else if (t > g.len - g.m)
      delta = t - g.len;
    else {
      delta = 0;
      inside = false;
    }
    r2 += static_cast<double>(delta) * delta * g.spacing * g.spacing;
  }
  cufftDoubleComplex v;
  v.x = inside ? tsne_grid_kernel(r2, g.near_radius2) : 0.0;
  v.y = 0.0;
  kernel[cell] = v;
}

__global__ void multiply_kernel(cufftDoubleComplex* __restrict__ grids,
                                const cufftDoubleComplex* __restrict__ kernel, size_t cells,
                                int packed) {
  const double norm = 1.0 / static_cast<double>(cells);  // cuFFT's inverse is unnormalised
  const size_t total = cells * packed;
  for (size_t e = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < total;
       e += static_cast<size_t>(gridDim.x) * blockDim.x) {
    const double f = kernel[e % cells].x * norm;
    grids[e].x *= f;
    grids[e].y *= f;
  }
}

template <int DIMS>
__global__ void interpolate_kernel(const float* __restrict__ Y, int n, GridArgs g,
                                   const cufftDoubleComplex* __restrict__ grids, size_t cells,
                                   float* __restrict__ rep, double* __restrict__ z_rows) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  constexpr int kCharges = DIMS + 2;
  double w[DIMS][kMaxNodes], yc[DIMS], r2 = 0.0;
  int first[DIMS];
  for (int a = 0; a < DIMS; ++a) {
    const float y = Y[static_cast<size_t>(i) * DIMS + a];
    double local;
    first[a] = box_along(g, a, y, local) * g.p;
    for (int kk = 0; kk < g.p; ++kk) w[a][kk] = lagrange(local, kk, g.p);
    yc[a] = static_cast<double>(y) - g.center[a];
    r2 += yc[a] * yc[a];
  }
  int nodes = 1;
  for (int a = 0; a < DIMS; ++a) nodes *= g.p;
  double phi[kCharges] = {};
  for (int node = 0; node < nodes; ++node) {
    double wt = 1.0;
    size_t cell = 0, stride = 1;
    int rest = node;
    for (int a = DIMS - 1; a >= 0; --a) {
      const int kk = rest % g.p;
      rest /= g.p;
      wt *= w[a][kk];
      cell += static_cast<size_t>(first[a] + kk) * stride;
      stride *= g.len;
    }
    for (int c = 0; c < kCharges; ++c) {
      const cufftDoubleComplex v = grids[(c / 2) * cells + cell];
      phi[c] += wt * (c % 2 == 0 ? v.x : v.y);
    }
  }
  double dot = 0.0;
  for (int a = 0; a < DIMS; ++a) {
    rep[static_cast<size_t>(i) * DIMS + a] = static_cast<float>(yc[a] * phi[0] - phi[1 + a]);
    dot += yc[a] * phi[1 + a];
  }
  z_rows[i] = (1.0 + r2) * phi[0] - 2.0 * dot + phi[DIMS + 1] - 1.0;  // - 1: the j = i term
}

// Kernel-splitting remainder (TsneFftGrid::near_radius), one thread per point: adds
// sum_j (q^2 - K_grid)(y_i - y_j) over the points j of the 3^DIMS neighbouring boxes within the
// radius (j = i included) to rep[i], and sum_j (q^2 - K_grid)(1 + r^2) to z_rows[i]. Points are
// visited box by box in sorted (stable: ascending index) order, as the reference does.
template <int DIMS>
__global__ void near_field_kernel(const float* __restrict__ Y, int n, GridArgs g,
                                  const int32_t* __restrict__ order,
                                  const int32_t* __restrict__ box_start, float* __restrict__ rep,
                                  double* __restrict__ z_rows) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  double yi[DIMS];
  int coord[3] = {0, 0, 0};
  for (int a = 0; a < DIMS; ++a) {
    yi[a] = Y[static_cast<size_t>(i) * DIMS + a];
    double local;
    coord[a] = box_along(g, a, Y[static_cast<size_t>(i) * DIMS + a], local);
  }
  double force[DIMS] = {};
  double z = 0.0;
  const int span2 = DIMS == 3 ? 1 : 0;
  for (int d0 = -1; d0 <= 1; ++d0)
    for (int d1 = -1; d1 <= 1; ++d1)
      for (int d2 = -span2; d2 <= span2; ++d2) {
        const int c0 = coord[0] + d0, c1 = coord[1] + d1, c2 = coord[2] + d2;
        if (c0 < 0 || c1 < 0 || c2 < 0 || c0 >= g.boxes || c1 >= g.boxes || c2 >= g.boxes) continue;
        const int b = DIMS == 2 ? c0 * g.boxes + c1 : (c0 * g.boxes + c1) * g.boxes + c2;
        for (int s = box_start[b]; s < box_start[b + 1]; ++s) {
          const int j = order[s];
          double diff[DIMS], u = 0.0;
          for (int a = 0; a < DIMS; ++a) {
            diff[a] = yi[a] - static_cast<double>(Y[static_cast<size_t>(j) * DIMS + a]);
            u += diff[a] * diff[a];
          }
          if (u >= g.near_radius2) continue;
          const double q = 1.0 / (1.0 + u);
          const double c = q * q - tsne_grid_kernel(u, g.near_radius2);
          for (int a = 0; a < DIMS; ++a) force[a] += c * diff[a];
          z += c * (1.0 + u);
        }
      }
  for (int a = 0; a < DIMS; ++a) {
    float& r = rep[static_cast<size_t>(i) * DIMS + a];
    r = static_cast<float>(static_cast<double>(r) + force[a]);
  }
  z_rows[i] += z;
}

}  // namespace

TsneFftRepulsion::~TsneFftRepulsion() { destroy_plans(); }

void TsneFftRepulsion::destroy_plans() noexcept {
  if (have_plans_) {
    cufftDestroy(plan_charges_);
    cufftDestroy(plan_kernel_);
    have_plans_ = false;
  }
}

void TsneFftRepulsion::prepare(int n, const TsneFftGrid& g, cudaStream_t stream) {
  const int dims = g.dims, len = g.fft_size, packed = (dims + 3) / 2;
  size_t cells = 1;
  for (int a = 0; a < dims; ++a) cells *= len;
  if (!have_plans_ || plan_len_ != len || plan_dims_ != dims || plan_batch_ != packed) {
    destroy_plans();
    // Release the old grids before planning: the new plans' work areas may need the memory.
    grids_ = DeviceBuffer<cufftDoubleComplex>();
    kernel_ = DeviceBuffer<cufftDoubleComplex>();
    int shape[3] = {len, len, len};
    LK_CUFFT_CHECK(cufftPlanMany(&plan_charges_, dims, shape, nullptr, 1, 0, nullptr, 1, 0,
                                 CUFFT_Z2Z, packed));
    const cufftResult st =
        cufftPlanMany(&plan_kernel_, dims, shape, nullptr, 1, 0, nullptr, 1, 0, CUFFT_Z2Z, 1);
    if (st != CUFFT_SUCCESS) cufftDestroy(plan_charges_);
    LK_CUFFT_CHECK(st);
    have_plans_ = true;
    plan_len_ = len;
    plan_dims_ = dims;
    plan_batch_ = packed;
    grids_ = DeviceBuffer<cufftDoubleComplex>(cells * packed);
    kernel_ = DeviceBuffer<cufftDoubleComplex>(cells);
    kernel_valid_ = false;
  }
  LK_CUFFT_CHECK(cufftSetStream(plan_charges_, stream));
  LK_CUFFT_CHECK(cufftSetStream(plan_kernel_, stream));
  size_t n_boxes = 1;
  for (int a = 0; a < dims; ++a) n_boxes *= g.boxes;
  if (box_of_.size() < static_cast<size_t>(n)) {
    box_of_ = DeviceBuffer<int32_t>(n);
    order_ = DeviceBuffer<int32_t>(n);
    z_rows_ = DeviceBuffer<double>(n);
  }
  if (box_start_.size() < n_boxes + 1) box_start_ = DeviceBuffer<int32_t>(n_boxes + 1);
}

void TsneFftRepulsion::run(const float* Y, int n, int dims, const TsneFftGrid& grid, float* rep,
                           double* z_out, cudaStream_t stream) {
  LK_CHECK(n >= 1, "tsne_repulsive_fft: need n >= 1, got " << n);
  LK_CHECK(dims == 2 || dims == 3, "tsne_repulsive_fft: dims must be 2 or 3, got " << dims);
  LK_CHECK(dims == grid.dims,
           "tsne_repulsive_fft: grid is " << grid.dims << "-D, Y is " << dims << "-D");
  LK_CHECK(
      grid.p >= 2 && grid.p <= kMaxNodes && grid.boxes >= 1 && grid.fft_size >= 2 * grid.nodes(),
      "tsne_repulsive_fft: malformed grid (use tsne_fft_grid())");
  LK_CHECK(Y && rep && z_out, "tsne_repulsive_fft: every pointer must be non-null");
  prepare(n, grid, stream);
  const GridArgs g = grid_args(grid);
  const int packed = (dims + 3) / 2;
  size_t cells = 1, nodes = 1, n_boxes = 1;
  for (int a = 0; a < dims; ++a) {
    cells *= g.len;
    nodes *= g.m;
    n_boxes *= g.boxes;
  }
  // 1. boxes and the point order.
  if (dims == 2)
    box_kernel<2>
        <<<grid_for(n, kThreads), kThreads, 0, stream>>>(Y, n, g, box_of_.data(), order_.data());
  else
    box_kernel<3>
        <<<grid_for(n, kThreads), kThreads, 0, stream>>>(Y, n, g, box_of_.data(), order_.data());
  LK_LAUNCH_CHECK();
  thrust::device_ptr<int32_t> boxes(box_of_.data()), order(order_.data());
  try {
    thrust::stable_sort_by_key(thrust::cuda::par.on(stream), boxes, boxes + n, order);
  } catch (const std::exception& e) {  // thrust::system_error, bad_alloc
    LK_CHECK(false, "tsne_repulsive_fft: thrust::stable_sort_by_key of "
                        << n << " points failed: " << e.what());
  }
  box_start_kernel<<<grid_for(static_cast<long long>(n_boxes) + 1, kThreads), kThreads, 0,
                     stream>>>(box_of_.data(), n, static_cast<int>(n_boxes), box_start_.data());
  LK_LAUNCH_CHECK();
  // 2. spread (the padding stays zero: only the m^dims nodes are written).
  LK_CUDA_CHECK(cudaMemsetAsync(grids_.data(), 0, grids_.bytes(), stream));
  if (dims == 2)
    spread_kernel<2><<<grid_for(static_cast<long long>(nodes), kThreads), kThreads, 0, stream>>>(
        Y, g, order_.data(), box_start_.data(), grids_.data(), cells);
  else
    spread_kernel<3><<<grid_for(static_cast<long long>(nodes), kThreads), kThreads, 0, stream>>>(
        Y, g, order_.data(), box_start_.data(), grids_.data(), cells);
  LK_LAUNCH_CHECK();
  // 3. kernel spectrum (reused while the grid's spacing and near radius hold), convolution.
  const bool kernel_current = kernel_valid_ && kernel_spacing_ == grid.spacing() &&
                              kernel_near_radius_ == grid.near_radius && kernel_nodes_ == g.m;
  if (!kernel_current) {
    const unsigned int blocks = grid_for(static_cast<long long>(cells), kThreads);
    if (dims == 2)
      kernel_grid_kernel<2><<<blocks, kThreads, 0, stream>>>(g, kernel_.data(), cells);
    else
      kernel_grid_kernel<3><<<blocks, kThreads, 0, stream>>>(g, kernel_.data(), cells);
    LK_LAUNCH_CHECK();
    LK_CUFFT_CHECK(cufftExecZ2Z(plan_kernel_, kernel_.data(), kernel_.data(), CUFFT_FORWARD));
    kernel_valid_ = true;
    kernel_spacing_ = grid.spacing();
    kernel_near_radius_ = grid.near_radius;
    kernel_nodes_ = g.m;
  }
  LK_CUFFT_CHECK(cufftExecZ2Z(plan_charges_, grids_.data(), grids_.data(), CUFFT_FORWARD));
  multiply_kernel<<<grid_stride_blocks(cells * packed), kGridStrideThreads, 0, stream>>>(
      grids_.data(), kernel_.data(), cells, packed);
  LK_LAUNCH_CHECK();
  LK_CUFFT_CHECK(cufftExecZ2Z(plan_charges_, grids_.data(), grids_.data(), CUFFT_INVERSE));
  // 4. interpolate back.
  if (dims == 2)
    interpolate_kernel<2><<<grid_for(n, kThreads), kThreads, 0, stream>>>(
        Y, n, g, grids_.data(), cells, rep, z_rows_.data());
  else
    interpolate_kernel<3><<<grid_for(n, kThreads), kThreads, 0, stream>>>(
        Y, n, g, grids_.data(), cells, rep, z_rows_.data());
  LK_LAUNCH_CHECK();
  // 5. the near-field remainder when the grid carries a split kernel.
  if (g.near_radius2 > 0) {
    if (dims == 2)
      near_field_kernel<2><<<grid_for(n, kThreads), kThreads, 0, stream>>>(
          Y, n, g, order_.data(), box_start_.data(), rep, z_rows_.data());
    else
      near_field_kernel<3><<<grid_for(n, kThreads), kThreads, 0, stream>>>(
          Y, n, g, order_.data(), box_start_.data(), rep, z_rows_.data());
    LK_LAUNCH_CHECK();
  }
  sum_doubles(z_rows_.data(), n, z_out, stream);
}

}  // namespace latentkit::cuda
