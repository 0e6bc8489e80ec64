// t-SNE on either backend (declared in latentkit/families/tsne.h): the pipeline and the optimiser; the
// arithmetic is in latentkit::ref (CPU backend) and kernels/tsne.cu + kernels/tsne_fft.cu (CUDA),
// chosen in one place (tsne_ops: the optimiser's engine, all-pairs neighbours, PCA covariance).
// Tests: tests/test_ref_tsne.cpp (CPU pipeline), tests/test_tsne_gpu.cu, tests/test_tsne_app.cpp.
#include "latentkit/families/tsne.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <memory>
#include <string>

#include "kernels/cuda_check.cuh"
#include "kernels/cuda_resources.cuh"
#include "kernels/tsne.cuh"
#include "latentkit/pipelines/app.h"
#include "latentkit/core/check.h"
#include "latentkit/families/pairwise.h"
#include "latentkit/core/philox.h"
#include "latentkit/ref/tsne_ref.h"

namespace latentkit {
namespace {

using Clock = std::chrono::steady_clock;

// ---- the optimiser's arithmetic, one implementation per backend -------------------------------
class Engine {
 public:
  virtual ~Engine() = default;
  // Builds P from the neighbour lists (backend memory, [n, k]).
  virtual void affinities(const int32_t* idx, const float* dist2, int n, int k,
                          float perplexity) = 0;
  virtual int64_t nnz() const = 0;
  virtual void set_embedding(const std::vector<float>& y) = 0;
  virtual std::vector<float> embedding() = 0;
  // One gradient step; the repulsion exact or by FFT.
  virtual void step(bool exact, const TsneFftConfig& fft, float exaggeration, float momentum,
                    float learning_rate, float min_gain) = 0;
  // KL(P || Q) of the current embedding (Z exact or approximate as the method).
  virtual double kl(bool exact, const TsneFftConfig& fft) = 0;
};

class CpuEngine final : public Engine {
 public:
  CpuEngine(int n, int dims) : n_(n), dims_(dims) {}
  void affinities(const int32_t* idx, const float* dist2, int n, int k, float perplexity) override {
    std::vector<float> p_cond(static_cast<size_t>(n) * k), beta(n);
    ref::tsne_calibrate(dist2, n, k, perplexity, p_cond.data(), beta.data());
    csr_ = ref::tsne_symmetrize(idx, p_cond.data(), n, k);
  }
  int64_t nnz() const override { return static_cast<int64_t>(csr_.col.size()); }
  void set_embedding(const std::vector<float>& y) override {
    y_ = y;
    const size_t count = y.size();
    attr_.assign(count, 0.f);
    rep_.assign(count, 0.f);
    gains_.assign(count, 1.f);
    update_.assign(count, 0.f);
  }
  std::vector<float> embedding() override { return y_; }
  void step(bool exact, const TsneFftConfig& fft, float exaggeration, float momentum,
            float learning_rate, float min_gain) override {
    ref::tsne_attractive(csr_.row_ptr.data(), csr_.col.data(), csr_.val.data(), y_.data(), n_,
                         dims_, attr_.data());
    const double z = repulsion(exact, fft);
    ref::tsne_update(y_.data(), attr_.data(), rep_.data(), z, y_.size(), exaggeration, momentum,
                     learning_rate, min_gain, gains_.data(), update_.data());
  }
  double kl(bool exact, const TsneFftConfig& fft) override {
    const double z = repulsion(exact, fft);
    return ref::tsne_kl(csr_.row_ptr.data(), csr_.col.data(), csr_.val.data(), y_.data(), n_, dims_,
                        z);
  }

 private:
  double repulsion(bool exact, const TsneFftConfig& fft) {
    if (exact) return ref::tsne_repulsive_exact(y_.data(), n_, dims_, rep_.data());
    float lo[3], hi[3];
    ref::tsne_bounds(y_.data(), n_, dims_, lo, hi);
    const TsneFftGrid grid = tsne_fft_grid(fft, dims_, lo, hi, /*cuda=*/false);
    return ref::tsne_repulsive_fft(y_.data(), n_, dims_, grid, rep_.data());
  }
  int n_, dims_;
  ref::TsneCsr csr_;
  std::vector<float> y_, attr_, rep_, gains_, update_;
};

class CudaEngine final : public Engine {
 public:
  CudaEngine(Backend& backend, int n, int dims)
      : stream_(backend.cuda_stream()),
        n_(n),
        dims_(dims),
        scalars_(4),
        lo_hi_(6),
        z_rows_(2 * static_cast<size_t>(n)) {}
  void affinities(const int32_t* idx, const float* dist2, int n, int k, float perplexity) override {
    cuda::DeviceBuffer<float> p_cond(static_cast<size_t>(n) * k), beta(n);
    cuda::tsne_calibrate(dist2, n, k, perplexity, p_cond.data(), beta.data(), stream_);
    csr_ = cuda::tsne_symmetrize(idx, p_cond.data(), n, k, stream_);
  }
  int64_t nnz() const override { return csr_.nnz; }
  void set_embedding(const std::vector<float>& y) override {
    const size_t count = y.size();
    y_ = cuda::DeviceBuffer<float>(count);
    attr_ = cuda::DeviceBuffer<float>(count);
    rep_ = cuda::DeviceBuffer<float>(count);
    gains_ = cuda::DeviceBuffer<float>(count);
    update_ = cuda::DeviceBuffer<float>(count);
    const std::vector<float> ones(count, 1.f);
    LK_CUDA_CHECK(cudaMemcpyAsync(y_.data(), y.data(), count * sizeof(float),
                                  cudaMemcpyHostToDevice, stream_));
    LK_CUDA_CHECK(cudaMemcpyAsync(gains_.data(), ones.data(), count * sizeof(float),
                                  cudaMemcpyHostToDevice, stream_));
    LK_CUDA_CHECK(cudaMemsetAsync(update_.data(), 0, count * sizeof(float), stream_));
    LK_CUDA_CHECK(cudaStreamSynchronize(stream_));  // the host vectors go out of scope
  }
  std::vector<float> embedding() override {
    std::vector<float> y(y_.size());
    LK_CUDA_CHECK(
        cudaMemcpyAsync(y.data(), y_.data(), y_.bytes(), cudaMemcpyDeviceToHost, stream_));
    LK_CUDA_CHECK(cudaStreamSynchronize(stream_));
    return y;
  }
  void step(bool exact, const TsneFftConfig& fft, float exaggeration, float momentum,
            float learning_rate, float min_gain) override {
    cuda::tsne_attractive(csr_.row_ptr.data(), csr_.col.data(), csr_.val.data(), y_.data(), n_,
                          dims_, attr_.data(), stream_);
    repulsion(exact, fft);
    cuda::tsne_update(y_.data(), attr_.data(), rep_.data(), z(), y_.size(), exaggeration, momentum,
                      learning_rate, min_gain, gains_.data(), update_.data(), stream_);
  }
  double kl(bool exact, const TsneFftConfig& fft) override {
    repulsion(exact, fft);
    cuda::tsne_kl(csr_.row_ptr.data(), csr_.col.data(), csr_.val.data(), y_.data(), n_, dims_, z(),
                  z_rows_.data(), scalars_.data() + 1, stream_);
    double kl = 0.0;
    LK_CUDA_CHECK(
        cudaMemcpyAsync(&kl, scalars_.data() + 1, sizeof(double), cudaMemcpyDeviceToHost, stream_));
    LK_CUDA_CHECK(cudaStreamSynchronize(stream_));
    return kl;
  }

 private:
  double* z() { return scalars_.data(); }
  void repulsion(bool exact, const TsneFftConfig& fft) {
    if (exact) {
      cuda::tsne_repulsive_exact(y_.data(), n_, dims_, rep_.data(), z_rows_.data(), z(), stream_);
      return;
    }
    // The grid depends on the bounds: one small copy and a sync per iteration.
    float lo_hi[6];
    cuda::tsne_bounds(y_.data(), n_, dims_, lo_hi_.data(), stream_);
    LK_CUDA_CHECK(cudaMemcpyAsync(lo_hi, lo_hi_.data(), 2 * dims_ * sizeof(float),
                                  cudaMemcpyDeviceToHost, stream_));
    LK_CUDA_CHECK(cudaStreamSynchronize(stream_));
    const TsneFftGrid grid = tsne_fft_grid(fft, dims_, lo_hi, lo_hi + dims_, /*cuda=*/true);
    fft_.run(y_.data(), n_, dims_, grid, rep_.data(), z(), stream_);
  }
  cudaStream_t stream_;
  int n_, dims_;
  cuda::TsneCsrDevice csr_;
  cuda::DeviceBuffer<double> scalars_;  // [0] Z, [1] KL
  cuda::DeviceBuffer<float> lo_hi_;
  cuda::DeviceBuffer<double> z_rows_;  // per-row scratch (2n: the KL uses two sums)
  cuda::DeviceBuffer<float> y_, attr_, rep_, gains_, update_;
  cuda::TsneFftRepulsion fft_;
};

// ---- PCA helpers (host, float64) ---------------------------------------------------------------

// Jacobi eigen-decomposition of the symmetric b x b matrix A (row-major, destroyed): eigenvalues
// in w, eigenvectors in the columns of V.
void jacobi_eigen(std::vector<double>& A, int b, std::vector<double>& w, std::vector<double>& V) {
  V.assign(static_cast<size_t>(b) * b, 0.0);
  for (int i = 0; i < b; ++i) V[i * b + i] = 1.0;
  for (int sweep = 0; sweep < 100; ++sweep) {  // converges in < 10 sweeps for b <= 16
    double off = 0.0, diag = 0.0;
    for (int i = 0; i < b; ++i)
      for (int j = 0; j < b; ++j) (i == j ? diag : off) += A[i * b + j] * A[i * b + j];
    if (off <= 1e-30 * std::max(diag, 1e-300)) break;
    for (int p = 0; p < b; ++p)
      for (int q = p + 1; q < b; ++q) {
        const double apq = A[p * b + q];
        if (std::fabs(apq) < 1e-300) continue;
        const double theta = (A[q * b + q] - A[p * b + p]) / (2.0 * apq);
        const double t =
            (theta >= 0 ? 1.0 : -1.0) / (std::fabs(theta) + std::sqrt(theta * theta + 1.0));
        const double c = 1.0 / std::sqrt(t * t + 1.0), s = t * c;
        for (int k = 0; k < b; ++k) {  // A <- A J (columns p, q)
          const double akp = A[k * b + p], akq = A[k * b + q];
          A[k * b + p] = c * akp - s * akq;
          A[k * b + q] = s * akp + c * akq;
        }
        for (int k = 0; k < b; ++k) {  // A <- J^T A (rows p, q)
          const double apk = A[p * b + k], aqk = A[q * b + k];
          A[p * b + k] = c * apk - s * aqk;
          A[q * b + k] = s * apk + c * aqk;
        }
        for (int k = 0; k < b; ++k) {
          const double vkp = V[k * b + p], vkq = V[k * b + q];
          V[k * b + p] = c * vkp - s * vkq;
          V[k * b + q] = s * vkp + c * vkq;
        }
      }
  }
  w.resize(b);
  for (int i = 0; i < b; ++i) w[i] = A[i * b + i];
}

// Orthonormalises the b columns of Q [d, b] (modified Gram-Schmidt, twice for stability).
void orthonormalize(std::vector<double>& Q, int d, int b) {
  for (int pass = 0; pass < 2; ++pass)
    for (int j = 0; j < b; ++j) {
      for (int i = 0; i < j; ++i) {
        double dot = 0.0;
        for (int r = 0; r < d; ++r) dot += Q[r * b + i] * Q[r * b + j];
        for (int r = 0; r < d; ++r) Q[r * b + j] -= dot * Q[r * b + i];
      }
      double norm = 0.0;
      for (int r = 0; r < d; ++r) norm += Q[r * b + j] * Q[r * b + j];
      norm = std::sqrt(norm);
      // A column that vanished (rank-deficient C): leave it zero, its eigenvalue is 0.
      for (int r = 0; r < d; ++r) Q[r * b + j] = norm > 1e-300 ? Q[r * b + j] / norm : 0.0;
    }
}

// The top `dims` eigenvectors (columns of the returned [d, dims]) of the symmetric C [d, d].
std::vector<double> top_eigenvectors(const std::vector<double>& C, int d, int dims) {
  const int b = std::min(d, dims + 8);  // 8 guard vectors speed up subspace iteration
  std::vector<double> Q(static_cast<size_t>(d) * b), W(Q.size());
  for (size_t e = 0; e < Q.size(); ++e) Q[e] = philox_normal(0, RngStream::Tsne, 1, e);
  orthonormalize(Q, d, b);
  std::vector<double> H(static_cast<size_t>(b) * b), CQ(Q.size()), w, V;
  std::vector<double> prev;
  for (int it = 0; it < 1000; ++it) {  // 1000 products of C: far more than any spectrum needs
    for (int r = 0; r < d; ++r)
      for (int j = 0; j < b; ++j) {
        double s = 0.0;
        for (int c = 0; c < d; ++c) s += C[static_cast<size_t>(r) * d + c] * Q[c * b + j];
        W[r * b + j] = s;
      }
    // Rayleigh-Ritz on span(W): rotate onto the eigenvectors of Q^T C Q (C Q formed once: d^2 b
    // products, not d^2 b^2; 784-pixel images took ~60M products per step the other way).
    orthonormalize(W, d, b);
    Q.swap(W);
    for (int r = 0; r < d; ++r)
      for (int j = 0; j < b; ++j) {
        double cq = 0.0;
        for (int c = 0; c < d; ++c) cq += C[static_cast<size_t>(r) * d + c] * Q[c * b + j];
        CQ[r * b + j] = cq;
      }
    for (int i = 0; i < b; ++i)
      for (int j = 0; j < b; ++j) {
        double s = 0.0;
        for (int r = 0; r < d; ++r) s += Q[r * b + i] * CQ[r * b + j];
        H[i * b + j] = s;
      }
    jacobi_eigen(H, b, w, V);
    std::vector<int> order(b);
    for (int i = 0; i < b; ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](int x, int y) { return w[x] > w[y]; });
    std::vector<double> R(static_cast<size_t>(d) * b, 0.0);
    for (int r = 0; r < d; ++r)
      for (int j = 0; j < b; ++j) {
        double s = 0.0;
        for (int i = 0; i < b; ++i) s += Q[r * b + i] * V[i * b + order[j]];
        R[r * b + j] = s;
      }
    Q.swap(R);
    // Converged when the top `dims` eigenvalues stop moving (relative 1e-12), or b == d (exact).
    std::vector<double> top(dims);
    for (int j = 0; j < dims; ++j) top[j] = w[order[j]];
    bool done = b == d;
    if (!prev.empty()) {
      done = true;
      for (int j = 0; j < dims; ++j)
        if (std::fabs(top[j] - prev[j]) > 1e-12 * std::max(std::fabs(top[0]), 1e-300)) done = false;
    }
    prev = top;
    if (done && it >= 2) break;  // at least 3 products so the vectors settle, not only the values
    if (b == d) break;
  }
  std::vector<double> out(static_cast<size_t>(d) * dims);
  for (int j = 0; j < dims; ++j) {
    int big = 0;
    for (int r = 0; r < d; ++r)
      if (std::fabs(Q[r * b + j]) > std::fabs(Q[big * b + j])) big = r;
    const double sign = Q[big * b + j] < 0 ? -1.0 : 1.0;
    for (int r = 0; r < d; ++r) out[r * dims + j] = sign * Q[r * b + j];
  }
  return out;
}

void validate(const std::vector<float>& X, int n, int d, const TsneOptions& opt) {
  check_tsne_flags(opt);
  LK_INPUT_CHECK(n >= 2, "t-SNE needs at least 2 rows, got " << n);
  LK_INPUT_CHECK(d >= 1, "t-SNE needs at least 1 column");
  LK_INPUT_CHECK(X.size() == static_cast<size_t>(n) * d,
                 "t-SNE input has " << X.size() << " values, expected " << n << " x " << d);
  LK_INPUT_CHECK(opt.perplexity < n, "--perplexity "
                                         << opt.perplexity << " must be less than the " << n
                                         << " rows (scikit-learn's rule): lower it or add rows");
  LK_INPUT_CHECK(opt.kl_every >= 1, "the KL report interval must be >= 1");
  bool varies = false;
  for (size_t e = 0; e < X.size(); ++e) {
    LK_INPUT_CHECK(std::isfinite(X[e]), "t-SNE input row " << e / d + 1 << " column " << e % d + 1
                                                           << " is not a finite number");
    if (!varies && X[e] != X[e % d]) varies = true;
  }
  LK_INPUT_CHECK(varies, "all " << n
                                << " rows are identical (zero variance): t-SNE has nothing "
                                   "to embed");
}

// C (d x d, float64) = Xc^T Xc with Xc the rows of X minus `mean` (unnormalised: the
// eigenvectors do not care), both triangles filled.
void covariance_cuda(Backend& backend, const std::vector<float>& X, int n, int d,
                     const std::vector<double>& mean, std::vector<double>& C) {
  std::vector<double> xc(static_cast<size_t>(n) * d);
  for (int i = 0; i < n; ++i)
    for (int c = 0; c < d; ++c)
      xc[static_cast<size_t>(i) * d + c] = X[static_cast<size_t>(i) * d + c] - mean[c];
  const cudaStream_t stream = backend.cuda_stream();
  const cublasHandle_t handle = backend.cublas_handle();
  cuda::DeviceBuffer<double> xd(xc.size()), cd(C.size());
  LK_CUDA_CHECK(
      cudaMemcpyAsync(xd.data(), xc.data(), xd.bytes(), cudaMemcpyHostToDevice, stream));
  // Row-major Xc [n, d] is column-major Xc^T [d, n]: C = (Xc^T)(Xc^T)^T, a d x d SYRK (upper).
  const double one = 1.0, zero = 0.0;
  LK_CUBLAS_CHECK(cublasDsyrk(handle, CUBLAS_FILL_MODE_UPPER, CUBLAS_OP_N, d, n, &one, xd.data(),
                              d, &zero, cd.data(), d));
  LK_CUDA_CHECK(cudaMemcpyAsync(C.data(), cd.data(), cd.bytes(), cudaMemcpyDeviceToHost, stream));
  LK_CUDA_CHECK(cudaStreamSynchronize(stream));
  // Column-major upper triangle: element (r, c), r <= c, at C[c * d + r]; mirror it.
  for (int c = 0; c < d; ++c)
    for (int r = 0; r < c; ++r)
      C[static_cast<size_t>(r) * d + c] = C[static_cast<size_t>(c) * d + r];
}

void covariance_reference(Backend&, const std::vector<float>& X, int n, int d,
                          const std::vector<double>& mean, std::vector<double>& C) {
  std::vector<double> row(d);
  for (int i = 0; i < n; ++i) {
    for (int c = 0; c < d; ++c) row[c] = X[static_cast<size_t>(i) * d + c] - mean[c];
    for (int r = 0; r < d; ++r) {
      const double xr = row[r];
      double* cr = C.data() + static_cast<size_t>(r) * d;
      for (int c = r; c < d; ++c) cr[c] += xr * row[c];
    }
  }
  for (int r = 0; r < d; ++r)
    for (int c = 0; c < r; ++c)
      C[static_cast<size_t>(r) * d + c] = C[static_cast<size_t>(c) * d + r];
}

void all_pairs_cuda(Backend& backend, const float* X, int n, int d, int32_t* idx, float* dist2) {
  cuda::tsne_all_pairs(X, n, d, idx, dist2, backend.cuda_stream());
}

void all_pairs_reference(Backend&, const float* X, int n, int d, int32_t* idx, float* dist2) {
  ref::tsne_all_pairs(X, n, d, idx, dist2);
}

std::unique_ptr<Engine> make_cuda_engine(Backend& backend, int n, int dims) {
  return std::make_unique<CudaEngine>(backend, n, dims);
}

std::unique_ptr<Engine> make_cpu_engine(Backend&, int n, int dims) {
  return std::make_unique<CpuEngine>(n, dims);
}

// What differs between the backends: the optimiser's engine, the all-pairs neighbour lists of
// the exact affinities and the PCA initialisation's covariance. tsne_ops is the one place that
// chooses (the neighbour lists of the kNN path come from the pairwise family).
struct TsneOps {
  std::unique_ptr<Engine> (*make_engine)(Backend&, int n, int dims);
  void (*all_pairs)(Backend&, const float* X, int n, int d, int32_t* idx, float* dist2);
  void (*covariance)(Backend&, const std::vector<float>& X, int n, int d,
                     const std::vector<double>& mean, std::vector<double>& C);
};

const TsneOps& tsne_ops(const Backend& backend) {
  static const TsneOps kernels = {make_cuda_engine, all_pairs_cuda, covariance_cuda};
  static const TsneOps reference = {make_cpu_engine, all_pairs_reference, covariance_reference};
  return backend.kind() == DeviceKind::Cuda ? kernels : reference;
}

}  // namespace

void check_tsne_flags(const TsneOptions& opt) {
  LK_FLAG_CHECK(opt.dims == 2 || opt.dims == 3, "--dims must be 2 or 3, got " << opt.dims);
  LK_FLAG_CHECK(std::isfinite(opt.perplexity) && opt.perplexity > 0,
                "--perplexity must be positive, got " << opt.perplexity);
  LK_FLAG_CHECK(opt.iterations >= 0, "--iterations must be >= 0, got " << opt.iterations);
  LK_FLAG_CHECK(opt.learning_rate >= 0 && std::isfinite(opt.learning_rate),
                "--learning-rate must be >= 0 (0: auto)");
  LK_FLAG_CHECK(opt.early_exaggeration > 0, "early exaggeration must be positive");
}

std::vector<float> tsne_random_init(int n, int dims, uint64_t seed) {
  std::vector<float> y(static_cast<size_t>(n) * dims);
  constexpr double kInitStd = 1e-4;  // scikit-learn's random init scale
  for (size_t e = 0; e < y.size(); ++e)
    y[e] = static_cast<float>(kInitStd * philox_normal(seed, RngStream::Tsne, 0, e));
  return y;
}

std::vector<float> tsne_pca_init(Backend& backend, const std::vector<float>& X, int n, int d,
                                 int dims) {
  LK_INPUT_CHECK(d >= dims, "--init pca needs at least --dims (" << dims
                                                                 << ") columns, the data has " << d
                                                                 << ": use --init random");
  LK_CHECK(X.size() == static_cast<size_t>(n) * d, "tsne_pca_init: X has the wrong size");
  std::vector<double> mean(d, 0.0);
  for (int i = 0; i < n; ++i)
    for (int c = 0; c < d; ++c) mean[c] += X[static_cast<size_t>(i) * d + c];
  for (double& m : mean) m /= n;
  // Covariance (unnormalised: the eigenvectors do not care) C = Xc^T Xc in float64.
  std::vector<double> C(static_cast<size_t>(d) * d, 0.0);
  tsne_ops(backend).covariance(backend, X, n, d, mean, C);
  const std::vector<double> V = top_eigenvectors(C, d, dims);
  std::vector<double> y(static_cast<size_t>(n) * dims, 0.0);
  for (int i = 0; i < n; ++i)
    for (int c = 0; c < d; ++c) {
      const double xc = X[static_cast<size_t>(i) * d + c] - mean[c];
      for (int j = 0; j < dims; ++j) y[static_cast<size_t>(i) * dims + j] += xc * V[c * dims + j];
    }
  double m0 = 0.0, s0 = 0.0;
  for (int i = 0; i < n; ++i) m0 += y[static_cast<size_t>(i) * dims];
  m0 /= n;
  for (int i = 0; i < n; ++i) {
    const double t = y[static_cast<size_t>(i) * dims] - m0;
    s0 += t * t;
  }
  s0 = std::sqrt(s0 / n);  // numpy's std (ddof 0), as scikit-learn
  LK_INPUT_CHECK(s0 > 0,
                 "the data has no variance along its first principal component: use --init random");
  constexpr double kInitStd = 1e-4;  // scikit-learn scales the PCA init to this std
  std::vector<float> out(y.size());
  for (size_t e = 0; e < y.size(); ++e) out[e] = static_cast<float>(y[e] / s0 * kInitStd);
  return out;
}

TsneResult run_tsne(Backend& backend, const std::vector<float>& X, int n, int d,
                    const TsneOptions& opt) {
  const auto t_start = Clock::now();
  validate(X, n, d, opt);
  TsneResult r;
  r.n = n;
  r.dims = opt.dims;
  const bool exact =
      opt.method == TsneMethod::Exact || (opt.method == TsneMethod::Auto && n <= kTsneExactMaxN);
  r.method = exact ? "exact" : "fft";
  // k = 3 * perplexity neighbours (van der Maaten 2014, scikit-learn), all pairs when that is
  // all there is or for the exact method's small N.
  const int k_knn = static_cast<int>(std::min<double>(n - 1, std::floor(3.0 * opt.perplexity + 1)));
  r.exact_affinities = (exact && n <= kTsneExactMaxN) || k_knn >= n - 1;
  r.neighbors = r.exact_affinities ? n - 1 : k_knn;
  r.learning_rate =
      opt.learning_rate > 0 ? opt.learning_rate : std::max(n / opt.early_exaggeration / 4.0, 50.0);

  const TsneOps& ops = tsne_ops(backend);
  std::unique_ptr<Engine> engine = ops.make_engine(backend, n, opt.dims);

  // ---- affinities ----
  auto t0 = Clock::now();
  {
    const int k = r.neighbors;
    const Array<float> x_dev = backend.upload(X);
    Array<int32_t> idx = backend.alloc_int(static_cast<size_t>(n) * k);
    Array<float> dist2 = backend.alloc(static_cast<size_t>(n) * k);
    if (r.exact_affinities) {
      ops.all_pairs(backend, x_dev.data(), n, d, idx.data(), dist2.data());
    } else {
      knn(backend, x_dev.view(n, d), x_dev.view(n, d), k, /*exclude_self=*/true, idx.view(n, k),
          dist2.view(n, k));
    }
    engine->affinities(idx.data(), dist2.data(), n, k, static_cast<float>(opt.perplexity));
    backend.synchronize();
  }
  r.nnz = engine->nnz();
  r.seconds_affinities = seconds_since(t0);

  // ---- initialisation ----
  t0 = Clock::now();
  engine->set_embedding(opt.init == TsneInit::Pca ? tsne_pca_init(backend, X, n, d, opt.dims)
                                                  : tsne_random_init(n, opt.dims, opt.seed));
  r.seconds_init = seconds_since(t0);

  // ---- optimisation ----
  t0 = Clock::now();
  const int exaggerated = std::min(opt.exaggeration_iterations, opt.iterations);
  for (int it = 1; it <= opt.iterations; ++it) {
    const bool early = it <= exaggerated;
    engine->step(exact, opt.fft, static_cast<float>(early ? opt.early_exaggeration : 1.0),
                 static_cast<float>(early ? opt.momentum_early : opt.momentum_late),
                 static_cast<float>(r.learning_rate), static_cast<float>(opt.min_gain));
    TsneProgress p;
    p.iteration = it;
    p.iterations = opt.iterations;
    if (it % opt.kl_every == 0 || it == opt.iterations) {
      p.kl = engine->kl(exact, opt.fft);
      LK_INPUT_CHECK(std::isfinite(p.kl), "t-SNE diverged at iteration "
                                              << it << " (KL " << p.kl
                                              << "): lower the learning rate or the perplexity");
      p.kl_reported = true;
      r.kl_history.emplace_back(it, p.kl);
    }
    p.seconds = seconds_since(t0);
    if (opt.progress) opt.progress(p);
  }
  if (opt.iterations == 0) r.kl_history.emplace_back(0, engine->kl(exact, opt.fft));
  r.kl = r.kl_history.back().second;
  r.embedding = engine->embedding();
  r.seconds_optimize = seconds_since(t0);
  r.seconds_total = seconds_since(t_start);
  return r;
}

nlohmann::json tsne_result_json(const TsneResult& r, const TsneOptions& opt) {
  nlohmann::json kl = nlohmann::json::array();
  for (const auto& [it, v] : r.kl_history) kl.push_back({{"iteration", it}, {"kl", v}});
  return {
      {"n", r.n},
      {"dims", r.dims},
      {"method", r.method},
      {"kl", r.kl},
      {"kl_note", r.method == "fft"
                      ? "KL(P||Q) with the FFT method's approximate normalisation Z (as FIt-SNE)"
                      : "KL(P||Q), exact"},
      {"kl_history", kl},
      {"affinities",
       {{"exact_all_pairs", r.exact_affinities}, {"neighbors", r.neighbors}, {"nnz", r.nnz}}},
      {"parameters",
       {{"perplexity", opt.perplexity},
        {"iterations", opt.iterations},
        {"method_requested", enum_name(opt.method)},
        {"init", enum_name(opt.init)},
        {"seed", opt.seed},
        {"learning_rate", r.learning_rate},
        {"early_exaggeration", opt.early_exaggeration},
        {"exaggeration_iterations", opt.exaggeration_iterations},
        {"momentum", {opt.momentum_early, opt.momentum_late}},
        {"min_gain", opt.min_gain}}}};
}

}  // namespace latentkit
