// Shared vocabulary of the op families (no math here): activations and optimiser settings.
// Each op exists twice with the same name and argument order: latentkit::ref:: (host/ref, plain
// C++, float64 accumulation: the CPU backend and the test oracle) and latentkit::cuda::
// (kernels/, launchers taking a cudaStream_t last). The two share no arithmetic code.
#pragma once
#include <cstdint>
#include <string>

#include "latentkit/core/enum_names.h"

namespace latentkit {

enum class Activation : int { Identity = 0, ReLU = 1, LeakyReLU = 2, Tanh = 3, Sigmoid = 4 };

// Slope of leaky ReLU for negative inputs: PyTorch's default negative_slope.
constexpr float kDefaultLeakySlope = 0.01f;

template <>
struct EnumNames<Activation> {
  static constexpr const char* flag = "--activation";
  static constexpr EnumName<Activation> table[] = {{Activation::Identity, "identity"},
                                                   {Activation::ReLU, "relu"},
                                                   {Activation::LeakyReLU, "leaky_relu"},
                                                   {Activation::Tanh, "tanh"},
                                                   {Activation::Sigmoid, "sigmoid"}};
};

// Adam exactly as torch.optim.Adam (weight_decay = L2 added to the gradient):
//   m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;
//   p -= (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps),  t = 1, 2, ...
struct AdamConfig {
  float lr = 1e-3f;
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float eps = 1e-8f;
  float weight_decay = 0.0f;
};

// SGD with momentum as torch.optim.SGD (dampening 0, not Nesterov):
//   g += wd p;  buf = momentum buf + g;  p -= lr buf   (buf starts at 0, so step 1 gives buf = g).
struct SgdConfig {
  float lr = 1e-2f;
  float momentum = 0.9f;
  float weight_decay = 0.0f;
};

}  // namespace latentkit
