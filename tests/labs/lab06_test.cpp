// Lab 6 on the built-in model: the table of GGUF types (sizes and bits per weight from the files,
// perplexity and KL-divergence as llama.cpp runs them), the files left in the step's folder, and the
// test step without llama.cpp (qlab's reader loads the file and the screen says so) with its Modelfile.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "engine/core/atomic_file.h"
#include "engine/gguf/gguf_file.h"
#include "labs/lab.h"
#include "labs/lab06_gguf.h"

namespace qlab::labs {
namespace {

namespace fs = std::filesystem;

class Lab06Test : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/qlab-lab06-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
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
