#pragma once
// Text as llama-perplexity reads it: the built-in model's document separator "<|endoftext|>" written
// as a line break (llama.cpp's tools tokenize special tokens' text as plain text, which the model
// never saw). Built by appending, not std::string::replace (GCC 12 warns falsely, -Wrestrict, there).
#include <string>
#include <string_view>

namespace qlab::testing {

inline std::string endoftext_as_line_breaks(std::string_view text) {
  constexpr std::string_view sep = "<|endoftext|>";
  std::string out;
  out.reserve(text.size());
  std::size_t b = 0;
  for (std::size_t at; (at = text.find(sep, b)) != std::string_view::npos; b = at + sep.size()) {
    out.append(text.substr(b, at - b));
    out.push_back('\n');
  }
  out.append(text.substr(b));
  return out;
}

}  // namespace qlab::testing
