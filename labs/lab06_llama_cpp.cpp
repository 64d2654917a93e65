// Lab 6's test step: one GGUF file loaded by real llama.cpp when the learner has it (llama-perplexity
// on PATH, or in LLAMA_CPP_DIR), its perplexity beside qlab's on the same file and tokens; otherwise
// qlab's strict reader loads it and the screen says so, and how to build llama.cpp for the GB10. An
// Ollama Modelfile goes beside the file.
#include <unistd.h>

#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <regex>

#include <fmt/format.h>

#include "engine/core/atomic_file.h"
#include "engine/core/threads.h"
#include "engine/eval/perplexity.h"
#include "engine/gguf/gguf_convert.h"
#include "engine/gguf/gguf_file.h"
#include "engine/gguf/gguf_model.h"
#include "engine/gguf/gguf_tokenizer.h"
#include "engine/io/model_config.h"
#include "labs/lab06_gguf.h"

namespace qlab::labs {

namespace {

namespace fs = std::filesystem;

// llama-perplexity from LLAMA_CPP_DIR (the folder, or its build/bin or bin), else from PATH.
std::optional<fs::path> find_llama_perplexity() {
  std::error_code ec;
  if (const char* d = std::getenv("LLAMA_CPP_DIR"); d && *d) {
    for (const char* sub : {"", "build/bin", "bin"}) {
      const fs::path p = fs::path(d) / sub / "llama-perplexity";
      if (fs::is_regular_file(p, ec)) return p;
    }
  }
  if (const char* path = std::getenv("PATH")) {
    std::string s(path);
    for (std::size_t b = 0; b <= s.size();) {
      const std::size_t e = std::min(s.find(':', b), s.size());
      const fs::path p = fs::path(s.substr(b, e - b)) / "llama-perplexity";
      if (e > b && fs::is_regular_file(p, ec) && ::access(p.c_str(), X_OK) == 0) return p;
      b = e + 1;
    }
  }
  return std::nullopt;
}

std::string shell_quoted(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

struct LlamaRun {
  std::optional<double> ppl, error;
  std::string tail;  // the last lines it printed, when it gave no perplexity
};

LlamaRun run_llama_perplexity(const fs::path& bin, const fs::path& model, const fs::path& text, std::int64_t n_ctx,
                              std::int64_t chunks, std::stop_token stop) {
  const std::string cmd = fmt::format("{} -m {} -f {} -c {} --chunks {} -t {} 2>&1", shell_quoted(bin.string()),
                                      shell_quoted(model.string()), shell_quoted(text.string()), n_ctx, chunks,
                                      thread_count());
  LlamaRun r;
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) {
    r.tail = fmt::format("could not start {}", bin.string());
    return r;
  }
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, p)) {
    out.append(buf, n);
    if (stop.stop_requested()) break;
  }
  ::pclose(p);
  check_cancel(stop);
  static const std::regex final_re(R"(Final estimate: PPL = ([0-9.]+) \+/- ([0-9.]+))");
  std::smatch m;
  if (std::regex_search(out, m, final_re)) {
    r.ppl = std::stod(m[1].str());
    r.error = std::stod(m[2].str());
  } else {
    r.tail = out.size() > 600 ? out.substr(out.size() - 600) : out;
  }
  return r;
}

}  // namespace

StepResult lab06_llama_cpp_job(const JobContext& ctx, Progress& progress, std::stop_token stop) {
  std::error_code ec;
  if (!fs::exists(ctx.model.dir / "config.json", ec))
    throw NotAvailable(fmt::format("needs a model: {} has no config.json", ctx.model.dir.string()));
  StepFolder folder(ctx.out_dir);
  const io::ModelConfig cfg = io::load_model_config(ctx.model.dir / "config.json");
  const Lab06Text t = lab06_text(ctx, folder.path(), cfg);
  const std::string type = ctx.param("type");
  gguf::ConvertOptions o;
  o.mix.file_type = *gguf::file_type_from_name(type);
  const std::string name = fmt::format("model-{}.gguf", type);
  const fs::path file = folder.path() / name;
  progress.report(0.0, fmt::format("writing {}", name));
  const gguf::ConvertResult c = gguf::convert_to_gguf(ctx.model.dir, file, o, Progress::none(), stop);

  // qlab's reader: the strict checks, the model, its tokenizer, its perplexity.
  progress.report(0.2, fmt::format("qlab reads {}", name));
  auto f = std::make_shared<const gguf::GgufFile>(gguf::GgufFile::open(file));
  const model::Model m = gguf::load_gguf_model(f);
  const std::optional<io::Tokenizer> tok = gguf::gguf_tokenizer(*f, gguf::SpecialText::Plain);
  const bool same_tokens = tok && tok->encode(read_file(t.plain), true) == t.setup.tokens;
  // On the CPU wherever the other steps run: its kernels round the activations as llama.cpp's CPU
  // build does (Matrix::round_input), which the comparison below counts on; the GPU path does not.
  eval::PplOptions on_cpu = t.setup.options;
  on_cpu.backend = nullptr;
  const eval::PplResult ours = eval::perplexity(m, t.setup.tokens, on_cpu, Progress::none(), stop);

  StepResult r;
  r.blocks.push_back(Text{fmt::format("{}: {:.2f} MB, {:.2f} bits per weight, {} tensors, written by qlab gguf in "
                                      "{:.1f} s.", file.string(), static_cast<double>(c.file_bytes) / 1e6,
                                      c.bits_per_weight(), c.tensors.size(), c.seconds)});
  std::string loaded_by = "qlab";
  const std::optional<fs::path> llama = find_llama_perplexity();
  Table tt;
  tt.title = fmt::format("Perplexity of {} ({}; {})", name, t.origin, "llama.cpp's protocol");
  tt.header = {"program", "perplexity", "+/-"};
  tt.rows.push_back({"qlab", fmt::format("{:.4f}", ours.nll.ppl()), fmt::format("{:.4f}", ours.nll.ppl_error())});
  nlohmann::json rec = {{"gguf", file.filename().string()}, {"type", type}, {"bytes", c.file_bytes},
                        {"bits_per_weight", c.bits_per_weight()}, {"qlab_ppl", ours.nll.ppl()},
                        {"n_ctx", t.setup.options.n_ctx}, {"chunks", t.setup.chunks}};
  if (llama) {
    progress.report(0.5, fmt::format("llama.cpp reads {}", name));
    const LlamaRun lr = run_llama_perplexity(*llama, file, t.plain, t.setup.options.n_ctx, t.setup.chunks, stop);
    if (lr.ppl) {
      loaded_by = "llama.cpp";
      tt.rows.push_back({fmt::format("llama.cpp ({})", llama->string()), fmt::format("{:.4f}", *lr.ppl),
                         fmt::format("{:.4f}", *lr.error)});
      rec["llama_cpp_ppl"] = *lr.ppl;
      r.blocks.push_back(std::move(tt));
      r.blocks.push_back(Text{fmt::format(
          "llama.cpp loaded the file qlab wrote and scored the same tokens: the two perplexities differ by {:.3f}%. "
          "What is left between them is llama.cpp's arithmetic (it keeps the attention's keys and values in 16-bit "
          "floats); the weights are the same bytes.",
          100 * std::fabs(*lr.ppl - ours.nll.ppl()) / *lr.ppl)});
    } else {
      r.blocks.push_back(std::move(tt));
      r.blocks.push_back(Text{fmt::format("{} did not give a perplexity; its last words:\n{}", llama->string(), lr.tail)});
    }
  } else {
    r.blocks.push_back(std::move(tt));
    r.blocks.push_back(Text{
        "llama.cpp was not found (llama-perplexity on PATH, or in the folder LLAMA_CPP_DIR names). To build it on the "
        "DGX Spark, whose GB10 GPU has compute capability 12.1:\n"
        "  git clone https://github.com/ggml-org/llama.cpp && cd llama.cpp\n"
        "  cmake -B build -DGGML_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=121 && cmake --build build -j --config Release\n"
        "  export LLAMA_CPP_DIR=$PWD/build/bin\n"
        "then run this step again. Meanwhile qlab's reader loaded the file: it checked every length, type, shape, "
        "offset and alignment, built the model from the file alone (hyper-parameters, tokenizer, weights as stored) "
        "and scored it; qlab's tests check that llama.cpp computes the same."});
  }
  r.blocks.push_back(Text{fmt::format("The file was loaded by {}.{}", loaded_by,
                                      same_tokens ? " The tokenizer inside the file gives the same tokens as the "
                                                    "model folder's, read the way llama.cpp reads it."
                                                  : " Careful: the tokenizer inside the file tokenizes the text "
                                                    "differently from the model folder's.")});

  // Ollama
  const Modelfile mf = make_modelfile(name, t.vocab.chat_template, t.vocab.eos_tokens);
  write_file_atomic(folder.path() / "Modelfile", mf.text);
  std::string tag = fmt::format("qlab-{}-{}", ctx.model.builtin ? std::string("builtin") : ctx.model.dir.filename().string(), type);
  for (char& ch : tag) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  r.blocks.push_back(Text{fmt::format("Ollama: a Modelfile beside the file, with the {} prompt format.{}\n{}\n"
                                      "  ollama create {} -f {}\n  ollama run {} \"Once upon a time\"{}",
                                      mf.family, mf.note.empty() ? std::string() : fmt::format(" {}", mf.note), mf.text, tag,
                                      (folder.path() / "Modelfile").string(), tag,
                                      ctx.out_dir.empty() ? "\n(These files were temporary: run the step from the "
                                                            "tutor to keep them.)"
                                                          : "")});
  rec["loaded_by"] = loaded_by;
  rec["modelfile_family"] = mf.family;
  r.record = rec;
  return r;
}

}  // namespace qlab::labs
