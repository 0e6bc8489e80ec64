// CPU reference of the Bernoulli RBM family (mirrors kernels/rbm.cu by name and argument order,
// sharing no arithmetic code with it): plain C++, float64 accumulation, float32 storage.
// It is the CPU path of latentkit/families/rbm.h (apps/rbm_mnist --device cpu) and the oracle of
// tests/test_rbm_gpu.cu; tests/test_ref_rbm.cpp checks it against exact enumeration of a tiny RBM.
//
// Model (scikit-learn's BernoulliRBM, with W stored [nv, nh] = sklearn's components_ transposed):
//   p(h_j = 1 | v) = sigmoid(c_j + sum_i v_i W[i, j])        (hidden biases c[nh])
//   p(v_i = 1 | h) = sigmoid(b_i + sum_j W[i, j] h_j)        (visible biases b[nv])
//   free energy F(v) = -v.b - sum_j softplus(c_j + (v W)_j),  p(v) proportional to exp(-F(v)).
// Layouts: row-major float32. V[n, nv], H[n, nh], W[nv, nh], P (probabilities) like V or H.
//
// Bernoulli sampling: element (r, col) of a half-step's sample is 1 exactly when
//   u < p   with u = philox_uniform(seed, stream, offset, r * width + col) (a double in (0, 1]),
// stream = RngStream::RbmHidden / RbmVisible, and p the float32 probability promoted to double.
// The GPU draws the same u, so CPU and GPU samples agree wherever their probabilities agree; a
// probability differing by an ulp flips a sample only when u lies within that ulp of p.
#pragma once
#include <cstddef>
#include <cstdint>

#include "latentkit/core/philox.h"

namespace latentkit::ref {

// Hidden half-step: P = sigmoid(V W + c) [n, nh]; S = Bernoulli(P) (skipped if S == nullptr).
void rbm_hidden_step(const float* V, const float* W, const float* c, int n, int nv, int nh,
                     uint64_t seed, uint32_t offset, float* P, float* S);

// Visible half-step: P = sigmoid(H W^T + b) [n, nv]; S = Bernoulli(P) (skipped if S == nullptr).
// Clamping (inpainting): where clamp_mask[r*nv + i] != 0, P and S are set to
// clamp_values[r*nv + i] instead (both arrays [n, nv], or both nullptr for no clamping).
void rbm_visible_step(const float* H, const float* W, const float* b, int n, int nv, int nh,
                      uint64_t seed, uint32_t offset, const float* clamp_mask,
                      const float* clamp_values, float* P, float* S);

// SGD with momentum on the log-likelihood (ascent), scikit-learn's update when momentum = 0 and
// weight_decay = 0:
//   gW = (V0^T P0 - Vn^T Pn) / rows - weight_decay * W      (no decay on the biases)
//   gb = (sum_rows(V0) - sum_chains(Vn)) / rows;   gc = (sum_rows(P0) - sum_chains(Pn)) / rows
//   vel = momentum * vel + lr * g;   param += vel          (for W, b and c alike)
// V0 [rows, nv] data, P0 [rows, nh] = p(h | V0); Vn [chains, nv] the chains' visible samples,
// Pn [chains, nh] = p(h | Vn). Both statistics are divided by `rows`, the minibatch size, exactly
// as scikit-learn's BernoulliRBM._fit (lr / v_pos.shape[0] times the positive minus the negative
// sums, its persistent chains h_samples_ having batch_size rows). With rows == chains (CD-k, and
// every full PCD minibatch) both are means; on a short last PCD minibatch (rows < chains) the
// negative statistic weighs chains / rows times its mean, as in scikit-learn.
struct RbmUpdateConfig {
  float lr = 0.01f;
  float momentum = 0.0f;
  float weight_decay = 0.0f;
};
void rbm_update(const float* V0, const float* P0, int rows, const float* Vn, const float* Pn,
                int chains, int nv, int nh, const RbmUpdateConfig& cfg, float* W, float* b,
                float* c, float* vel_W, float* vel_b, float* vel_c);

// Free energy per row, fe[n] (float64 out). If pl != nullptr also scikit-learn's pseudo-likelihood
// score (BernoulliRBM.score_samples): flip one visible unit per row, v'_i = 1 - v_i with
//   i = min(nv - 1, floor(u * nv)),  u = philox_uniform(seed, RngStream::RbmScore, offset, row),
// and pl[r] = nv * log sigmoid(F(v') - F(v)) = -nv * softplus(F(v) - F(v')).
void rbm_free_energy(const float* V, const float* W, const float* b, const float* c, int n, int nv,
                     int nh, uint64_t seed, uint32_t offset, double* fe, double* pl);

// Sum over each row of (V - P)^2: err[n] (float64 out).
void rbm_row_sq_error(const float* V, const float* P, int n, int nv, double* err);

}  // namespace latentkit::ref
