// Tests of the IDX reader/writer (host/src/idx.cpp): round trips plain and gzip, and one clear
// InputError for every malformed file (missing, wrong magic, truncated, wrong size, corrupt gzip).
#include <filesystem>
#include <fstream>
#include <iterator>

#include "latentkit/check.h"
#include "latentkit/idx.h"
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
