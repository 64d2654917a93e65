#pragma once
// Python's idea of whitespace on UTF-8 text, for protocols defined by Python code (lm-eval's
// question.strip(), re.split(r"\s+", page), \s inside its detokenizer's regular expressions):
// str.isspace() is true for ASCII \t \n \v \f \r, space, \x1c-\x1f, and the Unicode spaces U+0085,
// U+00A0, U+1680, U+2000-U+200A, U+2028, U+2029, U+202F, U+205F, U+3000.
#include <cstddef>
#include <string>
#include <string_view>

namespace qlab::eval {

// Byte length of the whitespace character starting at s[i], or 0 when s[i] does not start one.
std::size_t py_space_at(std::string_view s, std::size_t i);
// Length of the whitespace character ending at s[end) (end > 0), or 0.
std::size_t py_space_before(std::string_view s, std::size_t end);
// str.strip() with no argument.
std::string py_strip(std::string_view s);
// len(re.split(r"\s+", s)): runs of whitespace split; empty strings at the ends count.
std::size_t py_split_count(std::string_view s);

}  // namespace qlab::eval
