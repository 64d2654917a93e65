// libFuzzer target for the tokenizer.json loader and the encoder/decoder.
// Input: tokenizer.json text, optionally followed by a NUL byte and a text to encode.
// Properties checked beyond "no crash": bad input is reported as qlab::Error only; every id the
// encoder returns exists (id_to_token and decode accept it).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/core/error.h"
#include "engine/io/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::size_t nul = input.find('\0');
  const std::string_view json = input.substr(0, nul);
  const std::string_view text = nul == std::string_view::npos ? std::string_view("Hello world 123 <s>") : input.substr(nul + 1);
  std::optional<qlab::io::Tokenizer> tok;
  try {
    tok.emplace(qlab::io::Tokenizer::from_json_text(json, "fuzz.json"));
  } catch (const qlab::Error&) {
    return 0;
  }
  std::vector<std::int32_t> ids;
  try {
    ids = tok->encode(text, true);
  } catch (const qlab::Error&) {
    return 0;  // not UTF-8, or an unk token missing from the vocabulary
  }
  for (std::int32_t id : ids) {
    if (id < 0 || id >= tok->vocab_size()) std::abort();
    (void)tok->id_to_token(id);  // throws (and so fails the run) if the id does not exist
  }
  (void)tok->decode(ids, false);
  (void)tok->decode(ids, true);
  // Ids taken from the input: decode either succeeds or reports an Error.
  std::vector<std::int32_t> arbitrary;
  for (std::size_t i = 0; i + 1 < text.size() && arbitrary.size() < 64; i += 2) {
    arbitrary.push_back(static_cast<std::int32_t>(static_cast<unsigned char>(text[i]) |
                                                  (static_cast<unsigned char>(text[i + 1]) << 8)) -
                        8);
  }
  try {
    (void)tok->decode(arbitrary, false);
  } catch (const qlab::Error&) {
  }
  return 0;
}
