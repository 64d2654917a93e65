// What a reliability review broke in the real qlab binary (issue 12), one test per finding: inputs
// that set huge allocations, runs past the model's context, escape sequences echoed to the
// terminal, misleading messages, values that should be refused, and synth-model's staging folder.
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/cli/qlab_run.h"
#include "tests/sanitizer_build.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using qlab::testing::quoted;
using qlab::testing::QlabRun;
using qlab::testing::slurp;

class Hardening : public ::testing::Test {
 protected:
  fs::path dir;
  fs::path builtin = fs::path(QLAB_SOURCE_DIR) / "assets" / "builtin";
  void SetUp() override { dir = qlab::testing::scratch_dir("qlab-hardening"); }
  void TearDown() override { fs::remove_all(dir); }
  QlabRun qlab(const std::string& args, const std::string& stdin_text = "") {
    return qlab::testing::run_qlab(dir, args + " --threads 2", stdin_text, 60);
  }
  // A model folder of links to the built-in model's files, with `file` written from `text` instead.
  fs::path builtin_with(const std::string& file, const std::string& text) {
    const fs::path m = dir / ("model-" + file);
    fs::create_directories(m);
    for (const auto& e : fs::directory_iterator(builtin))
      if (e.path().filename() != file) fs::create_symlink(e.path(), m / e.path().filename());
    std::ofstream(m / file, std::ios::binary) << text;
    return m;
  }
};

// No byte of an escape sequence (ESC, CSI in its 8-bit form, BEL) reaches the terminal.
void expect_no_escapes(const std::string& s) {
  EXPECT_EQ(s.find('\x1b'), std::string::npos) << s;
  EXPECT_EQ(s.find('\x07'), std::string::npos) << s;
  EXPECT_EQ(s.find("\xc2\x9b"), std::string::npos) << s;
  EXPECT_EQ(s.find('\x9b'), std::string::npos) << s;
}

// ---- item 3: one number in tokenizer.json --------------------------------------------------------

TEST_F(Hardening, HugeTokenizerIdIsAClearErrorNotAnAllocation) {
  const fs::path m = builtin_with("tokenizer.json", R"({"model": {"type": "BPE", "vocab": {"a": 0, "x": 2147483646},
                                                       "merges": []}})");
  fs::remove(m / "tokenizer_config.json");
  // Under a memory cap, so that a regression fails here with "out of memory" instead of asking the
  // machine for 16 GiB (sanitizer builds reserve more address space than any such cap).
  const std::string cap = qlab::testing::kSanitizerBuild ? "" : "ulimit -v 4000000 && ";
  {
    std::ofstream(dir / ".stdin");
  }
  const std::string cmd = "cd " + quoted(dir) + " && " + cap + "timeout 60 '" + QLAB_BINARY + "' generate " +
                          quoted(m) + " --prompt a -n 2 > .stdout 2> .stderr";
  const int status = std::system(cmd.c_str());
  const std::string err = slurp(dir / ".stderr");
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 1) << err;
  EXPECT_NE(err.find((m / "tokenizer.json").string()), std::string::npos) << err;
  EXPECT_NE(err.find("does not belong to this model"), std::string::npos) << err;
  EXPECT_EQ(err.find("out of memory"), std::string::npos) << err;
}

// ---- items 6 and 14: the model's context bounds generate and logits -----------------------------

TEST_F(Hardening, GenerateStopsAtTheModelsContext) {
  const QlabRun r = qlab("generate builtin --prompt 'The sum of' -n 1048576 --json");
  ASSERT_EQ(r.code, 0) << r.err;
  const int ctx = json::parse(slurp(builtin / "config.json"))["max_position_embeddings"];
  const json j = json::parse(r.out);
  EXPECT_LE(j["prompt_ids"].size() + j["ids"].size(), static_cast<std::size_t>(ctx));
  EXPECT_NE(r.err.find("stops at"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("max_position_embeddings"), std::string::npos) << r.err;
}

TEST_F(Hardening, LogitsPastTheContextIsRefusedBeforeAnyWork) {
  const int ctx = json::parse(slurp(builtin / "config.json"))["max_position_embeddings"];
  std::string ids;
  for (int i = 0; i <= ctx; ++i) ids += std::to_string(i % 700) + " ";
  std::ofstream(dir / "t.txt") << ids;
  const QlabRun r = qlab("logits builtin --tokens t.txt --out out.bin");
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(r.err.find("max_position_embeddings"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("t.txt"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir / "out.bin"));
}

// ---- item 12: escape sequences from inputs are escaped ------------------------------------------

TEST_F(Hardening, EscapeSequencesInInputsAreEscapedOnOutput) {
  std::ofstream(dir / "t.txt") << "1 \x1b]0;pwned\x07 2";
  QlabRun r = qlab("logits builtin --tokens t.txt --out o.bin");
  EXPECT_EQ(r.code, 1);
  expect_no_escapes(r.err);
  EXPECT_NE(r.err.find("\\x1b]0;pwned\\x07"), std::string::npos) << r.err;

  r = qlab("formats encode --format e4m3", "1.0\n\x1b[2J\xc2\x9b" "31m\n");
  EXPECT_EQ(r.code, 1);
  expect_no_escapes(r.err);
  expect_no_escapes(r.out);

  r = qlab("'\x1b[31mred'");
  EXPECT_EQ(r.code, 2);
  expect_no_escapes(r.err);

  // strings a hand-edited progress file holds, shown by progress show and export
  std::ofstream(dir / "p.json") << R"({"schema": 1, "milestones": {"m1": {"done": true, "how": "\u001b[2J", "when": "\u009b31m"}},
    "results": {"lab01.bits": {"when": "\u001b]0;x\u0007", "model": "m\u001b[1m", "note": "\u001b[5m"}}})";
  for (const char* sub : {"show", "export", "show --json", "export --json"}) {
    SCOPED_TRACE(sub);
    r = qlab(std::string("progress ") + sub + " --progress p.json");
    EXPECT_EQ(r.code, 0) << r.err;
    expect_no_escapes(r.out);
    expect_no_escapes(r.err);
  }
}

// ---- item 13: messages that say what is wrong ----------------------------------------------------

TEST_F(Hardening, MessagesNameWhatIsWrong) {
  fs::create_directories(dir / "texts");
  QlabRun r = qlab("ppl builtin --text texts");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("texts: is a folder"), std::string::npos) << r.err;  // not "the text has 1 tokens"

  r = qlab("info " + quoted(builtin / "config.json"));
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("is a model's config"), std::string::npos) << r.err;  // not "weight_map is missing"

  const fs::path m = dir / "cfgdir";
  fs::create_directories(m / "config.json");
  fs::create_symlink(builtin / "model.safetensors", m / "model.safetensors");
  r = qlab("info " + quoted(m));
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("config.json: is a folder"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("config.json/config.json"), std::string::npos) << r.err;
}

TEST_F(Hardening, UnreadableFolderIsNotCalledMissing) {
  if (::geteuid() == 0) GTEST_SKIP() << "root reads any folder";
  const fs::path m = dir / "locked";
  fs::create_directories(m);
  fs::copy_file(builtin / "config.json", m / "config.json");
  fs::permissions(m, fs::perms::owner_write);  // no read, no search
  const QlabRun r = qlab("info " + quoted(m));
  fs::permissions(m, fs::perms::owner_all);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("ermission denied"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("no such file"), std::string::npos) << r.err;
}

// ---- item 14: values that are refused -------------------------------------------------------------

TEST_F(Hardening, NonFiniteAndNegativeValuesAreRefused) {
  for (const char* v : {"nan", "inf", "-inf", "1e999"}) {
    const QlabRun r = qlab(std::string("generate builtin --prompt hi -n 2 --temp ") + v);
    EXPECT_EQ(r.code, 2) << v << ": " << r.err;
    EXPECT_NE(r.err.find("--temp"), std::string::npos) << r.err;
  }
  const QlabRun r = qlab("train --preset tiny --steps 1 --out run --lr -1");
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("--lr must be a positive number"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir / "run"));
}

TEST_F(Hardening, TokenFileWordsAreWholeNumbers) {
  std::ofstream(dir / "t.txt", std::ios::binary) << std::string("2\0garbage 3", 11);
  const QlabRun r = qlab("logits builtin --tokens t.txt --out o.bin");
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(r.err.find("2\\x00garbage"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir / "o.bin"));
}

TEST_F(Hardening, NonFiniteWeightsNameTheTensor) {
  // the built-in model with one float of the final norm made NaN
  std::string bytes = slurp(builtin / "model.safetensors");
  std::uint64_t header = 0;
  std::memcpy(&header, bytes.data(), 8);
  const json h = json::parse(bytes.substr(8, header));
  const auto& t = h["model.norm.weight"];
  ASSERT_EQ(t["dtype"], "F32") << "the fixture changed: pick another F32 tensor";
  const std::size_t at = 8 + header + t["data_offsets"][0].get<std::size_t>() + 4 * 3;
  const std::uint32_t nan_bits = 0x7fc00000u;
  std::memcpy(bytes.data() + at, &nan_bits, 4);
  const fs::path m = builtin_with("model.safetensors", bytes);
  const QlabRun r = qlab("ppl " + quoted(m) + " --ctx 32");
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("model.norm.weight"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("element 3"), std::string::npos) << r.err;
}

TEST_F(Hardening, TrainerStateFieldsAreChecked) {
  QlabRun r = qlab("train --preset tiny --steps 2 --no-eval --out run");
  ASSERT_EQ(r.code, 0) << r.err;
  json state = json::parse(slurp(dir / "run" / "trainer_state.json"));
  for (const auto& [key, value] : std::vector<std::pair<std::string, json>>{
           {"batch", 1e9}, {"batch", 1000000000}, {"seq", -4}, {"lr", -1.0}, {"eps", 0.0}, {"beta2", 1.5},
           {"steps", "many"}, {"amax_compute_algo", "median"}}) {
    SCOPED_TRACE(key + " = " + value.dump());
    json bad = state;
    bad["options"][key] = value;
    std::ofstream(dir / "run" / "trainer_state.json") << bad.dump(1);
    r = qlab("train --resume run --out run2 --steps 3 --no-eval");
    EXPECT_EQ(r.code, 1) << r.err;
    EXPECT_NE(r.err.find("trainer_state.json"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(key), std::string::npos) << r.err;
    fs::remove_all(dir / "run2");
  }
}

// ---- item 7: synth-model's staging folder ---------------------------------------------------------

// A run killed by a signal it can handle removes its staging folder and ends by that signal; one
// that could not (SIGKILL) leaves it, and the next run into the same folder removes it, while a
// staging folder whose run is still going (it holds the folder's lock) is left alone.
TEST_F(Hardening, SynthModelLeavesNoStagingFolderBehind) {
  const std::string big = "synth-model --out " + quoted(dir / "m") +
                          " --layers 8 --hidden 1024 --heads 8 --intermediate 4096 --vocab 32000 --threads 2";
  auto staging = [&] {
    std::vector<fs::path> out;
    for (const auto& e : fs::directory_iterator(dir))
      if (e.path().filename().string().rfind("m.partial-", 0) == 0) out.push_back(e.path());
    return out;
  };
  for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGKILL}) {
    SCOPED_TRACE(sig);
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::execl("/bin/sh", "sh", "-c", ("exec '" + std::string(QLAB_BINARY) + "' " + big + " 2>/dev/null").c_str(),
              static_cast<char*>(nullptr));
      ::_exit(127);
    }
    // wait until the staging folder holds some of the model, then interrupt
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    bool writing = false;
    while (!writing && std::chrono::steady_clock::now() < until) {
      for (const auto& s : staging()) {
        std::error_code ec;
        for (const auto& f : fs::directory_iterator(s, ec))
          if (f.is_regular_file(ec) && f.file_size(ec) > 0) writing = true;
      }
      if (!writing) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    ASSERT_TRUE(writing) << "the run never started writing";
    ::kill(pid, sig);
    int status = 0;
    ::waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status)) << "exited " << WEXITSTATUS(status) << " instead of by the signal";
    EXPECT_EQ(WTERMSIG(status), sig);
    EXPECT_FALSE(fs::exists(dir / "m"));
    if (sig != SIGKILL) {
      EXPECT_TRUE(staging().empty()) << staging().front();
    }
  }
  ASSERT_EQ(staging().size(), 1u) << "SIGKILL leaves its staging folder";
  // A run still going (simulated: a staging folder whose lock is held) is left alone.
  const fs::path live = dir / "m.partial-1";
  fs::create_directories(live);
  std::ofstream(live / "config.json") << "{}";
  const int fd = ::open(live.c_str(), O_RDONLY | O_DIRECTORY);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::flock(fd, LOCK_EX), 0);
  const QlabRun r = qlab("synth-model --preset tiny --out m");
  ::close(fd);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(fs::exists(dir / "m" / "config.json"));
  EXPECT_EQ(staging(), std::vector<fs::path>{live});
  EXPECT_NE(r.out.find("wrote"), std::string::npos);
}

// ---- train: a signal finishes the step, saves and ends with 128 + the signal ----------------------

TEST_F(Hardening, TrainSavesTheLastStepWhenSignalled) {
  for (int sig : {SIGTERM, SIGINT}) {
    SCOPED_TRACE(sig);
    const fs::path out = dir / ("run-" + std::to_string(sig)), log = dir / ("log-" + std::to_string(sig));
    const std::string cmd = "exec '" + std::string(QLAB_BINARY) + "' train --preset tiny --steps 1000000 --no-eval " +
                            "--log-every 1 --threads 2 --out " + quoted(out) + " 2>" + quoted(log);
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    // wait for a few steps' progress lines, then interrupt
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (std::chrono::steady_clock::now() < until && slurp(log).find("step 3") == std::string::npos)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    ::kill(pid, sig);
    int status = 0;
    ::waitpid(pid, &status, 0);
    const std::string err = slurp(log);
    ASSERT_TRUE(WIFEXITED(status)) << err;
    EXPECT_EQ(WEXITSTATUS(status), 128 + sig) << err;
    EXPECT_NE(err.find("interrupted: finishing the step and saving"), std::string::npos) << err;
    const auto state = nlohmann::json::parse(slurp(out / "trainer_state.json"));
    EXPECT_GE(state.at("step").get<std::int64_t>(), 3);
    EXPECT_LT(state.at("step").get<std::int64_t>(), 1000000);
    EXPECT_TRUE(fs::exists(out / "model.safetensors"));
  }
}

}  // namespace
