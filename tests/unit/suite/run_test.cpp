// The suite end to end on the built-in model: its perplexity and KLD are `qlab ppl`'s (eval::perplexity,
// eval::kl_divergence) on the same chunks; a re-run takes everything from the cache; a new variant is the
// only thing computed; wrong names and checkpoints of another model are refused before any work.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "engine/eval/suite_pytext.h"
#include "engine/exporter/quantize_checkpoint.h"
#include "engine/formats/format_lookup.h"
#include "engine/quant/rtn.h"
#include "engine/suite/gguf_variant.h"
#include "engine/suite/suite.h"
#include "engine/suite/variants.h"
#include "suite_test_util.h"

namespace qlab::suite {
namespace {

using namespace qlab::testing;

SuiteOptions options(const std::filesystem::path& cache) {
  SuiteOptions o;
  o.model_dir = builtin_dir();
  o.builtin_dir = builtin_dir();
  o.model_display = "builtin";
  o.builtin_model = true;
  o.chunks = 6;
  o.mmlu_enabled = false;
  o.decode_tokens = 0;  // SuiteRun.DecodeSpeed... measures it
  o.cache_root = cache;
  return o;
}

TEST(SuiteRun, PerplexityAndKldAreQlabPplsAndARerunIsCached) {
  const auto dir = scratch("suite-run");
  SuiteOptions o = options(dir);
  o.variants = {"mxfp4"};  // nvfp4: SuiteRun.Nvfp4IsWhatTheServedCheckpointHolds
  const SuiteRun r = run_suite(o);
  ASSERT_EQ(r.variants.size(), 2u);
  const VariantResult &base = r.variants[0], &q = r.variants[1];
  ASSERT_TRUE(base.error.empty()) << base.error;
  ASSERT_TRUE(q.error.empty()) << q.error;
  eval::PplOptions popt = builtin_text().opt;
  popt.max_chunks = 6;
  const eval::PplResult plain = eval::perplexity(builtin_model(), builtin_text().tokens, popt);
  EXPECT_EQ(base.ppl->ppl, plain.nll.ppl());
  EXPECT_EQ(base.ppl->ppl_error, plain.nll.ppl_error());
  EXPECT_EQ(base.ppl->kld_mean, 0.0);
  EXPECT_EQ(base.ppl->same_top, 1.0);
  model::Model m = builtin_model();
  quant::fake_quantize_model(m, formats::block_format("mxfp4"));
  const eval::KldResult k = eval::kl_divergence(builtin_model(), m, builtin_text().tokens, popt);
  EXPECT_EQ(q.ppl->ppl, k.test.nll.ppl());
  EXPECT_DOUBLE_EQ(q.ppl->kld_mean, k.mean_kld());
  EXPECT_EQ(q.ppl->kld_median, eval::quantiles(k.kld).median);
  EXPECT_EQ(q.ppl->same_top, k.same_top_fraction());
  EXPECT_EQ(q.ppl->scored, 6 * 63);
  EXPECT_GT(q.bits_per_weight, 4.0);
  EXPECT_LT(q.bytes, base.bytes);
  EXPECT_NE(r.chunk_note.find("about 5.5 times"), std::string::npos) << r.chunk_note;  // sqrt(180 / 6)
  // The built-in text separates its documents with "<|endoftext|>": read as the special token here,
  // as plain text by llama-perplexity, and the report says so, with the count of them in the file.
  const std::string raw = read_file(builtin_dir() / "eval.txt");
  std::size_t separators = 0;
  for (std::size_t at = raw.find("<|endoftext|>"); at != std::string::npos; at = raw.find("<|endoftext|>", at + 1))
    ++separators;
  ASSERT_GT(separators, 0u);
  const std::string want = fmt::format("The text holds {} special-token strings (such as <|endoftext|>)", separators);
  bool said = false;
  for (const auto& n : r.notes) said = said || n.find(want) != std::string::npos;
  EXPECT_TRUE(said) << want;

  // Again, with one more variant: only that one is computed.
  o.variants = {"mxfp4", "int8-ch"};
  const SuiteRun again = run_suite(o);
  ASSERT_EQ(again.variants.size(), 3u);
  EXPECT_EQ(again.variants[1].from_cache, (std::vector<std::string>{"made", "perplexity"}));
  EXPECT_EQ(again.variants[1].ppl->kld_mean, q.ppl->kld_mean);
  EXPECT_TRUE(again.variants[2].from_cache.empty());
  EXPECT_GT(again.variants[2].ppl->kld_mean, 0.0);
  EXPECT_LT(again.variants[2].ppl->kld_mean, q.ppl->kld_mean);  // int8 moves the distribution less than FP4
}

// GGUF variants: the KLD is eval::kl_divergence's against the model make_gguf_variant returns, the bits per
// weight are the file's (Q8_0: 8.5 on every matrix, norms at 32), and fewer bits move the distribution more.
TEST(SuiteRun, GgufVariantsAreTheirQuantizedModelsAndOrderByBits) {
  const auto dir = scratch("suite-run");
  SuiteOptions o = options(dir);
  o.variants = {"gguf-q8_0", "gguf-q4_k_m", "gguf-q2_k"};
  const SuiteRun r = run_suite(o);
  ASSERT_EQ(r.variants.size(), 4u);
  for (const auto& v : r.variants) ASSERT_TRUE(v.error.empty()) << v.name << ": " << v.error;
  eval::PplOptions popt = builtin_text().opt;
  popt.max_chunks = 6;
  model::Model m = builtin_model();
  make_gguf_variant(m, "Q4_K_M");
  const eval::KldResult k = eval::kl_divergence(builtin_model(), m, builtin_text().tokens, popt);
  EXPECT_EQ(r.variants[2].ppl->ppl, k.test.nll.ppl());
  EXPECT_DOUBLE_EQ(r.variants[2].ppl->kld_mean, k.mean_kld());
  const VariantResult &q8 = r.variants[1], &q4 = r.variants[2], &q2 = r.variants[3];
  EXPECT_GT(q8.bits_per_weight, 8.5);
  EXPECT_LT(q8.bits_per_weight, 8.6);  // the norms' few f32 values
  EXPECT_GT(q8.bits_per_weight, q4.bits_per_weight);
  EXPECT_GT(q4.bits_per_weight, q2.bits_per_weight);
  EXPECT_LT(q8.ppl->kld_mean, q4.ppl->kld_mean);
  EXPECT_LT(q4.ppl->kld_mean, q2.ppl->kld_mean);
  EXPECT_LT(std::abs(q8.ppl->ppl / r.variants[0].ppl->ppl - 1), 0.01);
}

TEST(SuiteRun, ACancelledVariantResumesToTheSameNumbers) {
  const auto dir = scratch("suite-run");
  SuiteOptions o = options(dir / "whole");
  o.variants = {"mxfp4"};
  const SuiteRun whole = run_suite(o);
  // The same run cancelled half way through mxfp4's chunks, then run again.
  o.cache_root = dir / "cut";
  std::stop_source stop;
  SuiteEvents ev;
  ev.variant_progress = [&](std::size_t i, double f, const std::string& label) {
    if (i == 1 && label.find("chunk") != std::string::npos && f > 0.4) stop.request_stop();
  };
  EXPECT_THROW(run_suite(o, ev, Progress::none(), stop.get_token()), Cancelled);
  std::size_t partial_lines = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir / "cut"))
    if (e.path().extension() == ".partial") {
      const std::string text = read_file(e.path());
      partial_lines = static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
    }
  EXPECT_GE(partial_lines, 2u);  // the header and at least one finished chunk
  const SuiteRun again = run_suite(o);
  EXPECT_EQ(again.variants[0].from_cache, (std::vector<std::string>{"made", "perplexity"}));
  EXPECT_EQ(again.variants[1].ppl->kld_mean, whole.variants[1].ppl->kld_mean);
  EXPECT_EQ(again.variants[1].ppl->ppl, whole.variants[1].ppl->ppl);
  EXPECT_EQ(again.variants[1].ppl->kld_p99, whole.variants[1].ppl->kld_p99);
}

TEST(SuiteRun, WordPerplexityOnRequestIsLabelledAndCached) {
  const auto dir = scratch("suite-run");
  SuiteOptions o = options(dir);
  o.variants = {"int8-ch"};
  o.word_ppl = true;
  const SuiteRun r = run_suite(o);
  ASSERT_TRUE(r.variants[0].word_ppl.has_value());
  const WordPplFigures& w = *r.variants[0].word_ppl;
  EXPECT_EQ(w.docs, 1);  // a plain text is one document
  EXPECT_EQ(w.words, static_cast<std::int64_t>(eval::py_split_count(read_file(builtin_dir() / "eval.txt"))));
  // Per word, not per token: the same log-likelihood over fewer units.
  EXPECT_GT(w.word_ppl, r.variants[0].ppl->ppl);
  EXPECT_NEAR(std::log(w.word_ppl) * static_cast<double>(w.words), std::log(w.byte_ppl) * static_cast<double>(w.bytes),
              1e-6 * std::log(w.byte_ppl) * static_cast<double>(w.bytes));
  EXPECT_NE(r.word_ppl_protocol.find("lm-evaluation-harness wikitext"), std::string::npos);
  const SuiteRun again = run_suite(o);
  EXPECT_EQ(again.variants[1].from_cache, (std::vector<std::string>{"made", "perplexity", "word perplexity"}));
  EXPECT_EQ(again.variants[1].word_ppl->word_ppl, r.variants[1].word_ppl->word_ppl);
}

TEST(SuiteRun, WrongNamesAndOtherModelsAreRefusedBeforeAnyWork) {
  const auto dir = scratch("suite-run");
  SuiteOptions o = options(dir);
  o.variants = {"nvfp5"};
  EXPECT_NE(error_of([&] { run_suite(o); }).find("no variant named 'nvfp5' (variants: baseline int8-ch"),
            std::string::npos);
  o.variants = {"int8-ch"};
  o.added = {fixtures() / "models" / "llama"};
  const std::string e = error_of([&] { run_suite(o); });
  EXPECT_NE(e.find("a checkpoint of another model (vocabulary of 256, the baseline's 768)"), std::string::npos) << e;
  EXPECT_FALSE(std::filesystem::exists(dir) && !std::filesystem::is_empty(dir));  // nothing computed or written
}

TEST(SuiteRun, AnAddedCopyOfTheBaselineHasNoKld) {
  const auto dir = scratch("suite-run");
  const auto copy = dir / "copy";
  std::filesystem::create_directories(copy);
  for (const char* f : {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"})
    std::filesystem::copy_file(builtin_dir() / f, copy / f);
  SuiteOptions o = options(dir / "cache");
  o.variants = {"baseline"};
  o.added = {copy};
  const SuiteRun r = run_suite(o);
  ASSERT_EQ(r.variants.size(), 2u);
  ASSERT_TRUE(r.variants[1].error.empty()) << r.variants[1].error;
  EXPECT_EQ(r.variants[1].name, "copy");
  EXPECT_EQ(r.variants[1].ppl->kld_mean, 0.0);
  EXPECT_EQ(r.variants[1].ppl->ppl, r.variants[0].ppl->ppl);
  // Another tokenizer with the same vocabulary size is refused too.
  std::string tok = read_file(copy / "tokenizer.json");
  tok.insert(tok.find('{') + 1, "\"qlab_test\": 1, ");
  write_file_atomic(copy / "tokenizer.json", tok);
  EXPECT_NE(error_of([&] { run_suite(o); }).find("its tokenizer differs from the baseline's"), std::string::npos);
}

TEST(SuiteRun, DecodeSpeedIsMeasuredOnPackedWeightsAndCached) {
  const auto dir = scratch("suite-run");
  SuiteOptions o = options(dir);
  o.variants = {"rtn-int4-g128", "gguf-q8_0"};
  o.decode_tokens = 8;
  const SuiteRun r = run_suite(o);
  ASSERT_EQ(r.variants.size(), 3u);
  for (const auto& v : r.variants) {
    SCOPED_TRACE(v.name);
    ASSERT_TRUE(v.error.empty()) << v.error;
    ASSERT_TRUE(v.decode_tokens_per_s.has_value());
    EXPECT_GT(*v.decode_tokens_per_s, 0.0);
  }
  bool said = false;
  for (const auto& n : r.notes) said = said || n.find("decode tok/s: 8 tokens decoded one at a time") != std::string::npos;
  EXPECT_TRUE(said);
  // A re-run takes it from the cache (same machine, threads and device), with the figure unchanged.
  const SuiteRun again = run_suite(o);
  for (std::size_t i = 0; i < again.variants.size(); ++i) {
    const auto& f = again.variants[i].from_cache;
    EXPECT_NE(std::find(f.begin(), f.end(), "decode speed"), f.end()) << again.variants[i].name;
    EXPECT_EQ(again.variants[i].decode_tokens_per_s, r.variants[i].decode_tokens_per_s);
  }
  o.decode_tokens = 0;
  EXPECT_FALSE(run_suite(o).variants[1].decode_tokens_per_s.has_value());
}

TEST(SuiteRun, Nvfp4IsWhatTheServedCheckpointHolds) {
  // `qlab quantize builtin --method nvfp4-w4a16` (ModelOpt's layout, q/k/v and gate/up sharing one
  // weight_scale_2 as vLLM requires), added beside the suite's own nvfp4: the same weights, read back
  // through the checkpoint loader, so the same numbers.
  const auto dir = scratch("suite-run");
  exporter::QuantizeOptions qo;
  qo.method = "nvfp4-w4a16";
  exporter::quantize_checkpoint(builtin_dir(), dir / "modelopt-nvfp4", qo, Progress::none());
  SuiteOptions o = options(dir / "cache");
  o.variants = {"nvfp4"};
  o.added = {dir / "modelopt-nvfp4"};
  const SuiteRun r = run_suite(o);
  ASSERT_EQ(r.variants.size(), 3u);
  const VariantResult &own = r.variants[1], &served = r.variants[2];
  ASSERT_TRUE(own.error.empty()) << own.error;
  ASSERT_TRUE(served.error.empty()) << served.error;
  EXPECT_NEAR(served.ppl->ppl, own.ppl->ppl, 1e-6 * own.ppl->ppl);
  EXPECT_NEAR(served.ppl->kld_mean, own.ppl->kld_mean, 1e-6 * own.ppl->kld_mean);
  EXPECT_GT(own.ppl->kld_mean, 0.0);
}

TEST(SuiteRun, AnAddedGgufFromLlamaQuantizeMeasuresAsTheSuitesOwnVariant) {
  // tests/fixtures/gguf/llama_cpp_q4_K_M.gguf: the built-in model as llama-quantize makes it Q4_K_M
  // (gen_gguf_models.py). The suite's own gguf-q4_k_m holds the same bytes (the GGUF tests check that),
  // so the file, read by the GGUF runtime with its own tokenizer, must measure the same.
  const auto dir = scratch("suite-run");
  const auto file = fixtures() / "gguf" / "llama_cpp_q4_K_M.gguf";
  SuiteOptions o = options(dir);
  o.variants = {"gguf-q4_k_m"};
  o.added = {file};
  const SuiteRun r = run_suite(o);
  ASSERT_EQ(r.variants.size(), 3u);
  const VariantResult& own = r.variants[1];
  const VariantResult& added = r.variants[2];
  ASSERT_TRUE(own.error.empty()) << own.error;
  ASSERT_TRUE(added.error.empty()) << added.error;
  EXPECT_EQ(added.name, "llama_cpp_q4_K_M");
  EXPECT_EQ(added.bytes, static_cast<double>(std::filesystem::file_size(file)));
  EXPECT_NEAR(added.ppl->ppl, own.ppl->ppl, 1e-6 * own.ppl->ppl);
  EXPECT_NEAR(added.ppl->kld_mean, own.ppl->kld_mean, 1e-6 * own.ppl->kld_mean + 1e-9);
  EXPECT_GT(added.ppl->kld_mean, 0.0);
  // A regular file that is not GGUF is refused, naming it.
  o.added = {builtin_dir() / "config.json"};
  const std::string e = error_of([&] { run_suite(o); });
  EXPECT_NE(e.find("config.json: not a GGUF file"), std::string::npos) << e;
}

}  // namespace
}  // namespace qlab::suite
