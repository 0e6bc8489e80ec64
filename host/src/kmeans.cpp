// Host API of the KMeans family (latentkit/kmeans.h): k-means++ seeding and the Lloyd loop on the
// host for both backends; the assign and update steps and the silhouette's per-point pass run in
// latentkit::ref (CPU) or kernels/kmeans.cu (CUDA, the backend's stream).
#include "latentkit/kmeans.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <numeric>
#include <vector>

#include "kernels/cuda_resources.cuh"
#include "kernels/kmeans.cuh"
#include "latentkit/check.h"
#include "latentkit/philox.h"
#include "latentkit/ref/kmeans_ref.h"

namespace latentkit {
namespace {

// The two data-parallel steps of a Lloyd iteration on one backend.
class LloydSteps {
 public:
  virtual ~LloydSteps() = default;
  // Assigns every point to its closest centre (C: k x d on the host); returns the inertia and, when
  // count_changes, the number of labels that differ from the previous assignment.
  virtual double assign(const std::vector<float>& C, bool count_changes, int* changed) = 0;
  // Per-cluster float64 sums (k x d) and counts of the current labels, on the host.
  virtual void update(std::vector<double>& sums, std::vector<double>& counts) = 0;
  virtual std::vector<float> mindist() = 0;
  virtual std::vector<int32_t> labels() = 0;
};

class CpuSteps : public LloydSteps {
 public:
  CpuSteps(const float* X, int n, int d, int k)
      : X_(X), n_(n), d_(d), k_(k), labels_(n), prev_(n), mindist_(n) {}
  double assign(const std::vector<float>& C, bool count_changes, int* changed) override {
    std::swap(labels_, prev_);
    return ref::kmeans_assign(X_, n_, d_, C.data(), k_, count_changes ? prev_.data() : nullptr,
                              labels_.data(), mindist_.data(), changed);
  }
  void update(std::vector<double>& sums, std::vector<double>& counts) override {
    ref::kmeans_update_sums(X_, n_, d_, labels_.data(), k_, sums.data(), counts.data());
  }
  std::vector<float> mindist() override { return mindist_; }
  std::vector<int32_t> labels() override { return labels_; }

 private:
  const float* X_;
  int n_, d_, k_;
  std::vector<int32_t> labels_, prev_;
  std::vector<float> mindist_;
};

class CudaSteps : public LloydSteps {
 public:
  CudaSteps(const float* X, int n, int d, int k, cudaStream_t stream)
      : X_(X),
        n_(n),
        d_(d),
        k_(k),
        stream_(stream),
        C_(static_cast<size_t>(k) * d),
        labels_(n),
        prev_(n),
        mindist_(n),
        blocks_(cuda::kmeans_assign_blocks(n)),
        block_inertia_(blocks_),
        block_changed_(blocks_),
        sums_(static_cast<size_t>(k) * d),
        counts_(k),
        scratch_(cuda::kmeans_update_scratch(n, k, d)) {}
  double assign(const std::vector<float>& C, bool count_changes, int* changed) override {
    std::swap(labels_, prev_);
    LK_CUDA_CHECK(
        cudaMemcpyAsync(C_.data(), C.data(), C_.bytes(), cudaMemcpyHostToDevice, stream_));
    cuda::kmeans_assign(X_, n_, d_, C_.data(), k_, count_changes ? prev_.data() : nullptr,
                        labels_.data(), mindist_.data(), block_inertia_.data(),
                        block_changed_.data(), stream_);
    std::vector<double> inertia(blocks_);
    std::vector<int> ch(blocks_);
    LK_CUDA_CHECK(cudaMemcpyAsync(inertia.data(), block_inertia_.data(), block_inertia_.bytes(),
                                  cudaMemcpyDeviceToHost, stream_));
    LK_CUDA_CHECK(cudaMemcpyAsync(ch.data(), block_changed_.data(), block_changed_.bytes(),
                                  cudaMemcpyDeviceToHost, stream_));
    LK_CUDA_CHECK(cudaStreamSynchronize(stream_));
    double total = 0.0;
    for (double v : inertia) total += v;  // fixed order
    if (changed) *changed = std::accumulate(ch.begin(), ch.end(), 0);
    return total;
  }
  void update(std::vector<double>& sums, std::vector<double>& counts) override {
    cuda::kmeans_update_sums(X_, n_, d_, labels_.data(), k_, sums_.data(), counts_.data(),
                             scratch_.data(), stream_);
    LK_CUDA_CHECK(
        cudaMemcpyAsync(sums.data(), sums_.data(), sums_.bytes(), cudaMemcpyDeviceToHost, stream_));
    LK_CUDA_CHECK(cudaMemcpyAsync(counts.data(), counts_.data(), counts_.bytes(),
                                  cudaMemcpyDeviceToHost, stream_));
    LK_CUDA_CHECK(cudaStreamSynchronize(stream_));
  }
  std::vector<float> mindist() override { return download(mindist_); }
  std::vector<int32_t> labels() override { return download(labels_); }

 private:
  template <class T>
  std::vector<T> download(const cuda::DeviceBuffer<T>& b) {
    std::vector<T> h(b.size());
    LK_CUDA_CHECK(cudaMemcpyAsync(h.data(), b.data(), b.bytes(), cudaMemcpyDeviceToHost, stream_));
    LK_CUDA_CHECK(cudaStreamSynchronize(stream_));
    return h;
  }
  const float* X_;
  int n_, d_, k_;
  cudaStream_t stream_;
  cuda::DeviceBuffer<float> C_;
  cuda::DeviceBuffer<int32_t> labels_, prev_;
  cuda::DeviceBuffer<float> mindist_;
  int blocks_;
  cuda::DeviceBuffer<double> block_inertia_;
  cuda::DeviceBuffer<int> block_changed_;
  cuda::DeviceBuffer<double> sums_, counts_, scratch_;
};

std::unique_ptr<LloydSteps> make_steps(Backend& backend, const float* X, int n, int d, int k) {
  if (backend.kind() == DeviceKind::Cpu) return std::make_unique<CpuSteps>(X, n, d, k);
  return std::make_unique<CudaSteps>(X, n, d, k, static_cast<cudaStream_t>(backend.cuda_stream()));
}

double sqdist(const float* a, const float* b, int d) {
  double s = 0.0;
  for (int j = 0; j < d; ++j) {
    const double diff = static_cast<double>(a[j]) - b[j];
    s += diff * diff;
  }
  return s;
}

// Mean over columns of the per-column variance (sklearn's tol scale).
double mean_variance(const std::vector<float>& X, int n, int d) {
  double total = 0.0;
  for (int j = 0; j < d; ++j) {
    double mean = 0.0;
    for (int i = 0; i < n; ++i) mean += X[static_cast<size_t>(i) * d + j];
    mean /= n;
    double var = 0.0;
    for (int i = 0; i < n; ++i) {
      const double diff = X[static_cast<size_t>(i) * d + j] - mean;
      var += diff * diff;
    }
    total += var / n;
  }
  return total / d;
}

std::vector<int> philox_sample(int n, int count, uint64_t seed, uint32_t offset) {
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

KMeansResult lloyd(LloydSteps& steps, const std::vector<float>& Xh, int n, int d, int k,
                   std::vector<float> C, const KMeansOptions& opt, double tol_abs) {
  KMeansResult res;
  res.k = k;
  std::vector<double> sums(static_cast<size_t>(k) * d), counts(k);
  for (int it = 0; it < opt.max_iter; ++it) {
    int changed = 0;
    const double inertia = steps.assign(C, it > 0, &changed);
    res.inertia_trace.push_back(inertia);
    res.n_iter = it + 1;
    if (it > 0 && changed == 0) break;  // labels unchanged: the centres would not move
    steps.update(sums, counts);
    std::vector<float> next(C.size());
    std::vector<int> empty;
    for (int c = 0; c < k; ++c) {
      if (counts[c] > 0) {
        for (int j = 0; j < d; ++j)
          next[static_cast<size_t>(c) * d + j] =
              static_cast<float>(sums[static_cast<size_t>(c) * d + j] / counts[c]);
      } else {
        empty.push_back(c);
      }
    }
    if (!empty.empty()) {
      // The points farthest from their centres (ties to the smaller index), one per empty cluster.
      const std::vector<float> md = steps.mindist();
      std::vector<int> order(static_cast<size_t>(n));
      std::iota(order.begin(), order.end(), 0);
      const size_t take = std::min(empty.size(), order.size());
      std::partial_sort(order.begin(), order.begin() + take, order.end(),
                        [&](int a, int b) { return md[a] > md[b] || (md[a] == md[b] && a < b); });
      for (size_t e = 0; e < take; ++e)
        std::copy_n(Xh.data() + static_cast<size_t>(order[e]) * d, d,
                    next.data() + static_cast<size_t>(empty[e]) * d);
      res.empty_reseeds += static_cast<int>(empty.size());
    }
    double shift = 0.0;
    for (int c = 0; c < k; ++c)
      shift += sqdist(next.data() + static_cast<size_t>(c) * d,
                      C.data() + static_cast<size_t>(c) * d, d);
    C.swap(next);
    if (shift <= tol_abs) {
      // Converged by tolerance: one more assignment for labels matching the final centres.
      res.inertia = steps.assign(C, false, nullptr);
      res.centers = C;
      res.labels = steps.labels();
      return res;
    }
  }
  // Stopped on unchanged labels (centres match the labels) or at max_iter (final assignment).
  res.inertia = steps.assign(C, false, nullptr);
  res.centers = C;
  res.labels = steps.labels();
  return res;
}

}  // namespace

std::vector<float> kmeans_plus_plus(const std::vector<float>& X, int n, int d, int k, uint64_t seed,
                                    int restart) {
  LK_INPUT_CHECK(k >= 1 && k <= n,
                 "kmeans: k=" << k << " clusters need at least k points, got " << n);
  const uint32_t offset =
      (static_cast<uint32_t>(restart) << 16) | static_cast<uint32_t>(k & 0xffff);
  uint64_t draw = 0;
  const auto uniform = [&]() {  // (0, 1]
    return philox_uniform(seed, RngStream::KMeansInit, offset, draw++);
  };
  const auto row = [&](int i) { return X.data() + static_cast<size_t>(i) * d; };
  std::vector<float> C(static_cast<size_t>(k) * d);
  int first = std::min(n - 1, static_cast<int>(uniform() * n));
  std::copy_n(row(first), d, C.data());
  std::vector<double> closest(static_cast<size_t>(n)), cand_d(static_cast<size_t>(n)),
      best_d(static_cast<size_t>(n)), cumsum(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) closest[i] = sqdist(row(i), row(first), d);
  // sklearn: 2 + int(ln k) candidates per centre, the one that lowers the potential most wins.
  const int trials = 2 + static_cast<int>(std::log(static_cast<double>(k)));
  for (int c = 1; c < k; ++c) {
    double potential = 0.0;
    for (int i = 0; i < n; ++i) cumsum[i] = (potential += closest[i]);
    double best_pot = std::numeric_limits<double>::infinity();
    int best = 0;
    for (int t = 0; t < trials; ++t) {
      int cand;
      if (potential > 0) {
        const double r = uniform() * potential;
        cand = static_cast<int>(std::lower_bound(cumsum.begin(), cumsum.end(), r) - cumsum.begin());
        cand = std::min(cand, n - 1);
      } else {  // every point sits on a centre: any point will do
        cand = std::min(n - 1, static_cast<int>(uniform() * n));
      }
      double pot = 0.0;
      for (int i = 0; i < n; ++i) {
        cand_d[i] = std::min(closest[i], sqdist(row(i), row(cand), d));
        pot += cand_d[i];
      }
      if (pot < best_pot) {
        best_pot = pot;
        best = cand;
        best_d.swap(cand_d);
      }
    }
    closest.swap(best_d);
    std::copy_n(row(best), d, C.data() + static_cast<size_t>(c) * d);
  }
  return C;
}

KMeansResult kmeans(Backend& backend, const float* X, int n, int d, const KMeansOptions& opt) {
  LK_INPUT_CHECK(n >= 1 && d >= 1, "kmeans: need at least one point with one column");
  LK_INPUT_CHECK(opt.k >= 1 && opt.k <= n,
                 "kmeans: k=" << opt.k << " clusters need k <= n = " << n << " points");
  LK_INPUT_CHECK(opt.n_init >= 1 && opt.max_iter >= 1 && opt.tol >= 0 && std::isfinite(opt.tol),
                 "kmeans: need n_init >= 1, max_iter >= 1 and tol >= 0");
  const std::vector<float> Xh = backend.download(X, static_cast<size_t>(n) * d);
  const double tol_abs = opt.tol * mean_variance(Xh, n, d);
  auto steps = make_steps(backend, X, n, d, opt.k);
  KMeansResult best;
  for (int r = 0; r < opt.n_init; ++r) {
    auto C = kmeans_plus_plus(Xh, n, d, opt.k, opt.seed, r);
    KMeansResult res = lloyd(*steps, Xh, n, d, opt.k, std::move(C), opt, tol_abs);
    res.best_init = r;
    if (r == 0 || res.inertia < best.inertia) best = std::move(res);
  }
  return best;
}

SilhouetteResult silhouette(Backend& backend, const float* X, int n, int d, const int32_t* labels,
                            int k, int sample_size, uint64_t seed) {
  LK_INPUT_CHECK(n >= 1 && d >= 1 && k >= 1, "silhouette: need points and k >= 1");
  std::vector<float> Xh = backend.download(X, static_cast<size_t>(n) * d);
  std::vector<int32_t> lh = backend.download(labels, static_cast<size_t>(n));
  SilhouetteResult res;
  if (sample_size > 0 && sample_size < n) {
    const auto idx = philox_sample(n, sample_size, seed, 4);
    std::vector<float> xs(static_cast<size_t>(sample_size) * d);
    std::vector<int32_t> ls(static_cast<size_t>(sample_size));
    for (int r = 0; r < sample_size; ++r) {
      std::copy_n(Xh.data() + static_cast<size_t>(idx[r]) * d, d,
                  xs.data() + static_cast<size_t>(r) * d);
      ls[r] = lh[idx[r]];
    }
    Xh.swap(xs);
    lh.swap(ls);
    res.sampled = true;
  }
  const int m = static_cast<int>(lh.size());
  res.points = m;
  std::vector<int32_t> begin(static_cast<size_t>(k) + 1, 0);
  for (int32_t l : lh) {
    LK_INPUT_CHECK(l >= 0 && l < k, "silhouette: label " << l << " outside [0, " << k << ")");
    ++begin[l + 1];
  }
  int present = 0;
  for (int c = 0; c < k; ++c) present += begin[c + 1] > 0;
  LK_INPUT_CHECK(present >= 2 && present <= m - 1,
                 "silhouette: needs 2 <= number of clusters present <= points - 1, got "
                     << present << " clusters among " << m << " points"
                     << (res.sampled ? " (in the sample; use a larger sample size)" : ""));
  std::vector<double> s(static_cast<size_t>(m));
  if (backend.kind() == DeviceKind::Cpu) {
    ref::silhouette_samples(Xh.data(), m, d, lh.data(), k, s.data());
  } else {
    for (int c = 0; c < k; ++c) begin[c + 1] += begin[c];
    std::vector<int> order(static_cast<size_t>(m));
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return lh[a] < lh[b]; });
    std::vector<float> xs(Xh.size());
    std::vector<int32_t> ls(static_cast<size_t>(m));
    for (int r = 0; r < m; ++r) {
      std::copy_n(Xh.data() + static_cast<size_t>(order[r]) * d, d,
                  xs.data() + static_cast<size_t>(r) * d);
      ls[r] = lh[order[r]];
    }
    const cudaStream_t stream = static_cast<cudaStream_t>(backend.cuda_stream());
    cuda::DeviceBuffer<float> xd(xs.size());
    cuda::DeviceBuffer<int32_t> ld(ls.size()), bd(begin.size());
    cuda::DeviceBuffer<double> sd(s.size());
    LK_CUDA_CHECK(
        cudaMemcpyAsync(xd.data(), xs.data(), xd.bytes(), cudaMemcpyHostToDevice, stream));
    LK_CUDA_CHECK(
        cudaMemcpyAsync(ld.data(), ls.data(), ld.bytes(), cudaMemcpyHostToDevice, stream));
    LK_CUDA_CHECK(
        cudaMemcpyAsync(bd.data(), begin.data(), bd.bytes(), cudaMemcpyHostToDevice, stream));
    cuda::silhouette_samples_sorted(xd.data(), m, d, ld.data(), bd.data(), k, sd.data(), stream);
    LK_CUDA_CHECK(cudaMemcpyAsync(s.data(), sd.data(), sd.bytes(), cudaMemcpyDeviceToHost, stream));
    LK_CUDA_CHECK(cudaStreamSynchronize(stream));
  }
  double total = 0.0;
  for (double v : s) total += v;
  res.score = total / m;
  return res;
}

KMeansSweep kmeans_sweep(Backend& backend, const float* X, int n, int d, int k_min, int k_max,
                         const KMeansOptions& opt, int silhouette_sample) {
  LK_INPUT_CHECK(k_min >= 2 && k_min <= k_max,
                 "kmeans sweep: need 2 <= k_min <= k_max, got " << k_min << ".." << k_max);
  LK_INPUT_CHECK(k_max < n,
                 "kmeans sweep: k_max=" << k_max << " needs more than k_max points, got " << n);
  KMeansSweep sweep;
  double best = -std::numeric_limits<double>::infinity();
  for (int k = k_min; k <= k_max; ++k) {
    KMeansOptions o = opt;
    o.k = k;
    KMeansSweepEntry e;
    e.fit = kmeans(backend, X, n, d, o);
    Array<int32_t> lab = backend.upload(e.fit.labels);
    e.silhouette = silhouette(backend, X, n, d, lab.data(), k, silhouette_sample, opt.seed);
    if (e.silhouette.score > best) {
      best = e.silhouette.score;
      sweep.best_k_silhouette = k;
    }
    sweep.per_k.push_back(std::move(e));
  }
  return sweep;
}

}  // namespace latentkit
