// `qlab generate MODEL --prompt TEXT [-n N] [--temp T] [--seed S]`: continue a prompt, streaming the
// text as it is produced; prompt and decode speeds at the end.
#include <cstdio>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "app/cli.h"
#include "app/device_arg.h"
#include "app/model_arg.h"
#include "app/model_source.h"
#include "engine/core/error.h"
#include "engine/core/mapped_file.h"
#include "engine/core/terminal_text.h"
#include "engine/io/tokenizer.h"
#include "engine/model/generate.h"

namespace qlab::app {
namespace {

int run(const Args& a) {
  const auto dir = resolve_model_source(a.positional().at(0));
  const std::string prompt = a.require("prompt");
  model::GenerateOptions opt;
  opt.max_new_tokens = static_cast<int>(a.get_int("n", 32, 0, 1 << 20));
  opt.sampling.temperature = a.get_double("temp", 0.0);
  opt.sampling.top_k = static_cast<int>(a.get_int("top-k", 0, 0, 1 << 30));
  opt.sampling.top_p = a.get_double("top-p", 1.0);
  opt.seed = static_cast<std::uint64_t>(a.get_int("seed", 0, 0, INT64_MAX));
  if (opt.sampling.temperature < 0) throw UsageError("--temp must be >= 0 (0 = greedy)");
  // (get_double refuses nan and inf, so --temp nan is a usage error too)
  if (!(opt.sampling.top_p > 0 && opt.sampling.top_p <= 1)) throw UsageError("--top-p must be in (0, 1]");

  const DeviceArg device = choose_device(a, "generate");
  opt.backend = device.backend;
  const model::Model m = load_model_source(dir);
  std::optional<io::Tokenizer> loaded = load_tokenizer_source(dir);
  if (!loaded)
    fail("{} has no tokenizer (tokenizer.json, or a GGUF file's tokenizer keys): generate needs one (qlab logits works "
         "on token ids)", dir.string());
  const io::Tokenizer tok = std::move(*loaded);
  tok.check_fits(m.vocab_size(), is_gguf_source(dir) ? dir : dir / "config.json");
  const auto ids = tok.encode(prompt, true);
  if (ids.empty()) fail("the prompt encodes to no tokens");
  // Generation stops at the model's trained context: the KV cache is sized by prompt + new tokens,
  // and positions past max_position_embeddings mean nothing.
  const std::int64_t n_ctx = m.config().max_position_embeddings;
  const auto n_prompt = static_cast<std::int64_t>(ids.size());
  if (n_prompt >= n_ctx)
    fail("the prompt is {} tokens, which fills the {} positions {} was trained on (max_position_embeddings)",
         n_prompt, n_ctx, dir.string());
  if (n_prompt + opt.max_new_tokens > n_ctx) {
    const auto room = static_cast<int>(n_ctx - n_prompt);
    fmt::print(stderr, "note: -n {} stops at {} new tokens: the model's context is {} positions "
                       "(max_position_embeddings) and the prompt takes {}\n",
               opt.max_new_tokens, room, n_ctx, n_prompt);
    opt.max_new_tokens = room;
  }

  // Decode the whole continuation each time and print what is new, so a character split across
  // tokens is printed once it is complete.
  std::vector<std::int32_t> out;
  std::string shown;
  if (!a.json()) {
    if (device.report()) fmt::print(stderr, "[device: {}]\n", device.where);
    fmt::print("{}", prompt);
    opt.on_token = [&](std::int32_t id) {
      out.push_back(id);
      const std::string text = tok.decode(out, true);
      if (text.size() > shown.size() && text.compare(0, shown.size(), shown) == 0) {
        check_mapped_inputs();  // a weights file truncated under the run: stop before printing more
        fmt::print("{}", terminal_safe(text.substr(shown.size()), true));
        std::fflush(stdout);
        shown = text;
      }
    };
  }
  model::GenerateStats st;
  const auto new_ids = model::generate(m, ids, opt, &st);
  check_mapped_inputs();
  const double prompt_tps = st.prompt_seconds > 0 ? static_cast<double>(st.prompt_tokens) / st.prompt_seconds : 0;
  const double decode_tps = st.decode_seconds > 0 ? static_cast<double>(st.decoded_tokens) / st.decode_seconds : 0;
  if (a.json()) {
    nlohmann::json j{{"prompt", prompt},
                     {"prompt_ids", ids},
                     {"ids", new_ids},
                     {"text", tok.decode(new_ids, true)},
                     {"prompt_tokens_per_s", prompt_tps},
                     {"decode_tokens_per_s", decode_tps}};
    device.add_to(j);
    print_json(j.dump(2));
  } else {
    const std::string text = tok.decode(new_ids, true);
    if (text.size() > shown.size()) fmt::print("{}", terminal_safe(text.substr(shown.size()), true));
    fmt::print("\n");
    fmt::print(stderr, "[{} prompt tokens at {:.1f} tok/s, {} new tokens at {:.1f} tok/s]\n", st.prompt_tokens,
               prompt_tps, new_ids.size(), decode_tps);
  }
  return 0;
}

std::vector<Option> options() {
  std::vector<Option> o = {{"prompt", "TEXT", "the text to continue (BOS added as the tokenizer says)"},
                           {"n", "N", "new tokens at most (default 32; -n works too)"},
                           {"temp", "T", "sampling temperature; 0 = greedy (default 0)"},
                           {"top-k", "K", "sample among the K most likely tokens (default 0 = all)"},
                           {"top-p", "P", "sample among the smallest set reaching probability P (default 1)"},
                           {"seed", "S", "random seed for sampling (default 0)"}};
  return with_device_options(std::move(o));
}

const Registrar reg{Command{"generate", "continue a prompt with the model",
                            "MODEL --prompt TEXT [-n N] [--temp T] [--top-k K] [--top-p P] [--seed S]",
                            options(),
                            "MODEL is an HF model folder (with tokenizer.json), 'builtin' or a GGUF file. Stops at the "
                            "end-of-sequence token,\nor at the model's trained context (max_position_embeddings). "
                            "Control characters in the text are\nprinted as escapes (\\xNN); --json gives the "
                            "text as it is.",
                            1, 1, run}};

}  // namespace
}  // namespace qlab::app
