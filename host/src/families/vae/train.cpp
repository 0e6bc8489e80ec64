// The training loop (see latentkit/families/train.h).
#include "latentkit/families/train.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "latentkit/core/check.h"

namespace latentkit {

void validate(const TrainConfig& cfg) {
  LK_FLAG_CHECK(cfg.batch > 0, "--batch must be positive, got " << cfg.batch);
  LK_FLAG_CHECK(cfg.epochs >= 0, "--epochs must be >= 0, got " << cfg.epochs);
  LK_FLAG_CHECK(cfg.adam.lr > 0 && std::isfinite(cfg.adam.lr),
                "--lr must be a positive number, got " << cfg.adam.lr);
  LK_FLAG_CHECK(
      cfg.adam.beta1 >= 0 && cfg.adam.beta1 < 1 && cfg.adam.beta2 >= 0 && cfg.adam.beta2 < 1,
      "Adam betas must lie in [0, 1)");
}

Trainer::Trainer(Vae& vae, const float* data, int n, const TrainConfig& cfg)
    : vae_(vae), data_(data), n_(n), cfg_(cfg) {
  validate(cfg);
  LK_INPUT_CHECK(n >= cfg.batch, "the data has " << n << " rows, fewer than one batch of "
                                                 << cfg.batch << ": use a smaller --batch");
  LK_CHECK(vae.max_batch() >= cfg.batch, "model sized for batches of " << vae.max_batch());
  Backend& be = vae_.backend();
  const size_t P = vae_.layout().param_count;
  adam_m_ = be.alloc(P);
  adam_v_ = be.alloc(P);
  xb_ = be.alloc(static_cast<size_t>(cfg.batch) * vae_.config().input_dim);
  row_recon_ = be.alloc(static_cast<size_t>(n));
  row_kl_ = be.alloc(static_cast<size_t>(n));
  perm_ = be.alloc_int(static_cast<size_t>(n));
}

EpochStats Trainer::run_epoch() {
  const auto t0 = std::chrono::steady_clock::now();
  Backend& be = vae_.backend();
  const int D = vae_.config().input_dim, B = cfg_.batch;
  be.shuffle_permutation(perm_.data(), n_, cfg_.seed, static_cast<uint32_t>(epoch_));
  for (int r0 = 0; r0 < n_; r0 += B) {
    const int rows = std::min(B, n_ - r0);  // the last batch may be partial (drop_last=False)
    be.gather_rows(data_, perm_.data() + r0, rows, D, xb_.data());
    vae_.forward_backward(xb_.data(), rows, cfg_.seed, static_cast<uint32_t>(step_),
                          {row_recon_.data() + r0, row_kl_.data() + r0});
    ++step_;
    be.adam_step(vae_.params(), vae_.grads(), adam_m_.data(), adam_v_.data(),
                 vae_.layout().param_count, cfg_.adam, step_);
  }
  EpochStats s;
  s.epoch = ++epoch_;
  s.recon = be.sum(row_recon_.data(), n_) / n_;
  s.kl = be.sum(row_kl_.data(), n_) / n_;
  s.loss = s.recon + static_cast<double>(vae_.config().beta) * s.kl;
  s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  history_.push_back(s);
  return s;
}

TrainState Trainer::state() {
  Backend& be = vae_.backend();
  TrainState st;
  st.epoch = epoch_;
  st.step = step_;
  st.params = vae_.get_params();
  st.adam_m = be.download(adam_m_.data(), adam_m_.size());
  st.adam_v = be.download(adam_v_.data(), adam_v_.size());
  st.history = history_;
  return st;
}

void Trainer::restore(const TrainState& st) {
  const size_t P = vae_.layout().param_count;
  LK_INPUT_CHECK(st.params.size() == P && st.adam_m.size() == P && st.adam_v.size() == P,
                 "checkpoint holds " << st.params.size() << " parameters, the model has " << P
                                     << ": it belongs to a different configuration");
  LK_INPUT_CHECK(st.step == static_cast<int64_t>(st.epoch) * batches_per_epoch(),
                 "checkpoint at epoch " << st.epoch << " has " << st.step
                                        << " steps, inconsistent with --batch and the data size");
  Backend& be = vae_.backend();
  vae_.set_params(st.params);
  be.to_backend(adam_m_.data(), st.adam_m.data(), P);
  be.to_backend(adam_v_.data(), st.adam_v.data(), P);
  epoch_ = st.epoch;
  step_ = st.step;
  history_ = st.history;
}

}  // namespace latentkit
