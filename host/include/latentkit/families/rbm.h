// Bernoulli RBM on a Backend: parameters, persistent chains and scratch in the backend's memory;
// the arithmetic runs on the CUDA launchers (kernels/rbm.cuh) or the CPU reference
// (latentkit/ref/rbm_ref.h), chosen once per model (rbm.cpp, make_rbm_ops), with identical
// semantics and identical Philox noise.
// Model and noise conventions: latentkit/ref/rbm_ref.h. Used by apps/rbm_mnist
// (host/src/pipelines/rbm_mnist.cpp). Tests: tests/test_ref_rbm.cpp (CPU), tests/test_rbm_gpu.cu.
//
// Training (train_minibatch), with V0 the minibatch and chains' hidden state Hc:
//   P0 = p(h | V0)                                       (probabilities: positive statistics)
//   CD-k: Hc = sample p(h | V0)   (chains start at the data, one per minibatch row)
//   PCD-k: Hc = the persistent hidden state, `batch` chains, starting at h = 0 (as scikit-learn)
//   k times: Vn = sample p(v | Hc);  Pn = p(h | Vn);  Hc = sample(Pn)
//   update with (V0, P0) and (Vn, Pn): ref::rbm_update (SGD with momentum, weight decay on W;
//   both statistics divided by rows, as scikit-learn, also on a short last PCD minibatch).
// With pcd = true, k = 1, momentum = 0 and weight_decay = 0 this is scikit-learn's
// BernoulliRBM.fit step. Every half-step uses a fresh Philox offset (a counter kept in the state).
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "latentkit/core/backend.h"
#include "latentkit/ref/rbm_ref.h"

namespace latentkit {

class RbmOps;  // the backend's arithmetic (rbm.cpp)

struct RbmTrainConfig {
  int batch = 64;               // minibatch size = number of persistent chains
  int k = 1;                    // Gibbs steps per minibatch
  bool pcd = true;              // persistent chains (scikit-learn) or CD-k from the data
  ref::RbmUpdateConfig update;  // lr, momentum, weight_decay
  uint64_t seed = 0;            // Philox seed of all sampling noise
};

// Throws InputError (naming the flag) for a non-positive batch or k, a non-positive or non-finite
// lr, momentum outside [0, 1) or negative weight decay.
void validate(const RbmTrainConfig& cfg);

// Everything a checkpoint holds, on the host.
struct RbmState {
  int nv = 0, nh = 0;
  std::vector<float> W, b, c;              // [nv*nh], [nv], [nh]
  std::vector<float> vel_W, vel_b, vel_c;  // momentum buffers
  std::vector<float> chains;               // persistent hidden states [batch, nh]
  uint32_t half_steps = 0;                 // Philox offset counter
};

class Rbm {
 public:
  // W ~ N(0, 0.01^2) from Philox (RngStream::Init, seed) as scikit-learn's initialisation; biases,
  // velocities and chains zero.
  Rbm(Backend& backend, int nv, int nh, const RbmTrainConfig& cfg);
  ~Rbm();
  Rbm(const Rbm&) = delete;
  Rbm& operator=(const Rbm&) = delete;

  int nv() const { return nv_; }
  int nh() const { return nh_; }
  const RbmTrainConfig& config() const { return cfg_; }
  Backend& backend() { return be_; }

  // One minibatch of training; V0 [rows, nv] in backend memory, 1 <= rows <= batch.
  void train_minibatch(const float* V0, int rows);

  // Half-steps with the model's parameters (backend memory); offsets are the caller's.
  void hidden_step(const float* V, int n, uint32_t offset, float* P, float* S);
  void visible_step(const float* H, int n, uint32_t offset, const float* clamp_mask,
                    const float* clamp_values, float* P, float* S);

  // Per-row free energy and pseudo-likelihood (scikit-learn's score_samples, flip index from
  // Philox RbmScore at `offset`) of V [n, nv] (backend memory), on the host in float64.
  std::vector<double> free_energy(const float* V, int n);
  std::vector<double> pseudo_likelihood(const float* V, int n, uint32_t offset);

  // Mean squared error per pixel between V and p(v | h), h ~ p(h | V) (one Gibbs step from the
  // data, noise at `offset`).
  double reconstruction_error(const float* V, int n, uint32_t offset);

  // `steps` Gibbs steps v -> h -> v on the chains V [n, nv] (backend memory, overwritten with
  // the final samples); P_out [n, nv] receives the final p(v | h). With clamp_mask/values the
  // clamped pixels keep their values throughout (inpainting). Noise offsets offset0, offset0+1,
  // ... (2 per step). Calling it again with offset0 + 2*steps continues the same chains.
  void gibbs(float* V, int n, int steps, uint32_t offset0, const float* clamp_mask,
             const float* clamp_values, float* P_out);

  RbmState state();
  void load_state(const RbmState& st);  // throws InputError on a shape mismatch

  // The model's parameters in backend memory.
  const float* W() const { return W_.data(); }
  const float* b() const { return b_.data(); }
  const float* c() const { return c_.data(); }

 private:
  Backend& be_;
  int nv_, nh_;
  RbmTrainConfig cfg_;
  Array<float> W_, b_, c_, vel_W_, vel_b_, vel_c_;
  Array<float> chains_;                  // persistent hidden states [batch, nh]
  Array<float> P0_, Hs_, Vn_, Pv_, Pn_;  // minibatch scratch
  std::unique_ptr<RbmOps> ops_;          // the backend's arithmetic and its scratch
  uint32_t half_steps_ = 0;

  std::vector<double> free_energy_rows(const float* V, int n, uint32_t offset, bool with_pl);
};

}  // namespace latentkit
