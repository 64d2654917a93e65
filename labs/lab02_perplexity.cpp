// Lab 2's perplexity step: the model against a fake-quantized copy of itself, on the whole text by
// default, with the measures that compare two models fairly (the paired PPL ratio and the
// KL-divergence), and a checkpoint so an hour on a large model survives a cancel or a restart.
//
// The text runs in pieces of a few chunks through eval::kl_divergence (the computation of
// `qlab ppl MODEL --quant F --kld`). Each chunk is scored on its own, so pieces give the same
// per-token values as one whole run, and the running sums below are added token by token in the
// same order as the engine adds them: a run that resumed from a checkpoint prints the same digits
// as one that never stopped, and as the command line.
#include "labs/lab02_perplexity.h"

#include <chrono>
#include <cmath>

#include <fmt/format.h>

#include "engine/formats/block.h"
#include "engine/model/forward.h"
#include "engine/model/model.h"
#include "engine/quant/rtn.h"
#include "labs/scoring.h"
#include "labs/step_files.h"

namespace qlab::labs {

namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

// Sums over scored tokens in token order: NLL of both models, their product, KL-divergence, Δp.
struct PairedSums {
  double sb = 0, sb2 = 0, st = 0, st2 = 0, sbt = 0, kld = 0, kld2 = 0, dp = 0, dp2 = 0;
  std::int64_t n = 0, same = 0;

  void add(double nb, double nt, double k, double d) {
    sb += nb;
    sb2 += nb * nb;
    st += nt;
    st2 += nt * nt;
    sbt += nb * nt;
    kld += k;
    kld2 += k * k;
    dp += d;
    dp2 += d * d;
    ++n;
  }
  // Doubles round-trip exactly through JSON (shortest representation that reads back the same).
  json to_json() const {
    return {{"sb", sb}, {"sb2", sb2}, {"st", st}, {"st2", st2}, {"sbt", sbt}, {"kld", kld}, {"kld2", kld2},
            {"dp", dp}, {"dp2", dp2}, {"n", n}, {"same", same}};
  }
  static PairedSums from_json(const json& j) {
    PairedSums s;
    s.sb = j.at("sb").get<double>();
    s.sb2 = j.at("sb2").get<double>();
    s.st = j.at("st").get<double>();
    s.st2 = j.at("st2").get<double>();
    s.sbt = j.at("sbt").get<double>();
    s.kld = j.at("kld").get<double>();
    s.kld2 = j.at("kld2").get<double>();
    s.dp = j.at("dp").get<double>();
    s.dp2 = j.at("dp2").get<double>();
    s.n = j.at("n").get<std::int64_t>();
    s.same = j.at("same").get<std::int64_t>();
    return s;
  }
};

// The figures `qlab ppl --kld` prints, from the sums (its formulas, in its order of operations).
struct PairedFigures {
  eval::NllStats base, test;
  double ln_ratio = 0, ln_ratio_err = 0, mean_kld = 0, kld_err = 0, same_top = 0, rms_dp = 0;
};

PairedFigures figures(const PairedSums& s) {
  PairedFigures f;
  f.base = eval::NllStats{s.sb, s.sb2, s.n};
  f.test = eval::NllStats{s.st, s.st2, s.n};
  const double n = static_cast<double>(s.n);
  if (s.n < 2) return f;
  const double mb = s.sb / n, mt = s.st / n;
  const double var_b = s.sb2 / n - mb * mb, var_t = s.st2 / n - mt * mt;
  const double cov = (s.sbt / n - (s.sb / n) * (s.st / n)) * n / (n - 1);
  f.ln_ratio = mt - mb;
  f.ln_ratio_err = std::sqrt(std::max(0.0, (var_b + var_t) * n / (n - 1) - 2 * cov) / n);
  f.mean_kld = s.kld / n;
  const double kvar = s.kld2 / n - f.mean_kld * f.mean_kld;
  f.kld_err = kvar > 0 ? std::sqrt(kvar / (n - 1)) : 0.0;
  f.same_top = static_cast<double>(s.same) / n;
  f.rms_dp = std::sqrt(s.dp2 / n);
  return f;
}

std::uint64_t fnv1a(const std::vector<std::int32_t>& v) {
  std::uint64_t h = 1469598103934665603ull;
  for (std::int32_t t : v)
    for (int b = 0; b < 4; ++b) {
      h ^= static_cast<std::uint8_t>(static_cast<std::uint32_t>(t) >> (8 * b));
      h *= 1099511628211ull;
    }
  return h;
}

class PieceProgress final : public Progress {
 public:
  PieceProgress(Progress& p, double lo, double hi, std::string label) : p_(p), lo_(lo), hi_(hi), label_(std::move(label)) {}
  void report(double f, std::string_view) override { p_.report(lo_ + (hi_ - lo_) * f, label_); }

 private:
  Progress& p_;
  double lo_, hi_;
  std::string label_;
};

Table perplexity_table(const std::string& fmt_name, const PairedFigures& f) {
  Table t;
  t.title = "Perplexity on the same tokens (lower is better)";
  t.header = {"weights", "perplexity", "+/-"};
  t.rows = {{"original", fmt::format("{:.4f}", f.base.ppl()), fmt::format("{:.4f}", f.base.ppl_error())},
            {fmt_name, fmt::format("{:.4f}", f.test.ppl()), fmt::format("{:.4f}", f.test.ppl_error())}};
  return t;
}

Table change_table(const std::string& fmt_name, const PairedFigures& f) {
  Table t;
  t.title = fmt::format("What {} changed, measured token by token", fmt_name);
  t.header = {"measure", "value", "+/-"};
  t.rows = {{"perplexity increase", fmt::format("{:+.4f}", f.test.ppl() - f.base.ppl()), "-"},
            {"PPL ratio (quantized / original)", fmt::format("{:.5f}", std::exp(f.ln_ratio)),
             fmt::format("{:.5f}", std::exp(f.ln_ratio) * f.ln_ratio_err)},
            {"mean KL-divergence per token", fmt::format("{:.5f}", f.mean_kld), fmt::format("{:.5f}", f.kld_err)},
            {"top token unchanged", fmt::format("{:.2f}%", 100 * f.same_top), "-"},
            {"RMS change of the right token's probability", fmt::format("{:.2f}%", 100 * f.rms_dp), "-"}};
  return t;
}

}  // namespace

StepResult lab02_perplexity_job(const JobContext& ctx, Progress& progress, std::stop_token stop) {
  std::error_code ec;
  if (!std::filesystem::exists(ctx.model.dir / "config.json", ec))
    throw NotAvailable(fmt::format("needs a model: {} has no config.json (the built-in model is not installed)",
                                   ctx.model.dir.string()));
  const std::string fmt_name = ctx.param("format");
  const auto spec = formats::block_format_from_name(fmt_name);
  if (!spec) throw NotAvailable(fmt::format("the block format {} is not in this build", fmt_name));
  const ScoringText text = scoring_text(ctx, ctx.param("text"), "eval.txt");
  progress.report(0.0, "loading the model");
  const model::Model base = model::Model::load(ctx.model.dir);
  const io::Tokenizer tok = io::Tokenizer::load(ctx.model.dir);
  const eval::PplSetup su = scoring_setup(ctx, base.config(), tok, text, ctx.param_int("chunks"));
  const std::int64_t n_ctx = su.options.n_ctx;

  const json key{{"model", ctx.model.dir.string()}, {"text", text.path.string()},    {"tokens", su.tokens.size()},
                 {"token_hash", fnv1a(su.tokens)},   {"n_ctx", n_ctx},               {"bos", su.options.bos.value_or(-1)},
                 {"format", fmt_name},               {"chunks", su.chunks}};
  PairedSums acc;
  std::int64_t done = 0;
  std::string resumed;
  if (auto cp = read_checkpoint(ctx.out_dir); cp && cp->key == key) {
    try {
      acc = PairedSums::from_json(cp->state.at("sums"));
      done = std::clamp<std::int64_t>(cp->state.at("chunks_done").get<std::int64_t>(), 0, su.chunks);
      if (done > 0) resumed = fmt::format("Continued from the checkpoint of {} ({} of {} chunks were done).", cp->when,
                                          done, su.chunks);
    } catch (const std::exception&) {
      acc = PairedSums{};
      done = 0;  // a checkpoint edited by hand: start over
    }
  }

  model::Model q = base;
  progress.report(0.02, "quantizing to " + fmt_name);
  const quant::FakeQuantStats fq = quant::fake_quantize_model(q, *spec, {}, Progress::none(), false, false, stop);
  auto save = [&] {
    if (ctx.out_dir.empty()) return;
    write_checkpoint(ctx.out_dir, key, {{"sums", acc.to_json()}, {"chunks_done", done}},
                     fmt::format("chunk {} of {}", done, su.chunks));
  };
  // A small model runs several chunks per forward call (one per thread): pieces of that many keep it.
  const std::int64_t piece = std::clamp<std::int64_t>(model::sequences_per_batch(base, n_ctx), 1, 16);
  auto last_save = Clock::now(), last_partial = Clock::now();
  try {
    while (done < su.chunks) {
      check_cancel(stop);
      const std::int64_t n = std::min(piece, su.chunks - done);
      const auto begin = static_cast<std::size_t>(done * n_ctx);
      std::vector<std::int32_t> last;  // the text's final chunk alone: doubled, since a call needs two chunks' worth
      std::span<const std::int32_t> span(su.tokens.data() + begin, su.tokens.size() - begin);
      if (static_cast<std::int64_t>(span.size()) < 2 * n_ctx) {
        last.assign(span.begin(), span.begin() + n_ctx);
        last.insert(last.end(), span.begin(), span.begin() + n_ctx);
        span = last;
      }
      eval::PplOptions opt = su.options;
      opt.max_chunks = n;
      PieceProgress pp(progress, 0.05 + 0.95 * static_cast<double>(done) / static_cast<double>(su.chunks),
                       0.05 + 0.95 * static_cast<double>(done + n) / static_cast<double>(su.chunks),
                       fmt::format("chunk {} of {}", done + n, su.chunks));
      const eval::KldResult k = eval::kl_divergence(base, q, span, opt, pp, stop);
      for (std::size_t i = 0; i < k.kld.size(); ++i) acc.add(k.nll_base[i], k.nll_test[i], k.kld[i], k.delta_p[i]);
      acc.same += k.same_top;
      done += n;
      if (Clock::now() - last_save > std::chrono::seconds(2) && done < su.chunks) {
        save();
        last_save = Clock::now();
      }
      if (ctx.partial && Clock::now() - last_partial > std::chrono::milliseconds(300)) {
        last_partial = Clock::now();
        StepResult pr;
        pr.blocks.push_back(Text{fmt::format("So far: {} of {} chunks.", done, su.chunks)});
        pr.blocks.push_back(perplexity_table(fmt_name, figures(acc)));
        ctx.partial(std::move(pr));
      }
    }
  } catch (const Cancelled&) {
    if (done > 0) save();
    throw;
  }
  remove_checkpoint(ctx.out_dir);

  const PairedFigures f = figures(acc);
  const double increase = f.test.ppl() - f.base.ppl();
  const double sigmas = f.ln_ratio_err > 0 ? f.ln_ratio / f.ln_ratio_err : 0.0;
  StepResult r;
  r.blocks.push_back(Text{"Scored: " + su.protocol + fmt::format(": {} tokens scored.", acc.n)});
  if (!resumed.empty()) r.blocks.push_back(Text{resumed});
  r.blocks.push_back(perplexity_table(fmt_name, f));
  r.blocks.push_back(change_table(fmt_name, f));
  r.blocks.push_back(Text{fmt::format(
      "The increase, {:+.4f}, is {} the +/- of either perplexity ({:.4f}): that +/- is how much the score would move on "
      "other text. Both runs scored the same tokens, though, so their ratio is measured far more precisely: "
      "ln(PPL ratio) = {:.5f} +/- {:.5f}, {:.1f} standard errors from no change. The KL-divergence says how far the "
      "quantized model's whole next-token distribution moved, token by token.",
      increase, std::fabs(increase) < f.base.ppl_error() ? "smaller than" : "larger than", f.base.ppl_error(),
      f.ln_ratio, f.ln_ratio_err, sigmas)});
  r.blocks.push_back(Text{fmt::format("{} linear weight matrices ({:.0f} weights) went through {} and back; embeddings "
                                      "and the output head stayed as stored.",
                                      fq.matrices, fq.weights, fmt_name)});
  // (the model folder's own eval.txt is what qlab ppl scores by default)
  const bool own_text = text.path == ctx.model.dir / "eval.txt";
  r.blocks.push_back(Text{fmt::format("The same numbers from the command line: qlab ppl {}{} --quant {} --kld{}",
                                      ctx.model.builtin ? std::string("builtin") : ctx.model.display,
                                      own_text ? std::string() : " --text " + text.path.string(), fmt_name,
                                      su.chunks < static_cast<std::int64_t>(su.tokens.size()) / n_ctx
                                          ? fmt::format(" --chunks {}", su.chunks)
                                          : std::string())});
  if (text.generated && !ctx.model.builtin)
    r.blocks.push_back(Text{"This text was written by qlab's generator for the built-in model; choose a text like "
                            "your own use in the step's settings (s) for figures that mean something for this model."});
  r.record = {{"ppl_before", f.base.ppl()},  {"ppl_after", f.test.ppl()},    {"ppl_error", f.base.ppl_error()},
              {"ppl_ratio", std::exp(f.ln_ratio)}, {"ln_ratio", f.ln_ratio}, {"ln_ratio_error", f.ln_ratio_err},
              {"mean_kld", f.mean_kld},      {"kld_error", f.kld_err},       {"same_top", f.same_top},
              {"format", fmt_name},          {"n_ctx", n_ctx},               {"chunks", su.chunks},
              {"scored_tokens", acc.n},      {"text_tokens", su.tokens.size()}, {"text", text.origin},
              {"matrices", fq.matrices}};
  return r;
}

}  // namespace qlab::labs
