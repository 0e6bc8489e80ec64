// CPU reference of every kernel family: plain C++, float64 accumulation, templated on the storage
// type T: float (the CPU backend and the oracle for the kernels) and double (for the float64
// finite-difference gradient checks). Explicitly instantiated for both in host/ref/*.cpp.
// One file per family in host/ref/ (dense.cpp, losses.cpp, reparam.cpp, optim.cpp, shuffle.cpp),
// each mirroring kernels/<family>.cu by name and argument order, sharing no arithmetic with it.
// These are the CPU backend and the oracle in tests (tests/test_ref_*.cpp check them by finite
// differences in float64; tests/test_*_gpu.cu check the kernels against them).
//
// Layouts: row-major. X[n, in], W[out, in] (as torch.nn.Linear), b[out], Y[n, out].
#pragma once
#include <cstddef>
#include <cstdint>

#include "latentkit/families/op_types.h"
#include "latentkit/core/philox.h"

namespace latentkit::ref {

// ---- dense (host/ref/dense.cpp) ---------------------------------------------------------------
// Y = act(X W^T + b). b may be nullptr (no bias).
template <class T>
void dense_forward(const T* X, const T* W, const T* b, T* Y, int n, int in,
                   int out, Activation act, T slope);

// Gradients of dense_forward from its output Y (post-activation) and dY = dL/dY:
//   dZ = dY * act'(Y);  dX = dZ W  (skipped if dX == nullptr; added to dX if accumulate_dx);
//   dW = dZ^T X;  db = sum_rows dZ (skipped if db == nullptr). dW and db are overwritten.
// act' is taken from the output: ReLU/leaky: Y > 0; tanh: 1 - Y^2; sigmoid: Y (1 - Y).
template <class T>
void dense_backward(const T* X, const T* W, const T* Y, const T* dY, T* dX,
                    T* dW, T* db, int n, int in, int out, Activation act, T slope,
                    bool accumulate_dx);

// ---- losses (host/ref/losses.cpp) -------------------------------------------------------------
// Sum of squared errors per row (Gaussian likelihood, identity covariance, up to ½ and a constant):
//   row_loss[r] = sum_j (xhat - x)^2;   dxhat = grad_scale * 2 (xhat - x)   (overwritten).
template <class T>
void sse_loss(const T* xhat, const T* x, int n, int d, T grad_scale, T* dxhat,
              T* row_loss);

// Bernoulli likelihood on logits, numerically stable:
//   row_loss[r] = sum_j max(l,0) - l x + log1p(exp(-|l|));   dl = grad_scale (sigmoid(l) - x).
template <class T>
void bce_logits_loss(const T* logits, const T* x, int n, int d, T grad_scale,
                     T* dlogits, T* row_loss);

// KL(N(mu, exp(logvar)) || N(0, I)) per row:
//   row_kl[r] = -½ sum_j (1 + lv - mu^2 - exp(lv));
//   dmu += grad_scale mu;   dlogvar += grad_scale ½ (exp(lv) - 1)   (accumulated, not overwritten).
template <class T>
void kl_normal_loss(const T* mu, const T* logvar, int n, int l, T grad_scale,
                    T* dmu, T* dlogvar, T* row_kl);

// ---- reparameterised sampling (host/ref/reparam.cpp) ------------------------------------------
// eps[i] = T(philox_normal(seed, RngStream::Latent, offset, i)), i = r*l + j;
// z = mu + exp(½ lv) eps. eps is written for the backward pass.
template <class T>
void reparam_forward(const T* mu, const T* logvar, int n, int l, uint64_t seed,
                     uint32_t offset, T* eps, T* z);

// dmu = dz;  dlogvar = dz ½ exp(½ lv) eps   (both overwritten).
template <class T>
void reparam_backward(const T* dz, const T* logvar, const T* eps, int n, int l,
                      T* dmu, T* dlogvar);

// out[i] = T(philox_normal(seed, stream, offset, i)), i in [0, count).
template <class T>
void fill_normal(T* out, size_t count, uint64_t seed, RngStream stream, uint32_t offset);

// ---- optimisers (host/ref/optim.cpp) ----------------------------------------------------------
// One pass over all n parameters; t is the 1-based step number (see AdamConfig).
template <class T>
void adam_step(T* p, const T* g, T* m, T* v, size_t n, const AdamConfig& cfg,
               int64_t t);
template <class T>
void sgd_momentum_step(T* p, const T* g, T* buf, size_t n, const SgdConfig& cfg);

// ---- shuffling and reductions (host/ref/shuffle.cpp) ------------------------------------------
// perm = the indices 0..n-1 sorted by the 64-bit key (philox_block(seed, Shuffle, epoch, i).v[0]
// << 32 | i): a uniformly random permutation that CPU and GPU produce identically.
void shuffle_permutation(int32_t* perm, int n, uint64_t seed, uint32_t epoch);

// out[r, :] = X[idx[r], :] for r in [0, count).
template <class T>
void gather_rows(const T* X, const int32_t* idx, int count, int d, T* out);

// Sum of n values accumulated in double.
template <class T>
double sum(const T* v, size_t n);

}  // namespace latentkit::ref
