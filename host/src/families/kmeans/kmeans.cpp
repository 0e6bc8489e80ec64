// Host API of the KMeans family (latentkit/families/kmeans.h): k-means++ seeding and the Lloyd loop
// on the host for both backends; the assign and update steps and the silhouette's per-point pass
// run in latentkit::ref (CPU) or kernels/kmeans.cu (CUDA, the backend's stream), chosen in one
// place (kmeans_ops).
#include "latentkit/families/kmeans.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <numeric>
#include <vector>

#include "kernels/cuda_resources.cuh"
#include "kernels/kmeans.cuh"
#include "latentkit/core/check.h"
#include "latentkit/families/pairwise.h"
#include "latentkit/core/philox.h"
#include "latentkit/ref/kmeans_ref.h"

namespace latentkit {
namespace {

// The two data-parallel steps of Lloyd iterations for a set of problems ("slots": one per k of a
// sweep, or a single one) on the same points, on one backend. Each call covers a list of slots:
// one launch for all of them on CUDA (kernels/kmeans.cu, batched), a loop over the reference on
// the CPU. A slot's arithmetic does not depend on which other slots share the call.
class LloydSteps {
 public:
  explicit LloydSteps(std::vector<int> ks) : ks_(std::move(ks)) {}
  virtual ~LloydSteps() = default;
  // Assigns every point to its closest centre for each slot s = slots[b] (C[s]: k_s x d, host):
  // inertia[b], and changed[b] = labels that differ from the slot's previous assignment.
  virtual void assign(const std::vector<int>& slots, const std::vector<std::vector<float>>& C,
                      std::vector<double>& inertia, std::vector<int>& changed) = 0;
  // Per-cluster float64 sums (k_s x d) and counts (k_s) of each listed slot's current labels,
  // into sums[s] and counts[s] (host).
  virtual void update(const std::vector<int>& slots, std::vector<std::vector<double>>& sums,
                      std::vector<std::vector<double>>& counts) = 0;
  virtual std::vector<float> mindist(int slot) = 0;
  virtual std::vector<int32_t> labels(int slot) = 0;
  int k(int slot) const { return ks_[slot]; }
  int slots() const { return static_cast<int>(ks_.size()); }

 protected:
  std::vector<int> ks_;
};

class CpuSteps : public LloydSteps {
 public:
  CpuSteps(const float* X, int n, int d, std::vector<int> ks)
      : LloydSteps(std::move(ks)),
        X_(X),
        n_(n),
        d_(d),
        labels_(ks_.size(), std::vector<int32_t>(n)),
        mindist_(ks_.size(), std::vector<float>(n)) {}
  void assign(const std::vector<int>& slots, const std::vector<std::vector<float>>& C,
              std::vector<double>& inertia, std::vector<int>& changed) override {
    for (size_t b = 0; b < slots.size(); ++b) {
      const int s = slots[b];
      // In place: the reference reads each previous label before writing the new one.
      inertia[b] = ref::kmeans_assign(X_, n_, d_, C[s].data(), ks_[s], labels_[s].data(),
                                      labels_[s].data(), mindist_[s].data(), &changed[b]);
    }
  }
  void update(const std::vector<int>& slots, std::vector<std::vector<double>>& sums,
              std::vector<std::vector<double>>& counts) override {
    for (int s : slots)
      ref::kmeans_update_sums(X_, n_, d_, labels_[s].data(), ks_[s], sums[s].data(),
                              counts[s].data());
  }
  std::vector<float> mindist(int slot) override { return mindist_[slot]; }
  std::vector<int32_t> labels(int slot) override { return labels_[slot]; }

 private:
  const float* X_;
  int n_, d_;
  std::vector<std::vector<int32_t>> labels_;
  std::vector<std::vector<float>> mindist_;
};

// All slots' centres stacked (slot s from row first_[s]), labels and mindist n per slot.
class CudaSteps : public LloydSteps {
 public:
  CudaSteps(const float* X, int n, int d, std::vector<int> ks, cudaStream_t stream)
      : LloydSteps(std::move(ks)), X_(X), n_(n), d_(d), stream_(stream), first_(ks_.size()) {
    for (size_t s = 0; s < ks_.size(); ++s) {
      first_[s] = total_k_;
      total_k_ += ks_[s];
      k_max_ = std::max(k_max_, ks_[s]);
    }
    const size_t count = ks_.size();
    C_ = cuda::DeviceBuffer<float>(static_cast<size_t>(total_k_) * d);
    C_host_.assign(C_.size(), 0.f);
    labels_ = cuda::DeviceBuffer<int32_t>(count * n);
    mindist_ = cuda::DeviceBuffer<float>(count * n);
    meta_ = cuda::DeviceBuffer<int>(3 * count);
    blocks_ = cuda::kmeans_assign_blocks(n);
    block_inertia_ = cuda::DeviceBuffer<double>(count * blocks_);
    block_changed_ = cuda::DeviceBuffer<int>(count * blocks_);
    sums_ = cuda::DeviceBuffer<double>(static_cast<size_t>(total_k_) * d);
    counts_ = cuda::DeviceBuffer<double>(total_k_);
    scratch_ = cuda::DeviceBuffer<double>(cuda::kmeans_update_scratch(n, total_k_, d));
    // Defined previous labels for the first (ignored) changed count.
    LK_CUDA_CHECK(cudaMemsetAsync(labels_.data(), 0, labels_.bytes(), stream_));
  }
  void assign(const std::vector<int>& slots, const std::vector<std::vector<float>>& C,
              std::vector<double>& inertia, std::vector<int>& changed) override {
    for (int s : slots)
      std::copy(C[s].begin(), C[s].end(), C_host_.begin() + static_cast<size_t>(first_[s]) * d_);
    LK_CUDA_CHECK(
        cudaMemcpyAsync(C_.data(), C_host_.data(), C_.bytes(), cudaMemcpyHostToDevice, stream_));
    const int count = upload_meta(slots);
    cuda::kmeans_assign_batched(X_, n_, d_, C_.data(), meta_.data(), count, k_max_, labels_.data(),
                                mindist_.data(), block_inertia_.data(), block_changed_.data(),
                                stream_);
    const size_t parts = static_cast<size_t>(count) * blocks_;
    std::vector<double> bi(parts);
    std::vector<int> bc(parts);
    LK_CUDA_CHECK(cudaMemcpyAsync(bi.data(), block_inertia_.data(), sizeof(double) * parts,
                                  cudaMemcpyDeviceToHost, stream_));
    LK_CUDA_CHECK(cudaMemcpyAsync(bc.data(), block_changed_.data(), sizeof(int) * parts,
                                  cudaMemcpyDeviceToHost, stream_));
    LK_CUDA_CHECK(cudaStreamSynchronize(stream_));
    for (int b = 0; b < count; ++b) {
      double total = 0.0;
      int ch = 0;
      for (int e = 0; e < blocks_; ++e) {  // fixed order
        total += bi[static_cast<size_t>(b) * blocks_ + e];
        ch += bc[static_cast<size_t>(b) * blocks_ + e];
      }
      inertia[b] = total;
      changed[b] = ch;
    }
  }
  void update(const std::vector<int>& slots, std::vector<std::vector<double>>& sums,
              std::vector<std::vector<double>>& counts) override {
    const int count = upload_meta(slots);
    cuda::kmeans_update_sums_batched(X_, n_, d_, labels_.data(), meta_.data(), count, k_max_,
                                     sums_.data(), counts_.data(), scratch_.data(), stream_);
    std::vector<double> sh(sums_.size()), ch(counts_.size());
    LK_CUDA_CHECK(
        cudaMemcpyAsync(sh.data(), sums_.data(), sums_.bytes(), cudaMemcpyDeviceToHost, stream_));
    LK_CUDA_CHECK(cudaMemcpyAsync(ch.data(), counts_.data(), counts_.bytes(),
                                  cudaMemcpyDeviceToHost, stream_));
    LK_CUDA_CHECK(cudaStreamSynchronize(stream_));
    for (int s : slots) {
      const size_t f = static_cast<size_t>(first_[s]);
      std::copy_n(sh.begin() + f * d_, static_cast<size_t>(ks_[s]) * d_, sums[s].begin());
      std::copy_n(ch.begin() + f, ks_[s], counts[s].begin());
    }
  }
  std::vector<float> mindist(int slot) override { return download(mindist_, slot); }
  std::vector<int32_t> labels(int slot) override { return download(labels_, slot); }

 private:
  // meta = {k, first, slot} per listed slot (kernels/kmeans.cuh); returns the count. The host
  // copy is a member: it outlives the asynchronous copy (each call synchronises before return).
  int upload_meta(const std::vector<int>& slots) {
    meta_host_.clear();
    for (int s : slots) meta_host_.insert(meta_host_.end(), {ks_[s], first_[s], s});
    LK_CUDA_CHECK(cudaMemcpyAsync(meta_.data(), meta_host_.data(), sizeof(int) * meta_host_.size(),
                                  cudaMemcpyHostToDevice, stream_));
    return static_cast<int>(slots.size());
  }
  template <class T>
  std::vector<T> download(const cuda::DeviceBuffer<T>& b, int slot) {
    std::vector<T> h(static_cast<size_t>(n_));
    LK_CUDA_CHECK(cudaMemcpyAsync(h.data(), b.data() + static_cast<size_t>(slot) * n_,
                                  sizeof(T) * h.size(), cudaMemcpyDeviceToHost, stream_));
    LK_CUDA_CHECK(cudaStreamSynchronize(stream_));
    return h;
  }
  const float* X_;
  int n_, d_;
  cudaStream_t stream_;
  std::vector<int> first_, meta_host_;
  int total_k_ = 0, k_max_ = 0, blocks_ = 0;
  std::vector<float> C_host_;
  cuda::DeviceBuffer<float> C_;
  cuda::DeviceBuffer<int32_t> labels_;
  cuda::DeviceBuffer<float> mindist_;
  cuda::DeviceBuffer<int> meta_;
  cuda::DeviceBuffer<double> block_inertia_;
  cuda::DeviceBuffer<int> block_changed_;
  cuda::DeviceBuffer<double> sums_, counts_, scratch_;
};

// Per-point silhouette values s[m] of Xh [m, d] (host) with labels lh in [0, k); begin[c + 1] holds
// the count of cluster c (begin[0] = 0).
void silhouette_reference(Backend&, const std::vector<float>& Xh, int m, int d,
                          const std::vector<int32_t>& lh, int k,
                          std::vector<int32_t> /*begin: the reference needs no offsets*/,
                          std::vector<double>& s) {
  ref::silhouette_samples(Xh.data(), m, d, lh.data(), k, s.data());
}

// The device kernel wants the points sorted by cluster and the clusters' start offsets.
void silhouette_cuda(Backend& backend, const std::vector<float>& Xh, int m, int d,
                     const std::vector<int32_t>& lh, int k, std::vector<int32_t> begin,
                     std::vector<double>& s) {
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
  const cudaStream_t stream = backend.cuda_stream();
  cuda::DeviceBuffer<float> xd(xs.size());
  cuda::DeviceBuffer<int32_t> ld(ls.size()), bd(begin.size());
  cuda::DeviceBuffer<double> sd(s.size());
  LK_CUDA_CHECK(cudaMemcpyAsync(xd.data(), xs.data(), xd.bytes(), cudaMemcpyHostToDevice, stream));
  LK_CUDA_CHECK(cudaMemcpyAsync(ld.data(), ls.data(), ld.bytes(), cudaMemcpyHostToDevice, stream));
  LK_CUDA_CHECK(
      cudaMemcpyAsync(bd.data(), begin.data(), bd.bytes(), cudaMemcpyHostToDevice, stream));
  cuda::silhouette_samples_sorted(xd.data(), m, d, ld.data(), bd.data(), k, sd.data(), stream);
  LK_CUDA_CHECK(cudaMemcpyAsync(s.data(), sd.data(), sd.bytes(), cudaMemcpyDeviceToHost, stream));
  LK_CUDA_CHECK(cudaStreamSynchronize(stream));
}

std::unique_ptr<LloydSteps> make_cpu_steps(Backend&, const float* X, int n, int d,
                                           std::vector<int> ks) {
  return std::make_unique<CpuSteps>(X, n, d, std::move(ks));
}

std::unique_ptr<LloydSteps> make_cuda_steps(Backend& backend, const float* X, int n, int d,
                                            std::vector<int> ks) {
  return std::make_unique<CudaSteps>(X, n, d, std::move(ks), backend.cuda_stream());
}

// What differs between the backends (the Lloyd steps and the silhouette), chosen in one place.
struct KMeansOps {
  std::unique_ptr<LloydSteps> (*make_steps)(Backend&, const float* X, int n, int d,
                                            std::vector<int> ks);
  void (*silhouette)(Backend&, const std::vector<float>& Xh, int m, int d,
                     const std::vector<int32_t>& lh, int k, std::vector<int32_t> begin,
                     std::vector<double>& s);
};

const KMeansOps& kmeans_ops(const Backend& backend) {
  static const KMeansOps kernels = {make_cuda_steps, silhouette_cuda};
  static const KMeansOps reference = {make_cpu_steps, silhouette_reference};
  return backend.kind() == DeviceKind::Cuda ? kernels : reference;
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

// Lloyd iterations for every slot of `steps` from its initial centres C[s], the slots' steps
// batched: each round assigns every slot still running, then updates those that go on. Per slot,
// exactly the iteration of one KMeans fit:
//  assign; stop when the labels did not change (the centres match them); else update, reseed
//  empty clusters, move the centres; after a move within tol_abs or the max_iter-th update, one
//  final assignment gives the labels and the inertia.
std::vector<KMeansResult> lloyd_batch(LloydSteps& steps, const std::vector<float>& Xh, int n, int d,
                                      std::vector<std::vector<float>> C, const KMeansOptions& opt,
                                      double tol_abs) {
  enum class Phase { Iterate, Final, Done };
  const int S = steps.slots();
  std::vector<KMeansResult> res(S);
  std::vector<Phase> phase(S, Phase::Iterate);
  std::vector<int> iter(S, 0);
  std::vector<std::vector<double>> sums(S), counts(S);
  for (int s = 0; s < S; ++s) {
    res[s].k = steps.k(s);
    sums[s].resize(static_cast<size_t>(steps.k(s)) * d);
    counts[s].resize(steps.k(s));
  }
  const auto finish = [&](int s, double inertia) {
    res[s].inertia = inertia;
    res[s].centers = C[s];
    res[s].labels = steps.labels(s);
    phase[s] = Phase::Done;
  };
  std::vector<int> running, moving;
  for (;;) {
    running.clear();
    for (int s = 0; s < S; ++s)
      if (phase[s] != Phase::Done) running.push_back(s);
    if (running.empty()) break;
    std::vector<double> inertia(running.size());
    std::vector<int> changed(running.size());
    steps.assign(running, C, inertia, changed);
    moving.clear();
    for (size_t b = 0; b < running.size(); ++b) {
      const int s = running[b];
      if (phase[s] == Phase::Final) {
        finish(s, inertia[b]);
        continue;
      }
      res[s].inertia_trace.push_back(inertia[b]);
      res[s].n_iter = iter[s] + 1;
      // Labels unchanged: the centres would not move, and this assignment is the final one.
      if (iter[s] > 0 && changed[b] == 0) {
        finish(s, inertia[b]);
        continue;
      }
      moving.push_back(s);
    }
    if (moving.empty()) continue;
    steps.update(moving, sums, counts);
    for (int s : moving) {
      const int k = steps.k(s);
      std::vector<float> next(C[s].size());
      std::vector<int> empty;
      for (int c = 0; c < k; ++c) {
        if (counts[s][c] > 0) {
          for (int j = 0; j < d; ++j)
            next[static_cast<size_t>(c) * d + j] =
                static_cast<float>(sums[s][static_cast<size_t>(c) * d + j] / counts[s][c]);
        } else {
          empty.push_back(c);
        }
      }
      if (!empty.empty()) {
        // The points farthest from their centres (ties to the smaller index), one per empty
        // cluster.
        const std::vector<float> md = steps.mindist(s);
        std::vector<int> order(static_cast<size_t>(n));
        std::iota(order.begin(), order.end(), 0);
        const size_t take = std::min(empty.size(), order.size());
        std::partial_sort(order.begin(), order.begin() + take, order.end(),
                          [&](int a, int b) { return md[a] > md[b] || (md[a] == md[b] && a < b); });
        for (size_t e = 0; e < take; ++e)
          std::copy_n(Xh.data() + static_cast<size_t>(order[e]) * d, d,
                      next.data() + static_cast<size_t>(empty[e]) * d);
        res[s].empty_reseeds += static_cast<int>(empty.size());
      }
      double shift = 0.0;
      for (int c = 0; c < k; ++c)
        shift += sqdist(next.data() + static_cast<size_t>(c) * d,
                        C[s].data() + static_cast<size_t>(c) * d, d);
      C[s].swap(next);
      ++iter[s];
      // Converged by tolerance, or out of iterations: one more assignment for labels matching
      // the final centres.
      if (shift <= tol_abs || iter[s] == opt.max_iter) phase[s] = Phase::Final;
    }
  }
  return res;
}

void check_options(int n, int d, const KMeansOptions& opt) {
  LK_INPUT_CHECK(n >= 1 && d >= 1, "kmeans: need at least one point with one column");
  LK_INPUT_CHECK(opt.n_init >= 1 && opt.max_iter >= 1 && opt.tol >= 0 && std::isfinite(opt.tol),
                 "kmeans: need n_init >= 1, max_iter >= 1 and tol >= 0");
}

// KMeans fits for every k in ks (k <= n), all k batched in each Lloyd step: n_init restarts,
// each k keeping its lowest inertia (the first restart on ties).
std::vector<KMeansResult> fit_all(Backend& backend, const float* X, int n, int d,
                                  const std::vector<int>& ks, const KMeansOptions& opt) {
  const std::vector<float> Xh = backend.download(X, static_cast<size_t>(n) * d);
  const double tol_abs = opt.tol * mean_variance(Xh, n, d);
  auto steps = kmeans_ops(backend).make_steps(backend, X, n, d, ks);
  std::vector<KMeansResult> best(ks.size());
  for (int r = 0; r < opt.n_init; ++r) {
    std::vector<std::vector<float>> C;
    for (int k : ks) C.push_back(kmeans_plus_plus(Xh, n, d, k, opt.seed, r));
    std::vector<KMeansResult> fits = lloyd_batch(*steps, Xh, n, d, std::move(C), opt, tol_abs);
    for (size_t s = 0; s < ks.size(); ++s) {
      fits[s].best_init = r;
      if (r == 0 || fits[s].inertia < best[s].inertia) best[s] = std::move(fits[s]);
    }
  }
  return best;
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
  check_options(n, d, opt);
  LK_INPUT_CHECK(opt.k >= 1 && opt.k <= n,
                 "kmeans: k=" << opt.k << " clusters need k <= n = " << n << " points");
  return std::move(fit_all(backend, X, n, d, {opt.k}, opt)[0]);
}

SilhouetteResult silhouette(Backend& backend, const float* X, int n, int d, const int32_t* labels,
                            int k, int sample_size, uint64_t seed) {
  LK_INPUT_CHECK(n >= 1 && d >= 1 && k >= 1, "silhouette: need points and k >= 1");
  std::vector<float> Xh = backend.download(X, static_cast<size_t>(n) * d);
  std::vector<int32_t> lh = backend.download(labels, static_cast<size_t>(n));
  SilhouetteResult res;
  if (sample_size > 0 && sample_size < n) {
    const auto idx = philox_subsample(n, sample_size, seed, 4);
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
  kmeans_ops(backend).silhouette(backend, Xh, m, d, lh, k, begin, s);
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
  check_options(n, d, opt);
  std::vector<int> ks;
  for (int k = k_min; k <= k_max; ++k) ks.push_back(k);
  std::vector<KMeansResult> fits = fit_all(backend, X, n, d, ks, opt);
  KMeansSweep sweep;
  double best = -std::numeric_limits<double>::infinity();
  for (size_t s = 0; s < ks.size(); ++s) {
    KMeansSweepEntry e;
    e.fit = std::move(fits[s]);
    Array<int32_t> lab = backend.upload(e.fit.labels);
    e.silhouette = silhouette(backend, X, n, d, lab.data(), ks[s], silhouette_sample, opt.seed);
    if (e.silhouette.score > best) {
      best = e.silhouette.score;
      sweep.best_k_silhouette = ks[s];
    }
    sweep.per_k.push_back(std::move(e));
  }
  return sweep;
}

}  // namespace latentkit
