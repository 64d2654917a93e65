// Page decompression for the Parquet reader.
//   snappy  the raw block format (google/snappy format_description.txt; Parquet uses no framing):
//           a varint of the uncompressed length, then elements: literal (tag 00, length-1 in the tag or
//           in 1-4 following bytes), copy with a 1-byte (tag 01), 2-byte (10) or 4-byte (11) offset.
//           Written here (it is a page of code) rather than adding a library.
//   gzip    zlib's inflate with a gzip header; members concatenated one after another are all read.
//   zstd    libzstd's one-shot ZSTD_decompress; the frame must hold exactly the page's size.
#include <zlib.h>
#include <zstd.h>

#include <cstring>

#include "engine/core/error.h"
#include "engine/io/parquet.h"

namespace qlab::io {

std::vector<std::uint8_t> snappy_decompress(std::span<const std::uint8_t> in, std::size_t size, const std::string& what) {
  std::size_t i = 0;
  std::uint64_t len = 0;
  for (int shift = 0;; shift += 7) {
    if (i >= in.size() || shift > 28) fail("{}: snappy data with a bad length header", what);
    const std::uint8_t b = in[i++];
    len |= static_cast<std::uint64_t>(b & 0x7F) << shift;
    if (!(b & 0x80)) break;
  }
  if (len != size) fail("{}: snappy data of {} bytes where the page header says {}", what, len, size);
  std::vector<std::uint8_t> out;
  out.reserve(size);
  while (i < in.size()) {
    const std::uint8_t tag = in[i++];
    const unsigned kind = tag & 3u;
    if (kind == 0) {
      std::size_t n = (tag >> 2) + 1u;
      if (n > 60) {
        const std::size_t extra = n - 60;  // 1..4 bytes of length - 1
        if (i + extra > in.size()) fail("{}: snappy literal length cut short", what);
        std::size_t v = 0;
        for (std::size_t k = 0; k < extra; ++k) v |= static_cast<std::size_t>(in[i + k]) << (8 * k);
        i += extra;
        n = v + 1;
      }
      if (n > in.size() - i || n > size - out.size()) fail("{}: snappy literal runs past the data", what);
      out.insert(out.end(), in.begin() + static_cast<std::ptrdiff_t>(i), in.begin() + static_cast<std::ptrdiff_t>(i + n));
      i += n;
      continue;
    }
    std::size_t n = 0, offset = 0;
    if (kind == 1) {
      if (i >= in.size()) fail("{}: snappy copy cut short", what);
      n = 4 + ((tag >> 2) & 7u);
      offset = (static_cast<std::size_t>(tag >> 5) << 8) | in[i++];
    } else {
      const std::size_t bytes = kind == 2 ? 2 : 4;
      if (i + bytes > in.size()) fail("{}: snappy copy cut short", what);
      n = (tag >> 2) + 1u;
      for (std::size_t k = 0; k < bytes; ++k) offset |= static_cast<std::size_t>(in[i + k]) << (8 * k);
      i += bytes;
    }
    if (offset == 0 || offset > out.size()) fail("{}: snappy copy from before the start of the data", what);
    if (n > size - out.size()) fail("{}: snappy copy runs past the stated length", what);
    const std::size_t from = out.size() - offset;
    for (std::size_t k = 0; k < n; ++k) out.push_back(out[from + k]);  // overlapping copies repeat a pattern
  }
  if (out.size() != size) fail("{}: snappy data ends after {} of {} bytes", what, out.size(), size);
  return out;
}

std::vector<std::uint8_t> gzip_decompress(std::span<const std::uint8_t> in, std::size_t size, const std::string& what) {
  std::vector<std::uint8_t> out(size);
  std::size_t used = 0, done = 0;
  while (used < in.size() && done <= size) {
    z_stream zs{};
    if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) fail("{}: zlib could not start", what);
    zs.next_in = const_cast<Bytef*>(in.data() + used);
    zs.avail_in = static_cast<uInt>(in.size() - used);
    zs.next_out = out.data() + done;
    zs.avail_out = static_cast<uInt>(size - done);
    const int rc = inflate(&zs, Z_FINISH);
    const std::size_t consumed = in.size() - used - zs.avail_in;
    const std::size_t produced = size - done - zs.avail_out;
    inflateEnd(&zs);
    if (rc != Z_STREAM_END)
      fail("{}: gzip data is damaged or larger than the page header says ({} bytes)", what, size);
    used += consumed;
    done += produced;
    if (consumed == 0) break;
  }
  if (done != size) fail("{}: gzip data holds {} bytes where the page header says {}", what, done, size);
  return out;
}

std::vector<std::uint8_t> zstd_decompress(std::span<const std::uint8_t> in, std::size_t size, const std::string& what) {
  std::vector<std::uint8_t> out(size);
  const std::size_t rc = ZSTD_decompress(out.data(), size, in.data(), in.size());
  if (ZSTD_isError(rc)) fail("{}: zstd data is damaged ({})", what, ZSTD_getErrorName(rc));
  if (rc != size) fail("{}: zstd data holds {} bytes where the page header says {}", what, rc, size);
  return out;
}

}  // namespace qlab::io
