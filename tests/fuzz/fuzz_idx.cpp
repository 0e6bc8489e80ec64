// Fuzz target of the IDX readers (latentkit::parse_idx_images / parse_idx_labels,
// host/src/io/idx.cpp), plain or gzip: any bytes either parse into images of consistent shape with
// pixels in [0, 1] (or labels 0..255), with and without a limit, or throw InputError. Anything else
// (another exception, a crash, a sanitizer report) is a bug. Built by scripts/fuzz.sh (libFuzzer)
// and as the replay test fuzz_replay_idx.
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "latentkit/core/check.h"
#include "latentkit/io/idx.h"

int fuzz_one(const uint8_t* data, size_t size) {
  const std::vector<uint8_t> bytes(data, data + size);
  for (const long long limit : {-1LL, 2LL}) {  // all, and a --limit of 2
    try {
      const latentkit::IdxImages img = latentkit::parse_idx_images(bytes, "fuzz.idx", limit);
      if (img.n < 0 || img.rows <= 0 || img.cols <= 0 || (limit >= 0 && img.n > limit) ||
          img.pixels.size() != static_cast<size_t>(img.n) * img.rows * img.cols)
        std::abort();
      for (const float p : img.pixels)
        if (!(p >= 0.f && p <= 1.f)) std::abort();
    } catch (const latentkit::InputError&) {
    }
    try {
      const std::vector<int32_t> l = latentkit::parse_idx_labels(bytes, "fuzz.idx", limit);
      if (limit >= 0 && static_cast<long long>(l.size()) > limit) std::abort();
      for (const int32_t v : l)
        if (v < 0 || v > 255) std::abort();
    } catch (const latentkit::InputError&) {
    }
  }
  return 0;
}
