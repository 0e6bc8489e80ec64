// Tests of the PNG writer and image grids (host/src/io/png.cpp): the signature, IHDR fields, every
// chunk's CRC, and the pixels recovered by zlib's uncompress from IDAT (with the filter bytes).
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "latentkit/io/png.h"
#include "test_util.h"

namespace latentkit {
namespace {

uint32_t be32(const std::vector<uint8_t>& b, size_t at) {
  return (uint32_t(b[at]) << 24) | (uint32_t(b[at + 1]) << 16) | (uint32_t(b[at + 2]) << 8) |
         uint32_t(b[at + 3]);
}

struct Chunk {
  std::string type;
  std::vector<uint8_t> data;
};

// Parses the chunk list, checking each CRC-32 (over type + data) independently of the writer.
std::vector<Chunk> parse_png(const std::vector<uint8_t>& png) {
  const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  EXPECT_TRUE(png.size() > 8 && std::equal(sig, sig + 8, png.begin())) << "PNG signature";
  std::vector<Chunk> chunks;
  size_t at = 8;
  while (at + 12 <= png.size()) {
    const uint32_t len = be32(png, at);
    EXPECT_LE(at + 12 + len, png.size());
    Chunk c;
    c.type.assign(png.begin() + at + 4, png.begin() + at + 8);
    c.data.assign(png.begin() + at + 8, png.begin() + at + 8 + len);
    const uint32_t crc = be32(png, at + 8 + len);
    const uLong want = crc32(crc32(0L, Z_NULL, 0), png.data() + at + 4, 4 + len);
    EXPECT_EQ(crc, static_cast<uint32_t>(want)) << "CRC of chunk " << c.type;
    chunks.push_back(c);
    at += 12 + len;
  }
  EXPECT_EQ(at, png.size()) << "no trailing bytes";
  return chunks;
}

TEST(Png, EncodesGrayscaleThatDecodesBack) {
  GrayImage img;
  img.width = 5;  // odd sizes
  img.height = 3;
  for (int i = 0; i < 15; ++i) img.pixels.push_back(static_cast<uint8_t>(i * 17));
  const std::vector<Chunk> chunks = parse_png(encode_png(img));
  ASSERT_EQ(chunks.size(), 3u);
  EXPECT_EQ(chunks[0].type, "IHDR");
  EXPECT_EQ(chunks[1].type, "IDAT");
  EXPECT_EQ(chunks[2].type, "IEND");
  ASSERT_EQ(chunks[0].data.size(), 13u);
  EXPECT_EQ(be32(chunks[0].data, 0), 5u);
  EXPECT_EQ(be32(chunks[0].data, 4), 3u);
  EXPECT_EQ(chunks[0].data[8], 8);  // bit depth
  EXPECT_EQ(chunks[0].data[9], 0);  // grayscale
  std::vector<uint8_t> raw(3 * (5 + 1));
  uLongf raw_len = raw.size();
  ASSERT_EQ(uncompress(raw.data(), &raw_len, chunks[1].data.data(), chunks[1].data.size()), Z_OK);
  ASSERT_EQ(raw_len, raw.size());
  for (int y = 0; y < 3; ++y) {
    EXPECT_EQ(raw[y * 6], 0) << "filter byte of row " << y;
    for (int x = 0; x < 5; ++x) EXPECT_EQ(raw[y * 6 + 1 + x], img.pixels[y * 5 + x]);
  }
}

TEST(Png, WriteMatchesEncodeAndIsAtomic) {
  GrayImage img{2, 2, {0, 64, 128, 255}};
  const std::string p = ::testing::TempDir() + "/png_" + std::to_string(::getpid()) + ".png";
  write_png(p, img);
  std::ifstream in(p, std::ios::binary);
  const std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(bytes, encode_png(img));
  for (auto& e : std::filesystem::directory_iterator(::testing::TempDir()))
    EXPECT_EQ(e.path().string().find(p + ".tmp"), std::string::npos) << "temporary left behind";
  std::filesystem::remove(p);
}

TEST(Png, GridLayoutClampingAndPerTileNormalisation) {
  // Three 2x3 tiles in a grid of 2 columns with 1 pixel of padding: 2 x 2 cells.
  std::vector<float> tiles = {0.f,  0.5f, 1.f, 2.f,  -1.f, 0.25f,  // clamped to [0, 1]
                              3.f,  3.f,  3.f, 3.f,  3.f,  3.f,    // constant
                              -2.f, 0.f,  2.f, -2.f, 0.f,  2.f};   // spans -2..2
  const GrayImage clamped = image_grid(tiles.data(), 3, 2, 3, 2, 1, false);
  EXPECT_EQ(clamped.width, 2 * 3 + 3 * 1);
  EXPECT_EQ(clamped.height, 2 * 2 + 3 * 1);
  const auto px = [](const GrayImage& g, int x, int y) { return g.pixels[y * g.width + x]; };
  EXPECT_EQ(px(clamped, 0, 0), 0) << "padding";
  EXPECT_EQ(px(clamped, 1, 1), 0);    // tile 0 (0, 0) = 0
  EXPECT_EQ(px(clamped, 2, 1), 128);  // 0.5 -> 127.5 rounds to 128
  EXPECT_EQ(px(clamped, 3, 1), 255);
  EXPECT_EQ(px(clamped, 1, 2), 255);  // 2 clamps to 1
  EXPECT_EQ(px(clamped, 2, 2), 0);    // -1 clamps to 0
  EXPECT_EQ(px(clamped, 5, 1), 255);  // tile 1 starts at x = 1 + 3 + 1
  const GrayImage norm = image_grid(tiles.data(), 3, 2, 3, 2, 1, true);
  EXPECT_EQ(px(norm, 5, 1), 128) << "a constant tile is mid-gray";
  EXPECT_EQ(px(norm, 1, 4), 0);  // tile 2 at y = 1 + 2 + 1: -2 is its minimum
  EXPECT_EQ(px(norm, 2, 4), 128);
  EXPECT_EQ(px(norm, 3, 4), 255);
  EXPECT_EQ(px(norm, 6, 5), 0) << "the empty fourth cell stays black";
}

}  // namespace
}  // namespace latentkit
