// Tests of the dense reference (latentkit::ref::dense_forward / dense_backward,
// host/ref/dense.cpp):
//  - float64 central finite differences of loss = sum(Y * R) (so dY = R) against dX, dW, db for
//    every activation and shapes with odd tails (1, 31, 33, a 128-long reduction);
//  - the optional arguments (b == nullptr, dX == nullptr, db == nullptr) and accumulate_dx;
//  - the float instantiation against the double one on identical (float-representable) inputs;
//  - bad shapes throw latentkit::Error.
#include <algorithm>
#include <cctype>
#include <cfloat>
#include <cmath>
#include <limits>
#include <ostream>
#include <string>
#include <tuple>
#include <vector>

#include "latentkit/core/check.h"
#include "latentkit/ref/ops_ref.h"
#include "test_util.h"

namespace latentkit {
namespace {

using test::all_close;
using test::Tolerance;

struct ActCase {
  Activation act;
  double slope;
  const char* name;
};

struct Shape {
  int n, in, out;
};

const ActCase kActs[] = {
    {Activation::Identity, 0.0, "identity"},
    {Activation::ReLU, 0.0, "relu"},
    {Activation::LeakyReLU, 0.01, "leaky0.01"},
    {Activation::LeakyReLU, 0.2, "leaky0.2"},
    {Activation::Tanh, 0.0, "tanh"},
    {Activation::Sigmoid, 0.0, "sigmoid"},
};

// 1x1x1 (everything a tail), small odd, 31/33 around a warp, skinny outputs, a long reduction.
const Shape kShapes[] = {{1, 1, 1}, {1, 3, 5}, {31, 33, 7}, {33, 31, 2}, {5, 128, 3}};

// Readable parameter names in gtest's failure lines.
void PrintTo(const ActCase& a, std::ostream* os) { *os << a.name; }
void PrintTo(const Shape& s, std::ostream* os) {
  *os << "n=" << s.n << " in=" << s.in << " out=" << s.out;
}

bool has_kink(Activation act) { return act == Activation::ReLU || act == Activation::LeakyReLU; }

// Pre-activations Z = X W^T + b computed here independently (double).
std::vector<double> pre_activation(const std::vector<double>& X, const std::vector<double>& W,
                                   const std::vector<double>& b, const Shape& s) {
  std::vector<double> Z(static_cast<size_t>(s.n) * s.out);
  for (int r = 0; r < s.n; ++r)
    for (int j = 0; j < s.out; ++j) {
      double acc = b.empty() ? 0.0 : b[j];
      for (int k = 0; k < s.in; ++k) acc += X[r * s.in + k] * W[j * s.in + k];
      Z[r * s.out + j] = acc;
    }
  return Z;
}

// Random X, W, b in [-1, 1]. For ReLU / leaky ReLU the draw is repeated until every |z| > 1e-3:
// the FD step below is 1e-6 and |dz/dparam| <= 1, so no central difference straddles the kink.
struct DenseInputs {
  std::vector<double> X, W, b, R;
};

DenseInputs draw_inputs(const Shape& s, Activation act, std::mt19937_64& rng) {
  DenseInputs in;
  for (int attempt = 0; attempt < 1000; ++attempt) {
    in.X = test::random_uniform<double>(static_cast<size_t>(s.n) * s.in, rng, -1, 1);
    in.W = test::random_uniform<double>(static_cast<size_t>(s.out) * s.in, rng, -1, 1);
    in.b = test::random_uniform<double>(static_cast<size_t>(s.out), rng, -1, 1);
    if (!has_kink(act)) break;
    bool ok = true;
    for (double z : pre_activation(in.X, in.W, in.b, s)) ok = ok && std::fabs(z) > 1e-3;
    if (ok) break;
  }
  in.R = test::random_uniform<double>(static_cast<size_t>(s.n) * s.out, rng, -1, 1);
  return in;
}

double loss(const DenseInputs& in, const Shape& s, const ActCase& a) {
  std::vector<double> Y(static_cast<size_t>(s.n) * s.out);
  ref::dense_forward<double>(in.X.data(), in.W.data(), in.b.data(), Y.data(), s.n, s.in, s.out,
                             a.act, a.slope);
  double L = 0.0;
  for (size_t i = 0; i < Y.size(); ++i) L += Y[i] * in.R[i];
  return L;
}

// Central differences of loss() with respect to every element of `param` (a member of `in`).
std::vector<double> fd_grad(DenseInputs& in, std::vector<double>& param, const Shape& s,
                            const ActCase& a) {
  // h = 1e-6 (inputs are O(1)): truncation error ~ h^2 |L'''| ~ 1e-12, rounding error
  // ~ eps_64 |L| / h ~ 1e-16 * 1e2 / 1e-6 = 1e-8 at worst; both far below the tolerance.
  const double h = 1e-6;
  std::vector<double> g(param.size());
  for (size_t i = 0; i < param.size(); ++i) {
    const double keep = param[i];
    param[i] = keep + h;
    const double lp = loss(in, s, a);
    param[i] = keep - h;
    const double lm = loss(in, s, a);
    param[i] = keep;
    g[i] = (lp - lm) / (2 * h);
  }
  return g;
}

// FD in float64: gradients are O(1); the FD error is <= ~1e-8 absolute (see fd_grad), so
// atol 1e-7 and rtol 1e-6 leave a 10x margin while any wrong term (a missing act', a transposed
// index, a dropped row) is off by O(1).
constexpr Tolerance kFdTol{1e-7, 1e-6, 1e-6};

class DenseFd : public ::testing::TestWithParam<std::tuple<ActCase, Shape>> {};

TEST_P(DenseFd, GradientsMatchCentralDifferences) {
  const ActCase a = std::get<0>(GetParam());
  const Shape s = std::get<1>(GetParam());
  LK_SEEDED_RNG(rng);
  DenseInputs in = draw_inputs(s, a.act, rng);

  std::vector<double> Y(static_cast<size_t>(s.n) * s.out);
  ref::dense_forward<double>(in.X.data(), in.W.data(), in.b.data(), Y.data(), s.n, s.in, s.out,
                             a.act, a.slope);
  // Outputs are poisoned with NaN: every element must be overwritten.
  const double nan = std::numeric_limits<double>::quiet_NaN();
  std::vector<double> dX(in.X.size(), nan), dW(in.W.size(), nan), db(in.b.size(), nan);
  ref::dense_backward<double>(in.X.data(), in.W.data(), Y.data(), in.R.data(), dX.data(), dW.data(),
                              db.data(), s.n, s.in, s.out, a.act, a.slope,
                              /*accumulate_dx=*/false);

  EXPECT_TRUE(all_close(dX, fd_grad(in, in.X, s, a), kFdTol)) << "dX";
  EXPECT_TRUE(all_close(dW, fd_grad(in, in.W, s, a), kFdTol)) << "dW";
  EXPECT_TRUE(all_close(db, fd_grad(in, in.b, s, a), kFdTol)) << "db";
}

// The forward pass itself against an independent formula (act applied to X W^T + b).
TEST_P(DenseFd, ForwardMatchesFormula) {
  const ActCase a = std::get<0>(GetParam());
  const Shape s = std::get<1>(GetParam());
  LK_SEEDED_RNG(rng);
  const DenseInputs in = draw_inputs(s, a.act, rng);
  const std::vector<double> Z = pre_activation(in.X, in.W, in.b, s);
  std::vector<double> expect(Z.size());
  for (size_t i = 0; i < Z.size(); ++i) {
    const double z = Z[i];
    switch (a.act) {
      case Activation::Identity:
        expect[i] = z;
        break;
      case Activation::ReLU:
        expect[i] = std::max(z, 0.0);
        break;
      case Activation::LeakyReLU:
        expect[i] = z >= 0 ? z : a.slope * z;
        break;
      case Activation::Tanh:
        expect[i] = std::tanh(z);
        break;
      case Activation::Sigmoid:
        expect[i] = 0.5 * (1.0 + std::tanh(0.5 * z));
        break;
    }
  }
  std::vector<double> Y(Z.size(), std::numeric_limits<double>::quiet_NaN());
  ref::dense_forward<double>(in.X.data(), in.W.data(), in.b.data(), Y.data(), s.n, s.in, s.out,
                             a.act, a.slope);
  // Both sides are float64 sums of <= 128 O(1) products in possibly different orders:
  // |diff| <= in * 2^-53 * sum|x w| ~ 128 * 1.1e-16 * 128 ~ 2e-12 (atol); sigmoid's two formulas
  // differ by a few ulps (rtol 1e-14).
  EXPECT_TRUE(all_close(Y, expect, Tolerance{1e-12, 1e-14, 1e-13}));
}

std::string dense_case_name(const ::testing::TestParamInfo<DenseFd::ParamType>& info) {
  const Shape s = std::get<1>(info.param);
  return std::string(std::get<0>(info.param).name) + "_" + std::to_string(s.n) + "x" +
         std::to_string(s.in) + "x" + std::to_string(s.out);
}

std::string sanitize(std::string name) {
  for (char& c : name)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return name;
}

INSTANTIATE_TEST_SUITE_P(AllActivations, DenseFd,
                         ::testing::Combine(::testing::ValuesIn(kActs),
                                            ::testing::ValuesIn(kShapes)),
                         [](const auto& info) { return sanitize(dense_case_name(info)); });

// accumulate_dx adds to what dX held; dX == nullptr / db == nullptr are skipped and leave the rest
// unchanged; b == nullptr means no bias.
TEST(DenseRef, OptionalArgumentsAndAccumulation) {
  LK_SEEDED_RNG(rng);
  for (const Shape& s : kShapes) {
    for (const ActCase& a : kActs) {
      SCOPED_TRACE(std::string(a.name) + " n=" + std::to_string(s.n) +
                   " in=" + std::to_string(s.in) + " out=" + std::to_string(s.out));
      const DenseInputs in = draw_inputs(s, a.act, rng);
      std::vector<double> Y(static_cast<size_t>(s.n) * s.out);
      ref::dense_forward<double>(in.X.data(), in.W.data(), in.b.data(), Y.data(), s.n, s.in, s.out,
                                 a.act, a.slope);
      std::vector<double> dX(in.X.size()), dW(in.W.size()), db(in.b.size());
      ref::dense_backward<double>(in.X.data(), in.W.data(), Y.data(), in.R.data(), dX.data(),
                                  dW.data(), db.data(), s.n, s.in, s.out, a.act, a.slope, false);

      // accumulate_dx: dX = D0 + fresh dX. Only the order of float64 additions differs
      // (D0 first, then the products): |diff| <= (out+1) * 2^-53 * (|D0| + sum|terms|) ~ 1e-14.
      const std::vector<double> D0 = test::random_uniform<double>(in.X.size(), rng, -3, 3);
      std::vector<double> dXacc = D0, expect(in.X.size());
      for (size_t i = 0; i < expect.size(); ++i) expect[i] = D0[i] + dX[i];
      std::vector<double> dW2(in.W.size()), db2(in.b.size());
      ref::dense_backward<double>(in.X.data(), in.W.data(), Y.data(), in.R.data(), dXacc.data(),
                                  dW2.data(), db2.data(), s.n, s.in, s.out, a.act, a.slope, true);
      EXPECT_TRUE(all_close(dXacc, expect, Tolerance{1e-13, 1e-13, 1e-13})) << "accumulate_dx";
      EXPECT_EQ(dW2, dW) << "dW must not depend on accumulate_dx";
      EXPECT_EQ(db2, db);

      // dX == nullptr and db == nullptr: dW is the same, nothing else is written.
      std::vector<double> dW3(in.W.size(), std::numeric_limits<double>::quiet_NaN());
      ref::dense_backward<double>(in.X.data(), in.W.data(), Y.data(), in.R.data(), nullptr,
                                  dW3.data(), nullptr, s.n, s.in, s.out, a.act, a.slope, false);
      EXPECT_EQ(dW3, dW) << "dX == nullptr, db == nullptr";
      ref::dense_backward<double>(in.X.data(), in.W.data(), Y.data(), in.R.data(), nullptr,
                                  dW3.data(), nullptr, s.n, s.in, s.out, a.act, a.slope, true);
      EXPECT_EQ(dW3, dW) << "dX == nullptr with accumulate_dx";

      // b == nullptr is the same as a zero bias (bitwise: adding +0.0 changes no sum).
      const std::vector<double> zeros(in.b.size(), 0.0);
      std::vector<double> Yn(Y.size(), 1.0), Yz(Y.size(), 2.0);
      ref::dense_forward<double>(in.X.data(), in.W.data(), nullptr, Yn.data(), s.n, s.in, s.out,
                                 a.act, a.slope);
      ref::dense_forward<double>(in.X.data(), in.W.data(), zeros.data(), Yz.data(), s.n, s.in,
                                 s.out, a.act, a.slope);
      EXPECT_EQ(Yn, Yz) << "b == nullptr";
    }
  }
}

// float storage with float64 accumulation against the double instantiation fed the very same
// (float-representable) inputs: the two do the same float64 arithmetic and differ only in the final
// rounding to float (<= 1/2 ulp, relative 2^-24) plus a possibly different summation order in
// double (<= K * 2^-53 * sum|terms| ~ 1e-13 absolute for K <= 128). Hence rtol = FLT_EPSILON
// (one float ulp) and atol 1e-12.
TEST(DenseRef, FloatMatchesDoubleOnSameInputs) {
  LK_SEEDED_RNG(rng);
  constexpr Tolerance kUlp{1e-12, FLT_EPSILON, FLT_EPSILON};
  const Shape shapes[] = {{1, 1, 1},   {1, 3, 5},   {31, 33, 7},
                          {33, 31, 2}, {5, 128, 3}, {64, 17, 33}};
  for (const Shape& s : shapes) {
    for (const ActCase& a : kActs) {
      SCOPED_TRACE(std::string(a.name) + " n=" + std::to_string(s.n) +
                   " in=" + std::to_string(s.in) + " out=" + std::to_string(s.out));
      const auto Xf = test::random_uniform<float>(static_cast<size_t>(s.n) * s.in, rng, -1, 1);
      const auto Wf = test::random_uniform<float>(static_cast<size_t>(s.out) * s.in, rng, -1, 1);
      const auto bf = test::random_uniform<float>(static_cast<size_t>(s.out), rng, -1, 1);
      const auto dYf = test::random_uniform<float>(static_cast<size_t>(s.n) * s.out, rng, -1, 1);
      const auto D0f = test::random_uniform<float>(Xf.size(), rng, -1, 1);
      const float slope_f = static_cast<float>(a.slope);
      const double slope_d = slope_f;  // the same slope value in both
      auto to_d = [](const std::vector<float>& v) {
        return std::vector<double>(v.begin(), v.end());
      };

      std::vector<float> Yf(dYf.size(), test::kPoison);
      ref::dense_forward<float>(Xf.data(), Wf.data(), bf.data(), Yf.data(), s.n, s.in, s.out, a.act,
                                slope_f);
      std::vector<double> Yd(dYf.size());
      const auto Xd = to_d(Xf), Wd = to_d(Wf), bd = to_d(bf), dYd = to_d(dYf);
      ref::dense_forward<double>(Xd.data(), Wd.data(), bd.data(), Yd.data(), s.n, s.in, s.out,
                                 a.act, slope_d);
      EXPECT_TRUE(all_close(Yf, Yd, kUlp)) << "forward";

      // Backward from the float forward's output (the same Y in both), accumulating into D0.
      const auto Yfd = to_d(Yf);
      std::vector<float> dXf = D0f, dWf(Wf.size(), test::kPoison), dbf(bf.size(), test::kPoison);
      ref::dense_backward<float>(Xf.data(), Wf.data(), Yf.data(), dYf.data(), dXf.data(),
                                 dWf.data(), dbf.data(), s.n, s.in, s.out, a.act, slope_f, true);
      std::vector<double> dXd = to_d(D0f), dWd(Wf.size()), dbd(bf.size());
      ref::dense_backward<double>(Xd.data(), Wd.data(), Yfd.data(), dYd.data(), dXd.data(),
                                  dWd.data(), dbd.data(), s.n, s.in, s.out, a.act, slope_d, true);
      EXPECT_TRUE(all_close(dXf, dXd, kUlp)) << "dX";
      EXPECT_TRUE(all_close(dWf, dWd, kUlp)) << "dW";
      EXPECT_TRUE(all_close(dbf, dbd, kUlp)) << "db";
    }
  }
}

TEST(DenseRef, BadShapesThrow) {
  std::vector<double> buf(64, 0.5);
  double* p = buf.data();
  const int bad[][3] = {{0, 3, 2}, {2, 0, 2}, {2, 3, 0}, {-1, 3, 2}, {2, -3, 2}, {2, 3, -1}};
  for (const auto& s : bad) {
    SCOPED_TRACE("n=" + std::to_string(s[0]) + " in=" + std::to_string(s[1]) +
                 " out=" + std::to_string(s[2]));
    EXPECT_THROW(ref::dense_forward<double>(p, p, p, p, s[0], s[1], s[2], Activation::Tanh, 0.0),
                 Error);
    EXPECT_THROW(ref::dense_backward<double>(p, p, p, p, p, p, p, s[0], s[1], s[2],
                                             Activation::Tanh, 0.0, false),
                 Error);
  }
  std::vector<float> fbuf(64, 0.5f);
  float* f = fbuf.data();
  EXPECT_THROW(ref::dense_forward<float>(f, f, f, f, 0, 3, 2, Activation::ReLU, 0.0f), Error);
}

// NaN in the input propagates to the output through every activation, ReLU included (as
// torch.relu), so it fails any all_close check downstream rather than being silently replaced.
TEST(DenseRef, NanInputIsNotHidden) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (const ActCase& a : kActs) {
    SCOPED_TRACE(a.name);
    const std::vector<double> X = {1.0, nan}, W = {0.5, 0.25}, b = {0.1};
    std::vector<double> Y(1, 0.0);
    ref::dense_forward<double>(X.data(), W.data(), b.data(), Y.data(), 1, 2, 1, a.act, a.slope);
    const double ref_val = 0.0;
    EXPECT_FALSE(all_close(Y.data(), &ref_val, 1, Tolerance{1e300, 0, 1e300}))
        << "a NaN output must fail the comparison (got " << Y[0] << ")";
  }
}

}  // namespace
}  // namespace latentkit
