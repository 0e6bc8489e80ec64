// Minimal 8-bit grayscale PNG writer (zlib's compress2 for IDAT, crc32 for the chunk CRCs) and an
// image-grid helper for filters and samples. Files are written atomically (latentkit/io/io.h).
// Tests: tests/test_png.cpp (signature, chunk CRCs, pixels recovered by zlib's uncompress).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace latentkit {

struct GrayImage {
  int width = 0, height = 0;
  std::vector<uint8_t> pixels;  // row-major [height, width]
};

// Encodes the image as PNG bytes (colour type 0, bit depth 8, filter 0 on every row).
std::vector<uint8_t> encode_png(const GrayImage& img);
void write_png(const std::string& path, const GrayImage& img);

// Tiles `count` images of tile_rows x tile_cols floats (images [count, tile_rows*tile_cols]) into
// a grid of `grid_cols` columns with `pad` pixels of spacing (value 0). Pixel values: clamped
// [0, 1] -> [0, 255] when normalize_each is false; otherwise each tile is scaled by its own
// min..max (for weight filters; a constant tile becomes mid-gray).
GrayImage image_grid(const float* images, int count, int tile_rows, int tile_cols, int grid_cols,
                     int pad, bool normalize_each);

}  // namespace latentkit
