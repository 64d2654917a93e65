#pragma once
// MMLU as lm-evaluation-harness's `mmlu` task scores it (lm_eval/tasks/mmlu/default, api/task.py,
// api/model.py _encode_pair, models/huggingface.py; reference/perplexity.md §6.3), on qlab's runtime:
//   prompt     description "The following are multiple choice questions (with answers) about {subject
//              with '_' -> ' '}.\n\n", then k few-shot examples (the first k of the subject's dev split, in
//              order: sampler first_n), each "{question.strip()}\nA. {c0}\nB. {c1}\nC. {c2}\nD. {c3}\nAnswer:"
//              + " " + gold letter + "\n\n", then the test question in the same form (no answer).
//   requests   for each letter L in A..D the pair (prompt, " L"); _encode_pair moves trailing spaces of the
//              prompt into the continuation, tokenizes prompt and prompt+continuation with the tokenizer's
//              own special tokens (HFLM add_bos_token=None: tokenizer.json's post-processor, as
//              transformers 5 applies it, Tokenizer::Specials::AsTransformers), and takes the
//              continuation as whole[len(prompt tokens):]. The model sees (prompt tokens + continuation
//              tokens)[-(max_length+1):][:-1].
//   score      the summed log-probability of each continuation; the answer is the argmax (first on a tie);
//              acc = answer == gold. Subject scores; "mmlu" = the mean over every question (lm-eval's
//              weight_by_size group score) and, beside it, the mean over subjects; the four categories
//              (stem, humanities, social_sciences, other) are question-weighted like the group.
// The built-in model's questions are scored twice: by the letters above (0-shot, no description: its
// set has no subjects) and by the answer text ("question\nAnswer:" then " {choice}." after BOS: the form
// its training text quizzes in), because a model this small does not learn to map letters to answers
// (it scores near chance by letter) while it does know many answers.
#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <span>
#include <stop_token>
#include <string>
#include <vector>

#include "engine/core/progress.h"
#include "engine/io/tokenizer.h"
#include "engine/model/model.h"

namespace qlab::eval {

struct MmluItem {
  std::string subject;  // "abstract_algebra"; "" for a set without subjects (the built-in one)
  std::string question;
  std::array<std::string, 4> choices;
  int answer = 0;  // 0..3
};

struct MmluSet {
  std::vector<MmluItem> test;
  std::map<std::string, std::vector<MmluItem>> dev;  // per subject, file order
  std::string source;                                // for messages and the report
};

// The 57 subjects of MMLU and their lm-eval category, in lm-eval's order (_generate_configs.py).
const std::vector<std::pair<std::string, std::string>>& mmlu_subjects();
// "stem", "humanities", "social_sciences", "other"; "" for a subject not in MMLU.
std::string mmlu_category(const std::string& subject);

// The prompt lm-eval builds (above). Error when the subject has fewer than k dev examples.
std::string lm_eval_prompt(const MmluSet& set, const MmluItem& item, int k);

// Prompt and continuation token ids as lm-eval's _encode_pair makes them.
struct EncodedPair {
  std::vector<std::int32_t> context, continuation;
};
EncodedPair encode_pair(const io::Tokenizer& tok, const std::string& context, const std::string& continuation);

// Sum of log p(continuation | context) on the model: (context + continuation)[-(max_len+1):][:-1] run
// from position 0, the last |continuation| rows scored (log-softmax in double).
double continuation_logprob(const model::Model& m, const EncodedPair& p);

struct MmluQuestion {
  std::array<double, 4> loglik{};
  int predicted = 0;
  bool correct = false;
  int text_correct = -1;  // built-in set: 1/0 by the answer text; -1 not measured
};

struct SubjectScore {
  int items = 0, correct = 0;
  double accuracy() const { return items ? static_cast<double>(correct) / items : 0.0; }
};

struct MmluResult {
  int shots = 0;
  std::map<std::string, SubjectScore> subjects;    // by subject ("" for the built-in set)
  std::map<std::string, SubjectScore> categories;  // stem, humanities, social_sciences, other
  SubjectScore all;                                // every question: lm-eval's "mmlu" (micro)
  double macro = 0;                                // mean of the subject accuracies
  // Built-in set only: by the answer text (see above); items == 0 when not measured.
  SubjectScore answer_text;
};

// Scores every test question (and, for a set without subjects, the answer text too). Progress per
// question; cancel between questions. on_question(i, q) after each (for resume), may be empty;
// `done` holds questions already scored (by index), which are not run again.
MmluResult score_mmlu(const model::Model& m, const io::Tokenizer& tok, const MmluSet& set, int shots,
                      const std::map<std::size_t, MmluQuestion>& done = {},
                      const std::function<void(std::size_t, const MmluQuestion&)>& on_question = {},
                      Progress& progress = Progress::none(), std::stop_token stop = {});

// Accuracy aggregates from per-question results (what score_mmlu returns, and a cached run rebuilds).
MmluResult aggregate_mmlu(const MmluSet& set, int shots, const std::vector<MmluQuestion>& q);

}  // namespace qlab::eval
