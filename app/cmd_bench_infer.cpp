// `qlab bench infer MODEL [--variants LIST] [-p N] [-n N] [--repetitions R] [--math M]`: prompt and
// decode speed of a model's variants beside this machine's measured ceilings, as llama-bench reports
// (mean +- sd over repetitions), with the memory roofline drawn. The measuring is the engine's
// (engine/bench/infer_bench.h); lab 8 runs the same code.
#include <cstdio>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "app/cli.h"
#include "app/device_arg.h"
#include "app/model_arg.h"
#include "app/model_source.h"
#include "engine/bench/infer_bench.h"
#include "engine/bench/llama_bench.h"
#include "engine/bench/roofline.h"
#include "engine/core/error.h"
#include "engine/tensor/matrix.h"
#include "labs/lab08_roofline.h"
#include "tui/widgets.h"

namespace qlab::app {
namespace {

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

tensor::ProductMath parse_math(const std::string& m) {
  if (m == "fast") return tensor::ProductMath::Fast;
  if (m == "exact") return tensor::ProductMath::Exact;
  if (m == "native") return tensor::ProductMath::Native;
  throw UsageError(fmt::format("--math {}: expected fast, exact or native", m));
}

nlohmann::json stat_json(const bench::Stat& s) { return {{"mean", s.mean}, {"sd", s.sd}, {"samples", s.samples}}; }

nlohmann::json result_json(const bench::InferBenchResult& r, const std::string& model, const std::string& math) {
  nlohmann::json vars = nlohmann::json::array();
  for (const auto& v : r.variants)
    vars.push_back({{"variant", v.name},
                    {"storage", v.storage},
                    {"weight_bytes", v.weight_bytes},
                    {"kv_bytes_per_token", v.kv_bytes_per_token},
                    {"bytes_per_token", v.bytes_per_token},
                    {"prompt_tokens_per_s", stat_json(v.prompt_tps)},
                    {"decode_tokens_per_s", stat_json(v.decode_tps)},
                    {"achieved_gb_per_s", v.achieved_gbs},
                    {"decode_efficiency", v.efficiency},
                    {"decode_bound_here_tokens_per_s", bench::decode_bound_tps(r.read_gbs, v.bytes_per_token)},
                    {"decode_bound_spark_projected_tokens_per_s",
                     bench::decode_bound_tps(bench::kSparkBandwidthGBs, v.bytes_per_token)}});
  return {{"model", model},
          {"threads", r.threads},
          {"kernels", r.kernels},
          {"math", math},
          {"prompt_tokens", r.prompt_tokens},
          {"decode_tokens", r.decode_tokens},
          {"repetitions", r.repetitions},
          {"read_gb_per_s", r.read_gbs},
          {"read_before_gb_per_s", stat_json(r.read_before.gbs)},
          {"read_after_gb_per_s", stat_json(r.read_after.gbs)},
          {"read_buffer_bytes", r.read_before.bytes},
          {"gemm", {{"shape", fmt::format("{}x{}x{}", r.gemm.M, r.gemm.N, r.gemm.K)}, {"gflops", stat_json(r.gemm.gflops)}}},
          {"spark_bandwidth_gb_per_s_projected", bench::kSparkBandwidthGBs},
          {"variants", vars}};
}

std::string markdown(const labs::Table& t) {
  std::string out = "| " + fmt::format("{}", fmt::join(t.header, " | ")) + " |\n|";
  for (std::size_t i = 0; i < t.header.size(); ++i)
    out += i < t.right_align.size() && t.right_align[i] ? "---:|" : "---|";
  out += "\n";
  for (const auto& row : t.rows) out += "| " + fmt::format("{}", fmt::join(row, " | ")) + " |\n";
  return out;
}

int run(const Args& a) {
  const std::string model_arg = a.positional().at(0);
  const auto dir = resolve_model_source(model_arg);  // a GGUF file runs as the GGUF runtime holds it
  const DeviceArg device = choose_device(a, "bench infer");
  bench::InferBenchOptions opt;
  if (device.gpu) {
    opt.backend = device.backend;
    opt.device_copy_gbs = device.copy_gbs;
    opt.device_gemm_gflops = device.gemm_gflops;
  }
  opt.prompt_tokens = a.get_int("p", 512, 0, 1 << 16);
  opt.decode_tokens = static_cast<int>(a.get_int("n", 128, 0, 1 << 16));
  opt.repetitions = static_cast<int>(a.get_int("repetitions", 3, 1, 1000));
  const std::string math = a.get_or("math", "fast");
  opt.math = parse_math(math);
  const std::vector<std::string> variants = split_list(a.get_or("variants", "base"));
  if (variants.empty()) throw UsageError("--variants needs at least one variant");
  if (opt.prompt_tokens == 0 && opt.decode_tokens == 0) throw UsageError("-p 0 and -n 0 leave nothing to measure");

  std::vector<bench::LlamaBenchRow> llama_rows;
  if (auto f = a.get("llama-bench")) llama_rows = bench::read_llama_bench_json(*f);  // before the long run

  const model::Model base = load_model_source(dir);
  StderrProgress progress;
  const bench::InferBenchResult r = bench::bench_infer(base, variants, opt, progress, {});
  const auto compared = bench::compare_with_llama_bench(r, llama_rows);
  if (a.json()) {
    nlohmann::json j = result_json(r, dir.string(), math);
    device.add_to(j);
    if (a.has("llama-bench")) {
      j["llama_cpp"] = nlohmann::json::array();
      for (const auto& c : compared)
        j["llama_cpp"].push_back({{"variant", c.variant}, {"test", c.test}, {"qlab_tokens_per_s", c.qlab_tps},
                                  {"llama_cpp_tokens_per_s", c.llama_tps}, {"llama_cpp_sd", c.llama_sd},
                                  {"ratio", c.ratio}});
    }
    print_json(j.dump(2));
    return 0;
  }
  if (device.gpu)
    fmt::print("model: {}   device: {}\n\n", dir.string(), device.where);
  else
    fmt::print("model: {}   threads: {}   kernels: {}   math: {}\n\n", dir.string(), r.threads, r.kernels, math);
  fmt::print("{}\n", markdown(labs::infer_table(r)));
  fmt::print("{}\n\n", labs::ceilings_text(r).body);
  tui::Grid g(100, 24);
  tui::draw_line_chart(g, g.area(), labs::roofline_chart(r), tui::glyphs(tui::GlyphSet::Ascii));
  fmt::print("{}", g.to_text());
  if (a.has("llama-bench")) {
    fmt::print("\nqlab against llama.cpp (llama-bench, {} threads, the same tests):\n\n", r.threads);
    if (compared.empty())
      fmt::print("no llama-bench test matches: it needs -t {}, -p {} / -n {} and GGUFs whose type is a variant here "
                 "(f32, f16, bf16)\n",
                 r.threads, r.prompt_tokens, r.decode_tokens);
    labs::Table t;
    t.header = {"variant", "test", "qlab tok/s", "llama.cpp tok/s", "qlab / llama.cpp"};
    t.right_align = {false, false, true, true, true};
    for (const auto& c : compared)
      t.rows.push_back({c.variant, c.test, fmt::format("{:.2f} ± {:.2f}", c.qlab_tps, c.qlab_sd),
                        fmt::format("{:.2f} ± {:.2f}", c.llama_tps, c.llama_sd), fmt::format("{:.2f}", c.ratio)});
    if (!compared.empty()) fmt::print("{}", markdown(t));
  }
  return 0;
}

std::vector<Option> options() {
  std::vector<Option> o = {
     {"variants", "LIST", "comma-separated: base, f32, f16, bf16, or block formats (default base)"},
     {"p", "N", "prompt tokens of the prompt test, -p works too (default 512; 0 = none)"},
     {"n", "N", "tokens decoded one at a time, -n works too (default 128; 0 = none)"},
     {"repetitions", "R", "runs of each test after a warm-up run (default 3)"},
     {"math", "M",
      "fast (default: decode reads the stored bytes), exact (widen and BLAS, the reference) or native (llama.cpp's "
      "arithmetic: bf16 prompts by bf16 dot products, decode on int8 activations against int and FP4 formats)"},
     {"llama-bench", "FILE", "llama-bench -o json results of the same weights as GGUF: qlab / llama.cpp per test"}};
  return with_device_options(std::move(o));
}

const Registrar reg{Command{
    "bench infer", "prompt and decode speed of model variants against the memory roofline",
    "MODEL [--variants LIST] [-p N] [-n N] [--repetitions R] [--math fast|exact|native] [--device D] [--llama-bench FILE]",
    options(),
    "MODEL may be a GGUF file: base is then its weights as qlab runs them (packed ggml blocks, decoded by\n"
    "integer dot products on llama.cpp's int8 activations).\n"
    "Each variant is made in memory from MODEL: base as stored; f32, f16, bf16 with every Linear and\n"
    "lm_head converted; a block format (qlab formats list) with every Linear quantized round-to-nearest\n"
    "and kept packed. pp: one prompt of -p tokens from an empty cache; tg: -n tokens decoded one at a\n"
    "time from an empty cache; each after one warm-up run, repeated, mean +- sample sd.\n"
    "bytes/token: every weight a decoded token reads (Linears, lm_head, one embedding row) plus the\n"
    "keys and values it attends over, averaged over the run. The read bandwidth is measured in the same\n"
    "run (a sum over a buffer 16x the last-level cache, every thread, before and after the variants;\n"
    "the better counts) and so is the SGEMM rate at the prompt's widest product. Decode cannot beat\n"
    "bandwidth / bytes per token; \"of bandwidth\" says how close each variant comes. The Spark's bound\n"
    "uses its 273 GB/s and is a projection, not a measurement. On a GPU (--device cuda) the ceilings are\n"
    "the device's: its copy bandwidth and cuBLAS's GEMM rate, measured in the same run.",
    1, 1, run}};

}  // namespace
}  // namespace qlab::app
