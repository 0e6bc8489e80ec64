// Replays a fuzz target's corpus without libFuzzer: feeds every file under the directories (or the
// files) given on the command line to fuzz_one, the target's entry (fuzz_<target>.cpp). A bug
// aborts (or a sanitizer reports it in a sanitized build); otherwise it prints the count and exits
// 0, or 1 when there was nothing to replay. CTest runs it per target on tests/fuzz/corpus/<target>
// (label cpu), so every input the fuzzer ever kept is re-checked by CI.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

int fuzz_one(const uint8_t* data, size_t size);

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  std::vector<fs::path> files;
  for (int a = 1; a < argc; ++a) {
    if (fs::is_directory(argv[a])) {
      for (const auto& e : fs::recursive_directory_iterator(argv[a]))
        if (e.is_regular_file()) files.push_back(e.path());
    } else {
      files.emplace_back(argv[a]);
    }
  }
  for (const fs::path& f : files) {
    std::ifstream in(f, std::ios::binary);
    const std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), {});
    fuzz_one(bytes.data(), bytes.size());
  }
  std::printf("replayed %zu inputs\n", files.size());
  return files.empty() ? 1 : 0;
}
