// Atomic output files, CSV and the model file format (see latentkit/io.h).
#include "latentkit/io.h"

#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <sstream>

#include "latentkit/check.h"

namespace latentkit {

void ensure_directory(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  LK_INPUT_CHECK(!ec && std::filesystem::is_directory(dir),
                 "cannot create output directory '" << dir << "': " << ec.message());
}

void write_file_atomic(const std::string& path, const std::function<void(std::ostream&)>& write,
                       bool binary) {
  const std::string tmp = path + ".tmp-" + std::to_string(::getpid());
  {
    std::ofstream os(tmp, binary ? std::ios::binary | std::ios::trunc : std::ios::trunc);
    LK_INPUT_CHECK(os.good(), "cannot write '" << tmp << "': " << std::strerror(errno));
    try {
      write(os);
    } catch (...) {
      os.close();
      std::remove(tmp.c_str());
      throw;
    }
    os.flush();
    if (!os.good()) {
      os.close();
      std::remove(tmp.c_str());
      throw InputError("writing '" + path + "' failed (disk full?)");
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    std::remove(tmp.c_str());
    throw InputError("cannot rename '" + tmp + "' to '" + path + "': " + why);
  }
}

void write_csv(const std::string& path, const std::vector<std::string>& columns,
               const std::vector<std::vector<double>>& column_values) {
  LK_CHECK(columns.size() == column_values.size(), "write_csv: names and columns differ in count");
  const size_t rows = column_values.empty() ? 0 : column_values[0].size();
  for (auto& c : column_values) LK_CHECK(c.size() == rows, "write_csv: ragged columns");
  write_file_atomic(path, [&](std::ostream& os) {
    for (size_t j = 0; j < columns.size(); ++j) os << (j ? "," : "") << columns[j];
    os << "\n";
    char buf[32];
    for (size_t i = 0; i < rows; ++i) {
      for (size_t j = 0; j < columns.size(); ++j) {
        // %.9g: 9 significant digits round-trip every float32 exactly.
        std::snprintf(buf, sizeof buf, "%.9g", column_values[j][i]);
        os << (j ? "," : "") << buf;
      }
      os << "\n";
    }
  });
}

namespace {

constexpr char kMagic[8] = {'L', 'K', 'M', 'O', 'D', 'E', 'L', '1'};

// FNV-1a, 64-bit (offset basis and prime from the FNV specification).
struct Fnv1a {
  uint64_t h = 0xcbf29ce484222325ull;
  void add(const void* data, size_t n) {
    const auto* p = static_cast<const unsigned char*>(data);
    for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ull;
  }
};

}  // namespace

const std::vector<float>& ModelFile::section(const std::string& name) const {
  for (auto& s : sections)
    if (s.first == name) return s.second;
  throw InputError("model file has no section '" + name + "'");
}

void write_model_file(const std::string& path, const ModelFile& model) {
  nlohmann::json header = model.header;
  header["format"] = "latentkit-model";
  header["version"] = 1;
  header["sections"] = nlohmann::json::array();
  for (auto& s : model.sections)
    header["sections"].push_back({{"name", s.first}, {"count", s.second.size()}});
  const std::string text = header.dump();
  write_file_atomic(
      path,
      [&](std::ostream& os) {
        Fnv1a hash;
        auto put = [&](const void* p, size_t n) {
          os.write(static_cast<const char*>(p), static_cast<std::streamsize>(n));
          hash.add(p, n);
        };
        put(kMagic, sizeof kMagic);
        const uint64_t len = text.size();
        put(&len, sizeof len);
        put(text.data(), text.size());
        for (auto& s : model.sections) put(s.second.data(), s.second.size() * sizeof(float));
        os.write(reinterpret_cast<const char*>(&hash.h), sizeof hash.h);
      },
      /*binary=*/true);
}

ModelFile read_model_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  LK_INPUT_CHECK(in.good(), "cannot open model file '" << path << "': check the path");
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string bad = "'" + path + "' is not a valid latentkit model file: ";
  LK_INPUT_CHECK(bytes.size() >= sizeof kMagic + 16 &&
                     std::memcmp(bytes.data(), kMagic, sizeof kMagic) == 0,
                 bad << "wrong magic or too short");
  Fnv1a hash;
  hash.add(bytes.data(), bytes.size() - 8);
  uint64_t stored = 0;
  std::memcpy(&stored, bytes.data() + bytes.size() - 8, 8);
  LK_INPUT_CHECK(stored == hash.h, bad << "checksum mismatch (truncated or corrupted)");
  uint64_t len = 0;
  std::memcpy(&len, bytes.data() + 8, 8);
  LK_INPUT_CHECK(len <= bytes.size() - 24, bad << "header length out of range");
  ModelFile model;
  try {
    model.header = nlohmann::json::parse(bytes.substr(16, len));
  } catch (const std::exception& e) {
    throw InputError(bad + "header is not JSON (" + e.what() + ")");
  }
  size_t pos = 16 + len;
  // The JSON is well-formed but may still have the wrong shape (not an object, no "sections", a
  // section without a name, a count that is not a number): nlohmann's exceptions become InputError.
  try {
    LK_INPUT_CHECK(model.header.is_object() &&
                       model.header.value("format", "") == "latentkit-model" &&
                       model.header.value("version", 0) == 1,
                   bad << "unknown format or version");
    for (auto& s : model.header.at("sections")) {
      const std::string name = s.at("name").get<std::string>();
      const size_t count = s.at("count").get<size_t>();
      LK_INPUT_CHECK(count <= (bytes.size() - 8 - pos) / sizeof(float),
                     bad << "section '" << name << "' runs past the end");
      std::vector<float> values(count);
      // An empty section has no storage: memcpy from/to a null pointer is undefined (UBSan).
      if (count > 0) std::memcpy(values.data(), bytes.data() + pos, count * sizeof(float));
      pos += count * sizeof(float);
      model.sections.emplace_back(name, std::move(values));
    }
  } catch (const nlohmann::json::exception& e) {
    throw InputError(bad + "malformed header (" + e.what() + ")");
  }
  LK_INPUT_CHECK(pos == bytes.size() - 8, bad << "trailing bytes after the last section");
  return model;
}

}  // namespace latentkit
