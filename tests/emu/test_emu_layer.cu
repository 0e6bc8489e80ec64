// Tests of the CPU execution layer itself (tests/emu/README.md), built only in the emulated tree:
// each planted bug (a missing __syncthreads, an off-by-one write, an uninitialised shared read, a
// reduction that assumes 64 lanes, 60 KB of shared memory without the attribute, a barrier in
// divergent code, a shuffle naming an exited lane, a missing stream synchronisation, ...) is
// caught, either as a device fault / sanitizer report (death tests) or as a wrong result, and the
// corrected kernel gives the right result in every thread order the layer offers.
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <string>
#include <vector>

#include "kernels/cuda_check.cuh"
#include "kernels/cuda_resources.cuh"

namespace {

using latentkit::cuda::DeviceBuffer;
using latentkit::cuda::Stream;

const char* const kOrders[] = {"forward", "reverse", "shuffle:1", "shuffle:2"};

// Restores the order the process started with after a test that changes it.
class EmuLayer : public ::testing::Test {
 protected:
  void SetUp() override { saved_ = lkemu::order_name(); }
  void TearDown() override { lkemu::set_order(saved_.c_str()); }
  std::string saved_;
};
// Death tests re-execute the binary ("threadsafe"): OpenBLAS has started its threads by then.
class EmuLayerDeathTest : public EmuLayer {
 protected:
  void SetUp() override {
    EmuLayer::SetUp();
    GTEST_FLAG_SET(death_test_style, "threadsafe");
  }
};

template <class T>
std::vector<T> download(const DeviceBuffer<T>& d, cudaStream_t s) {
  std::vector<T> h(d.size());
  LK_CUDA_CHECK(cudaStreamSynchronize(s));
  LK_CUDA_CHECK(cudaMemcpy(h.data(), d.data(), d.bytes(), cudaMemcpyDeviceToHost));
  return h;
}
template <class T>
DeviceBuffer<T> upload(const std::vector<T>& h, cudaStream_t s) {
  DeviceBuffer<T> d(h.size());
  LK_CUDA_CHECK(cudaMemcpyAsync(d.data(), h.data(), d.bytes(), cudaMemcpyHostToDevice, s));
  return d;
}

// ---- a missing __syncthreads ---------------------------------------------------------------------
constexpr int kRotate = 128;
__global__ void rotate_kernel(const int* in, int* out, bool sync) {
  __shared__ int s[kRotate];
  const int t = threadIdx.x;
  s[t] = in[t];
  if (sync) __syncthreads();
  out[t] = s[(t + 1) % kRotate];  // reads a neighbour's write
}

std::vector<int> run_rotate(bool sync) {
  Stream st;
  std::vector<int> in(kRotate);
  std::iota(in.begin(), in.end(), 100);
  auto d_in = upload(in, st.get());
  DeviceBuffer<int> d_out(kRotate);
  rotate_kernel<<<1, kRotate, 0, st.get()>>>(d_in.data(), d_out.data(), sync);
  LK_LAUNCH_CHECK();
  return download(d_out, st.get());
}

TEST_F(EmuLayer, MissingSyncthreadsGivesWrongResultsInEveryOrder) {
  std::vector<int> want(kRotate);
  for (int t = 0; t < kRotate; ++t) want[t] = 100 + (t + 1) % kRotate;
  for (const char* order : kOrders) {
    SCOPED_TRACE(order);
    lkemu::set_order(order);
    EXPECT_NE(run_rotate(false), want) << "the race went unnoticed";
    EXPECT_EQ(run_rotate(true), want);
  }
}

// ---- an uninitialised shared-memory read ---------------------------------------------------------
__global__ void shared_sum_kernel(const float* in, float* out, int n, bool init) {
  __shared__ float acc[32];
  if (init) acc[threadIdx.x] = 0.f;
  __syncthreads();
  for (int i = threadIdx.x; i < n; i += 32) acc[threadIdx.x] += in[i];
  __syncthreads();
  if (threadIdx.x == 0) {
    float s = 0.f;
    for (int l = 0; l < 32; ++l) s += acc[l];
    *out = s;
  }
}

TEST_F(EmuLayer, UninitialisedSharedReadIsPoisoned) {
  Stream st;
  const int n = 1000;
  auto d_in = upload(std::vector<float>(n, 1.f), st.get());
  DeviceBuffer<float> d_out(1);
  shared_sum_kernel<<<1, 32, 0, st.get()>>>(d_in.data(), d_out.data(), n, false);
  LK_LAUNCH_CHECK();
  EXPECT_TRUE(std::isnan(download(d_out, st.get())[0])) << "shared memory was not poisoned";
  shared_sum_kernel<<<1, 32, 0, st.get()>>>(d_in.data(), d_out.data(), n, true);
  LK_LAUNCH_CHECK();
  EXPECT_EQ(download(d_out, st.get())[0], float(n));
}

TEST_F(EmuLayer, FreshDeviceMemoryIsPoisoned) {
  DeviceBuffer<float> f(7);
  DeviceBuffer<int> i(7);
  std::vector<float> hf(7);
  std::vector<int> hi(7);
  LK_CUDA_CHECK(cudaMemcpy(hf.data(), f.data(), f.bytes(), cudaMemcpyDeviceToHost));
  LK_CUDA_CHECK(cudaMemcpy(hi.data(), i.data(), i.bytes(), cudaMemcpyDeviceToHost));
  for (float x : hf) EXPECT_TRUE(std::isnan(x));
  for (int x : hi) EXPECT_EQ(x, -1);
}

// ---- a warp reduction that assumes 64 lanes ------------------------------------------------------
__global__ void warp_sum_kernel(const float* in, float* out, int first_offset) {
  float v = in[threadIdx.x];
  for (int o = first_offset; o > 0; o /= 2) v += __shfl_down_sync(0xffffffffu, v, o);
  if (threadIdx.x == 0) *out = v;
}

TEST_F(EmuLayer, ShuffleAssumingSixtyFourLanesIsWrong) {
  Stream st;
  std::vector<float> in(32);
  std::iota(in.begin(), in.end(), 1.f);  // sum 528
  auto d_in = upload(in, st.get());
  DeviceBuffer<float> d_out(1);
  for (const char* order : kOrders) {
    SCOPED_TRACE(order);
    lkemu::set_order(order);
    warp_sum_kernel<<<1, 32, 0, st.get()>>>(d_in.data(), d_out.data(), 16);
    EXPECT_EQ(download(d_out, st.get())[0], 528.f);
    // Offset 32 reaches past a 32-lane warp: each lane adds its own value (CUDA's rule for a
    // source lane out of range), so the sum doubles, as on the device.
    warp_sum_kernel<<<1, 32, 0, st.get()>>>(d_in.data(), d_out.data(), 32);
    EXPECT_EQ(download(d_out, st.get())[0], 2 * 528.f);
  }
}

__global__ void xor_allreduce_kernel(const double* in, double* out) {
  double v = in[threadIdx.x];
  for (int m = 16; m > 0; m /= 2) v += __shfl_xor_sync(0xffffffffu, v, m);
  out[threadIdx.x] = v;
  const unsigned b = __ballot_sync(0xffffffffu, threadIdx.x % 3 == 0);
  if (threadIdx.x == 0) out[32] = static_cast<double>(b);
}

TEST_F(EmuLayer, XorShuffleAndBallotMatchTheDefinition) {
  Stream st;
  std::vector<double> in(32);
  for (int i = 0; i < 32; ++i) in[i] = 0.5 * i;
  auto d_in = upload(in, st.get());
  DeviceBuffer<double> d_out(33);
  for (const char* order : kOrders) {
    SCOPED_TRACE(order);
    lkemu::set_order(order);
    xor_allreduce_kernel<<<1, 32, 0, st.get()>>>(d_in.data(), d_out.data());
    const auto out = download(d_out, st.get());
    for (int i = 0; i < 32; ++i) EXPECT_EQ(out[i], 248.0) << i;
    unsigned want = 0;
    for (int l = 0; l < 32; l += 3) want |= 1u << l;
    EXPECT_EQ(out[32], static_cast<double>(want));
  }
}

// Whole warps return early and the remaining warps still exchange (kernels/knn.cu does this).
__global__ void early_exit_warps_kernel(float* out, int active_warps) {
  const int warp = threadIdx.x / 32;
  if (warp >= active_warps) return;
  float v = 1.f;
  for (int o = 16; o > 0; o /= 2) v += __shfl_down_sync(0xffffffffu, v, o);
  __syncthreads();  // the exited warps do not count (sm_70+)
  if (threadIdx.x % 32 == 0) out[warp] = v;
}

TEST_F(EmuLayer, ExitedWarpsDoNotBlockTheOthers) {
  Stream st;
  DeviceBuffer<float> d_out(4);
  LK_CUDA_CHECK(cudaMemsetAsync(d_out.data(), 0, d_out.bytes(), st.get()));
  early_exit_warps_kernel<<<1, 128, 0, st.get()>>>(d_out.data(), 2);
  LK_LAUNCH_CHECK();
  EXPECT_EQ(download(d_out, st.get()), (std::vector<float>{32.f, 32.f, 0.f, 0.f}));
}

// ---- device faults and sanitizer reports (death tests) -------------------------------------------
__global__ void off_by_one_kernel(float* out, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i <= n) out[i] = 1.f;  // the planted bug: <= instead of <
}

TEST_F(EmuLayerDeathTest, OffByOneWriteIsASanitizerReport) {
  EXPECT_DEATH(
      {
        DeviceBuffer<float> out(100);
        off_by_one_kernel<<<1, 128>>>(out.data(), 100);
        cudaDeviceSynchronize();
      },
      "heap-buffer-overflow");
}

__global__ void big_shared_kernel(float* out) {
  __shared__ float big[15360];  // 60 KB
  big[threadIdx.x] = 1.f;
  __syncthreads();
  out[threadIdx.x] = big[(threadIdx.x + 1) % blockDim.x];
}

TEST_F(EmuLayerDeathTest, SixtyKilobytesOfStaticSharedMemoryIsAFault) {
  EXPECT_DEATH(
      {
        DeviceBuffer<float> out(32);
        big_shared_kernel<<<1, 32>>>(out.data());
        cudaDeviceSynchronize();
      },
      "exceed the 49152-byte limit");
}

__global__ void dynamic_shared_kernel(float* out, int n) {
  extern __shared__ float dyn[];
  for (int i = threadIdx.x; i < n; i += blockDim.x) dyn[i] = 1.f;
  __syncthreads();
  if (threadIdx.x == 0) {
    float s = 0.f;
    for (int i = 0; i < n; ++i) s += dyn[i];
    *out = s;
  }
}

TEST_F(EmuLayer, DynamicSharedMemoryOverFortyEightKilobytesNeedsTheAttribute) {
  Stream st;
  DeviceBuffer<float> out(1);
  const int n = 15360;  // 60 KB
  dynamic_shared_kernel<<<1, 64, n * sizeof(float), st.get()>>>(out.data(), n);
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidValue);
  LK_CUDA_CHECK(cudaFuncSetAttribute(dynamic_shared_kernel,
                                     cudaFuncAttributeMaxDynamicSharedMemorySize,
                                     static_cast<int>(n * sizeof(float))));
  dynamic_shared_kernel<<<1, 64, n * sizeof(float), st.get()>>>(out.data(), n);
  LK_LAUNCH_CHECK();
  EXPECT_EQ(download(out, st.get())[0], float(n));  // exact: integers below 2^24
}

TEST_F(EmuLayerDeathTest, DynamicSharedOverrunIsASanitizerReport) {
  EXPECT_DEATH(
      {
        DeviceBuffer<float> out(1);
        dynamic_shared_kernel<<<1, 32, 100 * sizeof(float)>>>(out.data(), 101);
        cudaDeviceSynchronize();
      },
      "use-after-poison|buffer-overflow");
}

__global__ void divergent_barrier_kernel(float* out) {
  if (threadIdx.x < 16) {
    __syncthreads();
  } else {
    __syncthreads();
  }
  out[threadIdx.x] = 1.f;
}

TEST_F(EmuLayerDeathTest, BarrierInDivergentCodeIsAFault) {
  EXPECT_DEATH(
      {
        DeviceBuffer<float> out(32);
        divergent_barrier_kernel<<<1, 32>>>(out.data());
        cudaDeviceSynchronize();
      },
      "divergent code");
}

__global__ void shuffle_with_exited_lane_kernel(float* out) {
  if (threadIdx.x == 5) return;
  out[threadIdx.x] = __shfl_sync(0xffffffffu, 1.f, 0);
}

TEST_F(EmuLayerDeathTest, ShuffleNamingAnExitedLaneIsAFault) {
  EXPECT_DEATH(
      {
        DeviceBuffer<float> out(32);
        shuffle_with_exited_lane_kernel<<<1, 32>>>(out.data());
        cudaDeviceSynchronize();
      },
      "exited");
}

__global__ void partial_warp_shuffle_kernel(float* out) {
  out[threadIdx.x] = __shfl_sync(0xffffffffu, 1.f, 0);
}

TEST_F(EmuLayerDeathTest, FullMaskInAPartialWarpIsAFault) {
  EXPECT_DEATH(
      {
        DeviceBuffer<float> out(48);
        partial_warp_shuffle_kernel<<<1, 48>>>(out.data());
        cudaDeviceSynchronize();
      },
      "do not exist");
}

__global__ void deadlock_kernel(float* out) {
  if (threadIdx.x < 32) {
    out[threadIdx.x] = __shfl_sync(0xffffffffu, 1.f, 0);
  } else {
    __syncthreads();  // warp 1 waits here for warp 0, which never comes
    out[threadIdx.x] = 2.f;
  }
  __syncthreads();
}

TEST_F(EmuLayerDeathTest, BarrierReachedFromTwoLinesIsAFault) {
  EXPECT_DEATH(
      {
        DeviceBuffer<float> out(64);
        deadlock_kernel<<<1, 64>>>(out.data());
        cudaDeviceSynchronize();
      },
      "divergent code");
}

__global__ void __launch_bounds__(64) bounded_kernel(float* out) { out[threadIdx.x] = 1.f; }

TEST_F(EmuLayerDeathTest, LaunchBoundsAreEnforced) {
  DeviceBuffer<float> ok(64);
  bounded_kernel<<<1, 64>>>(ok.data());
  LK_CUDA_CHECK(cudaDeviceSynchronize());
  EXPECT_DEATH(
      {
        DeviceBuffer<float> out(128);
        bounded_kernel<<<1, 128>>>(out.data());
        cudaDeviceSynchronize();
      },
      "__launch_bounds__\\(64\\)");
}

TEST_F(EmuLayer, LaunchLimitsAreEnforced) {
  DeviceBuffer<float> out(2048);
  bounded_kernel<<<1, 1025>>>(out.data());
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidConfiguration);
  bounded_kernel<<<dim3(1, 65536), 1>>>(out.data());
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidConfiguration);
  bounded_kernel<<<dim3(1, 1, 1), dim3(1, 1, 65)>>>(out.data());
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidConfiguration);
}

TEST_F(EmuLayerDeathTest, HostPointerToAKernelIsAFault) {
  EXPECT_DEATH(
      {
        std::vector<float> host(64);
        bounded_kernel<<<1, 64>>>(host.data());
      },
      "not in any live device allocation");
}

// ---- stream ordering -----------------------------------------------------------------------------
__global__ void add_one_kernel(float* x, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) x[i] += 1.f;
}

TEST_F(EmuLayer, LegacyCopyDoesNotWaitForANonBlockingStream) {
  Stream st;
  const int n = 50;
  std::vector<float> host(n, 1.f), back(n);
  DeviceBuffer<float> d(n);
  LK_CUDA_CHECK(cudaMemcpyAsync(d.data(), host.data(), d.bytes(), cudaMemcpyHostToDevice, st.get()));
  add_one_kernel<<<1, 64, 0, st.get()>>>(d.data(), n);
  // The bug: reading back on the legacy stream without synchronising `st` first.
  LK_CUDA_CHECK(cudaMemcpy(back.data(), d.data(), d.bytes(), cudaMemcpyDeviceToHost));
  EXPECT_TRUE(std::isnan(back[0])) << "the stream race went unnoticed";
  // Correct: synchronise the stream, then copy.
  LK_CUDA_CHECK(cudaStreamSynchronize(st.get()));
  LK_CUDA_CHECK(cudaMemcpy(back.data(), d.data(), d.bytes(), cudaMemcpyDeviceToHost));
  EXPECT_EQ(back, std::vector<float>(n, 2.f));
}

TEST_F(EmuLayer, LegacyUploadIsNotOrderedBeforeANonBlockingStream) {
  Stream st;
  const int n = 50;
  std::vector<float> host(n, 1.f), back(n);
  DeviceBuffer<float> d(n);
  // The bug: cudaMemcpy (legacy stream) then a kernel on a non-blocking stream.
  LK_CUDA_CHECK(cudaMemcpy(d.data(), host.data(), d.bytes(), cudaMemcpyHostToDevice));
  add_one_kernel<<<1, 64, 0, st.get()>>>(d.data(), n);
  LK_CUDA_CHECK(cudaMemcpyAsync(back.data(), d.data(), d.bytes(), cudaMemcpyDeviceToHost, st.get()));
  EXPECT_TRUE(std::isnan(back[0])) << "the stream race went unnoticed";
}

TEST_F(EmuLayer, EventsOrderStreams) {
  Stream a, b;
  const int n = 50;
  std::vector<float> host(n, 1.f), back(n);
  DeviceBuffer<float> d(n);
  cudaEvent_t e;
  LK_CUDA_CHECK(cudaEventCreate(&e));
  LK_CUDA_CHECK(cudaMemcpyAsync(d.data(), host.data(), d.bytes(), cudaMemcpyHostToDevice, a.get()));
  add_one_kernel<<<1, 64, 0, a.get()>>>(d.data(), n);
  LK_CUDA_CHECK(cudaEventRecord(e, a.get()));
  LK_CUDA_CHECK(cudaStreamWaitEvent(b.get(), e, 0));
  add_one_kernel<<<1, 64, 0, b.get()>>>(d.data(), n);
  LK_CUDA_CHECK(cudaMemcpyAsync(back.data(), d.data(), d.bytes(), cudaMemcpyDeviceToHost, b.get()));
  EXPECT_EQ(back, std::vector<float>(n, 3.f));
  LK_CUDA_CHECK(cudaEventDestroy(e));
}

TEST_F(EmuLayer, CopyOutOfADeviceBufferIsAnError) {
  DeviceBuffer<float> d(10);
  std::vector<float> back(11);
  EXPECT_EQ(cudaMemcpy(back.data(), d.data(), 11 * sizeof(float), cudaMemcpyDeviceToHost),
            cudaErrorInvalidValue);
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidValue);
}

// Multi-dimensional blocks and grids: every (block, thread) index pair appears exactly once.
__global__ void index_kernel(int* out) {
  const int t = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
  const int b = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
  const int per_block = blockDim.x * blockDim.y * blockDim.z;
  out[b * per_block + t] = b * per_block + t;
}

TEST_F(EmuLayer, IndicesCoverTheGridInEveryOrder) {
  Stream st;
  const dim3 grid(3, 2, 2), block(4, 3, 2);
  const int n = 12 * 24;
  DeviceBuffer<int> d(n);
  for (const char* order : kOrders) {
    SCOPED_TRACE(order);
    lkemu::set_order(order);
    index_kernel<<<grid, block, 0, st.get()>>>(d.data());
    LK_LAUNCH_CHECK();
    const auto out = download(d, st.get());
    for (int i = 0; i < n; ++i) ASSERT_EQ(out[i], i);
  }
}

}  // namespace
