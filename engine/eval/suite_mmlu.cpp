#include "engine/eval/suite_mmlu.h"

#include <cmath>

#include <fmt/format.h>

#include "engine/core/error.h"
#include "engine/eval/perplexity.h"
#include "engine/eval/suite_pytext.h"
#include "engine/model/forward.h"
#include "engine/model/kv_cache.h"

namespace qlab::eval {

const std::vector<std::pair<std::string, std::string>>& mmlu_subjects() {
  // lm_eval/tasks/mmlu/_generate_configs.py, SUBJECTS, in its order.
  static const std::vector<std::pair<std::string, std::string>> s = {
      {"abstract_algebra", "stem"}, {"anatomy", "stem"}, {"astronomy", "stem"}, {"business_ethics", "other"},
      {"clinical_knowledge", "other"}, {"college_biology", "stem"}, {"college_chemistry", "stem"},
      {"college_computer_science", "stem"}, {"college_mathematics", "stem"}, {"college_medicine", "other"},
      {"college_physics", "stem"}, {"computer_security", "stem"}, {"conceptual_physics", "stem"},
      {"econometrics", "social_sciences"}, {"electrical_engineering", "stem"}, {"elementary_mathematics", "stem"},
      {"formal_logic", "humanities"}, {"global_facts", "other"}, {"high_school_biology", "stem"},
      {"high_school_chemistry", "stem"}, {"high_school_computer_science", "stem"},
      {"high_school_european_history", "humanities"}, {"high_school_geography", "social_sciences"},
      {"high_school_government_and_politics", "social_sciences"}, {"high_school_macroeconomics", "social_sciences"},
      {"high_school_mathematics", "stem"}, {"high_school_microeconomics", "social_sciences"},
      {"high_school_physics", "stem"}, {"high_school_psychology", "social_sciences"}, {"high_school_statistics", "stem"},
      {"high_school_us_history", "humanities"}, {"high_school_world_history", "humanities"}, {"human_aging", "other"},
      {"human_sexuality", "social_sciences"}, {"international_law", "humanities"}, {"jurisprudence", "humanities"},
      {"logical_fallacies", "humanities"}, {"machine_learning", "stem"}, {"management", "other"},
      {"marketing", "other"}, {"medical_genetics", "other"}, {"miscellaneous", "other"},
      {"moral_disputes", "humanities"}, {"moral_scenarios", "humanities"}, {"nutrition", "other"},
      {"philosophy", "humanities"}, {"prehistory", "humanities"}, {"professional_accounting", "other"},
      {"professional_law", "humanities"}, {"professional_medicine", "other"},
      {"professional_psychology", "social_sciences"}, {"public_relations", "social_sciences"},
      {"security_studies", "social_sciences"}, {"sociology", "social_sciences"},
      {"us_foreign_policy", "social_sciences"}, {"virology", "other"}, {"world_religions", "humanities"}};
  return s;
}

std::string mmlu_category(const std::string& subject) {
  for (const auto& [s, c] : mmlu_subjects())
    if (s == subject) return c;
  return "";
}

namespace {

constexpr const char* kLetters[4] = {"A", "B", "C", "D"};

// doc_to_text of _default_template_yaml.
std::string doc_to_text(const MmluItem& it) {
  return py_strip(it.question) + "\nA. " + it.choices[0] + "\nB. " + it.choices[1] + "\nC. " + it.choices[2] +
         "\nD. " + it.choices[3] + "\nAnswer:";
}

std::string description(const std::string& subject) {
  std::string words = subject;
  for (char& c : words)
    if (c == '_') c = ' ';
  return fmt::format("The following are multiple choice questions (with answers) about {}.\n\n", words);
}

}  // namespace

std::string lm_eval_prompt(const MmluSet& set, const MmluItem& item, int k) {
  // fewshot_context: system message (the description), then per shot a user message q + " " and an
  // assistant message letter + "\n\n", then the question; plain text joins them as they are.
  std::string out = item.subject.empty() ? std::string() : description(item.subject);
  if (k > 0) {
    auto it = set.dev.find(item.subject);
    const std::size_t have = it == set.dev.end() ? 0 : it->second.size();
    if (have < static_cast<std::size_t>(k))
      fail("{}: {}-shot needs {} dev examples of {}, and there are {}", set.source, k, k,
           item.subject.empty() ? std::string("this set") : item.subject, have);
    for (int i = 0; i < k; ++i) {
      const MmluItem& shot = it->second[static_cast<std::size_t>(i)];
      out += doc_to_text(shot) + " " + kLetters[shot.answer] + "\n\n";
    }
  }
  return out + doc_to_text(item);
}

EncodedPair encode_pair(const io::Tokenizer& tok, const std::string& context_in, const std::string& continuation_in) {
  // api/model.py _encode_pair for a causal model; tok_encode with the tokenizer's own special tokens,
  // which under transformers 5 are its tokenizer.json post-processor's alone.
  std::string context = context_in, continuation = continuation_in;
  std::size_t n_spaces = 0;
  for (std::size_t e = context.size(); e > 0;) {
    const std::size_t n = py_space_before(context, e);
    if (!n) break;
    n_spaces += n;
    e -= n;
  }
  if (n_spaces > 0) {
    continuation = context.substr(context.size() - n_spaces) + continuation;
    context.resize(context.size() - n_spaces);
  }
  constexpr auto specials = io::Tokenizer::Specials::AsTransformers;
  const std::vector<std::int32_t> whole = tok.encode(context + continuation, specials);
  EncodedPair p;
  p.context = tok.encode(context, specials);
  if (p.context.size() <= whole.size()) p.continuation.assign(whole.begin() + static_cast<std::ptrdiff_t>(p.context.size()), whole.end());
  return p;
}

double continuation_logprob(const model::Model& m, const EncodedPair& p) {
  if (p.continuation.empty()) return 0.0;
  std::vector<std::int32_t> all = p.context;
  all.insert(all.end(), p.continuation.begin(), p.continuation.end());
  const int max_len = m.config().max_position_embeddings > 0 ? m.config().max_position_embeddings : 2048;
  if (static_cast<int>(all.size()) > max_len + 1) all.erase(all.begin(), all.end() - (max_len + 1));
  all.pop_back();
  const auto n_cont = static_cast<std::int64_t>(std::min(p.continuation.size(), all.size()));
  model::KVCache cache(m.config(), static_cast<std::int64_t>(all.size()));
  const int V = m.vocab_size();
  std::vector<float> logits(static_cast<std::size_t>(n_cont * V));
  model::forward(m, cache, all, n_cont, logits.data());
  double lp = 0;
  const std::size_t skip = p.continuation.size() - static_cast<std::size_t>(n_cont);
  for (std::int64_t r = 0; r < n_cont; ++r)
    lp -= token_nll({logits.data() + r * V, static_cast<std::size_t>(V)},
                    p.continuation[skip + static_cast<std::size_t>(r)]);
  return lp;
}

namespace {

int argmax4(const std::array<double, 4>& v) {
  int best = 0;
  for (int c = 1; c < 4; ++c)
    if (v[static_cast<std::size_t>(c)] > v[static_cast<std::size_t>(best)]) best = c;
  return best;
}

MmluQuestion score_question(const model::Model& m, const io::Tokenizer& tok, const MmluSet& set,
                            const MmluItem& it, int shots) {
  const std::string prompt = lm_eval_prompt(set, it, shots);
  std::array<EncodedPair, 4> pairs;
  bool one_pass = true;
  for (int c = 0; c < 4; ++c) {
    pairs[static_cast<std::size_t>(c)] = encode_pair(tok, prompt, std::string(" ") + kLetters[c]);
    one_pass = one_pass && pairs[static_cast<std::size_t>(c)].continuation.size() == 1 &&
               pairs[static_cast<std::size_t>(c)].context == pairs[0].context;
  }
  MmluQuestion q;
  const int max_len = m.config().max_position_embeddings > 0 ? m.config().max_position_embeddings : 2048;
  if (one_pass && static_cast<int>(pairs[0].context.size()) <= max_len) {
    // One continuation token each after one shared context: one pass gives all four (the same input
    // and the same row as four separate requests).
    model::KVCache cache(m.config(), static_cast<std::int64_t>(pairs[0].context.size()));
    std::vector<float> logits(static_cast<std::size_t>(m.vocab_size()));
    model::forward(m, cache, pairs[0].context, 1, logits.data());
    for (int c = 0; c < 4; ++c)
      q.loglik[static_cast<std::size_t>(c)] = -token_nll(logits, pairs[static_cast<std::size_t>(c)].continuation[0]);
  } else {
    for (int c = 0; c < 4; ++c)
      q.loglik[static_cast<std::size_t>(c)] = continuation_logprob(m, pairs[static_cast<std::size_t>(c)]);
  }
  q.predicted = argmax4(q.loglik);
  q.correct = q.predicted == it.answer;
  if (it.subject.empty()) {
    // The built-in set: by the answer text, after BOS, as its training text quizzes.
    const std::string qa = it.question + "\nAnswer:";
    std::vector<std::int32_t> ctx;
    if (m.config().bos_token_id >= 0) ctx.push_back(m.config().bos_token_id);
    const auto e = tok.encode(qa, false);
    ctx.insert(ctx.end(), e.begin(), e.end());
    std::array<double, 4> lp{};
    for (int c = 0; c < 4; ++c) {
      std::vector<std::int32_t> whole;
      if (m.config().bos_token_id >= 0) whole.push_back(m.config().bos_token_id);
      const auto w = tok.encode(qa + " " + it.choices[static_cast<std::size_t>(c)] + ".", false);
      whole.insert(whole.end(), w.begin(), w.end());
      EncodedPair p;
      p.context = ctx;
      if (ctx.size() <= whole.size()) p.continuation.assign(whole.begin() + static_cast<std::ptrdiff_t>(ctx.size()), whole.end());
      lp[static_cast<std::size_t>(c)] = continuation_logprob(m, p);
    }
    q.text_correct = argmax4(lp) == it.answer ? 1 : 0;
  }
  return q;
}

}  // namespace

MmluResult aggregate_mmlu(const MmluSet& set, int shots, const std::vector<MmluQuestion>& qs) {
  MmluResult r;
  r.shots = shots;
  for (std::size_t i = 0; i < set.test.size() && i < qs.size(); ++i) {
    const MmluItem& it = set.test[i];
    const int ok = qs[i].correct ? 1 : 0;
    auto add = [&](SubjectScore& s) {
      ++s.items;
      s.correct += ok;
    };
    add(r.subjects[it.subject]);
    add(r.all);
    if (const std::string c = mmlu_category(it.subject); !c.empty()) add(r.categories[c]);
    if (qs[i].text_correct >= 0) {
      ++r.answer_text.items;
      r.answer_text.correct += qs[i].text_correct;
    }
  }
  double sum = 0;
  for (const auto& [s, sc] : r.subjects) sum += sc.accuracy();
  r.macro = r.subjects.empty() ? 0.0 : sum / static_cast<double>(r.subjects.size());
  return r;
}

MmluResult score_mmlu(const model::Model& m, const io::Tokenizer& tok, const MmluSet& set, int shots,
                      const std::map<std::size_t, MmluQuestion>& done,
                      const std::function<void(std::size_t, const MmluQuestion&)>& on_question, Progress& progress,
                      std::stop_token stop) {
  if (set.test.empty()) fail("{}: no test questions", set.source);
  std::vector<MmluQuestion> qs(set.test.size());
  for (std::size_t i = 0; i < set.test.size(); ++i) {
    if (auto it = done.find(i); it != done.end()) {
      qs[i] = it->second;
      continue;
    }
    check_cancel(stop);
    qs[i] = score_question(m, tok, set, set.test[i], shots);
    if (on_question) on_question(i, qs[i]);
    progress.report(static_cast<double>(i + 1) / static_cast<double>(set.test.size()),
                    fmt::format("question {}/{}", i + 1, set.test.size()));
  }
  return aggregate_mmlu(set, shots, qs);
}

}  // namespace qlab::eval
