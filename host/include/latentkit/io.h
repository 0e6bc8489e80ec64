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
#include <functional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace latentkit {

// Calls write(stream) on a temporary file beside `path`, then renames it to `path`.
// Throws InputError (with the path and the OS error) if the directory is not writable.
void write_file_atomic(const std::string& path, const std::function<void(std::ostream&)>& write,
                       bool binary = false);

// Creates the directory (and parents) if needed; throws InputError if it cannot.
void ensure_directory(const std::string& dir);

// CSV with a header row; `columns` names each column; rows are [n, columns.size()] values,
// printed with 9 significant digits (float32 round-trips exactly).
void write_csv(const std::string& path, const std::vector<std::string>& columns,
               const std::vector<std::vector<double>>& column_values);

struct ModelFile {
  nlohmann::json header;  // caller's fields (config, scaling, ...)
  std::vector<std::pair<std::string, std::vector<float>>> sections;
  const std::vector<float>& section(const std::string& name) const;  // throws InputError
};

void write_model_file(const std::string& path, const ModelFile& model);
// Throws InputError naming the file for a bad magic, truncation, bad JSON or a hash mismatch.
ModelFile read_model_file(const std::string& path);

}  // namespace latentkit
