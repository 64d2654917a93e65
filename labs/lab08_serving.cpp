// Lab 8 — inference engines against the memory roofline, and serving on the Spark today.
//   lab08.roofline   bench infer over variants of the learner's model (engine/bench), the roofline
//                    drawn with the module's claimed Spark figures beside the bound they imply
//   lab08.deploy     the commands that serve the learner's checkpoint with trtllm-serve, vllm serve,
//                    llama-server and Ollama (labs/lab08_deploy.h)
//   lab08.serve      bench serve (engine/serve) against the learner's OpenAI-compatible server, or,
//                    given no URL, against qlab serve started here on loopback over the model
// Lab 8's milestone: an engine benchmarked, either step will do: qlab's own against the roofline on this
// machine, or the learner's server (or qlab serve, given no URL) under load.
#include <cctype>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "engine/bench/infer_bench.h"
#include "engine/bench/roofline.h"
#include "engine/io/tokenizer.h"
#include "engine/model/model.h"
#include "engine/serve/chat_template.h"
#include "engine/serve/serve_bench.h"
#include "engine/serve/server.h"
#include "labs/lab08_deploy.h"
#include "labs/lab.h"
#include "labs/lab08_roofline.h"

namespace qlab::labs {

namespace {

// The module's speed table for Llama 3.1 8B on the Spark (../shared/MODULE.md), and the bytes a
// decoded token reads in each precision: every weight but the embedding table (one row of it).
//   FP16   16.06 GB of weights (lab 2's memory table) less the 1.05 GB embedding table
//   NVFP4  6.03 GB (lab 2: NVFP4 Linears, BF16 embeddings and head) less the same table
constexpr double kEmbeddingBytes8B = 128256.0 * 4096 * 2;
constexpr double kFp16Bytes8B = 16.06e9 - kEmbeddingBytes8B;
constexpr double kNvfp4Bytes8B = 6.03e9 - kEmbeddingBytes8B;
constexpr double kClaimedFp16Decode = 20, kClaimedNvfp4Decode = 39;

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

StepResult roofline_job(const JobContext& ctx, Progress& progress, std::stop_token stop) {
  progress.report(0.0, "loading the model");
  const model::Model base = model::Model::load(ctx.model.dir);
  bench::InferBenchOptions opt;
  opt.prompt_tokens = ctx.param_int("prompt");
  opt.decode_tokens = static_cast<int>(ctx.param_int("decode"));
  opt.repetitions = static_cast<int>(ctx.param_int("repetitions"));
  if (ctx.device.gpu) {
    opt.backend = ctx.device.backend;
    opt.device_copy_gbs = ctx.device.copy_gbs;
    opt.device_gemm_gflops = ctx.device.gemm_gflops;
  }
  const bench::InferBenchResult r = bench::bench_infer(base, split_list(ctx.param("variants")), opt, progress, stop);

  StepResult out;
  out.blocks.push_back(infer_table(r));
  out.blocks.push_back(ceilings_text(r));
  const Series claims{"module's claims, 8B on the Spark (FP16, NVFP4)", {kFp16Bytes8B, kNvfp4Bytes8B},
                      {kClaimedFp16Decode, kClaimedNvfp4Decode}};
  out.blocks.push_back(roofline_chart(r, {claims}));
  const double fp16_bound = bench::decode_bound_tps(bench::kSparkBandwidthGBs, kFp16Bytes8B);
  const double nvfp4_bound = bench::decode_bound_tps(bench::kSparkBandwidthGBs, kNvfp4Bytes8B);
  out.blocks.push_back(Text{fmt::format(
      "On the Spark ({:.0f} GB/s), Llama 3.1 8B reads {:.1f} GB per token in FP16 and {:.1f} GB in NVFP4, so no "
      "engine decodes one sequence faster than {:.1f} and {:.1f} tokens/s. The module's NVFP4 ~{:.0f} is {:.0f}% "
      "of its bound; its FP16 ~{:.0f} is above the bound, {:.0f}% of it: not achievable by reading the weights "
      "once per token.",
      bench::kSparkBandwidthGBs, kFp16Bytes8B / 1e9, kNvfp4Bytes8B / 1e9, fp16_bound, nvfp4_bound,
      kClaimedNvfp4Decode, 100 * kClaimedNvfp4Decode / nvfp4_bound, kClaimedFp16Decode,
      100 * kClaimedFp16Decode / fp16_bound)});

  nlohmann::json vars = nlohmann::json::array();
  for (const auto& v : r.variants)
    vars.push_back({{"variant", v.name},
                    {"bytes_per_token", v.bytes_per_token},
                    {"prompt_tokens_per_s", v.prompt_tps.mean},
                    {"decode_tokens_per_s", v.decode_tps.mean},
                    {"decode_efficiency", v.efficiency},
                    {"spark_bound_tokens_per_s", bench::decode_bound_tps(bench::kSparkBandwidthGBs, v.bytes_per_token)}});
  out.record["read_gb_per_s"] = r.read_gbs;
  out.record["threads"] = r.threads;
  out.record["device"] = r.device.empty() ? "cpu" : r.device;
  out.record["variants"] = vars;
  return out;
}

StepResult deploy_job(const JobContext& ctx, Progress&, std::stop_token) {
  std::string given = ctx.input;
  while (!given.empty() && std::isspace(static_cast<unsigned char>(given.back()))) given.pop_back();
  while (!given.empty() && std::isspace(static_cast<unsigned char>(given.front()))) given.erase(given.begin());
  given = expand_home(given);
  const std::filesystem::path dir = given.empty() ? ctx.model.dir : std::filesystem::path(given);
  if (!std::filesystem::is_directory(dir) && !std::filesystem::is_regular_file(dir))
    fail("{}: no such folder or file; give the folder of the checkpoint lab 2, 4, 5 or 6 wrote", dir.string());
  const DeployTarget t = deploy_target(dir);
  StepResult out;
  out.blocks.push_back(Text{t.summary});
  for (const auto& r : deploy_recipes(t)) out.blocks.push_back(Text{r.engine + "\n\n" + r.commands});
  out.record["checkpoint_kind"] = t.kind_name();
  return out;
}

// "URL MODEL": the learner's server; empty: qlab serve over the lab's model, here on loopback.
StepResult serve_job(const JobContext& ctx, Progress& progress, std::stop_token stop) {
  serve::ServeBenchOptions opt;
  opt.concurrency = {1, 4};
  opt.max_tokens = static_cast<int>(ctx.param_int("max_tokens"));
  opt.requests_per_level = 8;
  std::stringstream in(ctx.input);
  in >> opt.url >> opt.model;
  std::unique_ptr<model::Model> m;
  std::unique_ptr<io::Tokenizer> tok;
  std::unique_ptr<serve::Server> server;
  std::jthread thread;
  const bool own = opt.url.empty();
  if (own) {
    progress.report(0.0, "starting qlab serve on 127.0.0.1");
    m = std::make_unique<model::Model>(model::Model::load(ctx.model.dir));
    tok = std::make_unique<io::Tokenizer>(io::Tokenizer::load(ctx.model.dir));
    serve::ServeOptions so;
    so.port = 0;
    so.model_name = "qlab";
    server = std::make_unique<serve::Server>(*m, *tok, std::nullopt, so);
    const int port = server->bind();
    thread = std::jthread([&server] { server->run(); });
    opt.url = fmt::format("http://127.0.0.1:{}/v1", port);
    opt.model = so.model_name;
    opt.chat = false;
  } else if (opt.model.empty()) {
    fail("give the server's address and the model it serves, e.g. http://127.0.0.1:8355/v1 "
         "nvidia/Llama-3.1-8B-Instruct-FP4");
  }
  serve::ServeBenchResult r;
  try {
    r = serve::bench_serve(opt, progress, stop);
  } catch (...) {
    if (server) server->stop();
    throw;
  }
  if (server) server->stop();

  StepResult out;
  Table t;
  t.title = fmt::format("{} at {} ({}), max_tokens {}", own ? "qlab serve" : "your server", opt.url, opt.model,
                        opt.max_tokens);
  t.header = {"clients", "requests", "failed", "TTFT p50 ms", "TTFT p99 ms", "ITL p50 ms", "ITL p99 ms", "output tok/s"};
  nlohmann::json levels = nlohmann::json::array();
  for (const auto& L : r.levels) {
    t.rows.push_back({std::to_string(L.concurrency), std::to_string(L.requests), std::to_string(L.failed),
                      fmt::format("{:.1f}", L.ttft_p50_ms), fmt::format("{:.1f}", L.ttft_p99_ms),
                      fmt::format("{:.2f}", L.itl_p50_ms), fmt::format("{:.2f}", L.itl_p99_ms),
                      fmt::format("{:.1f}", L.output_tokens_per_s)});
    levels.push_back({{"concurrency", L.concurrency}, {"ttft_p50_ms", L.ttft_p50_ms}, {"itl_p50_ms", L.itl_p50_ms},
                      {"output_tokens_per_s", L.output_tokens_per_s}, {"failed", L.failed}});
  }
  out.blocks.push_back(std::move(t));
  if (r.levels.size() >= 2 && r.levels[0].output_tokens_per_s > 0)
    out.blocks.push_back(Text{fmt::format(
        "{} clients together got {:.1f}x the output tokens/s of one: a batch of sequences shares each read of the "
        "weights, which is how a server passes the one-sequence roofline in total (each sequence still waits its "
        "turn: see the ITL columns).",
        r.levels[1].concurrency, r.levels[1].output_tokens_per_s / r.levels[0].output_tokens_per_s)});
  out.record["server"] = own ? "qlab serve" : opt.url;
  out.record["levels"] = levels;
  return out;
}

}  // namespace

Lab make_lab08() {
  Lab l;
  l.number = 8;
  l.id = "lab08";
  l.milestone_id = "m8";
  Step roofline{"lab08.roofline", roofline_job, false, true};
  roofline.params = {Param{"variants", ParamKind::Choice, "f32,bf16,int8-ch,nvfp4",
                           {"f32,bf16,int8-ch,nvfp4", "f32,f16,bf16", "bf16,int8-ch,int4-g128,mxfp4,nvfp4", "base"}, 0, 0},
                     Param{"prompt", ParamKind::Integer, "64", {}, 0, 4096},
                     Param{"decode", ParamKind::Integer, "16", {}, 1, 1024},
                     Param{"repetitions", ParamKind::Integer, "2", {}, 1, 20}};
  Step deploy{"lab08.deploy", deploy_job, true, false};
  Step serve{"lab08.serve", serve_job, true, true};
  serve.params = {Param{"max_tokens", ParamKind::Integer, "32", {}, 1, 4096}};
  l.steps = {Step{"lab08.objectives", {}, false, false}, std::move(roofline), deploy, std::move(serve),
             Step{"lab08.reading", {}, false, false}};
  l.milestone_any_step = true;
  return l;
}

}  // namespace qlab::labs
