// Fuzz target of the CSV reader (latentkit::parse_csv_matrix, host/src/io/data.cpp): any bytes either
// parse into a consistent N x D matrix of finite floats, with and without a row limit, or throw
// InputError (a one-line user message). Anything else (another exception, a crash, a sanitizer
// report) is a bug. Built by scripts/fuzz.sh (libFuzzer) and as the replay test fuzz_replay_csv.
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <sstream>
#include <string>

#include "latentkit/core/check.h"
#include "latentkit/io/data.h"

namespace {

void check_parse(const std::string& text, long long max_rows) {
  std::istringstream in(text);
  latentkit::Dataset ds;
  try {
    ds = latentkit::parse_csv_matrix(in, "fuzz.csv", max_rows);
  } catch (const latentkit::InputError&) {
    return;  // a clean refusal
  }
  if (ds.n <= 0 || ds.d <= 0 || ds.x.size() != static_cast<size_t>(ds.n) * ds.d) std::abort();
  if (max_rows >= 0 && ds.n > max_rows) std::abort();
  for (const float v : ds.x)
    if (!std::isfinite(v)) std::abort();
}

}  // namespace

int fuzz_one(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  check_parse(text, -1);
  check_parse(text, 1);  // --limit 1: stops after the first data row
  return 0;
}
