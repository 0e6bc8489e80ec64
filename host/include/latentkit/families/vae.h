// A dense VAE composed once from backend ops, so the CPU reference and the CUDA kernels run the
// same pipeline: encoder D -> hidden... (act) -> two linear heads (mu, logvar); decoder
// L -> reversed hidden... (act) -> D (linear: Gaussian mean, or Bernoulli logits).
// Loss per sample: reconstruction (sum of squared errors, or BCE on logits) + beta * KL(q(z|x)||N(0,I));
// the minibatch loss is the mean over its rows. All parameters live in one contiguous buffer
// (weights W[out,in] then bias b[out], layer after layer) so Adam is one fused pass.
// Tests: tests/test_vae.cpp (finite differences of the whole loss, CPU), tests/test_vae_gpu.cu
// (one whole training step GPU vs CPU).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "latentkit/core/backend.h"
#include "latentkit/families/op_types.h"

namespace latentkit {

enum class Likelihood { Gaussian, Bernoulli };
template <>
struct EnumNames<Likelihood> {
  static constexpr const char* flag = "--likelihood";
  static constexpr EnumName<Likelihood> table[] = {{Likelihood::Gaussian, "gaussian"},
                                                   {Likelihood::Bernoulli, "bernoulli"}};
};

struct VaeConfig {
  int input_dim = 3;
  std::vector<int> hidden = {128, 128};
  int latent = 2;
  Activation hidden_act = Activation::ReLU;
  Likelihood likelihood = Likelihood::Gaussian;
  float beta = 1.0f;  // KL weight
};

struct DenseLayer {
  int in = 0, out = 0;
  Activation act = Activation::Identity;
  size_t w_offset = 0, b_offset = 0;  // into the parameter buffer
};

// The network's layers in one parameter buffer.
struct VaeLayout {
  explicit VaeLayout(const VaeConfig& cfg);
  std::vector<DenseLayer> encoder;  // hidden layers
  DenseLayer mu_head, logvar_head;
  std::vector<DenseLayer> decoder;  // hidden layers, then the output layer (identity)
  size_t param_count = 0;
  // Every layer in parameter order: encoder, mu head, logvar head, decoder.
  std::vector<const DenseLayer*> layers() const;
};

// torch.nn.Linear's default initialisation, W and b ~ U(-1/sqrt(in), 1/sqrt(in)), drawn from
// Philox (stream Init, offset = layer number, index = element) so every device starts the same.
std::vector<float> init_vae_params(const VaeLayout& layout, uint64_t seed);

// Per-step losses written into the caller's per-sample arrays (row r of the batch).
struct StepLossRows {
  float* recon = nullptr;  // n floats
  float* kl = nullptr;     // n floats
};

class Vae {
 public:
  // Activations are allocated for up to max_batch rows.
  Vae(Backend& backend, const VaeConfig& cfg, int max_batch);

  const VaeConfig& config() const { return cfg_; }
  const VaeLayout& layout() const { return layout_; }
  Backend& backend() { return backend_; }
  int max_batch() const { return max_batch_; }

  float* params() { return params_.data(); }
  float* grads() { return grads_.data(); }
  void set_params(const std::vector<float>& host);
  std::vector<float> get_params();

  // Forward + loss + backward for a batch xb[n, D] (backend memory, n <= max_batch): fills
  // grads() with d(mean loss)/d(params); noise eps from Philox (seed, Latent, offset = step).
  void forward_backward(const float* xb, int n, uint64_t seed, uint32_t step, StepLossRows rows);

  // Encode x[n, D] (any n, processed in max_batch chunks) to mu, logvar [n, L].
  void encode(const float* x, int n, float* mu, float* logvar);
  // Decode z[n, L] to the decoder output [n, D] (Gaussian mean or Bernoulli logits).
  void decode(const float* z, int n, float* out);

 private:
  void encoder_forward(const float* x, int n, float* mu, float* logvar);
  void decoder_forward(const float* z, int n, float* out);

  Backend& backend_;
  VaeConfig cfg_;
  VaeLayout layout_;
  int max_batch_;
  Array<float> params_, grads_;
  // Activations and their gradients, one per layer output, max_batch rows each.
  std::vector<Array<float>> enc_act_, dec_act_, enc_grad_, dec_grad_;
  Array<float> mu_, logvar_, eps_, z_, dmu_, dlogvar_, dz_, dz_scratch_;
};

}  // namespace latentkit
