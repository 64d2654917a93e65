// The baseline's logits on disk: KL-divergence from the file is the live comparison's (qlab ppl --kld,
// eval::kl_divergence) to the last bit; the baseline against itself is 0; a store cut short keeps its
// complete chunks; a store of another text, model or format version is refused by name.
#include <gtest/gtest.h>

#include <fstream>

#include "engine/eval/suite_logits.h"
#include "engine/formats/format_lookup.h"
#include "engine/quant/rtn.h"
#include "suite_test_util.h"

namespace qlab::eval {
namespace {

using namespace qlab::testing;

LogitStoreHeader header_for(const BuiltinText& t, std::int64_t chunks) {
  LogitStoreHeader h;
  h.n_ctx = t.opt.n_ctx;
  h.vocab = builtin_model().vocab_size();
  h.bos = t.opt.bos.value_or(-1);
  h.n_chunks = chunks;
  h.tokens_hash = hash_tokens(t.tokens);
  h.key = "test";
  return h;
}

std::vector<TokenCompare> compare_all(const model::Model& m, const LogitStore& s, std::int64_t chunks) {
  std::vector<TokenCompare> rows;
  compare_with_base(m, builtin_text().tokens, builtin_text().opt, s, 0, chunks,
                    [&](std::int64_t, std::span<const TokenCompare> r) { rows.insert(rows.end(), r.begin(), r.end()); });
  return rows;
}

TEST(LogitStore, KldFromTheFileEqualsTheLiveComparisonBitForBit) {
  const auto dir = scratch("logits");
  const BuiltinText& t = builtin_text();
  constexpr std::int64_t kChunks = 10;
  LogitStore s = LogitStore::open_for_append(dir / "base.logits", header_for(t, kChunks));
  write_base_logits(builtin_model(), t.tokens, t.opt, s, kChunks);
  ASSERT_TRUE(s.complete());
  model::Model q = builtin_model();
  quant::fake_quantize_model(q, formats::block_format("nvfp4"));
  const auto rows = compare_all(q, s, kChunks);
  PplOptions o = t.opt;
  o.max_chunks = kChunks;
  const KldResult live = kl_divergence(builtin_model(), q, t.tokens, o);
  ASSERT_EQ(rows.size(), live.kld.size());
  std::int64_t same = 0;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    ASSERT_EQ(rows[i].kld, live.kld[i]) << i;
    ASSERT_EQ(rows[i].nll_base, live.nll_base[i]) << i;
    ASSERT_EQ(rows[i].nll_test, live.nll_test[i]) << i;
    ASSERT_EQ(rows[i].delta_p, live.delta_p[i]) << i;
    same += rows[i].same_top ? 1 : 0;
  }
  EXPECT_EQ(same, live.same_top);
  EXPECT_GT(live.mean_kld(), 0.0);
}

TEST(LogitStore, TheBaselineAgainstItselfIsZero) {
  const auto dir = scratch("logits");
  const BuiltinText& t = builtin_text();
  LogitStore s = LogitStore::open_for_append(dir / "base.logits", header_for(t, 4));
  write_base_logits(builtin_model(), t.tokens, t.opt, s, 4);
  const auto rows = compare_all(builtin_model(), s, 4);
  ASSERT_EQ(rows.size(), 4u * 63);
  for (const auto& r : rows) {
    ASSERT_EQ(r.kld, 0.0);
    ASSERT_EQ(r.delta_p, 0.0);
    ASSERT_TRUE(r.same_top);
    ASSERT_EQ(r.nll_base, r.nll_test);
  }
}

TEST(LogitStore, ResumesAfterACutAndRefusesAnotherStore) {
  const auto dir = scratch("logits");
  const BuiltinText& t = builtin_text();
  const auto path = dir / "base.logits";
  {
    LogitStore s = LogitStore::open_for_append(path, header_for(t, 6));
    write_base_logits(builtin_model(), t.tokens, t.opt, s, 3);
    EXPECT_EQ(s.chunks_done(), 3);
  }
  const auto full = std::filesystem::file_size(path);
  std::filesystem::resize_file(path, full - 100);  // the third record cut short, as by a crash
  {
    LogitStore s = LogitStore::open_for_append(path, header_for(t, 6));
    EXPECT_EQ(s.chunks_done(), 2);
    write_base_logits(builtin_model(), t.tokens, t.opt, s, 6);
    EXPECT_TRUE(s.complete());
  }
  // The resumed store holds what an uninterrupted one holds.
  const auto path2 = dir / "whole.logits";
  LogitStore whole = LogitStore::open_for_append(path2, header_for(t, 6));
  write_base_logits(builtin_model(), t.tokens, t.opt, whole, 6);
  const LogitStore resumed = LogitStore::open_for_read(path);
  std::vector<float> a, b;
  for (std::int64_t c = 0; c < 6; ++c) {
    resumed.read(c, a);
    whole.read(c, b);
    ASSERT_EQ(a, b) << c;
  }
  LogitStoreHeader other = header_for(t, 6);
  other.key = "another model";
  EXPECT_NE(error_of([&] { LogitStore::open_for_append(path, other); }).find("another baseline or text"),
            std::string::npos);
  // A store of another format version (an older qlab): named as such.
  std::string bytes = read_file(path);
  bytes[8] = 0;  // format_version 0
  write_file_atomic(dir / "old.logits", bytes);
  EXPECT_NE(error_of([&] { LogitStore::peek(dir / "old.logits"); }).find("written by an older qlab"),
            std::string::npos);
  write_file_atomic(dir / "junk.logits", std::string(200, 'x'));
  EXPECT_NE(error_of([&] { LogitStore::peek(dir / "junk.logits"); }).find("not a qlab logit store"), std::string::npos);
}

TEST(LogitStore, AnotherVocabularyIsRefused) {
  const auto dir = scratch("logits");
  const BuiltinText& t = builtin_text();
  LogitStoreHeader h = header_for(t, 2);
  h.vocab = 256;
  LogitStore s = LogitStore::open_for_append(dir / "base.logits", h);
  EXPECT_NE(error_of([&] { write_base_logits(builtin_model(), t.tokens, t.opt, s, 2); }).find("vocabulary of 768"),
            std::string::npos);
}

}  // namespace
}  // namespace qlab::eval
