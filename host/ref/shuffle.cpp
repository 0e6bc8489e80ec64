// CPU reference for shuffling, gathering and summing (mirrors kernels/shuffle.cu).
// Tests: tests/test_ref_shuffle.cpp (is a permutation, uniform position moments);
// oracle for tests/test_shuffle_gpu.cu (identical permutations).
#include <algorithm>
#include <vector>

#include "latentkit/core/check.h"
#include "latentkit/ref/ops_ref.h"

namespace latentkit::ref {

void shuffle_permutation(int32_t* perm, int n, uint64_t seed, uint32_t epoch) {
  LK_CHECK(n > 0, "shuffle_permutation: n must be positive, got " << n);
  std::vector<uint64_t> keys(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    const uint64_t r = philox_block(seed, RngStream::Shuffle, epoch, static_cast<uint64_t>(i)).v[0];
    keys[i] = (r << 32) | static_cast<uint32_t>(i);
  }
  std::sort(keys.begin(), keys.end());
  for (int i = 0; i < n; ++i) perm[i] = static_cast<int32_t>(keys[i] & 0xffffffffu);
}

template <class T>
void gather_rows(const T* X, const int32_t* idx, int count, int d, T* out) {
  for (int r = 0; r < count; ++r)
    std::copy_n(X + static_cast<size_t>(idx[r]) * d, d, out + static_cast<size_t>(r) * d);
}

template <class T>
double sum(const T* v, size_t n) {
  double total = 0.0;
  for (size_t i = 0; i < n; ++i) total += static_cast<double>(v[i]);
  return total;
}

template void gather_rows<float>(const float*, const int32_t*, int, int, float*);
template void gather_rows<double>(const double*, const int32_t*, int, int, double*);
template double sum<float>(const float*, size_t);
template double sum<double>(const double*, size_t);

}  // namespace latentkit::ref
