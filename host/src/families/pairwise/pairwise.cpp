// Host API of the pairwise-distance family (latentkit/families/pairwise.h): shape and memory
// checks, then the CPU reference or the CUDA launchers on the backend's stream, chosen in one
// place (pairwise_ops).
#include "latentkit/families/pairwise.h"

#include <algorithm>
#include <climits>

#include "kernels/knn.cuh"
#include "kernels/pairwise.cuh"
#include "latentkit/core/check.h"
#include "latentkit/core/philox.h"
#include "latentkit/ref/pairwise_ref.h"

namespace latentkit {
namespace {

// The family's ops with the launchers' argument order: (matrix, rows, ...) as in
// latentkit::ref and latentkit::cuda.
struct PairwiseOps {
  void (*knn)(const float* Q, int nq, const float* X, int nx, int d, int k, bool exclude_self,
              int32_t* idx_out, float* dist2_out, CUstream_st* stream);
  void (*sqdist)(const float* X, int n, const float* Y, int m, int d, float* out,
                 CUstream_st* stream);
};

// The family's one dispatch point: the reference on the CPU backend, the kernels on CUDA.
const PairwiseOps& pairwise_ops(const Backend& backend) {
  static const PairwiseOps reference = {
      [](const float* Q, int nq, const float* X, int nx, int d, int k, bool exclude_self,
         int32_t* idx_out, float* dist2_out,
         CUstream_st*) { ref::knn(Q, nq, X, nx, d, k, exclude_self, idx_out, dist2_out); },
      [](const float* X, int n, const float* Y, int m, int d, float* out, CUstream_st*) {
        ref::pairwise_sqdist(X, n, Y, m, d, out);
      }};
  static const PairwiseOps kernels = {
      [](const float* Q, int nq, const float* X, int nx, int d, int k, bool exclude_self,
         int32_t* idx_out, float* dist2_out, CUstream_st* stream) {
        cuda::knn(Q, nq, X, nx, d, k, exclude_self, idx_out, dist2_out, stream);
      },
      [](const float* X, int n, const float* Y, int m, int d, float* out, CUstream_st* stream) {
        cuda::pairwise_sqdist(X, n, Y, m, d, out, stream);
      }};
  return backend.kind() == DeviceKind::Cuda ? kernels : reference;
}

// The launchers index with int: a dimension beyond it is refused, not wrapped.
int as_int(int64_t v, const char* what) {
  LK_INPUT_CHECK(v <= INT_MAX, what << " " << v << " is more than the " << INT_MAX
                                    << " the pairwise kernels index");
  return static_cast<int>(v);
}

}  // namespace

void knn(Backend& backend, MatrixView<const float> Q, MatrixView<const float> X, int k,
         bool exclude_self, MatrixView<int32_t> idx_out, MatrixView<float> dist2_out) {
  const int nq = as_int(Q.rows, "knn: query rows");
  const int nx = as_int(X.rows, "knn: reference rows");
  const int d = as_int(X.cols, "knn: columns");
  LK_INPUT_CHECK(d >= 1, "knn: the points need at least one column, got d=" << d);
  LK_INPUT_CHECK(Q.cols == X.cols,
                 "knn: the queries have " << Q.cols << " columns, the reference points " << d);
  LK_INPUT_CHECK(nx >= 1, "knn: need at least one reference point, got nx=" << nx);
  LK_INPUT_CHECK(!exclude_self || nq == nx,
                 "knn: exclude_self means the queries are the reference points, but nq="
                     << nq << " != nx=" << nx);
  const int available = exclude_self ? nx - 1 : nx;
  LK_INPUT_CHECK(k >= 1 && k <= available,
                 "knn: k=" << k << " neighbours requested but only " << available
                           << " candidates per query exist; use 1 <= k <= " << available);
  LK_CHECK(idx_out.rows == nq && idx_out.cols == k && dist2_out.rows == nq && dist2_out.cols == k,
           "knn: outputs are " << idx_out.rows << " x " << idx_out.cols << " and " << dist2_out.rows
                               << " x " << dist2_out.cols << ", need " << nq << " x " << k);
  const Memory mem = backend.memory();
  expect_on(mem, Q, "knn: Q");
  expect_on(mem, X, "knn: X");
  expect_on(mem, idx_out, "knn: idx_out");
  expect_on(mem, dist2_out, "knn: dist2_out");
  if (nq == 0) return;
  pairwise_ops(backend).knn(Q.data, nq, X.data, nx, d, k, exclude_self, idx_out.data,
                            dist2_out.data, backend.cuda_stream());
}

void pairwise_sqdist(Backend& backend, MatrixView<const float> X, MatrixView<const float> Y,
                     MatrixView<float> out) {
  const int n = as_int(X.rows, "pairwise_sqdist: rows of X");
  const int m = as_int(Y.rows, "pairwise_sqdist: rows of Y");
  const int d = as_int(X.cols, "pairwise_sqdist: columns");
  LK_INPUT_CHECK(d >= 1 && Y.cols == X.cols, "pairwise_sqdist: X has "
                                                 << X.cols << " columns and Y " << Y.cols
                                                 << ": need the same number, at least 1");
  LK_CHECK(out.rows == n && out.cols == m, "pairwise_sqdist: out is " << out.rows << " x "
                                                                      << out.cols << ", need " << n
                                                                      << " x " << m);
  const Memory mem = backend.memory();
  expect_on(mem, X, "pairwise_sqdist: X");
  expect_on(mem, Y, "pairwise_sqdist: Y");
  expect_on(mem, out, "pairwise_sqdist: out");
  if (n == 0 || m == 0) return;
  pairwise_ops(backend).sqdist(X.data, n, Y.data, m, d, out.data, backend.cuda_stream());
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
