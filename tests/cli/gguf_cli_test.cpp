// `qlab gguf`, `qlab imatrix` and the GGUF readers of `qlab ppl` / `info`, run as the real binary and
// checked against what llama.cpp's own tools made (tests/fixtures/gguf, gen_gguf_models.py):
//   every tensor of every file llama-quantize wrote from qlab's F32 GGUF (each file type, with and
//   without an imatrix, --pure, the type flags), byte for byte; qlab's perplexity on each file type
//   against llama-perplexity's; qlab's imatrix against llama-imatrix's; llama.cpp-written files read.
#include <gtest/gtest.h>

#include <sys/resource.h>
#include <sys/wait.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>

#include <nlohmann/json.hpp>

#include "engine/core/atomic_file.h"
#include "engine/gguf/gguf_file.h"
#include "engine/gguf/imatrix_file.h"
#include "tests/cli/plain_text.h"
#include "tests/cli/qlab_run.h"
#include "tests/sanitizer_build.h"
#include "tests/unit/gguf/gguf_fixtures.h"

namespace {

namespace fs = std::filesystem;
using qlab::testing::quoted;
using qlab::gguf::testing::fixture;
using qlab::gguf::testing::fixture_json;

fs::path builtin_dir() { return fs::path(QLAB_SOURCE_DIR) / "assets/builtin"; }

// The built-in model's eval text with its document separator "<|endoftext|>" written as a line
// break, as gen_gguf_models.py gave it to llama-perplexity: text whose tokens do not depend on
// whether special tokens are parsed (llama-perplexity never parses them).
fs::path write_plain_eval(const fs::path& dir) {
  const std::string t = qlab::testing::endoftext_as_line_breaks(qlab::read_file(builtin_dir() / "eval.txt"));
  std::ofstream(dir / "eval_plain.txt", std::ios::binary) << t;
  return dir / "eval_plain.txt";
}

// Per tensor: [name, ggml type id, FNV-1a-64 of its bytes], as gen_gguf_models.py records them.
nlohmann::json tensor_hashes(const fs::path& file) {
  const auto f = qlab::gguf::GgufFile::open(file);
  nlohmann::json out = nlohmann::json::array();
  for (const auto& t : f.tensors())
    out.push_back({t.name, static_cast<std::uint32_t>(t.type), qlab::gguf::testing::fnv1a64(t.data)});
  return out;
}

class GgufCli : public ::testing::Test {
 protected:
  static fs::path shared;  // the synthetic model, made once
  static void SetUpTestSuite() {
    shared = fs::temp_directory_path() / ("qlab-gguf-cli-" + std::to_string(::getpid()));
    fs::remove_all(shared);
    fs::create_directories(shared);
    const auto fx = fixture_json("whole_file.json");
    std::string args;
    for (const auto& a : fx["models"]["synth"]["synth_model"]) {
      args += ' ';
      args += a.get<std::string>();
    }
    const auto r = qlab::testing::run_qlab(shared, "synth-model --out synth" + args);
    ASSERT_EQ(r.code, 0) << r.err;
    for (const char* f : {"tokenizer.json", "tokenizer_config.json"}) fs::copy_file(builtin_dir() / f, shared / "synth" / f);
  }
  static void TearDownTestSuite() { fs::remove_all(shared); }

  fs::path dir;
  void SetUp() override { dir = qlab::testing::scratch_dir("qlab-gguf-cli"); }
  void TearDown() override { fs::remove_all(dir); }
  qlab::testing::QlabRun qlab(const std::string& args) { return qlab::testing::run_qlab(dir, args); }
  static std::string model_arg(const std::string& m) { return m == "builtin" ? "builtin" : quoted(shared / "synth"); }
};
fs::path GgufCli::shared;

void expect_one_line_error(const qlab::testing::QlabRun& r, const std::string& needle) {
  EXPECT_EQ(r.code, 1) << r.err;
  ASSERT_FALSE(r.err.empty());
  EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "not one line: " << r.err;
  EXPECT_NE(r.err.find(needle), std::string::npos) << "'" << needle << "' not in: " << r.err;
}

TEST_F(GgufCli, F32InputsAreTheOnesLlamaCppQuantized) {
  const auto fx = fixture_json("whole_file.json");
  for (const std::string m : {"builtin", "synth"}) {
    const auto r = qlab("gguf " + model_arg(m) + " --type F32 --out f32.gguf");
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(tensor_hashes(dir / "f32.gguf"), fx["models"][m]["f32_tensors"]) << m;
  }
}

TEST_F(GgufCli, EveryTensorEqualsLlamaQuantizes) {
  const auto fx = fixture_json("whole_file.json");
  int compared = 0, refused = 0;
  for (const auto& c : fx["cases"]) {
    const std::string m = c["model"], ft = c["ftype"];
    std::string args;
    for (const auto& a : c["args"]) {
      const std::string v = a.get<std::string>();
      args += ' ';
      args += quoted(v == "IMATRIX" ? fixture(fx["models"][m]["imatrix"]["file"].get<std::string>()) : fs::path(v));
    }
    const auto r = qlab("gguf " + model_arg(m) + " --type " + ft + args + " --out out.gguf");
    const std::string what = m + " " + ft + " " + c["options"].get<std::string>();
    if (c.value("error", false)) {
      expect_one_line_error(r, "");
      EXPECT_FALSE(fs::exists(dir / "out.gguf")) << what;
      ++refused;
      continue;
    }
    ASSERT_EQ(r.code, 0) << what << ": " << r.err;
    EXPECT_EQ(tensor_hashes(dir / "out.gguf"), c["tensors"]) << what;
    fs::remove(dir / "out.gguf");
    ++compared;
  }
  EXPECT_GT(compared, 60);
  EXPECT_GT(refused, 0);  // --pure k-quants on the built-in model's 64-element rows
}

TEST_F(GgufCli, PerplexityEqualsLlamaPerplexitys) {
  // Same tokens, same protocol (chunks of 128, BOS first, second half scored), same weights
  // (byte-identical, tested above), same activation rounding: what is left is llama.cpp's f16 KV
  // cache (and flash attention's f16 accumulation) and summation order, 0.05 % at most here.
  // Contract: within 0.1 %.
  const auto fx = fixture_json("whole_file.json");
  const std::string text = quoted(write_plain_eval(dir));
  for (const auto& p : fx["perplexity"]["results"]) {
    const std::string ft = p["ftype"], opt = p["options"];
    std::string extra;
    if (opt == "imatrix") extra = " --imatrix " + quoted(fixture("builtin.imatrix.gguf"));
    if (opt == "pure") extra = " --pure";
    ASSERT_EQ(qlab("gguf builtin --type " + ft + extra + " --out m.gguf").code, 0) << ft;
    const auto r = qlab("ppl m.gguf --text " + text + " --ctx 128 --json");
    ASSERT_EQ(r.code, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    const double ours = j["ppl"], theirs = p["ppl"];
    EXPECT_LT(std::fabs(ours - theirs) / theirs, 1e-3) << ft << " " << opt << ": qlab " << ours << ", llama.cpp " << theirs;
    std::printf("  %-10s %-8s qlab %.4f  llama-perplexity %.4f  %.3f %%\n", ft.c_str(), opt.c_str(), ours, theirs,
                100 * std::fabs(ours - theirs) / theirs);
    EXPECT_EQ(j["chunks"].get<int>(), p["chunks"].get<int>()) << ft;
  }
}

TEST_F(GgufCli, ReadsFilesLlamaCppWrote) {
  const auto fx = fixture_json("whole_file.json");
  auto llama_ppl = [&](const std::string& ft, const std::string& opt) {
    for (const auto& p : fx["perplexity"]["results"])
      if (p["ftype"] == ft && p["options"] == opt) return p["ppl"].get<double>();
    ADD_FAILURE() << "no result for " << ft;
    return 0.0;
  };
  for (const auto& [file, ft, opt] : {std::tuple{"llama_cpp_q4_K_M.gguf", "Q4_K_M", "default"},
                                      std::tuple{"llama_cpp_mxfp4.gguf", "MXFP4_MOE", "pure"}}) {
    const auto r = qlab("ppl " + quoted(fixture(file)) + " --text " + quoted(write_plain_eval(dir)) + " --json");
    ASSERT_EQ(r.code, 0) << r.err;
    const double ours = nlohmann::json::parse(r.out)["ppl"], theirs = llama_ppl(ft, opt);
    EXPECT_LT(std::fabs(ours - theirs) / theirs, 1e-3) << file;
    const auto info = qlab("info --json " + quoted(fixture(file)));
    ASSERT_EQ(info.code, 0) << info.err;
    const auto j = nlohmann::json::parse(info.out);
    EXPECT_EQ(j["architecture"], "llama");
    EXPECT_EQ(j["tokenizer"]["model"], "gpt2");
    EXPECT_EQ(j["tokenizer"]["pre"], "gpt-2");
  }
  const auto g = qlab("generate " + quoted(fixture("llama_cpp_q4_K_M.gguf")) + " --prompt 'Iris had six cakes.' -n 8");
  EXPECT_EQ(g.code, 0) << g.err;
  EXPECT_EQ(g.out.rfind("Iris had six cakes.", 0), 0u) << g.out;
}

TEST_F(GgufCli, ImatrixEqualsLlamaImatrixs) {
  // llama-imatrix sums squares in float32 over every token (13 824 of them here) and runs
  // attention with an f16 KV cache; qlab sums in double with float32 attention. Each sum agrees to
  // 2e-3 relative (the worst float32 accumulation over that many terms), their mean to 1e-4.
  const auto fx = fixture_json("whole_file.json");
  for (const std::string m : {"builtin", "synth"}) {
    const auto& im = fx["models"][m]["imatrix"];
    std::string args = " --ctx " + std::to_string(im["ctx"].get<int>());
    if (!im["chunks"].is_null()) args += " --chunks " + im["chunks"].get<std::string>();
    const auto r = qlab("imatrix " + model_arg(m) + args + " --calib " + quoted(builtin_dir() / "calib.txt") +
                        " --out im.gguf");
    ASSERT_EQ(r.code, 0) << r.err;
    const auto ours = qlab::gguf::read_imatrix(dir / "im.gguf");
    const auto theirs = qlab::gguf::read_imatrix(fixture(im["file"].get<std::string>()));
    EXPECT_EQ(ours.chunk_count, theirs.chunk_count);
    EXPECT_EQ(ours.chunk_size, theirs.chunk_size);
    ASSERT_EQ(ours.entries.size(), theirs.entries.size());
    double worst = 0, sum = 0;
    std::size_t n = 0;
    for (const auto& [name, e] : theirs.entries) {
      ASSERT_TRUE(ours.entries.count(name)) << name;
      const auto& o = ours.entries.at(name);
      EXPECT_EQ(o.counts, e.counts) << name;
      ASSERT_EQ(o.sums.size(), e.sums.size()) << name;
      for (std::size_t i = 0; i < e.sums.size(); ++i) {
        const double rel = std::fabs(o.sums[i] - e.sums[i]) / std::max(1e-30, std::fabs(static_cast<double>(e.sums[i])));
        worst = std::max(worst, rel);
        sum += rel;
        ++n;
      }
    }
    EXPECT_LT(worst, 2e-3) << m;
    EXPECT_LT(sum / static_cast<double>(n), 1e-4) << m;
  }
}

// The largest resident set, in kB, of `sh -c cmd` (which execs qlab); -1 when it did not exit 0.
long max_rss_kb(const std::string& cmd) {
  const pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  int status = 0;
  struct rusage ru {};
  if (wait4(pid, &status, 0, &ru) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) return -1;
  return ru.ru_maxrss;
}

TEST_F(GgufCli, StreamsOneTensorAtATime) {
  // 8 layers of 512 x 1536 MLPs: 109 MB of float32 weights, the largest tensor 3.1 MB. The
  // conversion's resident memory stays far below the model (the mapped pages of each converted
  // tensor are released); a whole-model copy would be over 100 MB. Measured above the binary's own
  // resident set at start (the shared libraries it loads, e.g. a CUDA build's cuBLAS, alone take
  // over 200 MB).
  if (qlab::testing::kSanitizerBuild) GTEST_SKIP() << "a sanitizer's quarantine keeps freed memory resident";
  ASSERT_EQ(qlab("synth-model --out big --layers 8 --hidden 512 --heads 8 --intermediate 1536 --vocab 512 --dtype f32").code, 0);
  const std::string in_dir = "cd " + quoted(dir) + " && exec '" + QLAB_BINARY + "'";
  const long idle = max_rss_kb(in_dir + " info big");
  const long converting = max_rss_kb(in_dir + " gguf big --type Q4_K_M --out big.gguf");
  ASSERT_GT(idle, 0);
  ASSERT_GT(converting, 0);
  EXPECT_LT(converting - idle, 40 * 1024) << "max RSS " << converting << " kB, " << idle << " kB at rest";
}

TEST_F(GgufCli, InterruptLeavesNoFile) {
  ASSERT_EQ(qlab("synth-model --out big --layers 8 --hidden 512 --heads 8 --intermediate 1536 --vocab 512 --dtype f32").code, 0);
  const std::string cmd = "cd " + quoted(dir) + " && exec '" + QLAB_BINARY + "' gguf big --type Q2_K --threads 1 --out big.gguf";
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  // Wait until the temporary file exists (tensors are being written), then interrupt.
  bool started = false;
  for (int i = 0; i < 2000 && !started; ++i) {
    for (const auto& e : fs::directory_iterator(dir))
      if (e.path().filename().string().rfind("big.gguf", 0) == 0) started = true;
    if (!started) usleep(5000);
  }
  EXPECT_TRUE(started);
  kill(pid, SIGINT);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 130);
  for (const auto& e : fs::directory_iterator(dir))
    EXPECT_NE(e.path().filename().string().rfind("big.gguf", 0), 0u) << "left behind: " << e.path();
}

}  // namespace
