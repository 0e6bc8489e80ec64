// The training loop, written once for every backend: per-epoch shuffle (Philox keys sorted on the
// backend), minibatch gather, Vae::forward_backward, one fused Adam pass. Per-sample losses of an
// epoch stay on the backend and are summed once at the epoch's end (one synchronisation per epoch).
// A run is a pure function of (data, config, seed): resuming from a checkpoint taken at an epoch
// boundary gives bit-identical results on the same device (tests/test_vae.cpp
// VaeTrainer.StateRestoreResumesBitwise; end to end tests/test_vae_gmm.cpp ResumedRun*).
#pragma once
#include <cstdint>
#include <vector>

#include "latentkit/families/vae.h"

namespace latentkit {

struct TrainConfig {
  int epochs = 100;
  int batch = 32;
  AdamConfig adam;
  uint64_t seed = 0;
};

struct EpochStats {
  int epoch = 0;        // 1-based
  double loss = 0;      // mean per sample: recon + beta * kl
  double recon = 0;     // mean per sample
  double kl = 0;        // mean per sample
  double seconds = 0;   // wall time of this epoch
};

// Throws InputError naming the flag for impossible settings (epochs < 0, batch < 1, lr <= 0, ...).
void validate(const TrainConfig& cfg);

// Everything needed to continue a run exactly (host copies).
struct TrainState {
  int epoch = 0;     // epochs completed
  int64_t step = 0;  // optimiser steps completed
  std::vector<float> params, adam_m, adam_v;
  std::vector<EpochStats> history;
};

class Trainer {
 public:
  // `data` is the (scaled) training set [n, D] in the backend's memory; it must outlive the trainer.
  Trainer(Vae& vae, const float* data, int n, const TrainConfig& cfg);

  int epochs_done() const { return epoch_; }
  int64_t steps_done() const { return step_; }
  int batches_per_epoch() const { return (n_ + cfg_.batch - 1) / cfg_.batch; }
  const std::vector<EpochStats>& history() const { return history_; }

  EpochStats run_epoch();

  TrainState state();
  void restore(const TrainState& state);

 private:
  Vae& vae_;
  const float* data_;
  int n_;
  TrainConfig cfg_;
  int epoch_ = 0;
  int64_t step_ = 0;
  std::vector<EpochStats> history_;
  Array<float> adam_m_, adam_v_, xb_, row_recon_, row_kl_;
  Array<int32_t> perm_;
};

}  // namespace latentkit
