// `qlab bench serve --url http://HOST:PORT/v1 --model NAME [--concurrency 1,4,16] [--prompts FILE]`:
// TTFT, inter-token latency and output tokens/s of any OpenAI-compatible server, streaming
// (engine/serve/serve_bench.h does the measuring; lab 8 runs the same code).
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "app/cli.h"
#include "app/model_arg.h"
#include "engine/core/error.h"
#include "engine/serve/serve_bench.h"

namespace qlab::app {
namespace {

std::vector<int> parse_levels(const std::string& s) {
  std::vector<int> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ',')) {
    char* end = nullptr;
    const long v = std::strtol(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || v < 1 || v > 256)
      throw UsageError(fmt::format("--concurrency {}: expected numbers from 1 to 256, comma-separated", s));
    out.push_back(static_cast<int>(v));
  }
  return out;
}

// One prompt per line; a line that is a JSON object takes its "prompt" (or "text") field.
std::vector<std::string> read_prompts(const std::string& path) {
  std::ifstream f(path);
  if (!f) fail("{}: cannot read the prompts file", path);
  std::vector<std::string> out;
  std::string line;
  int n = 0;
  while (std::getline(f, line)) {
    ++n;
    if (line.empty()) continue;
    if (line.front() == '{') {
      const auto j = nlohmann::json::parse(line, nullptr, false);
      if (j.is_discarded() || !j.is_object()) fail("{}:{}: a line starting with '{{' is not a JSON object", path, n);
      for (const char* k : {"prompt", "text"})
        if (j.contains(k) && j[k].is_string()) {
          out.push_back(j[k].get<std::string>());
          break;
        }
      continue;
    }
    out.push_back(line);
  }
  if (out.empty()) fail("{}: no prompts in the file", path);
  return out;
}

int run(const Args& a) {
  serve::ServeBenchOptions opt;
  opt.url = a.require("url");
  opt.model = a.require("model");
  if (auto c = a.get("concurrency")) opt.concurrency = parse_levels(*c);
  if (auto p = a.get("prompts")) opt.prompts = read_prompts(*p);
  opt.max_tokens = static_cast<int>(a.get_int("max-tokens", 64, 1, 1 << 16));
  opt.requests_per_level = static_cast<int>(a.get_int("requests", 0, 0, 100000));
  opt.chat = !a.has("completions");
  StderrProgress progress;
  const serve::ServeBenchResult r = serve::bench_serve(opt, progress, {});
  if (a.json()) {
    nlohmann::json levels = nlohmann::json::array();
    for (const auto& L : r.levels)
      levels.push_back({{"concurrency", L.concurrency}, {"requests", L.requests}, {"failed", L.failed},
                        {"wall_s", L.wall_s}, {"ttft_p50_ms", L.ttft_p50_ms}, {"ttft_p99_ms", L.ttft_p99_ms},
                        {"itl_p50_ms", L.itl_p50_ms}, {"itl_p99_ms", L.itl_p99_ms},
                        {"output_tokens_per_s", L.output_tokens_per_s}, {"requests_per_s", L.requests_per_s},
                        {"mean_output_tokens", L.mean_output_tokens}, {"first_error", L.first_error}});
    print_json(nlohmann::json{{"url", r.url}, {"model", r.model}, {"endpoint", opt.chat ? "chat/completions" : "completions"},
                              {"max_tokens", opt.max_tokens}, {"levels", levels}}
                   .dump(2));
    return 0;
  }
  fmt::print("server: {}   model: {}   endpoint: {}   max_tokens: {}\n\n", r.url, r.model,
             opt.chat ? "/chat/completions" : "/completions", opt.max_tokens);
  fmt::print("| concurrency | requests | failed | TTFT p50 ms | TTFT p99 ms | ITL p50 ms | ITL p99 ms | output tok/s | req/s |\n");
  fmt::print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  for (const auto& L : r.levels)
    fmt::print("| {} | {} | {} | {:.1f} | {:.1f} | {:.1f} | {:.1f} | {:.1f} | {:.2f} |\n", L.concurrency, L.requests,
               L.failed, L.ttft_p50_ms, L.ttft_p99_ms, L.itl_p50_ms, L.itl_p99_ms, L.output_tokens_per_s,
               L.requests_per_s);
  for (const auto& L : r.levels)
    if (L.failed) fmt::print("\nconcurrency {}: {} of {} requests failed; the first: {}\n", L.concurrency, L.failed, L.requests, L.first_error);
  return 0;
}

const Registrar reg{Command{
    "bench serve", "TTFT, inter-token latency and output tokens/s of an OpenAI-compatible server",
    "--url http://HOST:PORT/v1 --model NAME [--concurrency 1,4,16] [--prompts FILE] [--max-tokens N]",
    {{"url", "URL", "the server's API base, e.g. http://127.0.0.1:8080/v1"},
     {"model", "NAME", "the model id the server serves"},
     {"concurrency", "LIST", "clients sending at once, one level after another (default 1,4,16)"},
     {"prompts", "FILE", "one prompt per line (or JSON lines with \"prompt\"); default: one built-in prompt"},
     {"max-tokens", "N", "max_tokens of each request (default 64)"},
     {"requests", "N", "requests per level (default 2 x concurrency, at least 4)"},
     {"completions", "", "use /completions instead of /chat/completions"}},
    "Every request streams (\"stream\": true, temperature 0, usage asked for). TTFT: request sent to the\n"
    "first text; ITL: between consecutive text chunks; output tok/s: tokens of all requests over the\n"
    "level's wall time (the server's usage count when it sends one, else one per text chunk). p50/p99\n"
    "interpolate between order statistics. Works against qlab serve, vLLM, SGLang, llama-server,\n"
    "trtllm-serve and Ollama (its /v1 API).",
    0, 0, run}};

}  // namespace
}  // namespace qlab::app
