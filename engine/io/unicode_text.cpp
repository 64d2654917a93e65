#include "engine/io/unicode_text.h"

#include <algorithm>
#include <unordered_map>
#include <vector>

namespace qlab::io::unicode {

int utf8_next(const unsigned char* p, std::size_t n, char32_t& cp) {
  const unsigned b0 = p[0];
  if (b0 < 0x80) {
    cp = b0;
    return 1;
  }
  int need;
  unsigned lo = 0x80, hi = 0xBF;  // allowed range of the second byte (Unicode Table 3-7)
  char32_t value;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 1, value = b0 & 0x1F;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 2, value = b0 & 0x0F;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;  // no surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 3, value = b0 & 0x07;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;  // nothing above U+10FFFF
  } else {
    return -1;
  }
  for (int i = 1; i <= need; ++i) {
    if (static_cast<std::size_t>(i) >= n) return -i;
    const unsigned b = p[i];
    const unsigned l = i == 1 ? lo : 0x80, h = i == 1 ? hi : 0xBF;
    if (b < l || b > h) return -i;
    value = (value << 6) | (b & 0x3F);
  }
  cp = value;
  return need + 1;
}

std::size_t first_invalid_utf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  std::size_t i = 0;
  while (i < s.size()) {
    if (p[i] < 0x80) {
      ++i;
      continue;
    }
    char32_t cp;
    int len = utf8_next(p + i, s.size() - i, cp);
    if (len < 0) return i;
    i += static_cast<std::size_t>(len);
  }
  return std::string_view::npos;
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

std::string utf8_lossy(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  std::size_t i = 0;
  while (i < bytes.size()) {
    char32_t cp;
    int len = utf8_next(p + i, bytes.size() - i, cp);
    if (len > 0) {
      out.append(bytes.substr(i, static_cast<std::size_t>(len)));
      i += static_cast<std::size_t>(len);
    } else {
      out += "\xEF\xBF\xBD";
      i += static_cast<std::size_t>(-len);
    }
  }
  return out;
}

std::uint8_t char_flags_slow(char32_t cp) {
  const ClassRange* end = kClassRanges + kClassRangeCount;
  const ClassRange* it =
      std::upper_bound(kClassRanges, end, cp, [](char32_t c, const ClassRange& r) { return c < r.first; });
  if (it == kClassRanges) return 0;
  --it;
  return cp <= it->last ? it->flags : 0;
}

std::uint8_t combining_class(char32_t cp) {
  if (cp < 0x300) return 0;
  const CombiningRange* end = kCombiningRanges + kCombiningRangeCount;
  const CombiningRange* it = std::upper_bound(kCombiningRanges, end, cp,
                                              [](char32_t c, const CombiningRange& r) { return c < r.first; });
  if (it == kCombiningRanges) return 0;
  --it;
  return cp <= it->last ? it->ccc : 0;
}

namespace {

// Hangul syllables decompose and compose by arithmetic (Unicode ch. 3.12).
constexpr char32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr char32_t kLCount = 19, kVCount = 21, kTCount = 28, kNCount = kVCount * kTCount,
                   kSCount = kLCount * kNCount;

const Decomposition* find_decomposition(char32_t cp) {
  const Decomposition* end = kDecompositions + kDecompositionCount;
  const Decomposition* it =
      std::lower_bound(kDecompositions, end, cp, [](const Decomposition& d, char32_t c) { return d.cp < c; });
  return it != end && it->cp == cp ? it : nullptr;
}

void decompose(char32_t cp, std::vector<char32_t>& out) {
  if (cp >= kSBase && cp < kSBase + kSCount) {
    const char32_t s = cp - kSBase;
    out.push_back(kLBase + s / kNCount);
    out.push_back(kVBase + (s % kNCount) / kTCount);
    if (s % kTCount) out.push_back(kTBase + s % kTCount);
    return;
  }
  const Decomposition* d = cp >= 0xC0 ? find_decomposition(cp) : nullptr;
  if (!d) {
    out.push_back(cp);
    return;
  }
  decompose(d->first, out);
  if (d->second) decompose(d->second, out);
}

std::uint64_t pair_key(char32_t a, char32_t b) { return (std::uint64_t{a} << 32) | b; }

const std::unordered_map<std::uint64_t, char32_t>& composition_map() {
  static const auto* map = [] {
    auto* m = new std::unordered_map<std::uint64_t, char32_t>();
    for (std::size_t i = 0; i < kDecompositionCount; ++i) {
      const Decomposition& d = kDecompositions[i];
      if (d.composes) m->emplace(pair_key(d.first, d.second), d.cp);
    }
    return m;
  }();
  return *map;
}

char32_t compose(char32_t a, char32_t b) {
  if (a >= kLBase && a < kLBase + kLCount && b >= kVBase && b < kVBase + kVCount) {
    return kSBase + ((a - kLBase) * kVCount + (b - kVBase)) * kTCount;
  }
  if (a >= kSBase && a < kSBase + kSCount && (a - kSBase) % kTCount == 0 && b > kTBase &&
      b < kTBase + kTCount) {
    return a + (b - kTBase);
  }
  const auto& map = composition_map();
  auto it = map.find(pair_key(a, b));
  return it == map.end() ? 0 : it->second;
}

// Canonical decomposition followed by the canonical ordering of each run of non-starters.
std::vector<char32_t> decompose_ordered(std::string_view s) {
  std::vector<char32_t> out;
  out.reserve(s.size());
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  for (std::size_t i = 0; i < s.size();) {
    char32_t cp;
    int len = utf8_next(p + i, s.size() - i, cp);
    if (len < 0) {  // callers validate first; keep going rather than loop forever
      cp = 0xFFFD;
      len = -len;
    }
    i += static_cast<std::size_t>(len);
    decompose(cp, out);
  }
  // Stable insertion sort by combining class within runs of non-starters (runs are short).
  for (std::size_t i = 1; i < out.size(); ++i) {
    const std::uint8_t cc = combining_class(out[i]);
    if (cc == 0) continue;
    std::size_t j = i;
    while (j > 0) {
      const std::uint8_t prev = combining_class(out[j - 1]);
      if (prev == 0 || prev <= cc) break;
      std::swap(out[j], out[j - 1]);
      --j;
    }
  }
  return out;
}

bool below(std::string_view s, unsigned char limit_lead) {
  for (char ch : s) {
    if (static_cast<unsigned char>(ch) >= limit_lead) return false;
  }
  return true;
}

}  // namespace

std::string nfd(std::string_view s) {
  if (below(s, 0xC3)) return std::string(s);  // every code point < U+00C0 is its own NFD
  std::string out;
  out.reserve(s.size());
  for (char32_t cp : decompose_ordered(s)) append_utf8(out, cp);
  return out;
}

std::string nfc(std::string_view s) {
  // Below U+0300 nothing decomposes to something that does not recompose to itself, and nothing
  // is a second character of a composition: such text is already NFC.
  if (below(s, 0xCC)) return std::string(s);
  std::vector<char32_t> cps = decompose_ordered(s);
  if (cps.empty()) return {};
  std::size_t starter = 0, write = 1;
  bool has_starter = combining_class(cps[0]) == 0;
  int last_class = 0;  // class of the last character kept after the starter (0: none kept yet)
  for (std::size_t i = 1; i < cps.size(); ++i) {
    const char32_t ch = cps[i];
    const int cc = combining_class(ch);
    if (has_starter && (last_class < cc || last_class == 0)) {
      if (char32_t composite = compose(cps[starter], ch)) {
        cps[starter] = composite;
        continue;
      }
    }
    if (cc == 0) {
      starter = write;
      has_starter = true;
    }
    last_class = cc;
    cps[write++] = ch;
  }
  cps.resize(write);
  std::string out;
  out.reserve(s.size());
  for (char32_t cp : cps) append_utf8(out, cp);
  return out;
}

}  // namespace qlab::io::unicode
