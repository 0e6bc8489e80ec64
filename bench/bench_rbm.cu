// Benchmark of the RBM family (kernels/rbm.cu):
//   (a) one CD-1 training epoch on 60000 x 784 (Fashion-MNIST when /usr/share/datasets/
//       fashion-mnist is installed, else synthetic Bernoulli(0.3) pixels: same shapes, same GPU
//       work) at 256 and 512 hidden units, batch 64 and 128: per minibatch the launchers
//       rbm_hidden_step (data, sampled), rbm_visible_step, rbm_hidden_step, rbm_update (2 GEMMs +
//       1 fused kernel) = 4 cuBLAS GEMMs + 2 more + 4 latentkit kernels on one stream, minibatches
//       taken as consecutive slices (no shuffle: the app's gather adds one more kernel);
//       timed eagerly and as one CUDA graph per epoch (captured once; the replay repeats the
//       captured Philox offsets, which changes nothing in the work done);
//   (b) Gibbs sampling throughput: 1000 and 10000 chains x 100 steps (v -> h -> v), in
//       chain-steps per second;
//   (c) --cpu: one CD-1 epoch (256 hidden, batch 64) on the CPU reference (host wall clock),
//       with or without a GPU: context for the CPU path of apps/rbm_mnist.
// Everything is validated against latentkit::ref::rbm_* before it is timed (probabilities,
// samples away from their thresholds, the update).
// Peers: bench/peers/rbm_torch.py (PyTorch on the GPU, the same CD-1 epoch) and
// bench/peers/rbm_sklearn.py (scikit-learn's BernoulliRBM, CPU), both run by bench/run_all.sh.
//
// Napkin math per CD-1 minibatch (B rows, nv visible, nh hidden): five B x nv x nh products
// (h0, v1, h1, and the two gradient statistics) = 10 B nv nh flops; per epoch with N rows:
// 10 N nv nh = 10 x 60000 x 784 x 256 = 120 GFLOP at 256 hidden (~2 ms at 60 TFLOP/s FP32).
// Bytes per minibatch (operands moved once): W read 3x and written once (with its velocity read
// and written) = 4 (6 nv nh) plus the B-row activations, ~4.8 MB at 784 x 256: W stays in L2
// (50 MB on an H100), so the epoch is bound by launches (938 minibatches x ~10 launches) unless
// captured in a graph: the issue's goal is <= 30 ms per epoch at 256 hidden, batch 64.
// Gibbs step: 4 n nv nh flops (two products).
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cfloat>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "bench/harness.h"
#include "kernels/cuda_check.cuh"
#include "kernels/cuda_resources.cuh"
#include "kernels/rbm.cuh"
#include "latentkit/core/check.h"
#include "latentkit/io/idx.h"
#include "latentkit/core/philox.h"
#include "latentkit/ref/rbm_ref.h"
#include "tests/test_util.h"

namespace lk = latentkit;
using lk::bench::BenchResult;

namespace {

constexpr uint64_t kSeed = 20240601;  // fixed: the same operands and noise every run
constexpr const char* kFashionMnist =
    "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz";
constexpr int kNv = 784;
constexpr double kSyntheticDensity = 0.3;  // Fashion-MNIST's mean pixel is ~0.29

struct Data {
  int n = 0;
  std::vector<float> x;  // [n, kNv]
  std::string source;
};

Data load_data(int n) {
  Data d;
  if (std::filesystem::exists(kFashionMnist)) {
    lk::IdxImages img = lk::read_idx_images(kFashionMnist, n);
    LK_CHECK(img.rows * img.cols == kNv, "unexpected image size in " << kFashionMnist);
    d.n = img.n;
    d.x = std::move(img.pixels);
    d.source = "Fashion-MNIST (first " + std::to_string(d.n) + " training images, grey levels)";
  } else {
    d.n = n;
    d.x.resize(static_cast<size_t>(n) * kNv);
    for (size_t i = 0; i < d.x.size(); ++i)
      d.x[i] = lk::philox_uniform(kSeed, lk::RngStream::Test, 7, i) < kSyntheticDensity ? 1.f : 0.f;
    d.source = "synthetic Bernoulli(0.3) pixels (dataset-fashion-mnist not installed)";
  }
  return d;
}

std::vector<float> init_weights(int nh) {
  std::vector<float> w(static_cast<size_t>(kNv) * nh);
  for (size_t i = 0; i < w.size(); ++i)
    w[i] = static_cast<float>(0.01 * lk::philox_normal(kSeed, lk::RngStream::Init, 0, i));
  return w;
}

void check(bool ok, const std::string& what, const std::string& detail) {
  if (!ok) throw lk::Error("validation failed: " + what + ": " + detail);
  std::printf("  ok   %-48s %s\n", what.c_str(), detail.c_str());
}

// Device buffers of one training configuration (the _d suffix: device memory).
struct Trainer {
  int nh, batch;
  lk::cuda::DeviceBuffer<float> W_d, b_d, c_d, vW_d, vb_d, vc_d, P0_d, H_d, Pv_d, Vn_d, Pn_d, G_d;
  Trainer(int nh_, int batch_, const std::vector<float>& W, cudaStream_t s)
      : nh(nh_),
        batch(batch_),
        W_d(W.size()),
        b_d(kNv),
        c_d(nh_),
        vW_d(W.size()),
        vb_d(kNv),
        vc_d(nh_),
        P0_d(size_t(batch_) * nh_),
        H_d(size_t(batch_) * nh_),
        Pv_d(size_t(batch_) * kNv),
        Vn_d(size_t(batch_) * kNv),
        Pn_d(size_t(batch_) * nh_),
        G_d(W.size()) {
    // On the stream the steps run on: in order with them, no device-wide wait.
    W_d.upload(W, s);
    for (auto* buf : {&b_d, &c_d, &vW_d, &vb_d, &vc_d})
      LK_CUDA_CHECK(cudaMemsetAsync(buf->data(), 0, buf->bytes(), s));
  }
  // One CD-1 minibatch of `rows` rows at V0 with Philox offsets 3*step .. 3*step+2.
  void step(const float* V0, int rows, uint32_t step, const lk::ref::RbmUpdateConfig& cfg,
            cudaStream_t s, cublasHandle_t blas) {
    const uint32_t off = 3u * step;
    lk::cuda::rbm_hidden_step(V0, W_d.data(), c_d.data(), rows, kNv, nh, kSeed, off, P0_d.data(),
                              H_d.data(), blas, s);
    lk::cuda::rbm_visible_step(H_d.data(), W_d.data(), b_d.data(), rows, kNv, nh, kSeed, off + 1,
                               nullptr, nullptr, Pv_d.data(), Vn_d.data(), blas, s);
    lk::cuda::rbm_hidden_step(Vn_d.data(), W_d.data(), c_d.data(), rows, kNv, nh, kSeed, off + 2,
                              Pn_d.data(), H_d.data(), blas, s);
    lk::cuda::rbm_update(V0, P0_d.data(), rows, Vn_d.data(), Pn_d.data(), rows, kNv, nh, cfg,
                         W_d.data(), b_d.data(), c_d.data(), vW_d.data(), vb_d.data(), vc_d.data(),
                         G_d.data(), blas, s);
  }
  void epoch(const float* X_d, int n, const lk::ref::RbmUpdateConfig& cfg, cudaStream_t s,
             cublasHandle_t blas) {
    uint32_t k = 0;
    for (int start = 0; start < n; start += batch)
      step(X_d + size_t(start) * kNv, std::min(batch, n - start), k++, cfg, s, blas);
  }
};

// The same CD-1 minibatch on the CPU reference, for validation and the --cpu epoch.
struct RefTrainer {
  int nh;
  std::vector<float> W, b, c, vW, vb, vc, P0, H, Pv, Vn, Pn;
  RefTrainer(int nh_, int batch, const std::vector<float>& W0)
      : nh(nh_),
        W(W0),
        b(kNv, 0.f),
        c(nh_, 0.f),
        vW(W0.size(), 0.f),
        vb(kNv, 0.f),
        vc(nh_, 0.f),
        P0(size_t(batch) * nh_),
        H(P0.size()),
        Pv(size_t(batch) * kNv),
        Vn(Pv.size()),
        Pn(P0.size()) {}
  void step(const float* V0, int rows, uint32_t step, const lk::ref::RbmUpdateConfig& cfg) {
    const uint32_t off = 3u * step;
    lk::ref::rbm_hidden_step(V0, W.data(), c.data(), rows, kNv, nh, kSeed, off, P0.data(),
                             H.data());
    lk::ref::rbm_visible_step(H.data(), W.data(), b.data(), rows, kNv, nh, kSeed, off + 1, nullptr,
                              nullptr, Pv.data(), Vn.data());
    lk::ref::rbm_hidden_step(Vn.data(), W.data(), c.data(), rows, kNv, nh, kSeed, off + 2,
                             Pn.data(), H.data());
    lk::ref::rbm_update(V0, P0.data(), rows, Vn.data(), Pn.data(), rows, kNv, nh, cfg, W.data(),
                        b.data(), c.data(), vW.data(), vb.data(), vc.data());
  }
};

// Validates one minibatch: probabilities within the K-term float-sum tolerance, samples equal
// away from their thresholds, and the update given the GPU's own samples.
void validate_step(const Data& d, int nh, int batch, cudaStream_t s, cublasHandle_t blas) {
  const auto W = init_weights(nh);
  const lk::ref::RbmUpdateConfig cfg{0.01f, 0.0f, 0.0f};
  Trainer g(nh, batch, W, s);
  lk::cuda::DeviceBuffer<float> V_d(size_t(batch) * kNv);
  V_d.upload(d.x.data(), V_d.size(), s);
  g.step(V_d.data(), batch, 0, cfg, s, blas);
  // Reference half-steps from the GPU's own samples, so one threshold flip cannot cascade.
  const auto H1 = g.H_d.download(s);  // after the step: the final hidden samples h1
  const auto Vn = g.Vn_d.download(s), Pn = g.Pn_d.download(s), P0 = g.P0_d.download(s);
  std::vector<float> P0r(P0.size()), Pnr(Pn.size()), Hr(P0.size());
  lk::ref::rbm_hidden_step(d.x.data(), W.data(), std::vector<float>(nh, 0.f).data(), batch, kNv, nh,
                           kSeed, 0, P0r.data(), nullptr);
  lk::ref::rbm_hidden_step(Vn.data(), W.data(), std::vector<float>(nh, 0.f).data(), batch, kNv, nh,
                           kSeed, 2, Pnr.data(), Hr.data());
  // z = x W: 784-term float sums of |x w| <= 0.05: (8 sqrt(784) + 8) eps ~ 2.8e-5 absolute.
  const double tol = (8.0 * std::sqrt(784.0) + 8.0) * FLT_EPSILON;
  const lk::test::Tolerance pt{tol, 0.0, tol};
  const auto r0 = lk::test::all_close(P0, P0r, pt);
  check(bool(r0), "p(h|v0) " + std::to_string(batch) + "x784->" + std::to_string(nh), r0.message());
  const auto rn = lk::test::all_close(Pn, Pnr, pt);
  check(bool(rn), "p(h|v1)", rn.message());
  size_t compared = 0, mismatched = 0;
  for (size_t k = 0; k < Hr.size(); ++k) {
    const double u = lk::philox_uniform(kSeed, lk::RngStream::RbmHidden, 2, k);
    if (std::fabs(u - Pnr[k]) <= tol) continue;
    ++compared;
    mismatched += H1[k] != Hr[k];
  }
  check(mismatched == 0, "h1 samples",
        std::to_string(compared) + " compared away from their thresholds, " +
            std::to_string(mismatched) + " differ");
  // The update from the GPU's statistics inputs.
  std::vector<float> Wr = W, br(kNv, 0.f), cr(nh, 0.f), vWr(W.size(), 0.f), vbr(kNv, 0.f),
                     vcr(nh, 0.f);
  lk::ref::rbm_update(d.x.data(), P0.data(), batch, Vn.data(), Pn.data(), batch, kNv, nh, cfg,
                      Wr.data(), br.data(), cr.data(), vWr.data(), vbr.data(), vcr.data());
  // The gradient is a 64/128-term float sum of products <= 1 ((8 sqrt(128) + 8) eps ~ 1e-5),
  // times lr 0.01: 1e-7; W (|W| ~ 0.03) is then rounded to float (4e-9). atol 2e-7.
  const auto rw = lk::test::all_close(g.W_d.download(s), Wr, lk::test::Tolerance{2e-7, 1e-6, 1e-5});
  check(bool(rw), "update W", rw.message());
}

lk::bench::TimingPlan epoch_plan(const lk::bench::BenchOptions& opt) {
  lk::bench::TimingPlan p;
  p.warmup = 2;
  p.min_runs = 10;  // an epoch is ~10-100 ms: 10 runs give a stable median
  p.min_seconds = 1.0;
  p.max_runs = 50;
  return lk::bench::plan_from(opt, p);
}

void bench_epochs(const Data& d, const lk::bench::BenchOptions& opt, const lk::bench::Peaks& peaks,
                  lk::bench::Report& report, cudaStream_t s, cublasHandle_t blas) {
  lk::cuda::DeviceBuffer<float> X_d(d.x.size());
  X_d.upload(d.x, s);
  const lk::ref::RbmUpdateConfig cfg{0.01f, 0.0f, 0.0f};
  for (int nh : {256, 512}) {
    for (int batch : {64, 128}) {
      const int hidden = opt.smoke ? nh / 4 : nh;
      std::printf("\n[CD-1 epoch n=%d nh=%d batch=%d] validating against latentkit::ref\n", d.n,
                  hidden, batch);
      validate_step(d, hidden, batch, s, blas);
      const auto W = init_weights(hidden);
      Trainer t(hidden, batch, W, s);
      const double flops = 10.0 * d.n * kNv * hidden;
      const double bytes = 4.0 * ((d.n + batch - 1) / batch) * (6.0 * kNv * hidden) +
                           4.0 * d.n * (3.0 * kNv + 4.0 * hidden);
      const std::string name = "CD-1 epoch " + std::to_string(d.n) + "x784, " +
                               std::to_string(hidden) + " hidden, batch " + std::to_string(batch);
      auto eager = lk::bench::summarize(
          name + " (eager)",
          lk::bench::time_cuda([&](cudaStream_t st) { t.epoch(X_d.data(), d.n, cfg, st, blas); }, s,
                               epoch_plan(opt)),
          flops, bytes, peaks);
      eager.note = std::to_string((d.n + batch - 1) / batch) + " minibatches, 10 launches each";
      eager.extra.push_back({"ms_per_minibatch", eager.median_ms / ((d.n + batch - 1) / batch)});
      report.add(eager);
      // One CUDA graph per epoch (cuBLAS calls captured on our stream).
      cudaGraph_t graph = nullptr;
      cudaGraphExec_t exec = nullptr;
      try {
        LK_CUDA_CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
        t.epoch(X_d.data(), d.n, cfg, s, blas);
        LK_CUDA_CHECK(cudaStreamEndCapture(s, &graph));
        LK_CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));
        auto g = lk::bench::summarize(
            name + " (CUDA graph)",
            lk::bench::time_cuda([&](cudaStream_t st) { LK_CUDA_CHECK(cudaGraphLaunch(exec, st)); },
                                 s, epoch_plan(opt)),
            flops, bytes, peaks);
        g.note = "one graph per epoch, replayed";
        lk::bench::compare_with(g, eager);
        report.add(g);
      } catch (const lk::Error& e) {
        cudaGraph_t junk = nullptr;
        cudaStreamEndCapture(s, &junk);  // leave capture mode if the failure happened inside it
        if (junk) cudaGraphDestroy(junk);
        cudaGetLastError();
        report.note("CUDA graph of " + name + " not timed: " + e.what());
      }
      if (exec) cudaGraphExecDestroy(exec);
      if (graph) cudaGraphDestroy(graph);
    }
  }
}

void bench_gibbs(const lk::bench::BenchOptions& opt, const lk::bench::Peaks& peaks,
                 lk::bench::Report& report, cudaStream_t s, cublasHandle_t blas) {
  const int nh = 256, steps = opt.smoke ? 3 : 100;
  const auto W = init_weights(nh);
  for (int chains : {1000, 10000}) {
    const int n = opt.smoke ? chains / 100 : chains;
    lk::cuda::DeviceBuffer<float> W_d(W.size()), b_d(kNv), c_d(nh), V_d(size_t(n) * kNv),
        P_d(size_t(n) * kNv), Ph_d(size_t(n) * nh), H_d(size_t(n) * nh);
    W_d.upload(W, s);
    LK_CUDA_CHECK(cudaMemsetAsync(b_d.data(), 0, b_d.bytes(), s));
    LK_CUDA_CHECK(cudaMemsetAsync(c_d.data(), 0, c_d.bytes(), s));
    LK_CUDA_CHECK(cudaMemsetAsync(V_d.data(), 0, V_d.bytes(), s));
    auto run = [&](cudaStream_t st) {
      for (int t = 0; t < steps; ++t) {
        lk::cuda::rbm_hidden_step(V_d.data(), W_d.data(), c_d.data(), n, kNv, nh, kSeed, 2 * t,
                                  Ph_d.data(), H_d.data(), blas, st);
        lk::cuda::rbm_visible_step(H_d.data(), W_d.data(), b_d.data(), n, kNv, nh, kSeed, 2 * t + 1,
                                   nullptr, nullptr, P_d.data(), V_d.data(), blas, st);
      }
    };
    lk::bench::TimingPlan p;
    p.min_runs = 10;
    p.max_runs = 50;
    auto r = lk::bench::summarize(
        "Gibbs " + std::to_string(n) + " chains x " + std::to_string(steps) + " steps, 784x256",
        lk::bench::time_cuda(run, s, lk::bench::plan_from(opt, p)), 4.0 * n * steps * kNv * nh, 0.0,
        peaks);
    const double chain_steps_per_s = n * double(steps) / (r.median_ms * 1e-3);
    r.note = std::to_string(static_cast<long long>(chain_steps_per_s)) + " chain-steps/s";
    r.extra.push_back({"chain_steps_per_s", chain_steps_per_s});
    report.add(r);
  }
}

BenchResult cpu_epoch(const Data& d, int runs) {
  const int nh = 256, batch = 64;
  std::printf("\n[cpu] one CD-1 epoch on the CPU reference: n=%d, 784x%d, batch %d\n", d.n, nh,
              batch);
  const lk::ref::RbmUpdateConfig cfg{0.01f, 0.0f, 0.0f};
  std::vector<double> ms;
  for (int r = 0; r < runs; ++r) {
    RefTrainer t(nh, batch, init_weights(nh));
    const auto t0 = std::chrono::steady_clock::now();
    uint32_t k = 0;
    for (int start = 0; start < d.n; start += batch)
      t.step(d.x.data() + size_t(start) * kNv, std::min(batch, d.n - start), k++, cfg);
    ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  auto r = lk::bench::summarize("[CPU] CD-1 epoch " + std::to_string(d.n) +
                                    "x784, 256 hidden, "
                                    "batch 64",
                                ms, 10.0 * d.n * kNv * nh, 0.0, lk::bench::Peaks{});
  r.pct_peak_flops = r.pct_peak_bw = lk::bench::kNaN;
  r.note =
      "CPU reference (float64 accumulation, 1 thread, zero inputs skipped), host wall clock, " +
      std::to_string(runs) + " run(s): context, not a GPU figure";
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  return lk::bench::run_main([&]() -> int {
    lk::bench::BenchOptions opt;
    bool cpu = false;
    const int rc = lk::bench::parse_args(
        argc, argv,
        "bench_rbm: one CD-1 epoch (60000x784, 256/512 hidden, batch 64/128; eager and as a CUDA "
        "graph) and Gibbs sampling throughput. Validates against the CPU reference first.",
        opt, [&](CLI::App& app) {
          app.add_flag("--cpu", cpu,
                       "only time one CD-1 epoch (256 hidden, batch 64) on the CPU reference");
        });
    if (rc >= 0) return rc;
    const Data data = load_data(opt.smoke ? 1031 : 60000);
    if (cpu) {
      auto header = lk::bench::make_header("bench_rbm --cpu", opt.smoke);
      header.device = "none used (CPU reference only)";
      std::printf("%s\n", header.line().c_str());
      lk::bench::Report report(header, lk::bench::Peaks{});
      report.add(cpu_epoch(data, opt.smoke ? 1 : (opt.runs > 0 ? opt.runs : 3)));
      report.note("data: " + data.source + "; " + lk::bench::host_cpu_description() + ".");
      report.finish(opt);
      return 0;
    }
    if (!lk::bench::gpu_present_or_skip()) {
      std::printf("(bench_rbm --cpu times the CPU reference's epoch without a GPU)\n");
      return 0;
    }
    LK_CUDA_CHECK(cudaSetDevice(0));
    const auto header = lk::bench::make_header("bench_rbm", opt.smoke);
    std::printf("%s\n", header.line().c_str());
    lk::cuda::Stream stream;
    lk::cuda::CublasHandle blas(stream.get());
    const auto peaks = lk::bench::measure_peaks(opt.smoke, stream.get());
    lk::bench::Report report(header, peaks);
    bench_epochs(data, opt, peaks, report, stream.get(), blas.get());
    bench_gibbs(opt, peaks, report, stream.get(), blas.get());
    report.note("data: " + data.source +
                ". Peers: bench/peers/rbm_torch.py (same CD-1 epoch in "
                "PyTorch), bench/peers/rbm_sklearn.py (scikit-learn, CPU).");
    report.finish(opt);
    return 0;
  });
}
