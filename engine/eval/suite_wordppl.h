#pragma once
// lm-evaluation-harness's `wikitext` task (reference/perplexity.md §5; lm_eval/tasks/wikitext,
// utils.get_rolling_token_windows, models/huggingface.py loglikelihood_rolling), on qlab's runtime:
//   documents  one per Wikipedia article (EleutherAI/wikitext_document_level's `page`)
//   target     the page after wikitext_detokenizer (below, rule for rule)
//   scoring    the target tokenized without special tokens, split into disjoint windows of at most
//              max_length predicted tokens: the first fed as [prefix] + tokens[:L-1] (prefix = BOS, else
//              EOS), each later one as tokens[end-L-1 : end-1] (the token before it as context; a short
//              last window sees up to L tokens before it); each token scored exactly once
//   metrics    word_perplexity = exp(-sum ll / sum words), words = len(re.split(r"\s+", page)) of the
//              page BEFORE detokenizing; byte_perplexity and bits_per_byte over its UTF-8 bytes
// Version note: lm-eval's HFLM since add_bos_token=None tokenizes the page with the tokenizer's own
// special tokens (a Llama tokenizer then puts a BOS inside the first window as well); this follows the
// protocol as the task documents it (no special tokens inside the page), and the report says so.
#include <cstdint>
#include <functional>
#include <map>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "engine/core/progress.h"
#include "engine/io/tokenizer.h"
#include "engine/model/model.h"

namespace qlab::eval {

// preprocess_wikitext.py's wikitext_detokenizer, rule for rule (its "/' [0-9]/" rule included, as it
// behaves: "/' 5/" becomes the text "/'[0-9]/").
std::string wikitext_detokenize(std::string_view page);

// Articles of a wiki.*.raw file: a new one at each top-level heading line " = Title = " (not " = = ");
// each article is its lines from the heading up to the next one, newlines kept.
std::vector<std::string> split_wikitext_articles(std::string_view raw);

struct DocLoglik {
  double loglik = 0;
  std::int64_t words = 0, bytes = 0, tokens = 0;
};

struct WordPplResult {
  double loglik = 0;
  std::int64_t words = 0, bytes = 0, tokens = 0, docs = 0;
  double word_perplexity() const;
  double byte_perplexity() const;
  double bits_per_byte() const;
};

// Sum of log p over a document's tokens with the rolling windows above.
double rolling_loglik(const model::Model& m, const std::vector<std::int32_t>& tokens, std::int32_t prefix,
                      std::int64_t max_length);

// Every page; `done` holds pages already scored (by index, for resume); on_doc after each new one.
WordPplResult word_perplexity(const model::Model& m, const io::Tokenizer& tok, const std::vector<std::string>& pages,
                              std::int64_t max_length, const std::map<std::size_t, DocLoglik>& done = {},
                              const std::function<void(std::size_t, const DocLoglik&)>& on_doc = {},
                              Progress& progress = Progress::none(), std::stop_token stop = {});

}  // namespace qlab::eval
