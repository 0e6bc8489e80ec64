// t-SNE kernels and their checked launchers (kernels/tsne.cu: affinities, forces, KL, the update;
// kernels/tsne_fft.cu: the FFT-accelerated repulsion). Semantics exactly as latentkit::ref
// (latentkit/ref/tsne_ref.h); every launcher checks its inputs and takes the stream last. All
// pointers are device pointers. Tests: tests/test_tsne_gpu.cu. Benchmark: bench/bench_tsne.cu.
#pragma once
#include <cuda_runtime.h>
#include <cufft.h>

#include <cstddef>
#include <cstdint>

#include "kernels/cuda_resources.cuh"
#include "latentkit/families/tsne_grid.h"

namespace latentkit::cuda {

// All-pairs neighbour lists (row i: every j != i ascending): idx, dist2 [n, n-1].
void tsne_all_pairs(const float* X, int n, int d, int32_t* idx, float* dist2, cudaStream_t stream);

// Per-row binary search for the perplexity (one thread per row, float64).
void tsne_calibrate(const float* dist2, int n, int k, float perplexity, float* p_cond, float* beta,
                    cudaStream_t stream);

// Symmetrised, normalised P in CSR (ascending columns per row), in device memory.
struct TsneCsrDevice {
  int n = 0;
  int nnz = 0;
  DeviceBuffer<int32_t> row_ptr;  // [n + 1]
  DeviceBuffer<int32_t> col;      // [nnz]
  DeviceBuffer<float> val;        // [nnz]
};
// Synchronises `stream` (the number of nonzeros decides the allocation).
TsneCsrDevice tsne_symmetrize(const int32_t* idx, const float* p_cond, int n, int k,
                              cudaStream_t stream);

void tsne_attractive(const int32_t* row_ptr, const int32_t* col, const float* val, const float* Y,
                     int n, int dims, float* attr, cudaStream_t stream);

// Exact repulsion; z_rows: n doubles of scratch; z_out: one double (device) receives Z.
void tsne_repulsive_exact(const float* Y, int n, int dims, float* rep, double* z_rows,
                          double* z_out, cudaStream_t stream);

// Per-dimension minimum and maximum: lo_hi[0..dims) = minima, lo_hi[dims..2 dims) = maxima.
void tsne_bounds(const float* Y, int n, int dims, float* lo_hi, cudaStream_t stream);

// KL(P || Q) with Z read from z (device); scratch: 2n doubles; kl_out: one double (device).
void tsne_kl(const int32_t* row_ptr, const int32_t* col, const float* val, const float* Y, int n,
             int dims, const double* z, double* scratch, double* kl_out, cudaStream_t stream);

// The gains-and-momentum step of latentkit::ref::tsne_update, Z read from z (device).
void tsne_update(float* Y, const float* attr, const float* rep, const double* z, size_t count,
                 float exaggeration, float momentum, float learning_rate, float min_gain,
                 float* gains, float* update, cudaStream_t stream);

// Sum of v[0..n) in a fixed order (one block, fixed tree): the same bits on every run.
void sum_doubles(const double* v, int n, double* out, cudaStream_t stream);

// FFT-accelerated repulsion (kernels/tsne_fft.cu): keeps its grids, cuFFT plans and point order
// between calls (plans are rebuilt only when the grid's size changes). One object per stream.
class TsneFftRepulsion {
 public:
  TsneFftRepulsion() = default;
  ~TsneFftRepulsion();
  TsneFftRepulsion(const TsneFftRepulsion&) = delete;
  TsneFftRepulsion& operator=(const TsneFftRepulsion&) = delete;
  // rep [n, dims] ~ R_i; z_out (device) receives the approximate Z. `grid` from tsne_fft_grid().
  void run(const float* Y, int n, int dims, const TsneFftGrid& grid, float* rep, double* z_out,
           cudaStream_t stream);

 private:
  void prepare(int n, const TsneFftGrid& grid, cudaStream_t stream);
  void destroy_plans() noexcept;
  int plan_len_ = 0, plan_dims_ = 0, plan_batch_ = 0;
  // The grid kernel_ holds the spectrum of (its spacing, near radius): reused while they hold.
  bool kernel_valid_ = false;
  double kernel_spacing_ = 0, kernel_near_radius_ = 0;
  int kernel_nodes_ = 0;
  cufftHandle plan_charges_ = 0, plan_kernel_ = 0;
  bool have_plans_ = false;
  DeviceBuffer<cufftDoubleComplex> grids_, kernel_;
  DeviceBuffer<int32_t> box_of_, order_, box_start_;
  DeviceBuffer<double> z_rows_;
};

}  // namespace latentkit::cuda
