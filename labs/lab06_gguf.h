#pragma once
// Lab 6's jobs and what they share (lab06_gguf.cpp, lab06_llama_cpp.cpp, lab06_modelfile.cpp).
#include <filesystem>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include "engine/core/progress.h"
#include "engine/gguf/hf_vocab.h"
#include "engine/io/tokenizer.h"
#include "labs/lab.h"
#include "labs/scoring.h"
#include "labs/step_files.h"

namespace qlab::labs {

// The scoring text as both qlab and llama.cpp tokenize it, and how.
struct Lab06Text {
  gguf::HfVocab vocab;              // the GGUF tokenizer keys of the model folder
  io::Tokenizer tokenizer;          // llama.cpp's tokenization of the folder (special tokens' text is plain)
  std::filesystem::path plain;      // the text with every control token's text written as a line break:
                                    // llama-perplexity reads special tokens' text as plain text
  eval::PplSetup setup;             // the engine's perplexity set-up of `plain`
  std::string origin;
};

Lab06Text lab06_text(const JobContext& ctx, const std::filesystem::path& folder, const io::ModelConfig& cfg);

StepResult lab06_convert_job(const JobContext& ctx, Progress& progress, std::stop_token stop);
StepResult lab06_llama_cpp_job(const JobContext& ctx, Progress& progress, std::stop_token stop);

// An Ollama Modelfile for a GGUF file: FROM, TEMPLATE (Ollama's Go template for a chat template it
// recognises: Llama 3, ChatML as Qwen2 uses it, Mistral / Llama 2's [INST]; plain completion
// otherwise, and `note` says why), the stop words.
struct Modelfile {
  std::string text, family, note;
};
Modelfile make_modelfile(const std::string& gguf_name, const std::string& chat_template,
                         const std::vector<std::string>& eos_tokens);

// The file types of the lab's table, in order (Q8_0 down to Q2_K, then the imatrix variants).
struct Lab06Type {
  std::string file_type;
  bool imatrix = false;
  std::string label() const { return imatrix ? file_type + " +imatrix" : file_type; }
};
const std::vector<Lab06Type>& lab06_types();

}  // namespace qlab::labs
