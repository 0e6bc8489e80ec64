// Grayscale PNG writer and image grids (see latentkit/io/png.h). PNG layout (ISO/IEC 15948):
// signature, IHDR, one IDAT (zlib stream of the rows, each prefixed by filter byte 0), IEND;
// every chunk is length (big-endian), type, data, CRC-32 of type + data.
#include "latentkit/io/png.h"

#include <zlib.h>

#include <algorithm>
#include <cmath>

#include "latentkit/core/check.h"
#include "latentkit/io/io.h"

namespace latentkit {
namespace {

constexpr uint8_t kPngSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

void put_be32(std::vector<uint8_t>& b, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<uint8_t>(v >> s));
}

void put_chunk(std::vector<uint8_t>& out, const char type[4], const std::vector<uint8_t>& data) {
  put_be32(out, static_cast<uint32_t>(data.size()));
  const size_t type_at = out.size();
  out.insert(out.end(), type, type + 4);
  out.insert(out.end(), data.begin(), data.end());
  const uLong crc =
      crc32(crc32(0L, Z_NULL, 0), out.data() + type_at, static_cast<uInt>(4 + data.size()));
  put_be32(out, static_cast<uint32_t>(crc));
}

}  // namespace

std::vector<uint8_t> encode_png(const GrayImage& img) {
  LK_CHECK(img.width > 0 && img.height > 0 &&
               img.pixels.size() == static_cast<size_t>(img.width) * img.height,
           "encode_png: " << img.pixels.size() << " pixels for " << img.width << "x" << img.height);
  std::vector<uint8_t> out(kPngSignature, kPngSignature + 8);
  std::vector<uint8_t> ihdr;
  put_be32(ihdr, static_cast<uint32_t>(img.width));
  put_be32(ihdr, static_cast<uint32_t>(img.height));
  // bit depth 8, colour type 0 (grayscale), compression 0, filter method 0, no interlace
  ihdr.insert(ihdr.end(), {8, 0, 0, 0, 0});
  put_chunk(out, "IHDR", ihdr);

  std::vector<uint8_t> raw;
  raw.reserve(static_cast<size_t>(img.width + 1) * img.height);
  for (int y = 0; y < img.height; ++y) {
    raw.push_back(0);  // filter type None
    const uint8_t* row = img.pixels.data() + static_cast<size_t>(y) * img.width;
    raw.insert(raw.end(), row, row + img.width);
  }
  uLongf packed_size = compressBound(static_cast<uLong>(raw.size()));
  std::vector<uint8_t> packed(packed_size);
  LK_CHECK(compress2(packed.data(), &packed_size, raw.data(), static_cast<uLong>(raw.size()),
                     Z_BEST_COMPRESSION) == Z_OK,
           "zlib compress2 failed");
  packed.resize(packed_size);
  put_chunk(out, "IDAT", packed);
  put_chunk(out, "IEND", {});
  return out;
}

void write_png(const std::string& path, const GrayImage& img) {
  const std::vector<uint8_t> bytes = encode_png(img);
  write_file_atomic(
      path,
      [&](std::ostream& os) {
        os.write(reinterpret_cast<const char*>(bytes.data()),
                 static_cast<std::streamsize>(bytes.size()));
      },
      true);
}

GrayImage image_grid(const float* images, int count, int tile_rows, int tile_cols, int grid_cols,
                     int pad, bool normalize_each) {
  LK_CHECK(count > 0 && tile_rows > 0 && tile_cols > 0 && grid_cols > 0 && pad >= 0,
           "image_grid: bad layout count=" << count << " tile " << tile_rows << "x" << tile_cols
                                           << " grid_cols=" << grid_cols << " pad=" << pad);
  const int cols = std::min(grid_cols, count);
  const int rows = (count + grid_cols - 1) / grid_cols;
  GrayImage img;
  img.width = cols * tile_cols + (cols + 1) * pad;
  img.height = rows * tile_rows + (rows + 1) * pad;
  img.pixels.assign(static_cast<size_t>(img.width) * img.height, 0);
  const size_t tile_size = static_cast<size_t>(tile_rows) * tile_cols;
  for (int t = 0; t < count; ++t) {
    const float* tile = images + t * tile_size;
    double lo = 0.0, hi = 1.0;
    if (normalize_each) {
      lo = *std::min_element(tile, tile + tile_size);
      hi = *std::max_element(tile, tile + tile_size);
    }
    const int x0 = pad + (t % grid_cols) * (tile_cols + pad);
    const int y0 = pad + (t / grid_cols) * (tile_rows + pad);
    for (int y = 0; y < tile_rows; ++y) {
      for (int x = 0; x < tile_cols; ++x) {
        const double v = tile[static_cast<size_t>(y) * tile_cols + x];
        double u = hi > lo ? (v - lo) / (hi - lo) : 0.5;  // constant tile: mid-gray
        if (!std::isfinite(u)) u = 0.0;
        u = std::clamp(u, 0.0, 1.0);
        img.pixels[static_cast<size_t>(y0 + y) * img.width + x0 + x] =
            static_cast<uint8_t>(std::lround(u * 255.0));
      }
    }
  }
  return img;
}

}  // namespace latentkit
