// Benchmark of the whole VAE on the CUDA backend (latentkit::make_cuda_backend(0)) at the seed
// configuration (seed report 002: 3-D Gaussian mixture K=10, N=10000, seed 0; encoder
// 3-128-128-(2,2), decoder 2-128-128-3, ReLU, Gaussian likelihood, beta 1, Adam 1e-3, batch 32):
//
//  (a) one training step = Vae::forward_backward + Backend::adam_step on a fixed batch of 32.
//      The two CUDA events are recorded on a bench stream at moments when the backend's stream
//      (Backend::cuda_stream()) is known to be idle: after Backend::synchronize(). One run = [start
//      event] N steps, synchronize() [stop event]; the interval is N steps of host enqueue + GPU
//      execution + one synchronisation (~10 us, spread over N = 1000 steps), and the per-step time
//      is interval / N. That is the throughput a training loop sees; at batch 32 a step is ~25
//      kernels of a few microseconds each, so it is launch-bound and host enqueue time matters.
//      Reported: the median over runs. Validation first: one step's gradients (per layer W and b)
//      and per-row losses, GPU vs the CPU backend (latentkit::ref) from identical weights, batch
//      and Philox noise.
//  (b) the whole seed training run as one figure: make_gaussian_mixture(k=10, d=3, n=10000,
//      seed 0), Trainer with epochs = 100, batch = 32 -> 100 x 313 = 31,300 steps (shuffles,
//      gathers, steps and the per-epoch loss sums included); host wall clock (steady_clock) from
//      a synchronised backend to the last epoch's loss (which synchronises); median of 3 runs,
//      each from the same initial weights (--runs N: N runs). --smoke: 1 epoch on n = 1000, 1 run.
//      With --peer-json FILE (bench/peers/vae_torch.py --json FILE) the ratio of samples/s,
//      latentkit / PyTorch, is reported (> 1: latentkit faster).
//  (c) for context, the CPU backend (latentkit::ref, float64 accumulation, one thread): one epoch
//      of the same run, host wall clock, labelled CPU. Its epoch-1 mean loss is compared with the
//      GPU's epoch 1 (same data, shuffle, noise and weights; float32 vs float64 arithmetic drifts
//      apart a little over 313 Adam steps, so this is reported, not enforced).
//      --cpu-only runs just (c), with or without a GPU (median of 3 runs, or --runs N).
//
// Napkin math per step (B = 32, layers with in -> out, P parameters; step_work() computes it from
// the layout; the seed model has P = 34,823 and sum(in out) = 34,304, sum(in + out) = 1,164):
//   flops = 2 B sum(in out) forward + 4 B sum(in out) backward - 2 B in_0 out_0 (no dX for the
//           input layer); the seed model: sum(in out) = 34,304 -> 6.6 MFLOP per step.
//   bytes = 4 (10 P + 3 B sum(in + out)): every weight read forward and backward and its gradient
//           written (3 P), Adam reads p, g, m, v and writes p, m, v (7 P); every layer reads its
//           input and writes its output forward, and reads X, Y, dY and writes dX backward.
//   Whole runs count every step at batch 32 (an epoch's last batch has 16 rows: 0.16% over).
//   The seed model: 1.39 MB + 0.45 MB = ~1.8 MB per step. An H100 moves 1.8 MB in ~0.6 us (at
//   ~3 TB/s) and does 6.6 MFLOP in ~0.1 us (at ~60 TFLOP/s), far less than the ~25 kernel
//   launches of a step cost: the % of peak figures say how launch-bound the step is, no more.
#include <nlohmann/json.hpp>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "bench/harness.h"
#include "kernels/cuda_check.cuh"
#include "kernels/cuda_resources.cuh"
#include "latentkit/core/backend.h"
#include "latentkit/core/check.h"
#include "latentkit/io/data.h"
#include "latentkit/families/train.h"
#include "latentkit/families/vae.h"
#include "tests/test_util.h"

namespace lk = latentkit;
using lk::bench::BenchResult;
using Clock = std::chrono::steady_clock;

namespace {

constexpr uint64_t kSeed = 0;  // seed report 002: data, initial weights and noise all from seed 0
constexpr int kBatch = 32;

struct Extra {
  std::string peer_json;
  bool cpu_only = false;
};

lk::GaussianMixtureSpec mixture_spec(bool smoke) {
  lk::GaussianMixtureSpec spec;  // k = 10, d = 3, means U[-10,10], variances U[0.5,2]
  spec.k = 10;
  spec.d = 3;
  spec.n = smoke ? 1000 : 10000;
  return spec;
}

lk::VaeConfig seed_model(int input_dim) {
  lk::VaeConfig cfg;  // hidden {128, 128}, latent 2, ReLU, Gaussian, beta 1
  cfg.input_dim = input_dim;
  cfg.hidden = {128, 128};
  cfg.latent = 2;
  cfg.hidden_act = lk::Activation::ReLU;
  cfg.likelihood = lk::Likelihood::Gaussian;
  cfg.beta = 1.0f;
  return cfg;
}

struct NamedBlock {
  std::string name;
  size_t offset, count;
};

std::vector<NamedBlock> param_blocks(const lk::VaeLayout& L) {
  std::vector<NamedBlock> b;
  const size_t n_enc = L.encoder.size();
  const auto layers = L.layers();
  for (size_t i = 0; i < layers.size(); ++i) {
    const auto& l = *layers[i];
    std::string name = i < n_enc          ? "encoder." + std::to_string(i)
                       : i == n_enc       ? std::string("mu_head")
                       : i == n_enc + 1   ? std::string("logvar_head")
                                          : "decoder." + std::to_string(i - n_enc - 2);
    name += " (" + std::to_string(l.in) + "->" + std::to_string(l.out) + ")";
    b.push_back({name + " W", l.w_offset, static_cast<size_t>(l.in) * l.out});
    b.push_back({name + " b", l.b_offset, static_cast<size_t>(l.out)});
  }
  return b;
}

// Napkin math of one step (see the file comment).
void step_work(const lk::VaeLayout& L, int B, double& flops, double& bytes) {
  double macs = 0, io = 0;
  for (const auto* l : L.layers()) {
    macs += double(l->in) * l->out;
    io += double(l->in) + l->out;
  }
  const double first = double(L.encoder.front().in) * L.encoder.front().out;
  flops = 2.0 * B * macs + 4.0 * B * macs - 2.0 * B * first;
  bytes = 4.0 * (10.0 * static_cast<double>(L.param_count) + 3.0 * B * io);
}

double rms(const float* v, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; ++i) s += double(v[i]) * v[i];
  return n ? std::sqrt(s / double(n)) : 0.0;
}

void check(const std::string& what, const float* out, const float* ref, size_t n,
           lk::test::Tolerance tol) {
  const auto r = lk::test::all_close(out, ref, n, tol);
  if (!r) throw lk::Error("validation failed: " + what + ": " + r.message());
  std::printf("  ok   %-34s %s\n", what.c_str(), r.message());
}

// (a) validation: one forward_backward on both backends from identical weights, batch and noise.
//
// Tolerances. Gradients: float32 kernels vs the float64-accumulating reference differ by ~1e-6
// relative per op (K <= 128 reductions), compounded over ~12 dense ops; but a ReLU pre-activation
// that lands within rounding of 0 on one backend and not the other flips that unit's mask for that
// sample, which moves the affected dW row / db element by ~1/32 of a sample's contribution (a few
// %), and everything upstream of it a little. So the gradient check is loose: per layer block,
// rtol 5e-2, atol 1e-2 rms(block), rel_norm 1e-2 -- still far below the O(1) errors of a wrong
// index, a missing term or a wrong scale. Per-row losses come from the forward pass only, where a
// flipped mask changes nothing (the unit is ~0 either way): rtol 1e-3, atol 1e-4 rms, rel_norm
// 1e-4 (KL has a 1 + lv - exp(lv) cancellation, hence not tighter).
void validate_step(lk::Backend& gpu, const lk::VaeConfig& cfg, const std::vector<float>& xb) {
  std::printf("\n[step] validating one step's gradients, GPU vs CPU backend (same weights, batch, "
              "noise)\n");
  auto cpu = lk::make_cpu_backend();
  lk::Vae vc(*cpu, cfg, kBatch), vg(gpu, cfg, kBatch);
  const auto p0 = lk::init_vae_params(vc.layout(), kSeed);
  vc.set_params(p0);
  vg.set_params(p0);
  auto xc = cpu->upload(xb), xg = gpu.upload(xb);
  auto rc = cpu->alloc(kBatch), kc = cpu->alloc(kBatch), rg = gpu.alloc(kBatch),
       kg = gpu.alloc(kBatch);
  const uint32_t step = 7;  // any step: the noise is Philox(seed, Latent, step, index) on both
  vc.forward_backward(xc.data(), kBatch, kSeed, step, {rc.data(), kc.data()});
  vg.forward_backward(xg.data(), kBatch, kSeed, step, {rg.data(), kg.data()});
  const size_t P = vc.layout().param_count;
  const auto gc = cpu->download(vc.grads(), P), gg = gpu.download(vg.grads(), P);
  const auto rcv = cpu->download(rc.data(), kBatch), rgv = gpu.download(rg.data(), kBatch);
  const auto kcv = cpu->download(kc.data(), kBatch), kgv = gpu.download(kg.data(), kBatch);
  check("row losses: recon", rgv.data(), rcv.data(), kBatch,
        {1e-4 * rms(rcv.data(), kBatch) + 1e-30, 1e-3, 1e-4});
  check("row losses: kl", kgv.data(), kcv.data(), kBatch,
        {1e-4 * rms(kcv.data(), kBatch) + 1e-30, 1e-3, 1e-4});
  for (const auto& b : param_blocks(vc.layout())) {
    const double s = rms(gc.data() + b.offset, b.count);
    check("grad " + b.name, gg.data() + b.offset, gc.data() + b.offset, b.count,
          {1e-2 * s + 1e-30, 5e-2, 1e-2});
  }
  check("grad (all parameters)", gg.data(), gc.data(), P, {1e-2 * rms(gc.data(), P) + 1e-30,
                                                          5e-2, 1e-2});
}

// (a) timing: N steps between two events, per-step median.
BenchResult time_step(lk::Backend& gpu, const lk::VaeConfig& cfg, const std::vector<float>& xb,
                      const lk::bench::BenchOptions& opt, const lk::bench::Peaks& peaks,
                      cudaStream_t bench_stream) {
  lk::Vae vae(gpu, cfg, kBatch);
  vae.set_params(lk::init_vae_params(vae.layout(), kSeed));
  const size_t P = vae.layout().param_count;
  auto x = gpu.upload(xb);
  auto m = gpu.alloc(P), v = gpu.alloc(P), rec = gpu.alloc(kBatch), kl = gpu.alloc(kBatch);
  const lk::AdamConfig adam;  // lr 1e-3, torch defaults
  int64_t t = 0;
  const int N = opt.smoke ? 10 : 1000;  // steps per run: ~50 ms per run at ~50 us per step
  auto steps = [&](cudaStream_t) {
    for (int i = 0; i < N; ++i) {
      vae.forward_backward(x.data(), kBatch, kSeed, static_cast<uint32_t>(t), {rec.data(), kl.data()});
      ++t;
      gpu.adam_step(vae.params(), vae.grads(), m.data(), v.data(), P, adam, t);
    }
    gpu.synchronize();  // the stop event follows this, on the bench stream
  };
  lk::bench::TimingPlan defaults;
  defaults.warmup = 1;
  defaults.min_runs = 20;
  defaults.max_runs = 100;
  defaults.min_seconds = 1.0;
  defaults.flush_l2 = false;  // a training loop keeps its 140 KB of weights in L2: hot is real
  auto plan = lk::bench::plan_from(opt, defaults);
  plan.flush_l2 = false;
  gpu.synchronize();
  auto per_run = lk::bench::time_cuda(steps, bench_stream, plan);
  for (double& ms : per_run) ms /= N;
  double flops = 0, bytes = 0;
  step_work(vae.layout(), kBatch, flops, bytes);
  auto r = lk::bench::summarize("VAE step (fwd+bwd+Adam), batch 32, seed config", per_run, flops,
                                bytes, peaks);
  r.note = "per step: (" + std::to_string(N) +
           " steps between 2 events) / N, median of runs; hot L2; launch-bound";
  r.extra.push_back({"steps_per_run", N});
  r.extra.push_back({"steps_per_s", 1e3 / r.median_ms});
  r.extra.push_back({"params", static_cast<double>(P)});
  const auto last = gpu.download(rec.data(), kBatch);
  for (float f : last)
    LK_CHECK(std::isfinite(f), "the timed steps produced a non-finite loss: the step is broken");
  return r;
}

struct RunFigures {
  std::vector<double> seconds;  // per run, sorted
  std::vector<lk::EpochStats> history;  // of the last run
  int epochs = 0, n = 0;
  int64_t steps = 0;
};

// (b) / (c): the seed training run on one backend, wall clock.
RunFigures train_runs(lk::Backend& be, const lk::Dataset& data, int epochs, int runs) {
  RunFigures f;
  f.epochs = epochs;
  f.n = data.n;
  const auto cfg = seed_model(data.d);
  lk::TrainConfig tc;
  tc.epochs = epochs;
  tc.batch = kBatch;
  tc.seed = kSeed;
  for (int r = 0; r < runs; ++r) {
    lk::Vae vae(be, cfg, kBatch);
    vae.set_params(lk::init_vae_params(vae.layout(), kSeed));
    auto x = be.upload(data.x);
    lk::Trainer trainer(vae, x.data(), data.n, tc);
    be.synchronize();
    const auto t0 = Clock::now();
    while (trainer.epochs_done() < epochs) {
      const auto s = trainer.run_epoch();  // ends with the loss sums, which synchronise
      LK_CHECK(std::isfinite(s.loss), "training diverged at epoch " << s.epoch << " (loss "
                                                                    << s.loss << ")");
    }
    be.synchronize();
    f.seconds.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
    f.history = trainer.history();
    f.steps = trainer.steps_done();
    std::printf("  run %d: %.3f s, %lld steps, final loss %.4f (recon %.4f, kl %.4f)\n", r + 1,
                f.seconds.back(), static_cast<long long>(f.steps), f.history.back().loss,
                f.history.back().recon, f.history.back().kl);
    std::fflush(stdout);
  }
  std::sort(f.seconds.begin(), f.seconds.end());
  return f;
}

BenchResult run_result(const std::string& name, const RunFigures& f, double step_flops,
                       double step_bytes, const lk::bench::Peaks& peaks) {
  std::vector<double> ms;
  for (double s : f.seconds) ms.push_back(s * 1e3);
  auto r = lk::bench::summarize(name, ms, step_flops * f.steps, step_bytes * f.steps, peaks);
  const double samples = double(f.epochs) * f.n;
  r.extra.push_back({"epochs", f.epochs});
  r.extra.push_back({"n", f.n});
  r.extra.push_back({"steps", static_cast<double>(f.steps)});
  r.extra.push_back({"seconds", r.median_ms * 1e-3});
  r.extra.push_back({"samples_per_s", samples / (r.median_ms * 1e-3)});
  r.extra.push_back({"final_loss", f.history.back().loss});
  r.extra.push_back({"final_recon", f.history.back().recon});
  r.extra.push_back({"final_kl", f.history.back().kl});
  return r;
}

double extra_value(const BenchResult& r, const std::string& key) {
  for (const auto& [k, v] : r.extra)
    if (k == key) return v;
  return lk::bench::kNaN;
}

// (c) the CPU backend: one epoch, for context.
BenchResult cpu_epoch(const lk::Dataset& data, double step_flops, double step_bytes, int runs,
                      lk::EpochStats* epoch1) {
  std::printf("\n[cpu] one epoch of the seed run on the CPU backend (latentkit::ref), n = %d\n",
              data.n);
  auto cpu = lk::make_cpu_backend();
  const auto f = train_runs(*cpu, data, 1, runs);
  if (epoch1) *epoch1 = f.history.front();
  auto r = run_result("[CPU] one epoch of the seed run, n=" + std::to_string(data.n) + " (" +
                          std::to_string(f.steps) + " steps)",
                      f, step_flops, step_bytes, lk::bench::Peaks{});
  r.pct_peak_flops = r.pct_peak_bw = lk::bench::kNaN;  // GPU peaks do not apply to the CPU
  r.note = "CPU backend (latentkit::ref, float64 accumulation, 1 thread), host wall clock, "
           "median of " + std::to_string(runs) + " run(s): context, not a GPU figure";
  return r;
}

int bench_main(const lk::bench::BenchOptions& opt, const Extra& ex) {
  const auto spec = mixture_spec(opt.smoke);
  const auto data = lk::make_gaussian_mixture(spec, kSeed);
  const auto cfg = seed_model(data.d);
  double step_flops = 0, step_bytes = 0;
  step_work(lk::VaeLayout(cfg), kBatch, step_flops, step_bytes);
  const std::vector<float> xb(data.x.begin(), data.x.begin() + size_t(kBatch) * data.d);

  if (ex.cpu_only) {
    auto header = lk::bench::make_header("bench_vae --cpu-only", opt.smoke);
    header.device = "none used (CPU backend only)";
    std::printf("%s\n", header.line().c_str());
    lk::bench::Report report(header, lk::bench::Peaks{});
    report.add(cpu_epoch(data, step_flops, step_bytes,
                         opt.smoke ? 1 : (opt.runs > 0 ? opt.runs : 3), nullptr));
    report.note("CPU only (--cpu-only): one epoch of the seed run on the CPU backend, host wall "
                "clock, " + lk::bench::host_cpu_description() + ".");
    report.finish(opt);
    return 0;
  }
  if (!lk::bench::gpu_present_or_skip()) {
    std::printf("(bench_vae --cpu-only measures the CPU backend's epoch without a GPU)\n");
    return 0;
  }

  LK_CUDA_CHECK(cudaSetDevice(0));
  lk::cuda::Stream bench_stream;
  lk::bench::Report report = lk::bench::start_report("bench_vae", opt.smoke, bench_stream.get());
  const lk::bench::Peaks& peaks = report.peaks();
  auto gpu = lk::make_cuda_backend(0);
  std::printf("backend: %s\n", gpu->description().c_str());

  // (a) one step
  validate_step(*gpu, cfg, xb);
  std::printf("\n[step] timing\n");
  report.add(time_step(*gpu, cfg, xb, opt, peaks, bench_stream.get()));

  // (b) the whole run
  const int epochs = opt.smoke ? 1 : 100;
  const int runs = opt.smoke ? 1 : (opt.runs > 0 ? opt.runs : 3);
  std::printf("\n[run] the seed training run on the GPU: n = %d, %d epochs, batch %d, %d run(s)\n",
              data.n, epochs, kBatch, runs);
  const auto f = train_runs(*gpu, data, epochs, runs);
  auto run = run_result("VAE seed training run: " + std::to_string(epochs) + " epochs x n=" +
                            std::to_string(data.n) + " (" + std::to_string(f.steps) + " steps)",
                        f, step_flops, step_bytes, peaks);
  run.note = "host wall clock, median of " + std::to_string(runs) + " run(s)";

  // (c) CPU epoch for context, and the epoch-1 cross-check
  lk::EpochStats cpu1;
  auto cpu_row = cpu_epoch(data, step_flops, step_bytes, 1, &cpu1);
  const auto& gpu1 = f.history.front();
  const double rel = std::fabs(gpu1.loss - cpu1.loss) / std::max(1e-12, std::fabs(cpu1.loss));
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "Epoch-1 mean loss, GPU %.6f vs CPU backend %.6f: relative difference %.2e%s.",
                gpu1.loss, cpu1.loss, rel,
                rel > 0.05 ? " (WARNING: more than 5%, look into it)" : "");
  std::printf("%s\n", buf);
  report.note(buf);

  // peer
  if (!ex.peer_json.empty()) {
    const nlohmann::json pj = lk::bench::read_peer_json(ex.peer_json);
    BenchResult peer;
    peer.name = "PyTorch peer: " + pj.value("name", std::string("vae_torch")) + " on " +
                pj.value("device", std::string("?")) + " (torch " +
                pj.value("torch_version", std::string("?")) + ")";
    peer.runs = 1;
    peer.median_ms = peer.min_ms = peer.max_ms = pj.value("seconds", lk::bench::kNaN) * 1e3;
    const double peer_sps = pj.value("samples_per_s", lk::bench::kNaN);
    const int peer_epochs = pj.value("epochs", 0);
    peer.extra = {{"epochs", peer_epochs},
                  {"steps", pj.value("steps", 0.0)},
                  {"samples_per_s", peer_sps},
                  {"final_loss", pj.value("final_loss", lk::bench::kNaN)}};
    peer.note = "from " + ex.peer_json;
    run.peer = peer.name;
    run.ratio = extra_value(run, "samples_per_s") / peer_sps;  // samples/s: epochs may differ
    std::printf("latentkit vs PyTorch, seed training run: %.1f vs %.1f samples/s -> ratio %.3f "
                "(> 1: latentkit faster)%s\n",
                extra_value(run, "samples_per_s"), peer_sps, run.ratio,
                peer_epochs != epochs ? " [different epoch counts: compared per sample]" : "");
    report.add(run);
    report.add(peer);
  } else {
    report.add(run);
  }
  report.add(cpu_row);
  report.note("VAE step: events recorded on a bench stream around [N steps + Backend::synchronize()]"
              " because latentkit::Backend does not expose its stream; per-step = interval / N. "
              "The training run: host wall clock. Ratio vs the peer = samples/s latentkit / "
              "samples/s PyTorch (> 1: latentkit faster).");
  report.finish(opt);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Extra ex;
  return lk::bench::run_bench(
      argc, argv,
      "bench_vae: one seed-configuration VAE training step and the whole seed training run "
      "(100 epochs, 31,300 steps) on the CUDA backend, validated against the CPU backend; "
      "optionally compared with the PyTorch peer (bench/peers/vae_torch.py --json).",
      [&](CLI::App& app) {
        app.add_option("--peer-json", ex.peer_json,
                       "JSON written by bench/peers/vae_torch.py --json: report the ratio");
        app.add_flag("--cpu-only", ex.cpu_only,
                     "only the CPU backend's epoch (works without a GPU)");
      },
      [&](const lk::bench::BenchOptions& opt) { return bench_main(opt, ex); });
}
