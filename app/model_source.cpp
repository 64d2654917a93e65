#include "app/model_source.h"

#include <memory>

#include "app/model_arg.h"
#include "engine/gguf/gguf_file.h"
#include "engine/gguf/gguf_model.h"
#include "engine/gguf/gguf_tokenizer.h"

namespace qlab::app {

bool is_gguf_source(const std::filesystem::path& source) { return std::filesystem::is_regular_file(source); }

std::filesystem::path resolve_model_source(const std::string& arg) {
  std::error_code ec;
  if (std::filesystem::is_regular_file(arg, ec)) return arg;  // a GGUF file (opening it says if it is not)
  return resolve_model_arg(arg);
}

model::Model load_model_source(const std::filesystem::path& source) {
  if (std::filesystem::is_regular_file(source))
    return gguf::load_gguf_model(std::make_shared<const gguf::GgufFile>(gguf::GgufFile::open(source)));
  return model::Model::load(source);
}

std::optional<io::Tokenizer> load_tokenizer_source(const std::filesystem::path& source, bool special_as_text) {
  if (std::filesystem::is_regular_file(source))
    return gguf::gguf_tokenizer(gguf::GgufFile::open(source),
                                special_as_text ? gguf::SpecialText::Plain : gguf::SpecialText::Parsed);
  if (!std::filesystem::exists(source / "tokenizer.json")) return std::nullopt;
  return io::Tokenizer::load(source);
}

}  // namespace qlab::app
