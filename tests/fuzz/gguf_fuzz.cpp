// Fuzz target for the GGUF reader and the imatrix readers: the input is parsed as a GGUF file and
// as an importance matrix (GGUF or legacy .dat). The only acceptable failure is a qlab::Error;
// anything else (a crash, a sanitizer report, another exception, a broken invariant) is a bug.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <vector>

#include "engine/core/error.h"
#include "engine/gguf/gguf_file.h"
#include "engine/gguf/imatrix_file.h"
#include "engine/gguf/quantize.h"

namespace {

[[noreturn]] void broken(const char* what) {
  std::fprintf(stderr, "invariant broken: %s\n", what);
  std::abort();
}

void check_gguf(std::span<const std::byte> file) {
  using namespace qlab::gguf;
  try {
    const GgufFile f = GgufFile::parse(file, "fuzz.gguf");
    // What the reader promises: every tensor's bytes inside the file, sized by its type and shape,
    // at an aligned offset, none overlapping another.
    for (const TensorInfo& t : f.tensors()) {
      if (t.data.data() < file.data() || t.data.data() + t.data.size() > file.data() + file.size()) broken("outside");
      if (t.offset % f.alignment() != 0) broken("alignment");
      const GgmlTypeTraits& tr = type_traits(t.type);
      if (t.size_bytes != static_cast<std::uint64_t>(t.elements() / tr.block_size) * tr.bytes_per_block) broken("size");
      if (f.find_tensor(t.name) != &t) broken("lookup");
      // The dequantizers must take any bytes of a valid shape.
      if (tr.qlab_converts && t.elements() <= (1 << 16)) {
        std::vector<float> out(static_cast<std::size_t>(t.elements()));
        dequantize_rows(t.type, t.data, t.row_length(), out);
      }
    }
    for (const auto& [key, value] : f.metadata())
      if (f.find(key) != &value) broken("key lookup");
  } catch (const qlab::Error&) {
  }
}

void check_imatrix(std::span<const std::byte> file) {
  try {
    const auto m = qlab::gguf::parse_imatrix(file, "fuzz.imatrix");
    for (const auto& [name, e] : m.entries)
      if (static_cast<std::int64_t>(e.sums.size()) != (m.legacy ? e.columns : e.columns * e.matrices())) broken("entry size");
    (void)qlab::gguf::importance_weights(m);
  } catch (const qlab::Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  check_gguf(bytes);
  check_imatrix(bytes);
  return 0;
}
