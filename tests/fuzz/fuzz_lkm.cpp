// Fuzz target of the model / checkpoint file reader (latentkit::parse_model_file,
// host/src/io/io.cpp; the format is in latentkit/io/io.h): any bytes either parse into a header object
// and sections whose sizes add up to the file, or throw InputError. Anything else (another
// exception, a crash, a sanitizer report) is a bug. The FNV-1a trailer makes almost every mutation
// a checksum failure, so the target also re-seals the bytes (recomputes the trailer) and parses
// again: that reaches the header and section checks behind it. Built by scripts/fuzz.sh
// (libFuzzer) and as the replay test fuzz_replay_lkm.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "latentkit/core/check.h"
#include "latentkit/io/io.h"

namespace {

void check_parse(const std::string& bytes) {
  try {
    const latentkit::ModelFile f = latentkit::parse_model_file(bytes, "fuzz.lkm");
    if (!f.header.is_object()) std::abort();
    size_t floats = 0;
    for (const auto& s : f.sections) floats += s.second.size();
    if (floats * sizeof(float) > bytes.size()) std::abort();
  } catch (const latentkit::InputError&) {
  }
}

}  // namespace

int fuzz_one(const uint8_t* data, size_t size) {
  std::string bytes(reinterpret_cast<const char*>(data), size);
  check_parse(bytes);
  if (bytes.size() >= 8) {  // re-seal: the last 8 bytes become the FNV-1a hash of the rest
    latentkit::Fnv1a hash;
    hash.add(bytes.data(), bytes.size() - 8);
    std::memcpy(&bytes[bytes.size() - 8], &hash.h, 8);
    check_parse(bytes);
  }
  return 0;
}
