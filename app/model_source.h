#pragma once
// MODEL arguments of the running commands (ppl, generate, logits, imatrix): an HF model folder,
// 'builtin', or a GGUF file, each loaded the way it is stored.
//   resolve_model_source   a file (a GGUF file) as given, else resolve_model_arg's folder
//   load_model_source      model::Model::load for a folder, gguf::load_gguf_model for a GGUF file
//   load_tokenizer_source  the folder's tokenizer.json, or the tokenizer a GGUF file carries;
//                          nullopt when there is none. special_as_text: a GGUF file's control
//                          tokens are not matched in text (llama-perplexity's tokenization)
#include <filesystem>
#include <optional>
#include <string>

#include "engine/io/tokenizer.h"
#include "engine/model/model.h"

namespace qlab::app {

std::filesystem::path resolve_model_source(const std::string& arg);
bool is_gguf_source(const std::filesystem::path& source);
model::Model load_model_source(const std::filesystem::path& source);
std::optional<io::Tokenizer> load_tokenizer_source(const std::filesystem::path& source, bool special_as_text = false);

}  // namespace qlab::app
