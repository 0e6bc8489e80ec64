// Batched Gaussian mixtures on a Backend (see latentkit/families/gmm.h): validation, the host
// initialisation shared by both backends, model selection, score and sample; the EM batch, the
// scores and the draws run on the CPU reference (latentkit::ref) or on the CUDA kernels
// (kernels/gmm.cu, with the EM loop below), chosen in one place (gmm_ops).
#include "latentkit/families/gmm.h"

#include <algorithm>
#include <chrono>
#include <climits>
#include <cmath>
#include <limits>
#include <memory>

#include "kernels/cuda_check.cuh"
#include "kernels/cuda_resources.cuh"
#include "kernels/gmm.cuh"
#include "latentkit/core/check.h"
#include "latentkit/families/kmeans.h"
#include "latentkit/core/philox.h"
#include "latentkit/ref/gmm_ref.h"
#include "latentkit/ref/kmeans_ref.h"

namespace latentkit {
namespace {

size_t cov_size(GmmCovariance c, int d) {
  return c == GmmCovariance::Full ? static_cast<size_t>(d) * d : static_cast<size_t>(d);
}

// ---- host initialisation -------------------------------------------------------------------

// scikit-learn's 'kmeans' initialisation runs KMeans(n_clusters=K, n_init=1, random_state) and
// takes its labels; here latentkit's KMeans (latentkit/families/kmeans.h: greedy k-means++ seeding, Lloyd
// with sklearn's stopping rules and empty-cluster reseeding) on the CPU reference for both
// backends, so a CUDA fit starts from exactly the CPU's parameters. steps = 0: the k-means++
// seeds' nearest-centre labels only.
std::vector<int32_t> kmeans_labels(const std::vector<float>& x, int n, int d, int k, uint64_t seed,
                                   int steps) {
  if (steps == 0) {
    const std::vector<float> centers = kmeans_plus_plus(x, n, d, k, seed, 0);
    std::vector<int32_t> labels(n);
    std::vector<float> mindist(n);
    ref::kmeans_assign(x.data(), n, d, centers.data(), k, nullptr, labels.data(), mindist.data(),
                       nullptr);
    return labels;
  }
  KMeansOptions opt;
  opt.k = k;
  opt.n_init = 1;
  opt.max_iter = steps;
  opt.seed = seed;
  const std::unique_ptr<Backend> cpu = make_cpu_backend();
  return kmeans(*cpu, x.data(), n, d, opt).labels;  // the CPU backend's memory is host memory
}

// KMeans seed of restart r: the golden-ratio increment spreads restarts over Philox's key space
// (restart 0 uses cfg.seed itself); KMeans's own restart offset stays 0 (n_init = 1).
uint64_t kmeans_seed(uint64_t seed, int restart) {
  return seed + static_cast<uint64_t>(restart) * 0x9E3779B97F4A7C15ull;
}

// ---- the CUDA EM loop ----------------------------------------------------------------------

// Iterations between checks of the device's "any model still active" flags (one synchronising
// 4-byte-per-model copy): rare enough not to stall the queue, often enough to stop soon after
// the last model converged.
constexpr int kActiveCheckEvery = 8;

struct PackedBatch {
  std::vector<int32_t> comp_offset, comp_model;
  std::vector<double> weights, means, covs;
};

void throw_not_pd(int model, int local_component, int k) {
  LK_CHECK(false, "gmm: the covariance of component "
                      << local_component << " of model " << model << " (K=" << k
                      << ") is not positive definite: increase reg_covar or "
                      << "rescale the data");
}

// One model on the device with its Cholesky factors, precisions and log-normalisers: what
// gmm_score and gmm_sample start from. Throws (throw_not_pd) when a covariance is not positive
// definite.
struct DeviceGmmModel {
  cuda::DeviceBuffer<int32_t> offsets, model_of_component, bad;
  cuda::DeviceBuffer<double> w, mu, cov, chol, prec, log_norm;

  DeviceGmmModel(const GmmModel& m, cudaStream_t s)
      : offsets(2),
        model_of_component(m.k),
        bad(1),
        w(m.k),
        mu(m.means.size()),
        cov(m.covariances.size()),
        chol(m.k * cov_size(m.covariance, m.d)),
        prec(m.k * cov_size(m.covariance, m.d)),
        log_norm(m.k) {
    offsets.upload(std::vector<int32_t>{0, m.k}, s);
    model_of_component.upload(std::vector<int32_t>(m.k, 0), s);
    bad.upload(std::vector<int32_t>{INT32_MAX}, s);
    w.upload(m.weights, s);
    mu.upload(m.means, s);
    cov.upload(m.covariances, s);
    cuda::gmm_precisions(w.data(), cov.data(), model_of_component.data(), offsets.data(), nullptr,
                         m.k, m.d, m.covariance == GmmCovariance::Full, chol.data(), prec.data(),
                         log_norm.data(), bad.data(), s);
    const int32_t first_bad = bad.download(s)[0];
    if (first_bad != INT32_MAX) throw_not_pd(0, first_bad, m.k);
  }
};

// Runs EM on the device; updates the packed parameters; returns per-model status and the final
// mean log-likelihood (score) of every model.
std::vector<ref::GmmEmStatus> em_cuda(Backend& backend, const std::vector<float>& x, int n, int d,
                                      bool full, PackedBatch& p, const GmmConfig& cfg,
                                      std::vector<double>& final_ll) {
  const cudaStream_t s = backend.cuda_stream();
  const int B = static_cast<int>(p.comp_offset.size()) - 1;
  const int C = p.comp_offset.back();
  const size_t cs = full ? static_cast<size_t>(d) * d : static_cast<size_t>(d);
  const int ll_blocks = cuda::gmm_estep_blocks(n);
  cuda::DeviceBuffer<float> x_dev(x.size());
  cuda::DeviceBuffer<int32_t> offset_dev(B + 1), model_dev(C), active(B), n_iter(B), converged(B),
      bad(B);
  cuda::DeviceBuffer<double> w(C), mu(C * static_cast<size_t>(d)), cov(C * cs), chol(C * cs),
      prec(C * cs), log_norm(C), nk(C), lower_bound(B),
      partial_ll(static_cast<size_t>(B) * ll_blocks), resp(static_cast<size_t>(C) * n),
      scratch(cuda::gmm_mstep_scratch_size(n, d, full, C));
  x_dev.upload(x, s);
  offset_dev.upload(p.comp_offset, s);
  model_dev.upload(p.comp_model, s);
  w.upload(p.weights, s);
  mu.upload(p.means, s);
  cov.upload(p.covs, s);
  active.upload(std::vector<int32_t>(B, 1), s);
  n_iter.upload(std::vector<int32_t>(B, 0), s);
  converged.upload(std::vector<int32_t>(B, 0), s);
  bad.upload(std::vector<int32_t>(B, INT32_MAX), s);
  lower_bound.upload(std::vector<double>(B, -std::numeric_limits<double>::infinity()), s);

  int iterations_run = 0;  // for the progress line: all models may converge before max_iter
  for (int it = 1; it <= cfg.max_iter; ++it) {
    iterations_run = it;
    cuda::gmm_precisions(w.data(), cov.data(), model_dev.data(), offset_dev.data(), active.data(),
                         C, d, full, chol.data(), prec.data(), log_norm.data(), bad.data(), s);
    cuda::gmm_estep(x_dev.data(), n, d, full, B, offset_dev.data(), active.data(), mu.data(),
                    prec.data(), log_norm.data(), resp.data(), partial_ll.data(), nullptr, nullptr,
                    s);
    cuda::gmm_mstep(x_dev.data(), n, d, full, C, model_dev.data(), active.data(), resp.data(),
                    cfg.reg_covar, scratch.data(), nk.data(), mu.data(), cov.data(), s);
    cuda::gmm_finalize(n, B, offset_dev.data(), partial_ll.data(), nk.data(), cfg.tol, w.data(),
                       lower_bound.data(), n_iter.data(), converged.data(), active.data(), s);
    if (it % kActiveCheckEvery == 0 && it < cfg.max_iter) {
      const std::vector<int32_t> a = active.download(s);
      if (std::none_of(a.begin(), a.end(), [](int32_t v) { return v != 0; })) break;
      if (cfg.progress) cfg.progress("EM iterations", it, cfg.max_iter);
    }
  }
  if (cfg.progress) cfg.progress("EM iterations", iterations_run, iterations_run);
  // Score the final parameters of every model (active = nullptr: all of them).
  cuda::gmm_precisions(w.data(), cov.data(), model_dev.data(), offset_dev.data(), nullptr, C, d,
                       full, chol.data(), prec.data(), log_norm.data(), bad.data(), s);
  cuda::gmm_estep(x_dev.data(), n, d, full, B, offset_dev.data(), nullptr, mu.data(), prec.data(),
                  log_norm.data(), resp.data(), partial_ll.data(), nullptr, nullptr, s);
  const std::vector<int32_t> bad_h = bad.download(s);
  for (int b = 0; b < B; ++b)
    if (bad_h[b] != INT32_MAX) throw_not_pd(b, bad_h[b], p.comp_offset[b + 1] - p.comp_offset[b]);
  p.weights = w.download(s);
  p.means = mu.download(s);
  p.covs = cov.download(s);
  const std::vector<double> lb = lower_bound.download(s);
  const std::vector<int32_t> iters = n_iter.download(s), conv = converged.download(s);
  const std::vector<double> pll = partial_ll.download(s);
  std::vector<ref::GmmEmStatus> status(B);
  final_ll.assign(B, 0.0);
  for (int b = 0; b < B; ++b) {
    status[b].lower_bound = lb[b];
    status[b].n_iter = iters[b];
    status[b].converged = conv[b] != 0;
    double sum = 0.0;
    for (int blk = 0; blk < ll_blocks; ++blk) sum += pll[static_cast<size_t>(b) * ll_blocks + blk];
    final_ll[b] = sum / n;
  }
  return status;
}

// Runs EM with the reference; updates the packed parameters; returns per-model status and the
// final mean log-likelihood (score) of every model.
std::vector<ref::GmmEmStatus> em_reference(Backend&, const std::vector<float>& x, int n, int d,
                                           bool full, PackedBatch& p, const GmmConfig& cfg,
                                           std::vector<double>& final_ll) {
  const int B = static_cast<int>(p.comp_offset.size()) - 1;
  std::vector<ref::GmmEmStatus> status;
  const std::vector<int> offsets(p.comp_offset.begin(), p.comp_offset.end());
  status = ref::gmm_em_batch(x.data(), n, d, full, offsets, cfg.tol, cfg.reg_covar, cfg.max_iter,
                             p.weights.data(), p.means.data(), p.covs.data(), [&](int done) {
                               if (cfg.progress) cfg.progress("EM, models", done, B);
                             });
  const size_t cs = cov_size(cfg.covariance, d);
  const int C = p.comp_offset.back();
  std::vector<double> chol(C * cs), prec(C * cs), log_norm(C), resp;
  for (int b = 0; b < B; ++b) {
    const int c0 = p.comp_offset[b], k = p.comp_offset[b + 1] - c0;
    const int bad =
        ref::gmm_precisions(p.weights.data() + c0, p.covs.data() + c0 * cs, k, d, full,
                            chol.data() + c0 * cs, prec.data() + c0 * cs, log_norm.data() + c0);
    if (bad >= 0) throw_not_pd(b, bad, k);
    resp.resize(static_cast<size_t>(k) * n);  // components from c0, indexed from 0
    final_ll[b] =
        ref::gmm_estep(x.data(), n, d, full, 0, k, p.means.data() + c0 * d, prec.data() + c0 * cs,
                       log_norm.data() + c0, resp.data(), nullptr, nullptr);
  }
  return status;
}

// log density and most likely component of every row of x under one model, into out (sized).
void score_cuda(Backend& backend, const GmmModel& model, const std::vector<float>& x, int n,
                GmmScores& out) {
  const bool full = model.covariance == GmmCovariance::Full;
  const int k = model.k, d = model.d;
  const cudaStream_t s = backend.cuda_stream();
  const int ll_blocks = cuda::gmm_estep_blocks(n);
  const DeviceGmmModel dm(model, s);
  cuda::DeviceBuffer<float> x_dev(x.size());
  cuda::DeviceBuffer<int32_t> labels(n);
  cuda::DeviceBuffer<double> resp(static_cast<size_t>(k) * n), partial(ll_blocks), point_ll(n);
  x_dev.upload(x, s);
  cuda::gmm_estep(x_dev.data(), n, d, full, 1, dm.offsets.data(), nullptr, dm.mu.data(),
                  dm.prec.data(), dm.log_norm.data(), resp.data(), partial.data(), point_ll.data(),
                  labels.data(), s);
  out.log_density = point_ll.download(s);
  out.labels = labels.download(s);
}

void score_reference(Backend&, const GmmModel& model, const std::vector<float>& x, int n,
                     GmmScores& out) {
  const bool full = model.covariance == GmmCovariance::Full;
  const int k = model.k, d = model.d;
  const size_t cs = cov_size(model.covariance, d);
  std::vector<double> chol(k * cs), prec(k * cs), log_norm(k), resp(static_cast<size_t>(k) * n);
  const int bad = ref::gmm_precisions(model.weights.data(), model.covariances.data(), k, d, full,
                                      chol.data(), prec.data(), log_norm.data());
  if (bad >= 0) throw_not_pd(0, bad, k);
  ref::gmm_estep(x.data(), n, d, full, 0, k, model.means.data(), prec.data(), log_norm.data(),
                 resp.data(), out.log_density.data(), out.labels.data());
}

// n draws from one model into out (n x d) and their components into comp (both sized).
void sample_cuda(Backend& backend, const GmmModel& model, int n, uint64_t seed,
                 std::vector<float>& out, std::vector<int32_t>& comp) {
  const bool full = model.covariance == GmmCovariance::Full;
  const int k = model.k, d = model.d;
  const cudaStream_t s = backend.cuda_stream();
  const DeviceGmmModel dm(model, s);
  cuda::DeviceBuffer<int32_t> comp_dev(n);
  cuda::DeviceBuffer<float> out_dev(out.size());
  cuda::gmm_sample(k, d, full, dm.w.data(), dm.mu.data(), dm.chol.data(), n, seed, kGmmSampleOffset,
                   out_dev.data(), comp_dev.data(), s);
  out = out_dev.download(s);
  comp = comp_dev.download(s);
}

void sample_reference(Backend&, const GmmModel& model, int n, uint64_t seed,
                      std::vector<float>& out, std::vector<int32_t>& comp) {
  const bool full = model.covariance == GmmCovariance::Full;
  const int k = model.k, d = model.d;
  ref::gmm_sample(k, d, full, model.weights.data(), model.means.data(), model.covariances.data(), n,
                  seed, kGmmSampleOffset, out.data(), comp.data());
}

// The family's operations on one backend; gmm_ops chooses them, the only place that looks at the
// backend's kind. The drivers (fit_gmm_batch, gmm_score, gmm_sample) hold the checks and packing.
struct GmmOps {
  std::vector<ref::GmmEmStatus> (*em_batch)(Backend&, const std::vector<float>& x, int n, int d,
                                            bool full, PackedBatch& p, const GmmConfig& cfg,
                                            std::vector<double>& final_ll);
  void (*score)(Backend&, const GmmModel& model, const std::vector<float>& x, int n,
                GmmScores& out);
  void (*sample)(Backend&, const GmmModel& model, int n, uint64_t seed, std::vector<float>& out,
                 std::vector<int32_t>& comp);
};

const GmmOps& gmm_ops(const Backend& backend) {
  static const GmmOps kernels = {em_cuda, score_cuda, sample_cuda};
  static const GmmOps reference = {em_reference, score_reference, sample_reference};
  return backend.kind() == DeviceKind::Cuda ? kernels : reference;
}

double information_bic(double ll, int n, int64_t p) {
  return -2.0 * ll * n + static_cast<double>(p) * std::log(static_cast<double>(n));
}
double information_aic(double ll, int n, int64_t p) { return -2.0 * ll * n + 2.0 * p; }

void check_model(const GmmModel& m) {
  LK_INPUT_CHECK(m.k >= 1 && m.d >= 1 && m.d <= ref::kGmmMaxDim,
                 "gmm: a model needs k >= 1 and 1 <= d <= " << ref::kGmmMaxDim);
  LK_INPUT_CHECK(m.weights.size() == static_cast<size_t>(m.k) &&
                     m.means.size() == static_cast<size_t>(m.k) * m.d &&
                     m.covariances.size() == m.k * cov_size(m.covariance, m.d),
                 "gmm: model arrays do not match k=" << m.k << " d=" << m.d);
}

}  // namespace

int64_t GmmModel::n_parameters() const {
  const int64_t kk = k, dd = d;
  const int64_t cov = covariance == GmmCovariance::Full ? kk * dd * (dd + 1) / 2 : kk * dd;
  return cov + kk * dd + kk - 1;
}

void validate_gmm_input(const std::vector<float>& x, int n, int d,
                        const std::vector<GmmModelSpec>& specs, const GmmConfig& cfg) {
  LK_INPUT_CHECK(n >= 1, "the data has no rows: a mixture needs at least one sample");
  LK_INPUT_CHECK(d >= 1 && d <= ref::kGmmMaxDim,
                 "the data has " << d << " columns; GMM fitting supports 1 to " << ref::kGmmMaxDim);
  LK_INPUT_CHECK(x.size() == static_cast<size_t>(n) * d,
                 "gmm: data size " << x.size() << " is not n x d = " << n << " x " << d);
  for (size_t i = 0; i < x.size(); ++i)
    LK_INPUT_CHECK(std::isfinite(x[i]), "the data has a NaN or Inf at row "
                                            << i / d + 1 << ", column " << i % d + 1
                                            << ": remove or impute it before fitting");
  LK_INPUT_CHECK(!specs.empty(), "gmm: nothing to fit (no K requested)");
  for (const GmmModelSpec& s : specs) {
    LK_INPUT_CHECK(s.k >= 1, "K must be >= 1, got " << s.k);
    LK_INPUT_CHECK(s.k <= n, "K=" << s.k << " exceeds the number of samples (" << n
                                  << "): lower the largest K or give more data");
    LK_INPUT_CHECK(s.restart >= 0 && s.restart < kGmmMaxRestarts,
                   "restart index must be in [0, " << kGmmMaxRestarts << "), got " << s.restart);
  }
  LK_INPUT_CHECK(cfg.max_iter >= 1, "max_iter must be >= 1, got " << cfg.max_iter);
  LK_INPUT_CHECK(cfg.tol >= 0 && std::isfinite(cfg.tol), "tol must be >= 0, got " << cfg.tol);
  LK_INPUT_CHECK(cfg.reg_covar >= 0 && std::isfinite(cfg.reg_covar),
                 "reg_covar must be >= 0, got " << cfg.reg_covar);
  LK_INPUT_CHECK(cfg.init_lloyd_steps >= 0,
                 "init_lloyd_steps must be >= 0, got " << cfg.init_lloyd_steps);
}

GmmModel gmm_initial_model(const std::vector<float>& x, int n, int d, const GmmModelSpec& spec,
                           const GmmConfig& cfg) {
  const int k = spec.k;
  std::vector<double> resp(static_cast<size_t>(k) * n, 0.0);  // [k, n] as the M-step reads it
  if (cfg.init == GmmInit::KMeans) {
    const std::vector<int32_t> labels =
        kmeans_labels(x, n, d, k, kmeans_seed(cfg.seed, spec.restart), cfg.init_lloyd_steps);
    for (int i = 0; i < n; ++i) resp[static_cast<size_t>(labels[i]) * n + i] = 1.0;
  } else {
    // sklearn's 'random': uniform responsibilities normalised per point.
    const uint64_t base = static_cast<uint64_t>(k) << 40;
    for (int i = 0; i < n; ++i) {
      double sum = 0.0;
      for (int j = 0; j < k; ++j) {
        const double u =
            philox_uniform(cfg.seed, RngStream::Gmm, static_cast<uint32_t>(spec.restart),
                           base + static_cast<uint64_t>(i) * k + j);
        resp[static_cast<size_t>(j) * n + i] = u;
        sum += u;
      }
      for (int j = 0; j < k; ++j) resp[static_cast<size_t>(j) * n + i] /= sum;
    }
  }
  GmmModel m;
  m.k = k;
  m.d = d;
  m.covariance = cfg.covariance;
  m.weights.resize(k);
  m.means.resize(static_cast<size_t>(k) * d);
  m.covariances.resize(k * cov_size(cfg.covariance, d));
  ref::gmm_mstep(x.data(), n, d, cfg.covariance == GmmCovariance::Full, 0, k, resp.data(),
                 cfg.reg_covar, m.weights.data(), m.means.data(), m.covariances.data());
  return m;
}

std::vector<GmmFitResult> fit_gmm_batch(Backend& backend, const std::vector<float>& x, int n, int d,
                                        const std::vector<GmmModelSpec>& specs,
                                        const GmmConfig& cfg) {
  validate_gmm_input(x, n, d, specs, cfg);
  const bool full = cfg.covariance == GmmCovariance::Full;
  const int B = static_cast<int>(specs.size());
  PackedBatch p;
  p.comp_offset.push_back(0);
  for (int b = 0; b < B; ++b) {
    const GmmModel m = gmm_initial_model(x, n, d, specs[b], cfg);
    if (cfg.progress) cfg.progress("initialising models", b + 1, B);
    p.weights.insert(p.weights.end(), m.weights.begin(), m.weights.end());
    p.means.insert(p.means.end(), m.means.begin(), m.means.end());
    p.covs.insert(p.covs.end(), m.covariances.begin(), m.covariances.end());
    for (int j = 0; j < m.k; ++j) p.comp_model.push_back(b);
    p.comp_offset.push_back(p.comp_offset.back() + m.k);
  }
  std::vector<ref::GmmEmStatus> status;
  std::vector<double> final_ll(B);
  status = gmm_ops(backend).em_batch(backend, x, n, d, full, p, cfg, final_ll);
  std::vector<GmmFitResult> out(B);
  const size_t cs = cov_size(cfg.covariance, d);
  for (int b = 0; b < B; ++b) {
    GmmFitResult& r = out[b];
    const int c0 = p.comp_offset[b], k = p.comp_offset[b + 1] - c0;
    r.model.k = k;
    r.model.d = d;
    r.model.covariance = cfg.covariance;
    r.model.weights.assign(p.weights.begin() + c0, p.weights.begin() + c0 + k);
    r.model.means.assign(p.means.begin() + static_cast<size_t>(c0) * d,
                         p.means.begin() + static_cast<size_t>(c0 + k) * d);
    r.model.covariances.assign(p.covs.begin() + c0 * cs, p.covs.begin() + (c0 + k) * cs);
    r.restart = specs[b].restart;
    r.lower_bound = status[b].lower_bound;
    r.n_iter = status[b].n_iter;
    r.converged = status[b].converged;
    r.log_likelihood = final_ll[b];
    r.bic = information_bic(r.log_likelihood, n, r.model.n_parameters());
    r.aic = information_aic(r.log_likelihood, n, r.model.n_parameters());
  }
  return out;
}

GmmSelection fit_gmm_select(Backend& backend, const std::vector<float>& x, int n, int d, int k_min,
                            int k_max, int n_init, const GmmConfig& cfg) {
  LK_INPUT_CHECK(k_min >= 1 && k_max >= k_min,
                 "K range " << k_min << ".." << k_max << " is empty: need 1 <= k-min <= k-max");
  LK_INPUT_CHECK(n_init >= 1, "n-init must be >= 1, got " << n_init);
  std::vector<GmmModelSpec> specs;
  for (int k = k_min; k <= k_max; ++k)
    for (int r = 0; r < n_init; ++r) specs.push_back({k, r});
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<GmmFitResult> all = fit_gmm_batch(backend, x, n, d, specs, cfg);
  GmmSelection sel;
  sel.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  for (int k = k_min; k <= k_max; ++k) {
    const size_t first = static_cast<size_t>(k - k_min) * n_init;
    size_t best = first;
    for (int r = 1; r < n_init; ++r)
      if (all[first + r].lower_bound > all[best].lower_bound) best = first + r;
    sel.per_k.push_back(std::move(all[best]));
  }
  for (size_t i = 1; i < sel.per_k.size(); ++i) {
    if (sel.per_k[i].bic < sel.per_k[sel.best_index_bic].bic) sel.best_index_bic = i;
    if (sel.per_k[i].aic < sel.per_k[sel.best_index_aic].aic) sel.best_index_aic = i;
  }
  sel.best_k_bic = sel.per_k[sel.best_index_bic].model.k;
  sel.best_k_aic = sel.per_k[sel.best_index_aic].model.k;
  sel.bic_at_upper_edge = sel.best_k_bic == k_max && k_max > k_min;
  return sel;
}

nlohmann::json gmm_fit_json(const GmmFitResult& r) {
  const GmmModel& m = r.model;
  nlohmann::json means = nlohmann::json::array(), covs = nlohmann::json::array();
  const size_t cs = cov_size(m.covariance, m.d);
  for (int c = 0; c < m.k; ++c) {
    means.push_back(std::vector<double>(m.means.begin() + static_cast<size_t>(c) * m.d,
                                        m.means.begin() + static_cast<size_t>(c + 1) * m.d));
    const auto first = m.covariances.begin() + c * cs;
    if (m.covariance == GmmCovariance::Full) {
      nlohmann::json rows = nlohmann::json::array();
      for (int a = 0; a < m.d; ++a)
        rows.push_back(std::vector<double>(first + static_cast<size_t>(a) * m.d,
                                           first + static_cast<size_t>(a + 1) * m.d));
      covs.push_back(rows);
    } else {
      covs.push_back(std::vector<double>(first, first + m.d));
    }
  }
  return {{"k", m.k},
          {"covariance_type", enum_name(m.covariance)},
          {"weights", m.weights},
          {"means", means},
          {"covariances", covs},
          {"log_likelihood", r.log_likelihood},
          {"lower_bound", r.lower_bound},
          {"bic", r.bic},
          {"aic", r.aic},
          {"n_parameters", m.n_parameters()},
          {"n_iter", r.n_iter},
          {"converged", r.converged},
          {"restart", r.restart}};
}

GmmScores gmm_score(Backend& backend, const GmmModel& model, const std::vector<float>& x, int n) {
  check_model(model);
  validate_gmm_input(x, n, model.d, {{1, 0}}, GmmConfig{});
  GmmScores out;
  out.log_density.resize(n);
  out.labels.resize(n);
  gmm_ops(backend).score(backend, model, x, n, out);
  return out;
}

std::vector<float> gmm_sample(Backend& backend, const GmmModel& model, int n, uint64_t seed,
                              std::vector<int32_t>* component) {
  check_model(model);
  LK_INPUT_CHECK(n >= 0, "number of samples must be >= 0, got " << n);
  std::vector<float> out(static_cast<size_t>(n) * model.d);
  std::vector<int32_t> comp(n);
  if (n == 0) return out;
  gmm_ops(backend).sample(backend, model, n, seed, out, comp);
  if (component) *component = std::move(comp);
  return out;
}

}  // namespace latentkit
