// `qlab train`: the trainer (lab 3) -- one run in a precision mode, the lab-3 side-by-side run,
// or the built-in model remade from scratch.
#include <unistd.h>

#include <cstdio>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "app/cli.h"
#include "app/model_arg.h"
#include "app/signal_stop.h"
#include "engine/core/atomic_file.h"
#include "engine/core/error.h"
#include "engine/train/lab3.h"
#include "engine/train/train_job.h"
#include "engine/train/train_presets.h"
#include "labs/lab03_json.h"

namespace qlab::app {

namespace {

// Ctrl-C (or SIGTERM, SIGHUP) asks the run to stop: it finishes the step, saves and returns. A second
// one ends the process at once.
constexpr const char* kInterruptNotice = "interrupted: finishing the step and saving (Ctrl-C again to abort)";

// A progress line with loss and tokens/s: redrawn in place at a terminal, else one line per
// `every` steps on stderr.
class StepPrinter {
 public:
  StepPrinter(std::int64_t total, std::int64_t every, bool quiet)
      : total_(total), every_(every), quiet_(quiet), tty_(::isatty(STDERR_FILENO) != 0) {}
  void operator()(std::string_view tag, const train::StepRecord& r) {
    if (quiet_) return;
    const auto s = r.step + 1;
    if (tty_) {
      const int width = 24, filled = static_cast<int>(static_cast<double>(s) / static_cast<double>(total_) * width);
      fmt::print(stderr, "\r{}[{}{}] step {}/{} loss {:.4f} |g| {:.3f} {:.0f} tok/s   ", tag,
                 std::string(static_cast<std::size_t>(std::min(filled, width)), '#'),
                 std::string(static_cast<std::size_t>(width - std::min(filled, width)), ' '), s, total_, r.loss,
                 r.grad_norm, r.tokens_per_s);
      std::fflush(stderr);
      drawn_ = true;
    } else if (s % every_ == 0 || s == total_ || !r.finite) {
      fmt::print(stderr, "{}step {}/{} loss {:.4f} grad_norm {:.3f} lr {:.3g} {:.0f} tok/s\n", tag, s, total_, r.loss,
                 r.grad_norm, r.lr, r.tokens_per_s);
    }
  }
  void end_line() {
    if (drawn_) fmt::print(stderr, "\n");
    drawn_ = false;
  }
  void set_total(std::int64_t t) { total_ = t; }

 private:
  std::int64_t total_, every_;
  bool quiet_, tty_, drawn_ = false;
};

std::optional<std::int64_t> opt_int(const Args& a, const std::string& n, long long lo, long long hi) {
  if (!a.has(n)) return std::nullopt;
  return a.get_int(n, 0, lo, hi);
}

train::Precision parse_precision(const std::string& s) {
  auto p = train::precision_from_name(s);
  if (!p) throw UsageError(fmt::format("--precision {}: expected fp32, bf16, fp8 or fp8-noscale", s));
  return *p;
}

train::DelayedScaling recipe_from(const Args& a) {
  train::DelayedScaling r;
  r.history_len = static_cast<int>(a.get_int("amax-history", r.history_len, 1, 1 << 20));
  r.margin = static_cast<int>(a.get_int("margin", r.margin, 0, 64));
  const std::string algo = a.get_or("amax-algo", "max");
  if (algo != "max" && algo != "most_recent") throw UsageError("--amax-algo: expected max or most_recent");
  r.most_recent = algo == "most_recent";
  return r;
}

int run_lab3_cmd(const Args& a) {
  train::Lab3Options o;
  o.steps = a.get_int("steps", 0, 1, 1000000);
  o.recipe = recipe_from(a);
  o.eval_chunks = a.get_int("eval-chunks", 0, 0, 1000000);
  if (!a.has("no-inference")) {
    try {
      o.builtin_dir = resolve_model_arg(a.get_or("model", "builtin"));
    } catch (const Error& e) {
      fmt::print(stderr, "qlab train --lab3: FP8 inference skipped: {}\n", e.what());
    }
  }
  SignalStop guard(kInterruptNotice);
  const std::int64_t steps = o.steps > 0 ? o.steps : train::train_preset("small").options.steps;
  StepPrinter printer(steps, a.get_int("log-every", 50, 1, 1000000), a.json());
  train::Precision shown = train::Precision::FP32;
  train::Lab3Result r = train::run_lab3(
      o,
      [&](train::Precision p, const train::StepRecord& s) {
        if (p != shown) printer.end_line();
        shown = p;
        printer(fmt::format("{:<12}", train::precision_name(p)), s);
      },
      Progress::none(), guard.token());
  printer.end_line();
  nlohmann::json j = labs::lab3_to_json(r);
  if (a.has("out")) {
    const std::filesystem::path out(a.require("out"));
    std::filesystem::create_directories(out);
    write_file_atomic(out / "lab3.json", j.dump() + "\n");
  }
  if (a.json()) {
    print_json(j.dump(2));
    return 0;
  }
  fmt::print("lab 3: the same model, data and seed in four precisions ({:.1f} s)\n", r.seconds);
  fmt::print("{:<12} {:>10} {:>12} {:>10} {:>12} {:>12} {:>12}  {}\n", "precision", "final loss", "held-out ppl",
             "tok/s", "w flushed", "act flushed", "grad flushed", "stop");
  for (const auto& run : r.runs)
    fmt::print("{:<12} {:>10.4f} {:>12.3f} {:>10.0f} {:>11.4f}% {:>11.4f}% {:>11.4f}%  {}\n",
               train::precision_name(run.precision), run.history.empty() ? 0.0 : run.history.back().loss,
               run.eval_ppl, run.tokens_per_s, 100 * run.totals[0].flushed_fraction(),
               100 * run.totals[1].flushed_fraction(), 100 * run.totals[2].flushed_fraction(), run.stop_reason);
  fmt::print("unigram model held-out ppl: {:.3f}\n", r.unigram_ppl);
  for (const auto& run : r.runs)
    if (run.totals[0].saturated + run.totals[1].saturated + run.totals[2].saturated > 0)
      fmt::print("{}: saturated weights {:.4f}%, activations {:.4f}%, gradients {:.4f}%\n",
                 train::precision_name(run.precision), 100 * run.totals[0].saturated_fraction(),
                 100 * run.totals[1].saturated_fraction(), 100 * run.totals[2].saturated_fraction());
  if (r.inference)
    fmt::print("FP8 inference on the built-in model ({} tokens scored): fp32 ppl {:.3f}, bf16 {:.3f}, e4m3 {:.3f}\n",
               r.inference->scored_tokens, r.inference->ppl_fp32, r.inference->ppl_bf16, r.inference->ppl_fp8);
  return 0;
}

int run(const Args& a) {
  if (a.has("lab3")) return run_lab3_cmd(a);
  train::TrainJobOptions o;
  o.out = a.require("out");
  o.preset = a.get_or("preset", "small");
  if (a.has("resume")) o.resume = std::filesystem::path(a.require("resume"));
  if (a.has("precision")) o.precision = parse_precision(a.require("precision"));
  o.steps = opt_int(a, "steps", 1, 100000000);
  o.batch = opt_int(a, "batch", 1, 4096);
  o.seq = opt_int(a, "seq", 2, 1 << 16);
  o.checkpoint_every = opt_int(a, "checkpoint-every", 0, 100000000);
  if (a.has("lr")) {
    o.lr = a.get_double("lr", 0);
    if (!(*o.lr > 0)) throw UsageError(fmt::format("--lr must be a positive number, got {}", *a.get("lr")));
  }
  if (a.has("seed")) o.seed = static_cast<std::uint64_t>(a.get_int("seed", 1, 0, INT64_MAX));
  if (a.has("amax-history") || a.has("margin") || a.has("amax-algo")) {
    train::DelayedScaling r = recipe_from(a);
    o.amax_history_len = r.history_len;
    o.margin = r.margin;
    o.amax_most_recent = r.most_recent;
  }
  o.evaluate = !a.has("no-eval");
  o.eval_chunks = a.get_int("eval-chunks", 0, 0, 1000000);
  (void)train::train_preset(o.preset);  // unknown names fail before any work

  SignalStop guard(kInterruptNotice);
  const std::int64_t total = o.steps ? *o.steps : train::train_preset(o.preset).options.steps;
  StepPrinter printer(total, a.get_int("log-every", 10, 1, 1000000), a.json());
  train::TrainJobResult r =
      train::run_train_job(o, [&](const train::StepRecord& s) { printer("", s); }, Progress::none(), guard.token());
  printer.end_line();
  nlohmann::json j = {{"out", o.out.string()},
                      {"stop_reason", r.stop_reason},
                      {"steps_done", r.steps_done},
                      {"seconds", r.seconds},
                      {"tokens_per_s", r.tokens_per_s},
                      {"eval", r.eval}};
  if (a.json()) print_json(j.dump(2));
  else {
    fmt::print("{}: {} steps in {:.1f} s ({:.0f} tokens/s), checkpoint in {}\n", r.stop_reason, r.steps_done,
               r.seconds, r.tokens_per_s, o.out.string());
    if (!r.eval.is_null()) fmt::print("{}\n", r.eval.dump(2));
  }
  if (r.stop_reason.rfind("non-finite", 0) == 0)
    fail("training stopped: {} (the checkpoint in {} holds the last good step; try a lower --lr)", r.stop_reason,
         o.out.string());
  return r.stop_reason == "cancelled" && guard.signal() != 0 ? 128 + guard.signal() : 0;
}

const Registrar reg{Command{
    "train",
    "train a small Llama model in fp32, bf16 or emulated FP8 (lab 3)",
    "--precision fp32|bf16|fp8|fp8-noscale [--steps N] [--preset NAME] [--resume DIR] --out DIR | --lab3",
    {{"precision", "P", "fp32 | bf16 | fp8 (TransformerEngine delayed scaling) | fp8-noscale (default fp32)"},
     {"steps", "N", "number of optimizer steps (default: the preset's)"},
     {"preset", "NAME", "builtin | small | tiny: text, model shape and settings (default small)"},
     {"resume", "DIR", "continue a checkpoint folder (its preset and settings; --steps may extend it)"},
     {"out", "DIR", "checkpoint folder (HF layout) with loss.csv, loss.json, eval.json"},
     {"lab3", "", "lab 3: fp32, bf16, fp8, fp8-noscale side by side, plus FP8 inference of the built-in model"},
     {"model", "MODEL", "with --lab3: the model for FP8 inference (default builtin)"},
     {"no-inference", "", "with --lab3: skip the FP8 inference part"},
     {"batch", "N", "sequences per step"},
     {"seq", "N", "tokens per sequence (at most the model's context)"},
     {"lr", "X", "peak learning rate (cosine decay to a tenth)"},
     {"seed", "N", "initialisation and batch-order seed"},
     {"amax-history", "N", "FP8 delayed scaling: amax history length (default 16)"},
     {"margin", "N", "FP8 delayed scaling: scale = (max / 2^margin) / amax (default 0)"},
     {"amax-algo", "A", "FP8 delayed scaling: max | most_recent (default max)"},
     {"checkpoint-every", "N", "also save every N steps"},
     {"log-every", "N", "when stderr is not a terminal: a progress line every N steps"},
     {"eval-chunks", "N", "score at most N chunks of held-out text (default all)"},
     {"no-eval", "", "skip the held-out evaluation at the end"}},
    "Training is emulated on the CPU: matrix-product operands are rounded to bf16 or to FP8 (e4m3 forward, "
    "e5m2 gradients) and accumulated in float32, with float32 master weights. Ctrl-C (or SIGTERM, SIGHUP) "
    "finishes the current step, saves the checkpoint and exits with 128 + the signal (130 for Ctrl-C). A non-finite loss stops the run with the last good "
    "step saved (exit 1). `--preset builtin --out DIR` remakes the built-in model from scratch.",
    0,
    0,
    run}};

}  // namespace

}  // namespace qlab::app
