// GPU tests of the RBM kernels (kernels/rbm.cu) against the float64 CPU reference
// (latentkit::ref::rbm_*, host/ref/rbm.cpp): half-steps (probabilities and Philox Bernoulli
// samples, clamping), the fused update, free energy / pseudo-likelihood, row errors, and whole
// CD-k / PCD-k training steps through the Rbm class on the CUDA backend vs the CPU backend with
// the same noise. Odd sizes (1, 31, 33, 1021) and the app's 784 x 256. Outputs are poisoned with
// NaN first. Skips itself (with the reason) where no CUDA device is usable.
//
// Samples and ulps: a sample is 1 exactly when u < p. GPU probabilities come from float sums
// (cuBLAS) and CPU ones from float64 sums, so they differ by a few ulps; a sample may then differ
// where u lies within that distance of p. The tests compare samples only where
// |u - p_ref| exceeds the probability tolerance (and count the rest, which must be rare); the
// whole-step tests pick a noise seed whose draws all keep such a margin, so every sample of the
// step must agree exactly.
#include <gtest/gtest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <limits>
#include <vector>

#include "gpu_test_util.cuh"
#include "kernels/cuda_resources.cuh"
#include "kernels/rbm.cuh"
#include "latentkit/core/backend.h"
#include "latentkit/families/rbm.h"
#include "latentkit/ref/rbm_ref.h"
#include "test_util.h"

namespace {

using latentkit::RngStream;
using latentkit::cuda::CublasHandle;
using latentkit::cuda::DeviceBuffer;
using latentkit::cuda::Stream;
using latentkit::test::all_close;
using latentkit::test::from_device;
using latentkit::test::poisoned;
using latentkit::test::random_uniform;
using latentkit::test::to_device;
using latentkit::test::Tolerance;

struct Shape {
  int n, nv, nh;
};
// Tails of every tile and warp size, a single element, and the app's shape.
constexpr Shape kShapes[] = {
    {1, 1, 1}, {31, 33, 7}, {33, 784, 256}, {1021, 31, 33}, {64, 784, 512}};

// Binary rows with probability 1/2 (like chain states) or grey levels (like the data).
std::vector<float> random_rows(size_t count, std::mt19937_64& rng, bool binary) {
  std::vector<float> v = random_uniform(count, rng, 0.0, 1.0);
  if (binary)
    for (float& x : v) x = x < 0.5f ? 0.f : 1.f;
  return v;
}

// Tolerance on probabilities: z is a K-term float sum whose rounding error is a random walk of
// ~ sqrt(K) * eps * (size of the partial sums, <= K * max|w| * max|x|, typically sqrt(K) * ...);
// sigmoid' <= 1/4 shrinks it. (8 sqrt(K) + 8) eps times the scale of z covers cuBLAS's order and
// the expf / divide roundings (a few ulps); as an absolute bound on p in [0, 1].
double prob_tolerance(int K, double z_scale) {
  return (8.0 * std::sqrt(static_cast<double>(K)) + 8.0) * FLT_EPSILON * std::max(1.0, z_scale);
}

// Compares samples where the draw keeps a margin from the reference probability; returns how many
// draws fell inside the margin (their samples may legitimately differ).
size_t expect_samples_agree(const std::vector<float>& s_gpu, const std::vector<float>& s_ref,
                            const std::vector<float>& p_ref, uint64_t seed, RngStream stream,
                            uint32_t offset, double margin, const std::vector<float>* mask) {
  size_t ambiguous = 0, mismatches = 0;
  for (size_t k = 0; k < s_ref.size(); ++k) {
    EXPECT_TRUE(s_gpu[k] == 0.f || s_gpu[k] == 1.f || (mask && (*mask)[k] != 0.f))
        << "sample " << k << " = " << s_gpu[k];
    if (mask && (*mask)[k] != 0.f) {
      if (s_gpu[k] != s_ref[k]) ++mismatches;  // clamped: exactly the clamp value
      continue;
    }
    const double u = latentkit::philox_uniform(seed, stream, offset, k);
    if (std::fabs(u - static_cast<double>(p_ref[k])) <= margin) {
      ++ambiguous;
      continue;
    }
    if (s_gpu[k] != s_ref[k]) ++mismatches;
  }
  EXPECT_EQ(mismatches, 0u) << "samples differ away from the threshold";
  return ambiguous;
}

class RbmGpu : public ::testing::Test {
 protected:
  void SetUp() override { LK_REQUIRE_GPU(); }
};

TEST_F(RbmGpu, HalfStepsMatchReference) {
  LK_SEEDED_RNG(rng);
  Stream stream;
  CublasHandle blas(stream.get());
  for (const Shape& s : kShapes) {
    for (bool clamp : {false, true}) {
      SCOPED_TRACE("n=" + std::to_string(s.n) + " nv=" + std::to_string(s.nv) +
                   " nh=" + std::to_string(s.nh) + (clamp ? " clamped" : ""));
      // Weights of sklearn's trained scale (|w| up to 0.1..0.3 after training).
      const float wmax = 0.2f;
      const std::vector<float> W =
          random_uniform(static_cast<size_t>(s.nv) * s.nh, rng, -wmax, wmax);
      const std::vector<float> b = random_uniform(s.nv, rng, -1, 1);
      const std::vector<float> c = random_uniform(s.nh, rng, -1, 1);
      const std::vector<float> V = random_rows(static_cast<size_t>(s.n) * s.nv, rng, false);
      const std::vector<float> H = random_rows(static_cast<size_t>(s.n) * s.nh, rng, true);
      std::vector<float> mask(static_cast<size_t>(s.n) * s.nv), values(mask.size());
      for (size_t k = 0; k < mask.size(); ++k) {
        mask[k] = rng() % 2;
        values[k] = static_cast<float>(rng() % 256) / 255.f;
      }
      const uint64_t seed = rng();
      const uint32_t offset = static_cast<uint32_t>(rng());

      // hidden
      std::vector<float> Ph(static_cast<size_t>(s.n) * s.nh), Sh(Ph.size());
      latentkit::ref::rbm_hidden_step(V.data(), W.data(), c.data(), s.n, s.nv, s.nh, seed, offset,
                                      Ph.data(), Sh.data());
      auto dV = to_device(V, stream), dW = to_device(W, stream), dc = to_device(c, stream),
           db = to_device(b, stream), dH = to_device(H, stream), dmask = to_device(mask, stream),
           dvalues = to_device(values, stream);
      auto dPh = poisoned(Ph.size(), stream), dSh = poisoned(Sh.size(), stream);
      latentkit::cuda::rbm_hidden_step(dV.data(), dW.data(), dc.data(), s.n, s.nv, s.nh, seed,
                                       offset, dPh.data(), dSh.data(), blas.get(), stream.get());
      const double tol_h = prob_tolerance(s.nv, std::sqrt(static_cast<double>(s.nv)) * wmax);
      EXPECT_TRUE(all_close(from_device(dPh, stream), Ph, Tolerance{tol_h, 0.0, tol_h}));
      const size_t amb_h = expect_samples_agree(from_device(dSh, stream), Sh, Ph, seed,
                                                RngStream::RbmHidden, offset, tol_h, nullptr);
      // Each draw lands within the margin with probability 2 * tol: allow 10x that plus 3.
      EXPECT_LE(amb_h, 3 + 20 * tol_h * Sh.size());

      // visible, optionally clamped
      const float* m = clamp ? mask.data() : nullptr;
      const float* vals = clamp ? values.data() : nullptr;
      std::vector<float> Pv(static_cast<size_t>(s.n) * s.nv), Sv(Pv.size());
      latentkit::ref::rbm_visible_step(H.data(), W.data(), b.data(), s.n, s.nv, s.nh, seed,
                                       offset + 1, m, vals, Pv.data(), Sv.data());
      auto dPv = poisoned(Pv.size(), stream), dSv = poisoned(Sv.size(), stream);
      latentkit::cuda::rbm_visible_step(dH.data(), dW.data(), db.data(), s.n, s.nv, s.nh, seed,
                                        offset + 1, clamp ? dmask.data() : nullptr,
                                        clamp ? dvalues.data() : nullptr, dPv.data(), dSv.data(),
                                        blas.get(), stream.get());
      const std::vector<float> Pv_gpu = from_device(dPv, stream);
      const double tol_v = prob_tolerance(s.nh, std::sqrt(static_cast<double>(s.nh)) * wmax);
      EXPECT_TRUE(all_close(Pv_gpu, Pv, Tolerance{tol_v, 0.0, tol_v}));
      if (clamp)
        for (size_t k = 0; k < mask.size(); ++k)
          if (mask[k] != 0.f) ASSERT_EQ(Pv_gpu[k], values[k]) << "clamped probability " << k;
      const size_t amb_v =
          expect_samples_agree(from_device(dSv, stream), Sv, Pv, seed, RngStream::RbmVisible,
                               offset + 1, tol_v, clamp ? &mask : nullptr);
      EXPECT_LE(amb_v, 3 + 20 * tol_v * Sv.size());
    }
  }
}

TEST_F(RbmGpu, UpdateMatchesReference) {
  LK_SEEDED_RNG(rng);
  Stream stream;
  CublasHandle blas(stream.get());
  struct UpdateShape {
    int rows, chains, nv, nh;
  };
  // Includes a short last minibatch (rows < chains) and rows > chains.
  const UpdateShape shapes[] = {
      {1, 1, 1, 1}, {31, 33, 33, 31}, {64, 64, 784, 256}, {7, 64, 1021, 5}, {128, 3, 31, 512}};
  for (const UpdateShape& s : shapes) {
    SCOPED_TRACE("rows=" + std::to_string(s.rows) + " chains=" + std::to_string(s.chains) +
                 " nv=" + std::to_string(s.nv) + " nh=" + std::to_string(s.nh));
    const size_t nw = static_cast<size_t>(s.nv) * s.nh;
    const auto V0 = random_rows(static_cast<size_t>(s.rows) * s.nv, rng, false);
    const auto P0 = random_rows(static_cast<size_t>(s.rows) * s.nh, rng, false);
    const auto Vn = random_rows(static_cast<size_t>(s.chains) * s.nv, rng, true);
    const auto Pn = random_rows(static_cast<size_t>(s.chains) * s.nh, rng, false);
    std::vector<float> W = random_uniform(nw, rng, -0.1, 0.1), b = random_uniform(s.nv, rng, -1, 1),
                       c = random_uniform(s.nh, rng, -1, 1);
    std::vector<float> vW = random_uniform(nw, rng, -0.01, 0.01),
                       vb = random_uniform(s.nv, rng, -0.01, 0.01),
                       vc = random_uniform(s.nh, rng, -0.01, 0.01);
    // lr 0.1, momentum 0.9 and decay 0.01: each term of the update is exercised.
    const latentkit::ref::RbmUpdateConfig cfg{0.1f, 0.9f, 0.01f};
    auto dV0 = to_device(V0, stream), dP0 = to_device(P0, stream), dVn = to_device(Vn, stream),
         dPn = to_device(Pn, stream);
    auto dW = to_device(W, stream), db = to_device(b, stream), dc = to_device(c, stream),
         dvW = to_device(vW, stream), dvb = to_device(vb, stream), dvc = to_device(vc, stream);
    auto grad = poisoned(nw, stream);
    latentkit::cuda::rbm_update(dV0.data(), dP0.data(), s.rows, dVn.data(), dPn.data(), s.chains,
                                s.nv, s.nh, cfg, dW.data(), db.data(), dc.data(), dvW.data(),
                                dvb.data(), dvc.data(), grad.data(), blas.get(), stream.get());
    latentkit::ref::rbm_update(V0.data(), P0.data(), s.rows, Vn.data(), Pn.data(), s.chains, s.nv,
                               s.nh, cfg, W.data(), b.data(), c.data(), vW.data(), vb.data(),
                               vc.data());
    // The gradient statistics are float sums of <= 128 terms in [0, 1] divided by rows (both,
    // scikit-learn's scaling, so the negative one of {7, 64} reaches ~64/7 x its mean): error
    // ~ (8 sqrt(128) + 8) eps ~ 1e-5 in the gradient, times lr 0.1 -> 1e-6 in the velocity;
    // W, b, c and the velocities are then rounded to float (|values| <= 1: 6e-8).
    // atol 2e-6 covers both; rtol 1e-6 the rounding of the larger biases and velocities.
    const Tolerance tol{2e-6, 1e-6, 1e-5};
    EXPECT_TRUE(all_close(from_device(dW, stream), W, tol)) << "W";
    EXPECT_TRUE(all_close(from_device(db, stream), b, tol)) << "b";
    EXPECT_TRUE(all_close(from_device(dc, stream), c, tol)) << "c";
    EXPECT_TRUE(all_close(from_device(dvW, stream), vW, tol)) << "vel_W";
    EXPECT_TRUE(all_close(from_device(dvb, stream), vb, tol)) << "vel_b";
    EXPECT_TRUE(all_close(from_device(dvc, stream), vc, tol)) << "vel_c";
  }
}

TEST_F(RbmGpu, FreeEnergyPseudoLikelihoodAndRowErrorsMatchReference) {
  LK_SEEDED_RNG(rng);
  Stream stream;
  CublasHandle blas(stream.get());
  for (const Shape& s : kShapes) {
    SCOPED_TRACE("n=" + std::to_string(s.n) + " nv=" + std::to_string(s.nv) +
                 " nh=" + std::to_string(s.nh));
    const float wmax = 0.2f;
    const auto W = random_uniform(static_cast<size_t>(s.nv) * s.nh, rng, -wmax, wmax);
    const auto b = random_uniform(s.nv, rng, -1, 1);
    const auto c = random_uniform(s.nh, rng, -1, 1);
    const auto V = random_rows(static_cast<size_t>(s.n) * s.nv, rng, rng() % 2 == 0);
    const auto P = random_rows(static_cast<size_t>(s.n) * s.nv, rng, false);
    const uint64_t seed = rng();
    const uint32_t offset = static_cast<uint32_t>(rng());
    std::vector<double> fe(s.n), pl(s.n), err(s.n);
    latentkit::ref::rbm_free_energy(V.data(), W.data(), b.data(), c.data(), s.n, s.nv, s.nh, seed,
                                    offset, fe.data(), pl.data());
    latentkit::ref::rbm_row_sq_error(V.data(), P.data(), s.n, s.nv, err.data());
    auto dV = to_device(V, stream), dP = to_device(P, stream), dW = to_device(W, stream),
         db = to_device(b, stream), dc = to_device(c, stream);
    // Poisoned like every output: a row the kernels skip stays NaN and fails the comparison.
    const std::vector<double> nan_rows(s.n, std::numeric_limits<double>::quiet_NaN());
    auto dfe = to_device(nan_rows, stream), dpl = to_device(nan_rows, stream),
         derr = to_device(nan_rows, stream);
    auto z = poisoned(static_cast<size_t>(s.n) * s.nh, stream);
    latentkit::cuda::rbm_free_energy(dV.data(), dW.data(), db.data(), dc.data(), s.n, s.nv, s.nh,
                                     seed, offset, dfe.data(), dpl.data(), z.data(), blas.get(),
                                     stream.get());
    latentkit::cuda::rbm_row_sq_error(dV.data(), dP.data(), s.n, s.nv, derr.data(), stream.get());
    // z = V W is a float sum (error dz ~ prob_tolerance's z bound); F sums nh softplus terms
    // whose slopes are <= 1: |dF| <= nh * dz. The pseudo-likelihood is nv * log sigmoid of
    // F(v) - F(v') = delta b_i + sum_j [softplus(z_j + delta W_ij) - softplus(z_j)], computed from
    // the same z; each bracket's error is |sigmoid(z_j + delta W_ij) - sigmoid(z_j)| dz <=
    // (wmax / 4) dz, and log sigmoid has slope <= 1: |dpl| <= nv nh (wmax / 4) dz; x2 margin.
    // Plus the relative-norm check (1e-4: ~10x the expected ratio of sqrt(nh) dz to
    // |F(v) - F(v')|, which is of order 1).
    const double dz = prob_tolerance(s.nv, std::sqrt(static_cast<double>(s.nv)) * wmax);
    EXPECT_TRUE(all_close(from_device(dfe, stream), fe, Tolerance{s.nh * dz, 0.0, 1e-5}));
    const std::vector<double> pl_gpu = from_device(dpl, stream);
    EXPECT_TRUE(all_close(pl_gpu, pl, Tolerance{s.nv * s.nh * (wmax / 2.0) * dz, 0.0, 1e-4}));
    EXPECT_LT(latentkit::test::relative_norm_diff(pl_gpu, pl), 1e-4);
    // Row errors: float64 sums of float64 squares of float differences; only the order differs.
    EXPECT_TRUE(all_close(from_device(derr, stream), err, Tolerance{1e-12, 1e-12, 1e-12}));
  }
}

// The smallest |u - p| over the samples drawn by the first training step of an Rbm with this
// config, replayed with the reference (offsets as latentkit/families/rbm.h documents).
double first_step_margin(const latentkit::RbmState& st, const latentkit::RbmTrainConfig& cfg,
                         const std::vector<float>& V0, int rows) {
  using namespace latentkit;
  const int nv = st.nv, nh = st.nh, chains = cfg.pcd ? cfg.batch : rows;
  double margin = 1.0;
  const auto track = [&](const std::vector<float>& p, RngStream stream, uint32_t off) {
    for (size_t k = 0; k < p.size(); ++k)
      margin = std::min(margin, std::fabs(philox_uniform(cfg.seed, stream, off, k) - p[k]));
  };
  uint32_t off = 0;
  std::vector<float> P0(static_cast<size_t>(rows) * nh),
      Hc = st.chains, Pv(static_cast<size_t>(chains) * nv), Vn(Pv.size()),
      Pn(static_cast<size_t>(chains) * nh);
  if (!cfg.pcd) Hc.assign(static_cast<size_t>(rows) * nh, 0.f);
  ref::rbm_hidden_step(V0.data(), st.W.data(), st.c.data(), rows, nv, nh, cfg.seed, off, P0.data(),
                       cfg.pcd ? nullptr : Hc.data());
  if (!cfg.pcd) track(P0, RngStream::RbmHidden, off);
  ++off;
  for (int t = 0; t < cfg.k; ++t) {
    ref::rbm_visible_step(Hc.data(), st.W.data(), st.b.data(), chains, nv, nh, cfg.seed, off,
                          nullptr, nullptr, Pv.data(), Vn.data());
    track(Pv, RngStream::RbmVisible, off++);
    ref::rbm_hidden_step(Vn.data(), st.W.data(), st.c.data(), chains, nv, nh, cfg.seed, off,
                         Pn.data(), Hc.data());
    track(Pn, RngStream::RbmHidden, off++);
  }
  return margin;
}

TEST_F(RbmGpu, WholeTrainingStepsMatchCpuBackend) {
  LK_SEEDED_RNG(rng);
  auto cpu = latentkit::make_cpu_backend();
  auto gpu = latentkit::make_cuda_backend(0);
  // Small enough that a noise seed with every draw away from its threshold is easy to find
  // (<= 21 x (100 + 31) draws per half-step pair).
  const int nv = 100, nh = 31, rows = 17;
  for (bool pcd : {false, true}) {
    for (int k : {1, 2}) {
      SCOPED_TRACE(std::string(pcd ? "PCD-" : "CD-") + std::to_string(k));
      latentkit::RbmTrainConfig cfg;
      // A short minibatch (rows < batch): PCD runs batch chains against rows data rows, which
      // exercises the update's scaling (both statistics over rows, as scikit-learn).
      cfg.batch = rows + 4;
      cfg.k = k;
      cfg.pcd = pcd;
      cfg.update = {0.05f, 0.5f, 0.001f};
      const auto V0 = random_rows(static_cast<size_t>(rows) * nv, rng, false);
      // Margin 2e-5: twice the probability tolerance at K = 100 (prob_tolerance(100, .) = 1.05e-5
      // for these N(0, 0.01^2) weights); in practice the probabilities differ by ~1e-7.
      const double kMargin = 2e-5;
      bool found = false;
      for (int attempt = 0; attempt < 200 && !found; ++attempt) {
        cfg.seed = rng();
        latentkit::Rbm probe(*cpu, nv, nh, cfg);
        found = first_step_margin(probe.state(), cfg, V0, rows) > kMargin;
      }
      ASSERT_TRUE(found) << "no noise seed in 200 keeps every draw " << kMargin
                         << " from its threshold";
      latentkit::Rbm on_cpu(*cpu, nv, nh, cfg), on_gpu(*gpu, nv, nh, cfg);
      auto v_cpu = cpu->upload(V0);
      auto v_gpu = gpu->upload(V0);
      on_cpu.train_minibatch(v_cpu.data(), rows);
      on_gpu.train_minibatch(v_gpu.data(), rows);
      const latentkit::RbmState a = on_gpu.state(), r = on_cpu.state();
      // Same samples, so the update differs only by float sums (as UpdateMatchesReference).
      const Tolerance tol{2e-6, 1e-6, 1e-5};
      EXPECT_TRUE(all_close(a.W, r.W, tol)) << "W";
      EXPECT_TRUE(all_close(a.b, r.b, tol)) << "b";
      EXPECT_TRUE(all_close(a.c, r.c, tol)) << "c";
      EXPECT_TRUE(all_close(a.vel_W, r.vel_W, tol)) << "vel_W";
      EXPECT_EQ(a.chains, r.chains) << "persistent chains identical";
      EXPECT_EQ(a.half_steps, r.half_steps);
    }
  }
}

TEST_F(RbmGpu, InpaintingKeepsClampedPixelsAndRunsAreReproducible) {
  LK_SEEDED_RNG(rng);
  auto gpu = latentkit::make_cuda_backend(0);
  latentkit::RbmTrainConfig cfg;
  cfg.seed = rng();
  const int n = 33, nv = 784, nh = 256;
  latentkit::Rbm rbm(*gpu, nv, nh, cfg);
  const auto data = random_rows(static_cast<size_t>(n) * nv, rng, false);
  std::vector<float> mask(data.size()), start(data.size());
  for (size_t k = 0; k < data.size(); ++k) {
    mask[k] = (k % nv) >= 14 * 28 ? 1.f : 0.f;  // bottom half known, top half removed
    start[k] = mask[k] != 0.f ? data[k] : 0.f;
  }
  std::vector<float> first;
  for (int run = 0; run < 2; ++run) {
    auto v = gpu->upload(start), m = gpu->upload(mask), d = gpu->upload(data);
    auto p = gpu->alloc(data.size());
    rbm.gibbs(v.data(), n, 25, 1000, m.data(), d.data(), p.data());
    const auto V = gpu->download(v.data(), data.size());
    const auto P = gpu->download(p.data(), data.size());
    for (size_t k = 0; k < data.size(); ++k) {
      if (mask[k] != 0.f) {
        ASSERT_EQ(V[k], data[k]) << k;
        ASSERT_EQ(P[k], data[k]) << k;
      } else {
        ASSERT_TRUE(V[k] == 0.f || V[k] == 1.f) << k;
      }
    }
    if (run == 0)
      first = P;
    else
      EXPECT_EQ(P, first) << "same seed and offsets give bitwise identical chains";
  }
}

TEST_F(RbmGpu, LaunchersRejectBadArguments) {
  Stream stream;
  CublasHandle blas(stream.get());
  DeviceBuffer<float> buf(64);
  EXPECT_THROW(latentkit::cuda::rbm_hidden_step(buf.data(), buf.data(), buf.data(), 0, 4, 4, 0, 0,
                                                buf.data(), nullptr, blas.get(), stream.get()),
               latentkit::Error);
  EXPECT_THROW(latentkit::cuda::rbm_hidden_step(nullptr, buf.data(), buf.data(), 2, 4, 4, 0, 0,
                                                buf.data(), nullptr, blas.get(), stream.get()),
               latentkit::Error);
  EXPECT_THROW(latentkit::cuda::rbm_visible_step(buf.data(), buf.data(), buf.data(), 2, 4, 4, 0, 0,
                                                 buf.data(), nullptr, buf.data(), nullptr,
                                                 blas.get(), stream.get()),
               latentkit::Error);
  EXPECT_THROW(
      latentkit::cuda::rbm_update(buf.data(), buf.data(), 2, buf.data(), buf.data(), 0, 4, 4, {},
                                  buf.data(), buf.data(), buf.data(), buf.data(), buf.data(),
                                  buf.data(), buf.data(), blas.get(), stream.get()),
      latentkit::Error);
}

}  // namespace
