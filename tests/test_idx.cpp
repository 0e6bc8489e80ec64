// Tests of the IDX reader/writer (host/src/io/idx.cpp): round trips plain and gzip, and one clear
// InputError for every malformed file (missing, wrong magic, truncated, wrong size, corrupt gzip).
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>

#include "latentkit/core/check.h"
#include "latentkit/io/idx.h"
#include "test_util.h"

namespace fs = std::filesystem;

namespace latentkit {
namespace {

class Idx : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           ("idx_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    if (!HasFailure()) fs::remove_all(dir_);
  }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  static std::vector<uint8_t> slurp(const std::string& p) {
    std::ifstream in(p, std::ios::binary);
    return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
  }
  static void dump(const std::string& p, const std::vector<uint8_t>& bytes) {
    std::ofstream out(p, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  }
  // The InputError message of reading `p` as images ("" if it did not throw).
  static std::string image_error(const std::string& p) {
    try {
      read_idx_images(p);
    } catch (const InputError& e) {
      return e.what();
    }
    return "";
  }

  fs::path dir_;
};

std::vector<uint8_t> pattern(size_t n) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>((i * 37 + 11) % 256);
  return v;
}

TEST_F(Idx, ImagesRoundTripPlainAndGzip) {
  const int n = 7, rows = 5, cols = 3;  // odd sizes: no square or power-of-two assumption
  const std::vector<uint8_t> px = pattern(n * rows * cols);
  for (bool gz : {false, true}) {
    const std::string p = path(gz ? "img.gz" : "img");
    write_idx_images(p, n, rows, cols, px, gz);
    const std::vector<uint8_t> raw = slurp(p);
    EXPECT_EQ(raw[0] == 0x1f && raw[1] == 0x8b, gz) << "gzip magic present exactly when asked";
    const IdxImages img = read_idx_images(p);
    ASSERT_EQ(img.n, n);
    ASSERT_EQ(img.rows, rows);
    ASSERT_EQ(img.cols, cols);
    ASSERT_EQ(img.pixels.size(), px.size());
    for (size_t i = 0; i < px.size(); ++i) ASSERT_EQ(img.pixels[i], px[i] / 255.f) << i;
    const IdxImages first = read_idx_images(p, 3);
    EXPECT_EQ(first.n, 3);
    EXPECT_EQ(first.pixels.size(), 3u * rows * cols);
    EXPECT_EQ(read_idx_images(p, 100).n, n) << "a limit above n reads all";
  }
}

TEST_F(Idx, LabelsRoundTripPlainAndGzip) {
  const std::vector<uint8_t> labels = {0, 9, 3, 255, 1};
  for (bool gz : {false, true}) {
    const std::string p = path(gz ? "lab.gz" : "lab");
    write_idx_labels(p, labels, gz);
    const std::vector<int32_t> got = read_idx_labels(p);
    ASSERT_EQ(got, std::vector<int32_t>({0, 9, 3, 255, 1}));
    EXPECT_EQ(read_idx_labels(p, 2).size(), 2u);
  }
}

TEST_F(Idx, RejectsMissingWrongMagicTruncatedAndWrongSize) {
  const std::vector<uint8_t> px = pattern(4 * 6 * 6);
  write_idx_images(path("good"), 4, 6, 6, px, false);
  const std::vector<uint8_t> good = slurp(path("good"));

  EXPECT_NE(image_error(path("absent")).find("cannot read"), std::string::npos);

  write_idx_labels(path("labels"), {1, 2, 3}, false);
  EXPECT_NE(image_error(path("labels")).find("not an IDX images file"), std::string::npos);
  std::vector<uint8_t> bad_magic = good;
  bad_magic[3] = 0x08;  // 0x00000808: no such IDX type for images
  dump(path("bad_magic"), bad_magic);
  EXPECT_NE(image_error(path("bad_magic")).find("not an IDX images file"), std::string::npos);

  dump(path("short_header"), std::vector<uint8_t>(good.begin(), good.begin() + 10));
  EXPECT_NE(image_error(path("short_header")).find("truncated"), std::string::npos);
  dump(path("tiny"), std::vector<uint8_t>(good.begin(), good.begin() + 2));
  EXPECT_NE(image_error(path("tiny")).find("too short"), std::string::npos);

  dump(path("truncated"), std::vector<uint8_t>(good.begin(), good.end() - 1));
  const std::string trunc = image_error(path("truncated"));
  EXPECT_NE(trunc.find("truncated"), std::string::npos) << trunc;
  EXPECT_NE(trunc.find(path("truncated")), std::string::npos) << "names the file: " << trunc;

  std::vector<uint8_t> longer = good;
  longer.push_back(0);
  dump(path("longer"), longer);
  EXPECT_NE(image_error(path("longer")).find("wrong size"), std::string::npos);

  std::vector<uint8_t> zero_dim = good;
  zero_dim[11] = 0;  // rows = 0
  dump(path("zero_dim"), zero_dim);
  EXPECT_NE(image_error(path("zero_dim")).find("zero dimension"), std::string::npos);

  // The same checks apply after inflating: a well-formed gzip of a truncated IDX.
  dump(path("trunc.gz"), gzip_compress(std::vector<uint8_t>(good.begin(), good.end() - 5)));
  EXPECT_NE(image_error(path("trunc.gz")).find("truncated"), std::string::npos);

  try {
    read_idx_labels(path("good"));
    ADD_FAILURE() << "images read as labels";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("not an IDX labels file"), std::string::npos);
  }
}

TEST_F(Idx, RejectsTruncatedAndCorruptGzip) {
  const std::vector<uint8_t> px = pattern(20 * 8 * 8);
  write_idx_images(path("good.gz"), 20, 8, 8, px, true);
  const std::vector<uint8_t> gz = slurp(path("good.gz"));
  dump(path("cut.gz"), std::vector<uint8_t>(gz.begin(), gz.begin() + gz.size() / 2));
  EXPECT_NE(image_error(path("cut.gz")).find("truncated or corrupt gzip"), std::string::npos);
  std::vector<uint8_t> corrupt = gz;
  for (size_t i = 12; i < corrupt.size() - 8; i += 3) corrupt[i] ^= 0x5a;  // scramble the body
  dump(path("corrupt.gz"), corrupt);
  EXPECT_NE(image_error(path("corrupt.gz")).find("gzip"), std::string::npos);
}

// Issue 17 (bounded work): a limited read inflates and checks only the header and the items it
// reads, so damage after them does not stop it (the whole read still refuses the file); and a
// gzip stream longer than its header declares is refused after one byte too many, not inflated.
TEST_F(Idx, LimitedReadsStopAtTheirItemsAndLongStreamsAreCut) {
  const int n = 40, rows = 9, cols = 7;  // odd sizes
  // Random bytes: deflate cannot shrink them, so the first 3/4 of the compressed stream below
  // hold about the first 3/4 of the file, far more than the 3 images a limited read needs.
  std::vector<uint8_t> px(n * rows * cols);
  std::mt19937 rng(17);
  for (uint8_t& v : px) v = static_cast<uint8_t>(rng() >> 24);
  write_idx_images(path("all"), n, rows, cols, px, false);
  std::vector<uint8_t> raw = slurp(path("all"));
  const size_t first3 = 16 + 3 * rows * cols;  // header + 3 images
  // A gzip whose deflate stream is cut right after the first 3 images' bytes would fail a whole
  // read; a read of 3 images never gets there.
  const std::vector<uint8_t> gz = gzip_compress(raw);
  dump(path("cut.gz"), std::vector<uint8_t>(gz.begin(), gz.begin() + gz.size() * 3 / 4));
  EXPECT_NE(image_error(path("cut.gz")).find("gzip"), std::string::npos);
  const IdxImages three = read_idx_images(path("cut.gz"), 3);
  ASSERT_EQ(three.n, 3);
  for (size_t i = 0; i < three.pixels.size(); ++i) ASSERT_EQ(three.pixels[i], px[i] / 255.f) << i;
  // The same for a plain file cut inside image 4, and for labels.
  dump(path("cut"), std::vector<uint8_t>(raw.begin(), raw.begin() + first3 + 5));
  EXPECT_NE(image_error(path("cut")).find("truncated"), std::string::npos);
  EXPECT_EQ(read_idx_images(path("cut"), 3).n, 3);
  try {
    read_idx_images(path("cut"), 4);
    ADD_FAILURE() << "4 images read from a file that holds 3 and a bit";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("first 4 images"), std::string::npos) << e.what();
  }
  write_idx_labels(path("lab.gz"), pattern(1021), true);
  const std::vector<uint8_t> lgz = slurp(path("lab.gz"));
  dump(path("lab_cut.gz"), std::vector<uint8_t>(lgz.begin(), lgz.end() - 8));  // no trailer
  EXPECT_THROW(read_idx_labels(path("lab_cut.gz")), InputError);
  EXPECT_EQ(read_idx_labels(path("lab_cut.gz"), 31).size(), 31u);

  // 1 MiB of zeros after the declared images: refused, and only one byte past the end inflated
  // (gzip_decompress with that cap returns exactly the declared size + 1).
  raw.resize(raw.size() + (1 << 20), 0);
  const std::vector<uint8_t> long_gz = gzip_compress(raw);
  dump(path("long.gz"), long_gz);
  EXPECT_NE(image_error(path("long.gz")).find("or more bytes after"), std::string::npos);
  const size_t declared = 16 + static_cast<size_t>(n) * rows * cols;
  EXPECT_EQ(gzip_decompress(long_gz, "long.gz", declared + 1).size(), declared + 1);
  EXPECT_EQ(gzip_decompress(long_gz, "long.gz").size(), raw.size());
}

// Issue 17 (found by reading, guarded by the fuzz corpus too): dimensions whose product overflows
// 64 bits, or more pixels per image than an int holds, are refused, not wrapped around.
TEST_F(Idx, HugeDeclaredDimensionsAreRefused) {
  const auto header = [](uint32_t n, uint32_t rows, uint32_t cols, size_t extra = 64) {
    std::vector<uint8_t> b;
    for (uint32_t v : {0x00000803u, n, rows, cols})
      for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<uint8_t>(v >> s));
    b.resize(b.size() + extra, 7);
    return b;
  };
  EXPECT_THROW(parse_idx_images(header(0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu), "h"), InputError);
  EXPECT_THROW(parse_idx_images(header(0, 0xFFFFFFFFu, 0xFFFFFFFFu, 0), "h"), InputError);
  EXPECT_THROW(parse_idx_images(header(0x80000000u, 1, 1), "h"), InputError);
  EXPECT_EQ(parse_idx_images(header(4, 4, 4), "h").n, 4);
}

}  // namespace
}  // namespace latentkit
