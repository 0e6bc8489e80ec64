// CPU reference for the dense family (mirrors kernels/dense.cu): float64 accumulation, loops
// ordered so the innermost one is contiguous and vectorises (omp simd; no -ffast-math needed).
// Checked by finite differences in tests/test_ref_dense.cpp; oracle for tests/test_dense_gpu.cu.
#include <cmath>
#include <vector>

#include "latentkit/core/check.h"
#include "latentkit/ref/ops_ref.h"

namespace latentkit::ref {
namespace {

double activate(double z, Activation act, double slope) {
  switch (act) {
    case Activation::Identity: return z;
    case Activation::ReLU: return (z > 0 || std::isnan(z)) ? z : 0.0;  // NaN propagates, as torch.relu
    case Activation::LeakyReLU: return z > 0 ? z : slope * z;
    case Activation::Tanh: return std::tanh(z);
    case Activation::Sigmoid: return 1.0 / (1.0 + std::exp(-z));
  }
  return z;
}

// d act / dz expressed through the output y = act(z).
double activation_slope_from_output(double y, Activation act, double slope) {
  switch (act) {
    case Activation::Identity: return 1.0;
    case Activation::ReLU: return y > 0 ? 1.0 : 0.0;
    case Activation::LeakyReLU: return y > 0 ? 1.0 : slope;
    case Activation::Tanh: return 1.0 - y * y;
    case Activation::Sigmoid: return y * (1.0 - y);
  }
  return 1.0;
}

void check_shape(int n, int in, int out) {
  LK_CHECK(n > 0 && in > 0 && out > 0, "dense: shape must be positive, got n=" << n << " in=" << in
                                                                                << " out=" << out);
}

}  // namespace

template <class T>
void dense_forward(const T* X, const T* W, const T* b, T* Y, int n, int in, int out,
                   Activation act, T slope) {
  check_shape(n, in, out);
  for (int r = 0; r < n; ++r) {
    const T* x = X + static_cast<size_t>(r) * in;
    for (int j = 0; j < out; ++j) {
      const T* w = W + static_cast<size_t>(j) * in;
      double acc = 0.0;
#pragma omp simd reduction(+ : acc)
      for (int k = 0; k < in; ++k) acc += static_cast<double>(x[k]) * static_cast<double>(w[k]);
      if (b) acc += static_cast<double>(b[j]);
      Y[static_cast<size_t>(r) * out + j] = static_cast<T>(activate(acc, act, slope));
    }
  }
}

template <class T>
void dense_backward(const T* X, const T* W, const T* Y, const T* dY, T* dX, T* dW, T* db, int n,
                    int in, int out, Activation act, T slope, bool accumulate_dx) {
  check_shape(n, in, out);
  // dZ in double, reused across calls (the CPU backend calls this every step).
  thread_local std::vector<double> dz, acc;
  dz.resize(static_cast<size_t>(n) * out);
  acc.resize(static_cast<size_t>(in));
  for (size_t i = 0; i < dz.size(); ++i)
    dz[i] = static_cast<double>(dY[i]) * activation_slope_from_output(Y[i], act, slope);

  if (dX) {
    for (int r = 0; r < n; ++r) {
      const double* dzr = dz.data() + static_cast<size_t>(r) * out;
      T* dx = dX + static_cast<size_t>(r) * in;
      for (int k = 0; k < in; ++k) acc[k] = accumulate_dx ? static_cast<double>(dx[k]) : 0.0;
      for (int j = 0; j < out; ++j) {
        const double g = dzr[j];
        const T* w = W + static_cast<size_t>(j) * in;
#pragma omp simd
        for (int k = 0; k < in; ++k) acc[k] += g * static_cast<double>(w[k]);
      }
      for (int k = 0; k < in; ++k) dx[k] = static_cast<T>(acc[k]);
    }
  }
  for (int j = 0; j < out; ++j) {
    for (int k = 0; k < in; ++k) acc[k] = 0.0;
    double bias_acc = 0.0;
    for (int r = 0; r < n; ++r) {
      const double g = dz[static_cast<size_t>(r) * out + j];
      bias_acc += g;
      const T* x = X + static_cast<size_t>(r) * in;
#pragma omp simd
      for (int k = 0; k < in; ++k) acc[k] += g * static_cast<double>(x[k]);
    }
    T* dw = dW + static_cast<size_t>(j) * in;
    for (int k = 0; k < in; ++k) dw[k] = static_cast<T>(acc[k]);
    if (db) db[j] = static_cast<T>(bias_acc);
  }
}

#define LK_INSTANTIATE(T)                                                                    \
  template void dense_forward<T>(const T*, const T*, const T*, T*, int, int, int, Activation, \
                                 T);                                                         \
  template void dense_backward<T>(const T*, const T*, const T*, const T*, T*, T*, T*, int, int, \
                                  int, Activation, T, bool);
LK_INSTANTIATE(float)
LK_INSTANTIATE(double)
#undef LK_INSTANTIATE

}  // namespace latentkit::ref
