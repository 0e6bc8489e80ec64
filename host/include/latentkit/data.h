// Data sets and their preparation: the synthetic Gaussian mixture of seed report 002 (drawn from
// Philox, so a seed fixes it on every machine), strict CSV input, and input scaling.
// Tests: tests/test_data.cpp.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace latentkit {

struct Dataset {
  int n = 0, d = 0;
  std::vector<float> x;      // [n, d] row-major
  std::vector<int> labels;   // true component per row, or empty when unknown
};

// A K-component mixture in D dimensions with diagonal covariances.
struct GaussianMixtureSpec {
  int k = 10, d = 3, n = 10000;
  double mean_low = -10.0, mean_high = 10.0;  // means ~ U[low, high]^D
  double var_low = 0.5, var_high = 2.0;       // diagonal variances ~ U[low, high]
};

struct MixtureTruth {
  std::vector<double> weights;    // [k], ~ Dirichlet(1, ..., 1)
  std::vector<double> means;      // [k, d]
  std::vector<double> variances;  // [k, d]
};

Dataset make_gaussian_mixture(const GaussianMixtureSpec& spec, uint64_t seed,
                              MixtureTruth* truth = nullptr);

// Reads an N x D CSV of numbers, with an optional header line (a first line that is not all
// numbers). Throws InputError naming the file, line and column for: a missing or empty file,
// ragged rows, text, NaN or Inf, no data rows.
Dataset read_csv_matrix(const std::string& path);

enum class ScaleKind { None, Standard, MinMax };
ScaleKind parse_scale_kind(const std::string& s);  // throws InputError
const char* scale_kind_name(ScaleKind k);

// Per-column affine map x' = (x - shift) / scale, fitted on the training data.
struct Scaler {
  ScaleKind kind = ScaleKind::None;
  std::vector<double> shift, scale;
  // Throws InputError for a zero-variance / zero-range column under standard / minmax.
  static Scaler fit(const Dataset& data, ScaleKind kind);
  void transform(std::vector<float>& x, int d) const;
  void inverse(std::vector<float>& x, int d) const;
};

}  // namespace latentkit
