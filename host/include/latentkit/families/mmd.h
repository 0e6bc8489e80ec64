// Maximum mean discrepancy (MMD^2) between two samples on either backend (host/src/families/mmd/mmd.cpp): the
// biased and unbiased estimators, the gradient with respect to the second sample, the median
// heuristic and a permutation test. The CPU backend runs latentkit::ref (host/ref/mmd.cpp); CUDA
// the fused kernels of kernels/mmd.cu (pairwise tiles, kernel values summed in the epilogue, the
// N x M matrix never stored).
//
// Kernels (the seed's convention): RBF, a sum over bandwidths h of exp(-||x-y||^2 / (2h)); IMQ, a
// sum over scales C of C / (C + ||x-y||^2). With n = |X|, m = |Y| and full sums S_xx, S_yy, S_xy:
//   biased   MMD^2 = S_xx/n^2 + S_yy/m^2 - 2 S_xy/(nm)                                  (>= 0)
//   unbiased MMD^2 = (S_xx - n k0)/(n(n-1)) + (S_yy - m k0)/(m(m-1)) - 2 S_xy/(nm),
// k0 = k(x, x) = the number of bandwidths/scales.
// Tests: tests/test_ref_mmd.cpp, tests/test_mmd_gpu.cu. Benchmark: bench/bench_pairwise.cu.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "latentkit/core/backend.h"
#include "latentkit/core/enum_names.h"

namespace latentkit {

enum class MmdKernel { Rbf, Imq };
template <>
struct EnumNames<MmdKernel> {
  static constexpr const char* flag = "--kernel";
  static constexpr EnumName<MmdKernel> table[] = {{MmdKernel::Rbf, "rbf"}, {MmdKernel::Imq, "imq"}};
};

// Bandwidths (RBF) or scales (IMQ), at most kMmdMaxParams (a fixed-size array on the device).
constexpr int kMmdMaxParams = 16;
struct MmdKernelSpec {
  MmdKernel kind = MmdKernel::Rbf;
  std::vector<double> params;
};

// h, h/2, h/4, ... (count values): the seed's list. RBF lists of this form are evaluated with one
// exp and repeated squaring on the device (exp(-d/(2 h/2)) = exp(-d/(2h))^2).
std::vector<double> halving_list(double h, int count);

// Median of the squared pairwise distances of the pooled sample [X; Y] (host arrays), i < j, on a
// Philox subsample of at most max_points pooled points when larger (RngStream::Subsample, offset
// 1). Computed on the host for both backends, so both pick the same bandwidth. Throws InputError
// when the median is 0 (more than half the pairs identical).
double median_heuristic(const std::vector<float>& X, int n, const std::vector<float>& Y, int m,
                        int d, uint64_t seed, int max_points, int* points_used = nullptr);

// Checks the spec (non-empty, positive finite values, at most kMmdMaxParams); throws InputError.
void validate_mmd_kernel(const MmdKernelSpec& spec);

// MMD^2 of X (n x d) and Y (m x d) in backend memory. Unbiased needs n, m >= 2.
double mmd2(Backend& backend, const float* X, int n, const float* Y, int m, int d,
            const MmdKernelSpec& spec, bool unbiased);

// MMD^2 and its gradient with respect to Y: grad_y (m*d floats, backend memory) = d MMD^2 / d Y.
double mmd2_grad_y(Backend& backend, const float* X, int n, const float* Y, int m, int d,
                   const MmdKernelSpec& spec, bool unbiased, float* grad_y);

struct MmdPermutationResult {
  double observed = 0.0;  // MMD^2 of the (sub)sample tested, by the permutation machinery
  double p_value = 1.0;   // (1 + #{permuted >= observed}) / (1 + permutations)
  int permutations = 0;
  int points_x = 0, points_y = 0;  // the sample tested (all, or the subsample)
  bool subsampled = false;
  std::vector<double> permuted;    // MMD^2 of each permutation (the null distribution), 1..P
  double null_mean() const;
  double null_std() const;         // sample standard deviation (0 for fewer than 2)
};

// Permutation test of X vs Y. Permutation p (1..P) relabels the pooled sample by the order of
// philox_block(seed, MmdPermutation, p, i).v[0] (ties by i): its first n' points are "X". Labels
// are drawn on the host for both backends, so CPU and GPU test the same permutations. All
// permutations of a batch (up to 62 per pass on the device) share one pass over the kernel tiles:
// R = K V with V = [1, labels of each permutation], MMD^2_p from sum_i a_ip R_ip and the row sums.
// max_points > 0 and < n + m: the test runs on a Philox subsample (RngStream::Subsample,
// offset 2) of max_points pooled points, X and Y in proportion (at least 2 of each).
// `progress`, when given, is called after every batch with the permutations done and the total.
MmdPermutationResult mmd_permutation_test(
    Backend& backend, const float* X, int n, const float* Y, int m, int d,
    const MmdKernelSpec& spec, bool unbiased, int permutations, uint64_t seed, int max_points,
    const std::function<void(int done, int total)>& progress = nullptr);

}  // namespace latentkit
