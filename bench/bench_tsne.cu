// Benchmark of the t-SNE family (kernels/tsne.cu, kernels/tsne_fft.cu, latentkit::run_tsne):
//   - one optimiser iteration, exact: attraction over P + fused O(N^2) repulsion + update, at
//     N = 10000 in 2-D (the issue's "exact t-SNE of 10000 points" case);
//   - one optimiser iteration, FFT: attraction + bounds + FFT repulsion + update at N = 70000;
//   - end to end (affinities + PCA init + 1000 iterations, host wall clock): exact t-SNE of 10000
//     points of a 2-D 10-component mixture (the vae_gmm latent's shape; goal <= 1 s on an H100);
//   - end to end on Fashion-MNIST 70000 x 784 (kNN + P + PCA + 1000 iterations, goal <= 3 s on
//     an H100): train (60000) and test (10000) images together, in that order, read from the IDX
//     files of --fmnist-dir (default /usr/share/datasets/fashion-mnist: train-images-idx3-ubyte.gz
//     and t10k-images-idx3-ubyte.gz, pixels / 255; latentkit/io/idx.h). When a file is missing it
//     prints one line saying the pipeline was skipped and why. bench/peers/tsne_sklearn.py reads
//     the same files.
// Every kernel is validated against latentkit::ref (tests/test_util.h's all_close) before it is
// timed; a failure throws and the bench exits 1. Peer: scikit-learn's TSNE on the CPU
// (bench/peers/tsne_sklearn.py, run by bench/run_all.sh).
//
// Napkin math per iteration (N points, dims 2):
//   exact repulsion: N^2 pairs x ~12 flops (3 sub/fma for r^2, 1 add, 1 reciprocal counted as 1,
//     q^2, 2 fma for the force, 1 add for Z) = 1.2 GFLOP at N = 10000: compute-bound (~20 us at
//     60 TFLOP/s); bytes: Y read once per block of 256 rows from L2, counted once: 8N.
//   attraction: nnz (~N * 1.3 * 3 * perplexity) x ~10 flops; bytes ~ nnz * 8 (col + val) + gathers.
//   FFT: (d + 2) / 2 complex grids of L^2 doubles, forward + inverse, 5 L^2 log2(L^2) flops each.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "bench/harness.h"
#include "kernels/cuda_check.cuh"
#include "kernels/cuda_resources.cuh"
#include "kernels/tsne.cuh"
#include "latentkit/core/backend.h"
#include "latentkit/core/check.h"
#include "latentkit/io/data.h"
#include "latentkit/io/idx.h"
#include "latentkit/ref/tsne_ref.h"
#include "latentkit/families/tsne.h"
#include "tests/test_util.h"

namespace lk = latentkit;
using lk::bench::BenchResult;

namespace {

constexpr uint64_t kDataSeed = 20240601;  // fixed inputs: timings comparable between runs

void validate(const char* what, const std::vector<float>& out, const std::vector<float>& ref,
              lk::test::Tolerance tol) {
  const auto r = lk::test::all_close(out, ref, tol);
  LK_CHECK(static_cast<bool>(r), "validation of " << what << " failed: " << r.message());
  std::printf("validated %s: %s\n", what, r.message());
}

// A clustered embedding (as t-SNE makes them) of n points in [-spread, spread]^dims.
std::vector<float> clustered(int n, int dims, double spread) {
  std::mt19937_64 rng(kDataSeed);
  std::uniform_real_distribution<double> u(-spread, spread);
  std::normal_distribution<double> nd(0, spread / 20);
  std::vector<double> c(10 * dims);
  for (double& v : c) v = u(rng);
  std::vector<float> y(static_cast<size_t>(n) * dims);
  for (int i = 0; i < n; ++i)
    for (int a = 0; a < dims; ++a)
      y[i * dims + a] = static_cast<float>(c[(i % 10) * dims + a] + nd(rng));
  return y;
}

// kNN-like random sparse P: k random neighbours per row, symmetrised (the reference's code).
lk::ref::TsneCsr random_p(int n, int k) {
  std::mt19937_64 rng(kDataSeed + 1);
  std::uniform_int_distribution<int> pick(0, n - 1);
  std::vector<int32_t> idx(static_cast<size_t>(n) * k);
  std::vector<float> pc(idx.size(), 1.f / k);
  for (int i = 0; i < n; ++i)
    for (int m = 0; m < k; ++m) {
      int j = pick(rng);
      if (j == i) j = (j + 1) % n;
      idx[static_cast<size_t>(i) * k + m] = j;
    }
  return lk::ref::tsne_symmetrize(idx.data(), pc.data(), n, k);
}

void bench_iteration(bool exact, int n, const lk::bench::BenchOptions& opt,
                     const lk::bench::Peaks& peaks, lk::bench::Report& report,
                     cudaStream_t stream) {
  const int dims = 2, k = 90;  // 3 x perplexity 30
  const auto Y = clustered(n, dims, exact ? 30 : 60);
  const lk::ref::TsneCsr P = random_p(n, k);
  lk::cuda::DeviceBuffer<int32_t> rp(P.row_ptr.size()), cl(P.col.size());
  lk::cuda::DeviceBuffer<float> vl(P.val.size()), y(Y.size()), attr(Y.size()), rep(Y.size()),
      gains(Y.size()), upd(Y.size()), lo_hi(6);
  // On the stream the kernels run on: in order with them.
  rp.upload(P.row_ptr, stream);
  cl.upload(P.col, stream);
  vl.upload(P.val, stream);
  y.upload(Y, stream);
  gains.upload(std::vector<float>(Y.size(), 1.f), stream);
  LK_CUDA_CHECK(cudaMemsetAsync(upd.data(), 0, upd.bytes(), stream));
  lk::cuda::DeviceBuffer<double> z_rows(2 * static_cast<size_t>(n)), z(1);
  lk::cuda::TsneFftRepulsion fft;
  float lo[3], hi[3];
  lk::ref::tsne_bounds(Y.data(), n, dims, lo, hi);
  const lk::TsneFftGrid grid = lk::tsne_fft_grid(lk::TsneFftConfig{}, dims, lo, hi, true);

  // Validate the forces against the reference (on a 2048-point prefix for the exact O(N^2)
  // reference to stay quick: the kernel does not change with N).
  {
    const int nv = exact ? std::min(n, 2048) : n;
    std::vector<float> rep_ref(static_cast<size_t>(nv) * dims);
    if (exact) {
      lk::ref::tsne_repulsive_exact(Y.data(), nv, dims, rep_ref.data());
      lk::cuda::tsne_repulsive_exact(y.data(), nv, dims, rep.data(), z_rows.data(), z.data(),
                                     stream);
    } else {
      lk::ref::tsne_repulsive_fft(Y.data(), nv, dims, grid, rep_ref.data());
      fft.run(y.data(), nv, dims, grid, rep.data(), z.data(), stream);
    }
    std::vector<float> got = rep.download(stream);
    got.resize(rep_ref.size());
    double scale = 0;
    for (float v : rep_ref) scale = std::max(scale, std::fabs(double(v)));
    // Tolerances of tests/test_tsne_gpu.cu: float tiles (exact), cuFFT vs radix-2 rounding (FFT).
    validate(exact ? "exact repulsion" : "FFT repulsion", got, rep_ref,
             exact ? lk::test::Tolerance{1e-4 * scale, 1e-4, 1e-4}
                   : lk::test::Tolerance{1e-6 * scale, 1e-5, 1e-6});
  }

  auto iteration = [&](cudaStream_t s) {
    lk::cuda::tsne_attractive(rp.data(), cl.data(), vl.data(), y.data(), n, dims, attr.data(), s);
    if (exact) {
      lk::cuda::tsne_repulsive_exact(y.data(), n, dims, rep.data(), z_rows.data(), z.data(), s);
    } else {
      float lh[6];  // the host needs the bounds for the grid: one small copy per iteration
      lk::cuda::tsne_bounds(y.data(), n, dims, lo_hi.data(), s);
      LK_CUDA_CHECK(
          cudaMemcpyAsync(lh, lo_hi.data(), 4 * sizeof(float), cudaMemcpyDeviceToHost, s));
      LK_CUDA_CHECK(cudaStreamSynchronize(s));
      fft.run(y.data(), n, dims, lk::tsne_fft_grid(lk::TsneFftConfig{}, dims, lh, lh + dims, true),
              rep.data(), z.data(), s);
    }
    // learning rate 0: the embedding (and so the work) stays the same from run to run.
    lk::cuda::tsne_update(y.data(), attr.data(), rep.data(), z.data(), Y.size(), 1.f, 0.8f, 0.f,
                          0.01f, gains.data(), upd.data(), s);
  };
  lk::bench::TimingPlan defaults;
  defaults.flush_l2 = false;  // iterations run back to back: hot L2 is the real situation
  const auto t = lk::bench::time_cuda(iteration, stream, lk::bench::plan_from(opt, defaults));
  const double nnz = static_cast<double>(P.col.size());
  double flops = nnz * 10, bytes = nnz * 8 + 8.0 * n * 5;
  if (exact)
    flops += 12.0 * n * n;
  else {
    const double cells = double(grid.fft_size) * grid.fft_size;
    flops += 2 * 2 * 5 * cells * std::log2(cells) + 5 * cells * std::log2(cells);
    bytes += 3 * 2 * 16 * cells;
  }
  auto r = lk::bench::summarize(
      std::string(exact ? "iteration exact" : "iteration fft") + " N=" + std::to_string(n) + " 2-D",
      t, flops, bytes, peaks);
  r.note = exact
               ? "attraction + fused O(N^2) repulsion + update"
               : "attraction + bounds + FFT grid " + std::to_string(grid.fft_size) + "^2 + update";
  report.add(r);
}

BenchResult end_to_end(const std::string& name, lk::Backend& backend, const std::vector<float>& x,
                       int n, int d, const lk::TsneOptions& opt, int runs) {
  std::vector<double> ms;
  double kl = 0;
  for (int r = 0; r < runs; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    const lk::TsneResult res = lk::run_tsne(backend, x, n, d, opt);
    ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    kl = res.kl;
    std::printf("%s run %d: %.1f ms (affinities %.3f s, init %.3f s, optimise %.3f s), KL %.4f\n",
                name.c_str(), r + 1, ms.back(), res.seconds_affinities, res.seconds_init,
                res.seconds_optimize, res.kl);
  }
  std::sort(ms.begin(), ms.end());
  BenchResult b = lk::bench::summarize(name, ms, 0, 0, lk::bench::Peaks{});
  b.note = "host wall clock, KL " + std::to_string(kl) + " (" + std::to_string(opt.iterations) +
           " iterations)";
  b.extra.push_back({"kl", kl});
  b.extra.push_back({"per_iteration_ms", b.median_ms / std::max(1, opt.iterations)});
  return b;
}

}  // namespace

int main(int argc, char** argv) {
  return lk::bench::run_main([&]() -> int {
    lk::bench::BenchOptions opt;
    std::string fmnist_dir = "/usr/share/datasets/fashion-mnist";
    const int rc = lk::bench::parse_args(
        argc, argv,
        "bench_tsne: t-SNE per-iteration kernels (exact N=10000, FFT N=70000) and end to end "
        "(exact 10000 points; Fashion-MNIST 70000 x 784 from the IDX files of --fmnist-dir). "
        "Validates against the CPU reference first.",
        opt, [&](CLI::App& app) {
          app.add_option("--fmnist-dir", fmnist_dir,
                         "directory of Fashion-MNIST's train-images-idx3-ubyte.gz and "
                         "t10k-images-idx3-ubyte.gz");
        });
    if (rc >= 0) return rc;
    if (!lk::bench::gpu_present_or_skip()) return 0;

    LK_CUDA_CHECK(cudaSetDevice(0));
    const auto header = lk::bench::make_header("bench_tsne", opt.smoke);
    std::printf("%s\n", header.line().c_str());
    lk::cuda::Stream stream;
    const auto peaks = lk::bench::measure_peaks(opt.smoke, stream.get());
    lk::bench::Report report(header, peaks);

    bench_iteration(true, opt.smoke ? 1031 : 10000, opt, peaks, report, stream.get());
    bench_iteration(false, opt.smoke ? 4099 : 70000, opt, peaks, report, stream.get());

    auto gpu = lk::make_cuda_backend(0);
    {  // exact t-SNE of a 2-D 10-component mixture (the vae_gmm latent's shape)
      lk::GaussianMixtureSpec spec;
      spec.k = 10;
      spec.d = 2;
      spec.n = opt.smoke ? 1031 : 10000;
      const lk::Dataset data = lk::make_gaussian_mixture(spec, kDataSeed);
      lk::TsneOptions t;
      t.method = lk::TsneMethod::Exact;
      t.iterations = opt.smoke ? 50 : 1000;
      report.add(end_to_end("end to end exact N=" + std::to_string(spec.n) + " 2-D", *gpu, data.x,
                            data.n, data.d, t, opt.smoke ? 1 : 3));
    }
    const std::string train = fmnist_dir + "/train-images-idx3-ubyte.gz",
                      test = fmnist_dir + "/t10k-images-idx3-ubyte.gz";
    const bool have_train = std::ifstream(train).good(), have_test = std::ifstream(test).good();
    if (!have_train || !have_test) {
      const std::string missing = !have_train ? train : test;
      std::printf(
          "Fashion-MNIST pipeline skipped: %s not found (pass --fmnist-dir DIR holding "
          "train-images-idx3-ubyte.gz and t10k-images-idx3-ubyte.gz; Debian: apt install "
          "dataset-fashion-mnist)\n",
          missing.c_str());
      report.note("Fashion-MNIST pipeline skipped: " + missing + " not found");
    } else {
      // --smoke: the first 2000 training images only (the pipeline's code path, quickly).
      lk::IdxImages a = lk::read_idx_images(train, opt.smoke ? 2000 : -1);
      std::vector<float> x = std::move(a.pixels);
      int n = a.n;
      const int d = a.rows * a.cols;
      if (!opt.smoke) {
        const lk::IdxImages b = lk::read_idx_images(test);
        LK_CHECK(b.rows * b.cols == d, "Fashion-MNIST: train images are "
                                           << a.rows << "x" << a.cols << ", test " << b.rows << "x"
                                           << b.cols);
        x.insert(x.end(), b.pixels.begin(), b.pixels.end());
        n += b.n;
      }
      std::printf("Fashion-MNIST: %d images x %d pixels from %s\n", n, d, fmnist_dir.c_str());
      lk::TsneOptions t;
      t.iterations = opt.smoke ? 50 : 1000;
      report.add(end_to_end("end to end Fashion-MNIST N=" + std::to_string(n) + " x " +
                                std::to_string(d) + " -> 2-D (kNN + P + PCA + iterations)",
                            *gpu, x, n, d, t, opt.smoke ? 1 : 3));
    }
    report.note(
        "Goals (H100): exact t-SNE of 10000 points <= 1 s; Fashion-MNIST 70000 -> 2-D, "
        "1000 iterations, end to end <= 3 s. Peer: scikit-learn TSNE on the CPU "
        "(bench/peers/tsne_sklearn.py).");
    report.finish(opt);
    return 0;
  });
}
