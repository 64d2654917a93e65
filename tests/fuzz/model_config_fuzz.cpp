// Fuzz target for the model-config reader and the memory calculator behind it: the input is read as
// a config.json (for the runtime and for shapes only), its tensor map is built, and the memory of the
// model is estimated in every default format at the CLI's extreme context and batch; the input is also
// read as a catalog of configs (assets/model_configs.json's layout). The only acceptable failure is a
// qlab::Error; anything else (a crash, a sanitizer report, signed overflow, another exception, a broken
// invariant) is a bug.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include <nlohmann/json.hpp>

#include "engine/capacity/memory_model.h"
#include "engine/core/error.h"
#include "engine/io/model_config.h"
#include "engine/io/strict_json.h"
#include "engine/io/tensor_map.h"

namespace {

[[noreturn]] void broken(const char* what) {
  std::fprintf(stderr, "invariant broken: %s\n", what);
  std::abort();
}

// What the reader promises of any config it accepts, and what the map and the calculator make of it.
void check_config(const qlab::io::ModelConfig& c) {
  if (c.hidden_size <= 0 || c.num_hidden_layers <= 0 || c.vocab_size <= 0 || c.head_dim <= 0 ||
      c.num_key_value_heads <= 0 || c.num_attention_heads % c.num_key_value_heads != 0)
    broken("config validation");
  long long total = 0;
  for (const auto& t : qlab::io::tensor_map(c)) {
    if (t.rows <= 0 || t.cols < 0 || t.stack <= 0) broken("tensor shape");
    if (qlab::io::role_of(t.name) != t.role) broken("role read back from the name");
    total += t.numel();
  }
  if (total != c.parameter_count() || total > qlab::io::kMaxParameters) broken("parameter count");

  const qlab::capacity::ModelArch m = qlab::capacity::arch_from_config(c);
  if (m.parameter_count() != total || m.active_parameter_count() > total) broken("grouped counts");
  qlab::capacity::MemoryOptions big;  // the CLI's largest
  big.context = 10'000'000;
  big.batch = 65536;
  big.kv = qlab::capacity::KvDtype::FP8;
  for (const auto& o : {qlab::capacity::MemoryOptions{}, big})
    for (const auto& s : qlab::capacity::default_schemes(m)) {
      const auto e = qlab::capacity::estimate_memory(m, s, o);
      if (!std::isfinite(e.total_bytes) || e.weight_bytes < 0 || e.total_bytes < e.weight_bytes) broken("estimate");
      if (e.parameters != total || e.quantized_parameters > total) broken("estimate counts");
    }
}

void check(std::string_view text) {
  nlohmann::json j;
  try {
    j = qlab::io::parse_json_strict(text, "fuzz/config.json");
  } catch (const qlab::Error&) {
    return;
  }
  for (auto use : {qlab::io::ConfigUse::Run, qlab::io::ConfigUse::Shapes}) {
    try {
      const auto c = qlab::io::parse_model_config(j, "fuzz/config.json", use);
      if (use == qlab::io::ConfigUse::Run && !c.runnable()) broken("a shapes-only family read for running");
      check_config(c);
    } catch (const qlab::Error&) {
    }
  }
  try {
    for (const auto& m : qlab::capacity::load_model_catalog(j, "fuzz/catalog.json")) check_config(m.config);
  } catch (const qlab::Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  check(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
