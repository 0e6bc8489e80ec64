// RAII owners for CUDA resources: device buffers, streams, events, cuBLAS handles. Nothing in
// latentkit calls cudaFree / cudaStreamDestroy by hand. Allocation failures (out of device memory)
// throw latentkit::Error saying how much was asked for and what to do.
#pragma once
#include <cstddef>
#include <utility>
#include <vector>

#include "kernels/cuda_check.cuh"

namespace latentkit::cuda {

// Throws a clear error when cudaMalloc fails (e.g. out of device memory).
void* device_malloc(size_t bytes);
void device_free(void* p) noexcept;

template <class T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t count) : count_(count) {
    if (count) ptr_ = static_cast<T*>(device_malloc(count * sizeof(T)));
  }
  ~DeviceBuffer() { device_free(ptr_); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& o) noexcept
      : ptr_(std::exchange(o.ptr_, nullptr)), count_(std::exchange(o.count_, 0)) {}
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      device_free(ptr_);
      ptr_ = std::exchange(o.ptr_, nullptr);
      count_ = std::exchange(o.count_, 0);
    }
    return *this;
  }
  T* data() { return ptr_; }
  const T* data() const { return ptr_; }
  size_t size() const { return count_; }
  size_t bytes() const { return count_ * sizeof(T); }

  // Copies are stream-ordered, on `stream`: the stream of the kernels that use the data (a
  // cudaStreamNonBlocking stream does not wait for the legacy default stream, so a plain
  // cudaMemcpy could race those kernels). From pageable memory (a std::vector) the runtime stages
  // the source before returning, so `host` may be freed or reused at once; pinned memory must
  // stay untouched until the stream has reached the copy.
  void upload(const T* host, size_t count, cudaStream_t stream) {
    LK_CHECK(count <= count_, "upload of " << count << " elements into a buffer of " << count_);
    if (count)
      LK_CUDA_CHECK(cudaMemcpyAsync(ptr_, host, count * sizeof(T), cudaMemcpyHostToDevice, stream));
  }
  void upload(const std::vector<T>& host, cudaStream_t stream) {
    upload(host.data(), host.size(), stream);
  }
  // The whole buffer, after everything queued on `stream` before it (the copy is waited for: the
  // data is read on the host).
  std::vector<T> download(cudaStream_t stream) const {
    std::vector<T> host(count_);
    if (count_)
      LK_CUDA_CHECK(cudaMemcpyAsync(host.data(), ptr_, bytes(), cudaMemcpyDeviceToHost, stream));
    LK_CUDA_CHECK(cudaStreamSynchronize(stream));
    return host;
  }

 private:
  T* ptr_ = nullptr;
  size_t count_ = 0;
};

class Stream {
 public:
  Stream() { LK_CUDA_CHECK(cudaStreamCreateWithFlags(&s_, cudaStreamNonBlocking)); }
  ~Stream() { if (s_) cudaStreamDestroy(s_); }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  cudaStream_t get() const { return s_; }
  void synchronize() const { LK_CUDA_CHECK(cudaStreamSynchronize(s_)); }

 private:
  cudaStream_t s_ = nullptr;
};

class Event {
 public:
  Event() { LK_CUDA_CHECK(cudaEventCreate(&e_)); }
  ~Event() { if (e_) cudaEventDestroy(e_); }
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  cudaEvent_t get() const { return e_; }
  void record(cudaStream_t s) { LK_CUDA_CHECK(cudaEventRecord(e_, s)); }
  // Milliseconds from `start` to this event (synchronises on this event).
  float elapsed_ms_since(const Event& start) const {
    LK_CUDA_CHECK(cudaEventSynchronize(e_));
    float ms = 0.f;
    LK_CUDA_CHECK(cudaEventElapsedTime(&ms, start.e_, e_));
    return ms;
  }

 private:
  cudaEvent_t e_ = nullptr;
};

class CublasHandle {
 public:
  explicit CublasHandle(cudaStream_t stream = nullptr) {
    LK_CUBLAS_CHECK(cublasCreate(&h_));
    LK_CUBLAS_CHECK(cublasSetStream(h_, stream));
  }
  ~CublasHandle() { if (h_) cublasDestroy(h_); }
  CublasHandle(const CublasHandle&) = delete;
  CublasHandle& operator=(const CublasHandle&) = delete;
  cublasHandle_t get() const { return h_; }

 private:
  cublasHandle_t h_ = nullptr;
};

}  // namespace latentkit::cuda
