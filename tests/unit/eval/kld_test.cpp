// Fake quantization of a model and the KL-divergence statistics.
#include <gtest/gtest.h>

#include <set>

#include "../model/fixture_util.h"
#include "engine/core/error.h"
#include "engine/eval/perplexity.h"
#include "engine/quant/rtn.h"

namespace qlab::eval {
namespace {

using qlab::testing::fixture;
using qlab::quant::fake_quantize_model;

formats::BlockFormatSpec spec(const char* name) {
  auto s = formats::block_format_from_name(name);
  EXPECT_TRUE(s.has_value()) << name;
  return *s;
}

std::size_t distinct_in_row(const tensor::Matrix& m, std::int64_t r) {
  std::vector<float> row(static_cast<std::size_t>(m.cols));
  m.rows_to_f32(r, 1, row.data());
  return std::set<float>(row.begin(), row.end()).size();
}

// int2 with whole-row groups leaves at most 4 distinct values per row of every linear weight;
// embeddings and lm_head stay untouched unless asked.
TEST(FakeQuant, LinearWeightsOnlyByDefault) {
  const auto base = model::Model::load(fixture("models/llama"));
  model::Model q = base;
  const auto st = fake_quantize_model(q, spec("int2-ch"));
  EXPECT_EQ(st.matrices, 7 * base.config().num_hidden_layers);
  for (const auto& l : q.weights().layers)
    for (const tensor::Matrix* m : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down})
      for (std::int64_t r = 0; r < m->rows; ++r) ASSERT_LE(distinct_in_row(*m, r), 4u);
  EXPECT_EQ(q.weights().embed.data, base.weights().embed.data);
  EXPECT_EQ(q.weights().lm_head.data, base.weights().lm_head.data);
  EXPECT_GT(distinct_in_row(q.weights().embed, 0), 4u);
  // The original is unchanged: copies share storage until replaced.
  EXPECT_GT(distinct_in_row(base.weights().layers[0].wq, 0), 4u);

  model::Model all = base;
  const auto st_all = fake_quantize_model(all, spec("int2-ch"), {.embeddings = true});
  EXPECT_EQ(st_all.matrices, st.matrices + 2);
  EXPECT_LE(distinct_in_row(all.weights().embed, 0), 4u);
  EXPECT_LE(distinct_in_row(all.weights().lm_head, 0), 4u);
}

TEST(FakeQuant, TiedEmbeddingsStayTied) {
  model::Model m = model::Model::load(fixture("models/llama_tied"));
  ASSERT_EQ(m.weights().embed.data, m.weights().lm_head.data);
  fake_quantize_model(m, spec("int4-g32"), {.embeddings = true});
  EXPECT_EQ(m.weights().embed.data, m.weights().lm_head.data);
}

PplOptions opts() {
  PplOptions o;
  o.n_ctx = 64;
  o.bos = 1;
  return o;
}

TEST(Kld, ModelAgainstItselfIsZero) {
  const auto m = model::Model::load(fixture("models/llama"));
  const auto tokens = qlab::testing::read_ids(fixture("models/llama/ppl_tokens.txt"));
  const auto r = kl_divergence(m, m, tokens, opts());
  ASSERT_EQ(r.kld.size(), 93u);
  EXPECT_NEAR(r.mean_kld(), 0.0, 1e-12);
  EXPECT_EQ(r.same_top, 93);
  EXPECT_DOUBLE_EQ(r.base.nll.ppl(), r.test.nll.ppl());
}

// Coarser formats lose more: KLD(int8) < KLD(int4) < KLD(int2), and the quantized side's PPL is the
// perplexity of the quantized model run alone.
// Same vocabulary, other shape (the Mistral fixture's heads are 32 wide, the Llama one's 16): the
// two cannot share KV caches, and comparing them is not what KL-divergence mode is for.
TEST(Kld, ModelsOfAnotherShapeAreAClearError) {
  const auto base = model::Model::load(fixture("models/llama"));
  const auto other = model::Model::load(fixture("models/mistral"));
  ASSERT_EQ(base.vocab_size(), other.vocab_size());
  const auto tokens = qlab::testing::read_ids(fixture("models/llama/ppl_tokens.txt"));
  PplOptions opt;
  opt.n_ctx = 64;
  try {
    kl_divergence(base, other, tokens, opt);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("variants of one model"), std::string::npos) << e.what();
  }
}

TEST(Kld, GrowsAsTheFormatCoarsens) {
  const auto base = model::Model::load(fixture("models/llama"));
  const auto tokens = qlab::testing::read_ids(fixture("models/llama/ppl_tokens.txt"));
  double prev = 0;
  for (const char* f : {"int8-ch", "int4-g32", "int2-ch"}) {
    model::Model q = base;
    fake_quantize_model(q, spec(f));
    const auto r = kl_divergence(base, q, tokens, opts());
    EXPECT_GT(r.mean_kld(), prev) << f;
    prev = r.mean_kld();
    const auto alone = perplexity(q, tokens, opts());
    EXPECT_NEAR(r.test.nll.ppl(), alone.nll.ppl(), 1e-9 * alone.nll.ppl()) << f;
    for (double k : r.kld) EXPECT_GE(k, 0.0);
  }
}

}  // namespace
}  // namespace qlab::eval
