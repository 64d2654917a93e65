#include "engine/eval/suite_wordppl.h"

#include <cmath>

#include <fmt/format.h>

#include "engine/core/error.h"
#include "engine/eval/perplexity.h"
#include "engine/eval/suite_pytext.h"
#include "engine/model/forward.h"
#include "engine/model/kv_cache.h"

namespace qlab::eval {

namespace {

void replace_all(std::string& s, std::string_view from, std::string_view to) {
  std::string out;
  out.reserve(s.size());
  std::size_t i = 0;
  for (;;) {
    const std::size_t j = s.find(from, i);
    if (j == std::string::npos) break;
    out.append(s, i, j - i);
    out += to;
    i = j + from.size();
  }
  out.append(s, i, std::string::npos);
  s = std::move(out);
}

// re.sub(r"O\s*([^C]*?)\s*C", r"O\1C", s): each O, up to the first C after it, loses the whitespace
// just inside both ends. (A non-greedy group cannot cross C, so the match ends at the first C.)
void tighten_pairs(std::string& s, char open, char close) {
  std::string out;
  out.reserve(s.size());
  std::size_t i = 0;
  while (i < s.size()) {
    if (s[i] != open) {
      out += s[i++];
      continue;
    }
    const std::size_t c = s.find(close, i + 1);
    if (c == std::string::npos) {
      out.append(s, i, std::string::npos);
      break;
    }
    out += open;
    out += py_strip(std::string_view(s).substr(i + 1, c - i - 1));
    out += close;
    i = c + 1;
  }
  s = std::move(out);
}

}  // namespace

std::string wikitext_detokenize(std::string_view page) {
  std::string s(page);
  replace_all(s, "s '", "s'");
  // re.sub(r"/' [0-9]/", r"/'[0-9]/"): a slash-quote-space, a digit, a slash become the text "/'[0-9]/".
  {
    std::string out;
    for (std::size_t i = 0; i < s.size();) {
      if (i + 5 <= s.size() && s.compare(i, 3, "/' ") == 0 && s[i + 3] >= '0' && s[i + 3] <= '9' && s[i + 4] == '/') {
        out += "/'[0-9]/";
        i += 5;
      } else {
        out += s[i++];
      }
    }
    s = std::move(out);
  }
  replace_all(s, " @-@ ", "-");
  replace_all(s, " @,@ ", ",");
  replace_all(s, " @.@ ", ".");
  replace_all(s, " : ", ": ");
  replace_all(s, " ; ", "; ");
  replace_all(s, " . ", ". ");
  replace_all(s, " ! ", "! ");
  replace_all(s, " ? ", "? ");
  replace_all(s, " , ", ", ");
  tighten_pairs(s, '(', ')');
  tighten_pairs(s, '[', ']');
  tighten_pairs(s, '{', '}');
  tighten_pairs(s, '"', '"');
  tighten_pairs(s, '\'', '\'');
  replace_all(s, "= = = =", "====");
  replace_all(s, "= = =", "===");
  replace_all(s, "= =", "==");
  replace_all(s, " \xC2\xB0 ", "\xC2\xB0");  // chr(176), the degree sign
  replace_all(s, " \n", "\n");
  replace_all(s, "\n ", "\n");
  replace_all(s, " N ", " 1 ");
  replace_all(s, " 's", "'s");
  return s;
}

std::vector<std::string> split_wikitext_articles(std::string_view raw) {
  std::vector<std::string> pages;
  std::string cur;
  std::size_t i = 0;
  while (i < raw.size()) {
    std::size_t e = raw.find('\n', i);
    e = e == std::string_view::npos ? raw.size() : e + 1;
    const std::string_view line = raw.substr(i, e - i);
    std::string_view body = line;
    if (!body.empty() && body.back() == '\n') body.remove_suffix(1);
    const bool heading = body.size() > 6 && body.substr(0, 3) == " = " && body.substr(0, 5) != " = = " &&
                         body.substr(body.size() - 3) == " = ";
    if (heading && !cur.empty()) {
      pages.push_back(std::move(cur));
      cur.clear();
    }
    cur += line;
    i = e;
  }
  if (!cur.empty()) pages.push_back(std::move(cur));
  // Text before the first heading (the file's leading blank line) belongs to the first article.
  if (pages.size() > 1 && py_strip(pages[0]).empty()) {
    pages[1] = pages[0] + pages[1];
    pages.erase(pages.begin());
  }
  return pages;
}

double WordPplResult::word_perplexity() const {
  return words ? std::exp(-loglik / static_cast<double>(words)) : 0.0;
}
double WordPplResult::byte_perplexity() const {
  return bytes ? std::exp(-loglik / static_cast<double>(bytes)) : 0.0;
}
double WordPplResult::bits_per_byte() const {
  return bytes ? -loglik / static_cast<double>(bytes) / std::log(2.0) : 0.0;
}

double rolling_loglik(const model::Model& m, const std::vector<std::int32_t>& tokens, std::int32_t prefix,
                      std::int64_t L) {
  const auto n = static_cast<std::int64_t>(tokens.size());
  if (n == 0) return 0.0;
  const int V = m.vocab_size();
  double ll = 0;
  std::vector<std::int32_t> input;
  std::vector<float> logits;
  // One window: the model sees `input` from position 0; its last `pred` rows predict tokens [end-pred, end).
  auto window = [&](std::int64_t end, std::int64_t pred) {
    model::KVCache cache(m.config(), static_cast<std::int64_t>(input.size()));
    logits.resize(static_cast<std::size_t>(pred * V));
    model::forward(m, cache, input, pred, logits.data());
    for (std::int64_t r = 0; r < pred; ++r)
      ll -= token_nll({logits.data() + r * V, static_cast<std::size_t>(V)},
                      tokens[static_cast<std::size_t>(end - pred + r)]);
  };
  const std::int64_t first = std::min(L, n);
  input.assign(1, prefix);
  input.insert(input.end(), tokens.begin(), tokens.begin() + first - 1);
  window(first, first);
  for (std::int64_t predicted = first; predicted < n;) {
    const std::int64_t pred = std::min(n - predicted, L), end = predicted + pred;
    input.assign(tokens.begin() + (end - L - 1), tokens.begin() + (end - 1));
    window(end, pred);
    predicted += pred;
  }
  return ll;
}

WordPplResult word_perplexity(const model::Model& m, const io::Tokenizer& tok, const std::vector<std::string>& pages,
                              std::int64_t max_length, const std::map<std::size_t, DocLoglik>& done,
                              const std::function<void(std::size_t, const DocLoglik&)>& on_doc, Progress& progress,
                              std::stop_token stop) {
  if (pages.empty()) fail("word perplexity needs at least one document");
  std::int32_t prefix = -1;
  if (tok.bos_id()) prefix = *tok.bos_id();
  else if (tok.eos_id()) prefix = *tok.eos_id();
  else if (m.config().bos_token_id >= 0) prefix = m.config().bos_token_id;
  if (prefix < 0) fail("word perplexity needs a BOS or EOS token to start each document with; the tokenizer has neither");
  WordPplResult r;
  for (std::size_t i = 0; i < pages.size(); ++i) {
    DocLoglik d;
    if (auto it = done.find(i); it != done.end()) {
      d = it->second;
    } else {
      check_cancel(stop);
      const auto tokens = tok.encode(wikitext_detokenize(pages[i]), false);
      d.loglik = rolling_loglik(m, tokens, prefix, max_length);
      d.words = static_cast<std::int64_t>(py_split_count(pages[i]));
      d.bytes = static_cast<std::int64_t>(pages[i].size());
      d.tokens = static_cast<std::int64_t>(tokens.size());
      if (on_doc) on_doc(i, d);
    }
    r.loglik += d.loglik;
    r.words += d.words;
    r.bytes += d.bytes;
    r.tokens += d.tokens;
    ++r.docs;
    progress.report(static_cast<double>(i + 1) / static_cast<double>(pages.size()),
                    fmt::format("document {}/{}", i + 1, pages.size()));
  }
  return r;
}

}  // namespace qlab::eval
