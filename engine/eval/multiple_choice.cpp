#include "engine/eval/multiple_choice.h"

#include <cmath>

#include <fmt/format.h>

#include "engine/core/error.h"
#include "engine/eval/perplexity.h"
#include "engine/eval/ppl_setup.h"
#include "engine/io/strict_json.h"
#include "engine/model/forward.h"

namespace qlab::eval {

std::string mc_prompt(const McItem& item) {
  return fmt::format("{}\nA. {}\nB. {}\nC. {}\nD. {}\nAnswer:", item.question, item.choices[0], item.choices[1],
                     item.choices[2], item.choices[3]);
}

namespace {

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string o = "\"";
  for (char c : s) {
    if (c == '"') o += '"';
    o += c;
  }
  return o + "\"";
}

}  // namespace

std::string mc_csv(const std::vector<McItem>& items) {
  std::string out;
  for (const auto& it : items) {
    out += csv_field(it.question);
    for (const auto& c : it.choices) {
      out += ',';
      out += csv_field(c);
    }
    out += ",";
    out += static_cast<char>('A' + it.answer);
    out += "\n";
  }
  return out;
}

std::vector<McItem> read_mc_csv(std::string_view csv, const std::string& source) {
  std::vector<McItem> items;
  std::vector<std::string> row(1);
  std::size_t line = 1, row_line = 1;  // rows are numbered by the line they start on
  bool quoted = false, field_was_quoted = false, after_quote = false;
  auto end_row = [&] {
    if (row.size() == 1 && row[0].empty() && !field_was_quoted) return;  // a blank line
    if (row.size() != 6)
      fail("{}: row {} has {} fields, not 6 (question, A, B, C, D, answer)", source, row_line, row.size());
    const std::string& a = row[5];
    if (a.size() != 1 || a[0] < 'A' || a[0] > 'D')
      fail("{}: row {}: the answer {} is not one of A, B, C, D", source, row_line, io::printable(a));
    McItem it;
    it.question = row[0];
    for (int c = 0; c < 4; ++c) it.choices[c] = row[static_cast<std::size_t>(c + 1)];
    it.answer = a[0] - 'A';
    items.push_back(std::move(it));
  };
  for (std::size_t i = 0; i < csv.size(); ++i) {
    const char c = csv[i];
    if (quoted) {
      if (c == '"') {
        if (i + 1 < csv.size() && csv[i + 1] == '"') {
          row.back() += '"';
          ++i;
        } else {
          quoted = false;
          after_quote = true;
        }
      } else {
        if (c == '\n') ++line;
        row.back() += c;
      }
    } else if (c == ',') {
      row.emplace_back();
      field_was_quoted = after_quote = false;
    } else if (c == '\n' || c == '\r') {
      if (c == '\r' && i + 1 < csv.size() && csv[i + 1] == '\n') ++i;
      end_row();
      row.assign(1, std::string());
      field_was_quoted = after_quote = false;
      row_line = ++line;
    } else if (after_quote) {
      fail("{}: row {}: text after a quoted field", source, row_line);
    } else if (c == '"') {
      if (!row.back().empty()) fail("{}: row {}: a quote inside an unquoted field", source, row_line);
      quoted = field_was_quoted = true;
    } else {
      row.back() += c;
    }
  }
  if (quoted) fail("{}: row {}: a quoted field never ends", source, row_line);
  end_row();
  if (items.empty()) fail("{}: no questions", source);
  return items;
}

McScore mc_accuracy(const ContinuationLogprob& logprob, const io::Tokenizer& tok, std::span<const McItem> items,
                    std::optional<std::int32_t> bos, std::int64_t max_context) {
  if (max_context < 2) fail("multiple-choice scoring needs a context of at least 2 tokens, got {}", max_context);
  auto with_bos = [&](const std::string& text) {
    std::vector<std::int32_t> ids;
    if (bos) ids.push_back(*bos);
    auto e = tok.encode(text, false);
    ids.insert(ids.end(), e.begin(), e.end());
    return ids;
  };
  // The choice whose continuation after `prompt` is likeliest.
  auto best_of = [&](const std::string& prompt, const auto& continuation) {
    const std::size_t n_prompt = with_bos(prompt).size();
    int best = 0;
    double best_lp = -INFINITY;
    for (int c = 0; c < 4; ++c) {
      std::vector<std::int32_t> ids = with_bos(prompt + continuation(c));
      std::size_t np = n_prompt;
      const auto limit = static_cast<std::size_t>(max_context);
      if (ids.size() > limit) {  // cut the prompt's start, keep at least one token of it
        const std::size_t drop = ids.size() - limit;
        ids.erase(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(drop));
        np = np > drop ? np - drop : 1;
      }
      const double lp = logprob(ids, np);
      if (lp > best_lp) best_lp = lp, best = c;
    }
    return best;
  };
  McScore s;
  for (const auto& it : items) {
    const int by_letter =
        best_of(mc_prompt(it), [](int c) { return std::string(" ") + static_cast<char>('A' + c); });
    s.letter_correct += by_letter == it.answer ? 1 : 0;
    const int by_text = best_of(it.question + "\nAnswer:", [&](int c) { return " " + it.choices[c] + "."; });
    s.text_correct += by_text == it.answer ? 1 : 0;
    ++s.items;
  }
  return s;
}

McScore mc_accuracy(const model::Model& m, const io::Tokenizer& tok, std::span<const McItem> items,
                    model::Backend& backend) {
  auto logprob = [&](std::span<const std::int32_t> ids, std::size_t n_prompt) {
    if (n_prompt < 1 || ids.size() <= n_prompt) return 0.0;  // nothing to score
    // logits of positions n_prompt - 1 .. size - 2 predict ids[n_prompt ..]; the last row is unused
    const auto n_rows = static_cast<std::int64_t>(ids.size() - n_prompt + 1);
    model::KVCache cache(m.config(), static_cast<std::int64_t>(ids.size()), 0, backend);
    std::vector<float> logits(static_cast<std::size_t>(n_rows) * static_cast<std::size_t>(m.vocab_size()));
    model::forward(m, cache, ids, n_rows, logits.data());
    const auto V = static_cast<std::size_t>(m.vocab_size());
    double lp = 0;
    for (std::size_t r = 0; r + 1 < static_cast<std::size_t>(n_rows); ++r)
      lp -= token_nll(std::span<const float>(logits.data() + r * V, V), ids[n_prompt + r]);
    return lp;
  };
  const int trained = m.config().max_position_embeddings;
  return mc_accuracy(logprob, tok, items, sequence_bos(m.config(), &tok), trained > 0 ? trained : 1 << 20);
}

}  // namespace qlab::eval
