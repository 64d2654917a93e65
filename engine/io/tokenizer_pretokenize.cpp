// Normalizers and pre-tokenizers: text in, words out, as Hugging Face tokenizers runs them.
#include <algorithm>
#include <array>

#include "engine/io/tokenizer_parts.h"
#include "engine/io/unicode_text.h"

namespace qlab::io::tok {

namespace {

constexpr std::size_t kChunk = 1 << 16;  // bytes of text split at a time (then a safe cut)

void replace_all(std::string& s, std::string_view from, std::string_view to) {
  if (from.empty() || s.find(from) == std::string::npos) return;
  std::string out;
  out.reserve(s.size() + 8);
  std::size_t i = 0;
  for (std::size_t at; (at = s.find(from, i)) != std::string::npos; i = at + from.size()) {
    out.append(s, i, at - i);
    out += to;
  }
  out.append(s, i);
  s = std::move(out);
}

struct ByteAlphabet {
  std::array<std::string, 256> to_unicode;
  std::array<std::array<char, 2>, 256> utf8;  // the stand-ins are U+0021..U+0143: 1 or 2 bytes
  std::array<std::uint8_t, 256> utf8_len;
  std::array<char32_t, 256> cp;
  std::array<int, 324> byte_of;  // code point (< 324) -> byte, -1 when not in the alphabet
  ByteAlphabet() {
    byte_of.fill(-1);
    // GPT-2's map: printable Latin-1 bytes stand for themselves, the rest take 256, 257, ... in order.
    int n = 0;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      cp[b] = printable ? static_cast<char32_t>(b) : static_cast<char32_t>(256 + n++);
      unicode::append_utf8(to_unicode[b], cp[b]);
      byte_of[cp[b]] = b;
      utf8_len[b] = static_cast<std::uint8_t>(to_unicode[b].size());
      utf8[b] = {to_unicode[b][0], to_unicode[b].size() > 1 ? to_unicode[b][1] : '\0'};
    }
  }
};
const ByteAlphabet& alphabet() {
  static const ByteAlphabet a;
  return a;
}

// Every occurrence of a character class / literal as a match span.
template <typename Pred>
void char_matches(std::string_view s, Pred pred, std::vector<ByteSpan>& out) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  for (std::size_t i = 0; i < s.size();) {
    char32_t cp;
    int len = unicode::utf8_next(p + i, s.size() - i, cp);
    if (len < 0) len = -len, cp = 0xFFFD;
    if (pred(cp)) out.push_back({static_cast<std::uint32_t>(i), static_cast<std::uint32_t>(i + len)});
    i += static_cast<std::size_t>(len);
  }
}

void literal_matches(std::string_view s, std::string_view lit, std::vector<ByteSpan>& out) {
  if (lit.empty()) return;
  for (std::size_t at = s.find(lit); at != std::string_view::npos; at = s.find(lit, at + lit.size())) {
    out.push_back({static_cast<std::uint32_t>(at), static_cast<std::uint32_t>(at + lit.size())});
  }
}

// NormalizedString::split: matches (+ the gaps between them) become pieces per the behavior.
void apply_behavior(std::size_t size, const std::vector<ByteSpan>& matches, bool invert, SplitBehavior behavior,
                    std::vector<ByteSpan>& pieces) {
  struct Flagged {
    ByteSpan span;
    bool is_match;
  };
  std::vector<Flagged> all;
  std::uint32_t prev = 0;
  for (const ByteSpan& m : matches) {
    if (prev != m.begin) all.push_back({{prev, m.begin}, invert});
    all.push_back({m, !invert});
    prev = m.end;
  }
  if (prev != size) all.push_back({{prev, static_cast<std::uint32_t>(size)}, invert});

  std::vector<Flagged> out;  // is_match here: remove
  switch (behavior) {
    case SplitBehavior::Isolated:
      for (const auto& f : all) out.push_back({f.span, false});
      break;
    case SplitBehavior::Removed:
      out = all;
      break;
    case SplitBehavior::Contiguous: {
      bool previous = false;
      for (const auto& f : all) {
        if (f.is_match == previous && !out.empty()) {
          out.back().span.end = f.span.end;
        } else {
          out.push_back({f.span, false});
        }
        previous = f.is_match;
      }
      break;
    }
    case SplitBehavior::MergedWithPrevious: {
      bool previous = false;
      for (const auto& f : all) {
        if (f.is_match && !previous && !out.empty()) {
          out.back().span.end = f.span.end;
        } else {
          out.push_back({f.span, false});
        }
        previous = f.is_match;
      }
      break;
    }
    case SplitBehavior::MergedWithNext: {
      bool previous = false;
      for (auto it = all.rbegin(); it != all.rend(); ++it) {
        if (it->is_match && !previous && !out.empty()) {
          out.back().span.begin = it->span.begin;
        } else {
          out.push_back({it->span, false});
        }
        previous = it->is_match;
      }
      std::reverse(out.begin(), out.end());
      break;
    }
  }
  for (const auto& f : out) {
    if (!f.is_match && f.span.end > f.span.begin) pieces.push_back(f.span);
  }
}

}  // namespace

const std::string& byte_to_unicode(unsigned char b) { return alphabet().to_unicode[b]; }

std::optional<unsigned char> unicode_to_byte(char32_t cp) {
  if (cp >= 324 || alphabet().byte_of[cp] < 0) return std::nullopt;
  return static_cast<unsigned char>(alphabet().byte_of[cp]);
}

std::string normalize(const std::vector<Normalizer>& chain, std::string text) {
  for (const Normalizer& n : chain) {
    switch (n.kind) {
      case Normalizer::Kind::Prepend:
        if (!text.empty()) text.insert(0, n.a);
        break;
      case Normalizer::Kind::Replace:
        replace_all(text, n.a, n.b);
        break;
      case Normalizer::Kind::Nfc:
        text = unicode::nfc(text);
        break;
      case Normalizer::Kind::Nfd:
        text = unicode::nfd(text);
        break;
    }
  }
  return text;
}

void pre_tokenize(const std::vector<PreTokenizer>& chain, std::size_t k, std::string_view piece, bool at_origin,
                  const std::function<void(std::string_view)>& emit) {
  if (piece.empty()) return;
  if (k == chain.size()) {
    emit(piece);
    return;
  }
  const PreTokenizer& p = chain[k];
  std::vector<ByteSpan> matches, pieces;
  std::string buffer;
  std::string_view text = piece;
  switch (p.kind) {
    case PreTokenizer::Kind::ByteLevel: {
      if (p.add_prefix_space && piece[0] != ' ') {
        buffer.reserve(piece.size() + 1);
        buffer += ' ';
        buffer += piece;
        text = buffer;
      }
      const ByteAlphabet& a = alphabet();
      std::string word;
      auto map_and_go_on = [&](std::uint32_t begin, std::uint32_t end) {
        word.resize(2 * (end - begin));
        char* out = word.data();
        for (std::uint32_t i = begin; i < end; ++i) {
          const auto b = static_cast<unsigned char>(text[i]);
          out[0] = a.utf8[b][0];
          out[1] = a.utf8[b][1];
          out += a.utf8_len[b];
        }
        word.resize(static_cast<std::size_t>(out - word.data()));
        pre_tokenize(chain, k + 1, word, at_origin && begin == 0, emit);
      };
      if (!p.use_regex) {
        map_and_go_on(0, static_cast<std::uint32_t>(text.size()));
        return;
      }
      for (std::size_t start = 0, cut; start < text.size(); start = cut) {
        cut = split_safe_cut(text, start + kChunk);
        matches.clear();
        pieces.clear();
        find_split_matches(SplitPattern::Gpt2, text.substr(start, cut - start), matches);
        apply_behavior(cut - start, matches, false, SplitBehavior::Isolated, pieces);
        for (const ByteSpan& s : pieces) {
          map_and_go_on(static_cast<std::uint32_t>(start + s.begin), static_cast<std::uint32_t>(start + s.end));
        }
      }
      return;
    }
    case PreTokenizer::Kind::SplitRegex:
      if (p.behavior == SplitBehavior::Isolated || p.behavior == SplitBehavior::Removed) {
        // Pieces of these behaviors depend on one span each, so a long text goes in chunks and
        // the scratch memory stays bounded.
        for (std::size_t start = 0, cut; start < text.size(); start = cut) {
          cut = split_safe_cut(text, start + kChunk);
          matches.clear();
          pieces.clear();
          find_split_matches(p.pattern, text.substr(start, cut - start), matches);
          apply_behavior(cut - start, matches, p.invert, p.behavior, pieces);
          for (const ByteSpan& s : pieces) {
            pre_tokenize(chain, k + 1, text.substr(start + s.begin, s.end - s.begin),
                         at_origin && start + s.begin == 0, emit);
          }
        }
        return;
      }
      find_split_matches(p.pattern, text, matches);
      apply_behavior(text.size(), matches, p.invert, p.behavior, pieces);
      break;
    case PreTokenizer::Kind::SplitLiteral:
      literal_matches(text, p.literal, matches);
      apply_behavior(text.size(), matches, p.invert, p.behavior, pieces);
      break;
    case PreTokenizer::Kind::Metaspace: {
      buffer.assign(piece);
      replace_all(buffer, " ", p.replacement);
      const bool starts = buffer.compare(0, p.replacement.size(), p.replacement) == 0;
      if (!starts && (p.prepend == PreTokenizer::Prepend::Always ||
                      (p.prepend == PreTokenizer::Prepend::First && at_origin))) {
        buffer.insert(0, p.replacement);
      }
      text = buffer;
      if (p.split) {
        literal_matches(text, p.replacement, matches);
        apply_behavior(text.size(), matches, false, SplitBehavior::MergedWithNext, pieces);
      } else {
        pieces.push_back({0, static_cast<std::uint32_t>(text.size())});
      }
      break;
    }
    case PreTokenizer::Kind::Digits:
      char_matches(text, unicode::is_number, matches);
      apply_behavior(text.size(), matches, false,
                     p.individual_digits ? SplitBehavior::Isolated : SplitBehavior::Contiguous, pieces);
      break;
    case PreTokenizer::Kind::WhitespaceSplit:
      char_matches(text, unicode::is_space, matches);
      apply_behavior(text.size(), matches, false, SplitBehavior::Removed, pieces);
      break;
  }
  for (const ByteSpan& s : pieces) {
    pre_tokenize(chain, k + 1, text.substr(s.begin, s.end - s.begin), at_origin && s.begin == 0, emit);
  }
}

}  // namespace qlab::io::tok
