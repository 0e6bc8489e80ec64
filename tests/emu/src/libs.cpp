// Stand-ins for the CUDA libraries latentkit calls, in the emulated-GPU build (tests/emu/README.md):
// cuBLAS Sgemm/Dsyrk on OpenBLAS's CBLAS and cuFFT Z2Z plans on FFTW. Each call checks its
// arguments and device pointers now and queues the work on its stream, so stream order is the
// same as with the real libraries. Numerics differ from cuBLAS/cuFFT only by rounding (another
// summation order), which the tests' tolerances already allow for.
#include <cblas.h>
#include <fftw3.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <map>
#include <vector>

#include "cublas_v2.h"
#include "cufft.h"

extern "C" void openblas_set_num_threads(int);

struct cublasContext {
  cudaStream_t stream = nullptr;
};

namespace {
cublasStatus_t blas_fail(cublasStatus_t st, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
cublasStatus_t blas_fail(cublasStatus_t st, const char* fmt, ...) {
  std::fprintf(stderr, "[emulated GPU] cuBLAS: ");
  va_list ap;
  va_start(ap, fmt);
  std::vfprintf(stderr, fmt, ap);
  va_end(ap);
  std::fputc('\n', stderr);
  return st;
}
// Bytes spanned by a column-major rows x cols matrix with leading dimension ld.
size_t span(int rows, int cols, int ld, size_t elem) {
  if (rows <= 0 || cols <= 0) return 0;
  return (size_t(cols - 1) * size_t(ld) + size_t(rows)) * elem;
}
}  // namespace

cublasStatus_t cublasCreate(cublasHandle_t* handle) {
  // One BLAS thread: the emulated device is single-threaded, and results stay reproducible.
  static const bool once = (openblas_set_num_threads(1), true);
  (void)once;
  *handle = new cublasContext;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasDestroy(cublasHandle_t handle) {
  delete handle;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetStream(cublasHandle_t handle, cudaStream_t stream) {
  if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
  handle->stream = stream;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasGetStream(cublasHandle_t handle, cudaStream_t* stream) {
  if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
  *stream = handle->stream;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetMathMode(cublasHandle_t handle, cublasMath_t) {
  return handle ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_NOT_INITIALIZED;
}
const char* cublasGetStatusName(cublasStatus_t s) {
  switch (s) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
  }
  return "CUBLAS_STATUS_UNKNOWN";
}
const char* cublasGetStatusString(cublasStatus_t s) {
  switch (s) {
    case CUBLAS_STATUS_SUCCESS: return "success";
    case CUBLAS_STATUS_INVALID_VALUE: return "an unsupported value or parameter was passed";
    case CUBLAS_STATUS_ALLOC_FAILED: return "resource allocation failed";
    default: return cublasGetStatusName(s);
  }
}

cublasStatus_t cublasSgemm(cublasHandle_t handle, cublasOperation_t ta, cublasOperation_t tb, int m,
                           int n, int k, const float* alpha, const float* A, int lda,
                           const float* B, int ldb, const float* beta, float* C, int ldc) {
  if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
  const int a_rows = ta == CUBLAS_OP_N ? m : k, a_cols = ta == CUBLAS_OP_N ? k : m;
  const int b_rows = tb == CUBLAS_OP_N ? k : n, b_cols = tb == CUBLAS_OP_N ? n : k;
  if (m < 0 || n < 0 || k < 0 || lda < std::max(1, a_rows) || ldb < std::max(1, b_rows) ||
      ldc < std::max(1, m) || !alpha || !beta)
    return blas_fail(CUBLAS_STATUS_INVALID_VALUE, "Sgemm m=%d n=%d k=%d lda=%d ldb=%d ldc=%d", m, n,
                     k, lda, ldb, ldc);
  if (m == 0 || n == 0) return CUBLAS_STATUS_SUCCESS;
  if (k > 0) {
    lkemu::require_device_range(A, span(a_rows, a_cols, lda, sizeof(float)), "cublasSgemm A");
    lkemu::require_device_range(B, span(b_rows, b_cols, ldb, sizeof(float)), "cublasSgemm B");
  }
  lkemu::require_device_range(C, span(m, n, ldc, sizeof(float)), "cublasSgemm C");
  const float al = *alpha, be = *beta;  // host pointer mode: read at the call
  lkemu::enqueue(handle->stream, "cublasSgemm", [=] {
    if (be == 0.f)  // C is write-only when beta == 0
      for (int j = 0; j < n; ++j) std::memset(C + size_t(j) * ldc, 0, sizeof(float) * m);
    if (k == 0 || al == 0.f) {
      if (be != 0.f && be != 1.f)
        for (int j = 0; j < n; ++j)
          for (int i = 0; i < m; ++i) C[size_t(j) * ldc + i] *= be;
      return;
    }
    cblas_sgemm(CblasColMajor, ta == CUBLAS_OP_N ? CblasNoTrans : CblasTrans,
                tb == CUBLAS_OP_N ? CblasNoTrans : CblasTrans, m, n, k, al, A, lda, B, ldb,
                be == 0.f ? 0.f : be, C, ldc);
  });
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasDsyrk(cublasHandle_t handle, cublasFillMode_t uplo, cublasOperation_t trans,
                           int n, int k, const double* alpha, const double* A, int lda,
                           const double* beta, double* C, int ldc) {
  if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
  const int a_rows = trans == CUBLAS_OP_N ? n : k, a_cols = trans == CUBLAS_OP_N ? k : n;
  if (n < 0 || k < 0 || lda < std::max(1, a_rows) || ldc < std::max(1, n) || !alpha || !beta)
    return blas_fail(CUBLAS_STATUS_INVALID_VALUE, "Dsyrk n=%d k=%d lda=%d ldc=%d", n, k, lda, ldc);
  if (n == 0) return CUBLAS_STATUS_SUCCESS;
  if (k > 0) lkemu::require_device_range(A, span(a_rows, a_cols, lda, sizeof(double)), "cublasDsyrk A");
  lkemu::require_device_range(C, span(n, n, ldc, sizeof(double)), "cublasDsyrk C");
  const double al = *alpha, be = *beta;
  lkemu::enqueue(handle->stream, "cublasDsyrk", [=] {
    if (be == 0.0)  // only the referenced triangle is written, and it is not read
      for (int j = 0; j < n; ++j)
        for (int i = 0; i < n; ++i)
          if (uplo == CUBLAS_FILL_MODE_UPPER ? i <= j : i >= j) C[size_t(j) * ldc + i] = 0.0;
    cblas_dsyrk(CblasColMajor, uplo == CUBLAS_FILL_MODE_UPPER ? CblasUpper : CblasLower,
                trans == CUBLAS_OP_N ? CblasNoTrans : CblasTrans, n, k, al, A, lda, be, C, ldc);
  });
  return CUBLAS_STATUS_SUCCESS;
}

// ---- cuFFT -------------------------------------------------------------------------------------
namespace {
struct FftPlan {
  int rank = 0;
  std::vector<int> n, inembed, onembed;
  bool has_inembed = false, has_onembed = false;
  int istride = 1, idist = 0, ostride = 1, odist = 0, batch = 1;
  size_t elements_per_transform = 1;
  cudaStream_t stream = nullptr;
};
std::map<int, FftPlan>& plans() {
  static std::map<int, FftPlan> m;
  return m;
}
int g_next_plan = 1;
}  // namespace

cufftResult cufftPlanMany(cufftHandle* plan, int rank, int* n, int* inembed, int istride, int idist,
                          int* onembed, int ostride, int odist, cufftType type, int batch) {
  if (type != CUFFT_Z2Z) {
    std::fprintf(stderr, "[emulated GPU] cuFFT: only Z2Z plans are emulated\n");
    return CUFFT_NOT_SUPPORTED;
  }
  if (rank < 1 || rank > 3 || batch < 1 || !n) return CUFFT_INVALID_VALUE;
  FftPlan p;
  p.rank = rank;
  p.n.assign(n, n + rank);
  for (int d = 0; d < rank; ++d) {
    if (n[d] < 1) return CUFFT_INVALID_SIZE;
    p.elements_per_transform *= size_t(n[d]);
  }
  if (inembed) p.inembed.assign(inembed, inembed + rank), p.has_inembed = true;
  if (onembed) p.onembed.assign(onembed, onembed + rank), p.has_onembed = true;
  // With null embeds cuFFT ignores the strides and distances: the data are packed.
  p.istride = inembed ? istride : 1;
  p.idist = inembed ? idist : int(p.elements_per_transform);
  p.ostride = onembed ? ostride : 1;
  p.odist = onembed ? odist : int(p.elements_per_transform);
  p.batch = batch;
  *plan = g_next_plan++;
  plans()[*plan] = p;
  return CUFFT_SUCCESS;
}
cufftResult cufftSetStream(cufftHandle plan, cudaStream_t stream) {
  auto it = plans().find(plan);
  if (it == plans().end()) return CUFFT_INVALID_PLAN;
  it->second.stream = stream;
  return CUFFT_SUCCESS;
}
cufftResult cufftDestroy(cufftHandle plan) {
  return plans().erase(plan) ? CUFFT_SUCCESS : CUFFT_INVALID_PLAN;
}
cufftResult cufftExecZ2Z(cufftHandle plan, cufftDoubleComplex* in, cufftDoubleComplex* out,
                         int direction) {
  auto it = plans().find(plan);
  if (it == plans().end()) return CUFFT_INVALID_PLAN;
  if (direction != CUFFT_FORWARD && direction != CUFFT_INVERSE) return CUFFT_INVALID_VALUE;
  const FftPlan p = it->second;
  const size_t last_in = size_t(p.batch - 1) * p.idist + (p.elements_per_transform - 1) * p.istride + 1;
  const size_t last_out = size_t(p.batch - 1) * p.odist + (p.elements_per_transform - 1) * p.ostride + 1;
  lkemu::require_device_range(in, last_in * sizeof(cufftDoubleComplex), "cufftExecZ2Z input");
  lkemu::require_device_range(out, last_out * sizeof(cufftDoubleComplex), "cufftExecZ2Z output");
  lkemu::enqueue(p.stream, "cufftExecZ2Z", [=] {
    // Planned at execution on the actual arrays: FFTW_ESTIMATE does not touch them, and the plan
    // matches their alignment and in-place-ness.
    auto* fin = reinterpret_cast<fftw_complex*>(in);
    auto* fout = reinterpret_cast<fftw_complex*>(out);
    fftw_plan fp = fftw_plan_many_dft(
        p.rank, p.n.data(), p.batch, fin, p.has_inembed ? p.inembed.data() : nullptr, p.istride,
        p.idist, fout, p.has_onembed ? p.onembed.data() : nullptr, p.ostride, p.odist,
        direction == CUFFT_FORWARD ? FFTW_FORWARD : FFTW_BACKWARD, FFTW_ESTIMATE);
    if (!fp) lkemu::device_fault("cufftExecZ2Z: FFTW could not plan this transform");
    fftw_execute(fp);
    fftw_destroy_plan(fp);
  });
  return CUFFT_SUCCESS;
}
