// IDX files (the MNIST / Fashion-MNIST format, http://yann.lecun.com/exdb/mnist/): big-endian
// header, magic 0x00000803 for uint8 images [n, rows, cols], 0x00000801 for uint8 labels [n].
// Plain or gzip-compressed (recognised by the gzip magic bytes 1f 8b, inflated with zlib).
// Every malformed file (unreadable, wrong magic, truncated, trailing bytes, corrupt gzip) throws
// InputError with one line naming the file and the problem. With a limit (max_images or
// max_labels >= 0, fewer than the file declares) only the header and the first items are read
// and checked: a gzip file is inflated no further, and what follows them is not looked at. A gzip
// stream is never inflated past one byte more than its header declares (a longer one is refused
// as trailing bytes without inflating the rest). Tests: tests/test_idx.cpp.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace latentkit {

struct IdxImages {
  int n = 0, rows = 0, cols = 0;
  std::vector<float> pixels;  // [n, rows*cols], uint8 / 255 in [0, 1]
};

// Reads all images, or the first `max_images` of them when max_images >= 0.
IdxImages read_idx_images(const std::string& path, long long max_images = -1);
// Labels 0..255 as int32.
std::vector<int32_t> read_idx_labels(const std::string& path, long long max_labels = -1);
// The same from a file's bytes (plain or gzip); `name` names it in messages (fuzz targets).
IdxImages parse_idx_images(std::vector<uint8_t> bytes, const std::string& name,
                           long long max_images = -1);
std::vector<int32_t> parse_idx_labels(std::vector<uint8_t> bytes, const std::string& name,
                                      long long max_labels = -1);

// Writers (tests and tools): `pixels` is [n, rows*cols] bytes; gzip selects compression.
// Written atomically (latentkit/io/io.h).
void write_idx_images(const std::string& path, int n, int rows, int cols,
                      const std::vector<uint8_t>& pixels, bool gzip);
void write_idx_labels(const std::string& path, const std::vector<uint8_t>& labels, bool gzip);

// gzip helpers over whole buffers (zlib): throws InputError naming `what` on corrupt input.
// gzip_decompress stops after `max_bytes` bytes of output (the rest of the stream is neither
// inflated nor checked); without it the whole stream must be intact.
std::vector<uint8_t> gzip_compress(const std::vector<uint8_t>& data);
std::vector<uint8_t> gzip_decompress(const std::vector<uint8_t>& data, const std::string& what,
                                     size_t max_bytes = SIZE_MAX);

}  // namespace latentkit
