// `qlab logits MODEL --tokens FILE --out FILE`: raw float32 logits [n_tokens x vocab] of one forward
// pass over the ids as given (no BOS added), for comparison with other implementations.
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "app/cli.h"
#include "app/device_arg.h"
#include "app/model_arg.h"
#include "app/model_source.h"
#include "engine/core/atomic_file.h"
#include "engine/core/error.h"
#include "engine/core/mapped_file.h"
#include "engine/model/forward.h"

namespace qlab::app {
namespace {

int run(const Args& a) {
  const auto dir = resolve_model_source(a.positional().at(0));
  const auto tokens = read_token_file(a.require("tokens"));
  const std::string out = a.require("out");
  const DeviceArg device = choose_device(a, "logits");
  const model::Model m = load_model_source(dir);
  // The model's trained context bounds the run: positions past it mean nothing, and the KV cache
  // and the [n_tokens x vocab] output are sized by the token count.
  const auto n_ctx = static_cast<std::size_t>(m.config().max_position_embeddings);
  if (tokens.size() > n_ctx)
    fail("{}: {} tokens are more than the {} positions {} was trained on (max_position_embeddings); split the "
         "file into pieces of at most {} tokens",
         a.require("tokens"), tokens.size(), n_ctx, dir.string(), n_ctx);
  const auto logits = model::forward_all(m, tokens, *device.backend);
  check_mapped_inputs();  // a weights file truncated during the pass: nothing is written
  write_file_atomic(out, std::string_view(reinterpret_cast<const char*>(logits.data()), logits.size() * sizeof(float)));
  if (a.json()) {
    nlohmann::json j{{"model", dir.string()}, {"tokens", tokens.size()}, {"vocab", m.vocab_size()},
                     {"out", out}, {"dtype", "float32"}};
    device.add_to(j);
    print_json(j.dump(2));
  } else {
    if (device.report()) fmt::print("device: {}\n", device.where);
    fmt::print("wrote {} x {} float32 logits to {}\n", tokens.size(), m.vocab_size(), out);
  }
  return 0;
}

std::vector<Option> options() {
  std::vector<Option> o = {{"tokens", "FILE", "token ids, whitespace-separated (used as given: no BOS added)"},
                           {"out", "FILE", "output: float32 little-endian [n_tokens x vocab]"}};
  return with_device_options(std::move(o));
}

const Registrar reg{Command{"logits", "raw float32 logits of a token-id file", "MODEL --tokens FILE --out FILE",
                            options(),
                            "MODEL is an HF model folder, 'builtin' or a GGUF file. Needs no tokenizer files. At most the\n"
                            "trained context (max_position_embeddings) of tokens. FILE may also be a device or a pipe\n"
                            "(/dev/stdout); a symbolic link is written through to the file it names.",
                            1, 1, run}};

}  // namespace
}  // namespace qlab::app
