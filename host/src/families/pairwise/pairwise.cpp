// Host API of the pairwise-distance family (latentkit/families/pairwise.h): input checks, then the CPU
// reference or the CUDA launchers on the backend's stream.
#include "latentkit/families/pairwise.h"

#include <algorithm>

#include "kernels/knn.cuh"
#include "kernels/pairwise.cuh"
#include "latentkit/core/check.h"
#include "latentkit/core/philox.h"
#include "latentkit/ref/pairwise_ref.h"

namespace latentkit {

void knn(Backend& backend, const float* Q, int nq, const float* X, int nx, int d, int k,
         bool exclude_self, int32_t* idx_out, float* dist2_out) {
  LK_INPUT_CHECK(d >= 1, "knn: the points need at least one column, got d=" << d);
  LK_INPUT_CHECK(nq >= 0 && nx >= 1, "knn: need at least one reference point, got nx=" << nx);
  LK_INPUT_CHECK(!exclude_self || nq == nx,
                 "knn: exclude_self means the queries are the reference points, but nq="
                     << nq << " != nx=" << nx);
  const int available = exclude_self ? nx - 1 : nx;
  LK_INPUT_CHECK(k >= 1 && k <= available,
                 "knn: k=" << k << " neighbours requested but only " << available
                           << " candidates per query exist; use 1 <= k <= " << available);
  if (nq == 0) return;
  LK_CHECK(Q && X && idx_out && dist2_out, "knn: null pointer");
  if (backend.kind() == DeviceKind::Cpu) {
    ref::knn(Q, nq, X, nx, d, k, exclude_self, idx_out, dist2_out);
  } else {
    cuda::knn(Q, nq, X, nx, d, k, exclude_self, idx_out, dist2_out,
              static_cast<cudaStream_t>(backend.cuda_stream()));
  }
}

void pairwise_sqdist(Backend& backend, const float* X, int n, const float* Y, int m, int d,
                     float* out) {
  LK_INPUT_CHECK(d >= 1 && n >= 0 && m >= 0,
                 "pairwise_sqdist: bad shape n=" << n << " m=" << m << " d=" << d);
  if (backend.kind() == DeviceKind::Cpu) {
    ref::pairwise_sqdist(X, n, Y, m, d, out);
  } else {
    cuda::pairwise_sqdist(X, n, Y, m, d, out, static_cast<cudaStream_t>(backend.cuda_stream()));
  }
}

std::vector<int> philox_subsample(int n, int count, uint64_t seed, uint32_t offset) {
  LK_CHECK(count >= 0 && count <= n,
           "philox_subsample: count " << count << " outside [0, " << n << "]");
  std::vector<uint64_t> keys(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i)
    keys[i] = (static_cast<uint64_t>(
                   philox_block(seed, RngStream::Subsample, offset, static_cast<uint64_t>(i)).v[0])
               << 32) |
              static_cast<uint32_t>(i);
  std::nth_element(keys.begin(), keys.begin() + count, keys.end());
  std::vector<int> idx(static_cast<size_t>(count));
  for (int r = 0; r < count; ++r) idx[r] = static_cast<int>(keys[r] & 0xffffffffu);
  std::sort(idx.begin(), idx.end());
  return idx;
}

}  // namespace latentkit
