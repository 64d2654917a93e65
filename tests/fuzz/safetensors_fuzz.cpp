// Fuzz target for the model-file parsers: the input is read as a safetensors file, as a shard
// index, and as a config.json. The only acceptable failure is a qlab::Error; anything else
// (a crash, a sanitizer report, another exception, a broken invariant) is a bug.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string_view>

#include "engine/core/error.h"
#include "engine/io/model_config.h"
#include "engine/io/safetensors.h"
#include "engine/io/safetensors_header.h"
#include "engine/io/strict_json.h"

namespace {

[[noreturn]] void broken(const char* what) {
  std::fprintf(stderr, "invariant broken: %s\n", what);
  std::abort();
}

void check_safetensors(std::span<const std::byte> file) {
  qlab::io::ParsedSafetensors p;
  try {
    p = qlab::io::parse_safetensors(file, "fuzz.safetensors");
  } catch (const qlab::Error&) {
    return;
  }
  // What the parser promises: tensors tile the data area in order, each inside the file, each
  // exactly dtype x shape bytes long.
  std::uint64_t at = p.data_start;
  for (const auto& t : p.tensors) {
    if (t.begin != at || t.end < t.begin || t.end > file.size()) broken("tensor outside or not tiling");
    if (t.end - t.begin != qlab::io::dtype_byte_length(t.dtype, t.shape, t.name)) broken("byte length");
    at = t.end;
    if (t.dtype == qlab::io::DType::F32 || t.dtype == qlab::io::DType::F16 || t.dtype == qlab::io::DType::BF16) {
      qlab::io::TensorRef ref{t.name, t.dtype, t.shape, file.subspan(t.begin, t.end - t.begin), "fuzz"};
      if (ref.numel() <= (1 << 16)) (void)qlab::io::to_f32(ref);
    }
  }
  if (at != file.size()) broken("data area not covered");
}

void check_json_files(std::string_view text) {
  try {
    (void)qlab::io::parse_safetensors_index(text, "fuzz.index.json");
  } catch (const qlab::Error&) {
  }
  try {
    auto j = qlab::io::parse_json_strict(text, "fuzz/config.json");
    auto c = qlab::io::parse_model_config(j, "fuzz/config.json");
    if (c.head_dim <= 0 || c.num_attention_heads % c.num_key_value_heads != 0) broken("config validation");
    (void)c.parameter_count();
  } catch (const qlab::Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  check_safetensors(bytes);
  check_json_files(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
