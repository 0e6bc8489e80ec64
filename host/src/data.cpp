// Synthetic mixtures, CSV input and scaling (see latentkit/data.h).
#include "latentkit/data.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "latentkit/check.h"
#include "latentkit/philox.h"

namespace latentkit {

namespace {
// Offsets inside RngStream::Data, one per quantity, so each draw is independent.
enum DataOffset : uint32_t { kMeans = 0, kVariances = 1, kWeights = 2, kComponent = 3, kNoise = 4 };
}  // namespace

Dataset make_gaussian_mixture(const GaussianMixtureSpec& spec, uint64_t seed,
                              MixtureTruth* truth_out) {
  LK_INPUT_CHECK(spec.k > 0, "--k must be positive, got " << spec.k);
  LK_INPUT_CHECK(spec.d > 0, "--d must be positive, got " << spec.d);
  LK_INPUT_CHECK(spec.n > 0, "--n must be positive, got " << spec.n);
  LK_INPUT_CHECK(spec.k <= spec.n, "--k " << spec.k << " components need at least as many samples, "
                                          << "got --n " << spec.n);
  const auto uniform = [seed](uint32_t offset, uint64_t i, double lo, double hi) {
    return lo + (hi - lo) * philox_uniform(seed, RngStream::Data, offset, i);
  };
  MixtureTruth t;
  const size_t kd = static_cast<size_t>(spec.k) * spec.d;
  t.means.resize(kd);
  t.variances.resize(kd);
  for (size_t i = 0; i < kd; ++i) {
    t.means[i] = uniform(kMeans, i, spec.mean_low, spec.mean_high);
    t.variances[i] = uniform(kVariances, i, spec.var_low, spec.var_high);
  }
  // Dirichlet(1, ..., 1) = normalised Exp(1) draws.
  t.weights.resize(spec.k);
  double total = 0.0;
  for (int c = 0; c < spec.k; ++c) {
    t.weights[c] = -std::log(philox_uniform(seed, RngStream::Data, kWeights, c));
    total += t.weights[c];
  }
  for (double& w : t.weights) w /= total;

  Dataset ds;
  ds.n = spec.n;
  ds.d = spec.d;
  ds.x.resize(static_cast<size_t>(spec.n) * spec.d);
  ds.labels.resize(spec.n);
  for (int i = 0; i < spec.n; ++i) {
    // Component by inverting the cumulative weights.
    const double u = philox_uniform(seed, RngStream::Data, kComponent, i);
    int c = 0;
    double cum = t.weights[0];
    while (c + 1 < spec.k && u > cum) cum += t.weights[++c];
    ds.labels[i] = c;
    for (int j = 0; j < spec.d; ++j) {
      const size_t cj = static_cast<size_t>(c) * spec.d + j;
      const size_t ij = static_cast<size_t>(i) * spec.d + j;
      const double e = philox_normal(seed, RngStream::Data, kNoise, ij);
      ds.x[ij] = static_cast<float>(t.means[cj] + std::sqrt(t.variances[cj]) * e);
    }
  }
  if (truth_out) *truth_out = std::move(t);
  return ds;
}

namespace {

std::vector<std::string> split_fields(const std::string& line) {
  std::vector<std::string> fields;
  std::string field;
  std::istringstream is(line);
  while (std::getline(is, field, ',')) fields.push_back(field);
  if (!line.empty() && line.back() == ',') fields.emplace_back();
  return fields;
}

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return "";
  const auto e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
}

enum class Parsed { Number, NotNumber, OutOfRange };

// Parses a whole field as a number. Underflow is accepted (it becomes 0 or a denormal); overflow
// beyond double is OutOfRange.
Parsed parse_number(const std::string& text, double& value) {
  const std::string t = trim(text);
  if (t.empty()) return Parsed::NotNumber;
  char* end = nullptr;
  errno = 0;
  value = std::strtod(t.c_str(), &end);
  if (end != t.c_str() + t.size()) return Parsed::NotNumber;
  if (errno == ERANGE && std::fabs(value) > 1.0) return Parsed::OutOfRange;
  return Parsed::Number;
}

}  // namespace

Dataset read_csv_matrix(const std::string& path) {
  std::ifstream in(path);
  LK_INPUT_CHECK(in.good(), "cannot open input file '" << path << "': check the path");
  Dataset ds;
  std::string line;
  int line_no = 0;
  bool first = true;
  while (std::getline(in, line)) {
    ++line_no;
    if (trim(line).empty()) continue;
    const auto fields = split_fields(line);
    // The first line is a header when none of its fields is a number ("x,y,z"); a line that
    // mixes numbers and text ("1,2x") is a malformed data row, reported below.
    bool any_numeric = false;
    double v = 0;
    for (const auto& f : fields) any_numeric |= parse_number(f, v) != Parsed::NotNumber;
    if (first && !any_numeric) {
      first = false;
      ds.d = static_cast<int>(fields.size());
      continue;
    }
    if (ds.d == 0) ds.d = static_cast<int>(fields.size());
    first = false;
    LK_INPUT_CHECK(static_cast<int>(fields.size()) == ds.d,
                   path << ":" << line_no << ": expected " << ds.d << " columns, found "
                        << fields.size() << " (ragged rows): fix the file");
    for (size_t j = 0; j < fields.size(); ++j) {
      const Parsed p = parse_number(fields[j], v);
      LK_INPUT_CHECK(p != Parsed::NotNumber, path << ":" << line_no << ": column " << j + 1
                                                  << " is not a number: '" << trim(fields[j])
                                                  << "'");
      LK_INPUT_CHECK(std::isfinite(v) || p == Parsed::OutOfRange,
                     path << ":" << line_no << ": column " << j + 1 << " is " << trim(fields[j])
                          << "; NaN and Inf are not allowed: clean the data");
      // 0x1.ffffffp+127: the midpoint between FLT_MAX and the next power of two; above it a value
      // rounds to Inf in float32.
      LK_INPUT_CHECK(p != Parsed::OutOfRange && std::fabs(v) < 0x1.ffffffp+127,
                     path << ":" << line_no << ": column " << j + 1 << " (" << trim(fields[j])
                          << ") is out of float32 range: rescale the data");
      ds.x.push_back(static_cast<float>(v));
    }
    ++ds.n;
  }
  LK_INPUT_CHECK(ds.n > 0, "input file '" << path << "' has no data rows");
  return ds;
}

ScaleKind parse_scale_kind(const std::string& s) {
  if (s == "none") return ScaleKind::None;
  if (s == "standard") return ScaleKind::Standard;
  if (s == "minmax") return ScaleKind::MinMax;
  throw InputError("unknown --scale '" + s + "': use none, standard or minmax");
}

const char* scale_kind_name(ScaleKind k) {
  switch (k) {
    case ScaleKind::None: return "none";
    case ScaleKind::Standard: return "standard";
    case ScaleKind::MinMax: return "minmax";
  }
  return "none";
}

Scaler Scaler::fit(const Dataset& data, ScaleKind kind) {
  Scaler s;
  s.kind = kind;
  s.shift.assign(data.d, 0.0);
  s.scale.assign(data.d, 1.0);
  if (kind == ScaleKind::None) return s;
  for (int j = 0; j < data.d; ++j) {
    double lo = INFINITY, hi = -INFINITY, mean = 0.0;
    for (int i = 0; i < data.n; ++i) {
      const double v = data.x[static_cast<size_t>(i) * data.d + j];
      lo = std::min(lo, v);
      hi = std::max(hi, v);
      mean += v;
    }
    mean /= data.n;
    if (kind == ScaleKind::MinMax) {
      LK_INPUT_CHECK(hi > lo, "column " << j + 1 << " is constant (" << lo
                                        << "): min-max scaling is undefined; use --scale none");
      s.shift[j] = lo;
      s.scale[j] = hi - lo;
    } else {
      double var = 0.0;
      for (int i = 0; i < data.n; ++i) {
        const double e = data.x[static_cast<size_t>(i) * data.d + j] - mean;
        var += e * e;
      }
      var /= data.n;
      LK_INPUT_CHECK(var > 0, "column " << j + 1 << " has zero variance: standard scaling is "
                                        << "undefined; use --scale none");
      s.shift[j] = mean;
      s.scale[j] = std::sqrt(var);
    }
  }
  return s;
}

void Scaler::transform(std::vector<float>& x, int d) const {
  for (size_t i = 0; i < x.size(); ++i)
    x[i] = static_cast<float>((x[i] - shift[i % d]) / scale[i % d]);
}

void Scaler::inverse(std::vector<float>& x, int d) const {
  for (size_t i = 0; i < x.size(); ++i)
    x[i] = static_cast<float>(x[i] * scale[i % d] + shift[i % d]);
}

}  // namespace latentkit
