// CPU reference of the MMD family (host/ref/mmd.cpp): kernel sums, MMD^2, its gradient with
// respect to Y, and the kernel-weighted column sums behind the permutation test. Plain C++,
// float64 throughout (every bandwidth's exp evaluated on its own: no squaring shortcut), templated
// on the storage type (float: CPU backend and oracle; double: finite-difference checks).
// Mirrors kernels/mmd.cu by name and argument order, sharing no code. Tests:
// tests/test_ref_mmd.cpp.
#pragma once
#include <cstdint>

#include "latentkit/families/mmd.h"

namespace latentkit::ref {

// k(d2) for the spec (sum over its params).
double mmd_kernel_value(MmdKernel kind, const double* params, int count, double d2);
// g(d2) = -dk/d(d2): RBF sum_h k_h / (2h); IMQ sum_C C / (C + d2)^2.
double mmd_kernel_slope(MmdKernel kind, const double* params, int count, double d2);

// sum_{i, j} k(A_i, B_j), the diagonal included when A is B.
template <class T>
double mmd_kernel_sum(const T* A, int na, const T* B, int nb, int d, MmdKernel kind,
                      const double* params, int count);

template <class T>
double mmd2(const T* X, int n, const T* Y, int m, int d, MmdKernel kind, const double* params,
            int count, bool unbiased);

// Returns MMD^2; grad_y[j*d + c] = d MMD^2 / d Y[j, c]:
//   = (4/m_yy) sum_l g(y_j, y_l) (y_l - y_j) - (4/(nm)) sum_i g(x_i, y_j) (x_i - y_j),
// m_yy = m^2 (biased) or m(m-1) (unbiased).
template <class T>
double mmd2_grad_y(const T* X, int n, const T* Y, int m, int d, MmdKernel kind,
                   const double* params, int count, bool unbiased, T* grad_y);

// R[i*ncols + c] = sum_j f(||A_i - B_j||^2) V[j*ncols + c], f = k (slope false) or g (slope true).
// The permutation test (V = [1, labels]) and the gradient (V = [1, coordinates]) on the device are
// this product; the reference computes it directly.
template <class T>
void mmd_weighted_sums(const T* A, int na, const T* B, int nb, int d, MmdKernel kind,
                       const double* params, int count, bool slope, const float* V, int ncols,
                       double* R);

// Labels of permutation p of N pooled points, n_x of them "X": is_x[i] = 1 if point i is among the
// first n_x in the order of the keys philox_block(seed, MmdPermutation, p, i).v[0] << 32 | i.
void mmd_permutation_labels(uint64_t seed, uint32_t p, int n_pooled, int n_x, uint8_t* is_x);

// MMD^2 of one labelling of a pooled sample from S_xx = sum_{i,j in X} k_ij, sum_x_rowsums =
// sum_{i in X} sum_j k_ij and total = sum_{i,j} k_ij (all with the diagonal):
// S_xy = sum_x_rowsums - S_xx, S_yy = total - S_xx - 2 S_xy.
double mmd2_from_label_sums(double s_xx, double sum_x_rowsums, double total, int n_x, int n_y,
                            double k0, bool unbiased);

}  // namespace latentkit::ref
