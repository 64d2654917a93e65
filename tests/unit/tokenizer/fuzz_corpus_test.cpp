// The tokenizer fuzz target's seed corpus (tests/fuzz/corpus/tokenizer; replayed by replay_tokenizer)
// must keep reaching the encoder: seeds named for bad input are refused, every other seed loads.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "engine/core/error.h"
#include "engine/io/tokenizer.h"

namespace {

namespace fs = std::filesystem;

TEST(TokenizerFuzzCorpus, GoodSeedsLoadAndBadSeedsAreRefused) {
  const fs::path dir = fs::path(QLAB_SOURCE_DIR) / "tests" / "fuzz" / "corpus" / "tokenizer";
  ASSERT_TRUE(fs::is_directory(dir)) << dir;
  int good = 0, bad = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    std::ifstream in(entry.path(), std::ios::binary);
    const std::string data((std::istreambuf_iterator<char>(in)), {});
    const std::string name = entry.path().filename().string();
    const bool should_fail = name.rfind("bad_merge", 0) == 0 || name.rfind("invalid", 0) == 0 ||
                             name.rfind("unknown", 0) == 0 || name.rfind("deep", 0) == 0;
    try {
      const auto tok = qlab::io::Tokenizer::from_json_text(data.substr(0, data.find('\0')), name);
      EXPECT_FALSE(should_fail) << name << " loaded";
      if (!should_fail) {
        EXPECT_FALSE(tok.encode("a b", true).empty()) << name;
      }
      ++good;
    } catch (const qlab::Error& e) {
      EXPECT_TRUE(should_fail) << name << ": " << e.what();
      ++bad;
    }
  }
  EXPECT_GE(good, 6);
  EXPECT_GE(bad, 4);
}

}  // namespace
