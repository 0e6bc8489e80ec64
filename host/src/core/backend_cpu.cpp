// The CPU backend: every op is the float64-accumulating reference in host/ref (latentkit::ref).
#include <cstdlib>
#include <cstring>
#include <new>

#include "latentkit/core/backend.h"
#include "latentkit/core/check.h"
#include "latentkit/ref/ops_ref.h"

namespace latentkit {
namespace {

void host_free(void* p) noexcept { std::free(p); }

template <class T>
Array<T> host_alloc(size_t n) {
  // 64-byte alignment: a cache line, and the widest vector the reference loops may use.
  constexpr size_t kAlign = 64;
  const size_t bytes = ((n * sizeof(T) + kAlign - 1) / kAlign) * kAlign;
  void* p = bytes ? std::aligned_alloc(kAlign, bytes) : nullptr;
  if (bytes && !p) throw Error("out of host memory allocating " + std::to_string(bytes) + " bytes");
  if (p) std::memset(p, 0, bytes);
  return Array<T>(static_cast<T*>(p), n, &host_free, Memory::Host);
}

class CpuBackend final : public Backend {
 public:
  DeviceKind kind() const override { return DeviceKind::Cpu; }
  std::string description() const override { return "cpu (reference, float64 accumulation)"; }

  Array<float> alloc(size_t n) override { return host_alloc<float>(n); }
  Array<int32_t> alloc_int(size_t n) override { return host_alloc<int32_t>(n); }
  void to_backend(float* dst, const float* src, size_t n) override {
    if (n) std::memcpy(dst, src, n * sizeof(float));
  }
  void to_host(float* dst, const float* src, size_t n) override {
    if (n) std::memcpy(dst, src, n * sizeof(float));
  }
  void fill(float* dst, float value, size_t n) override {
    for (size_t i = 0; i < n; ++i) dst[i] = value;
  }
  void synchronize() override {}
  void to_backend_bytes(void* dst, const void* src, size_t bytes) override {
    if (bytes) std::memcpy(dst, src, bytes);
  }
  void to_host_bytes(void* dst, const void* src, size_t bytes) override {
    if (bytes) std::memcpy(dst, src, bytes);
  }

  void dense_forward(const float* X, const float* W, const float* b, float* Y, int n, int in,
                     int out, Activation act, float slope) override {
    ref::dense_forward(X, W, b, Y, n, in, out, act, slope);
  }
  void dense_backward(const float* X, const float* W, const float* Y, const float* dY, float* dX,
                      float* dW, float* db, int n, int in, int out, Activation act, float slope,
                      bool accumulate_dx, float* /*dz_scratch*/,
                      size_t /*dz_scratch_count*/) override {
    ref::dense_backward(X, W, Y, dY, dX, dW, db, n, in, out, act, slope, accumulate_dx);
  }
  void sse_loss(const float* xhat, const float* x, int n, int d, float grad_scale, float* dxhat,
                float* row_loss) override {
    ref::sse_loss(xhat, x, n, d, grad_scale, dxhat, row_loss);
  }
  void bce_logits_loss(const float* logits, const float* x, int n, int d, float grad_scale,
                       float* dlogits, float* row_loss) override {
    ref::bce_logits_loss(logits, x, n, d, grad_scale, dlogits, row_loss);
  }
  void kl_normal_loss(const float* mu, const float* logvar, int n, int l, float grad_scale,
                      float* dmu, float* dlogvar, float* row_kl) override {
    ref::kl_normal_loss(mu, logvar, n, l, grad_scale, dmu, dlogvar, row_kl);
  }
  void reparam_forward(const float* mu, const float* logvar, int n, int l, uint64_t seed,
                       uint32_t offset, float* eps, float* z) override {
    ref::reparam_forward(mu, logvar, n, l, seed, offset, eps, z);
  }
  void reparam_backward(const float* dz, const float* logvar, const float* eps, int n, int l,
                        float* dmu, float* dlogvar) override {
    ref::reparam_backward(dz, logvar, eps, n, l, dmu, dlogvar);
  }
  void fill_normal(float* out, size_t count, uint64_t seed, RngStream stream,
                   uint32_t offset) override {
    ref::fill_normal(out, count, seed, stream, offset);
  }
  void adam_step(float* p, const float* g, float* m, float* v, size_t n, const AdamConfig& cfg,
                 int64_t t) override {
    ref::adam_step(p, g, m, v, n, cfg, t);
  }
  void sgd_momentum_step(float* p, const float* g, float* buf, size_t n,
                         const SgdConfig& cfg) override {
    ref::sgd_momentum_step(p, g, buf, n, cfg);
  }
  void shuffle_permutation(int32_t* perm, int n, uint64_t seed, uint32_t epoch) override {
    ref::shuffle_permutation(perm, n, seed, epoch);
  }
  void gather_rows(const float* X, const int32_t* idx, int count, int d, float* out) override {
    ref::gather_rows(X, idx, count, d, out);
  }
  double sum(const float* v, size_t n) override { return ref::sum(v, n); }
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend() { return std::make_unique<CpuBackend>(); }

}  // namespace latentkit
