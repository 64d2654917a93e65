// Logits, greedy generation and cache consistency against transformers' outputs for every fixture.
#include <gtest/gtest.h>

#include <cstdio>

#include "engine/core/error.h"
#include "engine/model/forward.h"
#include "engine/model/generate.h"
#include "engine/model/sampling.h"
#include "fixture_util.h"

namespace qlab::model {
namespace {

using qlab::testing::fixture;

class FixtureModel : public ::testing::TestWithParam<std::string> {
 protected:
  std::filesystem::path dir() const { return fixture("models") / GetParam(); }
};

TEST_P(FixtureModel, LogitsMatchTransformers) {
  const Model m = Model::load(dir());
  const auto tokens = qlab::testing::read_ids(dir() / "tokens.txt");
  const auto ref = qlab::testing::read_f32(dir() / "logits.bin");
  ASSERT_EQ(ref.size(), tokens.size() * static_cast<std::size_t>(m.vocab_size()));
  const auto got = forward_all(m, tokens);
  const double err = qlab::testing::max_row_rel_error(got, ref, static_cast<std::size_t>(m.vocab_size()));
  EXPECT_LE(err, 1e-4) << GetParam();
  RecordProperty("max_row_rel_error", std::to_string(err));
  std::printf("%s: max row relative error %.3g\n", GetParam().c_str(), err);
}

TEST_P(FixtureModel, GreedyGenerationMatchesTransformers) {
  const Model m = Model::load(dir());
  const auto tokens = qlab::testing::read_ids(dir() / "tokens.txt");
  const auto want = qlab::testing::read_ids(dir() / "greedy.txt");
  ASSERT_FALSE(want.empty());
  GenerateOptions opt;
  opt.max_new_tokens = static_cast<int>(want.size());
  opt.stop_at_eos = false;
  const auto got = generate(m, tokens, opt);
  EXPECT_EQ(got, want) << GetParam();
}

// Decoding one token at a time through the cache, and prefill in two pieces, give the logits of
// one full pass.
TEST_P(FixtureModel, CachedDecodeEqualsFullForward) {
  const Model m = Model::load(dir());
  const auto tokens = qlab::testing::read_ids(dir() / "tokens.txt");
  const auto V = static_cast<std::size_t>(m.vocab_size());
  const auto full = forward_all(m, tokens);
  KVCache cache(m.config(), static_cast<std::int64_t>(tokens.size()));
  std::vector<float> stepwise(full.size());
  const std::size_t split = tokens.size() / 3;
  forward(m, cache, std::span(tokens).first(split), static_cast<std::int64_t>(split), stepwise.data());
  for (std::size_t t = split; t < tokens.size(); ++t)
    forward(m, cache, std::span(tokens).subspan(t, 1), 1, stepwise.data() + t * V);
  EXPECT_EQ(cache.size(), static_cast<std::int64_t>(tokens.size()));
  EXPECT_LE(qlab::testing::max_row_rel_error(stepwise, full, V), 1e-5);
}

INSTANTIATE_TEST_SUITE_P(Models, FixtureModel, ::testing::ValuesIn(qlab::testing::model_fixtures()),
                         [](const auto& info) { return info.param; });

TEST(FixtureModels, AllCasesPresent) {
  // The generator makes one case per architecture and config style; losing one silently would hide a path.
  const auto names = qlab::testing::model_fixtures();
  for (const char* want : {"llama", "llama31", "llama_bf16", "llama_linear", "llama_sharded", "llama_tied", "mistral",
                           "qwen2"})
    EXPECT_NE(std::find(names.begin(), names.end(), want), names.end()) << want;
}

// Prompts longer than one attention block of queries (64): a full pass over 150 tokens equals
// decoding them one by one.
TEST(Forward, LongPromptEqualsStepwiseDecode) {
  const Model m = Model::load(fixture("models/llama"));
  auto tokens = qlab::testing::read_ids(fixture("models/llama/ppl_tokens.txt"));
  tokens.resize(150);
  const auto V = static_cast<std::size_t>(m.vocab_size());
  const auto full = forward_all(m, tokens);
  KVCache cache(m.config(), 150);
  std::vector<float> step(full.size());
  for (std::size_t t = 0; t < tokens.size(); ++t)
    forward(m, cache, std::span(tokens).subspan(t, 1), 1, step.data() + t * V);
  EXPECT_LE(qlab::testing::max_row_rel_error(step, full, V), 1e-5);
}

// Several sequences in one batch give each sequence's logits of a pass on its own, including sequences
// whose caches already hold different numbers of tokens (the rows share every matrix product but
// not attention or positions). Enough rows (1120) that the per-row steps (RoPE, SwiGLU) are split
// among the pool's threads.
TEST(Forward, BatchOfSequencesEqualsEachAlone) {
  const Model m = Model::load(fixture("models/llama"));
  const auto all = qlab::testing::read_ids(fixture("models/llama/ppl_tokens.txt"));
  const auto V = static_cast<std::size_t>(m.vocab_size());
  constexpr std::size_t kSeqs = 16, kLen = 70, kLogits = 5;
  ASSERT_GE(all.size(), 7 * (kSeqs - 1) + kSeqs + kLen);
  // Sequence s starts with s tokens already cached, then kLen new ones.
  std::vector<std::vector<std::int32_t>> seqs;
  for (std::size_t s = 0; s < kSeqs; ++s) {
    const auto from = all.begin() + static_cast<std::ptrdiff_t>(s * 7);
    seqs.emplace_back(from, from + static_cast<std::ptrdiff_t>(s + kLen));
  }
  std::vector<KVCache> caches;
  std::vector<KVCache*> ptrs;
  std::vector<std::int32_t> batch;
  std::vector<float> scratch(V * kSeqs);
  for (std::size_t s = 0; s < kSeqs; ++s) caches.emplace_back(m.config(), static_cast<std::int64_t>(s + kLen));
  for (std::size_t s = 0; s < kSeqs; ++s) {
    ptrs.push_back(&caches[s]);
    if (s > 0) forward(m, caches[s], std::span(seqs[s]).first(s), 1, scratch.data());
    batch.insert(batch.end(), seqs[s].begin() + static_cast<std::ptrdiff_t>(s), seqs[s].end());
  }
  std::vector<float> got(kSeqs * kLogits * V);
  forward_batch(m, ptrs, batch, kLogits, got.data());
  for (std::size_t s = 0; s < kSeqs; ++s) {
    EXPECT_EQ(caches[s].size(), static_cast<std::int64_t>(s + kLen));
    const auto alone = forward_all(m, seqs[s]);
    const std::vector<float> want(alone.end() - static_cast<std::ptrdiff_t>(kLogits * V), alone.end());
    const std::vector<float> mine(got.begin() + static_cast<std::ptrdiff_t>(s * kLogits * V),
                                  got.begin() + static_cast<std::ptrdiff_t>((s + 1) * kLogits * V));
    EXPECT_LE(qlab::testing::max_row_rel_error(mine, want, V), 1e-5) << "sequence " << s;
  }
}

// Sequences that all start at the same position (the common case: fresh caches) share their RoPE
// angles; each still gets the logits of a pass on its own.
TEST(Forward, BatchOfFreshSequencesEqualsEachAlone) {
  const Model m = Model::load(fixture("models/llama"));
  const auto all = qlab::testing::read_ids(fixture("models/llama/ppl_tokens.txt"));
  const auto V = static_cast<std::size_t>(m.vocab_size());
  constexpr std::size_t kSeqs = 3, kLen = 66;
  ASSERT_GE(all.size(), kSeqs * kLen);
  std::vector<KVCache> caches;
  std::vector<KVCache*> ptrs;
  for (std::size_t s = 0; s < kSeqs; ++s) caches.emplace_back(m.config(), static_cast<std::int64_t>(kLen));
  for (auto& c : caches) ptrs.push_back(&c);
  const std::vector<std::int32_t> batch(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(kSeqs * kLen));
  std::vector<float> got(kSeqs * kLen * V);
  forward_batch(m, ptrs, batch, static_cast<std::int64_t>(kLen), got.data());
  for (std::size_t s = 0; s < kSeqs; ++s) {
    const auto from = batch.begin() + static_cast<std::ptrdiff_t>(s * kLen);
    const auto alone = forward_all(m, std::vector<std::int32_t>(from, from + static_cast<std::ptrdiff_t>(kLen)));
    const std::vector<float> mine(got.begin() + static_cast<std::ptrdiff_t>(s * kLen * V),
                                  got.begin() + static_cast<std::ptrdiff_t>((s + 1) * kLen * V));
    EXPECT_LE(qlab::testing::max_row_rel_error(mine, alone, V), 1e-5) << "sequence " << s;
  }
}

TEST(Forward, TokenOutOfRangeIsAClearError) {
  const Model m = Model::load(fixture("models/llama"));
  KVCache cache(m.config(), 8);
  std::vector<float> logits(static_cast<std::size_t>(m.vocab_size()));
  const std::vector<std::int32_t> bad{1, 2, 256};
  try {
    forward(m, cache, bad, 1, logits.data());
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("token id 256 at position 2 is out of range"), std::string::npos) << e.what();
  }
  const std::vector<std::int32_t> neg{-1};
  EXPECT_THROW(forward(m, cache, neg, 1, logits.data()), Error);
}

TEST(Forward, FullCacheIsAClearError) {
  const Model m = Model::load(fixture("models/llama"));
  KVCache cache(m.config(), 4);
  std::vector<float> logits(static_cast<std::size_t>(m.vocab_size()) * 5);
  const std::vector<std::int32_t> five{1, 2, 3, 4, 5};
  EXPECT_THROW(forward(m, cache, five, 5, logits.data()), Error);
}

TEST(Model, MissingFolderIsAClearError) {
  try {
    Model::load(fixture("models/does_not_exist"));
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("does_not_exist"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace qlab::model
