// Bernoulli RBM on a Backend (see latentkit/families/rbm.h): the loops, chunking and noise offsets
// once for both backends; the arithmetic behind RbmOps, the CUDA launchers (kernels/rbm.cuh) or the
// CPU reference (host/ref/rbm.cpp), chosen in one place (make_rbm_ops).
#include "latentkit/families/rbm.h"

#include <algorithm>
#include <cmath>
#include <memory>

#include "kernels/rbm.cuh"
#include "latentkit/core/check.h"

namespace latentkit {

// The RBM's arithmetic on one backend, with the launchers' argument order. Rbm's methods hold the
// loops, chunking and Philox offsets once for both backends; this is all that differs.
class RbmOps {
 public:
  virtual ~RbmOps() = default;
  virtual void hidden_step(const float* V, const float* W, const float* c, int n, int nv, int nh,
                           uint64_t seed, uint32_t offset, float* P, float* S) = 0;
  virtual void visible_step(const float* H, const float* W, const float* b, int n, int nv, int nh,
                            uint64_t seed, uint32_t offset, const float* clamp_mask,
                            const float* clamp_values, float* P, float* S) = 0;
  virtual void update(const float* V0, const float* P0, int rows, const float* Vn,
                      const float* Pn, int chains, int nv, int nh,
                      const ref::RbmUpdateConfig& cfg, float* W, float* b, float* c,
                      float* vel_W, float* vel_b, float* vel_c) = 0;
  // fe[m] (and pl[m] when pl != nullptr) of the m rows V (backend memory) into host memory.
  virtual void free_energy(const float* V, const float* W, const float* b, const float* c, int m,
                           int nv, int nh, uint64_t seed, uint32_t offset, double* fe_host,
                           double* pl_host) = 0;
  // err[m] = sum over each row of (V - P)^2 (V, P backend memory) into host memory.
  virtual void row_sq_error(const float* V, const float* P, int m, int nv, double* err_host) = 0;
};

namespace {

class ReferenceRbmOps final : public RbmOps {
 public:
  void hidden_step(const float* V, const float* W, const float* c, int n, int nv, int nh,
                   uint64_t seed, uint32_t offset, float* P, float* S) override {
    ref::rbm_hidden_step(V, W, c, n, nv, nh, seed, offset, P, S);
  }
  void visible_step(const float* H, const float* W, const float* b, int n, int nv, int nh,
                    uint64_t seed, uint32_t offset, const float* clamp_mask,
                    const float* clamp_values, float* P, float* S) override {
    ref::rbm_visible_step(H, W, b, n, nv, nh, seed, offset, clamp_mask, clamp_values, P, S);
  }
  void update(const float* V0, const float* P0, int rows, const float* Vn, const float* Pn,
              int chains, int nv, int nh, const ref::RbmUpdateConfig& cfg, float* W, float* b,
              float* c, float* vel_W, float* vel_b, float* vel_c) override {
    ref::rbm_update(V0, P0, rows, Vn, Pn, chains, nv, nh, cfg, W, b, c, vel_W, vel_b, vel_c);
  }
  void free_energy(const float* V, const float* W, const float* b, const float* c, int m, int nv,
                   int nh, uint64_t seed, uint32_t offset, double* fe_host,
                   double* pl_host) override {
    ref::rbm_free_energy(V, W, b, c, m, nv, nh, seed, offset, fe_host, pl_host);
  }
  void row_sq_error(const float* V, const float* P, int m, int nv, double* err_host) override {
    ref::rbm_row_sq_error(V, P, m, nv, err_host);
  }
};

// The kernels on the backend's stream and cuBLAS handle, with the device scratch they need: the
// update's gradient (nv*nh, allocated once) and the evaluation buffers, grown to the largest
// chunk seen and reused (the kernels write every element they read back: no atomics, rbm.cu).
class CudaRbmOps final : public RbmOps {
 public:
  CudaRbmOps(Backend& be, int nv, int nh) : be_(be), grad_(be.alloc(static_cast<size_t>(nv) * nh)) {}
  void hidden_step(const float* V, const float* W, const float* c, int n, int nv, int nh,
                   uint64_t seed, uint32_t offset, float* P, float* S) override {
    cuda::rbm_hidden_step(V, W, c, n, nv, nh, seed, offset, P, S, be_.cublas_handle(),
                          be_.cuda_stream());
  }
  void visible_step(const float* H, const float* W, const float* b, int n, int nv, int nh,
                    uint64_t seed, uint32_t offset, const float* clamp_mask,
                    const float* clamp_values, float* P, float* S) override {
    cuda::rbm_visible_step(H, W, b, n, nv, nh, seed, offset, clamp_mask, clamp_values, P, S,
                           be_.cublas_handle(), be_.cuda_stream());
  }
  void update(const float* V0, const float* P0, int rows, const float* Vn, const float* Pn,
              int chains, int nv, int nh, const ref::RbmUpdateConfig& cfg, float* W, float* b,
              float* c, float* vel_W, float* vel_b, float* vel_c) override {
    cuda::rbm_update(V0, P0, rows, Vn, Pn, chains, nv, nh, cfg, W, b, c, vel_W, vel_b, vel_c,
                     grad_.data(), be_.cublas_handle(), be_.cuda_stream());
  }
  void free_energy(const float* V, const float* W, const float* b, const float* c, int m, int nv,
                   int nh, uint64_t seed, uint32_t offset, double* fe_host,
                   double* pl_host) override {
    ensure(z_, static_cast<size_t>(m) * nh);
    // fe and pl as doubles: 2 * m doubles = 4 * m floats of device memory.
    ensure(out_, static_cast<size_t>(m) * 4);
    double* fe_dev = reinterpret_cast<double*>(out_.data());
    double* pl_dev = fe_dev + m;
    cuda::rbm_free_energy(V, W, b, c, m, nv, nh, seed, offset, fe_dev,
                          pl_host ? pl_dev : nullptr, z_.data(), be_.cublas_handle(),
                          be_.cuda_stream());
    be_.to_host_bytes(fe_host, fe_dev, m * sizeof(double));
    if (pl_host) be_.to_host_bytes(pl_host, pl_dev, m * sizeof(double));
  }
  void row_sq_error(const float* V, const float* P, int m, int nv, double* err_host) override {
    ensure(err_, static_cast<size_t>(m) * 2);  // m doubles
    double* e = reinterpret_cast<double*>(err_.data());
    cuda::rbm_row_sq_error(V, P, m, nv, e, be_.cuda_stream());
    be_.to_host_bytes(err_host, e, m * sizeof(double));
  }

 private:
  void ensure(Array<float>& a, size_t n) {
    if (a.size() < n) a = be_.alloc(n);
  }
  Backend& be_;
  Array<float> grad_, z_, out_, err_;
};

// The family's one dispatch point.
std::unique_ptr<RbmOps> make_rbm_ops(Backend& be, int nv, int nh) {
  if (be.kind() == DeviceKind::Cuda) return std::make_unique<CudaRbmOps>(be, nv, nh);
  return std::make_unique<ReferenceRbmOps>();
}

}  // namespace

namespace {

// scikit-learn's BernoulliRBM initialises components_ ~ N(0, 0.01^2).
constexpr double kInitStd = 0.01;
// Rows per chunk of the evaluation functions: bounds their scratch (4096 x 784 floats ~ 12 MiB).
constexpr int kEvalChunk = 4096;

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

Rbm::~Rbm() = default;

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
  ops_ = make_rbm_ops(be_, nv, nh);
}

void Rbm::hidden_step(const float* V, int n, uint32_t offset, float* P, float* S) {
  ops_->hidden_step(V, W_.data(), c_.data(), n, nv_, nh_, cfg_.seed, offset, P, S);
}

void Rbm::visible_step(const float* H, int n, uint32_t offset, const float* clamp_mask,
                       const float* clamp_values, float* P, float* S) {
  ops_->visible_step(H, W_.data(), b_.data(), n, nv_, nh_, cfg_.seed, offset, clamp_mask,
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
  ops_->update(V0, P0_.data(), rows, Vn_.data(), Pn_.data(), chains, nv_, nh_, cfg_.update,
               W_.data(), b_.data(), c_.data(), vel_W_.data(), vel_b_.data(), vel_c_.data());
}

// fe (and pl) for rows [0, n) of V, chunked; `with_pl` selects the pseudo-likelihood output.
std::vector<double> Rbm::free_energy_rows(const float* V, int n, uint32_t offset, bool with_pl) {
  LK_CHECK(n >= 0, "free energy of " << n << " rows");
  std::vector<double> fe(n), pl(with_pl ? n : 0);
  if (n == 0) return with_pl ? pl : fe;
  // Both backends work in the same chunks, chunk i drawing its flip indices at offset + i (rows
  // keyed by their index within the chunk), so CPU and GPU flip the same bits.
  const int chunk = std::min(n, kEvalChunk);
  for (int r0 = 0; r0 < n; r0 += chunk) {
    const int m = std::min(chunk, n - r0);
    const float* v = V + static_cast<size_t>(r0) * nv_;
    const uint32_t off = offset + static_cast<uint32_t>(r0 / chunk);
    ops_->free_energy(v, W_.data(), b_.data(), c_.data(), m, nv_, nh_, cfg_.seed, off,
                      fe.data() + r0, with_pl ? pl.data() + r0 : nullptr);
  }
  return with_pl ? pl : fe;
}

std::vector<double> Rbm::free_energy(const float* V, int n) {
  return free_energy_rows(V, n, 0, false);
}

std::vector<double> Rbm::pseudo_likelihood(const float* V, int n, uint32_t offset) {
  return free_energy_rows(V, n, offset, true);
}

double Rbm::reconstruction_error(const float* V, int n, uint32_t offset) {
  LK_CHECK(n > 0, "reconstruction error of " << n << " rows");
  const int chunk = std::min(n, kEvalChunk);
  Array<float> h = be_.alloc(static_cast<size_t>(chunk) * nh_);
  Array<float> s = be_.alloc(static_cast<size_t>(chunk) * nh_);
  Array<float> p = be_.alloc(static_cast<size_t>(chunk) * nv_);
  std::vector<double> err(chunk);
  double total = 0.0;
  for (int r0 = 0; r0 < n; r0 += chunk) {
    const int m = std::min(chunk, n - r0);
    const float* v = V + static_cast<size_t>(r0) * nv_;
    // Chunks use consecutive offsets (two per chunk) so their noise is independent.
    const uint32_t off = offset + 2u * static_cast<uint32_t>(r0 / chunk);
    hidden_step(v, m, off, h.data(), s.data());
    visible_step(s.data(), m, off + 1, nullptr, nullptr, p.data(), nullptr);
    ops_->row_sq_error(v, p.data(), m, nv_, err.data());
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
