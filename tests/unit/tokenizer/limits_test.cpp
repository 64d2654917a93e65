// What one number in tokenizer.json may cost (issue 12 item 3): an id of 2^31 - 2 in a vocabulary
// of three tokens must not allocate 16 GiB. Checked in a child process under an address-space cap
// of 1 GiB beyond what the process holds, where the old dense id table fails with bad_alloc. Also: the folder given where
// tokenizer.json should be, and a tokenizer with ids the model has no row for.
#include <gtest/gtest.h>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "engine/core/error.h"
#include "engine/io/tokenizer.h"
#include "tests/sanitizer_build.h"

namespace {

namespace fs = std::filesystem;
using qlab::io::Tokenizer;

const std::string kHugeId =
    R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "x": 2147483646}, "merges": []}})";

TEST(TokenizerLimits, HugeIdInASmallVocabularyCostsWhatTheVocabularyCosts) {
  const Tokenizer t = Tokenizer::from_json_text(kHugeId, "huge.json");
  EXPECT_EQ(t.id_to_token(2147483646), "x");
  EXPECT_EQ(t.id_to_token(1), "b");
  EXPECT_THROW(t.id_to_token(5), qlab::Error);
  EXPECT_EQ(t.decode({0, 2147483646, 1}), "a x b");  // no decoder: tokens joined by spaces, as the reference
  EXPECT_EQ(t.encode("xab"), (std::vector<std::int32_t>{2147483646, 0, 1}));
}

TEST(TokenizerLimits, HugeIdLoadsUnderAOneGibMemoryCap) {
  if (qlab::testing::kSanitizerBuild) GTEST_SKIP() << "a sanitizer reserves more address space than the cap";
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // 1 GiB more than the process has mapped already (thread stacks and BLAS buffers vary by machine)
    std::ifstream status("/proc/self/status");
    std::size_t vm_kb = 0;
    for (std::string key; status >> key;) {
      if (key == "VmSize:") {
        status >> vm_kb;
        break;
      }
    }
    const rlim_t bytes = static_cast<rlim_t>(vm_kb) * 1024 + (rlim_t{1} << 30);
    const rlimit cap{bytes, bytes};
    if (::setrlimit(RLIMIT_AS, &cap) != 0) ::_exit(3);
    try {
      const Tokenizer t = Tokenizer::from_json_text(kHugeId, "huge.json");
      ::_exit(t.id_to_token(2147483646) == "x" ? 0 : 4);
    } catch (const std::bad_alloc&) {
      ::_exit(5);
    } catch (...) {
      ::_exit(6);
    }
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status)) << "killed by signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 0) << "5: out of memory for a three-token vocabulary";
}

TEST(TokenizerLimits, DenseVocabularyWithHolesStillWorks) {
  // ids 0, 1 and 5: holes, but far from sparse
  const Tokenizer t = Tokenizer::from_json_text(
      R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "c": 5}, "merges": []}})", "holes.json");
  EXPECT_EQ(t.id_to_token(5), "c");
  EXPECT_THROW(t.id_to_token(3), qlab::Error);
  EXPECT_EQ(t.vocab_size(), 6);
}

TEST(TokenizerLimits, FolderWhereTokenizerJsonShouldBeIsNamedAsSuch) {
  const fs::path dir = fs::temp_directory_path() / ("qlab-tok-limits-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "tokenizer.json");
  try {
    Tokenizer::load(dir);
    ADD_FAILURE() << "no error";
  } catch (const qlab::Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("tokenizer.json: is a folder"), std::string::npos) << msg;  // not "unexpected end of input"
  }
  fs::remove_all(dir);
}

TEST(TokenizerLimits, TokenizerWithIdsPastTheModelsVocabularyIsRefused) {
  const Tokenizer t = Tokenizer::from_json_text(kHugeId, "big/tokenizer.json");
  EXPECT_NO_THROW(t.check_fits(2147483647, "m/config.json"));
  try {
    t.check_fits(768, "m/config.json");
    FAIL() << "no error";
  } catch (const qlab::Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("big/tokenizer.json"), std::string::npos) << msg;
    EXPECT_NE(msg.find("m/config.json"), std::string::npos) << msg;
    EXPECT_NE(msg.find("2147483646"), std::string::npos) << msg;
  }
}

}  // namespace
