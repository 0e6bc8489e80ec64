// The rbm_mnist pipeline (apps/rbm_mnist): train a Bernoulli RBM on Fashion-MNIST (or MNIST) IDX
// files with CD-k or PCD, then write filters, samples after 1/10/100/1000 Gibbs steps, inpainting
// grids and summary.json. Seed report 001 section 4.1 (scikit-learn's BernoulliRBM on MNIST).
// Tests: tests/test_rbm_mnist.cpp (end to end on tiny IDX files written by the test).
#pragma once
#include <cstdint>
#include <ostream>
#include <string>

#include "latentkit/core/backend.h"
#include "latentkit/core/enum_names.h"
#include "latentkit/families/rbm.h"

namespace latentkit {

// Where the Debian package dataset-fashion-mnist installs the data.
inline const char* kDefaultMnistDir = "/usr/share/datasets/fashion-mnist";

enum class Binarize { None, Threshold, Stochastic };
// Initial state of the sampling chains: random binary pixels (Bernoulli 1/2), uniform grey noise,
// or the first test images.
enum class SampleInit { Random, Noise, Data };
template <>
struct EnumNames<SampleInit> {
  static constexpr const char* flag = "--sample-init";
  static constexpr EnumName<SampleInit> table[] = {
      {SampleInit::Random, "random"}, {SampleInit::Noise, "noise"}, {SampleInit::Data, "data"}};
};
template <>
struct EnumNames<Binarize> {
  static constexpr const char* flag = "--binarize";
  static constexpr EnumName<Binarize> table[] = {{Binarize::None, "none"},
                                                 {Binarize::Threshold, "threshold"},
                                                 {Binarize::Stochastic, "stochastic"}};
};

struct RbmMnistOptions {
  std::string data_dir = kDefaultMnistDir;
  std::string out_dir = "rbm_mnist_out";
  int hidden = 256;
  int epochs = 10;
  RbmTrainConfig train;          // batch, k, pcd, lr, momentum, weight decay, seed
  long long limit = -1;          // first N training images (-1: all)
  long long test_limit = 1000;   // first N test images for inpainting (-1: all)
  long long eval_limit = 10000;  // first N training images for the per-epoch metrics (-1: all)
  Binarize binarize = Binarize::None;
  int inpaint_rows = 14;    // rows (or columns) removed per side: half of a 28-pixel image
  int inpaint_steps = 50;   // Gibbs steps of inpainting
  int n_samples = 64;       // chains drawn for the sample grids (an 8 x 8 grid)
  int sample_steps = 1000;  // last step shown (grids at 1, 10, 100, 1000 up to this)
  SampleInit sample_init = SampleInit::Random;
  int checkpoint_every = 0;  // epochs between checkpoints (0: never)
  bool resume = false;
  bool progress_tty = false;
};

struct RbmMnistResult {
  int epochs_trained = 0;
  double final_pseudo_likelihood = 0.0;
  double final_reconstruction_error = 0.0;
};

RbmMnistResult run_rbm_mnist(const RbmMnistOptions& opt, Backend& backend, std::ostream& log);

}  // namespace latentkit
