// `qlab quantize`, run as the real binary: the built-in model written as each layout and run again by
// `qlab ppl` and `qlab info` from the written bytes, and the usage errors and one-line messages of bad
// input, with nothing left behind.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/cli/qlab_run.h"
#include "tests/folder_files.h"

namespace {

namespace fs = std::filesystem;
using qlab::testing::QlabRun;
using qlab::testing::quoted;

class QuantizeCli : public ::testing::Test {
 protected:
  fs::path dir;
  void SetUp() override { dir = qlab::testing::scratch_dir("qlab-quantize-cli"); }
  void TearDown() override { fs::remove_all(dir); }
  QlabRun qlab(const std::string& args) { return qlab::testing::run_qlab(dir, args); }
  std::string at(const std::string& leaf) const { return quoted(dir / leaf); }
  static std::string builtin() { return quoted(fs::path(QLAB_SOURCE_DIR) / "assets" / "builtin"); }
  std::vector<std::string> entries() const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir))
      if (e.path().filename().string()[0] != '.') names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }
};

void expect_one_line_error(const QlabRun& r, int code, const std::string& needle) {
  EXPECT_EQ(r.code, code) << r.err;
  ASSERT_FALSE(r.err.empty());
  EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "not one line: " << r.err;
  EXPECT_NE(r.err.find(needle), std::string::npos) << "'" << needle << "' not in: " << r.err;
}

double ppl_of(const nlohmann::json& j) { return j["ppl"].get<double>(); }

// A checkpoint of a format without per-tensor scales (MXFP4, FP8 per channel) holds exactly what
// `ppl --quant` fake-quantizes in memory, so the two perplexities agree to the last bit.
TEST_F(QuantizeCli, WrittenCheckpointsRunAsTheInMemoryQuantization) {
  for (const auto& [method, format] : {std::pair{"mxfp4", "mxfp4"}, std::pair{"fp8-channel", "fp8-channel"}}) {
    SCOPED_TRACE(method);
    QlabRun q = qlab(std::string("quantize ") + builtin() + " --method " + method + " --out " + at("q") + " --json");
    ASSERT_EQ(q.code, 0) << q.err;
    const auto qj = nlohmann::json::parse(q.out);
    EXPECT_EQ(qj["reread_check"], "passed");
    EXPECT_EQ(qj["quantized_tensors"].get<int>() % 7, 0);
    QlabRun a = qlab("ppl " + at("q") + " --chunks 4 --json");
    QlabRun b = qlab("ppl " + builtin() + " --quant " + format + " --chunks 4 --json");
    ASSERT_EQ(a.code, 0) << a.err;
    ASSERT_EQ(b.code, 0) << b.err;
    EXPECT_EQ(ppl_of(nlohmann::json::parse(a.out)), ppl_of(nlohmann::json::parse(b.out)));
    fs::remove_all(dir / "q");
  }
}

// W4A4: the calibration pass gives every Linear an input_scale; the checkpoint runs (weights
// dequantized from the packed bytes; activations are not quantized by the runtime).
TEST_F(QuantizeCli, W4A4WithCalibration) {
  QlabRun q = qlab("quantize " + builtin() + " --method nvfp4 --samples 4 --seq-len 32 --out " + at("q") + " --json");
  ASSERT_EQ(q.code, 0) << q.err;
  const auto j = nlohmann::json::parse(q.out);
  EXPECT_EQ(j["calibration"]["samples"], 4);
  EXPECT_EQ(j["calibration"]["seq_len"], 32);
  EXPECT_FALSE(j.contains("device")) << "auto on a machine without a GPU says nothing";
  QlabRun i = qlab("info --json " + at("q"));
  ASSERT_EQ(i.code, 0) << i.err;
  EXPECT_TRUE(nlohmann::json::parse(i.out)["config_check"].empty()) << i.out;
  EXPECT_EQ(qlab("ppl " + at("q") + " --chunks 2").code, 0);
}

TEST_F(QuantizeCli, InfoReadsTheLayoutBack) {
  ASSERT_EQ(qlab("quantize " + builtin() + " --method nvfp4-w4a16 --out " + at("q")).code, 0);
  QlabRun r = qlab("info --json " + at("q"));
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_TRUE(j["config_check"].empty()) << j["config_check"].dump();
  EXPECT_EQ(j["quantization"]["method"], "nvfp4-w4a16");
  EXPECT_EQ(j["quantization"]["export"], "modelopt");
  // 4 bits a weight + an E4M3 scale per 16 + one fp32 scalar per tensor
  const double bpw = j["quantization"]["packed_bits_per_weight"].get<double>();
  EXPECT_GT(bpw, 4.5);
  EXPECT_LT(bpw, 4.6);
  QlabRun ppl = qlab("ppl " + at("q") + " --chunks 2 --json");
  EXPECT_EQ(ppl.code, 0) << ppl.err;
}

TEST_F(QuantizeCli, BadInput) {
  expect_one_line_error(qlab("quantize " + builtin() + " --out " + at("q")), 2, "--method");
  expect_one_line_error(qlab("quantize " + builtin() + " --method int3 --out " + at("q")), 2, "--method");
  expect_one_line_error(qlab("quantize " + builtin() + " --method fp8-channel --calib x.txt --out " + at("q")), 2,
                        "activation scales");
  expect_one_line_error(qlab("quantize " + builtin() + " --method nvfp4 --calib missing.txt --out " + at("q")), 1,
                        "missing.txt");
  expect_one_line_error(qlab("quantize " + builtin() + " --method fp8 --export gguf --out " + at("q")), 2, "--export");
  expect_one_line_error(qlab("quantize " + builtin() + " --method mxfp4 --export modelopt --out " + at("q")), 1,
                        "compressed-tensors");
  EXPECT_EQ(entries(), std::vector<std::string>{});
  // the output inside the source
  ASSERT_EQ(qlab("synth-model --out " + at("m") + " --preset tiny").code, 0);
  expect_one_line_error(qlab("quantize " + at("m") + " --method fp8 --out " + at("m/q")), 1, "inside the source");
  // an exclude pattern that matches nothing: a warning, and the run goes on
  QlabRun w = qlab("quantize " + at("m") + " --method fp8 --out " + at("q") + " --exclude 'nope.*' --exclude '*.o_proj'");
  EXPECT_EQ(w.code, 0) << w.err;
  EXPECT_NE(w.err.find("warning: --exclude 'nope.*' matches no Linear module"), std::string::npos) << w.err;
  EXPECT_EQ(w.err.find("o_proj"), std::string::npos) << w.err;
  const QlabRun wi = qlab("info --json " + at("q"));  // both patterns applied: every o_proj kept
  ASSERT_EQ(wi.code, 0) << wi.err;
  const auto ignore = nlohmann::json::parse(wi.out)["quantization"]["ignore"];
  EXPECT_EQ(ignore, nlohmann::json::array({"lm_head", "model.layers.0.self_attn.o_proj",
                                           "model.layers.1.self_attn.o_proj"}));
  // an existing, non-empty --out is refused and kept as it was
  expect_one_line_error(qlab("quantize " + at("m") + " --method fp8 --out " + at("q")), 1, "q");
  EXPECT_TRUE(fs::exists(dir / "q" / "config.json"));
  // a shard missing
  ASSERT_EQ(qlab("synth-model --out " + at("s") +
                 " --layers 2 --hidden 256 --heads 4 --intermediate 512 --vocab 256 --max-shard-mb 1").code, 0);
  for (const auto& e : fs::directory_iterator(dir / "s"))
    if (e.path().filename().string().find("-00002-of-") != std::string::npos) fs::remove(e.path());
  expect_one_line_error(qlab("quantize " + at("s") + " --method fp8 --out " + at("t")), 1, "00002");
  EXPECT_EQ(entries(), (std::vector<std::string>{"m", "q", "s"}));
}

// GPTQ, AWQ and RTN integer checkpoints: each written in every layout that holds it, then read back by
// `qlab ppl` from the packed bytes; the perplexity equals the in-memory quantization's (`ppl --quant
// F --method M` with the same calibration) to the last bit, so the packing, the bit order and the
// folded AWQ norms all survive the file.
TEST_F(QuantizeCli, IntegerCheckpointsRunAsTheInMemoryQuantization) {
  const std::string calib = " --samples 8 --seq-len 64";
  struct Case {
    const char* method;
    const char* layout;
    const char* extra;
  };
  for (const Case& c : {Case{"rtn", "gptq", ""}, Case{"rtn", "awq", ""}, Case{"rtn", "compressed-tensors", ""},
                        Case{"gptq", "gptq", " --act-order"}, Case{"gptq", "compressed-tensors", " --act-order"},
                        Case{"gptq", "awq", " --device cpu"}, Case{"awq", "awq", ""},
                        Case{"awq", "compressed-tensors", ""}}) {
    SCOPED_TRACE(std::string(c.method) + " as " + c.layout + c.extra);
    const std::string opts = std::string(" --method ") + c.method + c.extra + (std::string(c.method) == "rtn" ? "" : calib);
    QlabRun q = qlab("quantize " + builtin() + opts + " --format int4-g32 --export " + c.layout + " --out " + at("q") +
                     " --json");
    ASSERT_EQ(q.code, 0) << q.err;
    const auto qj = nlohmann::json::parse(q.out);
    // where calibration ran is said when --device was given (auto on a machine without a GPU says nothing)
    if (std::string(c.extra).find("--device cpu") != std::string::npos) EXPECT_EQ(qj["device"], "cpu");
    else EXPECT_FALSE(qj.contains("device"));
    EXPECT_EQ(qj["reread_check"], "passed");
    EXPECT_EQ(qj["quantized_linears"], 28);
    EXPECT_EQ(qj["export"], c.layout);
    QlabRun a = qlab("ppl " + at("q") + " --chunks 4 --json");
    QlabRun b = qlab("ppl " + builtin() + " --quant int4-g32" + opts + " --chunks 4 --json");
    ASSERT_EQ(a.code, 0) << a.err;
    ASSERT_EQ(b.code, 0) << b.err;
    EXPECT_EQ(ppl_of(nlohmann::json::parse(a.out)), ppl_of(nlohmann::json::parse(b.out)));
    QlabRun i = qlab("info " + at("q") + " --json");
    ASSERT_EQ(i.code, 0) << i.err;
    const auto ij = nlohmann::json::parse(i.out);
    EXPECT_TRUE(ij["config_check"].empty()) << ij["config_check"].dump();
    EXPECT_EQ(ij["quantization"]["export"], c.layout);
    EXPECT_EQ(ij["quantization"]["packed_linear_weights"], 28);
    // 4-bit codes plus a float16 scale and a 4-bit zero per 32 weights: 4.625 bits in AWQ; GPTQ adds its
    // int32 g_idx per input column (0.09-0.5 bits on these 64- to 256-row Linears); compressed-tensors
    // stores this float32 model's scales as float32 (+0.5), and g_idx only with act-order
    const double bpw = ij["quantization"]["packed_bits_per_weight"].get<double>();
    EXPECT_GE(bpw, 4.625);
    EXPECT_LT(bpw, 5.6);
    if (std::string(c.method) == "gptq" && std::string(c.layout) == "gptq") {
      // AutoGPTQ's quantize_config.json beside config.json's block, desc_act as asked
      std::ifstream f(dir / "q" / "quantize_config.json");
      const auto qc = nlohmann::json::parse(f);
      EXPECT_EQ(qc["desc_act"], true);
      EXPECT_EQ(qc["group_size"], 32);
      EXPECT_EQ(qc["checkpoint_format"], "gptq");
    }
    fs::remove_all(dir / "q");
  }
}

TEST_F(QuantizeCli, IntegerBadInput) {
  // the built-in model's 64-wide inputs hold no group of 128: refused before any work, nothing written
  expect_one_line_error(qlab("quantize " + builtin() + " --method gptq --format int4-g128 --out " + at("q")), 1,
                        "not a multiple of the group of 128");
  expect_one_line_error(qlab("quantize " + builtin() + " --method gptq --act-order --format int4-g32 --export awq --out " +
                             at("q")), 1, "act-order");
  expect_one_line_error(qlab("quantize " + builtin() + " --method rtn --format int4-g32-sym --export awq --out " + at("q")),
                        1, "symmetric");
  expect_one_line_error(qlab("quantize " + builtin() + " --method rtn --format int3-g32 --out " + at("q")), 1, "3-bit");
  EXPECT_TRUE(entries().empty());
  // usage errors
  EXPECT_EQ(qlab("quantize " + builtin() + " --method gptq --format nvfp4 --out " + at("q")).code, 2);
  EXPECT_EQ(qlab("quantize " + builtin() + " --method rtn --act-order --format int4-g32 --out " + at("q")).code, 2);
  EXPECT_EQ(qlab("quantize " + builtin() + " --method rtn --samples 4 --format int4-g32 --out " + at("q")).code, 2);
  EXPECT_EQ(qlab("quantize " + builtin() + " --method nvfp4 --format int4-g32 --out " + at("q")).code, 2);
  EXPECT_EQ(qlab("quantize " + builtin() + " --method gptq --export modelopt --format int4-g32 --out " + at("q")).code, 2);
  // --device places calibration: a method that runs no model refuses it; a bad name is a usage error
  EXPECT_EQ(qlab("quantize " + builtin() + " --method rtn --device cpu --format int4-g32 --out " + at("q")).code, 2);
  EXPECT_EQ(qlab("quantize " + builtin() + " --method fp8-channel --device cpu --out " + at("q")).code, 2);
  EXPECT_EQ(qlab("quantize " + builtin() + " --method mxfp4 --gpu-math bf16 --out " + at("q")).code, 2);
  EXPECT_EQ(qlab("quantize " + builtin() + " --method gptq --device tpu --format int4-g32 --out " + at("q")).code, 2);
  EXPECT_TRUE(entries().empty());
  // an existing --out is refused and left as it was
  fs::create_directories(dir / "q");
  { std::ofstream(dir / "q" / "mine.txt") << "keep"; }
  EXPECT_EQ(qlab("quantize " + builtin() + " --method rtn --format int4-g32 --out " + at("q")).code, 1);
  EXPECT_EQ(qlab("quantize " + builtin() + " --method rtn --format int4-g32 --force --out " + at("q")).code, 1);
  EXPECT_TRUE(fs::exists(dir / "q" / "mine.txt"));
  EXPECT_EQ(entries(), (std::vector<std::string>{"q"}));
  // --force replaces a model folder: a first checkpoint, then another format over it
  fs::remove_all(dir / "q");
  ASSERT_EQ(qlab("quantize " + builtin() + " --method rtn --format int4-g32 --out " + at("q")).code, 0);
  expect_one_line_error(qlab("quantize " + builtin() + " --method rtn --format int8-g32 --out " + at("q")), 1,
                        "--force");
  const QlabRun f = qlab("quantize " + builtin() + " --method rtn --format int8-g32 --force --out " + at("q") + " --json");
  ASSERT_EQ(f.code, 0) << f.err;
  std::ifstream qc(dir / "q" / "quantize_config.json");
  EXPECT_EQ(nlohmann::json::parse(qc)["bits"], 8);
  EXPECT_EQ(entries(), (std::vector<std::string>{"q"}));
}

// ---- --resume after a kill -----------------------------------------------------------------------------

// Starts `qlab args` in dir, waits until `ready` holds, then kills it with SIGKILL. False when the run
// ended first (or never got there in 60 s).
bool kill_when(const fs::path& dir, const std::string& args, const std::function<bool()>& ready) {
  const pid_t pid = ::fork();
  if (pid < 0) return false;
  if (pid == 0) {
    if (::chdir(dir.c_str()) != 0) ::_exit(127);
    ::execl("/bin/sh", "sh", "-c", ("exec '" + std::string(QLAB_BINARY) + "' " + args + " >/dev/null 2>&1").c_str(),
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  int status = 0;
  while (!ready()) {
    if (::waitpid(pid, &status, WNOHANG) == pid || std::chrono::steady_clock::now() > until) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, &status, 0);
  return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
}

// Complete shards recorded in a streamed run's journal (its staging folder beside `out`).
std::size_t journal_shards(const fs::path& dir, const std::string& out) {
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().filename().string().rfind(out + ".partial-", 0) != 0) continue;
    std::ifstream in(e.path() / "qlab-resume.json");
    if (!in) continue;
    try {
      return nlohmann::json::parse(in)["shards"].size();
    } catch (...) {
      return 0;  // caught mid-rename: not yet
    }
  }
  return 0;
}

// A run killed with SIGKILL mid-way -- streamed, after two complete shards; GPTQ and AWQ, after two
// finished decoder layers -- leaves what it finished beside --out and nothing at --out; a plain rerun
// refuses to throw it away; the same command with --resume finishes the run, and the folder it writes
// is byte for byte the one an uninterrupted run writes.
TEST_F(QuantizeCli, KilledRunsResumeToTheSameCheckpoint) {
  // Sizes for a run of about a second on two cores: large Linears for the stream (0.13 GB), six small
  // layers for the calibrated methods (the built-in tokenizer and text).
  ASSERT_EQ(qlab("synth-model --out big --layers 4 --hidden 1024 --heads 8 --intermediate 4096 --vocab 768 "
                 "--threads 2").code, 0);
  ASSERT_EQ(qlab("synth-model --out small --layers 6 --hidden 256 --heads 4 --intermediate 768 --vocab 768 "
                 "--threads 2").code, 0);
  for (const char* f : {"tokenizer.json", "tokenizer_config.json", "calib.txt"})
    fs::copy_file(fs::path(QLAB_SOURCE_DIR) / "assets" / "builtin" / f, dir / "small" / f);
  const auto layers_done = [&] {
    std::ifstream in(dir / "out.qlab-layers" / "journal.json");
    try {
      return in ? nlohmann::json::parse(in)["layers"].size() : 0;
    } catch (...) {
      return std::size_t{0};
    }
  };
  struct Case {
    std::string args;
    std::function<bool()> ready;
    std::string refusal;
  };
  const std::vector<Case> cases = {
      {"big --method fp8-channel --max-shard-mb 8", [&] { return journal_shards(dir, "out") >= 2; }, "complete shards"},
      {"small --method gptq --format int4-g64 --samples 8 --seq-len 64", [&] { return layers_done() >= 2; },
       "finished layers"},
      {"small --method awq --format int4-g64 --samples 8 --seq-len 64", [&] { return layers_done() >= 2; },
       "finished layers"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.args);
    const std::string cmd = "quantize " + c.args + " --out ";
    ASSERT_EQ(qlab(cmd + "ref").code, 0);
    ASSERT_TRUE(kill_when(dir, cmd + "out", c.ready)) << "the run was not caught mid-way";
    EXPECT_FALSE(fs::exists(dir / "out"));
    expect_one_line_error(qlab(cmd + "out"), 1, c.refusal);
    const QlabRun r = qlab(cmd + "out --resume --json");
    ASSERT_EQ(r.code, 0) << r.err;
    const nlohmann::json j = nlohmann::json::parse(r.out);
    EXPECT_GE(j.contains("resumed_shards") ? j["resumed_shards"].get<int>() : j["resumed_layers"].get<int>(), 2);
    EXPECT_EQ(qlab::testing::folder_files(dir / "out"), qlab::testing::folder_files(dir / "ref"));
    EXPECT_EQ(entries(), (std::vector<std::string>{"big", "out", "ref", "small"})) << "nothing left beside --out";
    fs::remove_all(dir / "out");
    fs::remove_all(dir / "ref");
  }
}

}  // namespace
