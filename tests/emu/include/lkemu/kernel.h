// The kernel language of the emulated-GPU build (tests/emu/README.md): built-in variables,
// barriers, warp intrinsics, atomics and math intrinsics as C++, for code that
// tests/emu/translate.py has rewritten. Each emulated thread is a fiber; a block's threads run one
// at a time between barriers, in the order LATENTKIT_EMU_ORDER selects (forward, reverse,
// shuffle), so code that needs a barrier it lacks gives order-dependent results.
//
// Warp intrinsics are exchanges among the lanes named in the mask: every named lane must reach
// the same intrinsic (same source line, same mask); a lane that has exited, a lane beyond the
// block, or a mask without the calling lane is a device fault, as is a __syncthreads reached from
// two different lines, or threads that wait on each other forever (deadlock).
#pragma once
#include <cfloat>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "lkemu/runtime.h"

namespace lkemu {

struct ThreadView {  // what kernel code sees of the current emulated thread
  uint3 thread_idx;
  uint3 block_idx;
  dim3 block_dim;
  dim3 grid_dim;
};
extern const ThreadView* g_view;  // one OS thread runs all emulated threads

void syncthreads(const char* file, int line);
// Deposits `value` for the calling lane, waits for every lane in `mask`, and returns the 32
// deposited values (indexed by lane; lanes outside the mask are unspecified).
const uint64_t* warp_exchange(unsigned mask, uint64_t value, const char* what, const char* file,
                              int line);
unsigned lane_id();
// The current block's shared memory: `key` identifies a __shared__ declaration.
void* shared_alloc(const void* key, size_t bytes, size_t align);
void* dynamic_shared_ptr();
void check_launch_bounds(int max_threads, const char* file, int line);

template <class T>
inline T& shared_var(const void* key) {
  static_assert(std::is_trivially_destructible_v<std::remove_all_extents_t<T>>,
                "__shared__ variables must be trivially destructible");
  return *static_cast<T*>(shared_alloc(key, sizeof(T), alignof(T)));
}
template <class T>
inline T* dynamic_shared() {
  return static_cast<T*>(dynamic_shared_ptr());
}

template <class T>
inline uint64_t to_bits(T v) {
  static_assert(sizeof(T) <= 8 && std::is_trivially_copyable_v<T>, "shuffle of a type over 8 bytes");
  uint64_t b = 0;
  std::memcpy(&b, &v, sizeof(T));
  return b;
}
template <class T>
inline T from_bits(uint64_t b) {
  T v;
  std::memcpy(&v, &b, sizeof(T));
  return v;
}

template <class T>
inline T shfl(unsigned mask, T v, int src_of_lane(int lane, int width, int arg), int arg, int width,
              const char* what, const char* file, int line) {
  const uint64_t* vals = warp_exchange(mask, to_bits(v), what, file, line);
  const int lane = static_cast<int>(lane_id());
  const int src = src_of_lane(lane, width, arg);
  return from_bits<T>(vals[src]);
}
// Source lane of each shuffle flavour within segments of `width` lanes (CUDA's definitions).
inline int shfl_idx_src(int lane, int width, int src) {
  return (lane & ~(width - 1)) + (src & (width - 1));
}
inline int shfl_up_src(int lane, int width, int delta) {
  return (lane & (width - 1)) >= delta ? lane - delta : lane;
}
inline int shfl_down_src(int lane, int width, int delta) {
  return (lane & (width - 1)) + delta < width ? lane + delta : lane;
}
inline int shfl_xor_src(int lane, int width, int mask) {
  const int s = lane ^ mask;
  return (s & ~(width - 1)) == (lane & ~(width - 1)) ? s : lane;
}

}  // namespace lkemu

// ---- built-in variables ------------------------------------------------------------------------
#define threadIdx (::lkemu::g_view->thread_idx)
#define blockIdx (::lkemu::g_view->block_idx)
#define blockDim (::lkemu::g_view->block_dim)
#define gridDim (::lkemu::g_view->grid_dim)
constexpr int warpSize = 32;

#define LKEMU_LAUNCH_BOUNDS(n) ::lkemu::check_launch_bounds(static_cast<int>(n), __FILE__, __LINE__)

// ---- barriers and warp intrinsics --------------------------------------------------------------
#define __syncthreads() ::lkemu::syncthreads(__FILE__, __LINE__)
#define __syncwarp(...) ::lkemu::syncwarp_impl(__FILE__, __LINE__, ##__VA_ARGS__)
#define __shfl_sync(mask, v, src, ...) \
  ::lkemu::shfl_impl(mask, v, src, ::lkemu::shfl_idx_src, "__shfl_sync", __FILE__, __LINE__, ##__VA_ARGS__)
#define __shfl_up_sync(mask, v, d, ...) \
  ::lkemu::shfl_impl(mask, v, d, ::lkemu::shfl_up_src, "__shfl_up_sync", __FILE__, __LINE__, ##__VA_ARGS__)
#define __shfl_down_sync(mask, v, d, ...) \
  ::lkemu::shfl_impl(mask, v, d, ::lkemu::shfl_down_src, "__shfl_down_sync", __FILE__, __LINE__, ##__VA_ARGS__)
#define __shfl_xor_sync(mask, v, m, ...) \
  ::lkemu::shfl_impl(mask, v, m, ::lkemu::shfl_xor_src, "__shfl_xor_sync", __FILE__, __LINE__, ##__VA_ARGS__)
#define __ballot_sync(mask, pred) ::lkemu::ballot_impl(mask, pred, "__ballot_sync", __FILE__, __LINE__)
#define __any_sync(mask, pred) (::lkemu::ballot_impl(mask, pred, "__any_sync", __FILE__, __LINE__) != 0u)
#define __all_sync(mask, pred) \
  (::lkemu::ballot_impl(mask, pred, "__all_sync", __FILE__, __LINE__) == (mask))

namespace lkemu {
inline void syncwarp_impl(const char* file, int line, unsigned mask = 0xffffffffu) {
  warp_exchange(mask, 0, "__syncwarp", file, line);
}
template <class T>
inline T shfl_impl(unsigned mask, T v, int arg, int src_of_lane(int, int, int), const char* what,
                   const char* file, int line, int width = 32) {
  if (width <= 0 || width > 32 || (width & (width - 1)))
    device_fault("%s at %s:%d: width %d is not a power of two <= 32", what, file, line, width);
  return shfl(mask, v, src_of_lane, arg, width, what, file, line);
}
inline unsigned ballot_impl(unsigned mask, int pred, const char* what, const char* file, int line) {
  const uint64_t* vals = warp_exchange(mask, pred != 0, what, file, line);
  unsigned r = 0;
  for (int l = 0; l < 32; ++l)
    if ((mask >> l & 1u) && vals[l]) r |= 1u << l;
  return r;
}
}  // namespace lkemu

// ---- atomics (a block's threads run one at a time and blocks run one after another, so a
// read-modify-write is atomic here; the point is the same results as on the device) -----------
namespace lkemu {
// *p = f(*p), returning the old value: every atomic below is this with its own f.
template <class T, class F>
inline T atomic_rmw(T* p, F f) {
  const T old = *p;
  *p = f(old);
  return old;
}
}  // namespace lkemu
template <class T>
inline T atomicAdd(T* p, T v) { return lkemu::atomic_rmw(p, [v](T o) { return o + v; }); }
template <class T>
inline T atomicSub(T* p, T v) { return lkemu::atomic_rmw(p, [v](T o) { return o - v; }); }
template <class T>
inline T atomicExch(T* p, T v) { return lkemu::atomic_rmw(p, [v](T) { return v; }); }
template <class T>
inline T atomicMin(T* p, T v) { return lkemu::atomic_rmw(p, [v](T o) { return v < o ? v : o; }); }
template <class T>
inline T atomicMax(T* p, T v) { return lkemu::atomic_rmw(p, [v](T o) { return v > o ? v : o; }); }
template <class T>
inline T atomicCAS(T* p, T compare, T v) {
  return lkemu::atomic_rmw(p, [compare, v](T o) { return o == compare ? v : o; });
}
template <class T>
inline T atomicOr(T* p, T v) { return lkemu::atomic_rmw(p, [v](T o) { return o | v; }); }
template <class T>
inline T atomicAnd(T* p, T v) { return lkemu::atomic_rmw(p, [v](T o) { return o & v; }); }

// ---- math intrinsics and bit casts -------------------------------------------------------------
template <class T>
inline T __ldg(const T* p) { return *p; }
inline float __frcp_rn(float x) { return 1.0f / x; }
inline double __drcp_rn(double x) { return 1.0 / x; }
inline float __fdividef(float a, float b) { return a / b; }
inline float __expf(float x) { return std::exp(x); }
inline float __logf(float x) { return std::log(x); }
inline float __powf(float a, float b) { return std::pow(a, b); }
inline float __fmaf_rn(float a, float b, float c) { return std::fma(a, b, c); }
inline double __fma_rn(double a, double b, double c) { return std::fma(a, b, c); }
inline float __saturatef(float x) { return x < 0.f ? 0.f : (x > 1.f ? 1.f : (x == x ? x : 0.f)); }
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline double rsqrt(double x) { return 1.0 / std::sqrt(x); }
inline float __float_as_float(float x) { return x; }
inline unsigned int __float_as_uint(float x) { return lkemu::from_bits<unsigned int>(lkemu::to_bits(x)); }
inline int __float_as_int(float x) { return lkemu::from_bits<int>(lkemu::to_bits(x)); }
inline float __uint_as_float(unsigned int x) { return lkemu::from_bits<float>(lkemu::to_bits(x)); }
inline float __int_as_float(int x) { return lkemu::from_bits<float>(lkemu::to_bits(x)); }
inline long long __double_as_longlong(double x) { return lkemu::from_bits<long long>(lkemu::to_bits(x)); }
inline double __longlong_as_double(long long x) { return lkemu::from_bits<double>(lkemu::to_bits(x)); }
inline int __popc(unsigned int x) { return __builtin_popcount(x); }
inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
inline int __clz(unsigned int x) { return x ? __builtin_clz(x) : 32; }
inline int __clzll(unsigned long long x) { return x ? __builtin_clzll(x) : 64; }
inline int __ffs(unsigned int x) { return __builtin_ffs(static_cast<int>(x)); }
inline int __ffsll(unsigned long long x) { return __builtin_ffsll(static_cast<long long>(x)); }

// CUDA's global min/max accept mixed argument types (the usual arithmetic conversions).
// Floating-point ones are fminf/fmaxf (a NaN operand loses), as on the device.
template <class A, class B>
inline std::common_type_t<A, B> min(A a, B b) {
  using C = std::common_type_t<A, B>;
  if constexpr (std::is_floating_point_v<C>) return std::fmin(static_cast<C>(a), static_cast<C>(b));
  else return static_cast<C>(b) < static_cast<C>(a) ? static_cast<C>(b) : static_cast<C>(a);
}
template <class A, class B>
inline std::common_type_t<A, B> max(A a, B b) {
  using C = std::common_type_t<A, B>;
  if constexpr (std::is_floating_point_v<C>) return std::fmax(static_cast<C>(a), static_cast<C>(b));
  else return static_cast<C>(a) < static_cast<C>(b) ? static_cast<C>(b) : static_cast<C>(a);
}

// Device code calls the classification functions unqualified.
using std::isfinite;
using std::isinf;
using std::isnan;
using std::signbit;

// math_constants.h
#define CUDART_INF (__builtin_inf())
#define CUDART_INF_F (__builtin_inff())
#define CUDART_NAN (__builtin_nan(""))
#define CUDART_NAN_F (__builtin_nanf(""))
#define CUDART_PI 3.1415926535897931e+0
#define CUDART_PI_F 3.141592654f
