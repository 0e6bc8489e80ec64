// Data sets and their preparation: the synthetic Gaussian mixture of seed report 002 (drawn from
// Philox, so a seed fixes it on every machine), strict CSV input, and input scaling.
// Tests: tests/test_data.cpp.
#pragma once
#include <cstdint>
#include <istream>
#include <string>
#include <vector>

#include "latentkit/core/enum_names.h"

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
// ragged rows, text, NaN or Inf, no data rows, a directory, binary data (a control byte), a blank
// line between the rows of a one-column file (a missing value). A UTF-8 byte-order mark before the
// first line is skipped. max_rows >= 0 stops reading after that many data rows (--limit).
Dataset read_csv_matrix(const std::string& path, long long max_rows = -1);
// The same from a stream; `name` names it in messages (the fuzz target's entry).
Dataset parse_csv_matrix(std::istream& in, const std::string& name, long long max_rows = -1);

// The largest squared distance between two rows the distance-based stages accept (t-SNE, MMD,
// KMeans): 1e30 is the largest kernel bandwidth validate_mmd_kernel takes (host/src/families/mmd/mmd.cpp), and
// squared distances near float32's 3.4e38 overflow in the kernels' float arithmetic.
constexpr double kMaxSquaredDistance = 1e30;

// Refuses (InputError) rows whose pairwise squared distances can exceed kMaxSquaredDistance (the
// bound is the sum over columns of the squared column range), naming `what` (the data) and ending
// with `remedy` (what to do); and, when `need_distinct`, rows that are all identical.
void check_distance_scale(const std::vector<float>& x, int n, int d, const std::string& what,
                          const std::string& remedy, bool need_distinct = false);

// The number of distinct rows of the [n, d] matrix x, counting stops at `cap`.
int count_distinct_rows(const std::vector<float>& x, int n, int d, int cap);

// FNV-1a (64-bit) of the rows' float bits: the fingerprint of a data set in checkpoints.
uint64_t data_fingerprint(const std::vector<float>& x);

enum class ScaleKind { None, Standard, MinMax };
template <>
struct EnumNames<ScaleKind> {
  static constexpr const char* flag = "--scale";
  static constexpr EnumName<ScaleKind> table[] = {
      {ScaleKind::None, "none"}, {ScaleKind::Standard, "standard"}, {ScaleKind::MinMax, "minmax"}};
};

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
