// Atomic output files, CSV and the model file format (see latentkit/io/io.h).
#include "latentkit/io/io.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <sstream>

#include "latentkit/core/check.h"

namespace latentkit {

void ensure_directory(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  LK_INPUT_CHECK(!ec && std::filesystem::is_directory(dir),
                 "cannot create output directory '" << dir << "': " << ec.message());
}

std::ifstream open_input_file(const std::string& path, const std::string& what, bool binary) {
  std::error_code ec;
  const auto st = std::filesystem::status(path, ec);
  LK_INPUT_CHECK(std::filesystem::exists(st), "cannot read " << what << " '" << path
                                                             << "': no such file (cannot open "
                                                             << "it); check the path");
  LK_INPUT_CHECK(!std::filesystem::is_directory(st),
                 what << " '" << path << "' is a directory, not a file: pass the file inside it");
  std::ifstream in(path, binary ? std::ios::binary | std::ios::in : std::ios::in);
  LK_INPUT_CHECK(in.good(), "cannot open " << what << " '" << path << "': " << std::strerror(errno)
                                           << "; check the path");
  return in;
}

std::string printable(const std::string& text, size_t max_chars) {
  std::string out;
  for (size_t i = 0; i < text.size() && out.size() < max_chars; ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    out += (c >= 0x20 && c < 0x7f) ? static_cast<char>(c) : '?';  // printable ASCII only
  }
  if (text.size() > max_chars) out += "...";
  return out;
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
constexpr const char* kPartialPrefix = ".partial-";  // staging directories inside --out
}  // namespace

OutputDir::OutputDir(const std::string& dir, std::vector<std::string> owned)
    : dir_(dir), owned_(std::move(owned)) {
  namespace fs = std::filesystem;
  LK_FLAG_CHECK(!dir_.empty(), "--out is empty: give an output directory");
  std::error_code ec;
  for (fs::path p = fs::absolute(dir_, ec); !p.empty() && !fs::exists(p, ec); p = p.parent_path()) {
    created_.push_back(p.string());
    if (p == p.parent_path()) break;
  }
  LK_INPUT_CHECK(!fs::exists(dir_, ec) || fs::is_directory(dir_, ec),
                 "--out '" << dir_ << "' is a file, not a directory: pick another --out");
  try {
    ensure_directory(dir_);
  } catch (const InputError& e) {
    throw InputError(std::string("--out: ") + e.what() + "; pick another --out");
  }
  // Only "held by another process" refuses the run: a file system without flock (ENOLCK on some
  // network mounts) runs unlocked, as before locks existed, rather than not at all.
  lock_fd_ = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (lock_fd_ >= 0 && ::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    const bool busy = errno == EWOULDBLOCK;
    ::close(lock_fd_);
    lock_fd_ = -1;
    if (busy) {
      created_.clear();  // another run owns what is there
      throw InputError("--out '" + dir_ + "' is in use by another run: wait for it to finish " +
                       "or pick another --out");
    }
  }
  for (const auto& e : fs::directory_iterator(dir_, ec))  // left by a killed run
    if (e.path().filename().string().rfind(kPartialPrefix, 0) == 0) fs::remove_all(e.path(), ec);
  staging_ = dir_ + "/" + kPartialPrefix + std::to_string(::getpid());
  if (::mkdir(staging_.c_str(), 0777) != 0) {  // 0777: the umask decides, as for any new dir
    const std::string why = std::strerror(errno);
    staging_.clear();
    release();  // unlock and remove the directories this run created
    throw InputError("--out '" + dir_ + "' is not writable (" + why +
                     "): fix its permissions or pick another --out");
  }
}

OutputDir::~OutputDir() { release(); }

void OutputDir::release() {
  std::error_code ec;
  if (!staging_.empty()) std::filesystem::remove_all(staging_, ec);
  staging_.clear();
  if (!committed_)
    for (const std::string& d : created_) ::rmdir(d.c_str());  // only while empty
  created_.clear();
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the lock
  lock_fd_ = -1;
}

void OutputDir::keep(const std::string& name) { kept_.push_back(name); }

void OutputDir::commit() {
  namespace fs = std::filesystem;
  std::vector<std::string> written, json_last;
  for (const auto& e : fs::directory_iterator(staging_)) {
    const std::string name = e.path().filename().string();
    (e.path().extension() == ".json" ? json_last : written).push_back(name);
  }
  std::sort(written.begin(), written.end());  // a fixed order, whatever the directory's
  std::sort(json_last.begin(), json_last.end());
  const auto move_in = [&](const std::string& name) {
    const std::string from = path(name), to = live_path(name);
    if (std::rename(from.c_str(), to.c_str()) != 0)
      throw InputError("cannot move '" + from + "' to '" + to + "': " + std::strerror(errno));
  };
  for (const std::string& name : written) move_in(name);
  for (const std::string& name : owned_) {
    const bool fresh = std::find(written.begin(), written.end(), name) != written.end() ||
                       std::find(json_last.begin(), json_last.end(), name) != json_last.end() ||
                       std::find(kept_.begin(), kept_.end(), name) != kept_.end();
    if (!fresh) std::remove(live_path(name).c_str());  // stale: an earlier run's, not this one's
  }
  for (const std::string& name : json_last) move_in(name);
  committed_ = true;
}

namespace {

constexpr char kMagic[8] = {'L', 'K', 'M', 'O', 'D', 'E', 'L', '1'};

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
  std::ifstream in = open_input_file(path, "model file", /*binary=*/true);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return parse_model_file(bytes, path);
}

ModelFile parse_model_file(const std::string& bytes, const std::string& path) {
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
