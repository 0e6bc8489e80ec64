// The interpolation grid of the FFT-accelerated t-SNE repulsion (FIt-SNE, Linderman et al.,
// Nature Methods 2019), shared by the CPU reference (host/ref/tsne.cpp) and the CUDA kernels
// (kernels/tsne_fft.cu) so both approximate on exactly the same grid. Only the grid's geometry is
// shared; each side computes on it independently.
//
// Geometry: the embedding's bounding box is covered by a cube of `boxes` boxes per dimension, each
// with `p` equispaced interpolation nodes per dimension, so the nodes form one equispaced grid of
// M = boxes * p nodes per dimension with spacing s = box_width / p; node g sits at
// lo + (g + 0.5) * s. The convolution with the kernel runs by FFT on a zero-padded (circulant)
// grid of fft_size >= 2M nodes per dimension (a power of two: the CPU reference's FFT is radix-2).
// Tests: tests/test_ref_tsne.cpp (grid choice), tests/test_tsne_gpu.cu.
#pragma once
#include <algorithm>
#include <cmath>

#include "latentkit/core/check.h"

namespace latentkit {

// How fine the grid may get. Defaults follow FIt-SNE (p = 3 nodes, boxes at most 1 unit wide);
// max_fft_size caps the grid's cost (FIt-SNE has no cap: it is what keeps the CPU fast).
struct TsneFftConfig {
  int nodes_per_box = 3;       // p: FIt-SNE's n_interpolation_points
  double max_box_width = 1.0;  // FIt-SNE's intervals_per_integer = 1
  int min_fft_size = 32;       // smallest padded grid per dimension (5 boxes of 3 nodes)
  int max_fft_size = 0;        // largest padded grid per dimension; 0: tsne_default_fft_cap()
};

// The cap when max_fft_size is 0: the grid has fft_size^dims complex nodes per charge.
//  - CUDA: 1024 in 2-D (170 boxes of <= 1 unit: enough for embeddings up to 170 units wide, about
//    what 70000 points reach) and 128 in 3-D (2.1M nodes per charge, ~100 MB of grids in all).
//  - CPU: 256 in 2-D and 64 in 3-D: one 256^2 (64^3) complex FFT takes a few ms on one core, which
//    keeps 1000 iterations of 10000 points within ~15 s; embeddings wider than 42 (10) units then
//    get boxes wider than 1 unit, and the approximation error grows (measured in
//    tests/test_ref_tsne.cpp, bench/RESULTS.md).
inline int tsne_default_fft_cap(int dims, bool cuda) {
  if (cuda) return dims == 2 ? 1024 : 128;
  return dims == 2 ? 256 : 64;
}

struct TsneFftGrid {
  int dims = 2;
  int p = 3;                     // nodes per box per dimension
  int boxes = 0;                 // boxes per dimension
  int fft_size = 0;              // padded FFT length per dimension (power of two, >= 2 * boxes * p)
  double lo[3] = {0, 0, 0};      // lower corner of the grid
  double center[3] = {0, 0, 0};  // centre of the grid: charges use coordinates relative to it
  double box_width = 1.0;
  // Kernel splitting when the cap forces boxes wider than max_box_width: the grid then carries a
  // smoothed kernel, equal to q^2 = 1/(1+r^2)^2 beyond near_radius and, inside it, the quadratic
  // (in r^2) Taylor polynomial of q^2 at r^2 = near_radius^2 (C^2 at the seam, so the coarse grid
  // resolves it); the remainder q^2 - polynomial, zero beyond near_radius, is summed directly over
  // the points of the 3^dims neighbouring boxes. 0: no splitting (the grid is fine enough).
  double near_radius = 0.0;
  int nodes() const { return boxes * p; }  // M: nodes per dimension
  double spacing() const { return box_width / p; }
};

// The grid for an embedding whose per-dimension minima and maxima are lo[0..dims) and hi[0..dims).
inline TsneFftGrid tsne_fft_grid(const TsneFftConfig& cfg, int dims, const float* lo,
                                 const float* hi, bool cuda) {
  LK_CHECK(dims == 2 || dims == 3, "t-SNE FFT grid: dims must be 2 or 3, got " << dims);
  LK_CHECK(cfg.nodes_per_box >= 2 && cfg.nodes_per_box <= 8,
           "t-SNE FFT grid: nodes_per_box must be in [2, 8], got " << cfg.nodes_per_box);
  LK_CHECK(cfg.max_box_width > 0, "t-SNE FFT grid: max_box_width must be positive");
  const int cap = cfg.max_fft_size > 0 ? cfg.max_fft_size : tsne_default_fft_cap(dims, cuda);
  TsneFftGrid g;
  g.dims = dims;
  g.p = cfg.nodes_per_box;
  double range = 0.0;
  for (int a = 0; a < dims; ++a) {
    LK_CHECK(std::isfinite(lo[a]) && std::isfinite(hi[a]),
             "t-SNE diverged: the embedding has non-finite coordinates (lower the learning rate)");
    range = std::max(range, static_cast<double>(hi[a]) - static_cast<double>(lo[a]));
  }
  // A degenerate (single point) embedding still needs a positive box; 1e-6 is far below any
  // distance the kernel 1/(1+d^2)^2 can resolve in float.
  range = std::max(range, 1e-6);
  const double needed_boxes = std::ceil(range / cfg.max_box_width);
  int size = std::max(cfg.min_fft_size, 2 * g.p);
  while (size < cap && size / (2 * g.p) < needed_boxes) size *= 2;
  LK_CHECK((size & (size - 1)) == 0,
           "t-SNE FFT grid: min_fft_size and max_fft_size must be powers of two, got " << size);
  g.fft_size = size;
  g.boxes = size / (2 * g.p);
  // Widen by a relative 1e-6 so the largest coordinate falls inside the last box, not on its edge,
  // then round up to the ladder 2^(j/16): the grid's spacing (and so the kernel's spectrum, which
  // both sides then reuse) changes only when the embedding's width crosses a 4.4 % step.
  const double width = range * (1.0 + 1e-6) / g.boxes;
  g.box_width = std::exp2(std::ceil(16.0 * std::log2(width)) / 16.0);
  // Near radius = one box: every pair closer than that lies in neighbouring boxes.
  if (g.box_width > cfg.max_box_width) g.near_radius = g.box_width;
  for (int a = 0; a < dims; ++a) {
    g.lo[a] = static_cast<double>(lo[a]);
    g.center[a] = g.lo[a] + 0.5 * g.box_width * g.boxes;
  }
  return g;
}

// The grid's kernel at squared distance u (see near_radius): q^2, or its smooth stand-in.
#if defined(__CUDACC__)
__host__ __device__
#endif
    inline double
    tsne_grid_kernel(double u, double near_radius2) {
  const double f = 1.0 / ((1.0 + u) * (1.0 + u));
  if (u >= near_radius2) return f;
  // Taylor polynomial of f(u) = (1+u)^-2 at uc: f(uc) - 2 (1+uc)^-3 t + 3 (1+uc)^-4 t^2, t = u -
  // uc.
  const double uc = near_radius2, inv = 1.0 / (1.0 + uc), t = u - uc;
  return inv * inv * (1.0 - 2.0 * inv * t + 3.0 * inv * inv * t * t);
}

}  // namespace latentkit
