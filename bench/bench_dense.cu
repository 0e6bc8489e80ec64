// Benchmark of the dense family (kernels/dense.cu): latentkit::cuda::dense_forward and
// dense_backward on two paths,
//   custom : blas = nullptr (and no dz scratch): latentkit's tiled kernel at every size;
//   handle : a cuBLAS handle and a dz scratch buffer: the launcher's own dispatch, which sends
//            shapes of >= kDenseCublasMinMacs multiply-adds to cuBLAS + epilogue kernels and keeps
//            the custom kernel below (the note column says which one ran);
// and, as the peer, cuBLAS SGEMM alone for the same products (no bias, no activation: the floor
// the fused layer can be compared with; ratio = SGEMM median / latentkit median).
// Shapes: the seed VAE's layers at batch 32 (3->128, 128->128, 128->3, all ReLU here) and a large
// one (batch 65536, 256->256, ReLU); --smoke shrinks the large one to batch 1031 (odd, so tails
// are exercised, and still above kDenseCublasMinMacs so the cuBLAS path runs).
// Every path is validated against latentkit::ref::dense_forward<float> / dense_backward<float>
// (float64 accumulation) with tests/test_util.h's all_close before it is timed; a failure throws
// and the bench exits 1. Timings are cold by default (L2 flushed before every run).
//
// Napkin math per call (n rows, in -> out):
//   forward : flops = 2 n in out (one multiply-add per weight per row; bias + activation add
//             2 n out, ignored);  bytes = 4 (n in + out in + out + n out)   (X, W, b read; Y written)
//   backward: flops = 4 n in out (dX = dZ W and dW = dZ^T X, 2 n in out each; dZ and db add
//             2 n out, ignored);   bytes = 4 (n in + out in + 2 n out + n in + out in + out)
//             (X, W, Y, dY read; dX, dW, db written; the cuBLAS path's dZ round trip through the
//             scratch buffer is not counted: bytes are the operands moved once)
//   e.g. 65536 x 256 -> 256: forward 8.6 GFLOP and 134 MB, 64 flops/byte: compute-bound on an
//   H100 (~60 TFLOP/s FP32 / ~3 TB/s = 20 flops/byte); 32 x 128 -> 128: 1 MFLOP and 82 KB,
//   a few microseconds of launch overhead dominate.
#include <cfloat>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "bench/harness.h"
#include "kernels/cuda_check.cuh"
#include "kernels/cuda_resources.cuh"
#include "kernels/dense.cuh"
#include "latentkit/core/check.h"
#include "latentkit/ref/ops_ref.h"
#include "tests/test_util.h"

namespace lk = latentkit;
using lk::Activation;
using lk::bench::BenchResult;

namespace {

struct Shape {
  const char* label;
  int n, in, out;
  Activation act;
};

// Fixed seed of the random operands: the same inputs every run, so timings are comparable.
constexpr uint64_t kDataSeed = 20240601;

double rms(const std::vector<float>& v) {
  double s = 0;
  for (float x : v) s += static_cast<double>(x) * x;
  return v.empty() ? 0.0 : std::sqrt(s / static_cast<double>(v.size()));
}

// Tolerance for a K-long float32 reduction of products a*b against the float64 reference.
// Rounding errors of a K-term float sum random-walk: ~sqrt(K) eps |partial sums|, and partial
// sums of K random-sign products are ~sqrt(K) rms(a) rms(b), so
//   atol = 4 K eps rms(a) rms(b)       (elements that cancel to ~0)
//   rtol = rel_norm = 4 sqrt(K) eps    (the rest; 4 = margin for blocked/split-K orders)
// with eps = FLT_EPSILON; K+1 covers the bias term of the forward pass.
lk::test::Tolerance reduction_tolerance(int K, double rms_a, double rms_b) {
  const double k = K + 1.0;
  const double rel = 4.0 * std::sqrt(k) * FLT_EPSILON;
  return {4.0 * k * FLT_EPSILON * rms_a * rms_b + 1e-30, rel, rel};
}

void validate(const std::string& what, const std::vector<float>& out,
              const std::vector<float>& ref, lk::test::Tolerance tol) {
  const auto r = lk::test::all_close(out, ref, tol);
  if (!r) throw lk::Error("validation failed: " + what + ": " + r.message());
  std::printf("  ok   %-44s %s\n", what.c_str(), r.message());
}

std::vector<float> uniform(size_t n, std::mt19937_64& rng, double bound) {
  std::uniform_real_distribution<double> u(-bound, bound);
  std::vector<float> v(n);
  for (auto& x : v) x = static_cast<float>(u(rng));
  return v;
}

std::string shape_name(const Shape& s) {
  return std::to_string(s.n) + "x" + std::to_string(s.in) + "->" + std::to_string(s.out) + " " +
         lk::enum_name(s.act);
}

// Fills a device buffer with NaN (all bits set) so elements a kernel fails to write fail validation.
template <class T>
void poison(lk::cuda::DeviceBuffer<T>& b, cudaStream_t s) {
  LK_CUDA_CHECK(cudaMemsetAsync(b.data(), 0xff, b.bytes(), s));
}

void bench_shape(const Shape& sh, const lk::bench::BenchOptions& opt, const lk::bench::Peaks& peaks,
                 lk::bench::Report& report, cudaStream_t stream, cublasHandle_t blas) {
  using lk::cuda::DeviceBuffer;
  const int n = sh.n, in = sh.in, out = sh.out;
  const size_t nx = size_t(n) * in, nw = size_t(out) * in, ny = size_t(n) * out;
  std::printf("\n[%s] validating against latentkit::ref (float64 accumulation)\n",
              shape_name(sh).c_str());

  // ---- operands: X, dY ~ U(-1,1); W, b ~ torch.nn.Linear's init U(-1/sqrt(in), 1/sqrt(in)) ----
  std::mt19937_64 rng(kDataSeed + n * 131 + in * 7 + out);
  const double wb = 1.0 / std::sqrt(static_cast<double>(in));
  const auto X = uniform(nx, rng, 1.0), W = uniform(nw, rng, wb), b = uniform(out, rng, wb),
             dY = uniform(ny, rng, 1.0);

  // ---- reference; its Y feeds both backward passes so the ReLU masks agree exactly ----
  std::vector<float> Yr(ny), dXr(nx), dWr(nw), dbr(out);
  lk::ref::dense_forward<float>(X.data(), W.data(), b.data(), Yr.data(), n, in, out, sh.act,
                                lk::kDefaultLeakySlope);
  lk::ref::dense_backward<float>(X.data(), W.data(), Yr.data(), dY.data(), dXr.data(), dWr.data(),
                                 dbr.data(), n, in, out, sh.act, lk::kDefaultLeakySlope, false);
  // dZ = dY * act'(Y) for ReLU (what the reference used), for the tolerances and the SGEMM peer.
  LK_CHECK(sh.act == Activation::ReLU || sh.act == Activation::Identity,
           "bench_dense: the SGEMM peer models only ReLU / identity");
  std::vector<float> dZ(ny);
  for (size_t i = 0; i < ny; ++i)
    dZ[i] = (sh.act == Activation::Identity || Yr[i] > 0.f) ? dY[i] : 0.f;
  const auto tol_y = reduction_tolerance(in, rms(X), rms(W));
  const auto tol_dx = reduction_tolerance(out, rms(dZ), rms(W));
  const auto tol_dw = reduction_tolerance(n, rms(dZ), rms(X));
  const auto tol_db = reduction_tolerance(n, rms(dZ), 1.0);

  // Device copies: the _d suffix marks device memory.
  DeviceBuffer<float> X_d(nx), W_d(nw), b_d(out), dY_d(ny), Y_d(ny), Yref_d(ny), dX_d(nx),
      dW_d(nw), db_d(out), dZ_d(ny), scratch_d(ny), Z_d(ny);
  // On the stream the kernels run on: in order with them.
  X_d.upload(X, stream);
  W_d.upload(W, stream);
  b_d.upload(b, stream);
  dY_d.upload(dY, stream);
  Yref_d.upload(Yr, stream);
  dZ_d.upload(dZ, stream);
  const float* Xd = X_d.data();
  const float* Wd = W_d.data();
  const float* bd = b_d.data();
  const float slope = lk::kDefaultLeakySlope;

  // ---- napkin math (see the file comment) ----
  const double macs = double(n) * in * out;
  const double fwd_flops = 2 * macs, bwd_flops = 4 * macs;
  const double fwd_bytes = 4.0 * (nx + nw + out + ny);
  const double bwd_bytes = 4.0 * (nx + nw + 2.0 * ny + nx + nw + out);
  const double peer_fwd_bytes = 4.0 * (nx + nw + ny);
  const double peer_bwd_bytes = 4.0 * (ny + nw + nx + nx + nw);

  lk::bench::TimingPlan defaults;
  defaults.flush_l2 = true;
  const auto plan = lk::bench::plan_from(opt, defaults);
  const char* mode = plan.flush_l2 ? "cold L2" : "hot L2";

  // ---- the two latentkit paths ----
  struct Path {
    const char* name;
    cublasHandle_t blas;
    float* scratch;
    size_t scratch_count;
  };
  const bool big = macs >= static_cast<double>(lk::cuda::kDenseCublasMinMacs);
  const Path paths[] = {{"custom", nullptr, nullptr, 0},
                        {"handle", blas, scratch_d.data(), scratch_d.size()}};
  std::vector<BenchResult> fwd_rows, bwd_rows;
  for (const Path& p : paths) {
    const std::string ran = (p.blas && big) ? "cuBLAS+epilogue" : "custom kernel";
    const std::string tag = shape_name(sh) + " " + p.name;
    // validate
    poison(Y_d, stream);
    lk::cuda::dense_forward(Xd, Wd, bd, Y_d.data(), n, in, out, sh.act, slope, p.blas, stream);
    validate("fwd " + tag + " Y", Y_d.download(stream), Yr, tol_y);
    poison(dX_d, stream);
    poison(dW_d, stream);
    poison(db_d, stream);
    lk::cuda::dense_backward(Xd, Wd, Yref_d.data(), dY_d.data(), dX_d.data(), dW_d.data(),
                             db_d.data(), n, in, out, sh.act, slope, false, p.scratch,
                             p.scratch_count, p.blas, stream);
    validate("bwd " + tag + " dX", dX_d.download(stream), dXr, tol_dx);
    validate("bwd " + tag + " dW", dW_d.download(stream), dWr, tol_dw);
    validate("bwd " + tag + " db", db_d.download(stream), dbr, tol_db);
    // time
    auto tf = lk::bench::time_cuda(
        [&](cudaStream_t s) {
          lk::cuda::dense_forward(Xd, Wd, bd, Y_d.data(), n, in, out, sh.act, slope, p.blas, s);
        },
        stream, plan);
    auto rf = lk::bench::summarize("dense fwd " + tag, tf, fwd_flops, fwd_bytes, peaks);
    rf.note = ran + ", " + mode;
    fwd_rows.push_back(rf);
    auto tb = lk::bench::time_cuda(
        [&](cudaStream_t s) {
          lk::cuda::dense_backward(Xd, Wd, Yref_d.data(), dY_d.data(), dX_d.data(), dW_d.data(),
                                   db_d.data(), n, in, out, sh.act, slope, false, p.scratch,
                                   p.scratch_count, p.blas, s);
        },
        stream, plan);
    auto rb = lk::bench::summarize("dense bwd " + tag, tb, bwd_flops, bwd_bytes, peaks);
    rb.note = ran + ", " + mode;
    bwd_rows.push_back(rb);
  }

  // ---- the peer: cuBLAS SGEMM alone (row-major operands seen column-major, as dense.cu) ----
  const float one = 1.f, zero = 0.f;
  // Z[n,out] = X W^T  <=>  col-major Z^T(out x n) = W^T(out x in, stored W[out,in]) X^T(in x n).
  auto sgemm_fwd = [&](cudaStream_t) {
    LK_CUBLAS_CHECK(cublasSgemm(blas, CUBLAS_OP_T, CUBLAS_OP_N, out, n, in, &one, Wd, in, Xd, in,
                                &zero, Z_d.data(), out));
  };
  // dX[n,in] = dZ W  <=>  dX^T(in x n) = W^T(in x out) dZ^T(out x n);
  // dW[out,in] = dZ^T X  <=>  dW^T(in x out) = X^T(in x n) dZ(n x out).
  auto sgemm_bwd = [&](cudaStream_t) {
    LK_CUBLAS_CHECK(cublasSgemm(blas, CUBLAS_OP_N, CUBLAS_OP_N, in, n, out, &one, Wd, in,
                                dZ_d.data(), out, &zero, dX_d.data(), in));
    LK_CUBLAS_CHECK(cublasSgemm(blas, CUBLAS_OP_N, CUBLAS_OP_T, in, out, n, &one, Xd, in,
                                dZ_d.data(), out, &zero, dW_d.data(), in));
  };
  LK_CUBLAS_CHECK(cublasSetStream(blas, stream));
  {  // validate: act(Z + b) against the reference Y; dX, dW from the reference's dZ.
    poison(Z_d, stream);
    sgemm_fwd(stream);
    auto z = Z_d.download(stream);
    for (size_t r = 0; r < size_t(n); ++r)
      for (int j = 0; j < out; ++j) {
        float& v = z[r * out + j];
        v += b[j];
        if (sh.act == Activation::ReLU && !(v > 0.f)) v = 0.f;
      }
    validate("fwd " + shape_name(sh) + " SGEMM(+host epilogue)", z, Yr, tol_y);
    poison(dX_d, stream);
    poison(dW_d, stream);
    sgemm_bwd(stream);
    validate("bwd " + shape_name(sh) + " SGEMM dX", dX_d.download(stream), dXr, tol_dx);
    validate("bwd " + shape_name(sh) + " SGEMM dW", dW_d.download(stream), dWr, tol_dw);
  }
  auto pf = lk::bench::summarize("SGEMM fwd " + shape_name(sh) + " (peer)",
                                 lk::bench::time_cuda(sgemm_fwd, stream, plan), fwd_flops,
                                 peer_fwd_bytes, peaks);
  pf.note = std::string("cuBLAS X W^T only, ") + mode;
  auto pb = lk::bench::summarize("SGEMM bwd " + shape_name(sh) + " (peer)",
                                 lk::bench::time_cuda(sgemm_bwd, stream, plan), bwd_flops,
                                 peer_bwd_bytes, peaks);
  pb.note = std::string("cuBLAS dZ W + dZ^T X only, ") + mode;
  for (auto& r : fwd_rows) {
    lk::bench::compare_with(r, pf);
    report.add(r);
  }
  report.add(pf);
  for (auto& r : bwd_rows) {
    lk::bench::compare_with(r, pb);
    report.add(r);
  }
  report.add(pb);
}

int bench_main(const lk::bench::BenchOptions& opt) {
  if (!lk::bench::gpu_present_or_skip()) return 0;

  LK_CUDA_CHECK(cudaSetDevice(0));
  lk::cuda::Stream stream;
  lk::cuda::CublasHandle blas(stream.get());
  lk::bench::Report report = lk::bench::start_report("bench_dense", opt.smoke, stream.get());
  const lk::bench::Peaks& peaks = report.peaks();

  std::vector<Shape> shapes = {
      {"seed enc 1", 32, 3, 128, Activation::ReLU},
      {"seed enc 2", 32, 128, 128, Activation::ReLU},
      {"seed dec out", 32, 128, 3, Activation::ReLU},
      {"large", opt.smoke ? 1031 : 65536, 256, 256, Activation::ReLU},
  };
  for (const auto& sh : shapes) bench_shape(sh, opt, peaks, report, stream.get(), blas.get());
  report.note(
      "Paths: custom = blas nullptr (latentkit kernel at every size); handle = cuBLAS "
      "handle + dz scratch, the launcher dispatches to cuBLAS at >= " +
      std::to_string(lk::cuda::kDenseCublasMinMacs) +
      " multiply-adds (kDenseCublasMinMacs). The peer is cuBLAS SGEMM without bias or "
      "activation. Every row was validated against latentkit::ref before timing.");
  report.finish(opt);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return lk::bench::run_bench(
      argc, argv,
      "bench_dense: latentkit dense forward/backward (custom kernel and cuBLAS dispatch) vs "
      "cuBLAS SGEMM, at the seed VAE's shapes and a large one. Validates against the CPU "
      "reference first.",
      {}, bench_main);
}
