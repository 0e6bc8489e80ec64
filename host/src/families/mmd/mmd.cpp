// Host API of the MMD family (latentkit/families/mmd.h): input checks, the median heuristic and
// the permutation plan (labels, subsample, column batches) once for both backends; the pairwise
// work behind MmdOps, latentkit::ref (CPU) or kernels/mmd.cu (CUDA, the backend's stream), chosen
// in one place (make_mmd_ops).
#include "latentkit/families/mmd.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <memory>
#include <vector>

#include "kernels/cuda_resources.cuh"
#include "kernels/mmd.cuh"
#include "latentkit/core/check.h"
#include "latentkit/core/philox.h"
#include "latentkit/families/pairwise.h"
#include "latentkit/ref/mmd_ref.h"

namespace latentkit {
namespace {

cuda::MmdKernelParams device_params(const MmdKernelSpec& spec) {
  cuda::MmdKernelParams kp{};
  kp.imq = spec.kind == MmdKernel::Imq ? 1 : 0;
  kp.count = static_cast<int>(spec.params.size());
  bool halving = true;
  for (size_t b = 1; b < spec.params.size(); ++b)
    if (spec.params[b] != spec.params[b - 1] * 0.5) halving = false;
  kp.halving = (!kp.imq && halving) ? 1 : 0;
  kp.neg_inv_2h0 = static_cast<float>(-0.5 / spec.params[0]);
  for (int b = 0; b < kp.count; ++b) {
    kp.param[b] = static_cast<float>(spec.params[b]);
    kp.neg_inv_2h[b] = static_cast<float>(-0.5 / spec.params[b]);
  }
  return kp;
}

void check_sizes(int n, int m, int d, bool unbiased) {
  LK_INPUT_CHECK(d >= 1, "mmd: the samples need at least one column");
  LK_INPUT_CHECK(n >= 1 && m >= 1,
                 "mmd: both samples need at least one row, got " << n << " and " << m);
  LK_INPUT_CHECK(!unbiased || (n >= 2 && m >= 2),
                 "mmd: the unbiased estimator needs at least 2 rows in each sample, got "
                     << n << " and " << m << "; use the biased estimator");
}

// The family's pairwise work on one backend, with the launchers' argument order. Matrices are in
// the backend's memory; V and R are on the host.
class MmdOps {
 public:
  virtual ~MmdOps() = default;
  // {sum k(X_i, X_j), sum k(Y_i, Y_j), sum k(X_i, Y_j)} over all pairs.
  virtual std::array<double, 3> kernel_sums_xy(const float* X, int n, const float* Y, int m, int d,
                                               const MmdKernelSpec& spec) = 0;
  // R (na x ncols doubles) = F V, F the kernel matrix of A and B (its slope when `slope`).
  virtual void weighted_sums(const float* A, int na, const float* B, int nb, int d,
                             const MmdKernelSpec& spec, bool slope, const std::vector<float>& V,
                             int ncols, std::vector<double>& R) = 0;
  // MMD^2 and its gradient in Y (m x d, backend memory); sizes and kernel already checked.
  virtual double mmd2_grad_y(const float* X, int n, const float* Y, int m, int d,
                             const MmdKernelSpec& spec, bool unbiased, float* grad_y) = 0;
};

class ReferenceMmdOps final : public MmdOps {
 public:
  std::array<double, 3> kernel_sums_xy(const float* X, int n, const float* Y, int m, int d,
                                       const MmdKernelSpec& spec) override {
    return {sum(X, n, X, n, d, spec), sum(Y, m, Y, m, d, spec), sum(X, n, Y, m, d, spec)};
  }
  void weighted_sums(const float* A, int na, const float* B, int nb, int d,
                     const MmdKernelSpec& spec, bool slope, const std::vector<float>& V, int ncols,
                     std::vector<double>& R) override {
    R.assign(static_cast<size_t>(na) * ncols, 0.0);
    ref::mmd_weighted_sums(A, na, B, nb, d, spec.kind, spec.params.data(),
                           static_cast<int>(spec.params.size()), slope, V.data(), ncols, R.data());
  }
  double mmd2_grad_y(const float* X, int n, const float* Y, int m, int d, const MmdKernelSpec& spec,
                     bool unbiased, float* grad_y) override {
    return ref::mmd2_grad_y(X, n, Y, m, d, spec.kind, spec.params.data(),
                            static_cast<int>(spec.params.size()), unbiased, grad_y);
  }

 private:
  static double sum(const float* A, int na, const float* B, int nb, int d,
                    const MmdKernelSpec& spec) {
    return ref::mmd_kernel_sum(A, na, B, nb, d, spec.kind, spec.params.data(),
                               static_cast<int>(spec.params.size()));
  }
};

class CudaMmdOps final : public MmdOps {
 public:
  explicit CudaMmdOps(Backend& backend) : be_(backend) {}
  std::array<double, 3> kernel_sums_xy(const float* X, int n, const float* Y, int m, int d,
                                       const MmdKernelSpec& spec) override {
    std::array<double, 3> sums{};
    cuda::mmd_kernel_sums_xy(X, n, Y, m, d, device_params(spec), sums.data(), be_.cuda_stream());
    return sums;
  }
  void weighted_sums(const float* A, int na, const float* B, int nb, int d,
                     const MmdKernelSpec& spec, bool slope, const std::vector<float>& V, int ncols,
                     std::vector<double>& R) override {
    R.assign(static_cast<size_t>(na) * ncols, 0.0);
    const cudaStream_t stream = be_.cuda_stream();
    cuda::DeviceBuffer<float> Vd(V.size());
    cuda::DeviceBuffer<double> Rd(R.size());
    LK_CUDA_CHECK(cudaMemcpyAsync(Vd.data(), V.data(), Vd.bytes(), cudaMemcpyHostToDevice, stream));
    cuda::mmd_weighted_sums(A, na, B, nb, d, device_params(spec), slope, Vd.data(), ncols,
                            Rd.data(), stream);
    LK_CUDA_CHECK(cudaMemcpyAsync(R.data(), Rd.data(), Rd.bytes(), cudaMemcpyDeviceToHost, stream));
    LK_CUDA_CHECK(cudaStreamSynchronize(stream));  // R is read, Vd and Rd freed, on return
  }
  double mmd2_grad_y(const float* X, int n, const float* Y, int m, int d, const MmdKernelSpec& spec,
                     bool unbiased, float* grad_y) override;

 private:
  Backend& be_;
};

// The family's one dispatch point.
std::unique_ptr<MmdOps> make_mmd_ops(Backend& backend) {
  if (backend.kind() == DeviceKind::Cuda) return std::make_unique<CudaMmdOps>(backend);
  return std::make_unique<ReferenceMmdOps>();
}

}  // namespace

double MmdPermutationResult::null_mean() const {
  double s = 0.0;
  for (double v : permuted) s += v;
  return permuted.empty() ? 0.0 : s / static_cast<double>(permuted.size());
}

double MmdPermutationResult::null_std() const {
  if (permuted.size() < 2) return 0.0;
  const double mean = null_mean();
  double s = 0.0;
  for (double v : permuted) s += (v - mean) * (v - mean);
  return std::sqrt(s / static_cast<double>(permuted.size() - 1));
}

std::vector<double> halving_list(double h, int count) {
  std::vector<double> out;
  for (int b = 0; b < count; ++b, h *= 0.5) out.push_back(h);
  return out;
}

void validate_mmd_kernel(const MmdKernelSpec& spec) {
  LK_INPUT_CHECK(!spec.params.empty() && static_cast<int>(spec.params.size()) <= kMmdMaxParams,
                 "mmd: give 1 to " << kMmdMaxParams << " "
                                   << (spec.kind == MmdKernel::Rbf ? "bandwidths" : "scales")
                                   << ", got " << spec.params.size());
  for (double p : spec.params)
    LK_INPUT_CHECK(std::isfinite(p) && p > 0 && p < 1e30,
                   "mmd: kernel bandwidths/scales must be positive finite numbers, got " << p);
}

double median_heuristic(const std::vector<float>& X, int n, const std::vector<float>& Y, int m,
                        int d, uint64_t seed, int max_points, int* points_used) {
  const int pooled = n + m;
  LK_INPUT_CHECK(pooled >= 2, "median heuristic: need at least two points");
  std::vector<int> idx;
  if (max_points > 1 && pooled > max_points) {
    idx = philox_subsample(pooled, max_points, seed, 1);
  } else {
    idx.resize(pooled);
    for (int i = 0; i < pooled; ++i) idx[i] = i;
  }
  const auto row = [&](int p) {
    return p < n ? X.data() + static_cast<size_t>(p) * d
                 : Y.data() + static_cast<size_t>(p - n) * d;
  };
  std::vector<double> d2;
  d2.reserve(idx.size() * (idx.size() - 1) / 2);
  for (size_t a = 0; a < idx.size(); ++a)
    for (size_t b = a + 1; b < idx.size(); ++b) {
      const float* u = row(idx[a]);
      const float* v = row(idx[b]);
      double s = 0.0;
      for (int c = 0; c < d; ++c) {
        const double diff = static_cast<double>(u[c]) - v[c];
        s += diff * diff;
      }
      d2.push_back(s);
    }
  // The lower median for an even count (a value that occurs), like numpy's 'lower' method.
  const size_t mid = (d2.size() - 1) / 2;
  std::nth_element(d2.begin(), d2.begin() + mid, d2.end());
  const double med = d2[mid];
  if (points_used) *points_used = static_cast<int>(idx.size());
  LK_INPUT_CHECK(med > 0,
                 "median heuristic: the median squared distance is 0 (most points are "
                 "identical); give --bandwidths explicitly");
  return med;
}

double mmd2(Backend& backend, const float* X, int n, const float* Y, int m, int d,
            const MmdKernelSpec& spec, bool unbiased) {
  check_sizes(n, m, d, unbiased);
  validate_mmd_kernel(spec);
  const auto [sxx, syy, sxy] = make_mmd_ops(backend)->kernel_sums_xy(X, n, Y, m, d, spec);
  const double k0 = static_cast<double>(spec.params.size());
  const double dn = n, dm = m;
  if (unbiased)
    return (sxx - dn * k0) / (dn * (dn - 1)) + (syy - dm * k0) / (dm * (dm - 1)) -
           2.0 * sxy / (dn * dm);
  return sxx / (dn * dn) + syy / (dm * dm) - 2.0 * sxy / (dn * dm);
}

double mmd2_grad_y(Backend& backend, const float* X, int n, const float* Y, int m, int d,
                   const MmdKernelSpec& spec, bool unbiased, float* grad_y) {
  check_sizes(n, m, d, unbiased);
  validate_mmd_kernel(spec);
  return make_mmd_ops(backend)->mmd2_grad_y(X, n, Y, m, d, spec, unbiased, grad_y);
}

// On the device the gradient is built from two weighted-sum passes (no n x m matrix is stored).
double CudaMmdOps::mmd2_grad_y(const float* X, int n, const float* Y, int m, int d,
                               const MmdKernelSpec& spec, bool unbiased, float* grad_y) {
  Backend& backend = be_;
  const double value = mmd2(backend, X, n, Y, m, d, spec, unbiased);
  // grad_j = c_yy (sum_l g_jl y_l - y_j sum_l g_jl) - c_xy (sum_i g_ji x_i - y_j sum_i g_ji), with
  // the sums from R = G [1, coordinates - mu] (mu: the pooled mean, which cancels; centring keeps
  // the subtraction from cancelling digits when the data sit far from the origin).
  const std::vector<float> xh = backend.download(X, static_cast<size_t>(n) * d);
  const std::vector<float> yh = backend.download(Y, static_cast<size_t>(m) * d);
  std::vector<double> mu(d, 0.0);
  for (size_t e = 0; e < xh.size(); ++e) mu[e % d] += xh[e];
  for (size_t e = 0; e < yh.size(); ++e) mu[e % d] += yh[e];
  for (auto& v : mu) v /= (n + m);
  const int ncols = d + 1;
  const auto make_v = [&](const std::vector<float>& h, int rows) {
    std::vector<float> V(static_cast<size_t>(rows) * ncols);
    for (int r = 0; r < rows; ++r) {
      V[static_cast<size_t>(r) * ncols] = 1.f;
      for (int c = 0; c < d; ++c)
        V[static_cast<size_t>(r) * ncols + 1 + c] =
            static_cast<float>(h[static_cast<size_t>(r) * d + c] - mu[c]);
    }
    return V;
  };
  std::vector<double> r_yy, r_yx;
  weighted_sums(Y, m, Y, m, d, spec, true, make_v(yh, m), ncols, r_yy);
  weighted_sums(Y, m, X, n, d, spec, true, make_v(xh, n), ncols, r_yx);
  const double dn = n, dm = m;
  const double c_yy = 4.0 / (unbiased ? dm * (dm - 1) : dm * dm);
  const double c_xy = 4.0 / (dn * dm);
  std::vector<float> g(static_cast<size_t>(m) * d);
  for (int j = 0; j < m; ++j) {
    const double* ryy = r_yy.data() + static_cast<size_t>(j) * ncols;
    const double* ryx = r_yx.data() + static_cast<size_t>(j) * ncols;
    for (int c = 0; c < d; ++c) {
      const double yc = yh[static_cast<size_t>(j) * d + c] - mu[c];
      g[static_cast<size_t>(j) * d + c] =
          static_cast<float>(c_yy * (ryy[1 + c] - yc * ryy[0]) - c_xy * (ryx[1 + c] - yc * ryx[0]));
    }
  }
  backend.to_backend(grad_y, g.data(), g.size());
  return value;
}

MmdPermutationResult mmd_permutation_test(Backend& backend, const float* X, int n, const float* Y,
                                          int m, int d, const MmdKernelSpec& spec, bool unbiased,
                                          int permutations, uint64_t seed, int max_points,
                                          const std::function<void(int, int)>& progress) {
  check_sizes(n, m, d, unbiased);
  validate_mmd_kernel(spec);
  LK_INPUT_CHECK(permutations >= 1, "mmd: the permutation test needs at least 1 permutation");
  MmdPermutationResult res;
  res.permutations = permutations;
  const std::vector<float> xh = backend.download(X, static_cast<size_t>(n) * d);
  const std::vector<float> yh = backend.download(Y, static_cast<size_t>(m) * d);
  // The pooled sample tested: all points, or a Philox subsample with X and Y in proportion.
  int nx = n, ny = m;
  std::vector<int> xi, yi;
  if (max_points > 0 && max_points < n + m) {
    const int min_each = unbiased ? 2 : 1;
    nx = static_cast<int>(std::lround(static_cast<double>(max_points) * n / (n + m)));
    nx = std::min(n, std::max(min_each, nx));
    ny = std::min(m, std::max(min_each, max_points - nx));
    xi = philox_subsample(n, nx, seed, 2);
    yi = philox_subsample(m, ny, seed, 3);
    res.subsampled = true;
  } else {
    for (int i = 0; i < n; ++i) xi.push_back(i);
    for (int i = 0; i < m; ++i) yi.push_back(i);
  }
  res.points_x = nx;
  res.points_y = ny;
  const int pooled = nx + ny;
  std::vector<float> Z(static_cast<size_t>(pooled) * d);
  for (int r = 0; r < nx; ++r)
    std::copy_n(xh.data() + static_cast<size_t>(xi[r]) * d, d,
                Z.data() + static_cast<size_t>(r) * d);
  for (int r = 0; r < ny; ++r)
    std::copy_n(yh.data() + static_cast<size_t>(yi[r]) * d, d,
                Z.data() + static_cast<size_t>(nx + r) * d);
  Array<float> Zb = backend.upload(Z);
  const std::unique_ptr<MmdOps> ops = make_mmd_ops(backend);

  // Global columns: 0 = ones (row sums), 1 = the observed labelling, 1 + p = permutation p.
  // Batches of 64 columns: one device pass over the kernel tiles per batch.
  constexpr int kBatchCols = 64;
  const int total_cols = 2 + permutations;
  const double k0 = static_cast<double>(spec.params.size());
  std::vector<double> row_sums;  // R column 0
  double total = 0.0;
  std::vector<double> stats(static_cast<size_t>(permutations) + 1);
  std::vector<uint8_t> labels(static_cast<size_t>(pooled));
  for (int c0 = 0; c0 < total_cols; c0 += kBatchCols) {
    const int ncols = std::min(kBatchCols, total_cols - c0);
    std::vector<float> V(static_cast<size_t>(pooled) * ncols);
    std::vector<std::vector<uint8_t>> lab(ncols);
    for (int c = 0; c < ncols; ++c) {
      const int gc = c0 + c;
      auto& l = lab[c];
      l.assign(pooled, 1);
      if (gc == 1) {
        std::fill(l.begin() + nx, l.end(), uint8_t{0});
      } else if (gc >= 2) {
        ref::mmd_permutation_labels(seed, static_cast<uint32_t>(gc - 1), pooled, nx, l.data());
      }
      for (int i = 0; i < pooled; ++i) V[static_cast<size_t>(i) * ncols + c] = l[i];
    }
    std::vector<double> R;
    ops->weighted_sums(Zb.data(), pooled, Zb.data(), pooled, d, spec, false, V, ncols, R);
    if (c0 == 0) {
      row_sums.resize(pooled);
      for (int i = 0; i < pooled; ++i) {
        row_sums[i] = R[static_cast<size_t>(i) * ncols];
        total += row_sums[i];
      }
    }
    for (int c = 0; c < ncols; ++c) {
      const int gc = c0 + c;
      if (gc == 0) continue;
      double sxx = 0.0, sx_rows = 0.0;
      for (int i = 0; i < pooled; ++i)
        if (lab[c][i]) {
          sxx += R[static_cast<size_t>(i) * ncols + c];
          sx_rows += row_sums[i];
        }
      stats[gc - 1] = ref::mmd2_from_label_sums(sxx, sx_rows, total, nx, ny, k0, unbiased);
    }
    if (progress) progress(std::min(permutations, c0 + ncols - 1), permutations);
  }
  res.observed = stats[0];
  res.permuted.assign(stats.begin() + 1, stats.end());
  int at_least = 0;
  for (int p = 1; p <= permutations; ++p)
    if (stats[p] >= res.observed) ++at_least;
  res.p_value = (1.0 + at_least) / (1.0 + permutations);
  return res;
}

}  // namespace latentkit
