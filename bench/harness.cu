// The benchmark harness (see bench/harness.h): flags, skip-without-GPU, CUDA-event timing, L2
// flush, the peaks measured on the device, and the markdown / JSON report.
// Exercised by every bench's `--smoke` CTest (label `gpu`).
#include "bench/harness.h"

#include <cublas_v2.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "kernels/cuda_check.cuh"
#include "kernels/cuda_resources.cuh"
#include "latentkit/core/check.h"
#include "latentkit/core/device.h"

#ifndef LATENTKIT_GIT_COMMIT
#define LATENTKIT_GIT_COMMIT "unknown"
#endif

namespace latentkit::bench {

// ---- command line ------------------------------------------------------------------------------

int parse_args(int argc, char** argv, const std::string& description, BenchOptions& opt,
               const std::function<void(CLI::App&)>& extra) {
  CLI::App app{description};
  app.add_flag("--smoke", opt.smoke,
               "tiny sizes and few runs (the CTest smoke test): checks that it runs, not speed");
  app.add_option("--runs", opt.runs, "timed runs per case (default: at least 20 and 0.5 s)")
      ->check(CLI::PositiveNumber);
  app.add_option("--json", opt.json_path, "write the results as JSON to FILE");
  app.add_option("--markdown", opt.markdown_path, "write the results as a markdown table to FILE");
  bool no_flush = false;
  app.add_flag("--no-flush-l2", no_flush,
               "hot timings: do not flush the L2 cache before every run (default: flush)");
  if (extra) extra(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  opt.flush_l2 = !no_flush;
  return -1;
}

bool gpu_present_or_skip() {
  if (cuda_device_count() > 0) return true;
  if (gpu_required())  // run_main prints it and the bench exits 1
    throw Error("no CUDA device (" + no_gpu_reason() +
                ") and LATENTKIT_REQUIRE_GPU is set: the benchmark fails instead of skipping");
  std::printf("no CUDA device (%s): benchmark skipped\n", no_gpu_reason().c_str());
  std::fflush(stdout);
  return false;
}

// ---- timing ------------------------------------------------------------------------------------

TimingPlan plan_from(const BenchOptions& opt, TimingPlan p) {
  if (opt.smoke) {
    p.warmup = 1;
    p.min_runs = p.max_runs = 2;
    p.min_seconds = 0;
  } else if (opt.runs > 0) {
    p.min_runs = p.max_runs = opt.runs;
    p.min_seconds = 0;
  }
  p.flush_l2 = p.flush_l2 && opt.flush_l2;
  return p;
}

namespace {

// A buffer twice the size of the L2 cache: writing all of it evicts everything a previous run
// left in L2 (H100: 50 MB L2 -> 100 MB written, ~40 us at ~3 TB/s; outside the timed interval).
cuda::DeviceBuffer<unsigned char>& flush_buffer() {
  static cuda::DeviceBuffer<unsigned char> buf = [] {
    int dev = 0, l2 = 0;
    LK_CUDA_CHECK(cudaGetDevice(&dev));
    LK_CUDA_CHECK(cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, dev));
    return cuda::DeviceBuffer<unsigned char>(std::max<size_t>(2 * static_cast<size_t>(l2), 1 << 20));
  }();
  return buf;
}

void flush_l2(cudaStream_t stream) {
  static int value = 0;
  auto& buf = flush_buffer();
  // A different byte each time so no layer can skip the write as redundant.
  LK_CUDA_CHECK(cudaMemsetAsync(buf.data(), (++value) & 0xff, buf.bytes(), stream));
}

}  // namespace

std::vector<double> time_cuda(const std::function<void(cudaStream_t)>& fn, cudaStream_t stream,
                              const TimingPlan& plan) {
  LK_CHECK(plan.batch >= 1 && plan.min_runs >= 1 && plan.max_runs >= plan.min_runs,
           "time_cuda: bad plan (batch " << plan.batch << ", runs " << plan.min_runs << ".."
                                         << plan.max_runs << ")");
  for (int i = 0; i < plan.warmup; ++i) fn(stream);
  LK_CUDA_CHECK(cudaStreamSynchronize(stream));
  LK_CUDA_CHECK(cudaGetLastError());

  cuda::Event start, stop;
  std::vector<double> ms;
  double measured_s = 0;
  while (static_cast<int>(ms.size()) < plan.min_runs ||
         (measured_s < plan.min_seconds && static_cast<int>(ms.size()) < plan.max_runs)) {
    if (plan.flush_l2) {
      flush_l2(stream);
      // Wait for the flush so the timed interval holds none of it, even when fn's work runs on
      // another stream that does not wait for this one.
      LK_CUDA_CHECK(cudaStreamSynchronize(stream));
    }
    start.record(stream);
    for (int b = 0; b < plan.batch; ++b) fn(stream);
    stop.record(stream);
    const double run_ms = stop.elapsed_ms_since(start);
    measured_s += run_ms * 1e-3;
    ms.push_back(run_ms / plan.batch);
  }
  LK_CUDA_CHECK(cudaGetLastError());
  std::sort(ms.begin(), ms.end());
  return ms;
}

std::vector<double> time_cuda(const std::function<void(cudaStream_t)>& fn, cudaStream_t stream,
                              int warmup, int min_runs, double min_seconds, bool flush) {
  TimingPlan p;
  p.warmup = warmup;
  p.min_runs = min_runs;
  p.max_runs = std::max(min_runs, p.max_runs);
  p.min_seconds = min_seconds;
  p.flush_l2 = flush;
  return time_cuda(fn, stream, p);
}

double percentile(const std::vector<double>& v, double pct) {
  if (v.empty()) return kNaN;
  const double pos = std::clamp(pct, 0.0, 100.0) / 100.0 * static_cast<double>(v.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - static_cast<double>(lo));
}

// ---- peaks -------------------------------------------------------------------------------------

namespace {

// kChains independent FMA chains per thread: an FP32 FMA has ~4 cycles of latency and an SM
// issues 4 warps' worth per cycle (128 lanes), so 8 independent chains per thread with 2048
// resident threads per SM keep the pipes full with plenty to spare. Values stay bounded (a < 1)
// so no denormals or infinities slow anything down; the store behind an impossible test keeps
// the compiler from deleting the loop.
constexpr int kChains = 8;

__global__ void fma_peak_kernel(float* out, int iters, float a, float b) {
  float x[kChains];
#pragma unroll
  for (int c = 0; c < kChains; ++c) x[c] = static_cast<float>(threadIdx.x + c) * 1e-3f;
#pragma unroll 4
  for (int i = 0; i < iters; ++i) {
#pragma unroll
    for (int c = 0; c < kChains; ++c) x[c] = fmaf(x[c], a, b);
  }
  float s = 0.f;
#pragma unroll
  for (int c = 0; c < kChains; ++c) s += x[c];
  if (s == -1.2345f) out[blockIdx.x * blockDim.x + threadIdx.x] = s;
}

}  // namespace

double Peaks::flops_gflops() const {
  if (std::isnan(fma_gflops)) return sgemm_gflops;
  if (std::isnan(sgemm_gflops)) return fma_gflops;
  return std::max(fma_gflops, sgemm_gflops);
}

Peaks measure_peaks(bool smoke, cudaStream_t stream) {
  Peaks pk;
  pk.smoke = smoke;
  int dev = 0, sms = 0;
  LK_CUDA_CHECK(cudaGetDevice(&dev));
  LK_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
  TimingPlan plan;
  plan.warmup = smoke ? 1 : 3;
  plan.min_runs = smoke ? 2 : 10;
  plan.max_runs = smoke ? 2 : 50;
  plan.min_seconds = smoke ? 0 : 0.3;
  plan.flush_l2 = false;  // the sizes below are far larger than L2 anyway

  {  // Copy bandwidth: 1 GiB D2D (20x an H100's 50 MB L2), counting the read and the write.
    pk.copy_bytes = smoke ? (size_t{16} << 20) : (size_t{1} << 30);
    cuda::DeviceBuffer<unsigned char> src(pk.copy_bytes), dst(pk.copy_bytes);
    LK_CUDA_CHECK(cudaMemsetAsync(src.data(), 1, src.bytes(), stream));
    const auto t = time_cuda(
        [&](cudaStream_t s) {
          LK_CUDA_CHECK(cudaMemcpyAsync(dst.data(), src.data(), src.bytes(),
                                        cudaMemcpyDeviceToDevice, s));
        },
        stream, plan);
    pk.copy_gbps = 2.0 * static_cast<double>(pk.copy_bytes) / (percentile(t, 50) * 1e-3) / 1e9;
  }
  {  // FMA throughput: sms*16 blocks of 256 threads (2 waves of full occupancy), kChains chains.
    const int threads = 256, blocks = sms * 16, iters = smoke ? 256 : 16384;
    cuda::DeviceBuffer<float> out(static_cast<size_t>(threads) * blocks);
    const auto t = time_cuda(
        [&](cudaStream_t s) {
          fma_peak_kernel<<<blocks, threads, 0, s>>>(out.data(), iters, 0.999999f, 1e-6f);
          LK_LAUNCH_CHECK();
        },
        stream, plan);
    // 2 flops per FMA.
    const double flops = 2.0 * kChains * iters * static_cast<double>(threads) * blocks;
    pk.fma_gflops = flops / (percentile(t, 50) * 1e-3) / 1e9;
  }
  {  // cuBLAS SGEMM n^3 with n = 8192: 2 n^3 = 1.1 TFLOP per call, ~20 ms on an H100.
    const int n = smoke ? 256 : 8192;
    pk.sgemm_n = n;
    const size_t nn = static_cast<size_t>(n) * n;
    cuda::DeviceBuffer<float> A(nn), B(nn), C(nn);
    // Any finite values do: 0x3c (bytes) gives floats of ~0.0115.
    LK_CUDA_CHECK(cudaMemsetAsync(A.data(), 0x3c, A.bytes(), stream));
    LK_CUDA_CHECK(cudaMemsetAsync(B.data(), 0x3c, B.bytes(), stream));
    cuda::CublasHandle blas(stream);
    const float one = 1.f, zero = 0.f;
    const auto t = time_cuda(
        [&](cudaStream_t) {
          LK_CUBLAS_CHECK(cublasSgemm(blas.get(), CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &one,
                                      A.data(), n, B.data(), n, &zero, C.data(), n));
        },
        stream, plan);
    pk.sgemm_gflops = 2.0 * n * static_cast<double>(n) * n / (percentile(t, 50) * 1e-3) / 1e9;
  }
  std::printf("measured peaks on this device%s:\n", smoke ? " (smoke sizes: not real peaks)" : "");
  std::printf("  D2D copy bandwidth   %10.1f GB/s  (cudaMemcpyAsync of %.0f MiB, read+write)\n",
              pk.copy_gbps, static_cast<double>(pk.copy_bytes) / (1 << 20));
  std::printf("  FP32 FMA kernel      %10.1f GFLOP/s\n", pk.fma_gflops);
  std::printf("  cuBLAS SGEMM %5d^3 %10.1f GFLOP/s\n", pk.sgemm_n, pk.sgemm_gflops);
  std::printf("  FP32 peak used for %%: %.1f GFLOP/s (the larger)\n", pk.flops_gflops());
  std::fflush(stdout);
  return pk;
}

// ---- results -----------------------------------------------------------------------------------

BenchResult summarize(const std::string& name, const std::vector<double>& t, double flops,
                      double bytes, const Peaks& peaks) {
  BenchResult r;
  r.name = name;
  r.runs = static_cast<int>(t.size());
  if (t.empty()) return r;
  r.median_ms = percentile(t, 50);
  r.min_ms = t.front();
  r.max_ms = t.back();
  r.noise_pct = (percentile(t, 90) - percentile(t, 10)) / r.median_ms * 100.0;
  r.flops = flops;
  r.bytes = bytes;
  const double s = r.median_ms * 1e-3;
  if (flops > 0) {
    r.gflops = flops / s / 1e9;
    r.pct_peak_flops = r.gflops / peaks.flops_gflops() * 100.0;
  }
  if (bytes > 0) {
    r.gbps = bytes / s / 1e9;
    r.pct_peak_bw = r.gbps / peaks.copy_gbps * 100.0;
  }
  return r;
}

void compare_with(BenchResult& r, const BenchResult& peer) {
  r.peer = peer.name;
  r.ratio = peer.median_ms / r.median_ms;
}

std::string host_cpu_description() {
  std::ifstream f("/proc/cpuinfo");
  std::string line, model = "unknown CPU";
  while (std::getline(f, line)) {
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) model = line.substr(line.find_first_not_of(" \t", colon + 1));
      break;
    }
  }
  return model + " (" + std::to_string(std::thread::hardware_concurrency()) + " hardware threads)";
}

RunHeader make_header(const std::string& bench_name, bool smoke) {
  RunHeader h;
  h.bench = bench_name;
  h.smoke = smoke;
  h.commit = LATENTKIT_GIT_COMMIT;
  int dev = 0;
  cudaDeviceProp prop{};
  if (cudaGetDevice(&dev) == cudaSuccess && cudaGetDeviceProperties(&prop, dev) == cudaSuccess) {
    h.device = prop.name;
    h.compute_capability = std::to_string(prop.major) + "." + std::to_string(prop.minor);
  } else {
    (void)cudaGetLastError();
    h.device = "none";
    h.compute_capability = "-";
  }
  (void)cudaDriverGetVersion(&h.driver_version);
  (void)cudaRuntimeGetVersion(&h.runtime_version);
  h.host_cpu = host_cpu_description();
  const std::time_t now = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  h.date_utc = buf;
  return h;
}

namespace {
std::string cuda_version(int v) {  // 12040 -> "12.4"
  return std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10);
}

std::string fmt(double v, const char* f = "%.4g") {
  if (std::isnan(v)) return "-";
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

nlohmann::json num(double v) { return std::isnan(v) ? nlohmann::json(nullptr) : nlohmann::json(v); }
}  // namespace

std::string RunHeader::line() const {
  std::ostringstream os;
  os << bench << " | device: " << device << " (cc " << compute_capability << ") | driver "
     << cuda_version(driver_version) << ", runtime " << cuda_version(runtime_version) << " | "
     << date_utc << " | commit " << commit << " | host " << host_cpu
     << (smoke ? " | SMOKE sizes: not figures to quote" : "");
  return os.str();
}

std::string Report::markdown() const {
  std::ostringstream os;
  os << "<!-- " << header_.line() << " -->\n\n";
  os << "**" << header_.line() << "**\n\n";
  if (std::isnan(peaks_.copy_gbps) && std::isnan(peaks_.flops_gflops())) {
    os << "No GPU peaks measured in this run (no GPU used): no % of peak figures.\n\n";
  } else {
    os << "Measured peaks (same device, same run" << (peaks_.smoke ? ", SMOKE sizes" : "")
       << "): D2D copy " << fmt(peaks_.copy_gbps, "%.1f") << " GB/s; FP32 "
       << fmt(peaks_.flops_gflops(), "%.1f") << " GFLOP/s (FMA kernel "
       << fmt(peaks_.fma_gflops, "%.1f") << ", SGEMM " << peaks_.sgemm_n << "^3 "
       << fmt(peaks_.sgemm_gflops, "%.1f") << ")\n\n";
  }
  os << "| benchmark | median ms | min ms | max ms | noise % | runs | GFLOP/s | GB/s | % peak FLOP/s "
        "| % peak BW | peer | ratio | note |\n";
  os << "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---|\n";
  for (const auto& r : results_) {
    os << "| " << r.name << " | " << fmt(r.median_ms) << " | " << fmt(r.min_ms) << " | "
       << fmt(r.max_ms) << " | " << fmt(r.noise_pct, "%.1f") << " | " << r.runs << " | "
       << fmt(r.gflops, "%.1f") << " | " << fmt(r.gbps, "%.1f") << " | "
       << fmt(r.pct_peak_flops, "%.2f") << " | " << fmt(r.pct_peak_bw, "%.2f") << " | "
       << (r.peer.empty() ? "-" : r.peer) << " | " << fmt(r.ratio, "%.3f") << " | " << r.note
       << " |\n";
  }
  os << "\nnoise = (p90 - p10) / median of the per-run timings; ratio = peer median / this median "
        "(> 1: latentkit faster).\n";
  for (const auto& n : notes_) os << "\n" << n << "\n";
  return os.str();
}

void Report::finish(const BenchOptions& opt) const {
  const std::string md = markdown();
  std::cout << "\n" << md << std::flush;
  if (!opt.markdown_path.empty()) {
    std::ofstream f(opt.markdown_path);
    LK_INPUT_CHECK(f, "cannot write --markdown file '" << opt.markdown_path << "'");
    f << md;
  }
  if (!opt.json_path.empty()) {
    nlohmann::json j;
    j["header"] = {{"bench", header_.bench},
                   {"device", header_.device},
                   {"compute_capability", header_.compute_capability},
                   {"driver_version", cuda_version(header_.driver_version)},
                   {"runtime_version", cuda_version(header_.runtime_version)},
                   {"date_utc", header_.date_utc},
                   {"commit", header_.commit},
                   {"host_cpu", header_.host_cpu},
                   {"smoke", header_.smoke}};
    j["peaks"] = {{"copy_gbps", num(peaks_.copy_gbps)},
                  {"copy_bytes", peaks_.copy_bytes},
                  {"fma_gflops", num(peaks_.fma_gflops)},
                  {"sgemm_gflops", num(peaks_.sgemm_gflops)},
                  {"sgemm_n", peaks_.sgemm_n},
                  {"flops_gflops", num(peaks_.flops_gflops())},
                  {"smoke", peaks_.smoke}};
    j["noise_definition"] = "(p90 - p10) / median * 100";
    j["ratio_definition"] = "peer median / this median (> 1: latentkit faster)";
    j["results"] = nlohmann::json::array();
    for (const auto& r : results_) {
      nlohmann::json e = {{"name", r.name},           {"median_ms", num(r.median_ms)},
                          {"min_ms", num(r.min_ms)},  {"max_ms", num(r.max_ms)},
                          {"noise_pct", num(r.noise_pct)}, {"runs", r.runs},
                          {"flops", r.flops},         {"bytes", r.bytes},
                          {"gflops", num(r.gflops)},  {"gbps", num(r.gbps)},
                          {"pct_peak_flops", num(r.pct_peak_flops)},
                          {"pct_peak_bw", num(r.pct_peak_bw)},
                          {"peer", r.peer},           {"ratio", num(r.ratio)},
                          {"note", r.note}};
      for (const auto& [k, v] : r.extra) e[k] = num(v);
      j["results"].push_back(std::move(e));
    }
    j["notes"] = notes_;
    std::ofstream f(opt.json_path);
    LK_INPUT_CHECK(f, "cannot write --json file '" << opt.json_path << "'");
    f << j.dump(2) << "\n";
  }
}

Report start_report(const std::string& bench_name, bool smoke, cudaStream_t stream) {
  RunHeader header = make_header(bench_name, smoke);
  std::printf("%s\n", header.line().c_str());
  const Peaks peaks = measure_peaks(smoke, stream);
  return Report(std::move(header), peaks);
}

nlohmann::json read_peer_json(const std::string& path) {
  std::ifstream in(path);
  LK_INPUT_CHECK(in, "cannot read --peer-json '" << path << "'");
  nlohmann::json j;
  try {
    in >> j;
  } catch (const std::exception& e) {
    throw InputError("--peer-json '" + path + "' is not JSON: " + e.what());
  }
  return j;
}

int run_main(const std::function<int()>& body) {
  try {
    return body();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}

int run_bench(int argc, char** argv, const std::string& description,
              const std::function<void(CLI::App&)>& extra,
              const std::function<int(const BenchOptions&)>& body) {
  return run_main([&]() -> int {
    BenchOptions opt;
    const int rc = parse_args(argc, argv, description, opt, extra);
    if (rc >= 0) return rc;
    return body(opt);
  });
}

}  // namespace latentkit::bench
