// Philox 4x32-10 counter-based generator (Salmon et al., SC'11), evaluated identically on host
// and device: every random number in latentkit is a pure function of (seed, stream, offset,
// index), so the CPU reference reproduces exactly the noise, shuffles and initial weights a GPU
// run draws. Tested against the Random123 known-answer vectors (tests/test_philox.cpp), and on
// the device against the host (tests/test_philox_gpu.cu); moment tests for the distributions.
#pragma once
#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define LK_HD __host__ __device__ __forceinline__
#else
#define LK_HD inline
#endif

namespace latentkit {

struct Philox4x32 {
  uint32_t v[4];
};

// Philox round constants from Random123 (multipliers and Weyl key increments).
constexpr uint32_t kPhiloxM0 = 0xD2511F53u;
constexpr uint32_t kPhiloxM1 = 0xCD9E8D57u;
constexpr uint32_t kPhiloxW0 = 0x9E3779B9u;  // golden ratio
constexpr uint32_t kPhiloxW1 = 0xBB67AE85u;  // sqrt(3) - 1

LK_HD void philox_mulhilo(uint32_t a, uint32_t b, uint32_t& hi, uint32_t& lo) {
  const uint64_t p = static_cast<uint64_t>(a) * static_cast<uint64_t>(b);
  hi = static_cast<uint32_t>(p >> 32);
  lo = static_cast<uint32_t>(p);
}

// Raw Philox4x32 with 10 rounds.
LK_HD Philox4x32 philox4x32_10(Philox4x32 ctr, uint32_t k0, uint32_t k1) {
  for (int round = 0; round < 10; ++round) {
    uint32_t hi0, lo0, hi1, lo1;
    philox_mulhilo(kPhiloxM0, ctr.v[0], hi0, lo0);
    philox_mulhilo(kPhiloxM1, ctr.v[2], hi1, lo1);
    ctr = Philox4x32{{hi1 ^ ctr.v[1] ^ k0, lo1, hi0 ^ ctr.v[3] ^ k1, lo0}};
    k0 += kPhiloxW0;
    k1 += kPhiloxW1;
  }
  return ctr;
}

// Named streams keep independent uses of one seed apart.
enum class RngStream : uint32_t {
  Init = 1,       // initial weights
  Shuffle = 2,    // per-epoch minibatch order (offset = epoch)
  Latent = 3,     // reparameterisation noise (offset = global step)
  Data = 4,       // synthetic data sets
  Generate = 5,   // prior draws for generation
  Gmm = 6,        // GMM-EM: k-means++ / random initialisation (offset = restart) and mixture
                  // sampling (offsets latentkit/families/gmm.h reserves); see latentkit/ref/gmm_ref.h
  // RBM family (kernels/rbm.cu, host/ref/rbm.cpp); offset = the caller's half-step counter,
  // index = row * width + column of the sampled matrix.
  RbmHidden = 60,   // Bernoulli draws of the hidden units, h ~ p(h | v)
  RbmVisible = 61,  // Bernoulli draws of the visible units, v ~ p(v | h)
  RbmScore = 62,    // pseudo-likelihood: which visible bit to flip (index = row)
  RbmChainInit = 63,  // random initial states of sampling chains
  RbmData = 64,     // stochastic binarisation of the training images (offset 0)
  // Pairwise family (issue 4); values in the 40s so other families' additions cannot collide.
  MmdPermutation = 41,  // MMD permutation-test labels (offset = permutation number, 1-based)
  KMeansInit = 42,      // k-means++ draws (offset = restart << 16 | k, index = draw number)
  Subsample = 43,       // Philox subsamples: median heuristic, permutation test, silhouette
  Tsne = 50,      // t-SNE: random initialisation (offset 0), PCA start vectors (offset 1)
  Test = 100,     // tests and benchmarks
};

// Four 32-bit words for element `index` of (seed, stream, offset).
// Counter = {index lo, index hi, offset, stream}; key = {seed lo, seed hi}.
LK_HD Philox4x32 philox_block(uint64_t seed, RngStream stream, uint32_t offset, uint64_t index) {
  Philox4x32 ctr{{static_cast<uint32_t>(index), static_cast<uint32_t>(index >> 32), offset,
                  static_cast<uint32_t>(stream)}};
  return philox4x32_10(ctr, static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32));
}

// Uniform in (0, 1]: (u + 1) / 2^32 in double, never 0 so log() is safe.
LK_HD double philox_u01(uint32_t u) { return (static_cast<double>(u) + 1.0) * 2.3283064365386963e-10; }

// Standard normal by Box-Muller in double (then rounded by the caller): computing in double makes
// host libm and CUDA agree after rounding to float except with probability ~2^-29 per draw.
LK_HD double philox_normal(uint64_t seed, RngStream stream, uint32_t offset, uint64_t index) {
  const Philox4x32 r = philox_block(seed, stream, offset, index);
  const double u1 = philox_u01(r.v[0]);
  const double u2 = philox_u01(r.v[1]);
  constexpr double kTwoPi = 6.283185307179586476925286766559;
  return sqrt(-2.0 * log(u1)) * cos(kTwoPi * u2);
}

// Uniform in (0, 1] for element `index`.
LK_HD double philox_uniform(uint64_t seed, RngStream stream, uint32_t offset, uint64_t index) {
  return philox_u01(philox_block(seed, stream, offset, index).v[0]);
}

}  // namespace latentkit
