// Tests of shuffling, gathering and summing (latentkit::ref::shuffle_permutation, gather_rows, sum;
// host/ref/shuffle.cpp):
//  - the permutation is a permutation (n = 1, 2, 31, 1021, 10000), deterministic, sorted by the
//    documented Philox key, different across epochs and seeds, and uniform over positions;
//  - gather_rows copies the indexed rows bitwise (repeats allowed, odd widths);
//  - sum<float> accumulates in double.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <string>
#include <vector>

#include "latentkit/core/check.h"
#include "latentkit/ref/ops_ref.h"
#include "test_util.h"

namespace latentkit {
namespace {

std::vector<int32_t> perm_of(int n, uint64_t seed, uint32_t epoch) {
  std::vector<int32_t> p(static_cast<size_t>(n), -1);
  ref::shuffle_permutation(p.data(), n, seed, epoch);
  return p;
}

const int kSizes[] = {1, 2, 31, 1021, 10000};

TEST(ShuffleRef, IsADeterministicPermutationSortedByItsKey) {
  LK_SEEDED_RNG(rng);
  for (int n : kSizes) {
    for (uint32_t epoch : {0u, 1u, 7u, 0xffffffffu}) {
      const uint64_t seed = rng();
      SCOPED_TRACE("n=" + std::to_string(n) + " epoch=" + std::to_string(epoch) +
                   " seed=" + std::to_string(seed));
      const auto p = perm_of(n, seed, epoch);
      std::vector<int32_t> sorted = p, iota(static_cast<size_t>(n));
      std::sort(sorted.begin(), sorted.end());
      std::iota(iota.begin(), iota.end(), 0);
      ASSERT_EQ(sorted, iota) << "not a permutation of 0..n-1";
      EXPECT_EQ(perm_of(n, seed, epoch), p) << "not deterministic";
      // The documented order (what the GPU must reproduce): ascending key
      // (philox_block(seed, Shuffle, epoch, i).v[0] << 32 | i).
      auto key = [&](int32_t i) {
        return (static_cast<uint64_t>(
                    philox_block(seed, RngStream::Shuffle, epoch, static_cast<uint64_t>(i)).v[0])
                << 32) |
               static_cast<uint32_t>(i);
      };
      for (int i = 0; i + 1 < n; ++i) ASSERT_LT(key(p[i]), key(p[i + 1])) << "position " << i;
    }
  }
}

// Two independent uniform permutations of n >= 31 elements coincide with probability 1/n! < 1e-33;
// for n = 2, 64 epochs all giving the same order happens with probability 2^-63.
TEST(ShuffleRef, DiffersAcrossEpochsAndSeeds) {
  LK_SEEDED_RNG(rng);
  const uint64_t seed = rng();
  for (int n : {31, 1021, 10000}) {
    SCOPED_TRACE("n=" + std::to_string(n));
    const auto p = perm_of(n, seed, 0);
    EXPECT_NE(perm_of(n, seed, 1), p) << "epoch 1";
    EXPECT_NE(perm_of(n, seed, 0x80000000u), p) << "epoch 2^31";
    EXPECT_NE(perm_of(n, seed + 1, 0), p) << "seed + 1";
    EXPECT_NE(perm_of(n, seed ^ (1ull << 63), 0), p) << "seed high bit";
  }
  bool saw_swap = false, saw_identity = false;
  for (uint32_t e = 0; e < 64; ++e) {
    const auto p = perm_of(2, seed, e);
    (p[0] == 0 ? saw_identity : saw_swap) = true;
  }
  EXPECT_TRUE(saw_swap && saw_identity) << "n = 2: both orders must occur over 64 epochs";
}

// n = 8 over E = 80000 epochs: count[i][pos] = how often element i lands at position pos.
// Under uniformity each count is Binomial(E, 1/8): mean 10000, sd sqrt(E (1/8)(7/8)) = 93.5.
//  - each cell within 5 sd (468): a correct shuffle fails one of the 64 cells with probability
//    < 64 * 5.7e-7 = 4e-5;
//  - Pearson's statistic sum (O - E)^2 / E over the 64 cells is ~ chi-square with (8-1)^2 = 49
//    degrees of freedom (rows and columns are constrained); its 1 - 3e-7 quantile is ~116
//    (Wilson-Hilferty: 49 (1 - 2/441 + 5 sqrt(2/441))^3 = 115.9). A biased shuffle (e.g. a
//    position-dependent swap) exceeds it by far.
TEST(ShuffleRef, PositionsAreUniform) {
  LK_SEEDED_RNG(rng);
  const uint64_t seed = rng();
  const int n = 8;
  const uint32_t epochs = 80000;
  std::vector<double> count(n * n, 0.0);
  std::vector<int32_t> p(n);
  for (uint32_t e = 0; e < epochs; ++e) {
    ref::shuffle_permutation(p.data(), n, seed, e);
    for (int pos = 0; pos < n; ++pos) count[p[pos] * n + pos] += 1;
  }
  const double expect = epochs / double(n);
  const double sd = std::sqrt(epochs * (1.0 / n) * (1.0 - 1.0 / n));
  double chi2 = 0;
  for (int i = 0; i < n; ++i)
    for (int pos = 0; pos < n; ++pos) {
      const double c = count[i * n + pos];
      EXPECT_LE(std::fabs(c - expect), 5 * sd) << "element " << i << " at position " << pos;
      chi2 += (c - expect) * (c - expect) / expect;
    }
  EXPECT_LT(chi2, 116.0) << "Pearson chi-square over positions, 49 degrees of freedom";
}

TEST(ShuffleRef, NonPositiveSizeThrows) {
  int32_t p[1];
  EXPECT_THROW(ref::shuffle_permutation(p, 0, 1, 0), Error);
  EXPECT_THROW(ref::shuffle_permutation(p, -5, 1, 0), Error);
}

template <class T>
void check_gather(std::mt19937_64& rng) {
  for (int d : {1, 3, 33}) {
    for (int count : {1, 31, 1021}) {
      SCOPED_TRACE("d=" + std::to_string(d) + " count=" + std::to_string(count));
      const int rows = 37;
      const auto X = test::random_uniform<T>(static_cast<size_t>(rows) * d, rng, -5, 5);
      std::vector<int32_t> idx(static_cast<size_t>(count));
      std::uniform_int_distribution<int32_t> pick(0, rows - 1);
      for (auto& i : idx) i = pick(rng);  // with repeats (count > rows)
      idx[0] = rows - 1;                  // the last row, to catch an off-by-one at the end
      std::vector<T> out(static_cast<size_t>(count) * d, static_cast<T>(test::kPoison));
      ref::gather_rows<T>(X.data(), idx.data(), count, d, out.data());
      for (int r = 0; r < count; ++r)
        ASSERT_EQ(0, std::memcmp(out.data() + static_cast<size_t>(r) * d,
                                 X.data() + static_cast<size_t>(idx[r]) * d, d * sizeof(T)))
            << "row " << r << " (source row " << idx[r] << ")";
    }
  }
}

TEST(ShuffleRef, GatherRowsCopiesIndexedRows) {
  LK_SEEDED_RNG(rng);
  check_gather<float>(rng);
  check_gather<double>(rng);
}

// 1e7 copies of 0.1f: the exact sum is 1e7 * double(0.1f) = 1000000.0149011612. Every partial sum
// is a multiple of 2^-27 below 2^20, i.e. fits in 47 bits, so a double accumulator is exact (the
// bound 1e-9 = n * 2^-53 covers any order). A float accumulator is not: above 2^20 each 0.1 rounds
// to the float spacing 0.125, and at 2^21 (spacing 0.25) the sum stops growing, about twice the
// true value. The test checks that too, so it really tells the two apart.
TEST(ShuffleRef, SumAccumulatesInDouble) {
  const size_t n = 10000000;
  const std::vector<float> v(n, 0.1f);
  const double exact = static_cast<double>(n) * static_cast<double>(0.1f);
  const double s = ref::sum<float>(v.data(), n);
  EXPECT_LE(std::fabs(s - exact) / exact, 1e-9) << "sum " << s << " vs " << exact;
  float naive = 0.0f;
  for (float x : v) naive += x;
  EXPECT_GT(std::fabs(naive - exact) / exact, 1e-6) << "a float accumulator would be inaccurate";

  EXPECT_EQ(ref::sum<float>(v.data(), 0), 0.0);
  EXPECT_EQ(ref::sum<double>(nullptr, 0), 0.0);
  // Mixed signs and odd sizes: against a compensated (Kahan-Babuska) sum; float64 accumulation of
  // n values of size <= 1e3 errs by <= n * 2^-53 * sum|v|: rtol 1e-12 of sum|v|.
  LK_SEEDED_RNG(rng);
  for (size_t m : {1u, 31u, 33u, 1021u, 100003u}) {
    SCOPED_TRACE("m=" + std::to_string(m));
    const auto w = test::random_uniform<float>(m, rng, -1e3, 1e3);
    double kb = 0, c = 0, abs_sum = 0;
    for (float x : w) {
      const double t = kb + x;
      c += std::fabs(kb) >= std::fabs(x) ? (kb - t) + x : (x - t) + kb;
      kb = t;
      abs_sum += std::fabs(x);
    }
    EXPECT_NEAR(ref::sum<float>(w.data(), m), kb + c, 1e-12 * abs_sum);
  }
}

}  // namespace
}  // namespace latentkit
