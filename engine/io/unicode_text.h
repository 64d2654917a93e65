#pragma once
// UTF-8 and Unicode character classes as the tokenizer needs them.
//   utf8_next          one code point, or the length of the invalid maximal subpart at p
//   first_invalid_utf8 where a byte string stops being UTF-8 (npos: it is valid)
//   append_utf8        encode one code point
//   utf8_lossy         bytes -> UTF-8, each invalid maximal subpart replaced by U+FFFD
//                      (the substitution rule of Unicode ch. 3 that Rust's from_utf8_lossy follows)
//   char_flags         letter / number / white-space / word flags of a code point
//   nfc, nfd           canonical normalization forms
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "engine/io/unicode_tables.h"

namespace qlab::io::unicode {

// Decodes the code point at p (n bytes available, n >= 1). Returns its length (1..4) and sets
// cp; or, when the bytes are not UTF-8, returns minus the length of the invalid maximal subpart.
int utf8_next(const unsigned char* p, std::size_t n, char32_t& cp);

std::size_t first_invalid_utf8(std::string_view s);
void append_utf8(std::string& out, char32_t cp);
std::string utf8_lossy(std::string_view bytes);

std::uint8_t char_flags_slow(char32_t cp);
extern const std::uint8_t kAsciiFlags[128];
inline std::uint8_t char_flags(char32_t cp) { return cp < 128 ? kAsciiFlags[cp] : char_flags_slow(cp); }
inline bool is_letter(char32_t cp) { return char_flags(cp) & kLetter; }
inline bool is_number(char32_t cp) { return char_flags(cp) & kNumber; }
inline bool is_space(char32_t cp) { return char_flags(cp) & kSpace; }
inline bool is_word(char32_t cp) { return char_flags(cp) & kWord; }

std::uint8_t combining_class(char32_t cp);
std::string nfc(std::string_view valid_utf8);
std::string nfd(std::string_view valid_utf8);

}  // namespace qlab::io::unicode
