// Tests of the data module (latentkit/io/data.h, host/src/io/data.cpp):
//  - make_gaussian_mixture: deterministic per seed, shapes and labels, the truth's ranges, and
//    (n = 200000) empirical weights / means / variances per component against the truth within
//    standard-error bounds; bad specs throw InputError;
//  - read_csv_matrix: header / no header, spaces, CRLF, blank lines; every documented error throws
//    InputError naming the line;
//  - Scaler: standard and min-max fit / transform / inverse, constant columns.
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "latentkit/core/check.h"
#include "latentkit/io/data.h"
#include "test_util.h"

namespace latentkit {
namespace {

namespace fs = std::filesystem;

// ---- synthetic mixture ------------------------------------------------------------------------

TEST(Mixture, DeterministicPerSeedAndShapes) {
  LK_SEEDED_RNG(rng);
  const uint64_t seed = rng();
  for (auto [k, d, n] : {std::tuple{1, 1, 1}, std::tuple{3, 2, 31}, std::tuple{10, 3, 1021},
                         std::tuple{33, 5, 33}}) {
    SCOPED_TRACE("k=" + std::to_string(k) + " d=" + std::to_string(d) + " n=" + std::to_string(n));
    GaussianMixtureSpec spec;
    spec.k = k;
    spec.d = d;
    spec.n = n;
    MixtureTruth t1, t2, t3;
    const Dataset a = make_gaussian_mixture(spec, seed, &t1);
    const Dataset b = make_gaussian_mixture(spec, seed, &t2);
    const Dataset c = make_gaussian_mixture(spec, seed + 1, &t3);
    EXPECT_EQ(make_gaussian_mixture(spec, seed).x, a.x) << "truth pointer must not change data";
    ASSERT_EQ(a.n, n);
    ASSERT_EQ(a.d, d);
    ASSERT_EQ(a.x.size(), static_cast<size_t>(n) * d);
    ASSERT_EQ(a.labels.size(), static_cast<size_t>(n));
    EXPECT_EQ(a.x, b.x);
    EXPECT_EQ(a.labels, b.labels);
    EXPECT_EQ(t1.means, t2.means);
    EXPECT_EQ(t1.weights, t2.weights);
    // Another seed: the continuous draws all differ (a coincidence has probability ~1e-7 each).
    EXPECT_NE(a.x, c.x);
    EXPECT_NE(t1.means, t3.means);
    for (float v : a.x) ASSERT_TRUE(std::isfinite(v));
    for (int lbl : a.labels) {
      ASSERT_GE(lbl, 0);
      ASSERT_LT(lbl, k);
    }
    // The truth: Dirichlet weights (positive, sum 1 up to float64 rounding of k terms), means in
    // [mean_low, mean_high], variances in [var_low, var_high].
    ASSERT_EQ(t1.weights.size(), static_cast<size_t>(k));
    ASSERT_EQ(t1.means.size(), static_cast<size_t>(k) * d);
    ASSERT_EQ(t1.variances.size(), static_cast<size_t>(k) * d);
    double wsum = 0;
    for (double w : t1.weights) {
      EXPECT_GT(w, 0.0);
      wsum += w;
    }
    EXPECT_NEAR(wsum, 1.0, 1e-12);
    for (double m : t1.means) {
      EXPECT_GE(m, -10.0);
      EXPECT_LE(m, 10.0);
    }
    for (double v : t1.variances) {
      EXPECT_GE(v, 0.5);
      EXPECT_LE(v, 2.0);
    }
  }
}

// With n = 200000 rows, per component c with n_c rows and true weight w, mean m, variance v:
//   fraction n_c / n:  se = sqrt(w (1 - w) / n)      (binomial)
//   sample mean:       se = sqrt(v / n_c)
//   sample variance:   se = v sqrt(2 / (n_c - 1))   (normal data)
// Each is checked at 5 standard errors (probability < 6e-7 each for a correct generator; 4 + 2*12
// checks here). Components with fewer than 50 rows (a Dirichlet weight below 2.5e-4, which happens
// in ~0.3% of seeds) are checked for their weight only: 5 se is then too few rows for the normal
// approximation of the variance. The float32 rounding of x (<= 6e-8 * 15) is negligible.
TEST(Mixture, EmpiricalMomentsMatchTruth) {
  LK_SEEDED_RNG(rng);
  const uint64_t seed = rng();
  GaussianMixtureSpec spec;
  spec.k = 4;
  spec.d = 3;
  spec.n = 200000;
  MixtureTruth t;
  const Dataset ds = make_gaussian_mixture(spec, seed, &t);
  const int k = spec.k, d = spec.d, n = spec.n;
  std::vector<double> cnt(k, 0), sum(k * d, 0), sum2(k * d, 0);
  for (int i = 0; i < n; ++i) {
    const int c = ds.labels[i];
    cnt[c] += 1;
    for (int j = 0; j < d; ++j) sum[c * d + j] += ds.x[static_cast<size_t>(i) * d + j];
  }
  for (int i = 0; i < n; ++i) {
    const int c = ds.labels[i];
    for (int j = 0; j < d; ++j) {
      const double e = ds.x[static_cast<size_t>(i) * d + j] - sum[c * d + j] / cnt[c];
      sum2[c * d + j] += e * e;
    }
  }
  for (int c = 0; c < k; ++c) {
    SCOPED_TRACE("component " + std::to_string(c) + " weight " + std::to_string(t.weights[c]) +
                 " rows " + std::to_string(cnt[c]));
    const double w = t.weights[c];
    EXPECT_NEAR(cnt[c] / n, w, 5 * std::sqrt(w * (1 - w) / n)) << "weight";
    if (cnt[c] < 50) continue;
    for (int j = 0; j < d; ++j) {
      const double m = t.means[c * d + j], v = t.variances[c * d + j];
      EXPECT_NEAR(sum[c * d + j] / cnt[c], m, 5 * std::sqrt(v / cnt[c])) << "mean, dim " << j;
      EXPECT_NEAR(sum2[c * d + j] / (cnt[c] - 1), v, 5 * v * std::sqrt(2 / (cnt[c] - 1)))
          << "variance, dim " << j;
    }
  }
}

TEST(Mixture, BadSpecsThrowInputError) {
  auto spec = [](int k, int d, int n) {
    GaussianMixtureSpec s;
    s.k = k;
    s.d = d;
    s.n = n;
    return s;
  };
  EXPECT_THROW(make_gaussian_mixture(spec(11, 3, 10), 1), InputError) << "k > n";
  EXPECT_NO_THROW(make_gaussian_mixture(spec(10, 3, 10), 1)) << "k == n";
  for (auto [k, d, n] : {std::tuple{0, 3, 10}, std::tuple{-1, 3, 10}, std::tuple{2, 0, 10},
                         std::tuple{2, -2, 10}, std::tuple{2, 3, 0}, std::tuple{2, 3, -7}}) {
    SCOPED_TRACE("k=" + std::to_string(k) + " d=" + std::to_string(d) + " n=" + std::to_string(n));
    EXPECT_THROW(make_gaussian_mixture(spec(k, d, n), 1), InputError);
  }
}

// ---- CSV --------------------------------------------------------------------------------------

// A fresh directory per test under gtest's temporary directory, removed afterwards.
class Csv : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::path(::testing::TempDir()) /
           ("latentkit_data_" + std::to_string(test::fresh_seed()) + "_" + info->name());
    fs::remove_all(dir_);
    ASSERT_TRUE(fs::create_directories(dir_)) << dir_;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string write(const std::string& name, const std::string& bytes) {
    const std::string path = (dir_ / name).string();
    std::ofstream os(path, std::ios::binary);
    os << bytes;
    return path;
  }
  // Expects read_csv_matrix to throw InputError whose message contains every string in `needles`.
  void expect_error(const std::string& bytes, std::vector<std::string> needles) {
    const std::string path = write("bad.csv", bytes);
    try {
      read_csv_matrix(path);
      ADD_FAILURE() << "no error for:\n" << bytes;
    } catch (const InputError& e) {
      for (const auto& s : needles)
        EXPECT_NE(std::string(e.what()).find(s), std::string::npos)
            << "message '" << e.what() << "' should mention '" << s << "'";
    }
  }
  fs::path dir_;
};

TEST_F(Csv, HeaderAndNoHeader) {
  const Dataset a = read_csv_matrix(write("h.csv", "x,y,z\n1,2,3\n-4.5,5e-1,6\n"));
  EXPECT_EQ(a.n, 2);
  EXPECT_EQ(a.d, 3);
  EXPECT_EQ(a.x, (std::vector<float>{1, 2, 3, -4.5f, 0.5f, 6}));
  EXPECT_TRUE(a.labels.empty());
  const Dataset b = read_csv_matrix(write("n.csv", "1,2,3\n-4.5,5e-1,6"));  // no final newline
  EXPECT_EQ(b.n, 2);
  EXPECT_EQ(b.d, 3);
  EXPECT_EQ(b.x, a.x);
  const Dataset c = read_csv_matrix(write("one.csv", "0.25\n"));  // 1 x 1
  EXPECT_EQ(c.n, 1);
  EXPECT_EQ(c.d, 1);
  EXPECT_EQ(c.x, std::vector<float>{0.25f});
}

TEST_F(Csv, SpacesCrlfAndBlankLines) {
  const Dataset a =
      read_csv_matrix(write("s.csv", "a , b\r\n\r\n  1 ,\t2.5 \r\n\n   \n-3e-2,  +4\r\n\r\n"));
  EXPECT_EQ(a.n, 2);
  EXPECT_EQ(a.d, 2);
  EXPECT_EQ(a.x, (std::vector<float>{1, 2.5f, -3e-2f, 4}));
}

// Values round to the nearest float (the reader parses in double, then rounds once).
TEST_F(Csv, ValuesRoundToNearestFloat) {
  LK_SEEDED_RNG(rng);
  std::string text;
  std::vector<float> expect;
  std::uniform_real_distribution<double> u(-1e6, 1e6);
  char buf[64];
  for (int r = 0; r < 33; ++r) {
    for (int j = 0; j < 3; ++j) {
      const double v = u(rng) * std::pow(10.0, static_cast<int>(rng() % 40) - 25);
      std::snprintf(buf, sizeof buf, "%.17g", v);
      text += (j ? "," : "") + std::string(buf);
      expect.push_back(static_cast<float>(std::strtod(buf, nullptr)));
    }
    text += "\n";
  }
  const Dataset a = read_csv_matrix(write("r.csv", text));
  ASSERT_EQ(a.n, 33);
  EXPECT_EQ(a.x, expect);
}

TEST_F(Csv, Errors) {
  {
    SCOPED_TRACE("missing file");
    const std::string path = (dir_ / "does_not_exist.csv").string();
    try {
      read_csv_matrix(path);
      ADD_FAILURE() << "no error for a missing file";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    }
  }
  {
    SCOPED_TRACE("directory");
    EXPECT_THROW(read_csv_matrix(dir_.string()), InputError);
  }
  {
    SCOPED_TRACE("empty");
    expect_error("", {"no data rows"});
  }
  {
    SCOPED_TRACE("blank lines only");
    expect_error("\n  \r\n\n", {"no data rows"});
  }
  {
    SCOPED_TRACE("header only");
    expect_error("a,b,c\n", {"no data rows"});
  }
  {
    SCOPED_TRACE("ragged: short row");
    expect_error("1,2,3\n4,5,6\n7,8\n", {":3:", "expected 3 columns, found 2"});
  }
  {
    SCOPED_TRACE("ragged: long row after a header");
    expect_error("a,b\n1,2\n\n3,4,5\n", {":4:", "expected 2 columns, found 3"});
  }
  {
    SCOPED_TRACE("ragged: trailing comma");
    expect_error("1,2\n3,4,\n", {":2:"});
  }
  {
    SCOPED_TRACE("text in a data row");
    expect_error("a,b\n1,2\n3,abc\n", {":3:", "column 2", "abc"});
  }
  {
    SCOPED_TRACE("number followed by text");
    expect_error("1,2\n3,4x\n", {":2:", "column 2"});
  }
  {
    SCOPED_TRACE("empty field");
    expect_error("1,2,3\n4,,6\n", {":2:", "column 2"});
  }
  {
    SCOPED_TRACE("nan");
    expect_error("a,b\n1,2\nnan,3\n", {":3:", "column 1"});
  }
  {
    SCOPED_TRACE("nan in the first line");
    expect_error("1,nan\n", {":1:", "column 2"});
  }
  {
    SCOPED_TRACE("inf");
    expect_error("1,2\n3,inf\n", {":2:", "column 2"});
  }
  {
    SCOPED_TRACE("-infinity");
    expect_error("1,2\n-infinity,3\n", {":2:", "column 1"});
  }
  {
    SCOPED_TRACE("1e999 overflows double");
    expect_error("1,2\n3,1e999\n", {":2:", "column 2"});
  }
  {
    SCOPED_TRACE("1e39 overflows float");
    expect_error("1,2\n3,-1e39\n", {":2:", "column 2", "out of float32 range"});
  }
  {
    // A first line mixing numbers and text is a broken data row, not a header to drop silently.
    SCOPED_TRACE("typo in the first row");
    expect_error("1,2x\n3,4\n", {":1:", "column 2", "not a number"});
  }
  {
    SCOPED_TRACE("overflow in the first row");
    expect_error("1e999,2\n3,4\n", {":1:", "column 1", "out of float32 range"});
  }
}

// Values that underflow double (strtod reports ERANGE) are numbers: they read as 0 or a denormal.
TEST_F(Csv, UnderflowIsAccepted) {
  const Dataset a = read_csv_matrix(write("u.csv", "1e-320,2\n-1e-400,3\n"));
  ASSERT_EQ(a.n, 2);
  EXPECT_EQ(a.x[0], 0.0f);  // 1e-320 is below float's smallest denormal (1.4e-45)
  EXPECT_EQ(a.x[2], -0.0f);
}

// Every float is accepted, including the largest (FLT_MAX = 3.4028235e38) and denormals.
TEST_F(Csv, ExtremeFloatsAreAccepted) {
  const Dataset a = read_csv_matrix(write("x.csv", "3.40282347e38,-3.40282347e38,1e-40,-0\n"));
  ASSERT_EQ(a.n, 1);
  EXPECT_EQ(a.x[0], FLT_MAX);
  EXPECT_EQ(a.x[1], -FLT_MAX);
  EXPECT_EQ(a.x[2], 1e-40f);
  EXPECT_TRUE(std::signbit(a.x[3]));
}

// ---- scaling ----------------------------------------------------------------------------------

Dataset random_dataset(int n, int d, std::mt19937_64& rng) {
  Dataset ds;
  ds.n = n;
  ds.d = d;
  ds.x.resize(static_cast<size_t>(n) * d);
  for (int j = 0; j < d; ++j) {
    // Each column its own offset and spread, so a mixed-up column index shows.
    const double off = std::uniform_real_distribution<double>(-100, 100)(rng);
    const double spread = std::pow(10.0, std::uniform_real_distribution<double>(-2, 2)(rng));
    std::normal_distribution<double> nd(off, spread);
    for (int i = 0; i < n; ++i) ds.x[static_cast<size_t>(i) * d + j] = static_cast<float>(nd(rng));
  }
  return ds;
}

// x -> (x - shift) / scale -> back rounds to float twice; each rounding errs by 1/2 ulp of the
// intermediate, so the round trip is within ~2 ulps of max(|x|, |shift|): rtol 4 FLT_EPSILON of
// that magnitude.
void expect_round_trip(const Scaler& s, const Dataset& ds) {
  std::vector<float> y = ds.x;
  s.transform(y, ds.d);
  s.inverse(y, ds.d);
  for (size_t i = 0; i < y.size(); ++i) {
    const int j = static_cast<int>(i % ds.d);
    const double mag = std::max<double>(std::fabs(ds.x[i]), std::fabs(s.shift[j]) + s.scale[j]);
    ASSERT_NEAR(y[i], ds.x[i], 4 * FLT_EPSILON * mag) << "element " << i;
  }
}

TEST(Scaler, StandardFitTransformInverse) {
  LK_SEEDED_RNG(rng);
  for (auto [n, d] : {std::pair{2, 1}, std::pair{31, 3}, std::pair{1021, 33}}) {
    SCOPED_TRACE("n=" + std::to_string(n) + " d=" + std::to_string(d));
    const Dataset ds = random_dataset(n, d, rng);
    const Scaler s = Scaler::fit(ds, ScaleKind::Standard);
    ASSERT_EQ(s.kind, ScaleKind::Standard);
    ASSERT_EQ(s.shift.size(), static_cast<size_t>(d));
    std::vector<float> y = ds.x;
    s.transform(y, d);
    for (int j = 0; j < d; ++j) {
      double m = 0, q = 0;
      for (int i = 0; i < n; ++i) m += y[static_cast<size_t>(i) * d + j];
      m /= n;
      for (int i = 0; i < n; ++i) q += std::pow(y[static_cast<size_t>(i) * d + j] - m, 2);
      // Population statistics (divide by n) of the scaled column: mean 0, sd 1, up to the float
      // rounding of each scaled value (computed in double from the very floats the fit saw, then
      // rounded once: 1/2 ulp of |y| <= ~6, i.e. <= 4e-7): 1e-5 absolute is ~25x that.
      EXPECT_NEAR(m, 0.0, 1e-5) << "column " << j;
      EXPECT_NEAR(std::sqrt(q / n), 1.0, 1e-5) << "column " << j;
    }
    expect_round_trip(s, ds);
  }
}

TEST(Scaler, MinMaxFitTransformInverse) {
  LK_SEEDED_RNG(rng);
  for (auto [n, d] : {std::pair{2, 1}, std::pair{31, 3}, std::pair{1021, 33}}) {
    SCOPED_TRACE("n=" + std::to_string(n) + " d=" + std::to_string(d));
    const Dataset ds = random_dataset(n, d, rng);
    const Scaler s = Scaler::fit(ds, ScaleKind::MinMax);
    std::vector<float> y = ds.x;
    s.transform(y, d);
    for (int j = 0; j < d; ++j) {
      float lo = INFINITY, hi = -INFINITY;
      for (int i = 0; i < n; ++i) {
        lo = std::min(lo, y[static_cast<size_t>(i) * d + j]);
        hi = std::max(hi, y[static_cast<size_t>(i) * d + j]);
      }
      // The minimum maps to (lo - lo) / range = 0 exactly, the maximum to range / range = 1
      // exactly; everything else inside.
      EXPECT_EQ(lo, 0.0f) << "column " << j;
      EXPECT_EQ(hi, 1.0f) << "column " << j;
    }
    expect_round_trip(s, ds);
  }
}

TEST(Scaler, NoneIsIdentityAndConstantColumns) {
  LK_SEEDED_RNG(rng);
  Dataset ds = random_dataset(31, 3, rng);
  for (int i = 0; i < ds.n; ++i) ds.x[static_cast<size_t>(i) * ds.d + 1] = 4.25f;  // constant
  EXPECT_THROW(Scaler::fit(ds, ScaleKind::Standard), InputError);
  EXPECT_THROW(Scaler::fit(ds, ScaleKind::MinMax), InputError);
  const Scaler none = Scaler::fit(ds, ScaleKind::None);
  std::vector<float> y = ds.x;
  none.transform(y, ds.d);
  EXPECT_EQ(y, ds.x);
  none.inverse(y, ds.d);
  EXPECT_EQ(y, ds.x);
  // A single row has zero variance in every column.
  Dataset one = random_dataset(1, 2, rng);
  EXPECT_THROW(Scaler::fit(one, ScaleKind::Standard), InputError);
  EXPECT_THROW(Scaler::fit(one, ScaleKind::MinMax), InputError);
  EXPECT_NO_THROW(Scaler::fit(one, ScaleKind::None));
}

TEST(Scaler, KindNames) {
  for (ScaleKind k : {ScaleKind::None, ScaleKind::Standard, ScaleKind::MinMax})
    EXPECT_EQ(parse_enum<ScaleKind>(enum_name(k)), k);
  EXPECT_THROW(parse_enum<ScaleKind>("Standard"), InputError);
  EXPECT_THROW(parse_enum<ScaleKind>(""), InputError);
}

// Issue 17: a byte-order mark, binary data, a blank line in a one-column file, a row limit and a
// directory.
TEST_F(Csv, BomBinaryBlankLinesLimitAndDirectories) {
  const Dataset bom = read_csv_matrix(write("bom.csv",
                                            "\xEF\xBB\xBF"
                                            "1.5,2\n3,4\n"));
  EXPECT_EQ(bom.x, (std::vector<float>{1.5f, 2, 3, 4}));
  const Dataset bom_header = read_csv_matrix(write("bomh.csv",
                                                   "\xEF\xBB\xBF"
                                                   "a,b\n3,4\n"));
  EXPECT_EQ(bom_header.n, 1);
  expect_error(std::string("1,2\n3,\0"
                           "4\n",
                           9),
               {":2:", "binary data", "not a CSV"});
  expect_error("\x89PNG\r\n\x1a\n", {":2:", "binary data"});
  expect_error("label\n1\n \n2\n", {":3:", "blank line", "one-column"});
  EXPECT_EQ(read_csv_matrix(write("trail.csv", "1\n2\n\n  \n")).n, 2) << "trailing blank lines";
  EXPECT_EQ(read_csv_matrix(write("two.csv", "1,2\n\n3,4\n")).n, 2) << "two columns: skipped";
  const std::string rows = write("rows.csv", "a\n1\n2\n3\nbroken,row\n");
  EXPECT_EQ(read_csv_matrix(rows, 2).n, 2);
  EXPECT_EQ(read_csv_matrix(rows, 3).x, (std::vector<float>{1, 2, 3}));
  EXPECT_THROW(read_csv_matrix(rows), InputError);
  try {
    read_csv_matrix(dir_.string());
    ADD_FAILURE() << "no error for a directory";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("is a directory"), std::string::npos) << e.what();
  }
  try {
    read_csv_matrix(write("text.csv", "1,2\n3,\x01\x02\x03zz\n"));
    ADD_FAILURE() << "no error for control bytes";
  } catch (const InputError& e) {
    for (const char c : std::string(e.what()))
      EXPECT_TRUE(c >= 0x20 && c < 0x7f) << "raw byte in: " << e.what();
  }
}

}  // namespace
}  // namespace latentkit
