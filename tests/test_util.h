// The one comparison helper and the shared test utilities.
//  - all_close(): float64 comparison of an output against a reference: the norm check
//    ||out-ref|| <= rel_norm*||ref|| + atol*sqrt(n) (atol floors it as it floors each element, so a
//    few near-zero reference values do not demand impossible relative accuracy) AND elementwise
//    |out-ref| <= atol + rtol*|ref|; any NaN/Inf fails; on failure prints the worst element and
//    how close to its limit it came. ElementTolerance gives each element its own absolute floor
//    (for sums whose rounding error is set by their terms, not by a result that may cancel).
//  - fresh_seed(): every run draws new random inputs (std::random_device); the seed is printed
//    with each failure (SCOPED_TRACE) so a failing draw can be replayed with LATENTKIT_TEST_SEED.
//  - LK_REQUIRE_GPU(): GTEST_SKIP with the reason when no CUDA device is usable; a failure instead
//    when LATENTKIT_REQUIRE_GPU=1 (latentkit::gpu_required()), as on the lent GPU machine.
#pragma once
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "latentkit/core/device.h"

namespace latentkit::test {

struct Tolerance {
  double atol;      // absolute floor, for reference values near zero
  double rtol;      // relative to |ref| per element
  double rel_norm;  // bound on ||out - ref|| / ||ref||
};

// Per-element absolute floors: limit_i = atol[i] + rtol |ref_i|, and the norm check
// ||out-ref|| <= rel_norm ||ref|| + ||atol||. For outputs whose attainable accuracy differs by
// element: a sum's rounding error scales with its terms (e.g. sqrt of the sum of their squares),
// not with the result, which can cancel to ~0; atol[i] is then derived from element i's terms.
struct ElementTolerance {
  std::vector<double> atol;
  double rtol;
  double rel_norm;
};

namespace detail {

// all_close with element i's absolute floor atol_of(i); atol_norm = ||(atol_of(i))_i||.
template <class A, class B, class AtolOf>
::testing::AssertionResult all_close_impl(const A* out, const B* ref, size_t n, AtolOf atol_of,
                                          double atol_norm, double rtol, double rel_norm) {
  double diff2 = 0.0, ref2 = 0.0, worst_ratio = 0.0;
  size_t worst = 0, failures = 0;
  for (size_t i = 0; i < n; ++i) {
    const double o = static_cast<double>(out[i]);
    const double r = static_cast<double>(ref[i]);
    if (!std::isfinite(o)) {
      return ::testing::AssertionFailure()
             << "non-finite output " << o << " at index " << i << " (ref " << r << ")";
    }
    if (!std::isfinite(r)) {
      return ::testing::AssertionFailure() << "non-finite reference " << r << " at index " << i;
    }
    const double err = std::fabs(o - r);
    const double limit = atol_of(i) + rtol * std::fabs(r);
    const double ratio = err / limit;
    if (ratio > worst_ratio) { worst_ratio = ratio; worst = i; }
    if (err > limit) ++failures;
    diff2 += (o - r) * (o - r);
    ref2 += r * r;
  }
  const double rel = ref2 > 0 ? std::sqrt(diff2 / ref2) : std::sqrt(diff2);
  const double norm_limit = rel_norm * std::sqrt(ref2) + atol_norm;
  const bool norm_ok = std::sqrt(diff2) <= norm_limit;
  std::ostringstream msg;
  msg << "n=" << n << " ||out-ref||=" << std::sqrt(diff2) << " rel_norm=" << rel << " (limit "
      << norm_limit << " = " << rel_norm << "*||ref|| + ||atol||), worst element " << worst
      << ": out=" << (n ? static_cast<double>(out[worst]) : 0.0)
      << " ref=" << (n ? static_cast<double>(ref[worst]) : 0.0) << " at " << worst_ratio
      << " x its limit (atol " << (n ? atol_of(worst) : 0.0) << ", rtol " << rtol << "), "
      << failures << " elements over";
  if (failures == 0 && norm_ok) return ::testing::AssertionSuccess() << msg.str();
  return ::testing::AssertionFailure() << msg.str();
}

}  // namespace detail

template <class A, class B>
::testing::AssertionResult all_close(const A* out, const B* ref, size_t n, Tolerance tol) {
  return detail::all_close_impl(
      out, ref, n, [&](size_t) { return tol.atol; }, tol.atol * std::sqrt(double(n)), tol.rtol,
      tol.rel_norm);
}

template <class A, class B>
::testing::AssertionResult all_close(const std::vector<A>& out, const std::vector<B>& ref,
                                     const ElementTolerance& tol) {
  if (out.size() != ref.size() || tol.atol.size() != ref.size())
    return ::testing::AssertionFailure()
           << "size " << out.size() << " vs " << ref.size() << " (atol: " << tol.atol.size() << ")";
  double atol2 = 0.0;
  for (double a : tol.atol) atol2 += a * a;
  return detail::all_close_impl(
      out.data(), ref.data(), ref.size(), [&](size_t i) { return tol.atol[i]; }, std::sqrt(atol2),
      tol.rtol, tol.rel_norm);
}

template <class A, class B>
::testing::AssertionResult all_close(const std::vector<A>& out, const std::vector<B>& ref,
                                     Tolerance tol) {
  if (out.size() != ref.size())
    return ::testing::AssertionFailure() << "size " << out.size() << " vs " << ref.size();
  return all_close(out.data(), ref.data(), out.size(), tol);
}

// ||out - ref|| / ||ref|| alone, for tests whose elementwise floor is deliberately loose (it would
// also loosen all_close's norm check through atol*sqrt(n)).
template <class A, class B>
double relative_norm_diff(const std::vector<A>& out, const std::vector<B>& ref) {
  double diff2 = 0.0, ref2 = 0.0;
  for (size_t i = 0; i < out.size() && i < ref.size(); ++i) {
    const double d = static_cast<double>(out[i]) - static_cast<double>(ref[i]);
    diff2 += d * d;
    ref2 += static_cast<double>(ref[i]) * static_cast<double>(ref[i]);
  }
  return ref2 > 0 ? std::sqrt(diff2 / ref2) : std::sqrt(diff2);
}

// A new seed per test run unless LATENTKIT_TEST_SEED pins it (to replay a failure).
inline uint64_t fresh_seed() {
  if (const char* s = std::getenv("LATENTKIT_TEST_SEED")) return std::strtoull(s, nullptr, 10);
  std::random_device rd;
  return (static_cast<uint64_t>(rd()) << 32) ^ rd();
}

template <class T = float>
std::vector<T> random_uniform(size_t n, std::mt19937_64& rng, double lo, double hi) {
  std::uniform_real_distribution<double> u(lo, hi);
  std::vector<T> v(n);
  for (auto& x : v) x = static_cast<T>(u(rng));
  return v;
}

// A value no kernel writes: outputs are poisoned with it before a run so untouched elements fail.
constexpr float kPoison = std::numeric_limits<float>::quiet_NaN();

inline bool gpu_available() { return cuda_device_count() > 0; }

}  // namespace latentkit::test

#define LK_REQUIRE_GPU()                                                                 \
  do {                                                                                   \
    if (!::latentkit::test::gpu_available()) {                                           \
      if (::latentkit::gpu_required())                                                   \
        GTEST_FAIL() << "no usable CUDA device (" << ::latentkit::no_gpu_reason()        \
                     << ") and LATENTKIT_REQUIRE_GPU is set: a skip counts as a failure"; \
      GTEST_SKIP() << "no usable CUDA device (" << ::latentkit::no_gpu_reason()          \
                   << "): GPU-vs-CPU test needs a GPU; run the `gpu` label on one";      \
    }                                                                                    \
  } while (0)

// Seed the test's random inputs and print the seed with any failure.
#define LK_SEEDED_RNG(rng_name)                                                          \
  const uint64_t rng_name##_seed = ::latentkit::test::fresh_seed();                      \
  SCOPED_TRACE("LATENTKIT_TEST_SEED=" + std::to_string(rng_name##_seed));                \
  std::mt19937_64 rng_name(rng_name##_seed)
