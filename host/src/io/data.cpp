// Synthetic mixtures, CSV input and scaling (see latentkit/io/data.h).
#include "latentkit/io/data.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <sstream>
#include <unordered_set>

#include "latentkit/core/check.h"
#include "latentkit/io/io.h"
#include "latentkit/core/philox.h"

namespace latentkit {

namespace {
// Offsets inside RngStream::Data, one per quantity, so each draw is independent.
enum DataOffset : uint32_t { kMeans = 0, kVariances = 1, kWeights = 2, kComponent = 3, kNoise = 4 };
}  // namespace

Dataset make_gaussian_mixture(const GaussianMixtureSpec& spec, uint64_t seed,
                              MixtureTruth* truth_out) {
  LK_FLAG_CHECK(spec.k > 0, "--k must be positive, got " << spec.k);
  LK_FLAG_CHECK(spec.d > 0, "--d must be positive, got " << spec.d);
  LK_FLAG_CHECK(spec.n > 0, "--n must be positive, got " << spec.n);
  LK_FLAG_CHECK(spec.k <= spec.n, "--k " << spec.k << " components need at least as many samples, "
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

Dataset read_csv_matrix(const std::string& path, long long max_rows) {
  std::ifstream in = open_input_file(path, "input file");
  return parse_csv_matrix(in, path, max_rows);
}

Dataset parse_csv_matrix(std::istream& in, const std::string& path, long long max_rows) {
  Dataset ds;
  std::string line;
  long long line_no = 0;
  long long blank_after_data = 0;  // the first blank line after a data row (0: none yet)
  bool first = true;
  while ((max_rows < 0 || ds.n < max_rows) && std::getline(in, line)) {
    ++line_no;
    // A UTF-8 byte-order mark (EF BB BF) before the first line is an editor's marker, not text.
    if (line_no == 1 && line.rfind("\xEF\xBB\xBF", 0) == 0) line.erase(0, 3);
    // A NUL or another control byte (tab and CR excepted) means the file is not text.
    for (const char ch : line) {
      const unsigned char c = static_cast<unsigned char>(ch);
      LK_INPUT_CHECK(c >= 0x20 || c == '\t' || c == '\r',
                     path << ":" << line_no << ": binary data (byte 0x" << std::hex << int(c)
                          << std::dec << "): this is not a CSV text file; pass the CSV");
    }
    if (trim(line).empty()) {
      if (ds.n > 0 && blank_after_data == 0) blank_after_data = line_no;
      continue;
    }
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
    // In a one-column file a blank line between rows is a missing value (a label list one short),
    // not a separator: refuse it rather than shift every later row.
    LK_INPUT_CHECK(!(ds.d == 1 && blank_after_data > 0),
                   path << ":" << blank_after_data << ": blank line between the rows of a "
                        << "one-column file (a missing value?): fill it in or remove it");
    LK_INPUT_CHECK(static_cast<int>(fields.size()) == ds.d,
                   path << ":" << line_no << ": expected " << ds.d << " columns, found "
                        << fields.size() << " (ragged rows): fix the file");
    for (size_t j = 0; j < fields.size(); ++j) {
      const Parsed p = parse_number(fields[j], v);
      LK_INPUT_CHECK(p != Parsed::NotNumber, path << ":" << line_no << ": column " << j + 1
                                                  << " is not a number: '"
                                                  << printable(trim(fields[j])) << "'");
      LK_INPUT_CHECK(std::isfinite(v) || p == Parsed::OutOfRange,
                     path << ":" << line_no << ": column " << j + 1 << " is "
                          << printable(trim(fields[j]))
                          << "; NaN and Inf are not allowed: clean the data");
      // 0x1.ffffffp+127: the midpoint between FLT_MAX and the next power of two; above it a value
      // rounds to Inf in float32.
      LK_INPUT_CHECK(p != Parsed::OutOfRange && std::fabs(v) < 0x1.ffffffp+127,
                     path << ":" << line_no << ": column " << j + 1 << " ("
                          << printable(trim(fields[j]))
                          << ") is out of float32 range: rescale the data");
      ds.x.push_back(static_cast<float>(v));
    }
    LK_INPUT_CHECK(ds.n < std::numeric_limits<int>::max(),
                   path << ": more than " << std::numeric_limits<int>::max()
                        << " rows: split the file or pass a row limit");
    ++ds.n;
  }
  LK_INPUT_CHECK(ds.n > 0, "input file '" << path << "' has no data rows");
  return ds;
}

void check_distance_scale(const std::vector<float>& x, int n, int d, const std::string& what,
                          const std::string& remedy, bool need_distinct) {
  double bound = 0.0;
  for (int j = 0; j < d; ++j) {
    double lo = INFINITY, hi = -INFINITY;
    for (int i = 0; i < n; ++i) {
      const double v = x[static_cast<size_t>(i) * d + j];
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
    bound += (hi - lo) * (hi - lo);
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", bound);
  LK_INPUT_CHECK(bound < kMaxSquaredDistance, what << " spans squared distances up to " << buf
                                                   << ", beyond the " << kMaxSquaredDistance
                                                   << " the distance kernels take: " << remedy);
  LK_INPUT_CHECK(
      !need_distinct || count_distinct_rows(x, n, d, 2) >= 2,
      "all " << n << " rows of " << what << " are identical: nothing to tell apart; " << remedy);
}

int count_distinct_rows(const std::vector<float>& x, int n, int d, int cap) {
  std::unordered_set<std::string> seen;
  for (int i = 0; i < n && static_cast<int>(seen.size()) < cap; ++i)
    seen.emplace(reinterpret_cast<const char*>(x.data() + static_cast<size_t>(i) * d),
                 sizeof(float) * d);
  return static_cast<int>(seen.size());
}

uint64_t data_fingerprint(const std::vector<float>& x) {
  Fnv1a hash;
  hash.add(x.data(), x.size() * sizeof(float));
  return hash.h;
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
