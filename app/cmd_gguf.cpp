// `qlab gguf MODEL --type T --out FILE.gguf [--imatrix FILE] [--pure] [--leave-output-tensor]
// [--tensor-type REGEX=TYPE ...] [--output-tensor-type TYPE] [--token-embedding-type TYPE]`:
// an HF model as the GGUF file llama.cpp's converter and llama-quantize would make of it.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "app/cli.h"
#include "app/eta_progress.h"
#include "app/model_arg.h"
#include "engine/core/error.h"
#include "engine/gguf/gguf_convert.h"
#include "engine/gguf/imatrix_file.h"

namespace qlab::app {
namespace {

gguf::GgmlType tensor_type_arg(const std::string& option, const std::string& name) {
  const auto t = gguf::type_from_name(name);
  if (!t || !gguf::type_traits(*t).qlab_converts)
    throw UsageError(fmt::format("--{}: '{}' is not a type qlab writes ({})", option, name, gguf::converted_type_names()));
  return *t;
}

std::string human_bytes(std::uint64_t b) {
  if (b >= 1'000'000'000ull) return fmt::format("{:.2f} GB", static_cast<double>(b) / 1e9);
  if (b >= 1'000'000ull) return fmt::format("{:.2f} MB", static_cast<double>(b) / 1e6);
  if (b >= 1000ull) return fmt::format("{:.1f} kB", static_cast<double>(b) / 1e3);
  return fmt::format("{} B", b);
}

int run(const Args& a) {
  const auto dir = resolve_model_arg(a.positional().at(0));
  const std::string out = a.require("out");
  gguf::ConvertOptions o;
  const std::string type = a.require("type");
  const auto ft = gguf::file_type_from_name(type);
  if (!ft) throw UsageError(fmt::format("--type {}: not a file type qlab writes ({})", type, gguf::file_type_names()));
  o.mix.file_type = *ft;
  o.mix.pure = a.has("pure");
  o.mix.leave_output_tensor = a.has("leave-output-tensor");
  if (a.has("output-tensor-type")) o.mix.output_tensor_type = tensor_type_arg("output-tensor-type", a.require("output-tensor-type"));
  if (a.has("token-embedding-type"))
    o.mix.token_embedding_type = tensor_type_arg("token-embedding-type", a.require("token-embedding-type"));
  for (const std::string& tt : a.get_all("tensor-type")) {
    const auto eq = tt.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == tt.size())
      throw UsageError(fmt::format("--tensor-type {}: expected REGEX=TYPE", tt));
    o.mix.tensor_types.emplace_back(tt.substr(0, eq), tensor_type_arg("tensor-type", tt.substr(eq + 1)));
  }
  if (a.has("imatrix")) {
    const std::string path = a.require("imatrix");
    const gguf::Imatrix m = gguf::read_imatrix(path);
    o.importance = gguf::importance_weights(m);
    o.imatrix_file = path;
    o.imatrix_dataset = m.datasets.empty() ? std::string() : m.datasets.front();
    o.imatrix_chunks = m.chunk_count;
  }

  InterruptCancels interrupts;
  EtaProgress progress;
  gguf::ConvertResult r;
  try {
    r = gguf::convert_to_gguf(dir, out, o, progress);
  } catch (const Cancelled&) {
    fmt::print(stderr, "qlab gguf: cancelled; {} was not written\n", out);
    return 130;
  }

  if (a.json()) {
    nlohmann::json j{{"model", dir.string()},
                     {"out", out},
                     {"file_type", gguf::file_type_name(*ft)},
                     {"bytes", r.file_bytes},
                     {"parameters", r.parameters},
                     {"bits_per_weight", r.bits_per_weight()},
                     {"architecture", r.architecture},
                     {"tokenizer", {{"model", r.tokenizer_model}, {"pre", r.tokenizer_pre}}},
                     {"chat_template", !r.chat_template.empty()},
                     {"imatrix", a.has("imatrix")},
                     {"seconds", r.seconds}};
    j["tensors"] = nlohmann::json::array();
    for (const auto& t : r.tensors)
      j["tensors"].push_back({{"name", t.name}, {"type", gguf::type_name(t.type)}, {"shape", t.shape}, {"bytes", t.bytes},
                              {"fell_back", t.fell_back}, {"imatrix", t.used_imatrix}});
    print_json(j.dump(2));
    return 0;
  }
  std::size_t w = 6;
  for (const auto& t : r.tensors) w = std::max(w, t.name.size());
  fmt::print("  {:<{}}  {:<6} {:<14} {:>10}\n", "tensor", w, "type", "shape", "bytes");
  for (const auto& t : r.tensors)
    fmt::print("  {:<{}}  {:<6} {:<14} {:>10}{}{}\n", t.name, w, gguf::type_name(t.type), fmt::format("[{}]", fmt::join(t.shape, ", ")),
               t.bytes, t.fell_back ? "  (fallback: rows not a multiple of 256)" : "", t.used_imatrix ? "  (imatrix)" : "");
  fmt::print("wrote {}: {} ({}), {} tensors, {} parameters, {} ({:.2f} bits per weight) in {:.1f} s\n", out,
             gguf::file_type_name(*ft), r.architecture, r.tensors.size(), r.parameters, human_bytes(r.file_bytes),
             r.bits_per_weight(), r.seconds);
  fmt::print("tokenizer: {}{}; chat template: {}\n", r.tokenizer_model,
             r.tokenizer_pre.empty() ? std::string() : fmt::format(" (pre-tokenizer {})", r.tokenizer_pre),
             r.chat_template.empty() ? "none" : "yes");
  return 0;
}

const Registrar reg{Command{
    "gguf", "write a GGUF file as llama.cpp's converter and llama-quantize make it",
    "MODEL --type T --out FILE.gguf [--imatrix FILE] [--pure] [--leave-output-tensor] [--tensor-type REGEX=TYPE ...] "
    "[--output-tensor-type TYPE] [--token-embedding-type TYPE]",
    {{"type", "T", "file type, as llama-quantize names it: Q4_K_M Q5_K_M Q6_K Q8_0 Q2_K Q3_K_S/M/L Q4_K_S Q5_K_S "
                   "Q4_0 Q4_1 Q5_0 Q5_1 MXFP4_MOE F16 BF16 F32"},
     {"out", "FILE", "the GGUF file to write (written whole or not at all)"},
     {"imatrix", "FILE", "importance matrix (llama-imatrix's GGUF or legacy .dat, or qlab imatrix's)"},
     {"pure", "", "every quantizable tensor gets the file type's base type (no mix, no fallbacks)"},
     {"leave-output-tensor", "", "do not quantize output.weight"},
     {"tensor-type", "REGEX=TYPE", "type for tensors whose name matches REGEX (may repeat; first match wins)"},
     {"output-tensor-type", "TYPE", "type for output.weight"},
     {"token-embedding-type", "TYPE", "type for token_embd.weight"}},
    "MODEL is an HF model folder (Llama, Mistral or Qwen2; f32, f16 or bf16) or 'builtin'. The flags mean what "
    "llama-quantize's flags of the same names mean; every quantized tensor's bytes equal llama-quantize's from "
    "an F32 GGUF of the same weights. Tensors are converted one at a time from the mapped files; Ctrl-C leaves "
    "no partial file.",
    1, 1, run}};

}  // namespace
}  // namespace qlab::app
