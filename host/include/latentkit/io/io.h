// Output files, written so that a failure never leaves a half-written file: everything goes to
// "<path>.tmp-<pid>" first and is renamed over <path> only when complete.
//
// Model / checkpoint file format ("LKMODEL1", little-endian):
//   bytes 0-7   magic "LKMODEL1"
//   bytes 8-15  uint64 H: length of the header
//   H bytes     UTF-8 JSON header: {"format": "latentkit-model", "version": 1, ...caller's fields,
//               "sections": [{"name": "params", "count": P}, ...]}
//   then        each section's `count` float32 values, in header order
//   last 8      uint64 FNV-1a hash of every byte before it (detects truncation and corruption)
// Tests: tests/test_io.cpp.
#pragma once
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

namespace latentkit {

// Calls write(stream) on a temporary file beside `path`, then renames it to `path`.
// Throws InputError (with the path and the OS error) if the directory is not writable.
void write_file_atomic(const std::string& path, const std::function<void(std::ostream&)>& write,
                       bool binary = false);

// Creates the directory (and parents) if needed; throws InputError if it cannot.
void ensure_directory(const std::string& dir);

// Opens an input file for reading; throws InputError with one line naming `what` (e.g. "input
// file", "--labels") and the path when it is missing, a directory or unreadable.
std::ifstream open_input_file(const std::string& path, const std::string& what,
                              bool binary = false);

// `text` made safe for a one-line message: control and non-ASCII bytes become '?', and it is cut
// to at most `max_chars` characters (with "..." when cut), so a binary file never prints raw bytes.
std::string printable(const std::string& text, size_t max_chars = 40);

// CSV with a header row; `columns` names each column; rows are [n, columns.size()] values,
// printed with 9 significant digits (float32 round-trips exactly).
void write_csv(const std::string& path, const std::vector<std::string>& columns,
               const std::vector<std::vector<double>>& column_values);

// The output set of one run in --out: nothing mixed, nothing stale, nothing half-written.
//  - The constructor makes `dir` if needed (and checks it is writable: before any expensive work),
//    takes an exclusive lock on it (flock: released when the process ends, even by kill -9; a
//    second run on the same --out fails at once with one line), removes what a killed run left
//    (dir/.partial-*), and makes the staging directory dir/.partial-<pid>.
//  - Outputs are written under staging() (path(name)); commit() moves them into `dir` (renames in
//    the same directory: no copy, never half a file), JSON files last so that the file readers
//    trust (summary.json) appears after the data it describes, and removes every
//    name in `owned` this run did not write (a skipped stage's file from an earlier run).
//    Files that are not in `owned` are never touched: --out may hold the user's own files.
//  - Files written in place (live_path: checkpoints, which must survive a kill -9 for --resume)
//    are kept at commit when keep() was called for them.
//  - Without commit() (an error, an exception) the destructor removes the staging directory, and
//    `dir` and its parents when this run created them: --out is left exactly as it was.
// Tests: tests/test_io.cpp (OutputDir*) and every app's end-to-end tests.
class OutputDir {
 public:
  OutputDir(const std::string& dir, std::vector<std::string> owned);
  ~OutputDir();
  OutputDir(const OutputDir&) = delete;
  OutputDir& operator=(const OutputDir&) = delete;

  const std::string& dir() const { return dir_; }
  const std::string& staging() const { return staging_; }
  std::string path(const std::string& name) const { return staging_ + "/" + name; }
  std::string live_path(const std::string& name) const { return dir_ + "/" + name; }
  void keep(const std::string& name);
  void commit();

 private:
  std::string dir_, staging_;
  std::vector<std::string> owned_, kept_;
  std::vector<std::string> created_;  // directories this run made, deepest first
  int lock_fd_ = -1;
  bool committed_ = false;
  void release();
};

// FNV-1a, 64-bit (offset basis and prime from the FNV specification): the model file's trailer
// and the data fingerprints of checkpoints.
struct Fnv1a {
  uint64_t h = 0xcbf29ce484222325ull;
  void add(const void* data, size_t n) {
    const auto* p = static_cast<const unsigned char*>(data);
    for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ull;
  }
};

struct ModelFile {
  nlohmann::json header;  // caller's fields (config, scaling, ...)
  std::vector<std::pair<std::string, std::vector<float>>> sections;
  const std::vector<float>& section(const std::string& name) const;  // throws InputError
};

void write_model_file(const std::string& path, const ModelFile& model);
// Throws InputError naming the file for a bad magic, truncation, bad JSON or a hash mismatch.
ModelFile read_model_file(const std::string& path);
// The same from the file's bytes (`name` names it in messages); the fuzz target's entry.
ModelFile parse_model_file(const std::string& bytes, const std::string& name);

}  // namespace latentkit
