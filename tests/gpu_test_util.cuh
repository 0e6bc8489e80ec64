// Helpers shared by the GPU-vs-CPU tests (tests/test_*_gpu.cu): host <-> device copies on the
// test's (non-blocking) stream, and NaN-poisoned output buffers.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "kernels/cuda_check.cuh"
#include "kernels/cuda_resources.cuh"
#include "test_util.h"

namespace latentkit::test {

// True in the emulated-GPU build (tests/emu/README.md), where a kernel runs some 10^3-10^4 times
// slower than on a GPU. A test whose point is many repetitions (iterations, long runs) may do
// fewer of them there, never with a looser bound, and says so where it does.
#ifdef LATENTKIT_EMULATED_GPU
inline constexpr bool kEmulatedGpu = true;
#else
inline constexpr bool kEmulatedGpu = false;
#endif

// Copies on the test's stream, the one its kernels run on (stream-ordered: no device-wide waits).
template <class T>
cuda::DeviceBuffer<T> to_device(const std::vector<T>& host, const cuda::Stream& stream) {
  cuda::DeviceBuffer<T> d(host.size());
  d.upload(host, stream.get());
  return d;
}

// An output buffer filled with NaN, so any element a kernel fails to write fails the comparison.
inline cuda::DeviceBuffer<float> poisoned(size_t n, const cuda::Stream& stream) {
  return to_device(std::vector<float>(n, kPoison), stream);
}

// After everything queued on `stream` (download() waits for the stream).
template <class T>
std::vector<T> from_device(const cuda::DeviceBuffer<T>& d, const cuda::Stream& stream) {
  return d.download(stream.get());
}

// Distance in units in the last place between two finite floats of any signs.
inline int64_t ulp_distance(float a, float b) {
  int32_t ia, ib;
  std::memcpy(&ia, &a, sizeof ia);
  std::memcpy(&ib, &b, sizeof ib);
  // Map the sign-magnitude bit patterns onto one monotonic integer line (-0 and +0 both to 0).
  const int64_t ka = ia < 0 ? static_cast<int64_t>(INT32_MIN) - ia : ia;
  const int64_t kb = ib < 0 ? static_cast<int64_t>(INT32_MIN) - ib : ib;
  return ka > kb ? ka - kb : kb - ka;
}

// Largest magnitude in v (the scale for absolute tolerance floors).
inline double max_abs(const std::vector<float>& v) {
  double m = 0.0;
  for (float x : v) m = std::max(m, std::fabs(static_cast<double>(x)));
  return m;
}

}  // namespace latentkit::test
