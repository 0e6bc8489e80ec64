// The benchmark harness shared by bench/bench_*.cu (nvbench's habits, none of its weight):
//  - common flags: --smoke (tiny sizes, few runs: what CTest runs), --runs N, --json FILE,
//    --markdown FILE, --no-flush-l2; a bench adds its own through the parse callback;
//  - gpu_present_or_skip(): prints "no CUDA device (<reason>): benchmark skipped", so a bench exits 0
//    on a machine without a GPU (the CTest smoke tests labelled `gpu` pass there);
//  - time_cuda(): warm-up, then CUDA events around every run (optionally a batch of calls per run,
//    for launch-bound work), L2 flushed before each run on request, sorted per-call timings;
//  - measure_peaks(): the device's own ceilings measured in the same process: device-to-device
//    copy bandwidth and FP32 FMA throughput (an FMA-bound kernel and cuBLAS SGEMM, the larger);
//  - BenchResult / summarize(): median, min, max, noise, GFLOP/s, GB/s and % of those peaks from
//    the flops and bytes each bench declares per call (its napkin math sits beside the numbers);
//  - Report: a header line (device, compute capability, driver/runtime, date, git commit), the
//    markdown table on stdout, and --json / --markdown files; start_report() opens a GPU bench's;
//  - read_peer_json(): the figures a peer script (bench/peers/*.py --json) wrote, for --peer-json.
//    Without a device the header says device "none"; rows measured on the CPU say so in their name.
// The harness has no test of its own: every bench runs as a `--smoke` CTest (label `gpu`), and
// every bench validates its kernels against latentkit::ref before it times anything.
#pragma once
#include <cuda_runtime.h>

#include <cmath>
#include <cstddef>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace CLI {
class App;
}

namespace latentkit::bench {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// ---- command line ------------------------------------------------------------------------------
struct BenchOptions {
  bool smoke = false;         // tiny sizes and few runs, for CTest: checks that it runs, not speed
  int runs = 0;               // 0: the bench's default (min runs + min seconds); N: exactly N runs
  std::string json_path;      // --json FILE
  std::string markdown_path;  // --markdown FILE
  bool flush_l2 = true;       // cold timings (L2 flushed before every run) unless --no-flush-l2
};

// Parses the common flags plus whatever `extra` adds. Returns -1 to go on, or the exit code to
// return from main (0 after --help, 2 for bad flags, with CLI11's message printed).
int parse_args(int argc, char** argv, const std::string& description, BenchOptions& opt,
               const std::function<void(CLI::App&)>& extra = {});

// True when a CUDA device is usable. Otherwise prints
//   "no CUDA device (<reason>): benchmark skipped"
// to stdout and returns false; the caller then returns 0. With LATENTKIT_REQUIRE_GPU=1
// (latentkit::gpu_required()) it throws instead, so the bench exits 1.
bool gpu_present_or_skip();

// ---- timing ------------------------------------------------------------------------------------
struct TimingPlan {
  int warmup = 3;            // untimed calls first (clocks up, caches and cuBLAS heuristics warm)
  int min_runs = 20;         // at least this many timed runs ...
  double min_seconds = 0.5;  // ... and at least this much measured GPU time in all ...
  int max_runs = 1000;       // ... but never more runs than this (tiny kernels would need 100k+)
  int batch = 1;             // calls per run between the two events; the time is divided by it
  bool flush_l2 = false;     // write a buffer of 2x the L2 size before each run
};

// The plan a bench uses for one case: its defaults, or exactly --runs N runs, or smoke's 2 runs.
TimingPlan plan_from(const BenchOptions& opt, TimingPlan defaults);

// Times fn(stream): plan.warmup calls, then runs of plan.batch calls bracketed by two CUDA events
// recorded on `stream`, until the plan is met. Returns milliseconds per call, sorted ascending.
// fn must enqueue its work on `stream` (or synchronise whatever stream it used before it returns:
// the stop event is recorded on `stream` once fn returns).
std::vector<double> time_cuda(const std::function<void(cudaStream_t)>& fn, cudaStream_t stream,
                              const TimingPlan& plan);

// The signature the brief of this harness asked for: same as above with batch 1.
std::vector<double> time_cuda(const std::function<void(cudaStream_t)>& fn, cudaStream_t stream,
                              int warmup, int min_runs, double min_seconds, bool flush_l2);

// Percentile (0..100) of sorted values, linear interpolation between neighbours.
double percentile(const std::vector<double>& sorted, double pct);

// ---- peaks measured on this device in this run -------------------------------------------------
struct Peaks {
  double copy_gbps = kNaN;     // cudaMemcpyAsync D2D, (read + write) bytes / median time
  double fma_gflops = kNaN;    // FMA-bound kernel, 2 flops per FMA / median time
  double sgemm_gflops = kNaN;  // cuBLAS SGEMM n^3 (FP32, default math mode: no TF32)
  size_t copy_bytes = 0;       // size of the copied buffer (moved bytes are twice this)
  int sgemm_n = 0;
  bool smoke = false;          // measured at smoke sizes: not meaningful as peaks
  double flops_gflops() const;  // the larger of fma and sgemm
};

// Measures and prints the peaks (one line each) on the current device, on `stream`.
Peaks measure_peaks(bool smoke, cudaStream_t stream);

// ---- results -----------------------------------------------------------------------------------
struct BenchResult {
  std::string name;
  double median_ms = kNaN, min_ms = kNaN, max_ms = kNaN;
  double noise_pct = kNaN;  // (p90 - p10) / median * 100: the spread of the middle 80% of runs
  int runs = 0;
  double flops = 0;  // declared per call (0: not meaningful for this case)
  double bytes = 0;  // declared per call: operands read + written once (0: not meaningful)
  double gflops = kNaN, gbps = kNaN;
  double pct_peak_flops = kNaN, pct_peak_bw = kNaN;
  std::string peer;        // what this case is compared with, if anything
  double ratio = kNaN;     // peer median / this median: > 1 means latentkit is faster
  std::string note;        // path taken, timing mode, units of an unusual row
  std::vector<std::pair<std::string, double>> extra;  // more figures, written to the JSON
};

// Fills a result from sorted timings (ms per call) and the declared work per call.
BenchResult summarize(const std::string& name, const std::vector<double>& sorted_ms, double flops,
                      double bytes, const Peaks& peaks);

// Sets r.peer and r.ratio = peer.median_ms / r.median_ms.
void compare_with(BenchResult& r, const BenchResult& peer);

// Device, driver, date and commit: the first line of every report.
struct RunHeader {
  std::string bench, device, compute_capability, date_utc, commit;
  std::string host_cpu;  // /proc/cpuinfo's model name and the hardware thread count
  int driver_version = 0, runtime_version = 0;
  bool smoke = false;
  std::string line() const;
};
RunHeader make_header(const std::string& bench_name, bool smoke);
std::string host_cpu_description();

class Report {
 public:
  Report(RunHeader header, Peaks peaks) : header_(std::move(header)), peaks_(peaks) {}
  void add(BenchResult r) { results_.push_back(std::move(r)); }
  const Peaks& peaks() const { return peaks_; }
  std::vector<BenchResult>& results() { return results_; }
  // A free-form line printed under the table and kept in the JSON's "notes".
  void note(const std::string& line) { notes_.push_back(line); }
  // Prints the table to stdout and writes the files named in opt. Throws on a file it cannot
  // write.
  void finish(const BenchOptions& opt) const;
  std::string markdown() const;

 private:
  RunHeader header_;
  Peaks peaks_;
  std::vector<BenchResult> results_;
  std::vector<std::string> notes_;
};

// The opening of every GPU bench, after gpu_present_or_skip() and cudaSetDevice(): prints the
// header line (make_header), measures the peaks on `stream` and returns the report to fill.
Report start_report(const std::string& bench_name, bool smoke, cudaStream_t stream);

// The JSON file a peer script wrote (--peer-json FILE). Throws InputError when it cannot be read
// or is not JSON.
nlohmann::json read_peer_json(const std::string& path);

// Runs body() and turns latentkit errors into a message and exit code 1 (validation failures
// throw latentkit::Error too). Keeps every bench's main() to a few lines.
int run_main(const std::function<int()>& body);

// A bench's whole main(): inside run_main, parse_args (the common flags plus what `extra` adds;
// --help and bad flags return their exit code), then body(options).
//   int main(int argc, char** argv) {
//     return lk::bench::run_bench(argc, argv, "bench_x: ...", {},
//                                 [&](const lk::bench::BenchOptions& opt) { ...; return 0; });
//   }
int run_bench(int argc, char** argv, const std::string& description,
              const std::function<void(CLI::App&)>& extra,
              const std::function<int(const BenchOptions&)>& body);

}  // namespace latentkit::bench
