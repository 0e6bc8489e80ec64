// Philox4x32-10 on the device (latentkit/core/philox.h is __host__ __device__): the Random123
// known-answer vectors evaluated in a kernel, philox_block bitwise equal to the host for many
// counters, and fill_normal (kernels/reparam.cu) equal to ref::fill_normal<float> for 10^6 draws
// but for rare 1-ulp rounding flips. Skips itself (with the reason) where no CUDA device is usable.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "kernels/cuda_check.cuh"
#include "kernels/cuda_resources.cuh"
#include "kernels/reparam.cuh"
#include "latentkit/core/philox.h"
#include "latentkit/ref/ops_ref.h"
#include "gpu_test_util.cuh"
#include "test_util.h"

namespace {

using latentkit::Philox4x32;
using latentkit::RngStream;
using latentkit::cuda::DeviceBuffer;
using latentkit::cuda::Stream;
using latentkit::test::from_device;
using latentkit::test::to_device;
using latentkit::test::ulp_distance;
using latentkit::test::kPoison;

// One Philox input: counter words and key words.
struct PhiloxInput {
  uint32_t ctr[4];
  uint32_t key[2];
};

__global__ void philox_raw_kernel(const PhiloxInput* in, int count, Philox4x32* out) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < count) {
    const PhiloxInput x = in[i];
    out[i] = latentkit::philox4x32_10(Philox4x32{{x.ctr[0], x.ctr[1], x.ctr[2], x.ctr[3]}},
                                      x.key[0], x.key[1]);
  }
}

__global__ void philox_block_kernel(uint64_t seed, RngStream stream, uint32_t offset,
                                    uint64_t first_index, int count, Philox4x32* out) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < count) out[i] = latentkit::philox_block(seed, stream, offset, first_index + i);
}

constexpr int kThreads = 256;  // any block size works; a common one

TEST(PhiloxGpu, KnownAnswerVectors) {
  LK_REQUIRE_GPU();
  // Random123's kat_vectors for philox4x32_10 (counter, key -> output).
  const std::vector<PhiloxInput> inputs = {
      {{0x00000000u, 0x00000000u, 0x00000000u, 0x00000000u}, {0x00000000u, 0x00000000u}},
      {{0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}, {0xffffffffu, 0xffffffffu}},
      {{0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}, {0xa4093822u, 0x299f31d0u}},
  };
  const uint32_t expected[3][4] = {
      {0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u},
      {0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu},
      {0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u},
  };
  Stream stream;
  auto in_d = to_device(inputs, stream);
  DeviceBuffer<Philox4x32> out_d(inputs.size());
  // On the kernel's stream: a legacy-stream cudaMemset is not ordered before it (the emulated
  // GPU ran the memset after the kernel and caught this).
  LK_CUDA_CHECK(cudaMemsetAsync(out_d.data(), 0, out_d.bytes(), stream.get()));
  philox_raw_kernel<<<1, kThreads, 0, stream.get()>>>(in_d.data(), static_cast<int>(inputs.size()),
                                                     out_d.data());
  LK_LAUNCH_CHECK();
  const auto out = from_device(out_d, stream);
  for (size_t v = 0; v < inputs.size(); ++v) {
    for (int w = 0; w < 4; ++w) {
      EXPECT_EQ(out[v].v[w], expected[v][w]) << "vector " << v << " word " << w << std::hex
                                             << ": got 0x" << out[v].v[w];
    }
  }
}

TEST(PhiloxGpu, BlocksMatchHostBitwise) {
  LK_REQUIRE_GPU();
  LK_SEEDED_RNG(rng);
  const uint64_t seed = rng();
  const uint32_t offset = static_cast<uint32_t>(rng());
  // Start just below 2^32 so the index's high word (counter word 1) changes inside the range.
  const uint64_t first = (uint64_t{1} << 32) - 1000;
  constexpr int kCount = 1 << 16;  // 65536 counters: cheap, and covers both index words
  Stream stream;
  DeviceBuffer<Philox4x32> out_d(kCount);
  philox_block_kernel<<<latentkit::grid_for(kCount, kThreads), kThreads, 0, stream.get()>>>(
      seed, RngStream::Test, offset, first, kCount, out_d.data());
  LK_LAUNCH_CHECK();
  const auto out = from_device(out_d, stream);
  for (int i = 0; i < kCount; ++i) {
    const Philox4x32 h = latentkit::philox_block(seed, RngStream::Test, offset, first + i);
    ASSERT_EQ(0, std::memcmp(h.v, out[i].v, sizeof h.v)) << "index " << first + i;
  }
}

TEST(PhiloxGpu, FillNormalMatchesReference) {
  LK_REQUIRE_GPU();
  LK_SEEDED_RNG(rng);
  constexpr size_t kDraws = 1000000;
  const uint64_t seed = rng();
  const uint32_t offset = static_cast<uint32_t>(rng());
  std::vector<float> ref(kDraws);
  latentkit::ref::fill_normal<float>(ref.data(), kDraws, seed, RngStream::Test, offset);

  Stream stream;
  auto out_d = to_device(std::vector<float>(kDraws, kPoison), stream);
  latentkit::cuda::fill_normal(out_d.data(), kDraws, seed, RngStream::Test, offset, stream.get());
  const auto out = from_device(out_d, stream);
  // Both sides evaluate Box-Muller in double and round to float; CUDA's and glibc's log/cos may
  // differ by an ulp in double, which changes the float only when the value sits within that ulp
  // of a float rounding boundary: probability ~2^-29 per draw, so ~0.2% for 10^6 draws to see even
  // one flip. Allow at most 2 elements, each exactly 1 float ulp off; everything else bitwise.
  size_t flips = 0;
  for (size_t i = 0; i < kDraws; ++i) {
    ASSERT_TRUE(std::isfinite(out[i])) << "element " << i << " not written (or not finite)";
    const int64_t d = ulp_distance(out[i], ref[i]);
    ASSERT_LE(d, 1) << "element " << i << ": " << out[i] << " vs reference " << ref[i];
    flips += d == 1;
  }
  EXPECT_LE(flips, 2u) << flips << " draws differ from the reference by 1 ulp";
}

}  // namespace
