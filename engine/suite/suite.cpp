#include "engine/suite/suite.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <fstream>
#include <optional>

#include <fmt/format.h>

#include "engine/bench/infer_bench.h"
#include "engine/bench/variants.h"
#include "engine/core/error.h"
#include "engine/core/threads.h"
#include "engine/eval/perplexity.h"
#include "engine/eval/suite_logits.h"
#include "engine/eval/suite_mmlu.h"
#include "engine/eval/suite_wordppl.h"
#include "engine/gguf/gguf_file.h"
#include "engine/gguf/gguf_metadata.h"
#include "engine/gguf/gguf_tokenizer.h"
#include "engine/io/model_config.h"
#include "engine/io/tokenizer.h"
#include "engine/model/model.h"
#include "engine/suite/cache.h"
#include "engine/suite/data.h"
#include "engine/suite/fingerprint.h"
#include "engine/suite/variants.h"
#include "engine/sysinfo/sysinfo.h"

namespace qlab::suite {

namespace fs = std::filesystem;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

std::vector<std::string> resolve_variant_names(const std::vector<std::string>& asked) {
  std::vector<std::string> names = asked.empty() ? available_variants() : asked;
  std::vector<std::string> out{"baseline"};
  for (const auto& n : names) {
    variant_by_name(n);  // throws for an unknown or unavailable name
    if (std::find(out.begin(), out.end(), n) == out.end()) out.push_back(n);
  }
  return out;
}

namespace {

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string load_average() {
  std::ifstream f("/proc/loadavg");
  double a = 0, b = 0, c = 0;
  if (!(f >> a >> b >> c)) return "";
  return fmt::format("load average {:.2f} {:.2f} {:.2f} (1/5/15 min) at the start", a, b, c);
}

// Statistics of a variant against the baseline from its per-token comparisons (qlab ppl --kld's formulas).
PplFigures figures(const std::vector<eval::TokenCompare>& rows, std::int64_t chunks) {
  PplFigures f;
  eval::NllStats nb, nt;
  double sbt = 0, kld = 0, kld2 = 0, dp2 = 0;
  std::int64_t same = 0;
  std::vector<double> klds;
  klds.reserve(rows.size());
  for (const auto& r : rows) {
    nb.add(r.nll_base);
    nt.add(r.nll_test);
    sbt += r.nll_base * r.nll_test;
    kld += r.kld;
    kld2 += r.kld * r.kld;
    dp2 += r.delta_p * r.delta_p;
    same += r.same_top ? 1 : 0;
    klds.push_back(r.kld);
  }
  const double n = static_cast<double>(rows.size());
  f.ppl = nt.ppl();
  f.ppl_error = nt.ppl_error();
  f.scored = static_cast<std::int64_t>(rows.size());
  f.chunks = chunks;
  if (rows.size() >= 2) {
    const double mb = nb.sum / n, mt = nt.sum / n;
    const double var_b = nb.sum2 / n - mb * mb, var_t = nt.sum2 / n - mt * mt;
    const double cov = (sbt / n - mb * mt) * n / (n - 1);
    f.ln_ratio = mt - mb;
    f.ln_ratio_error = std::sqrt(std::max(0.0, (var_b + var_t) * n / (n - 1) - 2 * cov) / n);
    f.kld_mean = kld / n;
    const double kvar = kld2 / n - f.kld_mean * f.kld_mean;
    f.kld_error = kvar > 0 ? std::sqrt(kvar / (n - 1)) : 0.0;
    f.same_top = static_cast<double>(same) / n;
    f.same_top_error = std::sqrt(f.same_top * (1 - f.same_top) / (n - 1));
    f.rms_dp = std::sqrt(dp2 / n);
    const eval::Quantiles q = eval::quantiles(std::move(klds));
    f.kld_median = q.median;
    f.kld_p99 = q.p99;
    f.kld_p999 = q.p999;
    f.kld_max = q.max;
  }
  return f;
}

json rows_to_json(std::int64_t chunk, std::span<const eval::TokenCompare> rows) {
  json r = json::array();
  for (const auto& t : rows) r.push_back({t.nll_base, t.nll_test, t.kld, t.delta_p, t.same_top ? 1 : 0});
  return {{"chunk", chunk}, {"rows", r}};
}

void rows_from_json(const json& j, std::vector<eval::TokenCompare>& out) {
  for (const auto& r : j.at("rows")) {
    eval::TokenCompare t;
    t.nll_base = r.at(0).get<double>();
    t.nll_test = r.at(1).get<double>();
    t.kld = r.at(2).get<double>();
    t.delta_p = r.at(3).get<double>();
    t.same_top = r.at(4).get<int>() != 0;
    out.push_back(t);
  }
}

// Forwards a measure's fraction to the overall bar and the variant's own line.
class VariantProgress final : public Progress {
 public:
  VariantProgress(Progress& overall, const SuiteEvents& ev, std::size_t index, std::size_t count, double lo, double hi)
      : overall_(overall), ev_(ev), index_(index), count_(count), lo_(lo), hi_(hi) {}
  void report(double f, std::string_view label) override {
    const double v = lo_ + (hi_ - lo_) * std::clamp(f, 0.0, 1.0);
    if (ev_.variant_progress) ev_.variant_progress(index_, v, std::string(label));
    overall_.report((static_cast<double>(index_) + v) / static_cast<double>(count_), label);
  }

 private:
  Progress& overall_;
  const SuiteEvents& ev_;
  std::size_t index_, count_;
  double lo_, hi_;
};

}  // namespace

SuiteRun run_suite(const SuiteOptions& opt, const SuiteEvents& ev, Progress& progress, std::stop_token stop) {
  const auto t_start = Clock::now();
  auto notice = [&](const std::string& s) {
    if (ev.notice) ev.notice(s);
  };
  SuiteRun run;
  run.qlab_version = QLAB_VERSION;
  run.when = utc_now();
  run.model = opt.model_display;
  run.builtin_model = opt.builtin_model;

  // 1. Everything that can be refused is refused before any work.
  std::vector<VariantSpec> specs;
  for (const auto& n : resolve_variant_names(opt.variants)) specs.push_back(variant_by_name(n));
  const io::ModelConfig base_cfg = io::load_model_config(opt.model_dir);
  const std::string base_tok = tokenizer_fingerprint(opt.model_dir);
  std::vector<fs::path> added_gguf;  // their tokenizers are checked on the text, once it is read
  for (const auto& p : opt.added) {
    VariantSpec v = added_variant(p);
    std::error_code ec;
    const bool gguf_file = fs::is_regular_file(p, ec);
    const io::ModelConfig c =
        gguf_file ? gguf::model_config_from_gguf(gguf::GgufFile::open(p)) : io::load_model_config(p);
    if (c.vocab_size != base_cfg.vocab_size)
      fail("--add {}: a checkpoint of another model (vocabulary of {}, the baseline's {}): KL-divergence and "
           "perplexity compare variants of one model over the same tokens, so it is refused",
           p.string(), c.vocab_size, base_cfg.vocab_size);
    if (gguf_file)
      added_gguf.push_back(p);
    else if (tokenizer_fingerprint(p) != base_tok)
      fail("--add {}: its tokenizer differs from the baseline's: the same text becomes other tokens, so neither "
           "KL-divergence nor perplexity would compare like with like; refused",
           p.string());
    for (const auto& s : specs)
      if (s.name == v.name) v.name += "-added";
    specs.push_back(v);
  }
  const TextData text = load_text(opt.text, opt.model_dir, opt.builtin_dir);
  std::optional<MmluData> mmlu;
  if (opt.mmlu_enabled) mmlu = load_mmlu(opt.mmlu, opt.model_dir, opt.builtin_dir, opt.shots);

  const io::Tokenizer tok = io::Tokenizer::load(opt.model_dir);
  const model::Model base = model::Model::load(opt.model_dir);
  run.model_fingerprint = model_fingerprint(opt.model_dir);
  const fs::path root = opt.cache_root.empty() ? Cache::default_root() : opt.cache_root;
  Cache cache(root / run.model_fingerprint, notice);

  // The llama.cpp protocol, as `qlab ppl MODEL --text FILE` sets it up.
  const std::vector<std::int32_t> tokens = tok.encode(text.text, true);
  // A GGUF file carries its own tokenizer (converted from the model's, or not): it is the same one
  // when it makes the same tokens of the text measured.
  for (const auto& p : added_gguf) {
    const auto gt = gguf::gguf_tokenizer(gguf::GgufFile::open(p));
    if (!gt)
      fail("--add {}: the GGUF file carries no tokenizer, so nothing shows it reads text as the baseline does; "
           "refused",
           p.string());
    const std::vector<std::int32_t> theirs = gt->encode(text.text, true);
    if (theirs != tokens) {
      const auto at = std::mismatch(theirs.begin(), theirs.end(), tokens.begin(), tokens.end()).first - theirs.begin();
      fail("--add {}: its tokenizer makes other tokens of {} than the baseline's ({} and {} tokens, the first "
           "difference at token {}): KL-divergence and perplexity would not compare like with like; refused",
           p.string(), text.origin, theirs.size(), tokens.size(), at);
    }
  }
  eval::PplOptions popt;
  const int trained = base.config().max_position_embeddings;
  popt.n_ctx = trained > 0 ? std::min(512, trained) : 512;
  if (tok.bos_id() && !tokens.empty() && tokens.front() == *tok.bos_id()) popt.bos = tok.bos_id();
  popt.backend = opt.backend;
  const auto n_tokens = static_cast<std::int64_t>(tokens.size());
  if (n_tokens < 2 * popt.n_ctx)
    fail("{}: {} tokens, fewer than the {} that two chunks of {} need: give a longer --text", text.origin, n_tokens,
         2 * popt.n_ctx, popt.n_ctx);
  run.chunks_all = n_tokens / popt.n_ctx;
  run.chunks_used = opt.chunks > 0 ? std::min(opt.chunks, run.chunks_all) : run.chunks_all;
  const std::int64_t per_chunk = popt.n_ctx - 1 - popt.n_ctx / 2;
  run.text_origin = text.origin;
  run.text_hash = text.hash;
  run.text_tokens = n_tokens;
  run.ppl_protocol = fmt::format(
      "llama.cpp perplexity: the text tokenized once{}; chunks of {} tokens{}; the second half of each scored ({} "
      "tokens per chunk); {} of {} chunks; PPL = exp(mean NLL), +/- llama.cpp's standard error; KLD, ratio and "
      "same-top against the baseline token by token",
      popt.bos ? " with BOS first" : "", popt.n_ctx, popt.bos ? ", BOS on each chunk's first position" : ", no BOS",
      per_chunk, run.chunks_used, run.chunks_all);
  if (run.chunks_used < run.chunks_all)
    run.chunk_note = fmt::format(
        "--chunks {}: {} of the text's {} chunks scored, so each +/- is about {:.1f} times what the whole text gives "
        "(a standard error falls as one over the square root of the tokens scored: sqrt({}/{}))",
        run.chunks_used, run.chunks_used, run.chunks_all, std::sqrt(static_cast<double>(run.chunks_all) / run.chunks_used),
        run.chunks_all, run.chunks_used);
  if (opt.word_ppl)
    run.word_ppl_protocol = fmt::format(
        "lm-evaluation-harness wikitext: {} documents, each detokenized and scored in disjoint rolling windows of {} "
        "tokens from a BOS/EOS prefix; word perplexity over the words of the original documents (re.split on "
        "whitespace); no special tokens inside a document",
        text.pages.size(), popt.n_ctx);
  if (mmlu) {
    run.mmlu_origin = mmlu->origin;
    run.mmlu_protocol =
        mmlu->builtin_layout
            ? "lm-evaluation-harness mmlu prompt without a description (the set has no subjects), 0-shot; the "
              "log-likelihood of \" A\"..\" D\" after \"Answer:\", argmax; and, as the built-in model's own quiz "
              "form, by the answer text (\" {choice}.\" after \"question\\nAnswer:\")"
            : fmt::format("lm-evaluation-harness mmlu (default): {}-shot from dev (first {}), description \"The "
                          "following are multiple choice questions (with answers) about SUBJECT.\"; the "
                          "log-likelihood of \" A\"..\" D\" after \"Answer:\", argmax; mmlu = the mean over every "
                          "question (lm-eval's group score), the mean over subjects beside it",
                          mmlu->set.dev.empty() ? 0 : opt.shots, opt.shots);
  }
  const sysinfo::SystemInfo sys = sysinfo::detect_system();
  run.machine = sysinfo::hardware_line(sys, false);
  run.threads = fmt::format("{} threads; {}{}", thread_count(), load_average(),
                            opt.device.empty() ? std::string() : fmt::format("; perplexity and KLD on {}", opt.device));

  // 2. The baseline's logits, once.
  const std::string proto_key = fmt::format("llama.cpp ctx {} bos {}", popt.n_ctx, popt.bos.value_or(-1));
  const fs::path store_path =
      cache.dir() / fmt::format("base.{}.{}.logits", text.hash, hex(hash64(proto_key)));
  eval::LogitStoreHeader head;
  head.n_ctx = popt.n_ctx;
  head.vocab = base.vocab_size();
  head.bos = popt.bos.value_or(-1);
  head.n_chunks = run.chunks_all;
  head.tokens_hash = eval::hash_tokens(tokens);
  head.key = fmt::format("model {} text {} {}", run.model_fingerprint, text.hash, proto_key);
  const double raw_gb = eval::logit_store_raw_bytes(head) / 1e9 * static_cast<double>(run.chunks_used) / run.chunks_all;
  if (raw_gb > 4)
    notice(fmt::format("the baseline's logits for {} chunks take {:.1f} GB before compression (vocabulary {}); "
                       "--chunks N keeps fewer",
                       run.chunks_used, raw_gb, head.vocab));

  const std::size_t count = specs.size();
  std::vector<VariantResult> results(count);
  for (std::size_t i = 0; i < count; ++i) {
    const VariantSpec& spec = specs[i];
    VariantResult& vr = results[i];
    vr.name = spec.name;
    vr.description = spec.description;
    if (ev.variant_started) ev.variant_started(i, spec.name);
    const json vkey{{"variant", spec.name}, {"kind", static_cast<int>(spec.kind)}, {"format", spec.format},
                    {"added", spec.path.empty() ? json(nullptr) : json(model_fingerprint(spec.path))}};
    try {
      std::optional<MadeVariant> made;
      auto ensure_made = [&](Progress& p) -> const model::Model& {
        if (spec.kind == VariantKind::Baseline) return base;
        if (!made) {
          made.emplace(make_variant(spec, MakeContext{&base, opt.model_dir, opt.builtin_dir}, p, stop));
          json m{{"bytes", made->bytes}, {"parameters", made->parameters}, {"seconds", made->seconds},
                 {"size_note", made->size_note}, {"warnings", made->warnings}};
          cache.put(spec.name, "made", vkey, m);
        }
        return made->model;
      };
      // Size and quantization time (cached with the variant; the baseline's from its files).
      const double make_share = (spec.kind == VariantKind::Gptq || spec.kind == VariantKind::Awq) ? 0.4 : 0.1;
      VariantProgress make_p(progress, ev, i, count, 0.0, make_share);
      json made_j;
      if (auto c = cache.get(spec.name, "made", vkey)) {
        made_j = *c;
        vr.from_cache.push_back("made");
      } else {
        ensure_made(make_p);
        if (spec.kind == VariantKind::Baseline) {
          const MadeVariant b = make_variant(spec, MakeContext{&base, opt.model_dir, opt.builtin_dir});
          made_j = {{"bytes", b.bytes}, {"parameters", b.parameters}, {"seconds", 0.0}, {"size_note", b.size_note},
                    {"warnings", json::array()}};
          cache.put(spec.name, "made", vkey, made_j);
        } else {
          made_j = *cache.get(spec.name, "made", vkey);
        }
      }
      vr.bytes = made_j.at("bytes").get<double>();
      vr.parameters = made_j.at("parameters").get<double>();
      vr.bits_per_weight = vr.parameters > 0 ? 8.0 * vr.bytes / vr.parameters : 0.0;
      vr.quant_seconds = made_j.at("seconds").get<double>();
      vr.size_note = made_j.at("size_note").get<std::string>();
      vr.warnings = made_j.at("warnings").get<std::vector<std::string>>();

      // Perplexity and the paired comparison with the baseline.
      const double ppl_hi = mmlu || opt.word_ppl ? 0.75 : 1.0;
      VariantProgress ppl_p(progress, ev, i, count, make_share, ppl_hi);
      const json pkey{{"v", vkey}, {"text", text.hash}, {"protocol", proto_key}, {"chunks", run.chunks_used}};
      if (auto c = cache.get(spec.name, "ppl", pkey)) {
        vr.ppl = ppl_from_json(*c);
        vr.from_cache.push_back("perplexity");
      } else {
        const auto t0 = Clock::now();
        eval::LogitStore store = [&] {
          try {
            return eval::LogitStore::open_for_append(store_path, head);
          } catch (const Error& e) {
            notice(fmt::format("{}; starting it again", e.what()));
            fs::path aside = store_path;
            aside += ".old";
            fs::rename(store_path, aside);
            return eval::LogitStore::open_for_append(store_path, head);
          }
        }();
        std::vector<eval::TokenCompare> rows;
        if (spec.kind == VariantKind::Baseline) {
          if (store.chunks_done() < run.chunks_used)
            eval::write_base_logits(base, tokens, popt, store, run.chunks_used, ppl_p, stop);
          // The baseline against itself: KLD 0, the same top token, its own NLL (what comparing it with the
          // stored rows gives, without running it again).
          std::vector<float> logits;
          for (std::int64_t c = 0; c < run.chunks_used; ++c) {
            store.read(c, logits);
            const std::int32_t* targets = tokens.data() + c * popt.n_ctx + popt.n_ctx / 2 + 1;
            for (std::int64_t t = 0; t < per_chunk; ++t) {
              const double nll = eval::token_nll(
                  {logits.data() + t * base.vocab_size(), static_cast<std::size_t>(base.vocab_size())}, targets[t]);
              eval::TokenCompare row;
              row.nll_base = row.nll_test = nll;
              row.same_top = true;  // kld and delta_p 0
              rows.push_back(row);
            }
          }
        } else {
          if (store.chunks_done() < run.chunks_used)
            fail("the baseline's logits are not all there ({} of {} chunks): run the suite with the baseline first",
                 store.chunks_done(), run.chunks_used);
          std::int64_t from = 0;
          for (const json& item : cache.partial(spec.name, "ppl", pkey)) {
            if (item.value("chunk", -1) != from) break;
            rows_from_json(item, rows);
            ++from;
          }
          const model::Model& m = ensure_made(make_p);
          eval::compare_with_base(
              m, tokens, popt, store, from, run.chunks_used,
              [&](std::int64_t c, std::span<const eval::TokenCompare> r) {
                rows.insert(rows.end(), r.begin(), r.end());
                cache.append_partial(spec.name, "ppl", pkey, rows_to_json(c, r));
              },
              ppl_p, stop);
        }
        vr.ppl = figures(rows, run.chunks_used);
        vr.ppl->seconds = seconds_since(t0);
        cache.put(spec.name, "ppl", pkey, to_json(*vr.ppl));
        cache.finish_partial(spec.name, "ppl", pkey);
      }

      // lm-eval's word perplexity, on request.
      double next_lo = ppl_hi;
      if (opt.word_ppl) {
        const double hi = mmlu ? 0.85 : 1.0;
        VariantProgress wp(progress, ev, i, count, next_lo, hi);
        next_lo = hi;
        const json wkey{{"v", vkey}, {"text", text.hash}, {"protocol", run.word_ppl_protocol}};
        if (auto c = cache.get(spec.name, "wordppl", wkey)) {
          vr.word_ppl = word_ppl_from_json(*c);
          vr.from_cache.push_back("word perplexity");
        } else {
          const auto t0 = Clock::now();
          std::map<std::size_t, eval::DocLoglik> done;
          for (const json& item : cache.partial(spec.name, "wordppl", wkey))
            done[item.at("i").get<std::size_t>()] = {item.at("ll").get<double>(), item.at("w").get<std::int64_t>(),
                                                     item.at("b").get<std::int64_t>(), item.at("t").get<std::int64_t>()};
          const model::Model& m = ensure_made(make_p);
          const eval::WordPplResult w = eval::word_perplexity(
              m, tok, text.pages, popt.n_ctx, done,
              [&](std::size_t k, const eval::DocLoglik& d) {
                cache.append_partial(spec.name, "wordppl", wkey,
                                     {{"i", k}, {"ll", d.loglik}, {"w", d.words}, {"b", d.bytes}, {"t", d.tokens}});
              },
              wp, stop);
          WordPplFigures f;
          f.word_ppl = w.word_perplexity();
          f.byte_ppl = w.byte_perplexity();
          f.bits_per_byte = w.bits_per_byte();
          f.docs = w.docs;
          f.words = w.words;
          f.bytes = w.bytes;
          f.tokens = w.tokens;
          f.seconds = seconds_since(t0);
          vr.word_ppl = f;
          cache.put(spec.name, "wordppl", wkey, to_json(*vr.word_ppl));
          cache.finish_partial(spec.name, "wordppl", wkey);
        }
      }

      // MMLU.
      if (mmlu) {
        VariantProgress mp(progress, ev, i, count, next_lo, 1.0);
        const json mkey{{"v", vkey}, {"questions", mmlu->hash}, {"shots", opt.shots}, {"protocol", run.mmlu_protocol}};
        if (auto c = cache.get(spec.name, "mmlu", mkey)) {
          vr.mmlu = mmlu_from_json(*c);
          vr.from_cache.push_back("mmlu");
        } else {
          const auto t0 = Clock::now();
          std::map<std::size_t, eval::MmluQuestion> done;
          for (const json& item : cache.partial(spec.name, "mmlu", mkey)) {
            eval::MmluQuestion q;
            q.loglik = item.at("ll").get<std::array<double, 4>>();
            q.predicted = item.at("p").get<int>();
            q.correct = item.at("ok").get<bool>();
            q.text_correct = item.at("text").get<int>();
            done[item.at("i").get<std::size_t>()] = q;
          }
          const model::Model& m = ensure_made(make_p);
          const eval::MmluResult r = eval::score_mmlu(
              m, tok, mmlu->set, opt.shots, done,
              [&](std::size_t k, const eval::MmluQuestion& q) {
                cache.append_partial(spec.name, "mmlu", mkey,
                                     {{"i", k}, {"ll", q.loglik}, {"p", q.predicted}, {"ok", q.correct},
                                      {"text", q.text_correct}});
              },
              mp, stop);
          MmluFigures f;
          f.shots = r.shots;
          f.items = r.all.items;
          f.micro = r.all.accuracy();
          f.macro = r.macro;
          for (const auto& [c, s] : r.categories) f.categories[c] = s.accuracy();
          for (const auto& [s, sc] : r.subjects) f.subjects[s] = {sc.correct, sc.items};
          f.text_items = r.answer_text.items;
          f.answer_text = r.answer_text.accuracy();
          f.seconds = seconds_since(t0);
          vr.mmlu = f;
          cache.put(spec.name, "mmlu", mkey, to_json(f));
          cache.finish_partial(spec.name, "mmlu", mkey);
        }
      }

      // Decode speed: tokens one at a time from an empty cache (llama-bench's tg), on the weights as the
      // engine holds the variant's format. GPTQ and AWQ store the same codes and scales as RTN of their
      // format, so their speed is measured on that packing (a decode step does not depend on the values).
      if (opt.decode_tokens > 0) {
        const json skey{{"v", vkey}, {"tokens", opt.decode_tokens}, {"cpu", sys.cpu.model},
                        {"threads", thread_count()}, {"device", opt.device}};
        if (auto c = cache.get(spec.name, "speed", skey)) {
          vr.decode_tokens_per_s = c->at("decode_tokens_per_s").get<double>();
          vr.from_cache.push_back("decode speed");
        } else {
          std::optional<bench::Variant> packed;
          const model::Model* sm = &base;
          if (spec.kind == VariantKind::Rtn || spec.kind == VariantKind::Gptq || spec.kind == VariantKind::Awq) {
            packed.emplace(bench::make_variant(base, spec.format));
            sm = &packed->model;
          } else if (spec.kind != VariantKind::Baseline) {
            sm = &ensure_made(make_p);
          }
          bench::InferBenchOptions so;
          so.prompt_tokens = 0;
          so.decode_tokens = opt.decode_tokens;
          so.repetitions = 1;
          vr.decode_tokens_per_s = bench::measure_speed(*sm, so, stop).decode_tps.mean;
          cache.put(spec.name, "speed", skey, {{"decode_tokens_per_s", *vr.decode_tokens_per_s}});
        }
      }
    } catch (const Cancelled&) {
      throw;
    } catch (const std::bad_alloc&) {
      vr.error = "out of memory making or measuring this variant";
    } catch (const std::exception& e) {
      vr.error = e.what();
    }
    if (ev.variant_done) ev.variant_done(i, vr);
    progress.report(static_cast<double>(i + 1) / static_cast<double>(count), spec.name + " done");
  }
  run.variants = std::move(results);
  {
    std::error_code ec;
    const auto size = fs::file_size(store_path, ec);
    run.kld_store = fmt::format("{} ({:.1f} MB: float32 logits of the scored positions, byte planes + zlib)",
                                store_path.string(), ec ? 0.0 : static_cast<double>(size) / 1e6);
  }
  if (opt.decode_tokens > 0)
    run.notes.push_back(fmt::format(
        "decode tok/s: {} tokens decoded one at a time from an empty cache after a warm-up run (llama-bench's tg), "
        "on the CPU with {} threads, each variant's weights packed in its format as the engine runs them (GPTQ and "
        "AWQ on their format's packing: the same bytes per weight); speed is what bytes buy: `qlab bench infer` "
        "puts it beside this machine's memory bandwidth",
        opt.decode_tokens, thread_count()));
  {
    // llama-perplexity tokenizes with special-token parsing off: special tokens' text in the text becomes
    // plain-text tokens there, the special token here (as transformers reads it).
    std::int64_t specials = 0;
    std::int32_t example = -1;
    for (std::size_t t = popt.bos ? 1 : 0; t < tokens.size(); ++t)
      if (tok.is_special(tokens[t])) {
        ++specials;
        if (example < 0) example = tokens[t];
      }
    if (specials > 0)
      run.notes.push_back(fmt::format(
          "The text holds {} special-token strings (such as {}), read as those tokens, as transformers reads them; "
          "llama-perplexity reads them as plain text (special-token parsing off), so its figures on this text "
          "differ: write them out of the text to compare with it.",
          specials, tok.id_to_token(example)));
  }
  if (text.generated && !opt.builtin_model)
    run.notes.push_back("The text is the built-in model's, generated by qlab: give --text FILE with text like your "
                        "own use for figures that mean something for this model.");
  run.seconds = seconds_since(t_start);
  return run;
}

}  // namespace qlab::suite
