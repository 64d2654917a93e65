#include "engine/eval/suite_pytext.h"

#include <cstdint>

namespace qlab::eval {

namespace {

bool unicode_space(std::uint32_t c) {
  return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
         c == 0x202F || c == 0x205F || c == 0x3000;
}

// Decodes the UTF-8 character at s[i] (2 or 3 bytes; others are never whitespace): code point, length.
std::size_t decode(std::string_view s, std::size_t i, std::uint32_t& c) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if ((b0 & 0xE0) == 0xC0 && i + 1 < s.size()) {
    c = (b0 & 0x1Fu) << 6 | (static_cast<unsigned char>(s[i + 1]) & 0x3Fu);
    return 2;
  }
  if ((b0 & 0xF0) == 0xE0 && i + 2 < s.size()) {
    c = (b0 & 0x0Fu) << 12 | (static_cast<unsigned char>(s[i + 1]) & 0x3Fu) << 6 |
        (static_cast<unsigned char>(s[i + 2]) & 0x3Fu);
    return 3;
  }
  return 0;
}

}  // namespace

std::size_t py_space_at(std::string_view s, std::size_t i) {
  if (i >= s.size()) return 0;
  const auto b = static_cast<unsigned char>(s[i]);
  if (b == ' ' || (b >= 0x09 && b <= 0x0D) || (b >= 0x1C && b <= 0x1F)) return 1;
  if (b < 0x80) return 0;
  std::uint32_t c = 0;
  const std::size_t n = decode(s, i, c);
  return n && unicode_space(c) ? n : 0;
}

std::size_t py_space_before(std::string_view s, std::size_t end) {
  for (std::size_t n = 1; n <= 3 && n <= end; ++n)
    if (py_space_at(s, end - n) == n) return n;
  return 0;
}

std::string py_strip(std::string_view s) {
  std::size_t b = 0, e = s.size();
  while (b < e) {
    const std::size_t n = py_space_at(s, b);
    if (!n) break;
    b += n;
  }
  while (e > b) {
    const std::size_t n = py_space_before(s, e);
    if (!n) break;
    e -= n;
  }
  return std::string(s.substr(b, e - b));
}

std::size_t py_split_count(std::string_view s) {
  std::size_t count = 1;
  for (std::size_t i = 0; i < s.size();) {
    if (const std::size_t n = py_space_at(s, i)) {
      ++count;
      i += n;
      while (const std::size_t m = py_space_at(s, i)) i += m;
    } else {
      ++i;
    }
  }
  return count;
}

}  // namespace qlab::eval
