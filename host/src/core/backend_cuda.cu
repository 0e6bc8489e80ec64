// The CUDA implementation of latentkit::Backend (latentkit/core/backend.h): device memory, copies and
// every op forwarded to the latentkit::cuda:: launchers (kernels/*.cuh) on one stream owned by the
// backend, with one cuBLAS handle bound to that stream. Everything is asynchronous and in order on
// that stream; to_host(), sum() and synchronize() wait for it. The op semantics are those of
// latentkit::ref (latentkit/ref/ops_ref.h); the kernels are tested one by one in
// tests/test_*_gpu.cu.
#include <memory>
#include <optional>
#include <string>

#include "kernels/cuda_check.cuh"
#include "kernels/cuda_resources.cuh"
#include "kernels/dense.cuh"
#include "kernels/fill.cuh"
#include "kernels/losses.cuh"
#include "kernels/optim.cuh"
#include "kernels/reparam.cuh"
#include "kernels/shuffle.cuh"
#include "latentkit/core/backend.h"
#include "latentkit/core/check.h"
#include "latentkit/core/device.h"

namespace latentkit {
namespace {

void free_device_array(void* p) noexcept { cuda::device_free(p); }

class CudaBackend final : public Backend {
 public:
  // The caller has made `device_index` current (make_cuda_backend) before the stream and handle
  // are created, so both belong to that device.
  explicit CudaBackend(int device_index) : device_(device_index), blas_(stream_.get()) {
    // "cuda:<i> <name> (sm_<maj><min>, <x.y> GiB, <n> SMs)", formatted once in device.cpp.
    const std::optional<GpuInfo> info = gpu_info(device_);
    LK_CHECK(info.has_value(), "cuda:" << device_ << ": cannot read the device properties");
    description_ = info->describe();
  }

  DeviceKind kind() const override { return DeviceKind::Cuda; }
  std::string description() const override { return description_; }

  // ---- memory ----
  Array<float> alloc(size_t n) override { return alloc_zeroed<float>(n); }
  Array<int32_t> alloc_int(size_t n) override { return alloc_zeroed<int32_t>(n); }

  void to_backend(float* dst, const float* host_src, size_t n) override {
    if (n == 0) return;
    LK_CHECK(dst && host_src, "to_backend: null pointer for " << n << " elements");
    // From pageable memory this returns once the source has been staged, so the caller may
    // reuse host_src immediately.
    LK_CUDA_CHECK(cudaMemcpyAsync(dst, host_src, n * sizeof(float), cudaMemcpyHostToDevice,
                                  stream_.get()));
  }

  void to_host(float* host_dst, const float* src, size_t n) override {
    if (n == 0) return;
    LK_CHECK(host_dst && src, "to_host: null pointer for " << n << " elements");
    LK_CUDA_CHECK(cudaMemcpyAsync(host_dst, src, n * sizeof(float), cudaMemcpyDeviceToHost,
                                  stream_.get()));
    stream_.synchronize();
  }

  void fill(float* dst, float value, size_t n) override {
    cuda::fill(dst, value, n, stream_.get());
  }

  void synchronize() override { stream_.synchronize(); }
  void to_backend_bytes(void* dst, const void* host_src, size_t bytes) override {
    if (bytes == 0) return;
    LK_CHECK(dst && host_src, "to_backend_bytes: null pointer for " << bytes << " bytes");
    LK_CUDA_CHECK(
        cudaMemcpyAsync(dst, host_src, bytes, cudaMemcpyHostToDevice, stream_.get()));
  }
  void to_host_bytes(void* host_dst, const void* src, size_t bytes) override {
    if (bytes == 0) return;
    LK_CHECK(host_dst && src, "to_host_bytes: null pointer for " << bytes << " bytes");
    LK_CUDA_CHECK(
        cudaMemcpyAsync(host_dst, src, bytes, cudaMemcpyDeviceToHost, stream_.get()));
    stream_.synchronize();
  }
  CUstream_st* cuda_stream() override { return stream_.get(); }
  cublasContext* cublas_handle() override { return blas_.get(); }

  // ---- ops ----
  void dense_forward(const float* X, const float* W, const float* b, float* Y, int n, int in,
                     int out, Activation act, float slope) override {
    cuda::dense_forward(X, W, b, Y, n, in, out, act, slope, blas_.get(), stream_.get());
  }
  void dense_backward(const float* X, const float* W, const float* Y, const float* dY, float* dX,
                      float* dW, float* db, int n, int in, int out, Activation act, float slope,
                      bool accumulate_dx, float* dz_scratch, size_t dz_scratch_count) override {
    cuda::dense_backward(X, W, Y, dY, dX, dW, db, n, in, out, act, slope, accumulate_dx, dz_scratch,
                         dz_scratch_count, blas_.get(), stream_.get());
  }
  void sse_loss(const float* xhat, const float* x, int n, int d, float grad_scale, float* dxhat,
                float* row_loss) override {
    cuda::sse_loss(xhat, x, n, d, grad_scale, dxhat, row_loss, stream_.get());
  }
  void bce_logits_loss(const float* logits, const float* x, int n, int d, float grad_scale,
                       float* dlogits, float* row_loss) override {
    cuda::bce_logits_loss(logits, x, n, d, grad_scale, dlogits, row_loss, stream_.get());
  }
  void kl_normal_loss(const float* mu, const float* logvar, int n, int l, float grad_scale,
                      float* dmu, float* dlogvar, float* row_kl) override {
    cuda::kl_normal_loss(mu, logvar, n, l, grad_scale, dmu, dlogvar, row_kl, stream_.get());
  }
  void reparam_forward(const float* mu, const float* logvar, int n, int l, uint64_t seed,
                       uint32_t offset, float* eps, float* z) override {
    cuda::reparam_forward(mu, logvar, n, l, seed, offset, eps, z, stream_.get());
  }
  void reparam_backward(const float* dz, const float* logvar, const float* eps, int n, int l,
                        float* dmu, float* dlogvar) override {
    cuda::reparam_backward(dz, logvar, eps, n, l, dmu, dlogvar, stream_.get());
  }
  void fill_normal(float* out, size_t count, uint64_t seed, RngStream stream_id,
                   uint32_t offset) override {
    cuda::fill_normal(out, count, seed, stream_id, offset, stream_.get());
  }
  void adam_step(float* p, const float* g, float* m, float* v, size_t n, const AdamConfig& cfg,
                 int64_t t) override {
    cuda::adam_step(p, g, m, v, n, cfg, t, stream_.get());
  }
  void sgd_momentum_step(float* p, const float* g, float* buf, size_t n,
                         const SgdConfig& cfg) override {
    cuda::sgd_momentum_step(p, g, buf, n, cfg, stream_.get());
  }
  void shuffle_permutation(int32_t* perm, int n, uint64_t seed, uint32_t epoch) override {
    cuda::shuffle_permutation(perm, n, seed, epoch, stream_.get());
  }
  void gather_rows(const float* X, const int32_t* idx, int count, int d, float* out) override {
    cuda::gather_rows(X, idx, count, d, out, stream_.get());
  }
  double sum(const float* v, size_t n) override { return cuda::sum(v, n, stream_.get()); }

 private:
  template <class T>
  Array<T> alloc_zeroed(size_t n) {
    if (n == 0) return Array<T>(nullptr, 0, &free_device_array, Memory::Cuda);
    // Owned by the Array at once, so a failing memset below cannot leak it.
    Array<T> a(static_cast<T*>(cuda::device_malloc(n * sizeof(T))), n, &free_device_array,
               Memory::Cuda);
    LK_CUDA_CHECK(cudaMemsetAsync(a.data(), 0, n * sizeof(T), stream_.get()));
    stream_.synchronize();
    return a;
  }

  int device_;
  cuda::Stream stream_;  // declared before blas_: the handle is bound to it at construction
  cuda::CublasHandle blas_;
  std::string description_;
};

}  // namespace

std::unique_ptr<Backend> make_cuda_backend(int device_index) {
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    (void)cudaGetLastError();  // not sticky: clear it so later checks do not report it again
    throw NoDeviceError(std::string("cannot use CUDA: ") + cudaGetErrorString(err) + " (" +
                        cudaGetErrorName(err) + "); run with --device cpu");
  }
  if (count == 0) throw NoDeviceError("no CUDA device found; run with --device cpu");
  if (device_index < 0 || device_index >= count) {
    throw Error("cuda:" + std::to_string(device_index) + " does not exist (this machine has " +
                std::to_string(count) + " CUDA device" + (count == 1 ? "" : "s") + ")");
  }
  LK_CUDA_CHECK(cudaSetDevice(device_index));
  return std::make_unique<CudaBackend>(device_index);
}

}  // namespace latentkit
