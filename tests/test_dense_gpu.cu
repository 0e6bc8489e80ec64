// GPU tests of the dense kernels (kernels/dense.cu) against the float64 CPU reference
// (latentkit::ref::dense_forward / dense_backward): every activation, rows 1 ... 65536, widths
// 1 ... 256 (tails of the 32-wide tiles: 1, 3, 31, 33), bias or none, dX wanted or not, dX
// overwritten or accumulated, the custom tiled kernel and the cuBLAS path (with and without the dZ
// scratch). Outputs are poisoned with NaN before each launch so unwritten elements fail. Plus:
// bitwise run-to-run determinism of dW/db/dX, and argument validation.
// Skips itself (with the reason) where no CUDA device is usable.
#include <gtest/gtest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "kernels/cuda_resources.cuh"
#include "kernels/dense.cuh"
#include "latentkit/ref/ops_ref.h"
#include "gpu_test_util.cuh"
#include "test_util.h"

namespace {

using latentkit::Activation;
using latentkit::cuda::CublasHandle;
using latentkit::cuda::DeviceBuffer;
using latentkit::cuda::Stream;
using latentkit::test::all_close;
using latentkit::test::ElementTolerance;
using latentkit::test::from_device;
using latentkit::test::kPoison;
using latentkit::test::poisoned;
using latentkit::test::random_uniform;
using latentkit::test::to_device;

// ---- helpers ------------------------------------------------------------------------------------

// Leaky slope used throughout: not PyTorch's 0.01 default, so a kernel that ignores `slope` fails.
constexpr float kSlope = 0.2f;

// Tolerance for outputs that are K-term float sums (the tiled kernel's fmaf chain, cuBLAS, the
// column-sum tree) checked against the float64 reference, from each output's own terms t_k:
// S = sqrt(sum_k t_k^2) (term_scales below). Each of the <= K roundings of the sum commits at most
// eps/2 of the partial sum it rounds; the terms have independent random signs, so a partial sum's
// mean square is at most S^2 whatever the order of summation, and the roundings add as a random
// walk: standard deviation <= eps/2 * sqrt(K) * S. atol = 8 sqrt(K) eps S is 16 of those (room for
// the largest of ~10^7 elements and any order cuBLAS picks); it also covers the per-term roundings
// of dZ = dY * act'(Y) (a few eps/2 of |t_k|, adding up to a few eps/2 * S). The bound follows the
// terms, not the result: a sum that cancels to ~0 keeps the error of its terms (a 256-term output
// of n = 1 once failed at 2.37x a bound scaled by |result|). rtol 8 eps covers the roundings
// outside the sum, relative to the output: the reference's and the device's final rounding,
// tanhf / expf (<= 2 ulps), the bias add and the accumulate into dX; act' <= 1 keeps the sum's
// error from growing through the activation.
ElementTolerance sum_tolerance(int K, const std::vector<double>& term_scale) {
  const double c = 8.0 * std::sqrt(static_cast<double>(K)) * FLT_EPSILON;
  std::vector<double> atol(term_scale.size());
  for (size_t i = 0; i < atol.size(); ++i) atol[i] = c * term_scale[i];
  return ElementTolerance{std::move(atol), 8 * FLT_EPSILON, 8 * FLT_EPSILON};
}

// act'(y) from the output y, in float64: the scale of dZ = dY * act'(Y) for the tolerances (the
// reference computes its own).
double act_slope(double y, Activation act, double slope) {
  switch (act) {
    case Activation::Identity:
      return 1.0;
    case Activation::ReLU:
      return y > 0 ? 1.0 : 0.0;
    case Activation::LeakyReLU:
      return y > 0 ? 1.0 : slope;
    case Activation::Tanh:
      return 1.0 - y * y;
    case Activation::Sigmoid:
      return y * (1.0 - y);
  }
  return 1.0;
}

// S = sqrt(sum of the squared terms) of every output, float64:
//   Y[m, j]  = act(sum_k X[m, k] W[j, k] + b[j])   (the bias is one more term),
//   dX[m, k] = sum_j dZ[m, j] W[j, k] (+ dX0[m, k] when accumulating),
//   dW[j, k] = sum_m dZ[m, j] X[m, k],   db[j] = sum_m dZ[m, j].
struct TermScales {
  std::vector<double> y, dx, dw, db;
};

TermScales term_scales(int n, int in, int out, Activation act, const std::vector<float>& X,
                       const std::vector<float>& W, const std::vector<float>& b,
                       const std::vector<float>& Y, const std::vector<float>& dY,
                       const std::vector<float>& dX0) {
  const auto sq = [](double v) { return v * v; };
  TermScales s;
  s.y.assign(static_cast<size_t>(n) * out, 0.0);
  s.dx.assign(static_cast<size_t>(n) * in, 0.0);
  s.dw.assign(static_cast<size_t>(out) * in, 0.0);
  s.db.assign(out, 0.0);
  for (int m = 0; m < n; ++m) {
    const float* x = X.data() + static_cast<size_t>(m) * in;
    double* dx = s.dx.data() + static_cast<size_t>(m) * in;
    for (int k = 0; k < in; ++k) dx[k] = sq(dX0[static_cast<size_t>(m) * in + k]);
    for (int j = 0; j < out; ++j) {
      const float* w = W.data() + static_cast<size_t>(j) * in;
      const size_t e = static_cast<size_t>(m) * out + j;
      double y2 = b.empty() ? 0.0 : sq(b[j]);
      for (int k = 0; k < in; ++k) y2 += sq(static_cast<double>(x[k]) * w[k]);
      s.y[e] = y2;
      const double dz2 = sq(dY[e] * act_slope(Y[e], act, kSlope));
      s.db[j] += dz2;
      double* dw = s.dw.data() + static_cast<size_t>(j) * in;
      for (int k = 0; k < in; ++k) {
        dx[k] += dz2 * sq(w[k]);
        dw[k] += dz2 * sq(x[k]);
      }
    }
  }
  for (auto* v : {&s.y, &s.dx, &s.dw, &s.db})
    for (double& e : *v) e = std::sqrt(e);
  return s;
}

const char* act_name(Activation a) {
  switch (a) {
    case Activation::Identity: return "identity";
    case Activation::ReLU: return "relu";
    case Activation::LeakyReLU: return "leaky";
    case Activation::Tanh: return "tanh";
    case Activation::Sigmoid: return "sigmoid";
  }
  return "unknown";
}

constexpr Activation kAllActivations[] = {Activation::Identity, Activation::ReLU,
                                          Activation::LeakyReLU, Activation::Tanh,
                                          Activation::Sigmoid};

// Which implementation the launcher is given the means to use.
enum class Path {
  Custom,            // no cuBLAS handle: the tiled kernel at every size
  Cublas,            // handle + dz scratch: cuBLAS when n*in*out >= kDenseCublasMinMacs
  CublasNoScratch,   // handle but no scratch: cuBLAS forward, tiled backward
};

struct DenseCase {
  int n, in, out;
  Activation act;
  bool bias;           // b and db given (else both nullptr)
  bool with_dx;        // dX wanted (else nullptr)
  bool accumulate_dx;  // dX += dZ W instead of dX = dZ W
  Path path;
};

std::string case_name(const testing::TestParamInfo<DenseCase>& info) {
  const DenseCase& c = info.param;
  const char* path = c.path == Path::Custom ? "custom" : c.path == Path::Cublas ? "cublas" : "cublasnoscratch";
  return "n" + std::to_string(c.n) + "_in" + std::to_string(c.in) + "_out" + std::to_string(c.out) +
         "_" + act_name(c.act) + (c.bias ? "_bias" : "_nobias") +
         (c.with_dx ? (c.accumulate_dx ? "_dxacc" : "_dx") : "_nodx") + "_" + path;
}

std::vector<DenseCase> dense_cases() {
  std::vector<DenseCase> cases;
  // Custom kernel: every row count x width pair x activation. The widths hit 1, 3, 31, 33, 128,
  // 256 on both sides (tile tails below and above 32, skinny and wide). The on/off switches cycle
  // with periods coprime to the 5 activations so each activation meets every combination.
  const int rows[] = {1, 31, 33, 1021};
  const int widths[][2] = {{1, 1},   {3, 31},    {31, 33}, {33, 3},
                           {1, 128}, {256, 1},   {128, 256}, {256, 128}};
  int k = 0;
  for (int n : rows) {
    for (const auto& w : widths) {
      for (Activation act : kAllActivations) {
        cases.push_back({n, w[0], w[1], act, k % 3 != 1, k % 7 != 3, (k % 4) >= 2, Path::Custom});
        ++k;
      }
    }
  }
  // 65536 rows (a long K for dW and db).
  for (Activation act : kAllActivations) {
    cases.push_back({65536, 1, 1, act, true, true, act == Activation::Tanh, Path::Custom});
    cases.push_back({65536, 3, 31, act, act != Activation::ReLU, true, false, Path::Custom});
  }
  cases.push_back({65536, 33, 128, Activation::Tanh, true, true, true, Path::Custom});
  // cuBLAS path (1021 * 128 * 256 = 3.3e7 and 65536 * 33 * 128 = 2.8e8 multiply-adds, both above
  // kDenseCublasMinMacs = 2^24).
  for (Activation act : kAllActivations) {
    cases.push_back({1021, 128, 256, act, true, true, act == Activation::ReLU, Path::Cublas});
  }
  cases.push_back({1021, 256, 128, Activation::LeakyReLU, false, true, true, Path::Cublas});
  cases.push_back({1021, 256, 128, Activation::Sigmoid, true, false, false, Path::Cublas});
  cases.push_back({65536, 33, 128, Activation::Sigmoid, true, true, false, Path::Cublas});
  cases.push_back({65536, 33, 128, Activation::ReLU, true, true, true, Path::CublasNoScratch});
  // cuBLAS forward with identity and no bias: nothing after the GEMM (no epilogue kernel runs).
  // 513 * 128 * 256 = 1.68e7 multiply-adds, just above kDenseCublasMinMacs; no dX, to keep it
  // cheap.
  static_assert(513LL * 128 * 256 >= latentkit::cuda::kDenseCublasMinMacs, "must take cuBLAS");
  cases.push_back({513, 128, 256, Activation::Identity, false, false, false, Path::Cublas});
  // A handle below the size threshold: the launcher must still pick the tiled kernel correctly.
  cases.push_back({33, 128, 256, Activation::Tanh, true, true, true, Path::Cublas});
  return cases;
}

class DenseGpu : public testing::TestWithParam<DenseCase> {};

TEST_P(DenseGpu, ForwardAndBackwardMatchReference) {
  LK_REQUIRE_GPU();
  const DenseCase c = GetParam();
  LK_SEEDED_RNG(rng);
  const size_t nx = static_cast<size_t>(c.n) * c.in;
  const size_t nw = static_cast<size_t>(c.out) * c.in;
  const size_t ny = static_cast<size_t>(c.n) * c.out;
  // torch.nn.Linear's init range for W and b, so pre-activations are O(1) (activations neither
  // saturated nor linear).
  const double wscale = 1.0 / std::sqrt(static_cast<double>(c.in));
  const std::vector<float> X = random_uniform(nx, rng, -1.0, 1.0);
  const std::vector<float> W = random_uniform(nw, rng, -wscale, wscale);
  const std::vector<float> b = c.bias ? random_uniform(c.out, rng, -wscale, wscale)
                                      : std::vector<float>{};
  const std::vector<float> dY = random_uniform(ny, rng, -1.0, 1.0);
  const std::vector<float> dX0 = c.accumulate_dx ? random_uniform(nx, rng, -1.0, 1.0)
                                                 : std::vector<float>(nx, 0.f);

  // Reference.
  std::vector<float> Y_ref(ny);
  latentkit::ref::dense_forward<float>(X.data(), W.data(), c.bias ? b.data() : nullptr,
                                       Y_ref.data(), c.n, c.in, c.out, c.act, kSlope);
  std::vector<float> dX_ref = dX0, dW_ref(nw), db_ref(c.out);
  latentkit::ref::dense_backward<float>(X.data(), W.data(), Y_ref.data(), dY.data(),
                                        c.with_dx ? dX_ref.data() : nullptr, dW_ref.data(),
                                        c.bias ? db_ref.data() : nullptr, c.n, c.in, c.out, c.act,
                                        kSlope, c.accumulate_dx);
  const TermScales scale = term_scales(c.n, c.in, c.out, c.act, X, W, b, Y_ref, dY, dX0);

  // Device.
  Stream stream;
  std::unique_ptr<CublasHandle> handle;
  if (c.path != Path::Custom) handle = std::make_unique<CublasHandle>(stream.get());
  cublasHandle_t blas = handle ? handle->get() : nullptr;
  auto X_d = to_device(X, stream);
  auto W_d = to_device(W, stream);
  DeviceBuffer<float> b_d = c.bias ? to_device(b, stream) : DeviceBuffer<float>();
  auto Y_d = poisoned(ny, stream);
  latentkit::cuda::dense_forward(X_d.data(), W_d.data(), c.bias ? b_d.data() : nullptr,
                                 Y_d.data(), c.n, c.in, c.out, c.act, kSlope, blas, stream.get());
  {
    SCOPED_TRACE("forward Y (K = in)");
    EXPECT_TRUE(all_close(from_device(Y_d, stream), Y_ref, sum_tolerance(c.in, scale.y)));
  }

  // Backward from the reference's Y, so both sides take act' of the same values.
  auto Yin_d = to_device(Y_ref, stream);
  auto dY_d = to_device(dY, stream);
  DeviceBuffer<float> dX_d = c.with_dx
                                 ? (c.accumulate_dx ? to_device(dX0, stream) : poisoned(nx, stream))
                                 : DeviceBuffer<float>();
  auto dW_d = poisoned(nw, stream);
  DeviceBuffer<float> db_d = c.bias ? poisoned(c.out, stream) : DeviceBuffer<float>();
  DeviceBuffer<float> scratch =
      c.path == Path::Cublas ? poisoned(ny, stream) : DeviceBuffer<float>();
  latentkit::cuda::dense_backward(
      X_d.data(), W_d.data(), Yin_d.data(), dY_d.data(), c.with_dx ? dX_d.data() : nullptr,
      dW_d.data(), c.bias ? db_d.data() : nullptr, c.n, c.in, c.out, c.act, kSlope, c.accumulate_dx,
      scratch.data(), scratch.size(), blas, stream.get());
  if (c.with_dx) {
    SCOPED_TRACE("backward dX (K = out)");
    EXPECT_TRUE(all_close(from_device(dX_d, stream), dX_ref, sum_tolerance(c.out, scale.dx)));
  }
  {
    SCOPED_TRACE("backward dW (K = n)");
    EXPECT_TRUE(all_close(from_device(dW_d, stream), dW_ref, sum_tolerance(c.n, scale.dw)));
  }
  if (c.bias) {
    SCOPED_TRACE("backward db (K = n)");
    EXPECT_TRUE(all_close(from_device(db_d, stream), db_ref, sum_tolerance(c.n, scale.db)));
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, DenseGpu, testing::ValuesIn(dense_cases()), case_name);

// ---- determinism ----------------------------------------------------------------------------------

struct DeterminismCase {
  int n, in, out;
  Path path;
};

class DenseDeterminismGpu : public testing::TestWithParam<DeterminismCase> {};

// The same backward twice gives bitwise-equal dX, dW and db: no float atomics anywhere, so results
// (and training runs) reproduce exactly.
TEST_P(DenseDeterminismGpu, BackwardIsBitwiseReproducible) {
  LK_REQUIRE_GPU();
  const DeterminismCase c = GetParam();
  LK_SEEDED_RNG(rng);
  const size_t nx = static_cast<size_t>(c.n) * c.in;
  const size_t nw = static_cast<size_t>(c.out) * c.in;
  const size_t ny = static_cast<size_t>(c.n) * c.out;
  const Activation act = Activation::Tanh;
  Stream stream;
  auto X_d = to_device(random_uniform(nx, rng, -1.0, 1.0), stream);
  auto W_d = to_device(random_uniform(nw, rng, -0.1, 0.1), stream);
  auto Y_d = to_device(random_uniform(ny, rng, -0.9, 0.9), stream);  // tanh outputs
  auto dY_d = to_device(random_uniform(ny, rng, -1.0, 1.0), stream);
  std::unique_ptr<CublasHandle> handle;
  if (c.path != Path::Custom) handle = std::make_unique<CublasHandle>(stream.get());
  DeviceBuffer<float> scratch =
      c.path == Path::Cublas ? poisoned(ny, stream) : DeviceBuffer<float>();

  std::vector<float> runs[2][3];
  for (auto& run : runs) {
    auto dX_d = poisoned(nx, stream);
    auto dW_d = poisoned(nw, stream);
    auto db_d = poisoned(c.out, stream);
    latentkit::cuda::dense_backward(X_d.data(), W_d.data(), Y_d.data(), dY_d.data(), dX_d.data(),
                                    dW_d.data(), db_d.data(), c.n, c.in, c.out, act, kSlope, false,
                                    scratch.data(), scratch.size(),
                                    handle ? handle->get() : nullptr, stream.get());
    run[0] = from_device(dX_d, stream);
    run[1] = from_device(dW_d, stream);
    run[2] = from_device(db_d, stream);
  }
  const char* names[3] = {"dX", "dW", "db"};
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(runs[0][i].size(), runs[1][i].size());
    EXPECT_EQ(0, std::memcmp(runs[0][i].data(), runs[1][i].data(),
                             runs[0][i].size() * sizeof(float)))
        << names[i] << " differs between two identical runs";
    for (float v : runs[0][i]) ASSERT_TRUE(std::isfinite(v)) << names[i] << " left unwritten";
  }
}

INSTANTIATE_TEST_SUITE_P(Paths, DenseDeterminismGpu,
                         testing::Values(DeterminismCase{1021, 128, 256, Path::Custom},
                                         DeterminismCase{1021, 128, 256, Path::Cublas},
                                         DeterminismCase{65536, 3, 1, Path::Custom}),
                         [](const testing::TestParamInfo<DeterminismCase>& info) {
                           const DeterminismCase& c = info.param;
                           return "n" + std::to_string(c.n) + "_in" + std::to_string(c.in) +
                                  "_out" + std::to_string(c.out) +
                                  (c.path == Path::Custom ? "_custom" : "_cublas");
                         });

// ---- argument validation --------------------------------------------------------------------------

TEST(DenseGpuArgs, LaunchersRejectBadArguments) {
  LK_REQUIRE_GPU();
  DeviceBuffer<float> buf(64);
  float* p = buf.data();
  const Activation a = Activation::ReLU;
  EXPECT_THROW(latentkit::cuda::dense_forward(p, p, nullptr, p, 0, 4, 4, a, kSlope, nullptr,
                                              nullptr),
               latentkit::Error);
  EXPECT_THROW(latentkit::cuda::dense_forward(nullptr, p, nullptr, p, 4, 4, 4, a, kSlope, nullptr,
                                              nullptr),
               latentkit::Error);
  EXPECT_THROW(latentkit::cuda::dense_backward(p, p, p, p, p, nullptr, nullptr, 4, 4, 4, a, kSlope,
                                               false, nullptr, 0, nullptr, nullptr),
               latentkit::Error);
  EXPECT_THROW(latentkit::cuda::dense_backward(p, p, p, p, p, p, p, 4, -1, 4, a, kSlope, false,
                                               nullptr, 0, nullptr, nullptr),
               latentkit::Error);
  // A dz scratch smaller than n*out (the VAE once sized it without its latent heads, and the
  // cuBLAS path wrote past its end) is rejected before any launch, on either path. Y, dY and an
  // 8-float scratch (for a 4 x 4 output) in distinct slices of buf, so that the aliasing check
  // does not fire first; nothing runs, so X, W and dW may share a slice.
  try {
    latentkit::cuda::dense_backward(p, p, p + 16, p + 32, nullptr, p, nullptr, 4, 4, 4, a, kSlope,
                                    false, p + 48, 8, nullptr, nullptr);
    ADD_FAILURE() << "a dz scratch of 8 floats for n*out = 16 was accepted";
  } catch (const latentkit::Error& e) {
    EXPECT_NE(std::string(e.what()).find("dz_scratch holds 8"), std::string::npos) << e.what();
  }
}

}  // namespace
