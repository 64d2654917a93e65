// Perplexity against the llama.cpp-protocol fixture computed by transformers, the sliding-window
// protocol against the same per-token values where the contexts coincide, and the error cases.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>

#include "../model/fixture_util.h"
#include "engine/core/error.h"
#include "engine/core/threads.h"
#include "engine/eval/perplexity.h"
#include "engine/model/forward.h"

namespace qlab::eval {
namespace {

using qlab::testing::fixture;

nlohmann::json ppl_fixture() {
  std::ifstream in(fixture("models/llama/ppl.json"));
  return nlohmann::json::parse(in);
}

void expect_matches(const PplResult& r, const nlohmann::json& want) {
  EXPECT_EQ(r.chunks, want["n_chunk"].get<std::int64_t>());
  ASSERT_EQ(r.nll.count, want["n_scored"].get<std::int64_t>());
  EXPECT_NEAR(r.nll.ppl(), want["ppl"].get<double>(), 1e-4 * want["ppl"].get<double>());
  EXPECT_NEAR(r.nll.ppl_error(), want["ppl_err"].get<double>(), 1e-4 * want["ppl_err"].get<double>());
  const auto chunk_ppl = want["chunk_ppl"].get<std::vector<double>>();
  ASSERT_EQ(r.running_ppl.size(), chunk_ppl.size());
  for (std::size_t i = 0; i < chunk_ppl.size(); ++i) EXPECT_NEAR(r.running_ppl[i], chunk_ppl[i], 1e-4 * chunk_ppl[i]);
}

TEST(Perplexity, LlamaCppProtocolWithBosMatchesFixture) {
  const auto want = ppl_fixture();
  const auto m = model::Model::load(fixture("models/llama"));
  const auto tokens = qlab::testing::read_ids(fixture("models/llama/ppl_tokens.txt"));
  ASSERT_EQ(static_cast<std::int64_t>(tokens.size()), want["n_tokens"].get<std::int64_t>());
  PplOptions opt;
  opt.n_ctx = want["n_ctx"].get<std::int64_t>();
  opt.bos = want["bos_id"].get<std::int32_t>();
  expect_matches(perplexity(m, tokens, opt), want);
}

TEST(Perplexity, LlamaCppProtocolWithoutBosMatchesFixture) {
  const auto want = ppl_fixture();
  const auto m = model::Model::load(fixture("models/llama"));
  const auto tokens = qlab::testing::read_ids(fixture("models/llama/ppl_tokens.txt"));
  PplOptions opt;
  opt.n_ctx = want["n_ctx"].get<std::int64_t>();
  expect_matches(perplexity(m, tokens, opt), want["no_bos"]);
}

// Uncertainty by hand: NLLs {1, 2, 3}: m = 2, m2 = 14/3, sigma_mean = sqrt((14/3 - 4) / 2) = sqrt(1/3).
TEST(Perplexity, ErrorEstimateByHand) {
  NllStats s;
  for (double x : {1.0, 2.0, 3.0}) s.add(x);
  EXPECT_NEAR(s.ppl(), std::exp(2.0), 1e-12);
  EXPECT_NEAR(s.ppl_error(), std::exp(2.0) * std::sqrt(1.0 / 3.0), 1e-12);
}

// One window covering the fixture's 32 tokens scores tokens 1..31 with the logits transformers
// produced for them (logits.bin).
TEST(Perplexity, SlidingSingleWindowEqualsTransformersLogits) {
  const auto m = model::Model::load(fixture("models/llama"));
  const auto tokens = qlab::testing::read_ids(fixture("models/llama/tokens.txt"));
  const auto ref = qlab::testing::read_f32(fixture("models/llama/logits.bin"));
  const auto V = static_cast<std::size_t>(m.vocab_size());
  NllStats want;
  for (std::size_t t = 0; t + 1 < tokens.size(); ++t)
    want.add(token_nll(std::span(ref.data() + t * V, V), tokens[t + 1]));
  PplOptions opt;
  opt.n_ctx = static_cast<std::int64_t>(tokens.size());
  opt.stride = opt.n_ctx;
  const auto r = perplexity(m, tokens, opt);
  EXPECT_EQ(r.nll.count, want.count);
  EXPECT_NEAR(r.nll.sum, want.sum, 1e-4 * want.sum);
}

// ctx 64, stride 32 over 200 tokens: every token after the first is scored once (199), and the
// window starting at 64 scores tokens 96..127 with the same context as the fixture's no-BOS chunk 1
// scores 97..127, so those 31 NLLs must agree with transformers' values.
TEST(Perplexity, SlidingWindowCoversEveryTokenOnce) {
  const auto want = ppl_fixture()["no_bos"]["nll"].get<std::vector<double>>();
  const auto m = model::Model::load(fixture("models/llama"));
  const auto tokens = qlab::testing::read_ids(fixture("models/llama/ppl_tokens.txt"));
  PplOptions opt;
  opt.n_ctx = 64;
  opt.stride = 32;
  const auto all = perplexity(m, tokens, opt);
  EXPECT_EQ(all.nll.count, static_cast<std::int64_t>(tokens.size()) - 1);
  // Windows: [0,64) [32,96) [64,128) ...: the first three score 63 + 32 + 32 tokens.
  opt.max_chunks = 2;
  const auto two = perplexity(m, tokens, opt);
  opt.max_chunks = 3;
  const auto three = perplexity(m, tokens, opt);
  EXPECT_EQ(three.nll.count - two.nll.count, 32);
  double want_sum = 0;
  for (std::size_t i = 31; i < 62; ++i) want_sum += want[i];
  // Window 3 scores token 96 too (context 64..95); the fixture starts at 97.
  const double got_sum = three.nll.sum - two.nll.sum;
  NllStats only;
  {
    // token 96's NLL with context 64..95, from a direct forward pass
    std::vector<std::int32_t> ctx(tokens.begin() + 64, tokens.begin() + 96);
    const auto logits = model::forward_all(m, ctx);
    const auto V = static_cast<std::size_t>(m.vocab_size());
    only.add(token_nll(std::span(logits.data() + (ctx.size() - 1) * V, V), tokens[96]));
  }
  EXPECT_NEAR(got_sum - only.sum, want_sum, 1e-4 * want_sum);
}

// With several threads a small model's windows run several to one forward_batch call. The batched
// result must still match transformers' per-chunk values, and in sliding mode (whose first and last
// windows have other shapes than the rest) equal each window run alone through forward_all.
TEST(Perplexity, BatchedWindowsMatchFixtureAndEachWindowAlone) {
  set_thread_count(4);
  ASSERT_EQ(model::sequences_per_batch(model::Model::load(fixture("models/llama")), 64), 4);
  const auto want = ppl_fixture();
  const auto m = model::Model::load(fixture("models/llama"));
  const auto tokens = qlab::testing::read_ids(fixture("models/llama/ppl_tokens.txt"));
  PplOptions opt;
  opt.n_ctx = want["n_ctx"].get<std::int64_t>();
  opt.bos = want["bos_id"].get<std::int32_t>();
  expect_matches(perplexity(m, tokens, opt), want);

  PplOptions slide;
  slide.n_ctx = 64;
  slide.stride = 24;
  const auto got = perplexity(m, tokens, slide);
  // The same windows by hand: [begin, begin + 64) every 24 tokens, each scoring what the last did not.
  const auto V = static_cast<std::size_t>(m.vocab_size());
  NllStats alone;
  std::vector<double> running;
  std::int64_t prev_end = 0;
  const auto n = static_cast<std::int64_t>(tokens.size());
  for (std::int64_t begin = 0; begin < n; begin += 24) {
    const std::int64_t end = std::min<std::int64_t>(begin + 64, n);
    const std::vector<std::int32_t> ctx(tokens.begin() + begin, tokens.begin() + end);
    const auto logits = model::forward_all(m, ctx);
    for (std::int64_t t = std::max<std::int64_t>(prev_end - begin, 1); t < end - begin; ++t)
      alone.add(token_nll(std::span(logits.data() + static_cast<std::size_t>(t - 1) * V, V),
                          tokens[static_cast<std::size_t>(begin + t)]));
    running.push_back(alone.ppl());
    prev_end = end;
    if (end == n) break;
  }
  ASSERT_EQ(got.nll.count, alone.count);
  EXPECT_NEAR(got.nll.sum, alone.sum, 1e-6 * alone.sum);
  ASSERT_EQ(got.running_ppl.size(), running.size());
  for (std::size_t i = 0; i < running.size(); ++i) EXPECT_NEAR(got.running_ppl[i], running[i], 1e-6 * running[i]) << i;
}

TEST(Perplexity, ContextLongerThanTextIsAClearError) {
  const auto m = model::Model::load(fixture("models/llama"));
  const auto tokens = qlab::testing::read_ids(fixture("models/llama/tokens.txt"));  // 32 tokens
  PplOptions opt;
  opt.n_ctx = 32;
  try {
    perplexity(m, tokens, opt);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("needs at least 2 x 32 = 64"), std::string::npos) << e.what();
  }
  opt.stride = 8;
  opt.n_ctx = 33;
  EXPECT_THROW(perplexity(m, tokens, opt), Error);
  opt.n_ctx = 16;
  opt.stride = 17;
  EXPECT_THROW(perplexity(m, tokens, opt), Error);
}

TEST(Perplexity, TokenOutOfRangeIsAClearError) {
  const auto m = model::Model::load(fixture("models/llama"));
  std::vector<std::int32_t> tokens(128, 5);
  tokens[77] = 999;
  PplOptions opt;
  opt.n_ctx = 64;
  try {
    perplexity(m, tokens, opt);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("token id 999 at index 77"), std::string::npos) << e.what();
  }
}

TEST(Quantiles, LinearInterpolationByHand) {
  // 0..10: the p-th quantile of 11 evenly spaced values is 10 p.
  std::vector<double> v;
  for (int i = 10; i >= 0; --i) v.push_back(i);
  const auto q = quantiles(v);
  EXPECT_DOUBLE_EQ(q.max, 10);
  EXPECT_DOUBLE_EQ(q.min, 0);
  EXPECT_NEAR(q.median, 5, 1e-12);
  EXPECT_NEAR(q.p99, 9.9, 1e-12);
  EXPECT_NEAR(q.p1, 0.1, 1e-12);
}

}  // namespace
}  // namespace qlab::eval
