// Tests of output files and the model file format (latentkit/io/io.h, host/src/io/io.cpp):
//  - write_model_file / read_model_file round-trip the header fields and sections bit for bit
//    (negative zero, denormals, FLT_MAX, empty sections);
//  - every single-byte corruption and every truncation of a model file is detected (InputError),
//    as are a wrong magic, garbage, an empty file and an inconsistent header;
//  - write_csv output reads back with read_csv_matrix to the same floats;
//  - write_file_atomic leaves no temporary file and keeps the old file when the writer throws;
//  - ensure_directory.
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "latentkit/core/check.h"
#include "latentkit/io/data.h"
#include "latentkit/io/io.h"
#include "test_util.h"

namespace latentkit {
namespace {

namespace fs = std::filesystem;

class Io : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::path(::testing::TempDir()) /
           ("latentkit_io_" + std::to_string(test::fresh_seed()) + "_" + info->name());
    fs::remove_all(dir_);
    ASSERT_TRUE(fs::create_directories(dir_)) << dir_;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  static std::string read_bytes(const std::string& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }
  static void write_bytes(const std::string& p, const std::string& bytes) {
    std::ofstream os(p, std::ios::binary | std::ios::trunc);
    os.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
  // Names in the test directory (to spot leftover temporary files).
  std::vector<std::string> listing() const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir_))
      names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }
  fs::path dir_;
};

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() &&
         (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

ModelFile sample_model(std::mt19937_64& rng) {
  ModelFile m;
  m.header["config"] = {{"hidden", {128, 128}}, {"latent", 2}, {"likelihood", "gaussian"}};
  m.header["note"] = "unicode \xc3\xa9 and \"quotes\"";
  std::vector<float> params = test::random_uniform<float>(1021, rng, -3, 3);
  // Values whose bits a text or lossy path would change.
  const float specials[] = {-0.0f,
                            0.0f,
                            std::numeric_limits<float>::denorm_min(),
                            -std::numeric_limits<float>::denorm_min(),
                            1e-40f,
                            FLT_MIN,
                            FLT_MAX,
                            -FLT_MAX,
                            1.0f + FLT_EPSILON};
  for (size_t i = 0; i < std::size(specials); ++i) params[i * 97] = specials[i];
  m.sections.emplace_back("params", params);
  m.sections.emplace_back("empty", std::vector<float>{});
  m.sections.emplace_back("adam_m", test::random_uniform<float>(33, rng, -1, 1));
  return m;
}

TEST_F(Io, ModelFileRoundTripsBitwise) {
  LK_SEEDED_RNG(rng);
  const ModelFile m = sample_model(rng);
  write_model_file(path("m.lkm"), m);
  EXPECT_EQ(listing(), std::vector<std::string>{"m.lkm"}) << "no temporary file may remain";
  const ModelFile r = read_model_file(path("m.lkm"));
  EXPECT_EQ(r.header.at("format"), "latentkit-model");
  EXPECT_EQ(r.header.at("version"), 1);
  EXPECT_EQ(r.header.at("config"), m.header.at("config"));
  EXPECT_EQ(r.header.at("note"), m.header.at("note"));
  ASSERT_EQ(r.header.at("sections").size(), m.sections.size());
  ASSERT_EQ(r.sections.size(), m.sections.size());
  for (size_t i = 0; i < m.sections.size(); ++i) {
    SCOPED_TRACE(m.sections[i].first);
    EXPECT_EQ(r.sections[i].first, m.sections[i].first);
    EXPECT_EQ(r.header.at("sections").at(i).at("name"), m.sections[i].first);
    EXPECT_EQ(r.header.at("sections").at(i).at("count"), m.sections[i].second.size());
    EXPECT_TRUE(same_bits(r.sections[i].second, m.sections[i].second));
  }
  EXPECT_TRUE(same_bits(r.section("params"), m.sections[0].second));
  EXPECT_TRUE(std::signbit(r.section("params")[0])) << "negative zero";
  EXPECT_THROW(r.section("no_such_section"), InputError);

  // Overwriting an existing model file works and leaves only it.
  ModelFile m2 = m;
  m2.sections.resize(1);
  m2.sections[0].second.resize(1);
  write_model_file(path("m.lkm"), m2);
  EXPECT_EQ(read_model_file(path("m.lkm")).sections.size(), 1u);
  EXPECT_EQ(listing(), std::vector<std::string>{"m.lkm"});
}

void expect_rejected(const std::string& p, const std::string& what) {
  SCOPED_TRACE(what);
  try {
    read_model_file(p);
    ADD_FAILURE() << "accepted a bad model file";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(p), std::string::npos)
        << "message names the file: " << e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "threw a non-InputError: " << e.what();
  }
}

// FNV-1a over everything but the last 8 bytes: a change of any one byte changes the hash (each
// step is a bijection of the running state), so every single-byte corruption is caught; so is
// every truncation (the stored hash moves). Checked exhaustively on a small file.
TEST_F(Io, ModelFileCorruptionIsDetected) {
  LK_SEEDED_RNG(rng);
  ModelFile m;
  m.header["k"] = 3;
  m.sections.emplace_back("params", test::random_uniform<float>(31, rng, -1, 1));
  m.sections.emplace_back("adam_v", test::random_uniform<float>(5, rng, 0, 1));
  write_model_file(path("good.lkm"), m);
  const std::string good = read_bytes(path("good.lkm"));
  ASSERT_GT(good.size(), 24u + 36 * 4);
  const std::string bad = path("bad.lkm");

  write_bytes(bad, good.substr(0, good.size() - 1));
  expect_rejected(bad, "truncated by 1 byte");
  {
    // One byte in the middle of the params section.
    std::string b = good;
    const size_t at = good.size() - 8 - 5 * 4 - 17 * 4 + 2;
    b[at] = static_cast<char>(b[at] ^ 0x10);
    write_bytes(bad, b);
    expect_rejected(bad, "flipped byte in a section");
  }
  {
    std::string b = good;
    b[0] = 'X';
    write_bytes(bad, b);
    expect_rejected(bad, "wrong magic");
  }
  write_bytes(bad, "");
  expect_rejected(bad, "empty file");
  write_bytes(bad, std::string(good.data(), 8));
  expect_rejected(bad, "magic only");
  {
    std::string garbage(4096, '\0');
    for (char& c : garbage) c = static_cast<char>(rng());
    write_bytes(bad, garbage);
    expect_rejected(bad, "garbage");
    garbage.replace(0, 8, "LKMODEL1");
    write_bytes(bad, garbage);
    expect_rejected(bad, "garbage after a valid magic");
  }
  expect_rejected(path("missing.lkm"), "missing file");

  // Exhaustive: every truncation, every byte flipped (one random non-zero xor mask per byte).
  for (size_t len = 0; len < good.size(); ++len) {
    write_bytes(bad, good.substr(0, len));
    EXPECT_THROW(read_model_file(bad), InputError) << "truncated to " << len << " bytes";
  }
  for (size_t at = 0; at < good.size(); ++at) {
    std::string b = good;
    const auto mask = static_cast<unsigned char>(1u + rng() % 255u);
    b[at] = static_cast<char>(static_cast<unsigned char>(b[at]) ^ mask);
    write_bytes(bad, b);
    EXPECT_THROW(read_model_file(bad), InputError) << "byte " << at << " xor " << int(mask);
  }
  // The original still reads.
  EXPECT_NO_THROW(read_model_file(path("good.lkm")));
}

// FNV-1a 64 written out independently, to forge files whose checksum is right but whose content is
// inconsistent: the reader must still reject them with InputError (not crash or throw json errors).
uint64_t fnv1a(const std::string& bytes) {
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

std::string forge(const std::string& header_json, const std::string& payload,
                  uint64_t header_len_override = 0) {
  std::string b = "LKMODEL1";
  const uint64_t len = header_len_override ? header_len_override : header_json.size();
  b.append(reinterpret_cast<const char*>(&len), 8);
  b += header_json;
  b += payload;
  const uint64_t h = fnv1a(b);
  b.append(reinterpret_cast<const char*>(&h), 8);
  return b;
}

TEST_F(Io, ForgedInconsistentFilesAreRejected) {
  const std::string bad = path("forged.lkm");
  const std::string four_floats(16, '\0');
  // A valid header up to its "sections" value.
  const std::string head = R"({"format":"latentkit-model","version":1,"sections":)";
  const std::string hdr = head + R"([{"name":"p","count":4}]})";
  // Sanity: the forger produces files the reader accepts.
  write_bytes(bad, forge(hdr, four_floats));
  ASSERT_NO_THROW(read_model_file(bad));
  EXPECT_EQ(read_model_file(bad).section("p").size(), 4u);

  write_bytes(bad, forge(hdr, four_floats, 1ull << 40));
  expect_rejected(bad, "header length out of range");
  write_bytes(bad, forge(hdr, four_floats + "xyz"));
  expect_rejected(bad, "trailing bytes");
  write_bytes(bad, forge(hdr, std::string(12, '\0')));
  expect_rejected(bad, "section runs past the end");
  write_bytes(bad, forge(head + R"([{"name":"p","count":4611686018427387904}]})", four_floats));
  expect_rejected(bad, "huge count");
  write_bytes(bad, forge(head + R"([{"name":"p","count":-4}]})", four_floats));
  expect_rejected(bad, "negative count");
  write_bytes(bad, forge(head + R"([{"name":"p","count":"4"}]})", four_floats));
  expect_rejected(bad, "count not a number");
  write_bytes(bad, forge(head + R"([{"count":4}]})", four_floats));
  expect_rejected(bad, "section without a name");
  write_bytes(bad, forge("{not json", four_floats));
  expect_rejected(bad, "header not JSON");
  write_bytes(bad, forge(R"({"format":"latentkit-model","version":2,"sections":[]})", ""));
  expect_rejected(bad, "unknown version");
  write_bytes(bad, forge(R"({"format":"other","version":1,"sections":[]})", ""));
  expect_rejected(bad, "unknown format");
  write_bytes(bad, forge(R"({"format":"latentkit-model","version":1})", ""));
  expect_rejected(bad, "no sections list");
  write_bytes(bad, forge(R"([1,2,3])", ""));
  expect_rejected(bad, "header not an object");
}

// write_csv prints %.9g, enough to round-trip every float32; read_csv_matrix reads the header line
// and parses back to the identical floats (compared bitwise, -0 included).
TEST_F(Io, CsvRoundTripsThroughReader) {
  LK_SEEDED_RNG(rng);
  for (size_t rows : {1u, 31u, 1021u}) {
    SCOPED_TRACE("rows=" + std::to_string(rows));
    std::vector<std::vector<double>> cols(3);
    std::vector<float> expect;
    std::uniform_real_distribution<double> u(-1, 1);
    for (size_t i = 0; i < rows; ++i)
      for (int j = 0; j < 3; ++j) {
        // Floats over many magnitudes (1e-30 .. 1e30), as the values written are floats.
        float v = static_cast<float>(u(rng) * std::pow(10.0, static_cast<int>(rng() % 61) - 30));
        if (i == 0 && j == 0) v = -0.0f;
        if (i == 0 && j == 1) v = 1e-40f;  // a denormal
        if (i == 0 && j == 2) v = FLT_MAX;
        cols[j].push_back(v);
        expect.push_back(v);
      }
    write_csv(path("out.csv"), {"z1", "z2", "label"}, cols);
    EXPECT_EQ(listing(), std::vector<std::string>{"out.csv"});
    const std::string text = read_bytes(path("out.csv"));
    EXPECT_EQ(text.substr(0, 12), "z1,z2,label\n");
    const Dataset ds = read_csv_matrix(path("out.csv"));
    ASSERT_EQ(ds.n, static_cast<int>(rows));
    ASSERT_EQ(ds.d, 3);
    EXPECT_TRUE(same_bits(ds.x, expect));
  }
  EXPECT_THROW(write_csv(path("x.csv"), {"a", "b"}, {{1.0}}), Error) << "names vs columns";
  EXPECT_THROW(write_csv(path("x.csv"), {"a", "b"}, {{1.0}, {1.0, 2.0}}), Error) << "ragged";
}

TEST_F(Io, AtomicWriteKeepsOldFileWhenWriterThrows) {
  const std::string p = path("result.txt");
  write_file_atomic(p, [](std::ostream& os) { os << "old contents\n"; });
  EXPECT_EQ(read_bytes(p), "old contents\n");
  EXPECT_EQ(listing(), std::vector<std::string>{"result.txt"});

  struct WriterFailed : std::runtime_error {
    using std::runtime_error::runtime_error;
  };
  EXPECT_THROW(write_file_atomic(p,
                                 [](std::ostream& os) {
                                   os << "half of the new contents";
                                   os.flush();
                                   throw WriterFailed("writer failed");
                                 }),
               WriterFailed)
      << "the writer's exception propagates unchanged";
  EXPECT_EQ(read_bytes(p), "old contents\n") << "old file must be intact";
  EXPECT_EQ(listing(), std::vector<std::string>{"result.txt"}) << "no temporary file may remain";

  // A writer that throws for a file that did not exist yet leaves nothing behind.
  EXPECT_THROW(write_file_atomic(path("new.txt"), [](std::ostream&) { throw WriterFailed("no"); }),
               WriterFailed);
  EXPECT_FALSE(fs::exists(path("new.txt")));
  EXPECT_EQ(listing(), std::vector<std::string>{"result.txt"});

  // Binary mode writes bytes unchanged; success replaces the old contents.
  const std::string bytes("a\0b\r\nc\n", 7);
  write_file_atomic(
      p, [&](std::ostream& os) { os.write(bytes.data(), 7); }, true);
  EXPECT_EQ(read_bytes(p), bytes);
  EXPECT_EQ(listing(), std::vector<std::string>{"result.txt"});

  // An unwritable location is an InputError naming the path.
  EXPECT_THROW(write_file_atomic(path("no_dir/x.txt"), [](std::ostream& os) { os << 1; }),
               InputError);
}

TEST_F(Io, EnsureDirectory) {
  const std::string nested = path("a/b/c");
  EXPECT_NO_THROW(ensure_directory(nested));
  EXPECT_TRUE(fs::is_directory(nested));
  EXPECT_NO_THROW(ensure_directory(nested)) << "existing directory is fine";
  write_file_atomic(path("plain"), [](std::ostream& os) { os << "x"; });
  EXPECT_THROW(ensure_directory(path("plain/sub")), InputError) << "under a regular file";
  EXPECT_THROW(ensure_directory(path("plain")), InputError) << "a regular file itself";
  EXPECT_THROW(write_model_file(path("plain/m.lkm"), ModelFile{}), InputError);
}

// OutputDir (issue 17): the set appears at commit, with stale owned files removed and foreign
// ones kept; without commit nothing changes; a second OutputDir on the same directory is refused.
TEST_F(Io, OutputDirCommitsWholeSetsAndLocks) {
  const std::string out = path("out");
  {
    OutputDir d(out, {"a.csv", "b.csv", "summary.json", "checkpoint.lkm"});
    write_file_atomic(d.path("a.csv"), [](std::ostream& os) { os << "a1"; });
    write_file_atomic(d.path("b.csv"), [](std::ostream& os) { os << "b1"; });
    write_file_atomic(d.live_path("checkpoint.lkm"), [](std::ostream& os) { os << "ck"; });
    d.keep("checkpoint.lkm");
    EXPECT_FALSE(fs::exists(path("out/a.csv"))) << "visible before commit";
    EXPECT_THROW(OutputDir(out, {}), InputError) << "a second run while the first holds it";
    d.commit();
  }
  EXPECT_EQ(read_bytes(path("out/a.csv")), "a1");
  EXPECT_EQ(read_bytes(path("out/checkpoint.lkm")), "ck");
  write_bytes(path("out/notes.txt"), "mine");
  {
    OutputDir d(out, {"a.csv", "b.csv", "summary.json", "checkpoint.lkm"});
    write_file_atomic(d.path("a.csv"), [](std::ostream& os) { os << "a2"; });
    // No commit: an error after writing leaves the earlier set.
  }
  EXPECT_EQ(read_bytes(path("out/a.csv")), "a1");
  EXPECT_EQ(read_bytes(path("out/b.csv")), "b1");
  {
    OutputDir d(out, {"a.csv", "b.csv", "summary.json", "checkpoint.lkm"});
    write_file_atomic(d.path("a.csv"), [](std::ostream& os) { os << "a3"; });
    d.commit();
  }
  EXPECT_EQ(read_bytes(path("out/a.csv")), "a3");
  EXPECT_FALSE(fs::exists(path("out/b.csv"))) << "stale: not written by the last run";
  EXPECT_FALSE(fs::exists(path("out/checkpoint.lkm"))) << "stale: not kept by the last run";
  EXPECT_EQ(read_bytes(path("out/notes.txt")), "mine") << "not an output: never touched";
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(out)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"a.csv", "notes.txt"}));
  // A failed run in a directory it created leaves nothing behind, parents included.
  { OutputDir d(path("new/deeper"), {"a.csv"}); }
  EXPECT_FALSE(fs::exists(path("new")));
  write_bytes(path("plain"), "x");
  EXPECT_THROW(OutputDir(path("plain"), {}), InputError);
  EXPECT_THROW(OutputDir(path("plain/sub"), {}), InputError);
}

}  // namespace
}  // namespace latentkit
