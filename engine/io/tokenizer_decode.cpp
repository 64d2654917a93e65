// Decoders: token strings back to text, each step as Hugging Face tokenizers' decode_chain.
#include "engine/io/tokenizer_parts.h"
#include "engine/io/unicode_text.h"

namespace qlab::io::tok {

namespace {

std::vector<char32_t> code_points(std::string_view s) {
  std::vector<char32_t> out;
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  for (std::size_t i = 0; i < s.size();) {
    char32_t cp;
    int len = unicode::utf8_next(p + i, s.size() - i, cp);
    if (len < 0) len = -len, cp = 0xFFFD;
    out.push_back(cp);
    i += static_cast<std::size_t>(len);
  }
  return out;
}

std::string replaced(std::string_view s, std::string_view from, std::string_view to) {
  std::string out;
  if (from.empty()) return std::string(s);
  std::size_t i = 0;
  for (std::size_t at; (at = s.find(from, i)) != std::string_view::npos; i = at + from.size()) {
    out.append(s.substr(i, at - i));
    out += to;
  }
  out.append(s.substr(i));
  return out;
}

// "<0xNN>" -> the byte (two hex digits, either case).
std::optional<unsigned char> byte_token(std::string_view t) {
  if (t.size() != 6 || t.substr(0, 3) != "<0x" || t[5] != '>') return std::nullopt;
  int value = 0;
  for (char c : t.substr(3, 2)) {
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    if (d < 0) return std::nullopt;
    value = value * 16 + d;
  }
  return static_cast<unsigned char>(value);
}

void byte_level(std::vector<std::string>& tokens) {
  std::string bytes;
  for (const std::string& t : tokens) {
    std::string mapped;
    bool all = true;
    for (char32_t cp : code_points(t)) {
      auto b = unicode_to_byte(cp);
      if (!b) {
        all = false;
        break;
      }
      mapped += static_cast<char>(*b);
    }
    bytes += all ? mapped : t;  // a token outside the byte alphabet passes through as it is
  }
  tokens.assign(1, unicode::utf8_lossy(bytes));
}

void byte_fallback(std::vector<std::string>& tokens) {
  std::vector<std::string> out;
  std::string run;
  std::size_t run_len = 0;
  auto flush = [&] {
    if (run_len == 0) return;
    if (unicode::first_invalid_utf8(run) == std::string::npos) {
      out.push_back(run);
    } else {
      for (std::size_t i = 0; i < run_len; ++i) out.emplace_back("\xEF\xBF\xBD");  // one U+FFFD per byte
    }
    run.clear();
    run_len = 0;
  };
  for (std::string& t : tokens) {
    if (auto b = byte_token(t)) {
      run += static_cast<char>(*b);
      ++run_len;
    } else {
      flush();
      out.push_back(std::move(t));
    }
  }
  flush();
  tokens = std::move(out);
}

void strip(std::vector<std::string>& tokens, char32_t content, std::size_t start, std::size_t stop) {
  for (std::string& t : tokens) {
    std::vector<char32_t> cps = code_points(t);
    std::size_t start_cut = 0;
    for (std::size_t i = 0; i < start && i < cps.size(); ++i) {
      if (cps[i] != content) break;
      start_cut = i + 1;
    }
    std::size_t stop_cut = cps.size();
    for (std::size_t i = 0; i < stop && i < cps.size(); ++i) {
      const std::size_t index = cps.size() - i - 1;
      if (cps[index] != content) break;
      stop_cut = index;
    }
    std::string out;
    for (std::size_t i = start_cut; i < stop_cut; ++i) unicode::append_utf8(out, cps[i]);
    t = std::move(out);
  }
}

}  // namespace

std::string decode_tokens(const std::vector<Decoder>& chain, bool have_decoder, std::vector<std::string> tokens) {
  if (!have_decoder) {
    std::string out;
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      if (i) out += ' ';
      out += tokens[i];
    }
    return out;
  }
  for (const Decoder& d : chain) {
    switch (d.kind) {
      case Decoder::Kind::ByteLevel:
        byte_level(tokens);
        break;
      case Decoder::Kind::Metaspace:
        for (std::size_t i = 0; i < tokens.size(); ++i) {
          // The first token loses every replacement character (there is no leading space to give back).
          tokens[i] = replaced(tokens[i], d.a, i == 0 && !d.prepend_never ? "" : " ");
        }
        break;
      case Decoder::Kind::Replace:
        for (std::string& t : tokens) t = replaced(t, d.a, d.b);
        break;
      case Decoder::Kind::ByteFallback:
        byte_fallback(tokens);
        break;
      case Decoder::Kind::Fuse: {
        std::string all;
        for (const std::string& t : tokens) all += t;
        tokens.assign(1, std::move(all));
        break;
      }
      case Decoder::Kind::Strip: {
        std::vector<char32_t> c = code_points(d.strip_content);
        strip(tokens, c.empty() ? U' ' : c[0], d.strip_start, d.strip_stop);
        break;
      }
      case Decoder::Kind::BpeSuffix:
        for (std::size_t i = 0; i < tokens.size(); ++i) {
          tokens[i] = replaced(tokens[i], d.a, i + 1 == tokens.size() ? "" : " ");
        }
        break;
    }
  }
  std::string out;
  for (const std::string& t : tokens) out += t;
  return out;
}

}  // namespace qlab::io::tok
