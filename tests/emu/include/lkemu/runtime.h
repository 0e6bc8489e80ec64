// The CUDA runtime API of the emulated-GPU build (tests/emu/README.md): the types and calls that
// latentkit uses, implemented on the CPU by tests/emu/src/runtime.cpp, and the launch machinery
// that the build step (tests/emu/translate.py) turns every `k<<<...>>>(args)` into.
//
// Semantics kept strict on purpose (each is something a real GPU allows to go wrong):
//  * streams are queues that run only when something needs their results (a synchronize, an
//    event wait, a copy back to pageable host memory, cudaFree), so missing stream ordering shows
//    up as a read of memory nothing wrote yet;
//  * fresh device memory and shared memory are filled with 0xFF bytes (a NaN in float/double, -1
//    in integers), so reads of memory nothing wrote show up;
//  * device memory comes from the sanitized heap at its exact size, so out-of-bounds accesses are
//    AddressSanitizer reports, and every pointer handed to a copy or a kernel is checked against
//    the live device allocations;
//  * launch limits of an sm_90 device (1024 threads, grid y/z <= 65535, 48 KB of static + dynamic
//    shared memory unless cudaFuncSetAttribute raised it, __launch_bounds__) are enforced.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <tuple>
#include <type_traits>
#include <utility>

// ---- qualifiers --------------------------------------------------------------------------------
#define __host__
#define __device__
#define __global__
#define __constant__
#define __forceinline__ inline
#define __noinline__ __attribute__((noinline))
#define __align__(n) alignas(n)
#define CUDART_VERSION 13000

// ---- vector types ------------------------------------------------------------------------------
struct uint3 { unsigned int x, y, z; };
struct dim3 {
  unsigned int x, y, z;
  constexpr dim3(unsigned int x_ = 1, unsigned int y_ = 1, unsigned int z_ = 1) : x(x_), y(y_), z(z_) {}
  constexpr dim3(uint3 v) : x(v.x), y(v.y), z(v.z) {}
  constexpr operator uint3() const { return uint3{x, y, z}; }
};
struct alignas(8) float2 { float x, y; };
struct float3 { float x, y, z; };
struct alignas(16) float4 { float x, y, z, w; };
struct alignas(16) double2 { double x, y; };
struct alignas(8) int2 { int x, y; };
struct alignas(16) int4 { int x, y, z, w; };
struct alignas(8) uint2 { unsigned int x, y; };
inline float2 make_float2(float x, float y) { return {x, y}; }
inline float3 make_float3(float x, float y, float z) { return {x, y, z}; }
inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }
inline double2 make_double2(double x, double y) { return {x, y}; }
inline int2 make_int2(int x, int y) { return {x, y}; }

// ---- errors ------------------------------------------------------------------------------------
enum cudaError_t {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInitializationError = 3,
  cudaErrorInvalidConfiguration = 9,
  cudaErrorInvalidSymbol = 13,
  cudaErrorInsufficientDriver = 35,
  cudaErrorInvalidDeviceFunction = 98,
  cudaErrorNoDevice = 100,
  cudaErrorInvalidDevice = 101,
  cudaErrorInvalidResourceHandle = 400,
  cudaErrorNotReady = 600,
  cudaErrorLaunchOutOfResources = 701,
  cudaErrorLaunchFailure = 719,
  cudaErrorNotSupported = 801,
  cudaErrorStreamCaptureUnsupported = 900,
  cudaErrorUnknown = 999,
};
using cudaError = cudaError_t;
const char* cudaGetErrorString(cudaError_t e);
const char* cudaGetErrorName(cudaError_t e);
cudaError_t cudaGetLastError();
cudaError_t cudaPeekAtLastError();

// ---- device ------------------------------------------------------------------------------------
struct cudaDeviceProp {
  char name[256];
  size_t totalGlobalMem;
  size_t sharedMemPerBlock;
  size_t sharedMemPerBlockOptin;
  int regsPerBlock;
  int warpSize;
  int maxThreadsPerBlock;
  int maxThreadsDim[3];
  int maxGridSize[3];
  int major, minor;
  int multiProcessorCount;
  int maxThreadsPerMultiProcessor;
  int l2CacheSize;
  int memoryBusWidth;
  int clockRate;
  int memoryClockRate;
};
enum cudaDeviceAttr {
  cudaDevAttrMaxThreadsPerBlock = 1,
  cudaDevAttrMaxSharedMemoryPerBlock = 8,
  cudaDevAttrWarpSize = 10,
  cudaDevAttrMultiProcessorCount = 16,
  cudaDevAttrComputeCapabilityMajor = 75,
  cudaDevAttrComputeCapabilityMinor = 76,
  cudaDevAttrMaxSharedMemoryPerBlockOptin = 97,
};
cudaError_t cudaGetDeviceCount(int* count);
cudaError_t cudaGetDevice(int* device);
cudaError_t cudaSetDevice(int device);
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device);
cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device);
cudaError_t cudaDriverGetVersion(int* version);
cudaError_t cudaRuntimeGetVersion(int* version);
cudaError_t cudaDeviceSynchronize();
cudaError_t cudaDeviceReset();
cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes);

// ---- memory ------------------------------------------------------------------------------------
enum cudaMemcpyKind {
  cudaMemcpyHostToHost = 0,
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
  cudaMemcpyDeviceToDevice = 3,
  cudaMemcpyDefault = 4,
};
struct CUstream_st;
using cudaStream_t = CUstream_st*;
struct CUevent_st;
using cudaEvent_t = CUevent_st*;
#define cudaStreamDefault 0x00
#define cudaStreamNonBlocking 0x01
#define cudaStreamLegacy (reinterpret_cast<cudaStream_t>(0x1))
#define cudaEventDefault 0x00
#define cudaEventDisableTiming 0x02

cudaError_t cudaMalloc(void** p, size_t bytes);
template <class T>
cudaError_t cudaMalloc(T** p, size_t bytes) {
  return cudaMalloc(reinterpret_cast<void**>(p), bytes);
}
cudaError_t cudaFree(void* p);
cudaError_t cudaMallocHost(void** p, size_t bytes);  // pinned: copies from/to it stay async
template <class T>
cudaError_t cudaMallocHost(T** p, size_t bytes) {
  return cudaMallocHost(reinterpret_cast<void**>(p), bytes);
}
cudaError_t cudaFreeHost(void* p);
cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind);
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind,
                            cudaStream_t stream = nullptr);
cudaError_t cudaMemset(void* p, int value, size_t bytes);
cudaError_t cudaMemsetAsync(void* p, int value, size_t bytes, cudaStream_t stream = nullptr);

// ---- streams and events ------------------------------------------------------------------------
cudaError_t cudaStreamCreate(cudaStream_t* s);
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned int flags);
cudaError_t cudaStreamDestroy(cudaStream_t s);
cudaError_t cudaStreamSynchronize(cudaStream_t s);
cudaError_t cudaStreamQuery(cudaStream_t s);
cudaError_t cudaStreamWaitEvent(cudaStream_t s, cudaEvent_t e, unsigned int flags = 0);
cudaError_t cudaEventCreate(cudaEvent_t* e);
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* e, unsigned int flags);
cudaError_t cudaEventDestroy(cudaEvent_t e);
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s = nullptr);
cudaError_t cudaEventSynchronize(cudaEvent_t e);
cudaError_t cudaEventQuery(cudaEvent_t e);
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end);

// Stream capture (CUDA graphs) is not emulated: BeginCapture returns
// cudaErrorStreamCaptureUnsupported, so callers take their uncaptured path.
enum cudaStreamCaptureMode {
  cudaStreamCaptureModeGlobal = 0,
  cudaStreamCaptureModeThreadLocal = 1,
  cudaStreamCaptureModeRelaxed = 2,
};
struct CUgraph_st;
using cudaGraph_t = CUgraph_st*;
struct CUgraphExec_st;
using cudaGraphExec_t = CUgraphExec_st*;
cudaError_t cudaStreamBeginCapture(cudaStream_t s, cudaStreamCaptureMode mode);
cudaError_t cudaStreamEndCapture(cudaStream_t s, cudaGraph_t* graph);
cudaError_t cudaGraphInstantiate(cudaGraphExec_t* exec, cudaGraph_t graph,
                                 unsigned long long flags = 0);
cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t s);
cudaError_t cudaGraphDestroy(cudaGraph_t graph);
cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec);

// ---- kernel attributes -------------------------------------------------------------------------
// tests/emu/translate.py rewrites cudaFuncSetAttribute(kernel, ...) into
// lkemu::set_func_attribute("kernel", ...): a kernel is identified by its name as spelled.
enum cudaFuncAttribute {
  cudaFuncAttributeMaxDynamicSharedMemorySize = 8,
  cudaFuncAttributePreferredSharedMemoryCarveout = 9,
};
namespace lkemu {
cudaError_t set_func_attribute(const char* kernel_name, cudaFuncAttribute attr, int value);
}

// ---- the layer's own interface -----------------------------------------------------------------
namespace lkemu {

// What the emulated device is: limits of an H100/H200 (sm_90).
constexpr int kMaxThreadsPerBlock = 1024;
constexpr int kMaxBlockDimZ = 64;
constexpr unsigned int kMaxGridX = 2147483647u;  // 2^31 - 1
constexpr unsigned int kMaxGridYZ = 65535u;
constexpr size_t kDefaultSharedLimit = 48 * 1024;  // static + dynamic without the opt-in attribute
constexpr size_t kOptinSharedLimit = 227 * 1024;   // sharedMemPerBlockOptin of an H100
constexpr unsigned char kPoisonByte = 0xFF;        // NaN as float/double, -1 as an integer

struct LaunchCfg {
  dim3 grid, block;
  size_t smem;
  cudaStream_t stream;
  LaunchCfg(dim3 g, dim3 b, size_t s = 0, cudaStream_t st = nullptr)
      : grid(g), block(b), smem(s), stream(st) {}
};

// One launch, type-erased: `run(state)` runs the kernel body for the current emulated thread.
struct LaunchRecord {
  const char* name;
  const char* file;
  int line;
  LaunchCfg cfg;
  std::shared_ptr<void> state;
  void (*run)(void*);
};

// Validates the configuration and the pointer arguments (each must be null or inside a live
// device allocation), then enqueues the launch on cfg.stream. Errors set the last error.
void submit_launch(LaunchRecord rec, const void* const* pointer_args, size_t n_pointer_args);

template <class T>
inline void collect_pointer(const T& v, const void** out, size_t& n) {
  if constexpr (std::is_pointer_v<T> && !std::is_function_v<std::remove_pointer_t<T>>)
    out[n++] = static_cast<const void*>(v);
}

// `call(args...)` runs the kernel body for the current emulated thread (tests/emu/translate.py
// passes a lambda that calls the kernel, so template arguments are deduced as nvcc deduces them).
template <class Call, class... A>
void launch(const char* name, const char* file, int line, const LaunchCfg& cfg, Call call,
            A&&... args) {
  using Args = std::tuple<std::decay_t<A>...>;
  struct State {
    Call call;
    Args args;
  };
  // Arguments are copied now, as a real launch does; each thread's call converts them to the
  // kernel's parameter types into its own copies.
  auto state = std::make_shared<State>(State{call, Args(std::forward<A>(args)...)});
  const void* pointers[sizeof...(A) + 1];
  size_t n = 0;
  std::apply([&](const auto&... v) { (collect_pointer(v, pointers, n), ...); }, state->args);
  LaunchRecord rec{name, file, line, cfg, state, [](void* p) {
                     auto* s = static_cast<State*>(p);
                     std::apply(s->call, s->args);
                   }};
  submit_launch(std::move(rec), pointers, n);
}

// Work queued on a stream from outside the kernels (the cuBLAS, cuFFT and CUB stand-ins).
void enqueue_host_work(cudaStream_t stream, const char* what, void (*fn)(void*),
                       std::shared_ptr<void> state);
template <class F>
void enqueue(cudaStream_t stream, const char* what, F&& f) {
  auto state = std::make_shared<std::decay_t<F>>(std::forward<F>(f));
  enqueue_host_work(stream, what, [](void* p) { (*static_cast<std::decay_t<F>*>(p))(); }, state);
}
// Runs everything queued on `stream` (and what it waits for): Thrust calls run on the host at
// once, so their stream is flushed first.
void flush_stream(cudaStream_t stream);
// Throws nothing; prints `what` and the checks that failed, then aborts if ptr..ptr+bytes is not
// inside one live device allocation.
void require_device_range(const void* ptr, size_t bytes, const char* what);
bool is_device_range(const void* ptr, size_t bytes);
// Reports a bug in device code (with the kernel, block and thread) and aborts the process, as a
// device-side fault ends a CUDA context.
[[noreturn]] void device_fault(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
// Counters for tests and for the closing notes' copy counts.
struct Stats {
  unsigned long long launches, h2d_copies, d2h_copies, d2d_copies, memsets, host_work;
  unsigned long long h2d_bytes, d2h_bytes;
};
Stats stats();
// The order in which blocks, and a block's threads between barriers, run: "forward", "reverse"
// or "shuffle[:SEED]" (default: LATENTKIT_EMU_ORDER, else forward). For the layer's own tests.
void set_order(const char* mode);
const char* order_name();

}  // namespace lkemu
