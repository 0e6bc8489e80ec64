// The backend seam: the one place where the pipeline (model, training loop, sampling) meets either
// the CUDA kernels or the CPU reference. Every pointer passed to an op lives in the backend's own
// memory (host memory for the CPU backend, device memory for CUDA), allocated by alloc().
// Ops are asynchronous on CUDA (one stream, in order); to_host() and sum() synchronise.
// Implementations: host/src/core/backend_cpu.cpp (latentkit::ref), host/src/core/backend_cuda.cu.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "latentkit/core/philox.h"
#include "latentkit/core/view.h"
#include "latentkit/families/op_types.h"

// CUDA's handle types, declared as CUDA (and tests/emu) declare them, so that this header needs no
// CUDA header: cudaStream_t is CUstream_st*, cublasHandle_t is cublasContext*.
struct CUstream_st;
struct cublasContext;

namespace latentkit {

enum class DeviceKind { Cpu, Cuda };

// An owning array in one backend's memory, which it records (where()). Move-only.
template <class T>
class Array {
 public:
  using Deleter = void (*)(void*) noexcept;
  Array() = default;
  Array(T* p, size_t n, Deleter del, Memory where) : ptr_(p), size_(n), del_(del), where_(where) {}
  ~Array() { reset(); }
  Array(const Array&) = delete;
  Array& operator=(const Array&) = delete;
  Array(Array&& o) noexcept : ptr_(o.ptr_), size_(o.size_), del_(o.del_), where_(o.where_) {
    o.ptr_ = nullptr;
    o.size_ = 0;
  }
  Array& operator=(Array&& o) noexcept {
    if (this != &o) {
      reset();
      ptr_ = o.ptr_;
      size_ = o.size_;
      del_ = o.del_;
      where_ = o.where_;
      o.ptr_ = nullptr;
      o.size_ = 0;
    }
    return *this;
  }
  T* data() { return ptr_; }
  const T* data() const { return ptr_; }
  size_t size() const { return size_; }
  Memory where() const { return where_; }
  // The first rows * cols elements as a rows x cols matrix (checked to fit).
  MatrixView<T> view(int64_t rows, int64_t cols) {
    check_fits(rows, cols);
    return {ptr_, rows, cols, where_};
  }
  MatrixView<const T> view(int64_t rows, int64_t cols) const {
    check_fits(rows, cols);
    return {ptr_, rows, cols, where_};
  }

 private:
  void check_fits(int64_t rows, int64_t cols) const {
    LK_CHECK(
        rows >= 0 && cols >= 0 && static_cast<size_t>(rows * cols) <= size_,
        "Array::view: " << rows << " x " << cols << " does not fit in " << size_ << " elements");
  }
  void reset() {
    if (ptr_ && del_) del_(ptr_);
    ptr_ = nullptr;
    size_ = 0;
  }
  T* ptr_ = nullptr;
  size_t size_ = 0;
  Deleter del_ = nullptr;
  Memory where_ = Memory::Host;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual DeviceKind kind() const = 0;
  // Where this backend's arrays live and its ops read and write.
  Memory memory() const { return kind() == DeviceKind::Cuda ? Memory::Cuda : Memory::Host; }
  // One line for logs and summary.json, e.g. "cpu (reference, float64 accumulation)" or
  // "cuda:0 NVIDIA H100 80GB HBM3 (sm_90, 79.1 GiB)".
  virtual std::string description() const = 0;

  // ---- memory ----
  virtual Array<float> alloc(size_t n) = 0;          // zero-filled
  virtual Array<int32_t> alloc_int(size_t n) = 0;    // zero-filled
  virtual void to_backend(float* dst, const float* host_src, size_t n) = 0;
  virtual void to_host(float* host_dst, const float* src, size_t n) = 0;  // synchronises
  virtual void fill(float* dst, float value, size_t n) = 0;
  virtual void synchronize() = 0;
  // Byte copies for arrays of other element types (int32 labels and indices, doubles).
  virtual void to_backend_bytes(void* dst, const void* host_src, size_t bytes) = 0;
  virtual void to_host_bytes(void* host_dst, const void* src, size_t bytes) = 0;  // synchronises

  // For the kernel families that live outside this interface (GMM-EM, pairwise distances,
  // t-SNE, RBM: each dispatches on kind() to its CUDA launchers or its CPU reference): the CUDA
  // stream and the cuBLAS handle (bound to that stream) the backend's ops run on, so their work
  // stays in order with the backend's. Typed as CUDA declares them (cudaStream_t is CUstream_st*,
  // cublasHandle_t is cublasContext*; the emulated tree declares the same), so no caller casts.
  // nullptr on the CPU backend.
  virtual CUstream_st* cuda_stream() { return nullptr; }
  virtual cublasContext* cublas_handle() { return nullptr; }

  // ---- ops: semantics exactly as latentkit::ref (latentkit/ref/ops_ref.h) ----
  virtual void dense_forward(const float* X, const float* W, const float* b, float* Y, int n,
                             int in, int out, Activation act, float slope) = 0;
  // dz_scratch: dz_scratch_count >= n*out floats the backend may use (CUDA large-shape path);
  // may be nullptr.
  virtual void dense_backward(const float* X, const float* W, const float* Y, const float* dY,
                              float* dX, float* dW, float* db, int n, int in, int out,
                              Activation act, float slope, bool accumulate_dx, float* dz_scratch,
                              size_t dz_scratch_count) = 0;
  virtual void sse_loss(const float* xhat, const float* x, int n, int d, float grad_scale,
                        float* dxhat, float* row_loss) = 0;
  virtual void bce_logits_loss(const float* logits, const float* x, int n, int d,
                               float grad_scale, float* dlogits, float* row_loss) = 0;
  virtual void kl_normal_loss(const float* mu, const float* logvar, int n, int l,
                              float grad_scale, float* dmu, float* dlogvar, float* row_kl) = 0;
  virtual void reparam_forward(const float* mu, const float* logvar, int n, int l, uint64_t seed,
                               uint32_t offset, float* eps, float* z) = 0;
  virtual void reparam_backward(const float* dz, const float* logvar, const float* eps, int n,
                                int l, float* dmu, float* dlogvar) = 0;
  virtual void fill_normal(float* out, size_t count, uint64_t seed, RngStream stream,
                           uint32_t offset) = 0;
  virtual void adam_step(float* p, const float* g, float* m, float* v, size_t n,
                         const AdamConfig& cfg, int64_t t) = 0;
  virtual void sgd_momentum_step(float* p, const float* g, float* buf, size_t n,
                                 const SgdConfig& cfg) = 0;
  virtual void shuffle_permutation(int32_t* perm, int n, uint64_t seed, uint32_t epoch) = 0;
  virtual void gather_rows(const float* X, const int32_t* idx, int count, int d,
                           float* out) = 0;
  virtual double sum(const float* v, size_t n) = 0;  // synchronises

  // Convenience: host vector <-> backend array.
  Array<float> upload(const std::vector<float>& host) {
    Array<float> a = alloc(host.size());
    to_backend(a.data(), host.data(), host.size());
    return a;
  }
  std::vector<float> download(const float* src, size_t n) {
    std::vector<float> host(n);
    to_host(host.data(), src, n);
    return host;
  }
  Array<int32_t> upload(const std::vector<int32_t>& host) {
    Array<int32_t> a = alloc_int(host.size());
    to_backend_bytes(a.data(), host.data(), host.size() * sizeof(int32_t));
    return a;
  }
  std::vector<int32_t> download(const int32_t* src, size_t n) {
    std::vector<int32_t> host(n);
    to_host_bytes(host.data(), src, n * sizeof(int32_t));
    return host;
  }
};

std::unique_ptr<Backend> make_cpu_backend();
// Throws latentkit::Error if the device cannot be used.
std::unique_ptr<Backend> make_cuda_backend(int device_index);

}  // namespace latentkit
