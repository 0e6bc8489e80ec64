// Philox 4x32-10 against the Random123 known-answer vectors, and moment tests of the uniform and
// normal draws built on it (latentkit/core/philox.h).
#include <cmath>
#include <vector>

#include "latentkit/core/philox.h"
#include "test_util.h"

namespace latentkit {
namespace {

struct Kat {
  Philox4x32 ctr;
  uint32_t k0, k1;
  Philox4x32 expected;
};

// Random123's kat_vectors for philox4x32_10.
const Kat kKats[] = {
    {{{0, 0, 0, 0}}, 0, 0, {{0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u}}},
    {{{0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}},
     0xffffffffu,
     0xffffffffu,
     {{0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu}}},
    {{{0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}},
     0xa4093822u,
     0x299f31d0u,
     {{0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u}}},
};

TEST(Philox, KnownAnswerVectors) {
  for (const Kat& k : kKats) {
    const Philox4x32 out = philox4x32_10(k.ctr, k.k0, k.k1);
    for (int i = 0; i < 4; ++i) EXPECT_EQ(out.v[i], k.expected.v[i]) << "word " << i;
  }
}

TEST(Philox, StreamsOffsetsAndSeedsDiffer) {
  const uint64_t seed = test::fresh_seed();
  const auto a = philox_block(seed, RngStream::Latent, 0, 7).v[0];
  EXPECT_NE(a, philox_block(seed, RngStream::Shuffle, 0, 7).v[0]);
  EXPECT_NE(a, philox_block(seed, RngStream::Latent, 1, 7).v[0]);
  EXPECT_NE(a, philox_block(seed + 1, RngStream::Latent, 0, 7).v[0]);
  EXPECT_NE(a, philox_block(seed, RngStream::Latent, 0, 8).v[0]);
  EXPECT_EQ(a, philox_block(seed, RngStream::Latent, 0, 7).v[0]);
}

// Raw moments of N(0,1) from n = 1e6 draws. Standard error of the mean of x^k is
// sqrt(Var(x^k) / n): x: sqrt(1/n) = 1e-3; x^2: sqrt(2/n) = 1.4e-3; x^3: sqrt(E x^6 = 15)/1e3 =
// 3.9e-3; x^4: sqrt(E x^8 - 9 = 96)/1e3 = 9.8e-3. Bounds at 5 standard errors (1e-6 false
// failures each); a wrong shape is still caught (a uniform of variance 1 has E x^4 = 1.8).
TEST(Philox, NormalMoments) {
  const uint64_t seed = test::fresh_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  const size_t n = 1000000;
  double m1 = 0, m2 = 0, m3 = 0, m4 = 0;
  for (size_t i = 0; i < n; ++i) {
    const double x = philox_normal(seed, RngStream::Test, 0, i);
    ASSERT_TRUE(std::isfinite(x));
    m1 += x;
    m2 += x * x;
    m3 += x * x * x;
    m4 += x * x * x * x;
  }
  m1 /= n; m2 /= n; m3 /= n; m4 /= n;
  EXPECT_NEAR(m1, 0.0, 5e-3);
  EXPECT_NEAR(m2, 1.0, 7e-3);
  EXPECT_NEAR(m3, 0.0, 2e-2);
  EXPECT_NEAR(m4 - 3.0, 0.0, 5e-2);
}

// Uniform (0,1]: mean 1/2 (se 2.9e-4), variance 1/12 (se 7.5e-5) at n = 1e6; 5 standard errors.
// Also never 0 (log-safe) and never above 1.
TEST(Philox, UniformMomentsAndRange) {
  const uint64_t seed = test::fresh_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  const size_t n = 1000000;
  double m1 = 0, m2 = 0;
  for (size_t i = 0; i < n; ++i) {
    const double u = philox_uniform(seed, RngStream::Test, 3, i);
    ASSERT_GT(u, 0.0);
    ASSERT_LE(u, 1.0);
    m1 += u;
    m2 += u * u;
  }
  m1 /= n;
  m2 = m2 / n - m1 * m1;
  EXPECT_NEAR(m1, 0.5, 1.5e-3);
  EXPECT_NEAR(m2, 1.0 / 12.0, 4e-4);
  EXPECT_GT(philox_u01(0u), 0.0);
  EXPECT_EQ(philox_u01(0xffffffffu), 1.0);
}

}  // namespace
}  // namespace latentkit
