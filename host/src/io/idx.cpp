// IDX reader and writer, plain or gzip (see latentkit/io/idx.h).
#include "latentkit/io/idx.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>

#include "latentkit/core/check.h"
#include "latentkit/io/io.h"

namespace latentkit {
namespace {

constexpr uint32_t kIdxImagesMagic = 0x00000803;  // unsigned byte data, 3 dimensions
constexpr uint32_t kIdxLabelsMagic = 0x00000801;  // unsigned byte data, 1 dimension
// zlib's windowBits for the gzip wrapper: 15 (the largest window) + 16 (gzip header/trailer).
constexpr int kGzipWindowBits = 15 + 16;
// Decompression output grows in steps of this many bytes (1 MiB).
constexpr size_t kInflateChunk = 1 << 20;

std::vector<uint8_t> read_all(const std::string& path) {
  std::ifstream in = open_input_file(path, "IDX file", /*binary=*/true);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

uint32_t be32(const std::vector<uint8_t>& b, size_t at) {
  return (uint32_t(b[at]) << 24) | (uint32_t(b[at + 1]) << 16) | (uint32_t(b[at + 2]) << 8) |
         uint32_t(b[at + 3]);
}

void put_be32(std::vector<uint8_t>& b, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<uint8_t>(v >> s));
}

// The items a read takes: all n, or the first `limit` when 0 <= limit < n.
long long items_read(long long n, long long limit) { return limit >= 0 && limit < n ? limit : n; }

// The bytes of an IDX file of `ndims` dimensions that a read with `limit` needs, from the header
// in h: the header and the items read, plus one byte when it reads all (to see trailing bytes).
// SIZE_MAX when h is too short to tell or the size does not fit (check_idx then says why).
size_t idx_bytes_needed(const std::vector<uint8_t>& h, int ndims, long long limit) {
  const size_t header = 4 + 4 * static_cast<size_t>(ndims);
  if (h.size() < header) return SIZE_MAX;
  const long long n = be32(h, 4);
  const long long items = items_read(n, limit);
  unsigned __int128 bytes = static_cast<unsigned long long>(items);  // 3 x 32 bits can pass 64
  for (int d = 1; d < ndims; ++d) bytes *= be32(h, 4 + 4 * d);
  bytes += header + (items == n ? 1 : 0);
  return bytes >= SIZE_MAX ? SIZE_MAX : static_cast<size_t>(bytes);
}

// The bytes a read with `limit` checks, inflated when they start with the gzip magic: first the
// header alone, then as far as idx_bytes_needed() (never the whole of a longer stream).
std::vector<uint8_t> inflate_if_gzip(std::vector<uint8_t> raw, const std::string& path, int ndims,
                                     long long limit) {
  if (raw.size() < 2 || raw[0] != 0x1f || raw[1] != 0x8b) return raw;
  const size_t header = 4 + 4 * static_cast<size_t>(ndims);
  return gzip_decompress(raw, path, idx_bytes_needed(gzip_decompress(raw, path, header), ndims,
                                                     limit));
}

// Validates the header (magic, dimension count, sizes) and returns the item count; `dims` gets
// the dimensions after the first. With a limit (items_read < n) b needs to hold only the header
// and the items read; otherwise exactly the whole file. Throws InputError naming `path`.
long long check_idx(const std::vector<uint8_t>& b, const std::string& path, uint32_t magic,
                    const char* kind, std::vector<uint32_t>& dims, long long limit) {
  const int ndims = static_cast<int>(magic & 0xff);
  const size_t header = 4 + 4 * static_cast<size_t>(ndims);
  LK_INPUT_CHECK(b.size() >= 4,
                 "'" << path << "' is too short to be an IDX file (" << b.size() << " bytes)");
  const uint32_t got = be32(b, 0);
  LK_INPUT_CHECK(got == magic, "'" << path << "' is not an IDX " << kind << " file (magic 0x"
                                   << std::hex << got << ", expected 0x" << magic << std::dec
                                   << "); pass the " << kind << " file");
  LK_INPUT_CHECK(b.size() >= header, "'" << path << "' is truncated inside its IDX header");
  const long long n = be32(b, 4);
  const long long items = items_read(n, limit);
  dims.clear();
  // The product of the dimensions can exceed 64 bits (three 32-bit values): any file that large
  // is refused before multiplying, since it could not be held in memory anyway.
  unsigned long long expected = static_cast<unsigned long long>(items);
  for (int d = 1; d < ndims; ++d) {
    dims.push_back(be32(b, 4 + 4 * d));
    LK_INPUT_CHECK(dims.back() > 0, "'" << path << "' has a zero dimension in its IDX header");
    LK_INPUT_CHECK(expected <= b.size() / dims.back(),
                   "'" << path << "' is truncated: "
                       << (items < n ? "its first " + std::to_string(items) + " " + kind + " need"
                                     : std::string("its header promises"))
                       << " more than the " << b.size() << " bytes the file holds");
    expected *= dims.back();
  }
  LK_INPUT_CHECK(n <= std::numeric_limits<int>::max(),
                 "'" << path << "' declares " << n << " " << kind << ", more than "
                     << std::numeric_limits<int>::max() << ": not an MNIST-style file");
  expected += header;
  if (items < n) {
    LK_INPUT_CHECK(b.size() >= expected, "'" << path << "' is truncated: its first " << items
                                             << " " << kind << " need " << expected
                                             << " bytes, the file holds " << b.size());
    return n;
  }
  LK_INPUT_CHECK(b.size() >= expected, "'" << path << "' is truncated: its header promises "
                                           << expected << " bytes, the file holds " << b.size());
  // A gzip stream is inflated to at most one byte past the declared size: "at least 1" then.
  LK_INPUT_CHECK(b.size() == expected, "'" << path << "' has " << (b.size() - expected)
                                           << " or more bytes after the " << n << " " << kind
                                           << " its header declares (wrong size)");
  return n;
}

void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  write_file_atomic(
      path,
      [&](std::ostream& os) {
        os.write(reinterpret_cast<const char*>(bytes.data()),
                 static_cast<std::streamsize>(bytes.size()));
      },
      true);
}

}  // namespace

std::vector<uint8_t> gzip_compress(const std::vector<uint8_t>& data) {
  z_stream zs{};
  // Level 6: zlib's default trade-off; 8: zlib's default memory level.
  LK_CHECK(deflateInit2(&zs, 6, Z_DEFLATED, kGzipWindowBits, 8, Z_DEFAULT_STRATEGY) == Z_OK,
           "zlib deflateInit2 failed");
  std::vector<uint8_t> out(deflateBound(&zs, data.size()) + 64);  // + room for the gzip wrapper
  zs.next_in = const_cast<Bytef*>(data.data());
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = out.data();
  zs.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  LK_CHECK(rc == Z_STREAM_END, "zlib deflate failed (" << rc << ")");
  return out;
}

std::vector<uint8_t> gzip_decompress(const std::vector<uint8_t>& data, const std::string& what,
                                     size_t max_bytes) {
  z_stream zs{};
  LK_CHECK(inflateInit2(&zs, kGzipWindowBits) == Z_OK, "zlib inflateInit2 failed");
  std::vector<uint8_t> out;
  zs.next_in = const_cast<Bytef*>(data.data());
  zs.avail_in = static_cast<uInt>(data.size());
  int rc = Z_OK;
  while (rc == Z_OK && out.size() < max_bytes) {
    const size_t have = out.size();
    const size_t chunk = std::min(kInflateChunk, max_bytes - have);
    out.resize(have + chunk);
    zs.next_out = out.data() + have;
    zs.avail_out = static_cast<uInt>(chunk);
    rc = inflate(&zs, Z_NO_FLUSH);
    out.resize(have + chunk - zs.avail_out);
    if (rc == Z_BUF_ERROR && zs.avail_in == 0) break;  // input ended before the stream did
  }
  const char* msg = zs.msg;
  inflateEnd(&zs);
  if (rc == Z_OK && out.size() >= max_bytes) return out;  // the prefix asked for, intact so far
  LK_INPUT_CHECK(rc == Z_STREAM_END, "'" << what << "' is a truncated or corrupt gzip file ("
                                         << (msg ? msg : "unexpected end of data")
                                         << "); download it again");
  return out;
}

IdxImages read_idx_images(const std::string& path, long long max_images) {
  return parse_idx_images(read_all(path), path, max_images);
}

IdxImages parse_idx_images(std::vector<uint8_t> bytes, const std::string& path,
                           long long max_images) {
  const std::vector<uint8_t> b = inflate_if_gzip(std::move(bytes), path, 3, max_images);
  std::vector<uint32_t> dims;
  const long long n = check_idx(b, path, kIdxImagesMagic, "images", dims, max_images);
  // rows * cols is the column count of every consumer (an int): an empty file may declare any size.
  LK_INPUT_CHECK(static_cast<unsigned long long>(dims[0]) * dims[1] <=
                     static_cast<unsigned long long>(std::numeric_limits<int>::max()),
                 "'" << path << "' declares " << dims[0] << " x " << dims[1]
                     << " pixels per image: not an MNIST-style file");
  IdxImages img;
  img.rows = static_cast<int>(dims[0]);
  img.cols = static_cast<int>(dims[1]);
  img.n = static_cast<int>(items_read(n, max_images));
  const size_t count = static_cast<size_t>(img.n) * img.rows * img.cols;
  img.pixels.resize(count);
  const uint8_t* src = b.data() + 16;  // 4 magic + 3 dimensions of 4 bytes
  for (size_t i = 0; i < count; ++i) img.pixels[i] = static_cast<float>(src[i]) / 255.f;
  return img;
}

std::vector<int32_t> read_idx_labels(const std::string& path, long long max_labels) {
  return parse_idx_labels(read_all(path), path, max_labels);
}

std::vector<int32_t> parse_idx_labels(std::vector<uint8_t> bytes, const std::string& path,
                                      long long max_labels) {
  const std::vector<uint8_t> b = inflate_if_gzip(std::move(bytes), path, 1, max_labels);
  std::vector<uint32_t> dims;
  const long long n = check_idx(b, path, kIdxLabelsMagic, "labels", dims, max_labels);
  const long long m = items_read(n, max_labels);
  std::vector<int32_t> labels(static_cast<size_t>(m));
  for (long long i = 0; i < m; ++i) labels[i] = b[8 + i];  // 4 magic + 1 dimension of 4 bytes
  return labels;
}

void write_idx_images(const std::string& path, int n, int rows, int cols,
                      const std::vector<uint8_t>& pixels, bool gzip) {
  LK_CHECK(
      n >= 0 && rows > 0 && cols > 0 && pixels.size() == static_cast<size_t>(n) * rows * cols,
      "write_idx_images: " << pixels.size() << " bytes for " << n << "x" << rows << "x" << cols);
  std::vector<uint8_t> b;
  put_be32(b, kIdxImagesMagic);
  put_be32(b, static_cast<uint32_t>(n));
  put_be32(b, static_cast<uint32_t>(rows));
  put_be32(b, static_cast<uint32_t>(cols));
  b.insert(b.end(), pixels.begin(), pixels.end());
  write_bytes(path, gzip ? gzip_compress(b) : b);
}

void write_idx_labels(const std::string& path, const std::vector<uint8_t>& labels, bool gzip) {
  std::vector<uint8_t> b;
  put_be32(b, kIdxLabelsMagic);
  put_be32(b, static_cast<uint32_t>(labels.size()));
  b.insert(b.end(), labels.begin(), labels.end());
  write_bytes(path, gzip ? gzip_compress(b) : b);
}

}  // namespace latentkit
