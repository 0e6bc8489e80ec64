// Bernoulli RBM on a Backend (see latentkit/families/rbm.h): dispatches each operation to the CUDA
// launchers (kernels/rbm.cuh) or the CPU reference (host/ref/rbm.cpp).
#include "latentkit/families/rbm.h"

#include <algorithm>
#include <cmath>

#include "kernels/rbm.cuh"
#include "latentkit/core/check.h"

namespace latentkit {
namespace {

// scikit-learn's BernoulliRBM initialises components_ ~ N(0, 0.01^2).
constexpr double kInitStd = 0.01;
// Rows per chunk of the evaluation functions: bounds their scratch (4096 x 784 floats ~ 12 MiB).
constexpr int kEvalChunk = 4096;

bool on_gpu(Backend& be) { return be.kind() == DeviceKind::Cuda; }

}  // namespace

void validate(const RbmTrainConfig& cfg) {
  LK_FLAG_CHECK(cfg.batch > 0, "--batch must be positive, got " << cfg.batch);
  LK_FLAG_CHECK(cfg.k > 0, "--k (Gibbs steps per minibatch) must be positive, got " << cfg.k);
  LK_FLAG_CHECK(std::isfinite(cfg.update.lr) && cfg.update.lr > 0,
                "--lr must be a positive number, got " << cfg.update.lr);
  LK_FLAG_CHECK(
      std::isfinite(cfg.update.momentum) && cfg.update.momentum >= 0 && cfg.update.momentum < 1,
      "--momentum must be in [0, 1), got " << cfg.update.momentum);
  LK_FLAG_CHECK(std::isfinite(cfg.update.weight_decay) && cfg.update.weight_decay >= 0,
                "--weight-decay must be >= 0, got " << cfg.update.weight_decay);
}

Rbm::Rbm(Backend& backend, int nv, int nh, const RbmTrainConfig& cfg)
    : be_(backend), nv_(nv), nh_(nh), cfg_(cfg) {
  LK_INPUT_CHECK(nv > 0 && nh > 0, "RBM needs positive sizes, got " << nv << " visible and " << nh
                                                                    << " hidden units");
  validate(cfg);
  const size_t nw = static_cast<size_t>(nv) * nh;
  const size_t batch = static_cast<size_t>(cfg.batch);
  std::vector<float> w(nw);
  for (size_t i = 0; i < nw; ++i)
    w[i] = static_cast<float>(kInitStd * philox_normal(cfg.seed, RngStream::Init, 0, i));
  W_ = be_.upload(w);
  b_ = be_.alloc(nv);
  c_ = be_.alloc(nh);
  vel_W_ = be_.alloc(nw);
  vel_b_ = be_.alloc(nv);
  vel_c_ = be_.alloc(nh);
  chains_ = be_.alloc(batch * nh);
  P0_ = be_.alloc(batch * nh);
  Hs_ = be_.alloc(batch * nh);
  Vn_ = be_.alloc(batch * nv);
  Pv_ = be_.alloc(batch * nv);
  Pn_ = be_.alloc(batch * nh);
  if (on_gpu(be_)) grad_ = be_.alloc(nw);
}

void Rbm::hidden_step(const float* V, int n, uint32_t offset, float* P, float* S) {
  if (on_gpu(be_))
    cuda::rbm_hidden_step(V, W_.data(), c_.data(), n, nv_, nh_, cfg_.seed, offset, P, S,
                          be_.cublas_handle(), be_.cuda_stream());
  else
    ref::rbm_hidden_step(V, W_.data(), c_.data(), n, nv_, nh_, cfg_.seed, offset, P, S);
}

void Rbm::visible_step(const float* H, int n, uint32_t offset, const float* clamp_mask,
                       const float* clamp_values, float* P, float* S) {
  if (on_gpu(be_))
    cuda::rbm_visible_step(H, W_.data(), b_.data(), n, nv_, nh_, cfg_.seed, offset, clamp_mask,
                           clamp_values, P, S, be_.cublas_handle(), be_.cuda_stream());
  else
    ref::rbm_visible_step(H, W_.data(), b_.data(), n, nv_, nh_, cfg_.seed, offset, clamp_mask,
                          clamp_values, P, S);
}

void Rbm::train_minibatch(const float* V0, int rows) {
  LK_CHECK(rows > 0 && rows <= cfg_.batch,
           "train_minibatch: rows " << rows << " outside [1, batch " << cfg_.batch << "]");
  float* chain_h;
  int chains;
  if (cfg_.pcd) {
    chain_h = chains_.data();
    chains = cfg_.batch;
    hidden_step(V0, rows, half_steps_++, P0_.data(), nullptr);
  } else {
    chain_h = Hs_.data();
    chains = rows;
    hidden_step(V0, rows, half_steps_++, P0_.data(), chain_h);
  }
  for (int step = 0; step < cfg_.k; ++step) {
    visible_step(chain_h, chains, half_steps_++, nullptr, nullptr, Pv_.data(), Vn_.data());
    hidden_step(Vn_.data(), chains, half_steps_++, Pn_.data(), chain_h);
  }
  if (on_gpu(be_))
    cuda::rbm_update(V0, P0_.data(), rows, Vn_.data(), Pn_.data(), chains, nv_, nh_, cfg_.update,
                     W_.data(), b_.data(), c_.data(), vel_W_.data(), vel_b_.data(), vel_c_.data(),
                     grad_.data(), be_.cublas_handle(), be_.cuda_stream());
  else
    ref::rbm_update(V0, P0_.data(), rows, Vn_.data(), Pn_.data(), chains, nv_, nh_, cfg_.update,
                    W_.data(), b_.data(), c_.data(), vel_W_.data(), vel_b_.data(), vel_c_.data());
}

namespace {
// fe (and pl) for rows [0, n) of V, chunked; `with_pl` selects the pseudo-likelihood output.
std::vector<double> free_energy_rows(Backend& be, const float* V, int n, int nv, int nh,
                                     const float* W, const float* b, const float* c, uint64_t seed,
                                     uint32_t offset, bool with_pl) {
  LK_CHECK(n >= 0, "free energy of " << n << " rows");
  std::vector<double> fe(n), pl(with_pl ? n : 0);
  if (n == 0) return with_pl ? pl : fe;
  // Both paths work in the same chunks, chunk i drawing its flip indices at offset + i (rows
  // keyed by their index within the chunk), so CPU and GPU flip the same bits.
  const int chunk = std::min(n, kEvalChunk);
  const bool gpu = on_gpu(be);
  Array<float> z = gpu ? be.alloc(static_cast<size_t>(chunk) * nh) : Array<float>();
  // fe and pl as doubles: 2 * chunk doubles = 4 * chunk floats of device memory.
  Array<float> out = gpu ? be.alloc(static_cast<size_t>(chunk) * 4) : Array<float>();
  double* fe_dev = gpu ? reinterpret_cast<double*>(out.data()) : nullptr;
  double* pl_dev = gpu ? fe_dev + chunk : nullptr;
  for (int r0 = 0; r0 < n; r0 += chunk) {
    const int m = std::min(chunk, n - r0);
    const float* v = V + static_cast<size_t>(r0) * nv;
    const uint32_t off = offset + static_cast<uint32_t>(r0 / chunk);
    double* fe_out = fe.data() + r0;
    double* pl_out = with_pl ? pl.data() + r0 : nullptr;
    if (!gpu) {
      ref::rbm_free_energy(v, W, b, c, m, nv, nh, seed, off, fe_out, pl_out);
      continue;
    }
    cuda::rbm_free_energy(v, W, b, c, m, nv, nh, seed, off, fe_dev, with_pl ? pl_dev : nullptr,
                          z.data(), be.cublas_handle(), be.cuda_stream());
    be.to_host_bytes(fe_out, fe_dev, m * sizeof(double));
    if (with_pl) be.to_host_bytes(pl_out, pl_dev, m * sizeof(double));
  }
  return with_pl ? pl : fe;
}
}  // namespace

std::vector<double> Rbm::free_energy(const float* V, int n) {
  return free_energy_rows(be_, V, n, nv_, nh_, W_.data(), b_.data(), c_.data(), cfg_.seed, 0,
                          false);
}

std::vector<double> Rbm::pseudo_likelihood(const float* V, int n, uint32_t offset) {
  return free_energy_rows(be_, V, n, nv_, nh_, W_.data(), b_.data(), c_.data(), cfg_.seed, offset,
                          true);
}

double Rbm::reconstruction_error(const float* V, int n, uint32_t offset) {
  LK_CHECK(n > 0, "reconstruction error of " << n << " rows");
  const int chunk = std::min(n, kEvalChunk);
  Array<float> h = be_.alloc(static_cast<size_t>(chunk) * nh_);
  Array<float> s = be_.alloc(static_cast<size_t>(chunk) * nh_);
  Array<float> p = be_.alloc(static_cast<size_t>(chunk) * nv_);
  std::vector<double> err(chunk);
  Array<float> err_dev = on_gpu(be_) ? be_.alloc(static_cast<size_t>(chunk) * 2) : Array<float>();
  double total = 0.0;
  for (int r0 = 0; r0 < n; r0 += chunk) {
    const int m = std::min(chunk, n - r0);
    const float* v = V + static_cast<size_t>(r0) * nv_;
    // Chunks use consecutive offsets (two per chunk) so their noise is independent.
    const uint32_t off = offset + 2u * static_cast<uint32_t>(r0 / chunk);
    hidden_step(v, m, off, h.data(), s.data());
    visible_step(s.data(), m, off + 1, nullptr, nullptr, p.data(), nullptr);
    if (on_gpu(be_)) {
      double* e = reinterpret_cast<double*>(err_dev.data());
      cuda::rbm_row_sq_error(v, p.data(), m, nv_, e, be_.cuda_stream());
      be_.to_host_bytes(err.data(), e, m * sizeof(double));
    } else {
      ref::rbm_row_sq_error(v, p.data(), m, nv_, err.data());
    }
    for (int r = 0; r < m; ++r) total += err[r];
  }
  return total / (static_cast<double>(n) * nv_);
}

void Rbm::gibbs(float* V, int n, int steps, uint32_t offset0, const float* clamp_mask,
                const float* clamp_values, float* P_out) {
  LK_CHECK(n > 0 && steps >= 1, "gibbs: n " << n << " and steps " << steps << " must be >= 1");
  Array<float> h = be_.alloc(static_cast<size_t>(n) * nh_);
  Array<float> s = be_.alloc(static_cast<size_t>(n) * nh_);
  uint32_t off = offset0;
  for (int step = 0; step < steps; ++step) {
    hidden_step(V, n, off++, h.data(), s.data());
    visible_step(s.data(), n, off++, clamp_mask, clamp_values, P_out, V);
  }
}

RbmState Rbm::state() {
  RbmState st;
  st.nv = nv_;
  st.nh = nh_;
  const size_t nw = static_cast<size_t>(nv_) * nh_;
  st.W = be_.download(W_.data(), nw);
  st.b = be_.download(b_.data(), nv_);
  st.c = be_.download(c_.data(), nh_);
  st.vel_W = be_.download(vel_W_.data(), nw);
  st.vel_b = be_.download(vel_b_.data(), nv_);
  st.vel_c = be_.download(vel_c_.data(), nh_);
  st.chains = be_.download(chains_.data(), static_cast<size_t>(cfg_.batch) * nh_);
  st.half_steps = half_steps_;
  return st;
}

void Rbm::load_state(const RbmState& st) {
  const size_t nw = static_cast<size_t>(nv_) * nh_;
  LK_INPUT_CHECK(st.nv == nv_ && st.nh == nh_ && st.W.size() == nw && st.b.size() == size_t(nv_) &&
                     st.c.size() == size_t(nh_) && st.vel_W.size() == nw &&
                     st.vel_b.size() == size_t(nv_) && st.vel_c.size() == size_t(nh_) &&
                     st.chains.size() == static_cast<size_t>(cfg_.batch) * nh_,
                 "RBM state of " << st.nv << "x" << st.nh << " does not fit a " << nv_ << "x" << nh_
                                 << " RBM with batch " << cfg_.batch);
  be_.to_backend(W_.data(), st.W.data(), nw);
  be_.to_backend(b_.data(), st.b.data(), nv_);
  be_.to_backend(c_.data(), st.c.data(), nh_);
  be_.to_backend(vel_W_.data(), st.vel_W.data(), nw);
  be_.to_backend(vel_b_.data(), st.vel_b.data(), nv_);
  be_.to_backend(vel_c_.data(), st.vel_c.data(), nh_);
  be_.to_backend(chains_.data(), st.chains.data(), st.chains.size());
  half_steps_ = st.half_steps;
}

}  // namespace latentkit
