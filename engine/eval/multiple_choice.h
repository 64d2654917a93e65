#pragma once
// Multiple-choice accuracy in the MMLU layout, on any model: the items, their CSV file, and the scoring
// protocol, defined once; the model only supplies log-probabilities of continuations.
//   McItem / mc_csv / read_mc_csv   question, choices A-D, answer; CSV rows as MMLU ships them (RFC 4180
//                                   quoting, no header row)
//   mc_prompt       "question\nA. a\nB. b\nC. c\nD. d\nAnswer:" (the layout the built-in model's
//                   training text uses for its quizzes)
//   mc_accuracy     two scores per item, each the argmax over the four choices of the summed log p of
//                   a continuation after BOS (when the model has one) + prompt:
//                     by letter  mc_prompt, then " A" .. " D" (as MMLU is scored)
//                     by text    "question\nAnswer:", then " {choice}."
//                   a sequence longer than the model's context is cut on the left (the prompt's start)
// The runtime's version scores with model::forward; the trainer scores its own precisions with the same
// protocol (engine/train/evaluate.h).
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "engine/io/tokenizer.h"
#include "engine/model/backend.h"
#include "engine/model/model.h"

namespace qlab::eval {

struct McItem {
  std::string question;         // story and question, newline-separated
  std::string choices[4];
  int answer = 0;               // 0..3 = A..D
};

std::string mc_prompt(const McItem& item);
std::string mc_csv(const std::vector<McItem>& items);
// Error naming `source` and the row for a row that is not six fields ending in A, B, C or D, broken
// quoting, or a file without questions.
std::vector<McItem> read_mc_csv(std::string_view csv, const std::string& source);

struct McScore {
  int items = 0, letter_correct = 0, text_correct = 0;
  double letter_accuracy() const { return items ? static_cast<double>(letter_correct) / items : 0; }
  double text_accuracy() const { return items ? static_cast<double>(text_correct) / items : 0; }
};

// Sum of log p(ids[i] | ids[0..i)) over i = n_prompt .. ids.size() - 1 (0 when that range is empty: a
// continuation the tokenizer merged into the prompt's last token).
using ContinuationLogprob = std::function<double(std::span<const std::int32_t> ids, std::size_t n_prompt)>;

McScore mc_accuracy(const ContinuationLogprob& logprob, const io::Tokenizer& tok, std::span<const McItem> items,
                    std::optional<std::int32_t> bos, std::int64_t max_context);

// On the runtime: BOS as perplexity uses it (ppl_setup.h: sequence_bos), the model's trained context.
McScore mc_accuracy(const model::Model& m, const io::Tokenizer& tok, std::span<const McItem> items,
                    model::Backend& backend = model::cpu_backend());

}  // namespace qlab::eval
