// The one perplexity set-up: its BOS policy, default context, protocol line and errors, and the
// unigram baseline on the targets it scores (counted by hand here).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "engine/core/atomic_file.h"
#include "engine/core/error.h"
#include "engine/eval/ppl_setup.h"
#include "engine/eval/unigram.h"
#include "engine/io/model_config.h"
#include "engine/io/tokenizer.h"

namespace qlab::eval {
namespace {

std::filesystem::path builtin_dir() { return std::filesystem::path(QLAB_SOURCE_DIR) / "assets" / "builtin"; }

std::vector<std::int32_t> ramp(int n, int vocab) {
  std::vector<std::int32_t> v(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) v[static_cast<std::size_t>(i)] = i % vocab;
  return v;
}

TEST(PplSetup, TextIsTokenizedOnceWithTheTokenizersBos) {
  const io::ModelConfig c = io::load_model_config(builtin_dir());
  const io::Tokenizer tok = io::Tokenizer::load(builtin_dir());
  ASSERT_TRUE(tok.bos_id().has_value());
  PplRequest r;
  r.text = read_file(builtin_dir() / "eval.txt");
  r.max_chunks = 3;
  const PplSetup s = ppl_setup(c, &tok, r);
  // The whole text once, BOS first (the built-in tokenizer's add_bos_token), and BOS on each chunk.
  EXPECT_EQ(s.tokens, tok.encode(*r.text, true));
  EXPECT_EQ(s.tokens.front(), *tok.bos_id());
  EXPECT_EQ(s.options.bos, tok.bos_id());
  // Default context: the model's trained 128, shorter than llama.cpp's 512.
  EXPECT_EQ(s.options.n_ctx, 128);
  EXPECT_EQ(s.chunks, 3);
  EXPECT_EQ(s.protocol, "llama.cpp: chunks of 128, BOS 0 on each chunk's first position, second half scored "
                        "(63 tokens per chunk)");
  EXPECT_TRUE(s.warnings.empty());
}

TEST(PplSetup, TokensAreUsedAsGivenWithTheConfigsBosWithoutATokenizer) {
  io::ModelConfig c = io::llama_config(1, 8, 2, 1, 16, 50);
  c.bos_token_id = 7;
  c.max_position_embeddings = 1024;
  PplRequest r;
  r.tokens = ramp(2000, 50);
  const PplSetup s = ppl_setup(c, nullptr, r);
  EXPECT_EQ(s.tokens, ramp(2000, 50));
  EXPECT_EQ(s.options.bos, 7);
  EXPECT_EQ(s.options.n_ctx, 512);  // llama.cpp's default when the model was trained longer
  EXPECT_EQ(s.chunks, 3);           // 2000 / 512, the remainder dropped
  r.tokens = ramp(2000, 50);
  r.rewrite_bos = false;
  EXPECT_FALSE(ppl_setup(c, nullptr, r).options.bos.has_value());
  EXPECT_NE(ppl_setup(c, nullptr, r).protocol.find("no BOS"), std::string::npos);
  c.bos_token_id = -1;
  r.rewrite_bos = true;
  EXPECT_FALSE(ppl_setup(c, nullptr, r).options.bos.has_value());
}

TEST(PplSetup, SlidingWindowAndWarnings) {
  io::ModelConfig c = io::llama_config(1, 8, 2, 1, 16, 50);
  c.max_position_embeddings = 64;
  PplRequest r;
  r.tokens = ramp(300, 50);
  r.n_ctx = 100;
  r.stride = 50;
  const PplSetup s = ppl_setup(c, nullptr, r);
  EXPECT_EQ(s.protocol, "sliding window: ctx 100, stride 50, every token after the first scored once, no BOS rewrite");
  EXPECT_EQ(s.chunks, 5);  // windows at 0, 50, 100, 150, 200 (the last ends the stream)
  ASSERT_EQ(s.warnings.size(), 1u);
  EXPECT_NE(s.warnings[0].find("64"), std::string::npos) << s.warnings[0];
}

TEST(PplSetup, Errors) {
  io::ModelConfig c = io::llama_config(1, 8, 2, 1, 16, 50);
  PplRequest none;
  EXPECT_THROW(ppl_setup(c, nullptr, none), Error);
  PplRequest text;
  text.text = "hello";
  EXPECT_THROW(ppl_setup(c, nullptr, text), Error);  // a text needs a tokenizer
  PplRequest short_stream;
  short_stream.tokens = ramp(100, 50);
  short_stream.n_ctx = 64;  // llama.cpp's protocol needs two chunks' worth
  try {
    ppl_setup(c, nullptr, short_stream);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("100 tokens"), std::string::npos) << e.what();
  }
}

TEST(Unigram, ScoresTheTargetsTheProtocolScores) {
  io::ModelConfig c = io::llama_config(1, 8, 2, 1, 16, 4);
  PplRequest r;
  // two chunks of 8: the second half of each is scored, targets at positions 5, 6, 7
  r.tokens = std::vector<std::int32_t>{0, 0, 0, 0, 1, 2, 3, 3, 0, 0, 0, 0, 0, 1, 1, 2};
  r.n_ctx = 8;
  const PplSetup s = ppl_setup(c, nullptr, r);
  const std::vector<std::int32_t> fit = {0, 0, 0, 1, 2, 2};  // add-one: counts 4, 2, 3, 1 of 10
  const NllStats u = unigram_perplexity(fit, 4, s);
  ASSERT_EQ(u.count, 6);
  const double want = -(std::log(0.3) + std::log(0.1) + std::log(0.1) + std::log(0.2) + std::log(0.2) +
                        std::log(0.3));
  EXPECT_NEAR(u.sum, want, 1e-12);
  EXPECT_NEAR(u.ppl(), std::exp(want / 6), 1e-12);
}

}  // namespace
}  // namespace qlab::eval
