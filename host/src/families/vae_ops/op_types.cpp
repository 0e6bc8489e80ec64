// Names of the shared op vocabulary (latentkit/families/op_types.h).
#include "latentkit/families/op_types.h"

#include "latentkit/core/check.h"

namespace latentkit {

const char* activation_name(Activation act) {
  switch (act) {
    case Activation::Identity: return "identity";
    case Activation::ReLU: return "relu";
    case Activation::LeakyReLU: return "leaky_relu";
    case Activation::Tanh: return "tanh";
    case Activation::Sigmoid: return "sigmoid";
  }
  return "unknown";
}

Activation parse_activation(const std::string& name) {
  for (Activation a : {Activation::Identity, Activation::ReLU, Activation::LeakyReLU,
                       Activation::Tanh, Activation::Sigmoid})
    if (name == activation_name(a)) return a;
  throw FlagError("--activation must be identity, relu, leaky_relu, tanh or sigmoid, got '" + name +
                  "'");
}

}  // namespace latentkit
