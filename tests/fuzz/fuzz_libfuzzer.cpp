// libFuzzer's entry point for one target file (fuzz_<target>.cpp, which defines fuzz_one);
// scripts/fuzz.sh links the two with -fsanitize=fuzzer,address,undefined.
#include <cstddef>
#include <cstdint>

int fuzz_one(const uint8_t* data, size_t size);

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return fuzz_one(data, size);
}
