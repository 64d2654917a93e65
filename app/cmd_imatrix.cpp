// `qlab imatrix MODEL [--calib FILE] [--chunks N] [--ctx N] --out FILE`: llama-imatrix's importance
// matrix (per tensor and input column, the sum of squared activations over the calibration chunks,
// with the token count), written in the GGUF format today's llama-imatrix writes.
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "app/cli.h"
#include "app/device_arg.h"
#include "app/eta_progress.h"
#include "app/model_source.h"
#include "engine/core/atomic_file.h"
#include "engine/core/error.h"
#include "engine/gguf/gguf_file.h"
#include "engine/gguf/gguf_tokenizer.h"
#include "engine/gguf/hf_vocab.h"
#include "engine/gguf/imatrix_collect.h"

namespace qlab::app {
namespace {

// The calibration text tokenized as llama-imatrix tokenizes it: with the GGUF tokenizer (an HF
// folder's as llama.cpp's converter would write it), special tokens' text as plain text.
std::optional<io::Tokenizer> llama_cpp_tokenizer(const std::filesystem::path& src, const model::Model& m) {
  if (is_gguf_source(src)) return gguf::gguf_tokenizer(gguf::GgufFile::open(src), gguf::SpecialText::Plain);
  const gguf::HfVocab v = gguf::hf_vocab_metadata(src, m.config());
  return gguf::tokenizer_from_metadata(v.kv, (src / "tokenizer.json").string(), gguf::SpecialText::Plain);
}

int run(const Args& a) {
  const auto src = resolve_model_source(a.positional().at(0));
  const std::string out = a.require("out");
  std::filesystem::path calib;
  std::string dataset;
  if (a.has("calib")) {
    calib = a.require("calib");
    dataset = calib.string();
  } else if (!is_gguf_source(src) && std::filesystem::exists(src / "calib.txt")) {
    calib = src / "calib.txt";
    dataset = "calib.txt";
  } else {
    throw UsageError(fmt::format("give --calib FILE ({} has no calib.txt of its own)", src.string()));
  }
  const DeviceArg device = choose_device(a, "imatrix");
  const model::Model m = load_model_source(src);
  const int trained_ctx = m.config().max_position_embeddings;
  gguf::ImatrixOptions o;
  o.n_ctx = a.get_int("ctx", trained_ctx > 0 ? std::min(512, trained_ctx) : 512, 2, 1 << 20);
  o.max_chunks = a.get_int("chunks", 0, 1, 1LL << 40);
  o.dataset = dataset;
  o.backend = device.backend;
  const std::optional<io::Tokenizer> tok = llama_cpp_tokenizer(src, m);
  if (!tok) fail("{} has no tokenizer: the calibration text cannot be tokenized", src.string());
  const std::vector<std::int32_t> tokens = tok->encode(read_file(calib), true);
  if (tok->bos_id() && !tokens.empty() && tokens.front() == *tok->bos_id()) o.bos = tok->bos_id();

  InterruptCancels interrupts;
  EtaProgress progress;
  gguf::Imatrix im;
  try {
    im = gguf::compute_imatrix(m, tokens, o, progress);
  } catch (const Cancelled&) {
    fmt::print(stderr, "qlab imatrix: cancelled; {} was not written\n", out);
    return 130;
  }
  gguf::write_imatrix(out, im);
  if (a.json()) {
    nlohmann::json j{{"model", src.string()}, {"out", out}, {"tokens", tokens.size()}, {"ctx", o.n_ctx},
                     {"chunks", im.chunk_count}, {"entries", im.entries.size()}, {"dataset", dataset}};
    device.add_to(j);
    print_json(j.dump(2));
  } else {
    fmt::print("{} tokens; {} chunks of {} evaluated{}{}\n", tokens.size(), im.chunk_count, o.n_ctx,
               o.bos ? fmt::format(" (BOS {} first in each)", *o.bos) : std::string(),
               device.report() ? fmt::format(" on {}", device.where) : std::string());
    fmt::print("wrote {}: {} tensors' statistics (GGUF imatrix format)\n", out, im.entries.size());
  }
  return 0;
}

std::vector<Option> options() {
  std::vector<Option> o = {
      {"calib", "FILE", "calibration text (default: the model folder's calib.txt, as the built-in model has)"},
      {"chunks", "N", "use only the first N chunks (default: all)"},
      {"ctx", "N", "tokens per chunk (default 512, or the model's trained context if shorter)"},
      {"out", "FILE", "the imatrix file to write (GGUF format, as llama-imatrix writes it)"}};
  return with_device_options(std::move(o));
}

const Registrar reg{Command{
    "imatrix", "importance matrix of a model on calibration text, as llama-imatrix computes it",
    "MODEL [--calib FILE] [--chunks N] [--ctx N] [--device D] --out FILE",
    options(),
    "MODEL is an HF model folder, 'builtin' or a GGUF file. llama-imatrix's protocol: the text is tokenized "
    "once (as llama.cpp tokenizes it: special tokens' text is plain text), cut into chunks of --ctx tokens, "
    "each evaluated alone with BOS in its first position; every token's input to every Linear of the decoder "
    "layers is counted. qlab gguf --imatrix and llama-quantize --imatrix both read the result.",
    1, 1, run}};

}  // namespace
}  // namespace qlab::app
