// Lab 6 on the built-in model: the table of GGUF types (sizes and bits per weight from the files,
// perplexity and KL-divergence as llama.cpp runs them), the files left in the step's folder, and the
// test step without llama.cpp (qlab's reader loads the file and the screen says so) with its Modelfile,
// and with a llama-perplexity found in LLAMA_CPP_DIR: the program is run on the step's own file and
// text with the step's context and chunks, and its answer, or its failure, is what the screen shows.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <vector>

#include "engine/core/atomic_file.h"
#include "engine/gguf/gguf_file.h"
#include "labs/lab.h"
#include "labs/lab06_gguf.h"
#include "tests/temp_dir.h"

namespace qlab::labs {
namespace {

namespace fs = std::filesystem;

class Lab06Test : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::filesystem::path tmpl = qlab::testing::make_temp_dir("qlab-lab06");
    ASSERT_FALSE(tmpl.empty()) << "cannot make a temporary folder";
    out_ = tmpl;
  }
  void TearDown() override { fs::remove_all(out_); }
  StepResult run(const std::string& id, ParamValues params) {
    JobContext ctx;
    ctx.model.display = "built-in";
    ctx.model.dir = fs::path(QLAB_SOURCE_DIR) / "assets/builtin";
    ctx.builtin_dir = ctx.model.dir;
    ctx.out_dir = out_;
    ctx.params = std::move(params);
    return run_step(*find_lab("lab06")->find(id), ctx, Progress::none(), {});
  }
  static std::string all_text(const StepResult& r) {
    std::string s;
    for (const auto& b : r.blocks)
      if (auto t = std::get_if<Text>(&b)) s += t->body + "\n";
    return s;
  }
  fs::path out_;
};

TEST_F(Lab06Test, ConvertTabulatesEveryTypeFromItsFile) {
  const StepResult r = run("lab06.convert", {{"chunks", "24"}});
  ASSERT_EQ(r.outcome, Outcome::Done) << r.message;
  const auto& rows = r.record["rows"];
  ASSERT_EQ(rows.size(), lab06_types().size());  // the built-in calibration text is long enough for an imatrix
  EXPECT_TRUE(fs::exists(out_ / "imatrix.gguf"));
  for (const auto& row : rows) {
    const fs::path f = out_ / row["file"].get<std::string>();
    ASSERT_TRUE(fs::exists(f)) << f;
    EXPECT_EQ(fs::file_size(f), row["bytes"].get<std::uint64_t>());
    // bits per weight from the file's own tensors
    const auto g = gguf::GgufFile::open(f);
    std::uint64_t bytes = 0;
    std::int64_t n = 0;
    for (const auto& t : g.tensors()) {
      bytes += t.size_bytes;
      n += t.elements();
    }
    EXPECT_NEAR(row["bits_per_weight"].get<double>(), 8.0 * static_cast<double>(bytes) / static_cast<double>(n), 1e-9);
    EXPECT_GT(row["kld"].get<double>(), 0.0) << row["type"];
    EXPECT_NEAR(row["ppl_change"].get<double>(), row["ppl"].get<double>() - r.record["base_ppl"].get<double>(), 1e-9);
  }
  // Fewer bits, further from the original: Q8_0 is the closest and the smallest file is Q2_K's.
  EXPECT_LT(rows[0]["kld"].get<double>(), rows[5]["kld"].get<double>());
  EXPECT_GT(rows[0]["bytes"].get<std::uint64_t>(), rows[5]["bytes"].get<std::uint64_t>());
  EXPECT_EQ(rows[6]["type"], "Q4_K_M +imatrix");
}

TEST_F(Lab06Test, WithoutLlamaCppQlabsReaderLoadsTheFileAndTheScreenSaysSo) {
  const char* path = std::getenv("PATH");
  const std::string saved_path = path ? path : "";
  const char* dir = std::getenv("LLAMA_CPP_DIR");
  const std::string saved_dir = dir ? dir : "";
  ::setenv("PATH", "/nonexistent", 1);
  ::unsetenv("LLAMA_CPP_DIR");
  const StepResult r = run("lab06.llama_cpp", {{"chunks", "8"}});
  ::setenv("PATH", saved_path.c_str(), 1);
  if (dir) ::setenv("LLAMA_CPP_DIR", saved_dir.c_str(), 1);
  ASSERT_EQ(r.outcome, Outcome::Done) << r.message;
  EXPECT_EQ(r.record["loaded_by"], "qlab");
  const std::string text = all_text(r);
  EXPECT_NE(text.find("The file was loaded by qlab."), std::string::npos) << text;
  EXPECT_NE(text.find("DGGML_CUDA=ON"), std::string::npos);  // how to build it for the GB10
  EXPECT_NE(text.find("ollama create"), std::string::npos);
  EXPECT_NE(text.find("ollama run"), std::string::npos);
  EXPECT_TRUE(fs::exists(out_ / "model-Q4_K_M.gguf"));
  const std::string mf = read_file(out_ / "Modelfile");
  EXPECT_EQ(mf.rfind("FROM ./model-Q4_K_M.gguf\n", 0), 0u) << mf;
  EXPECT_NE(mf.find("TEMPLATE \"\"\"{{ .Prompt }}\"\"\""), std::string::npos) << mf;  // a base model: no chat template
  EXPECT_NE(mf.find("PARAMETER stop \"<|endoftext|>\""), std::string::npos) << mf;
}

// LLAMA_CPP_DIR set to a folder for the length of a scope, PATH emptied (the machine's own llama.cpp,
// if any, must not be found first), both restored after.
class LlamaCppDir {
 public:
  explicit LlamaCppDir(const fs::path& dir) {
    if (const char* p = std::getenv("PATH")) path_ = p;
    if (const char* d = std::getenv("LLAMA_CPP_DIR")) dir_ = d;
    ::setenv("PATH", "/nonexistent", 1);
    ::setenv("LLAMA_CPP_DIR", dir.c_str(), 1);
  }
  ~LlamaCppDir() {
    ::setenv("PATH", path_.c_str(), 1);
    if (dir_) {
      ::setenv("LLAMA_CPP_DIR", dir_->c_str(), 1);
    } else {
      ::unsetenv("LLAMA_CPP_DIR");
    }
  }

 private:
  std::string path_;
  std::optional<std::string> dir_;
};

// A stand-in llama-perplexity in dir/build/bin (where a llama.cpp checkout builds it): it saves its
// arguments one per line to dir/args, then prints `output` (no single quotes in it) and exits with
// `status`. Shell builtins only: PATH is emptied while it runs.
void write_stand_in(const fs::path& dir, const std::string& output, int status) {
  fs::create_directories(dir / "build/bin");
  const fs::path bin = dir / "build/bin/llama-perplexity";
  std::ofstream(bin) << "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done > '" << (dir / "args").string()
                     << "'\nprintf '%s\\n' '" << output << "'\nexit " << status << "\n";
  fs::permissions(bin, fs::perms::owner_all);
}

std::vector<std::string> lines_of(const fs::path& p) {
  std::vector<std::string> v;
  std::istringstream in(read_file(p));
  for (std::string l; std::getline(in, l);) v.push_back(l);
  return v;
}

TEST_F(Lab06Test, WithLlamaCppItsPerplexityIsShownBesideQlabs) {
  const fs::path llama = out_ / "llama.cpp";
  write_stand_in(llama, "perplexity: calculating perplexity over 8 chunks\n[1]12.5,[2]13.25\n"
                        "Final estimate: PPL = 13.2500 +/- 0.41230", 0);
  StepResult r;
  {
    LlamaCppDir env(llama);
    r = run("lab06.llama_cpp", {{"chunks", "8"}});
  }
  ASSERT_EQ(r.outcome, Outcome::Done) << r.message;
  EXPECT_EQ(r.record["loaded_by"], "llama.cpp");
  EXPECT_EQ(r.record["llama_cpp_ppl"].get<double>(), 13.25);
  const std::string text = all_text(r);
  EXPECT_NE(text.find("The file was loaded by llama.cpp."), std::string::npos) << text;
  EXPECT_EQ(text.find("DGGML_CUDA=ON"), std::string::npos);  // no build instructions: it was found
  // The program scored the step's own file and text with the step's context and chunk count.
  const auto args = lines_of(llama / "args");
  auto after = [&](const std::string& flag) {
    const auto it = std::find(args.begin(), args.end(), flag);
    return it != args.end() && it + 1 != args.end() ? *(it + 1) : std::string();
  };
  EXPECT_EQ(after("-m"), (out_ / "model-Q4_K_M.gguf").string());
  EXPECT_EQ(after("-f"), (out_ / "eval_plain.txt").string());
  EXPECT_EQ(after("-c"), std::to_string(r.record["n_ctx"].get<std::int64_t>()));
  EXPECT_EQ(r.record["chunks"], 8);
  EXPECT_EQ(after("--chunks"), "8");
  // Both perplexities in one table.
  bool table = false;
  for (const auto& b : r.blocks)
    if (auto t = std::get_if<Table>(&b)) {
      ASSERT_EQ(t->rows.size(), 2u);
      EXPECT_EQ(t->rows[0][0], "qlab");
      EXPECT_EQ(t->rows[1][1], "13.2500");
      EXPECT_EQ(t->rows[1][2], "0.4123");
      table = true;
    }
  EXPECT_TRUE(table);
}

TEST_F(Lab06Test, ALlamaCppThatFailsIsReportedAndQlabsReaderStillLoadsTheFile) {
  const fs::path llama = out_ / "llama.cpp";
  write_stand_in(llama, "llama_model_load: error loading model: something it did not like", 1);
  StepResult r;
  {
    LlamaCppDir env(llama);
    r = run("lab06.llama_cpp", {{"chunks", "8"}});
  }
  ASSERT_EQ(r.outcome, Outcome::Done) << r.message;
  EXPECT_EQ(r.record["loaded_by"], "qlab");
  EXPECT_FALSE(r.record.contains("llama_cpp_ppl"));
  const std::string text = all_text(r);
  EXPECT_NE(text.find("did not give a perplexity"), std::string::npos) << text;
  EXPECT_NE(text.find("something it did not like"), std::string::npos) << text;
  EXPECT_NE(text.find("The file was loaded by qlab."), std::string::npos) << text;
}

TEST(Lab06Modelfile, RecognisedChatTemplatesBecomeOllamaTemplates) {
  const Modelfile l3 = make_modelfile("m.gguf", "{% for m in messages %}<|start_header_id|>{{ m.role }}...", {"<|eot_id|>"});
  EXPECT_EQ(l3.family, "Llama 3");
  EXPECT_NE(l3.text.find("<|start_header_id|>assistant<|end_header_id|>"), std::string::npos);
  EXPECT_EQ(l3.text.find("PARAMETER stop \"<|eot_id|>\""), l3.text.rfind("PARAMETER stop \"<|eot_id|>\""));  // once
  const Modelfile q = make_modelfile("m.gguf", "{% for m in messages %}<|im_start|>{{ m.role }}", {"<|im_end|>"});
  EXPECT_EQ(q.family, "ChatML (Qwen2)");
  const Modelfile odd = make_modelfile("m.gguf", "{{ bos_token }}{% for m in messages %}User: ...", {"</s>"});
  EXPECT_EQ(odd.family, "plain completion");
  EXPECT_FALSE(odd.note.empty());
}

}  // namespace
}  // namespace qlab::labs
