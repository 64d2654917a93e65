// `qlab serve MODEL [--port P] [--host H] [--name NAME] [--chat-template NAME] [--quant F]`: an
// OpenAI-compatible server over qlab's runtime (engine/serve/server.h), on 127.0.0.1 unless told.
// Ctrl-C (SIGINT), SIGTERM or SIGHUP stops it (app/signal_stop.h): the stop request stops the
// server, which ends the generation in flight at its next token, and the command returns 0.
#include <stop_token>

#include <fmt/format.h>

#include "app/cli.h"
#include "app/device_arg.h"
#include "app/model_arg.h"
#include "app/signal_stop.h"
#include "engine/core/error.h"
#include "engine/quant/rtn.h"
#include "engine/formats/format_lookup.h"
#include "engine/io/tokenizer.h"
#include "engine/serve/server.h"

namespace qlab::app {
namespace {

tensor::ProductMath parse_math(const std::string& m) {
  if (m == "native") return tensor::ProductMath::Native;
  if (m == "fast") return tensor::ProductMath::Fast;
  if (m == "exact") return tensor::ProductMath::Exact;
  throw UsageError(fmt::format("--math {}: expected native, fast or exact", m));
}

int run(const Args& a) {
  const std::string model_arg = a.positional().at(0);
  const auto dir = resolve_model_arg(model_arg);
  serve::ServeOptions opt;
  opt.host = a.get_or("host", "127.0.0.1");
  opt.port = static_cast<int>(a.get_int("port", 8080, 1, 65535));
  opt.model_name = a.get_or("name", model_arg == "builtin" ? "builtin" : dir.filename().string());
  const tensor::ProductMath math = parse_math(a.get_or("math", "native"));

  const DeviceArg device = choose_device(a, "serve");
  opt.backend = device.backend;
  model::Model m = model::Model::load(dir);
  if (auto q = a.get("quant")) {
    const auto& spec = formats::block_format(*q);
    quant::fake_quantize_model(m, spec, {}, Progress::none(), false, true);
  }
  m.set_product_math(math);
  if (!std::filesystem::exists(dir / "tokenizer.json"))
    fail("{} has no tokenizer.json: serve needs a tokenizer to read prompts and write text", dir.string());
  const io::Tokenizer tok = io::Tokenizer::load(dir);
  std::optional<serve::ChatTemplate> chat;
  if (auto name = a.get("chat-template")) {
    const auto family = serve::chat_family_from_name(*name);
    if (!family) throw UsageError(fmt::format("--chat-template {}: expected llama3, llama3.1, chatml, mistral, mistral-legacy or zephyr", *name));
    serve::ChatTemplate t;
    t.family = *family;
    auto text = [&](std::optional<std::int32_t> id) { return id ? tok.id_to_token(*id) : std::string(); };
    t.bos = *family == serve::ChatFamily::ChatML || *family == serve::ChatFamily::Zephyr ? std::string() : text(tok.bos_id());
    t.eos = text(tok.eos_id());
    t.date = "26 Jul 2024";
    chat = t;
  } else {
    chat = serve::load_chat_template(dir);
  }

  serve::Server server(m, tok, chat, opt);
  const int port = server.bind();
  const SignalStop signals;
  const std::stop_callback on_signal(signals.token(), [&server] { server.stop(); });
  fmt::print("serving {} as '{}' on http://{}:{}/v1 (chat template: {}{}; Ctrl-C stops)\n", dir.string(),
             opt.model_name, opt.host, port, chat ? chat->name() : "none, /v1/completions only",
             device.report() ? fmt::format("; on {}", device.where) : std::string());
  std::fflush(stdout);
  server.run();
  return 0;
}

std::vector<Option> options() {
  std::vector<Option> o = {
      {"port", "P", "TCP port (default 8080)"},
      {"host", "H", "address to listen on (default 127.0.0.1: this machine only)"},
      {"name", "NAME", "the model id clients name (default: the folder's name)"},
      {"chat-template", "NAME", "llama3, llama3.1, chatml, mistral, mistral-legacy or zephyr (default: the model's own)"},
      {"quant", "F", "serve the model with every Linear quantized to block format F (kept packed)"},
      {"math", "M", "native (default: bf16 prompts on bf16 dot products), fast or exact"}};
  return with_device_options(std::move(o));
}

const Registrar reg{Command{
    "serve", "an OpenAI-compatible HTTP server (completions, chat, streaming) over the runtime",
    "MODEL [--port P] [--host H] [--name NAME] [--chat-template NAME] [--quant F] [--math native|fast|exact] [--device D]",
    options(),
    "Endpoints: GET /v1/models, POST /v1/completions, POST /v1/chat/completions (\"stream\": true for\n"
    "server-sent events), GET /health. One generation runs at a time; others wait up to 300 s, then get\n"
    "503. The chat template is read from the model's tokenizer_config.json and must be one of the\n"
    "families above (qlab renders them itself; it does not run Jinja).",
    1, 1, run}};

}  // namespace
}  // namespace qlab::app
